#!/usr/bin/env bash
# Builds the extension's .vsix from a fresh clone, in one command:
#   client-vscode/scripts/build.sh      (or: cd client-vscode && npm run package)
# npm ci (when node_modules is missing or older than package-lock.json), the language
# server and its pure-Python dependencies into bundled/libs, the config schema, the contract's
# TypeScript types (src/common/contract.ts, from schemas/contract.schema.json), a type check,
# esbuild into dist/extension.js, and vsce. Prints the .vsix path last.
# Needs Node >= 20 with npm, and Python >= 3.10 with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 3>&1 1>&2 # the log on stderr; stdout gets only the .vsix path
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/bundle-python.sh
node scripts/schema.mjs --write
node scripts/contract.mjs --write
npx --no-install tsc -p . --noEmit
node esbuild.mjs
version=$(node -p 'require("./package.json").version')
vsix="dist/llamafile-ls-$version.vsix"
npx --no-install vsce package --no-dependencies --allow-missing-repository --out "$vsix"
echo "build: $(du -h "$vsix" | cut -f1) $vsix"
echo "$PWD/$vsix" >&3
