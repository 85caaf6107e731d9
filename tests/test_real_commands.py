"""Every slash command once on the real llama-server with SmolLM2: the plumbing, not the
model's quality. An edit either lands inside the selection or is refused with a reason;
nothing outside the selection ever changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types
from support.lsp_editor import capabilities, execute, start, stop

from llamafile_ls import actions
from tests.conftest import RealServer

pytestmark = pytest.mark.real

SAMPLE = (Path(__file__).resolve().parent.parent / "examples" / "sample.py").read_text()
# What a refusal may say when a 135M model answers badly; anything else is a failure.
ACCEPTABLE_REFUSALS = ("the model left the code unchanged", "held no code", "reached max_tokens")


@pytest.fixture
def config(tmp_path: Path, real_server: RealServer) -> Path:
    path = tmp_path / "config.json"
    entry = {"title": "SmolLM2", "provider": "llamafile", "model": "SmolLM2-135M-Instruct", "apiBase": real_server.url,
             "contextLength": 4096, "completionOptions": {"temperature": 0, "maxTokens": 300}}  # fmt: skip
    path.write_text(json.dumps({"models": [entry]}))
    return path


def caps() -> types.ClientCapabilities:
    result = capabilities()
    assert result.workspace and result.workspace.workspace_edit
    result.workspace.workspace_edit.resource_operations = [types.ResourceOperationKind.Create]
    result.window = types.WindowClientCapabilities(show_document=types.ShowDocumentClientCapabilities(support=True))
    return result


def argument(name: str, uri: str, **extra: object) -> dict[str, object]:
    # Lines 6-10 of the sample: the load_settings function.
    return {
        "name": name,
        "uri": uri,
        "range": {"start": {"line": 5, "character": 0}, "end": {"line": 10, "character": 0}},
        **extra,
    }


@pytest.mark.parametrize("name", [action.name for action in actions.SLASH if action.output == "edit"])
async def test_rewriting_commands_change_only_the_selection(tmp_path: Path, config: Path, name: str) -> None:
    client, editor = await start(config, caps=caps())
    try:
        uri = editor.open(tmp_path / "sample.py", SAMPLE)
        extra = {"diagnostics": "Fix: the file is never closed at line 7"} if name == "fix" else {}
        result = await execute(client, "llamafile.runCommand", argument(name, uri, **extra))
        after = editor.text(uri).splitlines(keepends=True)
        before = SAMPLE.splitlines(keepends=True)
        if result["applied"]:
            assert after[:5] == before[:5] and after[-8:] == before[-8:]
        else:
            assert any(words in result["reason"] for words in ACCEPTABLE_REFUSALS), result
            assert after == before
    finally:
        await stop(client)


async def test_test_writes_a_new_file(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config, caps=caps())
    try:
        uri = editor.open(tmp_path / "sample.py", SAMPLE)
        result = await execute(client, "llamafile.runCommand", argument("test", uri))
        if result["applied"]:
            assert result["uri"] == (tmp_path / "test_sample.py").as_uri()
            assert editor.text(result["uri"]).strip()
            assert client.shown_documents[-1].uri == result["uri"]
        else:
            assert any(words in result["reason"] for words in ACCEPTABLE_REFUSALS), result
        assert editor.text(uri) == SAMPLE
    finally:
        await stop(client)


async def test_explain_answers_in_a_document(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config, caps=caps(), env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    try:
        uri = editor.open(tmp_path / "sample.py", SAMPLE)
        result = await execute(client, "llamafile.runCommand", argument("explain", uri))
        assert result.get("text", "").strip(), result
        assert Path(result["uri"].removeprefix("file://")).read_text().startswith("# /explain: sample.py, lines 6-10")
        assert editor.text(uri) == SAMPLE
    finally:
        await stop(client)
