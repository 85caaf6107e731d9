"""The OpenAI API of the real llama-server (its ``/v1``), as ``"provider": "openai"`` speaks it,
on SmolLM2-135M-Instruct and on Qwen2.5-Coder-0.5B-Instruct: edits by the CLI and over LSP,
through ``/v1/chat/completions`` and (``useLegacyCompletionsEndpoint``) ``/v1/completions``;
what ``check`` says; a cancel that frees the server's slot; and a ``"provider": "llamafile"``
model on the same server, which speaks its native API.

The models are small: these tests check where an answer lands and what stays as it was,
never what the model wrote.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from support.lsp_editor import edit_args, execute, start, stop, wait_for

from llamafile_ls import textedit
from tests.conftest import RealServer

pytestmark = pytest.mark.real

SAMPLE = (Path(__file__).resolve().parent.parent / "examples" / "sample.py").read_text()
FIRST, LAST = 12, 13  # 0-based: `def greet(name):` and its print, a small selection
INSTRUCTION = "use an f-string"
# At temperature 0 both models answer this with hundreds of tokens (SmolLM2 loops until
# max_tokens, Qwen writes assert after assert), so a cancel lands mid-stream.
LONG_INSTRUCTION = "add 100 assert lines testing it, each with a different file name"
SERVERS = ["real_server", "real_qwen_server"]
# The model names: llama-server serves its one model whatever the name, but the name picks the
# prompt format of a raw prompt (legacy, native): both models are ChatML.
MODEL_NAMES = {"real_server": "SmolLM2-135M-Instruct", "real_qwen_server": "qwen2.5-coder-0.5b-instruct"}
KINDS = ["chat", "legacy", "native"]  # /v1/chat/completions, /v1/completions, llama.cpp's /completion


def model_entry(server: RealServer, name: str, kind: str, **extra: Any) -> dict[str, Any]:
    """Model ``name`` on ``server``: over its OpenAI API (``chat``, ``legacy``) or its own (``native``)."""
    entry: dict[str, Any] = {
        "title": f"{kind} model",
        "provider": "llamafile" if kind == "native" else "openai",
        "model": name,
        "apiBase": server.url if kind == "native" else f"{server.url}/v1",
        "contextLength": 4096,
        "completionOptions": {"temperature": 0, "maxTokens": 64},
    }
    if kind == "legacy":
        entry["useLegacyCompletionsEndpoint"] = True
    entry.update(extra)
    return entry


def write_config(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"models": list(entries)}))
    return path


def assert_only_the_selection_changed(before: str, after: str, first: int = FIRST, last: int = LAST) -> None:
    """Every line above ``first`` and below ``last`` (0-based, inclusive) is byte-identical."""
    old, new = textedit.split_lines(before), textedit.split_lines(after)
    assert new[:first] == old[:first]
    below = len(old) - last - 1
    assert new[len(new) - below :] == old[last + 1 :]


def assert_landed(result: dict[str, Any]) -> None:
    """An LSP edit's answer: applied, or the model chose to change nothing."""
    assert result.get("applied") is True or "unchanged" in result.get("reason", ""), result


def cli_edit(config: Path, file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llamafile_ls", "edit", str(file), "--lines", f"{FIRST + 1}-{LAST + 1}",
         "--instruction", INSTRUCTION, "--config", str(config), "--write", *extra],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("server_name", SERVERS)
def test_a_cli_edit_lands_on_the_selected_lines(
    tmp_path: Path, request: pytest.FixtureRequest, server_name: str, kind: str
) -> None:
    server: RealServer = request.getfixturevalue(server_name)
    config = write_config(tmp_path, model_entry(server, MODEL_NAMES[server_name], kind))
    file = tmp_path / "sample.py"
    file.write_text(SAMPLE)
    started = time.perf_counter()
    result = cli_edit(config, file)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(("llamafile-ls: wrote", "llamafile-ls: the model left the code unchanged")), lines
    endpoint = "/v1" if kind != "native" else ""
    assert f"asking {kind} model at {server.url}{endpoint}" in result.stderr
    print(f"{server_name} {kind}: CLI edit in {elapsed:.2f} s ({lines[-1]})")
    assert_only_the_selection_changed(SAMPLE, file.read_text())


@pytest.mark.parametrize("server_name", SERVERS)
async def test_lsp_edits_over_both_apis_land_on_the_selected_lines(
    tmp_path: Path, request: pytest.FixtureRequest, server_name: str
) -> None:
    """One language server, three models on the same llama-server: each edit lands in its own
    document, and the rest of it stays byte-identical."""
    server: RealServer = request.getfixturevalue(server_name)
    config = write_config(tmp_path, *(model_entry(server, MODEL_NAMES[server_name], kind) for kind in KINDS))
    client, editor = await start(config)
    try:
        for kind in KINDS:
            uri = editor.open(tmp_path / f"sample_{kind}.py", SAMPLE)
            args = edit_args(uri, FIRST, LAST, INSTRUCTION, model=f"{kind} model")
            result = await execute(client, "llamafile.edit", args, token=kind)
            assert_landed(result)
            if result.get("applied"):
                assert editor.text(uri) != SAMPLE
            else:
                assert editor.text(uri) == SAMPLE
            assert_only_the_selection_changed(SAMPLE, editor.text(uri))
            reports = client.progress_reports[kind]
            assert any(isinstance(r, types.WorkDoneProgressReport) and "token" in (r.message or "") for r in reports)
            print(f"{server_name} {kind}: LSP edit {result}")
    finally:
        await stop(client)


@pytest.mark.parametrize("server_name", SERVERS)
def test_check_names_the_flavour_and_the_endpoint(
    tmp_path: Path, request: pytest.FixtureRequest, server_name: str
) -> None:
    server: RealServer = request.getfixturevalue(server_name)
    config = write_config(tmp_path, *(model_entry(server, MODEL_NAMES[server_name], kind) for kind in KINDS))
    result = subprocess.run(
        [sys.executable, "-m", "llamafile_ls", "check", "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert f"model 'chat model' (default): provider openai, {server.url}/v1" in out
    assert "server: up, llama.cpp (OpenAI API); edits go to /v1/chat/completions" in out
    assert "server: up, llama.cpp (OpenAI API); edits go to /v1/completions" in out
    assert "prompt: chat messages (the server applies the model's chat template)" in out
    assert "prompt: raw, in the chatml format" in out  # the legacy and the native model
    assert "server: up, llama.cpp; edits go to /completion" in out
    assert out.count("context: server 4096 tokens, context_length 4096") == 3  # n_ctx per slot, from /v1/models
    assert "all good" in out


@pytest.mark.parametrize("kind", ["chat", "legacy"])
@pytest.mark.parametrize("server_name", SERVERS)
async def test_a_cancel_over_v1_frees_the_llama_server_slot(
    tmp_path: Path, request: pytest.FixtureRequest, server_name: str, kind: str
) -> None:
    server: RealServer = request.getfixturevalue(server_name)
    # Uncancelled, this answer runs for hundreds of tokens (many seconds on 2 cores).
    entry = model_entry(server, MODEL_NAMES[server_name], kind, completionOptions={"temperature": 0, "maxTokens": 3000})
    client, editor = await start(write_config(tmp_path, entry))
    try:
        uri = editor.open(tmp_path / "sample.py", SAMPLE)
        call = asyncio.ensure_future(
            execute(client, "llamafile.edit", edit_args(uri, 5, 9, LONG_INSTRUCTION), token="c", msg_id="v1-cancel")
        )
        await wait_for(
            lambda: any(isinstance(r, types.WorkDoneProgressReport) for r in client.progress_reports.get("c", [])), 60
        )
        assert server.slots_busy()
        cancelled_at = time.monotonic()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="v1-cancel"))
        with pytest.raises(JsonRpcException):
            await call
        # Typically 30-100 ms; but these llama-servers run two threads on two cores, which
        # starves the thread that notices the closed connection: up to 3 s was seen here (a raw
        # socket closed the same way shows the same spread; a one-thread server frees its slot
        # in 30-80 ms every time, see test_real_gateway.py).
        while server.slots_busy():
            waited = time.monotonic() - cancelled_at
            assert waited < 10, f"llama-server was still generating {waited:.1f} s after the cancel ({kind})"
            await asyncio.sleep(0.02)
        idle = time.monotonic() - cancelled_at
        print(f"{server_name} {kind}: $/cancelRequest → slot idle in {idle * 1000:.0f} ms")
        assert editor.text(uri) == SAMPLE and editor.apply_requests == []
    finally:
        await stop(client)


@pytest.mark.parametrize("kind", KINDS)
async def test_back_to_back_answers_on_one_connection_all_arrive(real_server: RealServer, kind: str) -> None:
    """llama-server closes the connection after a streamed /v1 answer without saying so; a
    request sent at once after it used to go out on the dying connection and fail the edit
    about one time in seven ("closed the connection without answering")."""
    from llamafile_ls.config import parse_config
    from llamafile_ls.providers import registry
    from llamafile_ls.providers.base import Message, Prompt

    entry = model_entry(
        real_server, MODEL_NAMES["real_server"], kind, completionOptions={"temperature": 0, "maxTokens": 5}
    )
    provider = registry.create(parse_config(json.dumps({"models": [entry]})).models[0])
    prompt = (
        Prompt(text="Say hi.", messages=(Message("user", "Say hi."),))
        if provider.wants_chat
        else Prompt(text="Say hi.")
    )
    finishes = []
    try:
        for _ in range(30):
            chunks = [chunk async for chunk in provider.stream(prompt)]
            finishes.append(chunks[-1].finish)
    finally:
        await provider.aclose()
    assert set(finishes) <= {"stop", "length"} and len(finishes) == 30
