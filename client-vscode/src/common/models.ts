/** "Llamafile: Select Model": the config's models (llamafile.listModels) in a quick pick. */

import * as vscode from "vscode";
import { ExecuteCommandRequest, type LanguageClient } from "vscode-languageclient/node";
import { type ModelInfo, type SelectModelArguments, ServerCommands } from "./contract";

function isModelList(value: unknown): value is ModelInfo[] {
  return Array.isArray(value) && value.every((item) => typeof (item as ModelInfo)?.title === "string");
}

/** The config's models; llamafile.listModels answers a list of ModelInfo. */
export async function listModels(client: LanguageClient): Promise<ModelInfo[]> {
  const result: unknown = await client.sendRequest(ExecuteCommandRequest.type, {
    command: ServerCommands.listModels,
    arguments: [],
  });
  if (!isModelList(result)) {
    throw new Error(`${ServerCommands.listModels} answered ${JSON.stringify(result)}`);
  }
  return result;
}

export async function selectModel(client: LanguageClient, title: string): Promise<void> {
  const argument: SelectModelArguments = { title };
  await client.sendRequest(ExecuteCommandRequest.type, { command: ServerCommands.selectModel, arguments: [argument] });
}

interface ModelItem extends vscode.QuickPickItem {
  title: string;
}

/** Asks which model to use; undefined when the pick is dismissed. */
export async function pickModel(models: ModelInfo[]): Promise<string | undefined> {
  const items: ModelItem[] = models.map((model) => ({
    label: model.title,
    description: `${model.provider} · ${model.model}${model.active ? " · active" : ""}`,
    picked: model.active,
    title: model.title,
  }));
  const chosen = await vscode.window.showQuickPick(items, {
    title: "Llamafile: Select Model",
    placeHolder: "The model edits are sent to (from your config.json)",
  });
  return chosen?.title;
}
