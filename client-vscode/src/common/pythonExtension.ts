/**
 * The interpreter the Python extension (ms-python.python) has selected, if it is installed.
 * Optional: no dependency on its npm package; only the documented `environments` API is used.
 */

import * as vscode from "vscode";

interface ResolvedEnvironment {
  executable: { uri?: vscode.Uri };
}

interface EnvironmentPath {
  id: string;
  path: string;
}

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
    resolveEnvironment(environment: EnvironmentPath | string): Promise<ResolvedEnvironment | undefined>;
    onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
}

const PYTHON_EXTENSION = "ms-python.python";

function timeout<T>(promise: Thenable<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took more than ${ms / 1000} s`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

async function api(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION);
  if (extension === undefined) {
    return undefined;
  }
  return extension.isActive ? extension.exports : await timeout(extension.activate(), 15_000, "activating the Python extension");
}

/** The selected interpreter's path, or undefined (no Python extension, or none selected). */
export async function pythonExtensionInterpreter(log: vscode.LogOutputChannel): Promise<string | undefined> {
  try {
    const environments = (await api())?.environments;
    if (environments === undefined) {
      return undefined;
    }
    const active = environments.getActiveEnvironmentPath(vscode.workspace.workspaceFolders?.[0]?.uri);
    const resolved = await environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? (active.path || undefined);
  } catch (error) {
    log.warn(`python: could not ask the Python extension for its interpreter: ${String(error)}`);
    return undefined;
  }
}

/** Calls `listener` when the Python extension's interpreter changes (if it is installed). */
export async function onPythonExtensionInterpreterChange(listener: () => void): Promise<vscode.Disposable | undefined> {
  try {
    const environments = (await api())?.environments;
    return environments?.onDidChangeActiveEnvironmentPath(() => listener());
  } catch {
    return undefined;
  }
}
