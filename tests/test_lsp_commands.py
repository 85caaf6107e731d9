"""Slash and custom commands end to end over LSP, with the built-in templates, against a
scripted model that answers by what the prompt asks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from support.fakeserver import FakeModelServer, Reply, Request, completion
from support.lsp_editor import capabilities, execute, start, stop

SOURCE = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n\n\nprint(area(2))\n"


def selected_code(prompt: str) -> str:
    """The code the built-in templates show last: the selection."""
    return re.findall(r"```python\n(.*?)\n```", prompt, re.S)[-1]


def model(request: Request) -> Reply:
    prompt = request.body["prompt"]
    if "Add comments" in prompt:
        return completion("# Area of a circle.\n", selected_code(prompt), "\n```\n")
    if "docstrings" in prompt:
        code = selected_code(prompt).replace("):\n", '):\n    """The area of a circle of radius r."""\n', 1)
        return completion(code, "\n```")
    if "type annotations" in prompt:
        return completion(selected_code(prompt).replace("def area(r):", "def area(r: float) -> float:"), "\n```")
    if "Fix this" in prompt:
        problems = re.findall(r"^Fix: .*$", prompt, re.M)
        return completion(selected_code(prompt).replace("math.pi", "3.14159") + f"  # {len(problems)} fixed", "\n```")
    if "Write unit tests" in prompt:
        return completion("from app import area\n\n\ndef test_area():\n    assert area(1) > 3\n", "```")
    if "Explain" in prompt:
        return completion("It computes the **area** of a circle.")
    if "Find mistakes" in prompt:
        return completion("No mistakes found.")
    if "Upper-case" in prompt:
        return completion(selected_code(prompt).upper(), "\n```")
    return Reply(500, "text/plain", [b"unexpected prompt"])


@pytest.fixture
def config(tmp_path: Path, fake_server: FakeModelServer) -> Path:
    fake_server.route("/completion", model)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({
        "models": [{"title": "fake", "provider": "llamafile", "model": "qwen", "apiBase": fake_server.url}],
        "customCommands": [
            {"name": "check", "prompt": "{{{input}}}\nFind mistakes in this code.", "description": "Check for mistakes"},
            {"name": "shout", "prompt": "Upper-case this code:\n```{{language}}\n{{{code_to_edit}}}\n```", "description": "Shout it", "output": "edit"},
            {"name": "broken", "description": "no prompt"},
        ],
    }))  # fmt: skip
    return path


def run(name: str, uri: str, first: int, last: int, **extra: Any) -> dict[str, Any]:
    rng = {"start": {"line": first, "character": 0}, "end": {"line": last + 1, "character": 0}}
    return {"name": name, "uri": uri, "range": rng, **extra}


def full_caps() -> types.ClientCapabilities:
    caps = capabilities()
    assert caps.workspace and caps.workspace.workspace_edit
    caps.workspace.workspace_edit.resource_operations = [types.ResourceOperationKind.Create]
    caps.window = types.WindowClientCapabilities(
        work_done_progress=True, show_document=types.ShowDocumentClientCapabilities(support=True)
    )
    return caps


async def test_comment_and_docstring_rewrite_the_selection(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        assert await execute(client, "llamafile.runCommand", run("/comment", uri, 3, 4)) == {"applied": True}
        assert editor.text(uri) == SOURCE.replace("def area", "# Area of a circle.\ndef area")
        assert await execute(client, "llamafile.runCommand", run("docstring", uri, 4, 5)) == {"applied": True}
        assert '    """The area of a circle of radius r."""\n    return' in editor.text(uri)
        assert editor.apply_requests[0].label == "llamafile: /comment"
    finally:
        await stop(client)


async def test_types_a_slash_command_declared_once_is_offered_and_runs(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        offered = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(types.Position(3, 0), types.Position(5, 0)),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        titles = [action.title for action in offered or []]
        assert "Llamafile: Add type annotations to the selected code" in titles
        assert await execute(client, "llamafile.runCommand", run("/types", uri, 3, 4)) == {"applied": True}
        assert editor.text(uri) == SOURCE.replace("def area(r):", "def area(r: float) -> float:")
        assert editor.apply_requests[0].label == "llamafile: /types"
    finally:
        await stop(client)


async def test_fix_is_offered_for_reported_problems_and_sends_them(
    tmp_path: Path, config: Path, fake_server: FakeModelServer
) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        problems = [
            types.Diagnostic(
                range=types.Range(types.Position(4, 11), types.Position(4, 15)), message="Use a constant", source="lint"
            ),
            types.Diagnostic(
                range=types.Range(types.Position(4, 0), types.Position(4, 4)), message="Bad\nindent", source="lint"
            ),
        ]
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(types.Position(4, 5), types.Position(4, 5)),
                context=types.CodeActionContext(diagnostics=problems),
            )
        )
        (fix,) = actions  # an empty selection offers only the fix
        assert fix.kind == types.CodeActionKind.QuickFix
        assert fix.title == "Llamafile: Fix “Use a constant” (and 1 more)"
        argument = fix.command.arguments[0]
        assert argument["diagnostics"] == "Fix: Use a constant at line 5\nFix: Bad indent at line 5"
        assert await execute(client, fix.command.command, argument) == {"applied": True}
        assert "    return 3.14159 * r * r  # 2 fixed\n" in editor.text(uri)
        prompt = next(r for r in fake_server.requests if r.path == "/completion").body["prompt"]
        assert "The problems reported:\nFix: Use a constant at line 5\nFix: Bad indent at line 5" in prompt
    finally:
        await stop(client)


async def test_test_creates_a_new_file_next_to_the_source_and_shows_it(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config, caps=full_caps())
    shown: list[types.ShowDocumentParams] = []
    try:
        (tmp_path / "test_app.py").write_text("# already here\n")
        uri = editor.open(tmp_path / "app.py", SOURCE)
        result = await execute(client, "llamafile.runCommand", run("test", uri, 3, 4))
        target = tmp_path / "test_app_2.py"  # test_app.py exists: never overwritten
        assert result == {"applied": True, "uri": target.as_uri()}
        (request,) = editor.apply_requests
        create, fill = request.edit.document_changes  # type: ignore[misc]
        assert isinstance(create, types.CreateFile) and create.uri == target.as_uri()
        assert fill.edits[0].new_text.startswith("from app import area")  # type: ignore[union-attr]
        assert (tmp_path / "test_app.py").read_text() == "# already here\n"
        shown = client.shown_documents
        assert shown[-1].uri == target.as_uri() and shown[-1].take_focus
        assert editor.text(uri) == SOURCE
    finally:
        await stop(client)


async def test_test_writes_the_file_itself_when_the_editor_cannot_create_files(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        result = await execute(client, "llamafile.runCommand", run("test", uri, 3, 4))
        assert result["applied"] is True
        assert (
            tmp_path / "test_app.py"
        ).read_text() == "from app import area\n\n\ndef test_area():\n    assert area(1) > 3\n"
        assert editor.apply_requests == []
    finally:
        await stop(client)


async def test_explain_shows_a_markdown_document_and_changes_nothing(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, editor = await start(config, caps=full_caps(), env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        result = await execute(client, "llamafile.runCommand", run("explain", uri, 3, 4))
        assert result["applied"] is False and "reason" not in result
        assert result["text"] == "It computes the **area** of a circle.\n"
        shown = Path(result["uri"].removeprefix("file://"))
        assert shown.parent == tmp_path / "cache" / "llamafile-ls" / "answers"
        assert shown.read_text().startswith("# /explain: app.py, lines 4-5\n\nIt computes")
        assert client.shown_documents[-1].uri == result["uri"]
        assert editor.text(uri) == SOURCE and editor.apply_requests == []
    finally:
        await stop(client)


async def test_custom_commands_answer_in_a_document_or_edit(
    tmp_path: Path, config: Path, fake_server: FakeModelServer
) -> None:
    client, editor = await start(config, caps=full_caps(), env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        result = await execute(client, "llamafile.runCommand", run("check", uri, 3, 4, input="Be strict."))
        assert result["text"] == "No mistakes found.\n"
        prompt = [r for r in fake_server.requests if r.path == "/completion"][-1].body["prompt"]
        assert (
            "Be strict.\nFind mistakes in this code.\n\n```python\ndef area(r):\n    return math.pi * r * r\n```"
            in prompt
        )
        assert await execute(client, "llamafile.runCommand", run("shout", uri, 3, 4)) == {"applied": True}
        assert "DEF AREA(R):\n    RETURN MATH.PI * R * R\n" in editor.text(uri)
        titles = [
            a.title
            for a in await client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=types.Range(types.Position(3, 0), types.Position(5, 0)),
                    context=types.CodeActionContext(diagnostics=[]),
                )
            )
        ]
        assert titles[-2:] == ["Llamafile: Check for mistakes", "Llamafile: Shout it"]
        assert not any("no prompt" in t for t in titles)
    finally:
        await stop(client)


async def test_unknown_and_broken_commands_are_named(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        result = await execute(client, "llamafile.runCommand", run("/share", uri, 3, 4))
        assert result["applied"] is False
        assert result["reason"].startswith("there is no command named '/share'; the commands are: check, comment,")
        result = await execute(client, "llamafile.runCommand", run("broken", uri, 3, 4))
        assert "there is no command named 'broken'" in result["reason"]
        warnings = client.diagnostics[config.as_uri()]
        assert any("custom command 'broken' has no prompt; it is skipped" in d.message for d in warnings)
        assert editor.text(uri) == SOURCE
    finally:
        await stop(client)
