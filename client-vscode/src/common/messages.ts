/** Messages for the user, with actions that help: Open Config, Show Log. */

import * as vscode from "vscode";
import { MessageType, type ShowMessageParams } from "vscode-languageclient/node";
import { Commands } from "./constants";
import type { Notice } from "./progress";

/** Shows the notice; its action, when one is picked, runs. */
export async function showNotice(notice: Notice, log: vscode.LogOutputChannel): Promise<void> {
  const show =
    notice.severity === "error"
      ? vscode.window.showErrorMessage
      : notice.severity === "warning"
        ? vscode.window.showWarningMessage
        : vscode.window.showInformationMessage;
  const choice = await show(notice.text, ...notice.actions);
  if (choice === "Open Config") {
    await vscode.commands.executeCommand(Commands.openConfig);
  } else if (choice === "Show Log") {
    log.show();
  }
}

/** The server's window/showMessage (config errors, the answer's file, …). */
export function showServerMessage(params: ShowMessageParams, log: vscode.LogOutputChannel): void {
  log.info(`the server showed: ${params.message}`);
  const notice: Notice =
    params.type === MessageType.Error
      ? // The errors the server shows are about the config or the model server it names.
        { severity: "error", text: params.message, actions: ["Open Config", "Show Log"] }
      : params.type === MessageType.Warning
        ? { severity: "warning", text: params.message, actions: ["Show Log"] }
        : { severity: "info", text: params.message, actions: [] };
  void showNotice(notice, log);
}
