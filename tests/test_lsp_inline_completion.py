"""Inline completion end to end: the real server process over stdio (pytest-lsp), a scripted
``/infill`` on 127.0.0.1. What an editor sees (ghost text, a completion item), what the model
server sees (the request, a closed connection when a request is superseded, no request at
all when the cache or type-ahead answers), and that a server that misbehaves breaks nothing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from support.fakeserver import FakeModelServer, Reply, Request, completion, sse
from support.lsp_editor import capabilities, start, stop, wait_for

SOURCE = "def add(a, b):\n    \n\n\nprint(add(1, 2))\n"
CURSOR = types.Position(1, 4)


def config(tmp_path: Path, url: str, roles: list[str] | None = None, **extra: Any) -> Path:
    entry = {"title": "coder", "provider": "llamafile", "model": "qwen2.5-coder", "apiBase": url, **extra}
    entry["roles"] = ["autocomplete"] if roles is None else roles
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"models": [entry]}))
    return path


def inline_capabilities() -> types.ClientCapabilities:
    caps = capabilities()
    caps.text_document = types.TextDocumentClientCapabilities(
        inline_completion=types.InlineCompletionClientCapabilities()
    )
    return caps


async def ask(client: Any, uri: str, position: types.Position = CURSOR) -> list[str]:
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=position,
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
    )
    result = await client.text_document_inline_completion_async(params)
    items = result.items if isinstance(result, types.InlineCompletionList) else result or []
    return [item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value for item in items]


def infills(server: FakeModelServer) -> list[Request]:
    return [r for r in server.requests if r.path == "/infill"]


async def test_ghost_text_comes_from_infill_and_the_server_says_it_can(
    tmp_path: Path, fake_server: FakeModelServer
) -> None:
    fake_server.route("/infill", completion("return", " a + b"))
    client, editor = await start(config(tmp_path, fake_server.url), caps=inline_capabilities())
    try:
        assert editor.server_capabilities is not None
        assert editor.server_capabilities.inline_completion_provider is not None
        uri = editor.open(tmp_path / "calc.py", SOURCE)
        assert await ask(client, uri) == ["return a + b"]
        (request,) = infills(fake_server)
        assert request.body["input_prefix"] == "def add(a, b):\n"
        assert request.body["prompt"] == "    "
        assert request.body["input_suffix"] == "\n\n\nprint(add(1, 2))\n"
        assert request.body["n_indent"] == 4 and request.body["cache_prompt"] is True
        assert "stop" not in request.body  # at the end of a line an answer may take lines
    finally:
        await stop(client)


async def test_typing_the_suggestion_or_coming_back_needs_no_request(
    tmp_path: Path, fake_server: FakeModelServer
) -> None:
    fake_server.route("/infill", completion("return a + b"))
    client, editor = await start(config(tmp_path, fake_server.url), caps=inline_capabilities())
    try:
        uri = editor.open(tmp_path / "calc.py", SOURCE)
        assert await ask(client, uri) == ["return a + b"]
        editor.type(uri, (1, 4), (1, 4), "ret")  # the user types the start of the ghost text
        assert await ask(client, uri, types.Position(1, 7)) == ["urn a + b"]
        editor.type(uri, (1, 7), (1, 7), "urn a")
        assert await ask(client, uri, types.Position(1, 12)) == [" + b"]
        editor.type(uri, (1, 4), (1, 12), "")  # and deletes it all again
        assert await ask(client, uri) == ["return a + b"]
        assert len(infills(fake_server)) == 1
        editor.type(uri, (1, 4), (1, 4), "x")  # something else: the model is asked
        await ask(client, uri, types.Position(1, 5))
        assert len(infills(fake_server)) == 2
    finally:
        await stop(client)


async def test_a_new_request_cancels_the_previous_one_and_closes_its_connection(
    tmp_path: Path, fake_server: FakeModelServer
) -> None:
    def infill(request: Request) -> Reply:
        if request.body["prompt"] == "    ":  # the first: an answer that would take 30 s
            return Reply(pieces=sse(*({"content": "x", "stop": False} for _ in range(600))), delay=0.05)
        return completion("eturn a + b")

    fake_server.route("/infill", infill)
    client, editor = await start(config(tmp_path, fake_server.url), caps=inline_capabilities())
    try:
        uri = editor.open(tmp_path / "calc.py", SOURCE)
        first = asyncio.ensure_future(ask(client, uri))
        await wait_for(lambda: len(infills(fake_server)) == 1)
        started = time.monotonic()
        editor.type(uri, (1, 4), (1, 4), "r")
        assert await ask(client, uri, types.Position(1, 5)) == ["eturn a + b"]
        assert await asyncio.wait_for(first, 5) == []
        await wait_for(lambda: bool(fake_server.disconnects), timeout=5)
        assert fake_server.disconnects[0] - started < 2.0  # at once, not when the answer ended
    finally:
        await stop(client)


async def test_without_an_autocomplete_model_it_is_off_and_says_how_once(
    tmp_path: Path, fake_server: FakeModelServer
) -> None:
    fake_server.route("/infill", completion("never"))
    client, editor = await start(config(tmp_path, fake_server.url, roles=["edit"]), caps=inline_capabilities())
    try:
        uri = editor.open(tmp_path / "calc.py", SOURCE)
        assert await ask(client, uri) == []
        assert await ask(client, uri) == []
        said = [m.message for m in client.log_messages if "autocomplete" in m.message]
        assert len(said) == 1
        assert '"roles": ["autocomplete"]' in said[0]
        assert infills(fake_server) == []
    finally:
        await stop(client)


async def test_editors_without_inline_completion_get_one_completion_item(
    tmp_path: Path, fake_server: FakeModelServer
) -> None:
    fake_server.route("/infill", completion("_total(a, b)"))
    client, editor = await start(config(tmp_path, fake_server.url))  # no inlineCompletion capability
    try:
        uri = editor.open(tmp_path / "calc.py", "def add(a, b):\n    return compute\n")
        result = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri),
                position=types.Position(1, 18),
                context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
            )
        )
        assert isinstance(result, types.CompletionList) and result.is_incomplete
        (item,) = result.items
        assert isinstance(item.text_edit, types.TextEdit)
        assert item.text_edit.new_text == "compute_total(a, b)"
        assert item.text_edit.range == types.Range(types.Position(1, 11), types.Position(1, 18))
        assert item.filter_text == "compute_total(a, b)"  # the client's filtering by "compute" keeps it
        trigger = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri),
                position=types.Position(1, 18),
                context=types.CompletionContext(
                    trigger_kind=types.CompletionTriggerKind.TriggerCharacter, trigger_character="."
                ),
            )
        )
        assert trigger is None
    finally:
        await stop(client)


async def test_an_editor_with_ghost_text_gets_no_completion_items_too(
    tmp_path: Path, fake_server: FakeModelServer
) -> None:
    fake_server.route("/infill", completion("never"))
    client, editor = await start(config(tmp_path, fake_server.url), caps=inline_capabilities())
    try:
        uri = editor.open(tmp_path / "calc.py", SOURCE)
        result = await client.text_document_completion_async(
            types.CompletionParams(text_document=types.TextDocumentIdentifier(uri), position=CURSOR)
        )
        assert result is None
        assert infills(fake_server) == []
    finally:
        await stop(client)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(pieces=[b"data: {not json at all\n\n", b"\xff\xfe garbage"]),
        Reply(pieces=sse(*({"content": "x" * 1000, "stop": False} for _ in range(2000)))),
        Reply(500, "text/html", [b"<html>" + b"oops " * 10000 + b"</html>"]),
        Reply(pieces=[b"data: " + b"y" * 200_000]),
    ],
    ids=["garbage", "huge", "html error", "endless line"],
)
async def test_a_misbehaving_server_breaks_nothing(tmp_path: Path, fake_server: FakeModelServer, reply: Reply) -> None:
    fake_server.route("/infill", reply)
    client, editor = await start(config(tmp_path, fake_server.url), caps=inline_capabilities())
    try:
        uri = editor.open(tmp_path / "calc.py", SOURCE)
        suggestions = await asyncio.wait_for(ask(client, uri), 20)
        assert all(len(text) <= 8192 for text in suggestions)
        fake_server.route("/infill", completion("eturn a + b"))
        editor.type(uri, (1, 4), (1, 4), "r")
        assert await asyncio.wait_for(ask(client, uri, types.Position(1, 5)), 10) == ["eturn a + b"]
        assert not any("Traceback" in m.message for m in client.log_messages)
    finally:
        await stop(client)


async def test_a_stalled_server_times_out_and_is_said_once(tmp_path: Path, fake_server: FakeModelServer) -> None:
    fake_server.route("/infill", Reply(pieces=sse({"content": "x", "stop": False}), delay=30))
    path = config(tmp_path, fake_server.url, requestOptions={"timeout": 1})
    client, editor = await start(path, caps=inline_capabilities())
    try:
        uri = editor.open(tmp_path / "calc.py", SOURCE)
        started = time.monotonic()
        assert await asyncio.wait_for(ask(client, uri), 10) == []
        assert time.monotonic() - started < 5
        editor.type(uri, (1, 4), (1, 4), "r")
        assert await asyncio.wait_for(ask(client, uri, types.Position(1, 5)), 10) == []
        said = [m.message for m in client.log_messages if "inline completion" in m.message]
        assert len(said) == 1 and "no answer" in said[0]
    finally:
        await stop(client)


async def test_fast_typing_asks_the_model_once_for_the_last_keystroke(
    tmp_path: Path, fake_server: FakeModelServer
) -> None:
    def infill(request: Request) -> Reply:
        return completion("return a + b"[len(request.body["prompt"].strip()) :])

    fake_server.route("/infill", infill)
    client, editor = await start(config(tmp_path, fake_server.url), caps=inline_capabilities())
    try:
        uri = editor.open(tmp_path / "calc.py", SOURCE)
        asks = []
        for index, char in enumerate("retu"):  # 50 keystrokes a second, none the suggestion's start yet
            editor.type(uri, (1, 4 + index), (1, 4 + index), char)
            asks.append(asyncio.ensure_future(ask(client, uri, types.Position(1, 5 + index))))
            await asyncio.sleep(0.02)
        results = await asyncio.gather(*asks)
        assert results[-1] == ["rn a + b"]
        assert len(infills(fake_server)) <= 2  # the debounce: superseded keystrokes never reach the model
        assert infills(fake_server)[-1].body["prompt"] == "    retu"
    finally:
        await stop(client)


def test_the_debounce_waits_for_a_pause_in_this_users_typing() -> None:
    from typing import cast

    from llamafile_ls.features.inline_completion import InlineCompletion
    from llamafile_ls.session import Session

    engine = InlineCompletion(cast(Session, None))
    assert engine._debounce(100.0) == pytest.approx(0.225)  # after a pause: the usual typist's gap
    for index in range(1, 30):  # 50 ms between keystrokes
        fast = engine._debounce(100.0 + 0.05 * index)
    assert 0.07 <= fast < 0.1  # waits just longer than this typist's gap
    for index in range(1, 30):  # 400 ms between keystrokes
        slow = engine._debounce(110.0 + 0.4 * index)
    assert slow == 0.35  # never longer than this


async def test_a_file_opened_before_is_extra_context_and_the_file_itself_is_not(
    tmp_path: Path, fake_server: FakeModelServer
) -> None:
    fake_server.route("/infill", completion("return a + b"))
    client, editor = await start(config(tmp_path, fake_server.url), caps=inline_capabilities(), root=tmp_path)
    try:
        util = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(4))
        editor.open(tmp_path / "util.py", util)
        uri = editor.open(tmp_path / "calc.py", SOURCE)
        await ask(client, uri)
        (request,) = infills(fake_server)
        assert request.body["input_extra"] == [{"filename": "util.py", "text": util}]
    finally:
        await stop(client)
