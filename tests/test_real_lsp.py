"""The language server on real parts: pytest-lsp driving the server process, which talks to
llama.cpp's llama-server running SmolLM2-135M-Instruct."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from support.lsp_editor import edit_args, execute, start, stop, wait_for

from tests.conftest import RealServer

pytestmark = pytest.mark.real

SAMPLE = (Path(__file__).resolve().parent.parent / "examples" / "sample.py").read_text()


def config(tmp_path: Path, server: RealServer, **options: object) -> Path:
    path = tmp_path / "config.json"
    entry = {"title": "SmolLM2", "provider": "llamafile", "model": "SmolLM2-135M-Instruct", "apiBase": server.url,
             "contextLength": 4096, "completionOptions": {"temperature": 0, "maxTokens": 200}, **options}  # fmt: skip
    path.write_text(json.dumps({"models": [entry]}))
    return path


async def test_an_edit_from_an_lsp_client_lands_on_the_selected_lines(tmp_path: Path, real_server: RealServer) -> None:
    client, editor = await start(config(tmp_path, real_server))
    try:
        uri = editor.open(tmp_path / "sample.py", SAMPLE)
        result = await execute(client, "llamafile.edit", edit_args(uri, 5, 9, "use a with statement"), token="real")
        assert result == {"applied": True}, result
        before, after = SAMPLE.splitlines(keepends=True), editor.text(uri).splitlines(keepends=True)
        assert after != before
        assert after[:5] == before[:5]
        assert after[-8:] == before[-8:]  # from the blank lines after load_settings to the end
        reports = client.progress_reports["real"]
        assert any(isinstance(r, types.WorkDoneProgressReport) and "tokens" in (r.message or "") for r in reports)
    finally:
        await stop(client)


async def test_cancel_request_frees_the_llama_server_slot(tmp_path: Path, real_server: RealServer) -> None:
    # Without the cancel this answer would run for 3500 tokens (about 25 s here).
    path = config(tmp_path, real_server, llamaCppArgs={"ignore_eos": True}, completionOptions={"maxTokens": 3500})
    client, editor = await start(path)
    try:
        uri = editor.open(tmp_path / "sample.py", SAMPLE)
        call = asyncio.ensure_future(
            execute(client, "llamafile.edit", edit_args(uri, 5, 9), token="c", msg_id="real-cancel")
        )
        await wait_for(
            lambda: any(isinstance(r, types.WorkDoneProgressReport) for r in client.progress_reports.get("c", [])), 60
        )
        assert real_server.slots_busy()
        cancelled_at = time.monotonic()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="real-cancel"))
        with pytest.raises(JsonRpcException):
            await call
        while real_server.slots_busy():
            assert time.monotonic() - cancelled_at < 10, "llama-server kept generating after the cancel"
            await asyncio.sleep(0.02)
        print(f"$/cancelRequest to llama-server slot idle: {(time.monotonic() - cancelled_at) * 1000:.0f} ms")
        assert editor.text(uri) == SAMPLE and editor.apply_requests == []
    finally:
        await stop(client)
