/**
 * Running the server's edit commands with progress: a notification with a Cancel button
 * (which sends $/cancelRequest, and the server stops the model at once), the token count
 * from the server's work-done progress, and the status bar.
 */

import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  type LanguageClient,
  LSPErrorCodes,
  ResponseError,
  WorkDoneProgress,
} from "vscode-languageclient/node";
import { ServerCommands, SECTION } from "./constants";
import {
  buildEditArgument,
  completeEditArgument,
  describeCommand,
  describeLines,
  editRange,
  type EditArgument,
  hasInstruction,
  parseEditArgument,
} from "./editArgs";
import type { InstructionHistory } from "./history";
import { askInstruction } from "./instruction";
import { activityFromMessage, type CommandResult, isCommandResult, isQuietReason, type ShownMessages } from "./progress";
import type { LlamafileServer } from "./server";
import type { StatusBar } from "./status";

export class Edits {
  constructor(
    private readonly server: LlamafileServer,
    private readonly status: StatusBar,
    private readonly history: InstructionHistory,
    private readonly shown: ShownMessages,
    private readonly log: vscode.LogOutputChannel,
    private readonly afterEdit: () => void,
  ) {}

  private previewEdits(): boolean {
    return vscode.workspace.getConfiguration(SECTION).get<boolean>("previewEdits") === true;
  }

  /** The running client; undefined when the server cannot start (which it has said why). */
  private client(): Promise<LanguageClient | undefined> {
    return this.server.ensureRunning();
  }

  /** "Llamafile: Edit Selection…": the selection (or the cursor's line) of the active editor. */
  async editSelection(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (editor === undefined) {
      void vscode.window.showInformationMessage("llamafile: open a file and select the lines to edit first.");
      return;
    }
    const client = await this.client();
    if (client === undefined) {
      return;
    }
    const document = editor.document;
    const range = editRange(editor.selection, document.lineCount, (line) => document.lineAt(line).text.length);
    const lines = describeLines(range);
    const instruction = await askInstruction(this.history, `Llamafile: edit ${lines}`);
    if (instruction === undefined) {
      return;
    }
    const uri = client.code2ProtocolConverter.asUri(document.uri);
    await this.run(client, ServerCommands.edit, buildEditArgument(uri, range, instruction, this.previewEdits()), `editing ${lines}`);
  }

  /**
   * A server command run by VS Code (the light bulb's code action, or another extension):
   * `llamafile.edit` without an instruction asks for one first; both edit commands run with
   * progress and cancel.
   */
  async runServerCommand(command: string, args: unknown[]): Promise<unknown> {
    const client = await this.client();
    if (client === undefined) {
      return undefined;
    }
    const argument = parseEditArgument(args);
    if (argument === undefined) {
      // Not the documented one-object argument: let the server say what is wrong.
      return this.run(client, command, args[0] as EditArgument, command === ServerCommands.edit ? "editing" : "working");
    }
    const lines = describeLines(argument.range);
    const what = command === ServerCommands.edit ? `editing ${lines}` : `${describeCommand(argument)} on ${lines}`;
    let instruction: string | undefined;
    if (command === ServerCommands.edit && !hasInstruction(argument)) {
      instruction = await askInstruction(this.history, `Llamafile: edit ${lines}`);
      if (instruction === undefined) {
        return { applied: false, reason: "cancelled" };
      }
    }
    return this.run(client, command, completeEditArgument(argument, instruction, this.previewEdits()), what);
  }

  private async run(client: LanguageClient, command: string, argument: EditArgument, what: string): Promise<CommandResult | undefined> {
    const since = Date.now();
    const token = `llamafile-vscode-${randomUUID()}`;
    this.status.begin();
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Llamafile: ${what}`, cancellable: true },
        async (progress, cancel) => {
          progress.report({ message: "waiting for the model…" });
          const subscription = client.onProgress(WorkDoneProgress.type, token, (value) => {
            if (value.kind === "end") {
              return;
            }
            if (value.kind === "begin") {
              // "llamafile: <model title>"
              progress.report({ message: value.title.replace(/^llamafile:\s*/, "") + "…" });
            }
            if (value.message !== undefined && value.kind === "report") {
              progress.report({ message: value.message });
              this.status.report(activityFromMessage(value.message));
            }
          });
          try {
            return (await client.sendRequest(
              ExecuteCommandRequest.type,
              { command, arguments: [argument], workDoneToken: token },
              cancel,
            )) as unknown;
          } catch (error) {
            if (cancel.isCancellationRequested || isCancellation(error)) {
              return { applied: false, reason: "cancelled" };
            }
            throw error;
          } finally {
            subscription.dispose();
          }
        },
      );
      const seconds = ((Date.now() - since) / 1000).toFixed(1);
      if (!isCommandResult(result)) {
        this.log.info(`${command} (${what}) answered ${JSON.stringify(result)} (${seconds} s)`);
        return undefined;
      }
      this.log.info(`${command} (${what}): ${result.applied ? "applied" : `not applied: ${result.reason ?? ""}`} (${seconds} s)`);
      if (!result.applied && !isQuietReason(result.reason) && !this.shown.shownSince(result.reason!, since)) {
        // The server shows most reasons itself (window/showMessage); this one it did not.
        void this.notify(`llamafile: ${result.reason}`);
      }
      return result;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.error(`${command} failed: ${message}`);
      void this.notify(`llamafile: ${message}`, true);
      return undefined;
    } finally {
      this.status.end();
      this.afterEdit();
    }
  }

  private async notify(message: string, error = false): Promise<void> {
    const show = error ? vscode.window.showErrorMessage : vscode.window.showWarningMessage;
    if ((await show(message, "Show Log")) === "Show Log") {
      this.log.show();
    }
  }
}

function isCancellation(error: unknown): boolean {
  return (
    error instanceof ResponseError &&
    (error.code === LSPErrorCodes.RequestCancelled || error.code === LSPErrorCodes.ServerCancelled)
  );
}
