"""Neovim 0.12's own inline completion client (vim.lsp.inline_completion) shows the server's
ghost text in insert mode and accepting it writes exactly the suggestion into the file: with
raw vim.lsp calls, and through editors/neovim/llamafile.lua's setup (its accept_key, and
inline_completion = false)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.fakeserver import FakeModelServer, completion

from tests.test_neovim import SETUP, nvim  # noqa: F401 — the fixture: the pinned Neovim, or a skip

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "nvim_inline.lua"
SOURCE = "def add(a, b):\n    \n\n\nprint(add(1, 2))\n"


def run_inline(
    nvim: Path,  # noqa: F811
    tmp_path: Path,
    fake_server: FakeModelServer,
    **extra: Any,
) -> Path:
    """Runs tests/nvim_inline.lua on calc.py (SOURCE), the cursor on its line 2; gives the file."""
    fake_server.route("/infill", completion("return", " a + b"))
    config = tmp_path / "config.json"
    model = {"title": "coder", "provider": "llama.cpp", "model": "qwen2.5-coder", "apiBase": fake_server.url}
    config.write_text(json.dumps({"models": [{**model, "roles": ["autocomplete"]}]}))
    app = tmp_path / "calc.py"
    app.write_text(SOURCE)
    test = {"file": str(app), "cmd": [sys.executable, "-m", "llamafile_ls"], "config": str(config),
            "line": 2, "col": 4, "timeout_ms": 20_000, **extra}  # fmt: skip
    home = tmp_path / "nvim-home"
    env = {**os.environ, "LLAMAFILE_NVIM_INLINE": json.dumps(test)}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(home / name.lower())
    result = subprocess.run(
        [nvim, "--headless", "--clean", "-S", SCRIPT],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if result.returncode != 0:
        seen = [(r.path, r.body) for r in fake_server.requests]
        pytest.fail(f"nvim exited with {result.returncode}:\n{result.stderr}\nthe model server saw {seen}")
    return app


def test_neovim_shows_and_accepts_the_ghost_text(
    nvim: Path,  # noqa: F811
    tmp_path: Path,
    fake_server: FakeModelServer,
) -> None:
    app = run_inline(nvim, tmp_path, fake_server)
    assert app.read_text() == SOURCE.replace("    \n", "    return a + b\n", 1)
    assert [r.path for r in fake_server.requests] == ["/infill"]


def test_the_neovim_setup_shows_ghost_text_and_its_accept_key_accepts_it(
    nvim: Path,  # noqa: F811
    tmp_path: Path,
    fake_server: FakeModelServer,
) -> None:
    app = run_inline(nvim, tmp_path, fake_server, setup=str(SETUP), options={"accept_key": "<Tab>"}, accept_key="<Tab>")
    assert app.read_text() == SOURCE.replace("    \n", "    return a + b\n", 1)
    assert [r.path for r in fake_server.requests] == ["/infill"]


def test_the_neovim_setup_asks_for_no_ghost_text_with_inline_completion_off(
    nvim: Path,  # noqa: F811
    tmp_path: Path,
    fake_server: FakeModelServer,
) -> None:
    options = {"inline_completion": False, "accept_key": "<Tab>"}
    app = run_inline(nvim, tmp_path, fake_server, setup=str(SETUP), options=options, expect_none=True, quiet_ms=2_000)
    assert app.read_text() == SOURCE
    assert [r.path for r in fake_server.requests] == []
