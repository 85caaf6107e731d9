"""Family "LSP": the language server driven by a real JSON-RPC client at its worst.

Each case runs the real server process (pytest-lsp) against a scripted model server and
checks four things: the exact kind of answer (``{"applied": false, "reason": …}`` with a
reason that says what is wrong, or a one-line JSON-RPC error); that nothing the client was
told holds a traceback or a Python exception's repr; that the editor's document is
byte-identical wherever nothing may change (the expected text is worked out here, not by
the code under test); and that the server still applies a normal edit afterwards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient
from support.fakeserver import FakeModelServer, Reply, Request, completion, sse
from support.lsp_editor import SERVER, Editor, capabilities, edit_args, execute, offset_of, start, stop, wait_for

TEMPLATE = "<code>{{{code_to_edit}}}</code><ask>{{{user_input}}}</ask>"
SOURCE = "".join(f"line_{i} = {i}\n" for i in range(10))
EDIT, RUN, SELECT, LIST = "llamafile.edit", "llamafile.runCommand", "llamafile.selectModel", "llamafile.listModels"
# What must never reach the user: a traceback, an exception's repr, an object's repr, or an
# unforeseen error (which the server reports as "internal error").
LEAK = re.compile(r"Traceback|\b[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Group)\(|<[\w.]+ object at 0x|internal error")
LSP_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")  # LSP breaks lines at \n, \r\n and \r only


# The model and the expected texts.


def shouting(delay: float = 0.0, pieces: int = 1, tag: bool = False) -> Callable[[Request], Reply]:
    """A model that answers with the selected code upper-cased (each line followed by
    ``  # <instruction>`` with ``tag``), in ``pieces`` chunks ``delay`` apart."""

    def handler(request: Request) -> Reply:
        prompt = request.body["prompt"]
        code = re.search(r"<code>(.*)</code>", prompt, re.S).group(1)  # type: ignore[union-attr]
        ask = re.search(r"<ask>(.*)</ask>", prompt, re.S).group(1)  # type: ignore[union-attr]
        answer = code.upper()
        if tag:
            answer = "\n".join(f"{line}  # {ask}" for line in answer.split("\n"))
        size = max(1, len(answer) // pieces + 1)
        reply = completion(*(answer[i : i + size] for i in range(0, len(answer), size)))
        reply.delay = delay
        return reply

    return handler


def shouted(text: str, first: int, last: int, tag: str | None = None) -> str:
    """``text`` with LSP lines ``first``..``last`` upper-cased, their line endings kept."""
    lines = LSP_LINE.findall(text)
    for index in range(first, min(last + 1, len(lines))):
        line = lines[index]
        body = line.rstrip("\r\n")
        lines[index] = body.upper() + (f"  # {tag}" if tag else "") + line[len(body) :]
    return "".join(lines)


def write_config(path: Path, api_base: str, *titles: str, **extra: Any) -> Path:
    models = [
        {"title": title, "provider": "llamafile", "model": "smollm2", "apiBase": api_base,
         "promptTemplates": {"edit": TEMPLATE}, "requestOptions": {"timeout": 2}, **extra}
        for title in (titles or ("fake",))
    ]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"models": models}, indent=2))
    return path


@pytest.fixture
def fake(fake_server: FakeModelServer) -> FakeModelServer:
    fake_server.route("/completion", shouting())
    return fake_server


@pytest.fixture
def config(tmp_path: Path, fake: FakeModelServer) -> Path:
    return write_config(tmp_path / "config.json", fake.url)


def completions(fake: FakeModelServer) -> list[Request]:
    return [r for r in fake.requests if r.path == "/completion"]


def slow_stream(seconds: float = 30.0) -> Reply:
    """An answer that would take ``seconds`` to finish: for cancelling mid-way."""
    return Reply(pieces=sse(*({"content": "X"} for _ in range(int(seconds / 0.05)))), delay=0.05)


# Checks.


def told(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages] + [m.message for m in client.log_messages]


def assert_clean(client: LanguageClient, *answers: Any) -> None:
    """Nothing the client was told leaks a traceback, a repr or an internal error."""
    for text in [*told(client), *map(str, answers)]:
        assert not LEAK.search(text), text


def assert_refused(result: Any, words: str) -> str:
    assert isinstance(result, dict) and set(result) == {"applied", "reason"}, result
    assert result["applied"] is False
    reason = result["reason"]
    assert isinstance(reason, str) and words in reason, reason
    assert "\n" not in reason and not LEAK.search(reason), reason
    return reason


def assert_error(error: JsonRpcException, words: str) -> None:
    message = error.message
    assert words in message, message
    assert "\n" not in message and not LEAK.search(message), message


async def assert_healthy(client: LanguageClient, editor: Editor, fake: FakeModelServer, tmp_path: Path) -> None:
    """A normal edit still applies, on exactly the lines asked."""
    fake.route("/completion", shouting())
    editor.hold_applies(None)
    uri = editor.open(tmp_path / f"healthy-{len(editor.docs)}.py", SOURCE)
    result = await asyncio.wait_for(execute(client, EDIT, edit_args(uri, 3, 4)), 15)
    assert result == {"applied": True}
    assert editor.text(uri) == shouted(SOURCE, 3, 4)


@contextlib.asynccontextmanager
async def session(
    config: Path | None,
    fake: FakeModelServer,
    tmp_path: Path,
    *,
    healthy: bool = True,
    release: asyncio.Event | None = None,
    **options: Any,
) -> AsyncIterator[tuple[LanguageClient, Editor]]:
    """A server for one case: afterwards it must still edit, and have told nothing it should
    not. ``release`` lets go of workspace/applyEdit requests a test's editor holds."""
    client, editor = await start(config, **options)
    try:
        yield client, editor
        if healthy:
            await assert_healthy(client, editor, fake, tmp_path)
        assert_clean(client)
    finally:
        if release is not None:
            release.set()
        try:
            await asyncio.wait_for(stop(client), 20)
        except (Exception, asyncio.CancelledError):
            await end(client)
            raise


def rng(start_line: Any, start_character: Any, end_line: Any, end_character: Any) -> dict[str, Any]:
    return {
        "start": {"line": start_line, "character": start_character},
        "end": {"line": end_line, "character": end_character},
    }


def change(editor: Editor, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
    """A didChange with the version given (the editor model keeps it, right or wrong)."""
    _, old = editor.docs[uri]
    span = types.Range(types.Position(*start), types.Position(*end))
    editor.docs[uri] = (version, old[: offset_of(old, span.start)] + text + old[offset_of(old, span.end) :])
    editor.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=span, text=text)],
        )
    )


# Bad params: every command with arguments that are not as documented. Each must answer
# at once, say what is wrong, and never reach the model.

Arguments = Callable[[str], list[Any]]


def edit_with(**changes: Any) -> Arguments:
    def arguments(uri: str) -> list[Any]:
        argument = edit_args(uri, 1, 2)
        for key, value in changes.items():
            if value is ...:
                del argument[key]
            else:
                argument[key] = value
        return [argument]

    return arguments


def run_with(**changes: Any) -> Arguments:
    def arguments(uri: str) -> list[Any]:
        argument = {"name": "/comment", "uri": uri, "range": rng(1, 0, 3, 0), **changes}
        return [{k: v for k, v in argument.items() if v is not ...}]

    return arguments


SHAPE = "takes one object"
BAD_PARAMS: list[tuple[str, str, Arguments, str, str]] = [
    ("edit-no-argument", EDIT, lambda uri: [], "reason", f"{EDIT} {SHAPE}"),
    ("edit-a-list", EDIT, lambda uri: [[uri, rng(1, 0, 2, 0), "rewrite it"]], "reason", f"{EDIT} {SHAPE}"),
    ("edit-a-string", EDIT, lambda uri: [uri], "reason", f"{EDIT} {SHAPE}"),
    ("edit-null", EDIT, lambda uri: [None], "reason", f"{EDIT} {SHAPE}"),
    ("edit-two-objects", EDIT, lambda uri: [edit_args(uri, 1, 1), edit_args(uri, 2, 2)], "reason", SHAPE),
    ("edit-null-uri", EDIT, edit_with(uri=None), "reason", "a document uri is needed"),
    ("edit-uri-a-number", EDIT, edit_with(uri=7), "reason", "a document uri is needed"),
    ("edit-no-range", EDIT, edit_with(range=...), "reason", "a range is needed"),
    ("edit-range-null", EDIT, edit_with(range=None), "reason", "a range is needed"),
    ("edit-range-a-list", EDIT, edit_with(range=[[1, 0], [2, 0]]), "reason", "a range is needed"),
    ("edit-range-strings", EDIT, edit_with(range=rng("1", "0", "2", "0")), "reason", "a range is needed"),
    ("edit-range-floats", EDIT, edit_with(range=rng(1.0, 0, 2.5, 0)), "reason", "a range is needed"),
    ("edit-range-booleans", EDIT, edit_with(range=rng(True, False, True, True)), "reason", "a range is needed"),
    ("edit-range-negative", EDIT, edit_with(range=rng(-1, 0, 2, 0)), "reason", "a range is needed"),
    ("edit-range-2**40", EDIT, edit_with(range=rng(0, 0, 2**40, 0)), "reason", "a range is needed"),
    ("edit-range-no-character", EDIT, edit_with(range={"start": {"line": 1}, "end": {"line": 2, "character": 0}}),
     "reason", "a range is needed"),
    ("edit-range-reversed", EDIT, edit_with(range=rng(5, 0, 2, 0)), "reason",
     "the range ends (line 3) before it starts (line 6)"),
    ("edit-range-reversed-in-a-line", EDIT, edit_with(range=rng(2, 5, 2, 1)), "reason", "before it starts"),
    ("edit-range-past-the-end", EDIT, edit_with(range=rng(50, 0, 60, 0)), "reason",
     "outside the file, which has 10 lines"),
    ("edit-empty-instruction", EDIT, edit_with(instruction=""), "reason", "no instruction was given"),
    ("edit-blank-instruction", EDIT, edit_with(instruction=" \n\t "), "reason", "no instruction was given"),
    ("edit-no-instruction", EDIT, edit_with(instruction=...), "reason", "no instruction was given"),
    ("edit-instruction-a-number", EDIT, edit_with(instruction=42), "reason", "instruction must be a string"),
    ("edit-instruction-a-list", EDIT, edit_with(instruction=["shout"]), "reason", "instruction must be a string"),
    ("edit-unknown-model", EDIT, edit_with(model="nope"), "reason", "no model titled 'nope' in the config"),
    ("edit-model-a-dict", EDIT, edit_with(model={"title": "fake"}), "reason", "model must be a model title"),
    ("edit-preview-a-string", EDIT, edit_with(preview="yes"), "reason", "preview must be true or false"),
    ("edit-preview-a-number", EDIT, edit_with(preview=1), "reason", "preview must be true or false"),
    ("run-no-argument", RUN, lambda uri: [], "reason", f"{RUN} {SHAPE}"),
    ("run-a-string", RUN, lambda uri: ["/comment"], "reason", f"{RUN} {SHAPE}"),
    ("run-no-name", RUN, run_with(name=...), "reason", "no command name was given"),
    ("run-unknown-name", RUN, run_with(name="/nope"), "reason", "there is no command named '/nope'"),
    ("run-name-a-number", RUN, run_with(name=5), "reason", "name must be a string"),
    ("run-input-a-dict", RUN, run_with(input={"a": 1}), "reason", "input must be a string"),
    ("run-range-reversed", RUN, run_with(range=rng(4, 0, 1, 0)), "reason", "before it starts"),
    ("select-no-argument", SELECT, lambda uri: [], "error", 'takes {"title": "<model title>"}'),
    ("select-a-string", SELECT, lambda uri: ["fake"], "error", 'takes {"title": "<model title>"}'),
    ("select-title-a-number", SELECT, lambda uri: [{"title": 1}], "error", 'takes {"title": "<model title>"}'),
    ("select-unknown-title", SELECT, lambda uri: [{"title": "nope"}], "error", "no model titled 'nope'"),
    ("list-with-junk-arguments", LIST, lambda uri: ["x", {"y": [1]}, None], "models", "fake"),
    ("unknown-command", "llamafile.nope", lambda uri: [{"uri": uri}], "error", "unknown command 'llamafile.nope'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "arguments", "kind", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_PARAMS],
)
async def test_bad_params(
    tmp_path: Path, config: Path, fake: FakeModelServer, command: str, arguments: Arguments, kind: str, words: str
) -> None:
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)
        started = time.monotonic()
        if kind == "error":
            with pytest.raises(JsonRpcException) as caught:
                await execute(client, command, *arguments(uri))
            assert_error(caught.value, words)
        elif kind == "models":
            assert await execute(client, command, *arguments(uri)) == [
                {"title": words, "provider": "llamafile", "model": "smollm2", "active": True, "roles": ["edit", "chat"]}
            ]
        else:
            assert_refused(await execute(client, command, *arguments(uri)), words)
        assert time.monotonic() - started < 3
        assert editor.text(uri) == SOURCE and editor.apply_requests == []
        assert not completions(fake)


@pytest.mark.parametrize(
    ("params", "kind", "words"),
    [
        # lsprotocol reads a string or an object as a sequence: the command sees no one object.
        pytest.param({"command": EDIT, "arguments": "not a list"}, "reason", f"{EDIT} {SHAPE}", id="arguments-a-string"),
        pytest.param({"command": EDIT, "arguments": {"uri": "file:///a.py"}}, "reason", f"{EDIT} {SHAPE}",
                     id="arguments-an-object"),
        pytest.param({"command": 5, "arguments": []}, "error", "unknown command '5'", id="command-a-number"),
        pytest.param({"arguments": []}, "error", "", id="no-command"),
        pytest.param({"command": [EDIT]}, "error", "", id="command-a-list"),
    ],
)  # fmt: skip
async def test_execute_command_params_that_are_not_lsp(
    tmp_path: Path, config: Path, fake: FakeModelServer, params: dict[str, Any], kind: str, words: str
) -> None:
    """Params that do not even parse as ExecuteCommandParams: a JSON-RPC error, as the spec
    says (InvalidParams), never silence (the client would wait for ever)."""
    async with session(config, fake, tmp_path) as (client, _editor):
        if kind == "reason":
            assert_refused(await asyncio.wait_for(send_raw(client, types.WORKSPACE_EXECUTE_COMMAND, params), 5), words)
        else:
            with pytest.raises(JsonRpcException) as caught:
                await asyncio.wait_for(send_raw(client, types.WORKSPACE_EXECUTE_COMMAND, params), 5)
            assert caught.value.code == types.ErrorCodes.InvalidParams
            assert_error(caught.value, words)
        assert not completions(fake)


async def send_raw(client: LanguageClient, method: str, params: Any) -> Any:
    """A request with ``params`` as they are, not as lsprotocol would shape them."""
    protocol = client.protocol
    msg_id = f"raw-{len(protocol._result_types)}"
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    protocol._request_futures[msg_id] = future
    protocol._result_types[msg_id] = protocol.get_result_type(method)
    protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return await asyncio.wrap_future(future)


# Documents: which the edit is for, and what happens to it meanwhile.


async def test_an_edit_on_a_document_never_opened_says_it_is_not_open(
    tmp_path: Path, config: Path, fake: FakeModelServer
) -> None:
    (tmp_path / "on-disk.py").write_text(SOURCE)  # on disk, but what the editor holds is unknown
    async with session(config, fake, tmp_path) as (client, editor):
        uri = (tmp_path / "on-disk.py").as_uri()
        result = await execute(client, EDIT, edit_args(uri, 1, 2))
        assert_refused(result, f"{uri} is not open in the editor; open it and try again")
        assert editor.apply_requests == [] and not completions(fake)
        assert (tmp_path / "on-disk.py").read_text() == SOURCE


async def test_an_untitled_document_is_edited(tmp_path: Path, config: Path, fake: FakeModelServer) -> None:
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open_uri("untitled:Untitled-1", SOURCE)
        assert await execute(client, EDIT, edit_args(uri, 2, 3)) == {"applied": True}
        assert editor.text(uri) == shouted(SOURCE, 2, 3)
        (request,) = completions(fake)
        assert request.body["prompt"] == "<code>line_2 = 2\nline_3 = 3</code><ask>rewrite it</ask>"


async def test_a_document_closed_while_the_model_answers_is_left_alone(
    tmp_path: Path, config: Path, fake: FakeModelServer
) -> None:
    fake.route("/completion", shouting(delay=0.1, pieces=5))
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)
        call = asyncio.ensure_future(execute(client, EDIT, edit_args(uri, 4, 5)))
        await wait_for(lambda: bool(completions(fake)))
        editor.close(uri)
        assert_refused(await call, "the document was closed while the model was answering; nothing was applied")
        assert editor.text(uri) == SOURCE and editor.apply_requests == []


@pytest.mark.parametrize("notification", ["didChange", "didClose"])
async def test_notifications_for_a_document_never_opened_are_ignored(
    tmp_path: Path, config: Path, fake: FakeModelServer, notification: str
) -> None:
    async with session(config, fake, tmp_path) as (client, editor):
        uri = (tmp_path / "never.py").as_uri()
        if notification == "didChange":
            editor.docs[uri] = (1, SOURCE)
            change(editor, uri, 2, (0, 0), (0, 0), "typed\n")
            del editor.docs[uri]
        else:
            editor.close(uri)
        result = await execute(client, EDIT, edit_args(uri, 1, 1))  # still not open
        assert_refused(result, "is not open in the editor")
        assert not [m for m in client.messages if m.type == types.MessageType.Error and "not open" not in m.message]


async def test_did_change_with_a_duplicate_or_stale_version_is_still_followed(
    tmp_path: Path, config: Path, fake: FakeModelServer
) -> None:
    """A client that repeats or goes back on a version still sent a real change: the server's
    copy must follow it, or an edit would land on the wrong lines."""
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)
        change(editor, uri, 2, (0, 0), (0, 0), "# a\n")
        change(editor, uri, 2, (0, 0), (0, 0), "# b\n")  # the same version again
        change(editor, uri, 1, (0, 0), (0, 0), "# c\n")  # an older version
        typed = "# c\n# b\n# a\n" + SOURCE
        assert editor.text(uri) == typed
        assert await execute(client, EDIT, edit_args(uri, 5, 5)) == {"applied": True}
        assert editor.text(uri) == shouted(typed, 5, 5)
        assert "\nLINE_2 = 2\n" in editor.text(uri)


async def test_a_second_did_open_replaces_the_document(tmp_path: Path, config: Path, fake: FakeModelServer) -> None:
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", "old = 1\n" * 3)
        other = "first = 1\nsecond = 2\nthird = 3\n"
        editor.open_uri(uri, other, version=7)
        assert await execute(client, EDIT, edit_args(uri, 1, 1)) == {"applied": True}
        assert editor.text(uri) == "first = 1\nSECOND = 2\nthird = 3\n"
        assert editor.apply_requests[0].edit.document_changes[0].text_document.version == 7  # type: ignore[index,union-attr]


async def test_a_did_change_storm_above_the_selection_while_the_model_answers(
    tmp_path: Path, config: Path, fake: FakeModelServer
) -> None:
    fake.route("/completion", shouting(delay=0.05, pieces=6))
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)
        call = asyncio.ensure_future(execute(client, EDIT, edit_args(uri, 5, 6)))
        await wait_for(lambda: bool(completions(fake)))
        chance = random.Random(2087)
        top = 5  # where the selected lines start now
        for step in range(400):
            line = chance.randrange(top)
            roll = chance.random()
            if roll < 0.5:
                column = chance.randrange(3)
                editor.type(uri, (line, column), (line, column), chance.choice("abc#é😀 "))
            elif roll < 0.8:
                editor.type(uri, (line, 0), (line, 0), f"new_{step} = 0\n")
                top += 1
            elif top > 1:
                editor.type(uri, (line, 0), (line + 1, 0), "")
                top -= 1
        typed = editor.text(uri)
        assert LSP_LINE.findall(typed)[top : top + 2] == ["line_5 = 5\n", "line_6 = 6\n"]
        assert await call == {"applied": True}
        assert editor.text(uri) == shouted(typed, top, top + 1)


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        pytest.param((5, 0), (5, 6), "mine", id="first-line"),
        pytest.param((6, 10), (6, 10), "  # typed", id="end-of-last-line"),
        pytest.param((5, 4), (6, 4), "", id="joins-the-lines"),
        pytest.param((6, 0), (6, 0), "inserted = 1\n", id="a-new-line-inside"),
    ],
)
async def test_typing_inside_the_selection_while_the_model_answers_wins(
    tmp_path: Path, config: Path, fake: FakeModelServer, start: tuple[int, int], end: tuple[int, int], text: str
) -> None:
    fake.route("/completion", shouting(delay=0.1, pieces=5))
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)
        call = asyncio.ensure_future(execute(client, EDIT, edit_args(uri, 5, 6)))
        await wait_for(lambda: bool(completions(fake)))
        editor.type(uri, start, end, text)
        typed = editor.text(uri)
        assert_refused(await call, "the selected lines changed while the model was answering; nothing was applied")
        assert editor.text(uri) == typed and editor.apply_requests == []


async def test_deleting_the_whole_document_while_the_model_answers(
    tmp_path: Path, config: Path, fake: FakeModelServer
) -> None:
    fake.route("/completion", shouting(delay=0.1, pieces=5))
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)
        call = asyncio.ensure_future(execute(client, EDIT, edit_args(uri, 5, 6)))
        await wait_for(lambda: bool(completions(fake)))
        editor.type(uri, (0, 0), (10, 0), "")
        assert_refused(await call, "the selected lines changed while the model was answering")
        assert editor.text(uri) == "" and editor.apply_requests == []


ODD_DOCUMENTS = [
    ("crlf", "a = 1\r\nb = 2\r\nc = 3\r\n", 1),
    ("lone-cr", "a = 1\rb = 2\rc = 3\r", 1),
    ("mixed-endings", "a = 1\r\nb = 2\nc = 3\rd = 4\r\n", 2),
    ("form-feed", "a = 1\n\x0c\nb = 2\x0cx\nc = 3\n", 3),
    ("u2028-u2029-nel-vt", "s = 'a\u2028b\u2029c'\nt = '\x85\x0b'\nu = 3\n", 2),
    ("astral", "e = '😀'\nf = '𝄞x😀'\ng = 3\n", 1),
    ("no-final-newline", "a = 1\nb = 2", 1),
    ("crlf-no-final-newline", "a = 1\r\nb = 2", 1),
    ("bom", "\ufeffa = 1\nb = 2\nc = 3\n", 1),
    ("bom-crlf-astral", "\ufeff# 😀\r\nx = '𝄞'\r\ny = 2\r\n", 2),
]


@pytest.mark.parametrize(("text", "line"), [pytest.param(t, n, id=i) for i, t, n in ODD_DOCUMENTS])
async def test_odd_documents_are_edited_on_exactly_the_lines_asked(
    tmp_path: Path, config: Path, fake: FakeModelServer, text: str, line: int
) -> None:
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "odd.py", text)
        editor.type(uri, (0, 0), (0, 0), "")  # an empty change: the server's copy must not move
        assert await execute(client, EDIT, edit_args(uri, line, line)) == {"applied": True}
        assert editor.text(uri) == shouted(text, line, line)


async def test_a_cancel_that_crosses_an_applied_edit_answers_applied(
    tmp_path: Path, config: Path, fake: FakeModelServer
) -> None:
    """The editor applied the edit and its answer is on the way when the cancel comes: the
    command must say "applied" (the text did change), not "cancelled"."""
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)
        applied = asyncio.Event()

        async def apply_then_answer_late(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            result = editor._apply_edit(params)
            applied.set()
            # The answer is on its way when the cancel comes; an applied edit cannot be taken
            # back, so the editor says what it did.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.5)
            return result

        client.protocol.fm.features[types.WORKSPACE_APPLY_EDIT] = apply_then_answer_late
        call = asyncio.ensure_future(execute(client, EDIT, edit_args(uri, 1, 2), msg_id="crossing"))
        await asyncio.wait_for(applied.wait(), 5)
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="crossing"))
        assert await asyncio.wait_for(call, 5) == {"applied": True}
        assert editor.text(uri) == shouted(SOURCE, 1, 2)


# Cancels at every moment. The request's $/cancelRequest answers with a "cancelled" error;
# the progress's cancel button answers "cancelled"; either way the document is unchanged,
# and a model that was reached sees its connection closed.

MOMENTS = ["tokenize", "first-byte", "mid-stream", "apply"]


@pytest.mark.parametrize(
    ("how", "moment"),
    [("request", "immediately"), *(("request", m) for m in MOMENTS), *(("progress", m) for m in MOMENTS)],
    ids=lambda value: value,
)
async def test_a_cancel_changes_nothing(
    tmp_path: Path, config: Path, fake: FakeModelServer, how: str, moment: str
) -> None:
    release, held = asyncio.Event(), asyncio.Event()
    if moment == "tokenize":
        fake.route("/tokenize", Reply(200, "application/json", [b'{"tokens": [1, 2, 3]}'], delay=10))
    elif moment == "first-byte":
        fake.route("/completion", Reply(pieces=sse({"content": "NEVER", "stop": True, "stop_type": "eos"}), delay=10))
    elif moment == "mid-stream":
        fake.route("/completion", slow_stream())
    elif moment == "immediately":  # the cancel is right behind the request: before any answer
        fake.route("/completion", Reply(pieces=sse({"content": "NEVER", "stop": True, "stop_type": "eos"}), delay=2))
    if moment == "tokenize":  # a context tight enough that the prompt is counted by the server
        config = write_config(config, fake.url, contextLength=1062, completionOptions={"maxTokens": 1023})
    async with session(config, fake, tmp_path, release=release) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)

        async def hold(_params: types.ApplyWorkspaceEditParams) -> None:
            held.set()
            await release.wait()

        if moment == "apply":
            editor.hold_applies(hold)
        token = f"cancel-{how}-{moment}"
        call = asyncio.ensure_future(execute(client, EDIT, edit_args(uri, 1, 2), token=token, msg_id=token))
        if moment == "immediately":
            await asyncio.sleep(0)  # sent, and the cancel right behind it
        elif moment == "tokenize":
            await wait_for(lambda: any(r.path == "/tokenize" for r in fake.requests))
        elif moment == "apply":
            await asyncio.wait_for(held.wait(), 5)
        else:
            await wait_for(lambda: bool(completions(fake)))
        if moment in ("tokenize", "first-byte", "mid-stream"):
            await asyncio.sleep(0.2)  # waiting for the model (or, mid-stream, a few chunks in)
        if how == "request":
            client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=token))
            with pytest.raises(JsonRpcException) as caught:
                await asyncio.wait_for(call, 5)
            assert caught.value.code == types.LSPErrorCodes.RequestCancelled
            assert "\n" not in caught.value.message
        else:
            await wait_for(lambda: bool(client.progress_reports.get(token)))
            client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
            assert await asyncio.wait_for(call, 5) == {"applied": False, "reason": "cancelled"}
        release.set()  # an editor that held the edit lets it go now: it must have been withdrawn
        await asyncio.sleep(0.3)
        assert editor.text(uri) == SOURCE and editor.apply_requests == []
        if moment in ("tokenize", "first-byte", "mid-stream"):
            await wait_for(lambda: bool(fake.disconnects), timeout=5)
        if moment == "tokenize":
            assert not completions(fake)
            fake.route("/tokenize", Reply(200, "application/json", [b'{"tokens": [1, 2, 3]}']))
        if moment != "immediately":
            await wait_for(lambda: isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd))
            assert client.progress_reports[token][-1].message == "cancelled"


# Concurrency.


@pytest.mark.parametrize("spacing", [1, 2], ids=["adjacent-lines", "every-other-line"])
async def test_twenty_edits_at_once_on_distinct_lines_all_apply(
    tmp_path: Path, config: Path, fake: FakeModelServer, spacing: int
) -> None:
    fake.route("/completion", shouting(delay=0.01, pieces=3))
    text = "".join(f"line_{i} = {i}\n" for i in range(45))
    lines = [i * spacing for i in range(20)]
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", text)
        calls = [execute(client, EDIT, edit_args(uri, line, line)) for line in reversed(lines)]
        results = await asyncio.wait_for(asyncio.gather(*calls), 60)
        assert results == [{"applied": True}] * 20
        expected = LSP_LINE.findall(text)
        for line in lines:
            expected[line] = expected[line].upper()
        assert editor.text(uri) == "".join(expected)


@pytest.mark.parametrize("spans", [[(2, 4)] * 3, [(2, 4), (4, 6), (1, 2)]], ids=["the-same-lines", "sharing-a-line"])
async def test_overlapping_edits_at_once_the_first_wins_the_others_are_refused(
    tmp_path: Path, config: Path, fake: FakeModelServer, spans: list[tuple[int, int]]
) -> None:
    delays = {"first": 0.01, "second": 0.15, "third": 0.3}

    def model(request: Request) -> Reply:
        reply = shouting(tag=True)(request)
        reply.delay = delays[re.search(r"<ask>(.*)</ask>", request.body["prompt"]).group(1)]  # type: ignore[union-attr]
        return reply

    fake.route("/completion", model)
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)
        calls = [
            execute(client, EDIT, edit_args(uri, first, last, instruction=name))
            for (first, last), name in zip(spans, delays, strict=True)
        ]
        first, second, third = await asyncio.wait_for(asyncio.gather(*calls), 20)
        assert first == {"applied": True}
        for refused in (second, third):
            assert_refused(refused, "the selected lines changed while the model was answering; nothing was applied")
        assert editor.text(uri) == shouted(SOURCE, *spans[0], tag="first")
        assert len(editor.apply_requests) == 1


async def test_edits_in_several_documents_at_once(tmp_path: Path, config: Path, fake: FakeModelServer) -> None:
    fake.route("/completion", shouting(delay=0.02, pieces=3))
    async with session(config, fake, tmp_path) as (client, editor):
        uris = [editor.open(tmp_path / f"doc{n}.py", SOURCE) for n in range(5)]
        spans = [(0, 1), (4, 4), (7, 9)]
        calls = [execute(client, EDIT, edit_args(uri, a, b)) for uri in uris for a, b in spans]
        assert await asyncio.wait_for(asyncio.gather(*calls), 30) == [{"applied": True}] * 15
        expected = shouted(shouted(shouted(SOURCE, 0, 1), 4, 4), 7, 9)
        assert [editor.text(uri) for uri in uris] == [expected] * 5


# An editor that never answers workspace/applyEdit (Vim's ALE).


async def test_an_editor_that_never_answers_apply_edit_gets_a_reason(
    tmp_path: Path, config: Path, fake: FakeModelServer
) -> None:
    never_answers = asyncio.Event()
    async with session(config, fake, tmp_path, release=never_answers, applyEditTimeout=1) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)

        async def never(_params: types.ApplyWorkspaceEditParams) -> None:
            await never_answers.wait()

        editor.hold_applies(never)
        started = time.monotonic()
        result = await asyncio.wait_for(execute(client, EDIT, edit_args(uri, 1, 2)), 10)
        assert time.monotonic() - started < 4
        assert_refused(result, "the editor did not answer the request to apply the edit within 1 s")
        assert editor.text(uri) == SOURCE


# Lifecycle.


async def end(client: LanguageClient) -> None:
    """Stop a client whose server may be anywhere in its life: exit it, kill it if it hangs."""
    process = client._server
    if process is not None and process.returncode is None:
        with contextlib.suppress(Exception):
            client.exit(None)
        try:
            await asyncio.wait_for(process.wait(), 5)
        except asyncio.TimeoutError:
            process.kill()
    await client.stop()


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "while-the-model-answers"])
async def test_exit_without_shutdown_ends_the_server_promptly(
    tmp_path: Path, config: Path, fake: FakeModelServer, busy: bool
) -> None:
    fake.route("/completion", slow_stream())
    client, editor = await start(config)
    try:
        process = client._server
        assert process is not None
        if busy:
            uri = editor.open(tmp_path / "a.py", SOURCE)
            call = asyncio.ensure_future(execute(client, EDIT, edit_args(uri, 1, 2)))
            await wait_for(lambda: bool(completions(fake)))
        started = time.monotonic()
        client.exit(None)
        await asyncio.wait_for(process.wait(), 5)
        print(f"exit to process gone: {(time.monotonic() - started) * 1000:.0f} ms")
        if busy:
            await wait_for(lambda: bool(fake.disconnects), timeout=5)  # the generation stopped too
            call.cancel()
            assert editor.text(uri) == SOURCE and editor.apply_requests == []
        assert_clean(client)
    finally:
        await end(client)


@pytest.mark.parametrize("shutdown", [False, True], ids=["exit-alone", "shutdown-then-exit"])
async def test_the_exit_code_says_whether_shutdown_came_first(config: Path, shutdown: bool) -> None:
    """LSP: exit with 0 after a shutdown request, else with 1 (the editor crashed)."""
    client, _editor = await start(config)
    try:
        assert client._server is not None
        if shutdown:
            await asyncio.wait_for(client.shutdown_async(None), 5)
        client.exit(None)
        await asyncio.wait_for(client._server.wait(), 5)
        assert client._server.returncode == (0 if shutdown else 1)
    finally:
        await end(client)


async def test_requests_after_shutdown_are_refused(tmp_path: Path, config: Path, fake: FakeModelServer) -> None:
    """LSP: after shutdown, a request is answered with InvalidRequest (a client waits for an answer)."""
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        await asyncio.wait_for(client.shutdown_async(None), 5)
        with pytest.raises(JsonRpcException) as caught:
            await asyncio.wait_for(execute(client, EDIT, edit_args(uri, 1, 2)), 3)
        assert caught.value.code == types.ErrorCodes.InvalidRequest
        assert_error(caught.value, "")
        assert editor.text(uri) == SOURCE and not completions(fake)
        assert_clean(client)
    finally:
        await end(client)


async def test_a_broken_config_at_start_uses_the_default_and_says_so_once(
    tmp_path: Path, fake: FakeModelServer
) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"models": [{"title": "x", "contextLength": "big"}')
    async with session(config, fake, tmp_path) as (client, _editor):
        for _ in range(3):
            assert [m["title"] for m in await execute(client, LIST)] == ["llamafile"]
        await wait_for(lambda: any("config error" in m.message for m in client.messages))
        (shown,) = [m for m in client.messages if "config error" in m.message]
        assert "using the built-in default model" in shown.message and "\n" not in shown.message
        write_config(config, fake.url)
        assert [m["title"] for m in await execute(client, LIST)] == ["fake"]


@pytest.mark.parametrize(
    ("options", "option"),
    [
        pytest.param({"configPath": 42}, "configPath", id="configPath-a-number"),
        pytest.param({"configPath": ["a.json"]}, "configPath", id="configPath-a-list"),
        pytest.param({"configPath": {"path": "a.json"}}, "configPath", id="configPath-an-object"),
        pytest.param({"model": {"title": "two"}}, "model", id="model-an-object"),
        pytest.param({"model": 2}, "model", id="model-a-number"),
        pytest.param({"applyEditTimeout": "1"}, "applyEditTimeout", id="applyEditTimeout-a-string"),
        pytest.param({"applyEditTimeout": -1}, "applyEditTimeout", id="applyEditTimeout-negative"),
    ],
)
async def test_initialization_options_of_the_wrong_type_are_ignored_and_named(
    tmp_path: Path, fake: FakeModelServer, options: dict[str, Any], option: str
) -> None:
    config = write_config(tmp_path / "config.json", fake.url, "one", "two")
    env = {"LLAMAFILE_LS_CONFIG": str(config), "HOME": str(tmp_path)}
    async with session(None, fake, tmp_path, env=env, **options) as (client, _editor):
        models = await execute(client, LIST)
        assert [(m["title"], m["active"]) for m in models] == [("one", True), ("two", False)]
        said = f"initializationOptions.{option} must be"
        await wait_for(lambda: any(said in m.message for m in client.messages), timeout=5)
        (named,) = [m for m in client.messages if said in m.message]  # once
        assert named.type == types.MessageType.Warning and named.message.endswith("; it is ignored")


@pytest.mark.parametrize("options", [["configPath", "x"], "config.json", 7], ids=["a-list", "a-string", "a-number"])
async def test_initialization_options_that_are_not_an_object(
    tmp_path: Path, fake: FakeModelServer, options: Any
) -> None:
    config = write_config(tmp_path / "config.json", fake.url)
    server = ClientServerConfig(
        SERVER.server_command, server_env={**os.environ, "LLAMAFILE_LS_CONFIG": str(config), "HOME": str(tmp_path)}
    )
    client = await server.start()
    assert isinstance(client, LanguageClient)
    try:
        editor = Editor(client)
        await client.initialize_session(
            types.InitializeParams(capabilities=capabilities(), initialization_options=options)
        )
        assert [m["title"] for m in await execute(client, LIST)] == ["fake"]
        await wait_for(lambda: any("initializationOptions" in m.message for m in client.messages), timeout=5)
        (named,) = [m for m in client.messages if "initializationOptions" in m.message]
        assert "initializationOptions must be an object" in named.message and "ignored" in named.message
        await assert_healthy(client, editor, fake, tmp_path)
        assert_clean(client)
    finally:
        await asyncio.wait_for(stop(client), 20)


@pytest.mark.parametrize("with_root", [True, False], ids=["with-a-workspace-root", "without-a-root"])
async def test_a_relative_config_path(tmp_path: Path, fake: FakeModelServer, with_root: bool) -> None:
    root = tmp_path / "workspace"
    write_config(root / ".llamafile" / "config.json", fake.url, "from-the-workspace")
    elsewhere = write_config(tmp_path / "home" / "config.json", fake.url, "fake")
    env = {"LLAMAFILE_LS_CONFIG": str(elsewhere), "HOME": str(tmp_path / "home")}
    async with session(
        None, fake, tmp_path, healthy=with_root, env=env, root=root if with_root else None,
        configPath=".llamafile/config.json",
    ) as (client, _editor):  # fmt: skip
        titles = [m["title"] for m in await execute(client, LIST)]
        if with_root:
            assert titles == ["from-the-workspace"]
            assert not [m for m in client.messages if m.type == types.MessageType.Error]
        else:  # no model server of the built-in default here: the listing is the health check
            assert titles == ["llamafile"]
            await wait_for(lambda: any("configPath must be an absolute path" in m.message for m in client.messages))
            assert [m["title"] for m in await execute(client, LIST)] == ["llamafile"]


# Hostile model answers, through LSP.


@pytest.mark.parametrize(
    ("reply", "extra", "words"),
    [
        pytest.param(Reply(pieces=sse(*({"content": "X"} for _ in range(100_000))), delay=0.001),
                     {"completionOptions": {"maxTokens": 16}}, "the answer reached max_tokens (16)", id="never-ends"),
        pytest.param(Reply(pieces=[b": ping\n\n"] * 100, delay=0.1), {"requestOptions": {"timeout": 1}},
                     "sent no answer within 1 s (request_options.timeout)", id="only-pings"),
        pytest.param(Reply(pieces=[*sse({"content": "LINE"}, {"content": "_1"}), b": ping\n\n", *[b": ping\n\n"] * 60], delay=0.05),
                     {"requestOptions": {"timeout": 1}}, "stopped sending the answer for 1 s", id="pings-after-a-start"),
        pytest.param(Reply(pieces=sse({"content": "LINE"}, {"error": {"code": 500, "message": "out of memory", "type": "server_error"}})),
                     {}, "the model server reported an error: out of memory", id="error-event-mid-stream"),
        pytest.param(Reply(pieces=[*sse({"content": "LINE"}), b'error: {"message": "slot crashed"}\n\n']),
                     {}, "slot crashed", id="llamafile-error-field"),
        pytest.param(Reply(pieces=[*sse({"content": "LINE"}, {"content": "_1"}), None]),
                     {}, "broke the connection mid-answer (after 2 tokens)", id="connection-closed-mid-answer"),
        pytest.param(Reply(pieces=sse({"content": "LINE_1 = 1"})),
                     {}, "ended the answer without finishing it", id="no-final-event"),
        pytest.param(Reply(pieces=[b"<html><body>Bad gateway</body></html>\n"]),
                     {}, "not an event stream", id="not-an-event-stream"),
    ],
)  # fmt: skip
async def test_hostile_model_answers_change_nothing(
    tmp_path: Path, fake: FakeModelServer, reply: Reply, extra: dict[str, Any], words: str
) -> None:
    config = write_config(tmp_path / "config.json", fake.url, **extra)
    fake.route("/completion", reply)
    async with session(config, fake, tmp_path) as (client, editor):
        uri = editor.open(tmp_path / "a.py", SOURCE)
        started = time.monotonic()
        result = await asyncio.wait_for(execute(client, EDIT, edit_args(uri, 1, 1)), 15)
        assert time.monotonic() - started < 5
        assert_refused(result, words)
        assert editor.text(uri) == SOURCE and editor.apply_requests == []
        if reply.delay:
            await wait_for(lambda: bool(fake.disconnects), timeout=5)
        await wait_for(lambda: any(words in m.message for m in client.messages))


def test_a_request_before_initialize_is_refused_then_initialize_works(tmp_path: Path) -> None:
    """LSP: before initialize, a request is answered ServerNotInitialized (-32002) and nothing
    runs; then initialize works as usual."""

    def frame(message: dict[str, Any]) -> bytes:
        body = json.dumps(message).encode()
        return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)

    messages = [
        {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": (tmp_path / "a.py").as_uri(), "languageId": "python", "version": 1, "text": SOURCE}}},
        {"jsonrpc": "2.0", "id": 1, "method": "workspace/executeCommand", "params": {"command": LIST, "arguments": []}},
        {"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {"processId": None, "rootUri": None, "capabilities": {}}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "workspace/executeCommand", "params": {"command": LIST, "arguments": []}},
        {"jsonrpc": "2.0", "id": 4, "method": "shutdown"},
        {"jsonrpc": "2.0", "method": "exit"},
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "llamafile_ls"],
        input=b"".join(map(frame, messages)),
        capture_output=True,
        timeout=30,
        env=env,
    )
    answers = {}
    for part in done.stdout.split(b"Content-Length: ")[1:]:
        message = json.loads(part.split(b"\r\n\r\n", 1)[1])
        if "id" in message and "method" not in message:
            answers[message["id"]] = message
    assert answers[1]["error"]["code"] == types.ErrorCodes.ServerNotInitialized, answers
    assert "capabilities" in answers[2]["result"]
    assert [model["title"] for model in answers[3]["result"]] == ["llamafile"]
    assert done.returncode == 0 and b"Traceback" not in done.stderr
