/** The server's window/showMessage, shown with actions that help: Open Config, Show Log. */

import * as vscode from "vscode";
import { MessageType, type ShowMessageParams } from "vscode-languageclient/node";
import { Commands } from "./constants";
import type { ShownMessages } from "./progress";

export function showServerMessage(params: ShowMessageParams, shown: ShownMessages, log: vscode.LogOutputChannel): void {
  shown.record(params.message);
  void (async () => {
    let choice: string | undefined;
    switch (params.type) {
      case MessageType.Error:
        // The errors the server shows are about the config or the model server it names.
        choice = await vscode.window.showErrorMessage(params.message, "Open Config", "Show Log");
        break;
      case MessageType.Warning:
        choice = await vscode.window.showWarningMessage(params.message, "Show Log");
        break;
      default:
        choice = await vscode.window.showInformationMessage(params.message);
    }
    if (choice === "Open Config") {
      await vscode.commands.executeCommand(Commands.openConfig);
    } else if (choice === "Show Log") {
      log.show();
    }
  })();
}
