/** The handlers of "Llamafile: Select Model" and "Llamafile: Open Config". */

import * as vscode from "vscode";
import { configFilePath, ensureConfigFile } from "./configFile";
import { Commands, StateKeys } from "./constants";
import { listModels, pickModel, selectModel } from "./models";
import { currentSettings, type LlamafileServer } from "./server";
import type { StatusBar } from "./status";

/** Lists the config's models, and makes the picked one the active one (remembered for the next start). */
export async function chooseModel(
  server: LlamafileServer,
  state: vscode.Memento,
  status: StatusBar,
  log: vscode.LogOutputChannel,
): Promise<void> {
  const client = await server.ensureRunning();
  if (client === undefined) {
    return; // the failed start said why
  }
  try {
    const title = await pickModel(await listModels(client));
    if (title !== undefined) {
      await selectModel(client, title);
      await state.update(StateKeys.model, title);
      status.setModel(title);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const choice = await vscode.window.showErrorMessage(`llamafile: ${message}`, "Open Config", "Show Log");
    if (choice === "Open Config") {
      await vscode.commands.executeCommand(Commands.openConfig);
    } else if (choice === "Show Log") {
      log.show();
    }
  }
}

/** Opens the config file the server reads, creating a commented default if there is none. */
export async function openConfig(log: vscode.LogOutputChannel): Promise<void> {
  const file = configFilePath(currentSettings(log).configPath);
  try {
    if (await ensureConfigFile(file)) {
      log.info(`created ${file}`);
    }
    let document = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    if (document.languageId === "json") {
      // The file may have comments and trailing commas (the server accepts them).
      document = await vscode.languages.setTextDocumentLanguage(document, "jsonc");
    }
    await vscode.window.showTextDocument(document);
  } catch (error) {
    void vscode.window.showErrorMessage(`llamafile: cannot open ${file}: ${String(error)}`);
  }
}
