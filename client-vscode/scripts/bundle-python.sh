#!/usr/bin/env bash
# Puts the language server (this repository's Python package) and its pure-Python
# dependencies into bundled/libs, as the extension runs them: PYTHONPATH=bundled/libs.
#
# Pure wheels only (py3-none-any), resolved for the oldest Python the server supports
# (3.10), so that backports such as exceptiongroup come along and one .vsix works on every
# platform and every Python >= 3.10. No .pyc files: Python writes its own on first start.
#
#   PYTHON=python3.12 scripts/bundle-python.sh    # PYTHON: the Python that runs pip
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/.." && pwd)
python=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore
libs="$here/bundled/libs"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$python" -m pip --version >/dev/null 2>&1 || { echo "bundle-python: $python has no pip (install python3-pip)" >&2; exit 1; }
echo "bundle-python: building the llamafile-ls wheel from $repo"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$tmp/wheel" "$repo"
rm -rf "$libs"
echo "bundle-python: installing it and its dependencies into bundled/libs"
"$python" -m pip install --quiet --disable-pip-version-check --no-compile --target "$libs" \
  --only-binary=:all: --implementation py --abi none --platform any --python-version 3.10 \
  "$tmp"/wheel/*.whl
# pip evaluates markers for the Python running it: add what older Pythons or other
# platforms need (e.g. exceptiongroup on 3.10), until nothing is missing.
for _ in 1 2 3 4 5; do
  mapfile -t missing < <("$python" "$here/scripts/bundle_missing.py" "$libs")
  [ ${#missing[@]} -eq 0 ] && break
  echo "bundle-python: adding ${missing[*]} (needed on other Pythons or platforms)"
  "$python" -m pip install --quiet --disable-pip-version-check --no-compile --no-deps --target "$libs" \
    --only-binary=:all: --implementation py --abi none --platform any --python-version 3.10 "${missing[@]}"
done
[ -z "$("$python" "$here/scripts/bundle_missing.py" "$libs")" ] || { echo "bundle-python: requirements still missing" >&2; exit 1; }
rm -rf "$libs/bin"  # console scripts with this machine's Python in their first line
compiled=$(find "$libs" \( -name '*.so' -o -name '*.pyd' -o -name '*.dylib' -o -name '*.pyc' \) | head -5)
if [ -n "$compiled" ]; then
  echo "bundle-python: compiled files in bundled/libs (the .vsix must stay platform-independent):" >&2
  echo "$compiled" >&2
  exit 1
fi
echo "bundle-python: $(ls "$libs" | grep -c dist-info) packages, $(du -sh "$libs" | cut -f1) in $libs"
