/**
 * Starting, stopping and restarting the language server: the Python it runs on, its
 * command, and the vscode-languageclient that talks to it.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  LanguageClient,
  type LanguageClientOptions,
  type Middleware,
  NotificationType,
  RevealOutputChannelOn,
  type ServerOptions,
  ShowMessageNotification,
  type ShowMessageParams,
  State,
} from "vscode-languageclient/node";
import { DISPLAY_NAME, SECTION, StateKeys } from "./constants";
import { Notifications, type Status } from "./contract";
import { bundledLaunch, customLaunch, initializationOptions, type Launch } from "./launch";
import { candidates, findInterpreter, NoPythonError, probeInterpreter } from "./python";
import { pythonExtensionInterpreter } from "./pythonExtension";
import { needsRestart, resolveSettings, type Settings } from "./settings";

export function currentSettings(log?: vscode.LogOutputChannel): Settings {
  const configuration = vscode.workspace.getConfiguration(SECTION);
  return resolveSettings((key) => configuration.inspect(key), {
    trusted: vscode.workspace.isTrusted,
    baseDir: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    warn: (message) => log?.warn(message),
  });
}

export interface ServerHooks {
  middleware: Middleware;
  /** Replaces the language client's own window/showMessage handling. */
  showMessage: (params: ShowMessageParams) => void;
  /** A problem that keeps the server from running (undefined when it runs). */
  problem: (problem: string | undefined) => void;
  /** Called once the server is up. */
  started: (client: LanguageClient) => void;
  /** A llamafile/status notification: what one of the server's requests is doing. */
  status: (status: Status) => void;
  /** The server stopped (or crashed): none of its requests runs any more. */
  stopped: () => void;
}

const StatusNotification = new NotificationType<Status>(Notifications.status);

export class LlamafileServer implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  private settings: Settings | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
    private readonly hooks: ServerHooks,
  ) {}

  /** The running client, or undefined. */
  get running(): LanguageClient | undefined {
    return this.client?.isRunning() ? this.client : undefined;
  }

  /** The settings the server was started with. */
  get startedWith(): Settings | undefined {
    return this.settings;
  }

  /**
   * The running client, (re)starting the server first if it is not running (it failed to
   * start, or crashed too often for the language client to restart it). A failed start has
   * told the user why already.
   */
  async ensureRunning(): Promise<LanguageClient | undefined> {
    if (this.running !== undefined) {
      return this.running;
    }
    if (this.starting !== undefined) {
      return this.starting;
    }
    return this.restart();
  }

  start(): Promise<LanguageClient | undefined> {
    this.starting ??= this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private pending: Promise<unknown> = Promise.resolve();

  /**
   * Restarts if the settings the server was started with changed (or when `force`), one
   * check at a time: a trust grant and the settings change it brings restart once.
   */
  restartIfChanged(reason: string, force = false): Promise<void> {
    const next = this.pending.then(async () => {
      const before = this.settings;
      if (force || before === undefined || needsRestart(before, currentSettings(this.log))) {
        this.log.info(`${reason}: restarting the server`);
        await this.restart();
      }
    });
    this.pending = next.catch(() => undefined);
    return next;
  }

  async restart(): Promise<LanguageClient | undefined> {
    await this.starting?.catch(() => undefined);
    await this.stop();
    return this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) {
      return;
    }
    try {
      if (client.isRunning()) {
        await client.stop(5_000);
      }
    } catch (error) {
      this.log.warn(`stopping the server: ${String(error)}`);
    }
    try {
      await client.dispose(2_000);
    } catch {
      // Stopped already.
    }
  }

  private async launch(settings: Settings): Promise<Launch> {
    if (settings.serverCommand !== undefined) {
      return customLaunch(settings.serverCommand, process.env);
    }
    const libs = this.context.asAbsolutePath(path.join("bundled", "libs"));
    if (!fs.existsSync(path.join(libs, "llamafile_ls"))) {
      throw new Error(
        `the bundled server is missing (${libs}); build the extension with scripts/build.sh, or set llamafile.serverCommand`,
      );
    }
    // The Python extension's choice may be a workspace's own virtual environment: running it
    // runs code from the workspace, so an untrusted workspace does not get to choose.
    const fromExtension =
      settings.python === undefined && vscode.workspace.isTrusted ? await pythonExtensionInterpreter(this.log) : undefined;
    const interpreter = await findInterpreter(candidates(settings.python, fromExtension), probeInterpreter, (line) =>
      this.log.info(line),
    );
    return bundledLaunch(interpreter.executable, libs, process.env);
  }

  private async doStart(): Promise<LanguageClient | undefined> {
    const settings = currentSettings(this.log);
    this.settings = settings;
    let launch: Launch;
    try {
      launch = await this.launch(settings);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.error(message);
      this.hooks.problem(error instanceof NoPythonError ? "no suitable Python found" : message);
      void this.showStartProblem(message, error instanceof NoPythonError);
      return undefined;
    }
    this.log.info(`starting the server: ${launch.description}`);
    if (settings.configPath !== undefined) {
      this.log.info(`config: ${settings.configPath}`);
    }
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      options: { cwd: launch.cwd, env: launch.env },
    };
    const model = this.context.globalState.get<string>(StateKeys.model);
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      outputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: initializationOptions(settings.configPath, model),
      middleware: this.hooks.middleware,
    };
    const client = new LanguageClient(SECTION, DISPLAY_NAME, serverOptions, clientOptions);
    // Installed once the server is initialized, in place of the client's own handler, so
    // that errors come with actions (Open Config, Show Log) and are not shown twice.
    client.onNotification(ShowMessageNotification.type, (params) => this.hooks.showMessage(params));
    client.onNotification(StatusNotification, (status) => this.hooks.status(status));
    client.onDidChangeState(({ newState }) => {
      // Not for a client already replaced by a restart: the new one's requests still run.
      if (newState !== State.Running && (this.client === client || this.client === undefined)) {
        this.hooks.stopped();
      }
    });
    this.client = client;
    try {
      const started = Date.now();
      await client.start();
      this.log.info(`server started in ${Date.now() - started} ms`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.log.error(`the server did not start: ${message}`);
      this.hooks.problem(`the server did not start: ${message}`);
      void this.showStartProblem(`the language server did not start (${launch.description}): ${message}`, false);
      this.client = undefined;
      void client.dispose().catch(() => undefined);
      return undefined;
    }
    this.hooks.problem(undefined);
    this.hooks.started(client);
    return client;
  }

  private async showStartProblem(message: string, python: boolean): Promise<void> {
    const actions = python ? ["Open Settings", "Show Log"] : ["Show Log"];
    const choice = await vscode.window.showErrorMessage(`llamafile: ${message}`, ...actions);
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "llamafile.python");
    } else if (choice === "Show Log") {
      this.log.show();
    }
  }

  async dispose(): Promise<void> {
    await this.stop();
  }
}
