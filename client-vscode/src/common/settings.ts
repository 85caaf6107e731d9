/**
 * The extension's settings, resolved from what `WorkspaceConfiguration.inspect` reports.
 * Pure: the caller passes the inspect function and whether the workspace is trusted.
 */

import * as os from "node:os";
import * as path from "node:path";

/** What `vscode.WorkspaceConfiguration.inspect(key)` gives (the parts used here). */
export interface Inspected<T> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

export type Inspect = (key: string) => Inspected<unknown> | undefined;

export interface Settings {
  /** Absolute path of the config file, or undefined for the server's default. */
  configPath: string | undefined;
  /** The Python to run the bundled server with, or undefined to look for one. */
  python: string | undefined;
  /** A command that replaces the bundled server, or undefined. */
  serverCommand: string[] | undefined;
  previewEdits: boolean;
  /** Ghost-text suggestions from the autocomplete model (llamafile.inlineCompletion.enable). */
  inlineCompletion: boolean;
}

/**
 * Settings that can make the extension run a program or read a file chosen by the
 * workspace: in an untrusted workspace only their user (global) value counts. The same
 * list is package.json's capabilities.untrustedWorkspaces.restrictedConfigurations.
 */
export const RESTRICTED: readonly string[] = ["serverCommand", "python", "configPath"];

/** The value in force: the most specific one, except that untrusted workspaces don't count for restricted keys. */
export function effectiveValue<T>(inspected: Inspected<T> | undefined, trusted: boolean, restricted: boolean): T | undefined {
  if (inspected === undefined) {
    return undefined;
  }
  if (restricted && !trusted) {
    return inspected.globalValue ?? inspected.defaultValue;
  }
  return inspected.workspaceFolderValue ?? inspected.workspaceValue ?? inspected.globalValue ?? inspected.defaultValue;
}

/** `~`, `~/x` and `${userHome}` expanded; other text unchanged. */
export function expandHome(value: string, home: string = os.homedir()): string {
  let result = value.replace(/\$\{userHome\}/g, home);
  if (result === "~") {
    result = home;
  } else if (result.startsWith("~/") || result.startsWith("~\\")) {
    result = path.join(home, result.slice(2));
  }
  return result;
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

export interface ResolveOptions {
  trusted: boolean;
  home?: string;
  /** Where a relative path is resolved from (the first workspace folder), if anywhere. */
  baseDir?: string;
  /** Told about a setting that is set but unusable. */
  warn?: (message: string) => void;
}

export function resolveSettings(inspect: Inspect, options: ResolveOptions): Settings {
  const home = options.home ?? os.homedir();
  const get = (key: string): unknown => effectiveValue(inspect(key), options.trusted, RESTRICTED.includes(key));
  const toPath = (value: string): string => {
    const expanded = expandHome(value, home);
    if (path.isAbsolute(expanded) || options.baseDir === undefined) {
      return expanded;
    }
    return path.resolve(options.baseDir, expanded);
  };

  const rawConfig = nonEmptyString(get("configPath"));
  const rawPython = nonEmptyString(get("python"));
  const rawCommand = get("serverCommand");
  let serverCommand: string[] | undefined;
  if (Array.isArray(rawCommand) && rawCommand.length > 0) {
    if (rawCommand.every((part) => typeof part === "string") && nonEmptyString(rawCommand[0]) !== undefined) {
      serverCommand = rawCommand.map((part: string, index) => (index === 0 ? expandHome(part.trim(), home) : part));
    } else {
      options.warn?.("llamafile.serverCommand must be a list of strings, the program first; it is ignored");
    }
  }
  return {
    configPath: rawConfig === undefined ? undefined : toPath(rawConfig),
    python: rawPython === undefined ? undefined : expandHome(rawPython, home),
    serverCommand,
    previewEdits: get("previewEdits") === true,
    inlineCompletion: get("inlineCompletion.enable") !== false,
  };
}

/** Whether a change of these settings needs the server restarted. */
export function needsRestart(before: Settings, after: Settings): boolean {
  return (
    before.configPath !== after.configPath ||
    before.python !== after.python ||
    JSON.stringify(before.serverCommand) !== JSON.stringify(after.serverCommand)
  );
}
