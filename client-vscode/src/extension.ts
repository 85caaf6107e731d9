/** The Llamafile extension: runs the llamafile-ls language server and adds its commands. */

import * as path from "node:path";
import * as vscode from "vscode";
import type { LanguageClient } from "vscode-languageclient/node";
import { chooseModel, openConfig } from "./common/commands";
import { configFilePath } from "./common/configFile";
import { Commands, DISPLAY_NAME, SECTION, StateKeys } from "./common/constants";
import { ServerCommands } from "./common/contract";
import { Edits } from "./common/edits";
import { InstructionHistory } from "./common/history";
import { showServerMessage } from "./common/messages";
import { inlineCompletionMiddleware } from "./common/inline";
import { listModels } from "./common/models";
import { onPythonExtensionInterpreterChange } from "./common/pythonExtension";
import { currentSettings, LlamafileServer } from "./common/server";
import { StatusBar } from "./common/status";

let server: LlamafileServer | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = vscode.window.createOutputChannel(DISPLAY_NAME, { log: true });
  const status = new StatusBar();
  const history = new InstructionHistory(context.globalState, StateKeys.history);
  context.subscriptions.push(log, status);

  const refreshModel = async (client: LanguageClient | undefined): Promise<void> => {
    if (client === undefined) {
      return;
    }
    try {
      const active = (await listModels(client)).find((model) => model.active);
      status.setModel(active?.title);
    } catch (error) {
      log.warn(`could not list the models: ${String(error)}`);
      status.setModel(undefined);
    }
  };

  const llamafile = new LlamafileServer(context, log, {
    middleware: {
      // Ghost text: off with llamafile.inlineCompletion.enable, and shown in the status bar
      // while the server computes it.
      ...inlineCompletionMiddleware({
        enabled: () => currentSettings().inlineCompletion,
        begin: (request) => status.beginCompletion(request),
        end: (request) => status.endCompletion(request),
      }),
      // The server's commands, run by VS Code (the light bulb's "Llamafile: Edit selection…"),
      // go through here: an edit gets its instruction asked for, and progress with Cancel.
      // (Called only once the server runs, after `edits` below is set.)
      executeCommand: (command, args, next) => {
        if (command === ServerCommands.edit || command === ServerCommands.runCommand) {
          return edits.runServerCommand(command, args);
        }
        return next(command, args);
      },
    },
    showMessage: (params) => showServerMessage(params, log),
    problem: (problem) => status.setProblem(problem),
    started: (client) => void refreshModel(client),
    status: (update) => status.update(update),
    stopped: () => status.clear(),
  });
  server = llamafile;
  const edits = new Edits(llamafile, status, history, log, () => void refreshModel(llamafile.running));

  context.subscriptions.push(
    vscode.commands.registerCommand(Commands.editSelection, () => edits.editSelection()),
    vscode.commands.registerCommand(Commands.chooseModel, () => chooseModel(llamafile, context.globalState, status, log)),
    vscode.commands.registerCommand(Commands.openConfig, () => openConfig(log)),
    vscode.commands.registerCommand(Commands.showLog, () => log.show()),
    vscode.commands.registerCommand(Commands.restartServer, async () => {
      log.info("restarting the server");
      await llamafile.restart();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration(SECTION)) {
        log.info(`settings changed: ${JSON.stringify(currentSettings(log))}`);
        await llamafile.restartIfChanged("the llamafile settings changed");
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(async () => {
      // The workspace's settings count now, and so does the Python extension's interpreter.
      const settings = currentSettings(log);
      const discovers = settings.python === undefined && settings.serverCommand === undefined;
      await llamafile.restartIfChanged("the workspace is trusted now", discovers && vscode.extensions.getExtension("ms-python.python") !== undefined);
    }),
    vscode.workspace.onDidSaveTextDocument(async (document) => {
      const config = configFilePath(llamafile.startedWith?.configPath);
      if (path.resolve(document.uri.fsPath) === path.resolve(config)) {
        await refreshModel(llamafile.running);
      }
    }),
    { dispose: () => void llamafile.dispose() },
  );

  // Not awaited: commands wait for the server themselves, and activation stays quick.
  void llamafile.start();
  void onPythonExtensionInterpreterChange(async () => {
    const settings = llamafile.startedWith;
    if (settings !== undefined && settings.python === undefined && settings.serverCommand === undefined) {
      await llamafile.restartIfChanged("the Python extension's interpreter changed", true);
    }
  }).then((subscription) => subscription && context.subscriptions.push(subscription));
}

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
