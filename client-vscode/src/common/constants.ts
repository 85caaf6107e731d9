/** Names shared by the extension's modules. No `vscode` import: unit tests load this. */

export const SECTION = "llamafile";
export const DISPLAY_NAME = "Llamafile";

/** The oldest Python the bundled server runs on (pyproject's requires-python). */
export const MIN_PYTHON: readonly [number, number] = [3, 10];

/** The server's Python package, run as `python -m llamafile_ls`. */
export const SERVER_MODULE = "llamafile_ls";

/** Commands this extension contributes (package.json). */
export const Commands = {
  editSelection: "llamafile.editSelection",
  // Not "llamafile.selectModel": vscode-languageclient registers every command the server
  // announces (contract.ts's ServerCommands) as a VS Code command of the same name, and a
  // second registration of that name would fail.
  chooseModel: "llamafile.chooseModel",
  openConfig: "llamafile.openConfig",
  showLog: "llamafile.showLog",
  restartServer: "llamafile.restartServer",
} as const;

/** Keys of the extension's global state. */
export const StateKeys = {
  history: "llamafile.instructionHistory",
  model: "llamafile.selectedModel",
} as const;
