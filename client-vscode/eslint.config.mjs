// ESLint (flat config): typescript-eslint's recommended rules on the extension's TypeScript,
// ESLint's recommended ones on the build and test scripts. Run by `npm run lint`, which
// `npm test` (and so scripts/e2e.sh) runs first.
import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";

export default defineConfig([
  globalIgnores(["out/", "dist/", "bundled/", "node_modules/", "test-artifacts/"]),
  {
    files: ["**/*.ts"],
    extends: [js.configs.recommended, tseslint.configs.recommended],
  },
  {
    files: ["**/*.mjs"],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  {
    // Playwright's page.evaluate callbacks run in the browser.
    files: ["test/e2e/**/*.mjs"],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
]);
