"""The `llamafile-ls edit` and `check` commands, run as a user runs them: a subprocess
talking HTTP to a scripted model server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from support.fakeserver import FakeModelServer, Reply, completion, sse
from support.ports import free_port

from tests.conftest import model_entry

SOURCE = "import json\n\n\ndef load(path):\n    f = open(path)\n    data = json.load(f)\n    f.close()\n    return data\n\n\nprint(load('x'))\n"
NEW_BODY = "    with open(path) as f:\n        data = json.load(f)\n    return data\n"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llamafile_ls", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def fenced_answer() -> Reply:
    # What a chat model says: chatter, a fenced block, an explanation.
    return completion("Sure, here is the code:\n", "```python\n", NEW_BODY, "```\n", "It uses a with block.")


def test_edit_prints_a_unified_diff_and_leaves_the_file(
    tmp_path: Path, fake_server: FakeModelServer, write_config: Callable[..., Path]
) -> None:
    fake_server.route("/completion", fenced_answer())
    app = tmp_path / "app.py"
    app.write_text(SOURCE)
    config = write_config(model_entry(fake_server.url, template="alpaca"))
    result = run_cli("edit", str(app), "--lines", "5-8", "--instruction", "use a with block", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [f"--- a/{app}", f"+++ b/{app}"]
    assert "-    f = open(path)\n" in result.stdout
    assert "+    with open(path) as f:\n" in result.stdout
    assert "+        data = json.load(f)\n" in result.stdout
    assert app.read_text() == SOURCE
    assert "tokens in" in result.stderr
    (request,) = [r for r in fake_server.requests if r.path == "/completion"]
    assert "use a with block" in request.body["prompt"]
    assert "    f = open(path)\n    data = json.load(f)" in request.body["prompt"]


def test_edit_write_changes_only_the_selected_lines(
    tmp_path: Path, fake_server: FakeModelServer, write_config: Callable[..., Path]
) -> None:
    fake_server.route("/completion", fenced_answer())
    app = tmp_path / "app.py"
    app.write_bytes(SOURCE.replace("\n", "\r\n").encode())
    app.chmod(0o754)
    config = write_config(model_entry(fake_server.url))
    result = run_cli("edit", str(app), "--lines", "5-8", "-i", "use a with block", "--write", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    expected = SOURCE.replace("    f = open(path)\n    data = json.load(f)\n    f.close()\n    return data\n", NEW_BODY)
    assert app.read_bytes() == expected.replace("\n", "\r\n").encode()  # CRLF kept everywhere
    assert app.stat().st_mode & 0o777 == 0o754


def run_failing(tmp_path: Path, config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(SOURCE)
    result = run_cli("edit", str(app), "--lines", "5-8", "-i", "x", "--write", "--config", str(config), *extra)
    assert result.returncode != 0
    assert app.read_text() == SOURCE, "a failed edit must leave the file untouched"
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("llamafile-ls: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return result


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.strip().splitlines()[-1]


def test_unreachable_server_says_how_to_start_one(tmp_path: Path, write_config: Callable[..., Path]) -> None:
    port = free_port()
    result = run_failing(tmp_path, write_config(model_entry(f"http://127.0.0.1:{port}")))
    assert f"no model server answers at http://127.0.0.1:{port}: start it with" in last_line(result)


def test_http_errors_in_both_shapes(
    tmp_path: Path, fake_server: FakeModelServer, write_config: Callable[..., Path]
) -> None:
    config = write_config(model_entry(fake_server.url))
    cases = [
        (Reply(401, "application/json", [b'{"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}']), "check api_key"),
        (Reply(404, "text/plain", [b"the slot is unavailable"]), "failed (HTTP 404): the slot is unavailable"),
        (Reply(500, "application/json", [b'{"error": {"code": 500, "message": "kv cache full"}}']), "failed (HTTP 500): kv cache full"),
        (Reply(500, "text/plain", [b"llama_decode failed"]), "failed (HTTP 500): llama_decode failed"),
    ]  # fmt: skip
    for reply, words in cases:
        fake_server.route("/completion", reply)
        assert words in last_line(run_failing(tmp_path, config))


def test_broken_and_malformed_streams(
    tmp_path: Path, fake_server: FakeModelServer, write_config: Callable[..., Path]
) -> None:
    config = write_config(model_entry(fake_server.url))
    fake_server.route("/completion", Reply(pieces=[*sse({"content": "    with"}), None]))
    assert "ended the answer without finishing it" in last_line(
        run_failing(tmp_path, config)
    ) or "broke the connection" in last_line(run_failing(tmp_path, config))
    fake_server.route("/completion", Reply(pieces=sse("data: {half a json\n\n")))
    assert "malformed event" in last_line(run_failing(tmp_path, config))
    fake_server.route("/completion", Reply(pieces=sse('error: {"message": "slot busy"}\n\n')))
    assert "slot busy" in last_line(run_failing(tmp_path, config))


def test_answers_cut_by_max_tokens_or_empty_are_refused(
    tmp_path: Path, fake_server: FakeModelServer, write_config: Callable[..., Path]
) -> None:
    config = write_config(model_entry(fake_server.url, completionOptions={"maxTokens": 3}))
    fake_server.route("/completion", completion("    with", " open", "(", stop_type="limit"))
    assert "reached max_tokens (3) before it was finished" in last_line(run_failing(tmp_path, config))
    fake_server.route("/completion", completion("```\n", "```"))
    assert "held no code" in last_line(run_failing(tmp_path, config))


def test_broken_config_points_at_the_line(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{\n  "models": [\n    {"title": "a", "contextLength": "lots"}\n  ]\n}\n')
    result = run_failing(tmp_path, config)
    assert last_line(result) == (
        f"llamafile-ls: error: {config}:3:37: models[0].context_length: expected an integer, got 'lots'"
    )


def test_a_selection_too_big_for_the_context(
    tmp_path: Path, fake_server: FakeModelServer, write_config: Callable[..., Path]
) -> None:
    fake_server.route(
        "/tokenize",
        lambda r: Reply(content_type="application/json", pieces=[json.dumps({"tokens": [0] * 5000}).encode()]),
    )
    config = write_config(model_entry(fake_server.url, contextLength=200, completionOptions={"maxTokens": 50}))
    result = run_failing(tmp_path, config)
    assert "the selection does not fit the model's context" in last_line(result)
    assert not [r for r in fake_server.requests if r.path == "/completion"]


def test_a_template_with_a_missing_variable(tmp_path: Path, write_config: Callable[..., Path]) -> None:
    config = write_config(model_entry("http://127.0.0.1:9", promptTemplates={"edit": "{{{code}}}"}))
    assert "uses {{code}}, which is not a template variable" in last_line(run_failing(tmp_path, config))


def test_bad_lines_and_unknown_model(tmp_path: Path, write_config: Callable[..., Path]) -> None:
    config = write_config(model_entry("http://127.0.0.1:9"))
    assert "the file has only 11 lines" in last_line(run_failing(tmp_path, config, "--lines", "5-80"))
    assert "is not a range like 10-24" in last_line(run_failing(tmp_path, config, "--lines", "five"))
    assert "no model titled 'other'" in last_line(run_failing(tmp_path, config, "--model", "other"))


def test_a_file_changed_during_generation_is_not_overwritten(
    tmp_path: Path, fake_server: FakeModelServer, write_config: Callable[..., Path]
) -> None:
    reply = fenced_answer()
    reply.delay = 0.3
    fake_server.route("/completion", reply)
    app = tmp_path / "app.py"
    app.write_text(SOURCE)
    config = write_config(model_entry(fake_server.url))

    def type_meanwhile() -> None:
        while not [r for r in fake_server.requests if r.path == "/completion"]:
            time.sleep(0.02)
        app.write_text(SOURCE + "# typed meanwhile\n")

    typist = threading.Thread(target=type_meanwhile)
    typist.start()
    result = run_cli("edit", str(app), "--lines", "5-8", "-i", "x", "--write", "--config", str(config))
    typist.join()
    assert result.returncode == 1
    assert "changed while the model was answering; nothing was written" in last_line(result)
    assert app.read_text() == SOURCE + "# typed meanwhile\n"


def test_check_reports_a_valid_config_and_a_server_that_is_up(
    fake_server: FakeModelServer, write_config: Callable[..., Path]
) -> None:
    fake_server.route(
        "/props",
        Reply(content_type="application/json", pieces=[b'{"default_generation_settings": {"n_ctx": 1024}}']),
    )
    config = write_config(model_entry(fake_server.url, contextLength=4096))
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 1  # the server's context is smaller than context_length
    assert f"config: {config} (given with --config) is valid (1 models)" in result.stdout
    assert "server: up" in result.stdout
    assert "the server gives each request 1024 tokens but context_length is 4096" in result.stdout


def test_check_reports_a_server_that_is_down(write_config: Callable[..., Path]) -> None:
    port = free_port()
    result = run_cli("check", "--config", str(write_config(model_entry(f"http://127.0.0.1:{port}"))))
    assert result.returncode == 1
    assert f"no model server answers at http://127.0.0.1:{port}" in result.stdout


def test_check_with_a_broken_config(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{ models: [] }")
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}:1:3: invalid JSON" in result.stderr
