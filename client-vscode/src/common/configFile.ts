/** Where the models' config file is, and what a new one holds. Pure but for `ensureConfigFile`. */

import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { expandHome } from "./settings";

/**
 * The file the server reads, by its precedence: the configPath setting (sent as
 * initializationOptions.configPath) > $LLAMAFILE_LS_CONFIG > ~/.continue/config.yaml (when it
 * exists: it wins, as in Continue) > ~/.continue/config.json.
 */
export function configFilePath(
  configPath: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  home = os.homedir(),
  exists: (file: string) => boolean = existsSync,
): string {
  if (configPath !== undefined && configPath !== "") {
    return configPath;
  }
  const fromEnv = env.LLAMAFILE_LS_CONFIG;
  if (fromEnv !== undefined && fromEnv.trim() !== "") {
    return expandHome(fromEnv.trim(), home);
  }
  const yaml = path.join(home, ".continue", "config.yaml");
  return exists(yaml) ? yaml : path.join(home, ".continue", "config.json");
}

export const DEFAULT_CONFIG = `// Models for llamafile-ls (the Llamafile extension), in Continue's config.json format.
// Comments and trailing commas are fine; snake_case (api_base) and camelCase (apiBase) both work.
// Edits go to the first model, or the one picked with "Llamafile: Select Model".
{
  "models": [
    {
      "title": "Llamafile",
      "provider": "llamafile",
      "model": "mistral-7b-instruct",
      // Where the llamafile (or llama.cpp's llama-server) listens.
      "apiBase": "http://localhost:8080",
      // Uncomment to have the model started when nothing answers at apiBase (an absolute path):
      // "llamafile_command": "/home/me/models/mistral-7b-instruct.llamafile --server --nobrowser --port 8080",
      "contextLength": 4096,
      "completionOptions": {
        "temperature": 0.2,
        "maxTokens": 1023,
      },
    },
  ],
}
`;

/** Creates the file with DEFAULT_CONFIG if there is none; true if it did. */
export async function ensureConfigFile(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return false;
  } catch {
    await fs.mkdir(path.dirname(file), { recursive: true });
    // "wx": never overwrite a file that appeared meanwhile.
    try {
      await fs.writeFile(file, DEFAULT_CONFIG, { encoding: "utf8", flag: "wx" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") {
        return false;
      }
      throw error;
    }
    return true;
  }
}
