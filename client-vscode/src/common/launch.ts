/**
 * The command that starts the language server. Pure: unit tests check it.
 *
 * Bundled: `<python> -m llamafile_ls` with PYTHONPATH at the extension's bundled/libs (the
 * server and its pure-Python dependencies) and the working directory there too, so that
 * `-m` (which puts the working directory first on sys.path) can never import a module from
 * the opened workspace.
 * Custom (`llamafile.serverCommand`): run as given, with the user's environment.
 */

import { SERVER_MODULE } from "./constants";
import type { InitializationOptions } from "./contract";

export interface Launch {
  command: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string | undefined>;
  /** One line for the log. */
  description: string;
}

export function bundledLaunch(python: string, libsDir: string, baseEnv: NodeJS.ProcessEnv): Launch {
  const env: Record<string, string | undefined> = { ...baseEnv };
  // Replaced, not extended: another llamafile_ls or pygls on the user's PYTHONPATH must not
  // shadow the bundled ones.
  env.PYTHONPATH = libsDir;
  env.PYTHONIOENCODING = "utf-8";
  const args = ["-m", SERVER_MODULE];
  return {
    command: python,
    args,
    cwd: libsDir,
    env,
    description: `${python} ${args.join(" ")} (PYTHONPATH=${libsDir})`,
  };
}

export function customLaunch(serverCommand: readonly string[], baseEnv: NodeJS.ProcessEnv): Launch {
  const [command, ...args] = serverCommand;
  if (command === undefined || command === "") {
    throw new Error("llamafile.serverCommand is empty");
  }
  return { command, args, cwd: undefined, env: { ...baseEnv }, description: serverCommand.join(" ") };
}

/**
 * initializationOptions for the server: the config and model when set, and what this client
 * does itself: it shows a failed command's reason (showsResults: the server then does not),
 * and its status bar follows llamafile/status notifications (status).
 */
export function initializationOptions(configPath: string | undefined, model: string | undefined): InitializationOptions {
  const options: InitializationOptions = { showsResults: true, status: true };
  if (configPath !== undefined) {
    options.configPath = configPath;
  }
  if (model !== undefined && model !== "") {
    options.model = model;
  }
  return options;
}
