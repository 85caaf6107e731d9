/**
 * Running the server's edit commands with progress: a notification with a Cancel button
 * (which sends $/cancelRequest, and the server stops the model at once) and the token count,
 * from the server's work-done progress; the status bar follows the same request through the
 * server's llamafile/status notifications. A failure's reason is shown here, once.
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
import { SECTION } from "./constants";
import { type CommandResult, ServerCommands } from "./contract";
import { buildEditCall, completeEditCall, describeCall, describeLines, type EditCall, editRange, needsInstruction, parseEditCall } from "./editArgs";
import type { InstructionHistory } from "./history";
import { askInstruction } from "./instruction";
import { showNotice } from "./messages";
import { isCommandResult, resultNotice } from "./progress";
import type { LlamafileServer } from "./server";
import type { StatusBar } from "./status";

/** A call as VS Code passed it, when it is not the documented one: the server says what is wrong. */
interface RawCall {
  command: string;
  argument: unknown;
}

export class Edits {
  constructor(
    private readonly server: LlamafileServer,
    private readonly status: StatusBar,
    private readonly history: InstructionHistory,
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
    const instruction = await askInstruction(this.history, `Llamafile: edit ${describeLines(range)}`);
    if (instruction === undefined) {
      return;
    }
    const uri = client.code2ProtocolConverter.asUri(document.uri);
    const call = buildEditCall(uri, range, instruction, this.previewEdits());
    await this.run(client, call, describeCall(call));
  }

  /**
   * A server command run by VS Code (the light bulb's code action, or another extension):
   * `llamafile.edit` without an instruction asks for one first; both edit commands run with
   * progress and cancel.
   */
  async runServerCommand(command: string, args: unknown[]): Promise<CommandResult | undefined> {
    const client = await this.client();
    if (client === undefined) {
      return undefined;
    }
    const call = parseEditCall(command, args);
    if (call === undefined) {
      // Not the documented one-object argument: let the server say what is wrong.
      return this.run(client, { command, argument: args[0] }, command === ServerCommands.edit ? "editing" : "working");
    }
    let instruction: string | undefined;
    if (needsInstruction(call)) {
      instruction = await askInstruction(this.history, `Llamafile: edit ${describeLines(call.argument.range)}`);
      if (instruction === undefined) {
        return { applied: false, reason: "cancelled" };
      }
    }
    return this.run(client, completeEditCall(call, instruction, this.previewEdits()), describeCall(call));
  }

  private async run(client: LanguageClient, call: EditCall | RawCall, what: string): Promise<CommandResult | undefined> {
    const { command, argument } = call;
    const since = Date.now();
    // The request's id in the server's progress and llamafile/status notifications.
    const token = `llamafile-vscode-${randomUUID()}`;
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Llamafile: ${what}`, cancellable: true },
        async (progress, cancel) => {
          progress.report({ message: "waiting for the model…" });
          const subscription = client.onProgress(WorkDoneProgress.type, token, (value) => {
            if (value.kind === "begin") {
              // "llamafile: <model title>"
              progress.report({ message: value.title.replace(/^llamafile:\s*/, "") + "…" });
            } else if (value.kind === "report" && value.message !== undefined) {
              progress.report({ message: value.message });
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
              return { applied: false, reason: "cancelled" } satisfies CommandResult;
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
      // The server leaves showing a failure to this client (initializationOptions.showsResults).
      const notice = resultNotice(result, this.status.outcome(token));
      if (notice !== undefined) {
        void showNotice(notice, this.log);
      }
      return result;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.error(`${command} failed: ${message}`);
      void showNotice({ severity: "error", text: `llamafile: ${message}`, actions: ["Show Log"] }, this.log);
      return undefined;
    } finally {
      this.status.end(token);
      this.afterEdit();
    }
  }
}

function isCancellation(error: unknown): boolean {
  return (
    error instanceof ResponseError &&
    (error.code === LSPErrorCodes.RequestCancelled || error.code === LSPErrorCodes.ServerCancelled)
  );
}
