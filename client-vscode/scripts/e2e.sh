#!/usr/bin/env bash
# The extension, end to end, in a real VS Code: code-server driven by Chromium (Playwright),
# with the language server it bundles and a real llama-server serving SmolLM2.
#
#   client-vscode/scripts/e2e.sh        # exit 0 when every check passed
#
# Sets up what is missing, cached under $LLAMAFILE_LS_CACHE (default ~/.cache/llamafile-ls):
#   Debian packages  chromium; g++, make, python3 and libkrb5-dev to build code-server's
#                    native modules (its kerberos module has no prebuilt binary offline)
#   Node 24          npm's node-linux-<arch>@24.21.0 (code-server needs Node 24)
#   code-server      npm's code-server@4.139.1 (VS Code 1.139.1), outside client-vscode
#   the .vsix        scripts/build.sh
#   llama-server and SmolLM2   the repository's scripts/real_parts.py
# then starts llama-server on a free port, runs test/e2e/e2e.mjs, and stops everything.
# Screenshots and logs: client-vscode/test-artifacts/.  E2E_KEEP=1 keeps the temporary
# VS Code profile and workspace.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/.." && pwd)
cache=${LLAMAFILE_LS_CACHE:-$HOME/.cache/llamafile-ls}
artifacts="$here/test-artifacts"
NODE24_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
started=$(date +%s)
say() { echo "e2e.sh: $*" >&2; }
since() { echo "$(($(date +%s) - $1)) s"; }

# --- Debian packages -------------------------------------------------------------------
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v curl >/dev/null || missing+=(curl)
command -v cmake >/dev/null || missing+=(cmake) # real_parts.py builds llama-server with it
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
if [ ${#missing[@]} -gt 0 ]; then
  step=$(date +%s)
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  say "installing ${missing[*]} (apt-get)"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "apt-get: $(since "$step")"
fi

# --- Node 24 -----------------------------------------------------------------------------
case "$(uname -m)" in
  x86_64) node_arch=x64 ;;
  aarch64 | arm64) node_arch=arm64 ;;
  *) say "no Node 24 package for $(uname -m)"; exit 1 ;;
esac
node24_dir="$cache/node24"
node24_home="$node24_dir/node_modules/node-linux-$node_arch"
if [ "$("$node24_home/bin/node" --version 2>/dev/null)" != "v$NODE24_VERSION" ]; then
  step=$(date +%s)
  say "installing Node $NODE24_VERSION from npm (node-linux-$node_arch)"
  mkdir -p "$node24_dir"
  npm install --prefix "$node24_dir" --no-audit --no-fund --loglevel=error "node-linux-$node_arch@$NODE24_VERSION"
  say "Node 24: $(since "$step")"
fi

# --- code-server -------------------------------------------------------------------------
cs_dir="$cache/code-server-$CODE_SERVER_VERSION"
code_server="$cs_dir/node_modules/.bin/code-server"
if [ ! -f "$cs_dir/.installed" ]; then
  step=$(date +%s)
  say "installing code-server $CODE_SERVER_VERSION (builds native modules: a few minutes)"
  rm -rf "$cs_dir"
  mkdir -p "$cs_dir"
  # code-server's postinstall runs `npm install` in its lib/vscode, whose native modules
  # build against Node 24's headers; npm 11 runs dependencies' install scripts only when
  # allowed, and the nested installs need them too.
  (
    export PATH="$node24_home/bin:$PATH" npm_config_nodedir="$node24_home"
    npm install --prefix "$cs_dir" --no-audit --no-fund --loglevel=error \
      --dangerously-allow-all-scripts "code-server@$CODE_SERVER_VERSION" >"$cache/code-server-install.log" 2>&1
  ) || { tail -40 "$cache/code-server-install.log" >&2; say "code-server did not install (log: $cache/code-server-install.log)"; exit 1; }
  PATH="$node24_home/bin:$PATH" "$code_server" --version >/dev/null
  touch "$cs_dir/.installed"
  say "code-server: $(since "$step")"
fi

# --- the extension -----------------------------------------------------------------------
step=$(date +%s)
# build.sh regenerates the config schemas and src/common/contract.ts; the committed ones must
# already be those.
generated_files=(schemas/config.schema.json schemas/config-yaml.schema.json src/common/contract.ts)
committed=$(mktemp -d)
for file in "${generated_files[@]}"; do
  cp "$here/$file" "$committed/$(basename "$file")"
done
vsix=$("$here/scripts/build.sh")
stale=()
for file in "${generated_files[@]}"; do
  if ! cmp -s "$committed/$(basename "$file")" "$here/$file"; then
    stale+=("$file")
    say "FAIL: the committed $file differs from what build.sh generates (it has rewritten it: commit it)"
  fi
done
rm -rf "$committed"
say "built $vsix ($(du -k "$vsix" | cut -f1) KiB) in $(since "$step")"

# --- the extension's own tests (no VS Code) ----------------------------------------------
step=$(date +%s)
mkdir -p "$artifacts"
rm -f "$artifacts"/*.png "$artifacts"/*.log
(cd "$here" && npm test --silent) 2>&1 | tee "$artifacts/unit-tests.log" | grep -vE "^\s*(✔|▶)" || true
grep -qE "^ℹ fail 0$" "$artifacts/unit-tests.log" || { say "unit tests failed (log: $artifacts/unit-tests.log)"; exit 1; }
say "unit tests: $(since "$step")"

# --- the real model ----------------------------------------------------------------------
step=$(date +%s)
parts=$(python3 "$repo/scripts/real_parts.py")
model=$(sed -n 's/^model=//p' <<<"$parts")
llama_server=$(sed -n 's/^server=//p' <<<"$parts")
[ -x "$llama_server" ] && [ -f "$model" ] || { say "real_parts.py gave no server or model: $parts"; exit 1; }
say "real parts: $(since "$step")"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# One thread: on 2 cores, llama.cpp's spinning threads and Chromium starve each other (a
# 20x slower model); one core each keeps SmolLM2 at about 50 tokens/s beside the browser.
"$llama_server" -m "$model" --host 127.0.0.1 --port "$port" -c 4096 -np 1 -t 1 >"$artifacts/llama-server.log" 2>&1 &
llama_pid=$!
cleanup() {
  kill "$llama_pid" 2>/dev/null || true
  wait "$llama_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$llama_pid" 2>/dev/null || { tail -20 "$artifacts/llama-server.log" >&2; say "llama-server exited"; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { say "llama-server was not ready in 60 s"; exit 1; }
say "llama-server on 127.0.0.1:$port"

# --- the test ------------------------------------------------------------------------------
status=0
CODE_SERVER="$code_server" NODE24_BIN="$node24_home/bin" VSIX="$vsix" LLAMA_URL="http://127.0.0.1:$port" \
  SAMPLE="$repo/examples/sample.py" ARTIFACTS="$artifacts" \
  node "$here/test/e2e/e2e.mjs" || status=$?
say "vsix size: $(du -k "$vsix" | cut -f1) KiB"
say "e2e duration (with setup): $(since "$started")"
[ ${#stale[@]} -eq 0 ] || { say "failed: stale generated files: ${stale[*]}"; exit 1; }
exit $status
