"""config.yaml end to end: the real CLI and the real language server, with HOME pointing at
a folder whose .continue/ holds it, as on a user's machine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types
from support.fakeserver import FakeModelServer, Reply, Request, completion
from support.lsp_editor import capabilities, edit_args, execute, start, stop, wait_for

SOURCE = "def add(a, b):\n    return a+b\n"


def shouting(request: Request) -> Reply:
    """A model that answers with the code between <code> and </code>, upper-cased."""
    code = re.search(r"<code>(.*)</code>", request.body["prompt"], re.S).group(1)  # type: ignore[union-attr]
    return completion(code.upper())


def yaml_config(api_base: str, title: str = "local qwen", max_tokens: object = 256) -> str:
    return f"""\
name: My assistant
version: 1.0.0
schema: v1
models:
  - name: {title}
    provider: llamafile
    model: qwen2.5-coder
    apiBase: {api_base}
    roles: [chat, edit]
    defaultCompletionOptions:
      maxTokens: {max_tokens}
    promptTemplates:
      edit: "{{{{{{systemMessage}}}}}}|<code>{{{{{{codeToEdit}}}}}}</code><ask>{{{{{{userInput}}}}}}</ask>{{{{#if language}}}} in {{{{language}}}}{{{{/if}}}}"
rules:
  - Keep it short.
"""


@pytest.fixture
def home(tmp_path: Path, fake_server: FakeModelServer) -> Iterator[Path]:
    fake_server.route("/completion", shouting)
    folder = tmp_path / "home"
    (folder / ".continue").mkdir(parents=True)
    (folder / ".continue" / "config.yaml").write_text(yaml_config(fake_server.url))
    # config.json beside it, as after Continue's migration: config.yaml must win.
    (folder / ".continue" / "config.json").write_text('{"models": [{"title": "from json"}]}')
    yield folder


def user_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "LLAMAFILE_LS_CONFIG": "", "XDG_STATE_HOME": str(home / "state")}


def run_cli(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llamafile_ls", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, **user_env(home)},
    )


def test_cli_edit_reads_continue_config_yaml_from_home(home: Path, fake_server: FakeModelServer) -> None:
    app = home / "app.py"
    app.write_text(SOURCE)
    result = run_cli(home, "edit", str(app), "--lines", "2-2", "--instruction", "shout")
    assert result.returncode == 0, result.stderr
    assert "+    RETURN A+B\n" in result.stdout
    (request,) = [r for r in fake_server.requests if r.path == "/completion"]
    assert "<code>    return a+b</code><ask>shout</ask> in python" in request.body["prompt"]
    assert "Keep it short.|<code>" in request.body["prompt"]  # the rule joined the system message
    assert request.body["n_predict"] == 256


def test_cli_check_says_which_file_it_read_and_why(home: Path) -> None:
    result = run_cli(home, "check")
    config = home / ".continue" / "config.yaml"
    assert f"config: {config} (config.yaml wins over config.json there) is valid (1 models)" in result.stdout
    assert "model 'local qwen' (default): provider llamafile" in result.stdout


def test_cli_check_points_at_the_line_of_a_broken_config_yaml(home: Path) -> None:
    config = home / ".continue" / "config.yaml"
    config.write_text(yaml_config("http://127.0.0.1:9", max_tokens="[many]"))
    result = run_cli(home, "check")
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(f"{config}:11:18: models[0].defaultCompletionOptions.maxTokens: expected an integer, got ['many']")
    )
    assert "Traceback" not in result.stderr


def test_cli_config_option_takes_a_yaml_file_of_any_name(home: Path, tmp_path: Path) -> None:
    other = tmp_path / "assistant.conf"
    other.write_text(yaml_config("http://127.0.0.1:9", title="named"))
    result = run_cli(home, "check", "--config", str(other))
    assert f"config: {other} (given with --config) is valid (1 models)" in result.stdout
    assert "model 'named'" in result.stdout


async def test_lsp_reads_config_yaml_hot_reloads_it_and_points_at_a_broken_line(
    home: Path, fake_server: FakeModelServer
) -> None:
    config = home / ".continue" / "config.yaml"
    client, editor = await start(None, env=user_env(home))
    try:
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["local qwen"]
        uri = editor.open(home / "app.py", SOURCE)
        assert await execute(client, "llamafile.edit", edit_args(uri, 1, 1, "shout")) == {"applied": True}
        assert editor.text(uri) == "def add(a, b):\n    RETURN A+B\n"

        config.write_text(yaml_config(fake_server.url, title="renamed"))
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["renamed"]

        config.write_text(yaml_config(fake_server.url, title="broken", max_tokens="lots"))
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["renamed"]
        await wait_for(lambda: bool(client.diagnostics.get(config.as_uri())))
        (diagnostic,) = client.diagnostics[config.as_uri()]
        assert diagnostic.range.start == types.Position(10, 17)  # line 11, column 18
        assert diagnostic.severity == types.DiagnosticSeverity.Error
        assert diagnostic.message == "models[0].defaultCompletionOptions.maxTokens: expected an integer, got 'lots'"
        assert any("using the last good config" in m.message for m in client.messages)

        config.write_text(yaml_config(fake_server.url, title="fixed"))
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["fixed"]
        await wait_for(lambda: len(client.diagnostics[config.as_uri()]) == 0)
    finally:
        await stop(client)


async def test_lsp_a_config_yaml_created_beside_config_json_takes_over(
    home: Path, fake_server: FakeModelServer
) -> None:
    folder = home / ".continue"
    (folder / "config.yaml").unlink()
    (folder / "config.json").write_text('{"models": [{"title": "from json"}], "tabAutocompleteModle": {}}')
    json_uri = (folder / "config.json").as_uri()
    client, editor = await start(None, env=user_env(home), caps=capabilities(watch=True))
    try:
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["from json"]
        await wait_for(lambda: bool(client.diagnostics.get(json_uri)))  # the unknown key's warning
        await wait_for(lambda: bool(editor.registrations))
        (registration,) = editor.registrations
        patterns = [watcher["globPattern"]["pattern"] for watcher in registration.register_options["watchers"]]  # type: ignore[index]
        assert patterns == ["config.yaml", "config.json"]

        (folder / "config.yaml").write_text(yaml_config(fake_server.url, title="yaml now"))
        client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=(folder / "config.yaml").as_uri(), type=types.FileChangeType.Created)]
            )
        )
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["yaml now"]
        await wait_for(lambda: len(client.diagnostics[json_uri]) == 0)  # config.json's warning is gone

        (folder / "config.yaml").unlink()  # back to config.json
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["from json"]
    finally:
        await stop(client)


async def test_lsp_checks_the_config_yaml_buffer_as_the_user_types(home: Path) -> None:
    config = home / ".continue" / "config.yaml"
    client, editor = await start(None, env=user_env(home))
    try:
        uri = editor.open(config, config.read_text(), language_id="yaml")
        editor.type(uri, (5, 0), (5, 4), "\t")  # a tab where the indentation was
        await wait_for(lambda: bool(client.diagnostics.get(uri)))
        (diagnostic,) = client.diagnostics[uri]
        assert diagnostic.range.start.line == 5
        assert diagnostic.message.startswith("invalid YAML:") and "never tabs" in diagnostic.message
    finally:
        await stop(client)


async def test_lsp_config_path_may_name_a_yaml_file(home: Path, tmp_path: Path, fake_server: FakeModelServer) -> None:
    named = tmp_path / "team.yml"
    named.write_text(yaml_config(fake_server.url, title="from configPath"))
    client, _editor = await start(named, env=user_env(home))
    try:
        assert [m["title"] for m in await execute(client, "llamafile.listModels")] == ["from configPath"]
    finally:
        await stop(client)


def test_cli_a_dangling_config_yaml_link_leaves_config_json_in_force(home: Path) -> None:
    folder = home / ".continue"
    (folder / "config.yaml").unlink()
    (folder / "config.yaml").symlink_to(folder / "gone.yaml")
    result = run_cli(home, "check")
    assert (
        f"config: {folder / 'config.json'} (Continue's config.json; there is no config.yaml beside it)" in result.stdout
    )
