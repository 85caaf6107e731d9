"""The language server end to end: a real JSON-RPC client (pytest-lsp) drives the server
process; a scripted model server on 127.0.0.1 plays the llamafile, so that every fault,
delay and cancellation can be staged. test_real_lsp.py repeats the main flows on llama.cpp."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from support.fakeserver import FakeModelServer, Reply, Request, completion, sse
from support.lsp_editor import capabilities, edit_args, execute, start, stop, wait_for
from support.ports import free_port

TEMPLATE = "<code>{{{code_to_edit}}}</code><ask>{{{user_input}}}</ask>"
SOURCE = "".join(f"line_{i} = {i}\n" for i in range(10))


def shouting(delay: float = 0.0, pieces: int = 1) -> Callable[[Request], Reply]:
    """A model that answers with the code upper-cased, in ``pieces`` chunks ``delay`` apart."""

    def handler(request: Request) -> Reply:
        code = re.search(r"<code>(.*)</code>", request.body["prompt"], re.S).group(1)  # type: ignore[union-attr]
        answer = code.upper()
        size = max(1, len(answer) // pieces + 1)
        words = [answer[i : i + size] for i in range(0, len(answer), size)]
        reply = completion(*words)
        reply.delay = delay
        return reply

    return handler


def slow_stream(seconds: float = 30.0) -> Reply:
    """An answer that would take ``seconds`` to finish: for cancelling mid-way."""
    count = int(seconds / 0.05)
    return Reply(pieces=sse(*({"content": "X"} for _ in range(count))), delay=0.05)


@pytest.fixture
def model_server(fake_server: FakeModelServer) -> Iterator[FakeModelServer]:
    fake_server.route("/completion", shouting())
    yield fake_server


def write_config(path: Path, api_base: str, **extra: Any) -> Path:
    entry = {
        "title": "fake",
        "provider": "llamafile",
        "model": "smollm2",
        "apiBase": api_base,
        "promptTemplates": {"edit": TEMPLATE},
        **extra,
    }
    path.write_text(json.dumps({"models": [entry]}, indent=2))
    return path


@pytest.fixture
def config(tmp_path: Path, model_server: FakeModelServer) -> Path:
    return write_config(tmp_path / "config.json", model_server.url)


def completions(server: FakeModelServer) -> list[Request]:
    return [r for r in server.requests if r.path == "/completion"]


async def test_edit_is_applied_with_progress(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        result = await execute(client, "llamafile.edit", edit_args(uri, 2, 3), token="tok-1")
        assert result == {"applied": True}
        expected = SOURCE.replace("line_2 = 2\nline_3 = 3", "LINE_2 = 2\nLINE_3 = 3")
        assert editor.text(uri) == expected
        (params,) = editor.apply_requests
        assert params.label == "llamafile: rewrite it"
        reports = client.progress_reports["tok-1"]
        assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].title == "llamafile: fake"
        assert reports[0].cancellable
        assert isinstance(reports[-1], types.WorkDoneProgressEnd) and reports[-1].message == "applied"
    finally:
        await stop(client)


async def test_server_creates_a_progress_token_when_the_client_gives_none(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        assert await execute(client, "llamafile.edit", edit_args(uri, 0, 0)) == {"applied": True}
        ((token, reports),) = client.progress_reports.items()
        assert str(token).startswith("llamafile-")
        assert [type(r).__name__ for r in (reports[0], reports[-1])] == ["WorkDoneProgressBegin", "WorkDoneProgressEnd"]
    finally:
        await stop(client)


async def test_clients_without_document_changes_get_plain_changes(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config, caps=capabilities(document_changes=False, progress=False))
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        assert await execute(client, "llamafile.edit", edit_args(uri, 0, 0)) == {"applied": True}
        assert editor.apply_requests[0].edit.changes and not editor.apply_requests[0].edit.document_changes
        assert editor.text(uri).startswith("LINE_0 = 0\nline_1")
        assert client.progress_reports == {}
    finally:
        await stop(client)


async def test_cancel_request_stops_the_model_and_changes_nothing(
    tmp_path: Path, config: Path, model_server: FakeModelServer
) -> None:
    model_server.route("/completion", slow_stream())
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        call = asyncio.ensure_future(
            execute(client, "llamafile.edit", edit_args(uri, 1, 2), token="t", msg_id="edit-1")
        )
        await wait_for(lambda: bool(completions(model_server)))
        await asyncio.sleep(0.2)  # a few chunks stream
        cancelled_at = time.monotonic()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="edit-1"))
        with pytest.raises(JsonRpcException, match="cancel"):
            await call
        await wait_for(lambda: bool(model_server.disconnects), timeout=5)
        print(f"$/cancelRequest to connection closed: {(model_server.disconnects[0] - cancelled_at) * 1000:.1f} ms")
        assert editor.text(uri) == SOURCE and editor.apply_requests == []
        await wait_for(lambda: isinstance(client.progress_reports["t"][-1], types.WorkDoneProgressEnd))
        assert client.progress_reports["t"][-1].message == "cancelled"
        # The server goes on serving.
        model_server.route("/completion", shouting())
        assert await execute(client, "llamafile.edit", edit_args(uri, 1, 1)) == {"applied": True}
    finally:
        await stop(client)


async def test_progress_cancel_stops_the_model_and_changes_nothing(
    tmp_path: Path, config: Path, model_server: FakeModelServer
) -> None:
    model_server.route("/completion", slow_stream())
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        call = asyncio.ensure_future(execute(client, "llamafile.edit", edit_args(uri, 1, 2), token="p"))
        await wait_for(lambda: bool(completions(model_server)))
        cancelled_at = time.monotonic()
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token="p"))
        assert await call == {"applied": False, "reason": "cancelled"}
        await wait_for(lambda: bool(model_server.disconnects), timeout=5)
        print(f"progress cancel to connection closed: {(model_server.disconnects[0] - cancelled_at) * 1000:.1f} ms")
        assert editor.text(uri) == SOURCE and editor.apply_requests == []
    finally:
        await stop(client)


async def test_typing_above_the_selection_during_generation_keeps_both(
    tmp_path: Path, config: Path, model_server: FakeModelServer
) -> None:
    model_server.route("/completion", shouting(delay=0.1, pieces=5))
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        call = asyncio.ensure_future(execute(client, "llamafile.edit", edit_args(uri, 5, 6)))
        await wait_for(lambda: bool(completions(model_server)))
        editor.type(uri, (0, 0), (0, 0), "# typed\n# meanwhile\n")  # two new lines above
        editor.type(uri, (11, 0), (11, 0), "# below\n")  # and one below
        assert await call == {"applied": True}
        lines = editor.text(uri).splitlines()
        assert lines[:2] == ["# typed", "# meanwhile"]
        assert lines[7:9] == ["LINE_5 = 5", "LINE_6 = 6"]
        assert "# below" in lines
    finally:
        await stop(client)


async def test_typing_inside_the_selection_during_generation_wins(
    tmp_path: Path, config: Path, model_server: FakeModelServer
) -> None:
    model_server.route("/completion", shouting(delay=0.1, pieces=5))
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        call = asyncio.ensure_future(execute(client, "llamafile.edit", edit_args(uri, 5, 6)))
        await wait_for(lambda: bool(completions(model_server)))
        editor.type(uri, (5, 0), (5, 6), "mine")
        result = await call
        assert result["applied"] is False
        assert "the selected lines changed while the model was answering" in result["reason"]
        assert editor.text(uri) == SOURCE.replace("line_5 =", "mine =")
        assert editor.apply_requests == []
        await wait_for(lambda: any("selected lines changed" in m.message for m in client.messages))
    finally:
        await stop(client)


async def test_a_stale_version_refusal_is_rebased_and_sent_again(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        # The user types just as the edit arrives: the editor refuses it as stale.
        editor.before_apply = lambda: editor.type(uri, (0, 0), (0, 0), "# just typed\n")
        assert await execute(client, "llamafile.edit", edit_args(uri, 4, 4)) == {"applied": True}
        assert len(editor.apply_requests) == 2
        text = editor.text(uri)
        assert text.startswith("# just typed\nline_0 = 0\n")
        assert "\nLINE_4 = 4\n" in text
    finally:
        await stop(client)


async def test_concurrent_edits_in_one_and_several_documents(
    tmp_path: Path, config: Path, model_server: FakeModelServer
) -> None:
    model_server.route("/completion", shouting(delay=0.05, pieces=4))
    client, editor = await start(config)
    try:
        first = editor.open(tmp_path / "a.py", SOURCE)
        second = editor.open(tmp_path / "b.py", SOURCE)
        calls = [
            execute(client, "llamafile.edit", edit_args(first, 0, 1)),
            execute(client, "llamafile.edit", edit_args(first, 6, 8)),
            execute(client, "llamafile.edit", edit_args(second, 3, 3)),
        ]
        assert await asyncio.gather(*calls) == [{"applied": True}] * 3
        assert editor.text(first).splitlines() == [
            "LINE_0 = 0", "LINE_1 = 1", *[f"line_{i} = {i}" for i in range(2, 6)],
            "LINE_6 = 6", "LINE_7 = 7", "LINE_8 = 8", "line_9 = 9",
        ]  # fmt: skip
        assert editor.text(second) == SOURCE.replace("line_3", "LINE_3")
    finally:
        await stop(client)


async def test_config_changes_are_picked_up_and_a_broken_one_keeps_the_last_good(
    tmp_path: Path, config: Path, model_server: FakeModelServer
) -> None:
    client, _editor = await start(config)
    try:
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["fake"]
        write_config(config, model_server.url, title="renamed")
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["renamed"]
        config.write_text('{\n  "models": [\n    {"title": "x", "contextLength": "big"}\n  ]\n}\n')
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["renamed"]
        await wait_for(lambda: bool(client.diagnostics.get(config.as_uri())))
        (diagnostic,) = client.diagnostics[config.as_uri()]
        assert diagnostic.range.start == types.Position(2, 36)  # line 3, column 37, 0-based
        assert diagnostic.severity == types.DiagnosticSeverity.Error
        assert "expected an integer, got 'big'" in diagnostic.message
        await execute(client, "llamafile.listModels")  # asked again: not shown again
        errors = [m for m in client.messages if "config error" in m.message]
        assert len(errors) == 1 and "using the last good config" in errors[0].message
        write_config(config, model_server.url, title="fixed")
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["fixed"]
        await wait_for(lambda: len(client.diagnostics[config.as_uri()]) == 0)
    finally:
        await stop(client)


async def test_the_client_is_asked_to_watch_the_config_file(
    tmp_path: Path, config: Path, model_server: FakeModelServer
) -> None:
    client, editor = await start(config, caps=capabilities(watch=True))
    try:
        await wait_for(lambda: bool(editor.registrations))
        (registration,) = editor.registrations
        assert registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
        (watcher,) = registration.register_options["watchers"]  # type: ignore[index]
        assert watcher["globPattern"] == {"baseUri": config.parent.as_uri(), "pattern": "config.json"}
        await execute(client, "llamafile.listModels")
        write_config(config, model_server.url, title="watched")
        client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=config.as_uri(), type=types.FileChangeType.Changed)]
            )
        )
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["watched"]
        assert not any("cannot watch" in m.message for m in client.log_messages)
    finally:
        await stop(client)


async def test_a_broken_config_at_start_uses_the_builtin_default_and_says_so(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{ not json")
    client, _editor = await start(config)
    try:
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["llamafile"]
        await wait_for(
            lambda: any("config error, using the built-in default model" in m.message for m in client.messages)
        )
    finally:
        await stop(client)


async def test_the_config_buffer_is_checked_as_the_user_types(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(config, config.read_text(), language_id="jsonc")
        editor.type(uri, (0, 0), (0, 1), "[")
        await wait_for(lambda: bool(client.diagnostics.get(uri)))
        assert "invalid JSON" in client.diagnostics[uri][0].message
    finally:
        await stop(client)


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (None, "no model server answers at"),
        (Reply(401, "application/json", [b'{"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}']), "check api_key"),
        (Reply(500, "text/plain", [b"llama_decode failed"]), "failed (HTTP 500): llama_decode failed"),
        (Reply(400, "application/json", [b'{"error": {"code": 400, "message": "the request exceeds the available context size", "type": "exceed_context_size_error"}}']), "does not fit"),
        (Reply(pieces=[*sse({"content": "LINE"}), None]), "mid-answer"),
    ],
)  # fmt: skip
async def test_errors_are_shown_and_change_nothing(
    tmp_path: Path, model_server: FakeModelServer, reply: Reply | None, words: str
) -> None:
    if reply is None:
        api_base = f"http://127.0.0.1:{free_port()}"
    else:
        model_server.route("/completion", reply)
        api_base = model_server.url
    client, editor = await start(write_config(tmp_path / "config.json", api_base))
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        result = await execute(client, "llamafile.edit", edit_args(uri, 1, 2))
        assert result["applied"] is False and words in result["reason"]
        assert editor.text(uri) == SOURCE and editor.apply_requests == []
        await wait_for(lambda: any(words in m.message for m in client.messages))
        shown = next(m for m in client.messages if words in m.message)
        assert shown.type == types.MessageType.Error
        if reply is None:
            assert "--server --nobrowser" in shown.message and "llamafile_command" in shown.message
    finally:
        await stop(client)


async def test_a_selection_too_big_for_the_context_is_shown(tmp_path: Path, model_server: FakeModelServer) -> None:
    client, editor = await start(
        write_config(tmp_path / "config.json", model_server.url, contextLength=64, completionOptions={"maxTokens": 40})
    )
    model_server.route(
        "/tokenize",
        lambda r: Reply(content_type="application/json", pieces=[json.dumps({"tokens": [0] * 100}).encode()]),
    )
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        result = await execute(client, "llamafile.edit", edit_args(uri, 0, 9))
        assert "the selection does not fit the model's context" in result["reason"]
        assert not completions(model_server)
    finally:
        await stop(client)


async def test_the_api_key_never_reaches_a_message_or_log(tmp_path: Path, model_server: FakeModelServer) -> None:
    secret = "sk-very-secret-123"
    model_server.route("/completion", Reply(401, "text/plain", [f"bad key {secret}".encode()]))
    client, editor = await start(write_config(tmp_path / "config.json", model_server.url, apiKey=secret))
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        result = await execute(client, "llamafile.edit", edit_args(uri, 1, 2))
        assert completions(model_server)[0].headers["authorization"] == f"Bearer {secret}"
        await wait_for(lambda: bool(client.messages))
        seen = [m.message for m in client.messages] + [m.message for m in client.log_messages] + [result["reason"]]
        assert any("bad key ***" in text for text in seen)
        assert not any(secret in text for text in seen)
    finally:
        await stop(client)


async def test_code_actions_offer_the_edit_on_a_selection_only(
    tmp_path: Path, config: Path, model_server: FakeModelServer
) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)

        def ask(start: tuple[int, int], end: tuple[int, int]) -> Any:
            return client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=types.Range(types.Position(*start), types.Position(*end)),
                    context=types.CodeActionContext(diagnostics=[]),
                )
            )

        action, *others = await ask((1, 0), (3, 0))
        assert [a.title for a in others] == [
            "Llamafile: Comment the selected code", "Llamafile: Write docstrings for the selected code",
            "Llamafile: Add type annotations to the selected code",
            "Llamafile: Write unit tests for the selected code", "Llamafile: Explain the selected code",
        ]  # fmt: skip
        assert action.kind == types.CodeActionKind.RefactorRewrite
        assert action.command.command == "llamafile.edit"
        assert action.command.arguments[0]["uri"] == uri
        assert list(await ask((1, 4), (1, 4))) == []
        assert not completions(model_server)  # no model call to compute actions
        # A client adds the instruction and runs the command.
        argument = {**action.command.arguments[0], "instruction": "shout"}
        assert await execute(client, "llamafile.edit", argument) == {"applied": True}
        assert editor.text(uri).splitlines()[1:3] == ["LINE_1 = 1", "LINE_2 = 2"]
    finally:
        await stop(client)


async def test_edit_without_an_instruction_says_so(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        result = await execute(client, "llamafile.edit", {**edit_args(uri, 1, 1), "instruction": " "})
        assert result == {
            "applied": False,
            "reason": "llamafile.edit: no instruction was given; say what to do with the code",
        }
    finally:
        await stop(client)


async def test_models_are_listed_and_selected(tmp_path: Path, model_server: FakeModelServer) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"models": [
        {"title": "one", "provider": "llamafile", "model": "a", "apiBase": model_server.url, "promptTemplates": {"edit": TEMPLATE}},
        {"title": "two", "provider": "llamafile", "model": "b", "apiBase": model_server.url, "promptTemplates": {"edit": TEMPLATE}},
    ]}))  # fmt: skip
    client, editor = await start(config, model="two")
    try:
        assert await execute(client, "llamafile.listModels") == [
            {"title": "one", "provider": "llamafile", "model": "a", "active": False, "roles": []},
            {"title": "two", "provider": "llamafile", "model": "b", "active": True, "roles": ["edit", "chat"]},
        ]
        assert await execute(client, "llamafile.selectModel", {"title": "one"}) == {"title": "one"}
        assert [m["active"] for m in await execute(client, "llamafile.listModels")] == [True, False]
        with pytest.raises(JsonRpcException, match="no model titled 'three'"):
            await execute(client, "llamafile.selectModel", {"title": "three"})
        uri = editor.open(tmp_path / "a.py", SOURCE)
        await execute(client, "llamafile.edit", edit_args(uri, 0, 0, model="two"))
        await execute(client, "llamafile.edit", edit_args(uri, 1, 1))
        assert [json.loads(json.dumps(r.body))["prompt"] for r in completions(model_server)] == [
            "<code>line_0 = 0</code><ask>rewrite it</ask>",
            "<code>line_1 = 1</code><ask>rewrite it</ask>",
        ]
    finally:
        await stop(client)


async def test_utf16_positions_at_the_end_of_a_file_without_newline(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        text = "a = 1\nemoji = '😀x'"
        uri = editor.open(tmp_path / "a.py", text)
        assert await execute(client, "llamafile.edit", edit_args(uri, 1, 1)) == {"applied": True}
        assert editor.text(uri) == "a = 1\nEMOJI = '😀X'"
        edit = editor.apply_requests[0].edit.document_changes[0].edits[0]  # type: ignore[index,union-attr]
        assert edit.range.end == types.Position(1, 13)  # 12 code points, 13 UTF-16 units
    finally:
        await stop(client)


async def test_preview_asks_the_editor_to_confirm_and_a_dismissed_preview_changes_nothing(
    tmp_path: Path, config: Path
) -> None:
    client, editor = await start(config, caps=capabilities(annotations=True))
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        editor.decline_next = True
        result = await execute(client, "llamafile.edit", edit_args(uri, 2, 2, preview=True))
        assert result == {"applied": False, "reason": "the edit was not accepted in the preview"}
        assert editor.text(uri) == SOURCE
        assert await execute(client, "llamafile.edit", edit_args(uri, 2, 2, preview=True)) == {"applied": True}
        edit = editor.apply_requests[-1].edit
        assert edit.change_annotations["llamafile-edit"].needs_confirmation is True  # type: ignore[index]
        (change,) = edit.document_changes  # type: ignore[misc]
        assert all(isinstance(e, types.AnnotatedTextEdit) for e in change.edits)  # type: ignore[union-attr]
        assert editor.text(uri) == SOURCE.replace("line_2 = 2", "LINE_2 = 2")
        # Without preview, plain edits.
        assert await execute(client, "llamafile.edit", edit_args(uri, 3, 3)) == {"applied": True}
        assert editor.apply_requests[-1].edit.change_annotations is None
    finally:
        await stop(client)


async def test_an_error_answer_to_apply_edit_is_reported_not_raised(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)

        def broken() -> None:
            raise RuntimeError("the editor broke")

        editor.before_apply = broken
        result = await execute(client, "llamafile.edit", edit_args(uri, 2, 2))
        assert result["applied"] is False
        assert result["reason"].startswith("the editor failed to apply the edit")
        assert editor.text(uri) == SOURCE
    finally:
        await stop(client)
