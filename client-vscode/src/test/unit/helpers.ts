/** Paths and a Python for the tests that run the real server. */

import { existsSync } from "node:fs";
import * as path from "node:path";

/** client-vscode/ (this file runs from out/test/unit/). */
export const EXTENSION_DIR = path.resolve(__dirname, "../../..");
export const REPO_DIR = path.dirname(EXTENSION_DIR);
export const LIBS_DIR = path.join(EXTENSION_DIR, "bundled", "libs");

/** Fails with what to do when the bundle is missing. */
export function requireBundle(): string {
  if (!existsSync(path.join(LIBS_DIR, "llamafile_ls", "__init__.py"))) {
    throw new Error(`${LIBS_DIR} has no llamafile_ls: run scripts/bundle-python.sh (or scripts/build.sh) first`);
  }
  return LIBS_DIR;
}
