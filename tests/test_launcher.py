"""llamafile_command: starting the model server when nothing answers, with real processes.

The failure cases use small real programs (sh, sleep, a Python HTTP server); the happy
paths start the real llama-server with SmolLM2 as the llamafile_command.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from support.fakeserver import FakeModelServer
from support.lsp_editor import edit_args, execute, start, stop, wait_for
from support.ports import free_port

from llamafile_ls.config import ModelConfig
from llamafile_ls.errors import LaunchFailed
from llamafile_ls.launcher import Launcher, log_path_for, split_command
from llamafile_ls.providers.base import Prompt
from llamafile_ls.providers.llamacpp import LlamaCppProvider
from tests.conftest import real_parts

SAMPLE = (Path(__file__).resolve().parent.parent / "examples" / "sample.py").read_text()


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Launch logs go to $XDG_STATE_HOME/llamafile-ls: one per test."""
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


def model_with(command: str, port: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"title": "started", "provider": "llamafile", "model": "SmolLM2-135M-Instruct",
            "apiBase": f"http://127.0.0.1:{port or free_port()}", "llamafileCommand": command,
            "completionOptions": {"temperature": 0, "maxTokens": 200}, "contextLength": 4096, **extra}  # fmt: skip


def write(path: Path, *models: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"models": list(models)}))
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llamafile_ls", *args], capture_output=True, text=True, timeout=180, env=env
    )


def edit_with(config: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(SAMPLE)
    result = cli(
        "edit",
        str(app),
        "--lines",
        "6-10",
        "-i",
        "use a with statement",
        "--config",
        str(config),
        *extra,
        env=dict(os.environ),
    )
    if result.returncode != 0:
        assert app.read_text() == SAMPLE
    return result


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.strip().splitlines()[-1]


def test_split_command_follows_shell_quoting_and_expands_home() -> None:
    assert split_command("~/models/my model.llamafile --server -c 2048") == [
        os.path.expanduser("~/models/my"), "model.llamafile", "--server", "-c", "2048"
    ]  # fmt: skip
    assert split_command("'~/a b.llamafile' --nobrowser") == [os.path.expanduser("~/a b.llamafile"), "--nobrowser"]
    with pytest.raises(LaunchFailed, match="cannot be split"):
        split_command("'unclosed")


# --- failures, with real processes ------------------------------------------------------


def test_a_missing_binary_is_named(tmp_path: Path) -> None:
    result = edit_with(write(tmp_path / "c.json", model_with("/nonexistent/mistral.llamafile --server")), tmp_path)
    assert result.returncode == 1
    assert "/nonexistent/mistral.llamafile does not exist; use an absolute path to the llamafile" in last_line(result)


def test_a_file_that_is_not_executable_is_named(tmp_path: Path) -> None:
    binary = tmp_path / "model.llamafile"
    binary.write_text("not a program")
    result = edit_with(write(tmp_path / "c.json", model_with(f"{binary} --server")), tmp_path)
    assert f"{binary} is not executable; run `chmod +x {binary}`" in last_line(result)


def test_a_command_that_exits_at_once_fails_the_request_with_its_output(tmp_path: Path) -> None:
    command = "/bin/sh -c 'echo \"error: unable to load model file\" >&2; exit 3'"
    started = time.monotonic()
    result = edit_with(write(tmp_path / "c.json", model_with(command)), tmp_path)
    assert time.monotonic() - started < 30  # at once, not after llamafile_start_timeout (300 s)
    line = last_line(result)
    assert "llamafile_command exited with code 3 before the model was ready" in line
    assert "its output ends: error: unable to load model file" in line
    assert "Traceback" not in result.stderr


async def test_a_server_that_never_becomes_ready_is_stopped_and_reported(tmp_path: Path) -> None:
    model = ModelConfig(title="m", api_base=f"http://127.0.0.1:{free_port()}", llamafile_command="/bin/sleep 60",
                        llamafile_start_timeout=1.0)  # fmt: skip
    launcher, provider = Launcher(die_with_parent=True), LlamaCppProvider(model)
    seen: list[str] = []
    with pytest.raises(LaunchFailed, match=r"was not ready after 1 s \(llamafile_start_timeout\)"):
        await launcher.ensure_running(model, provider, seen.append)
    await provider.aclose()
    assert launcher.launched == {}
    assert any("loading model" in message for message in seen)
    sleepers = subprocess.run(["pgrep", "-f", "^/bin/sleep 60$"], capture_output=True, text=True)
    assert sleepers.stdout.strip() == "", "the process that never became ready was left running"


def test_a_port_held_by_something_else_is_not_doubled(tmp_path: Path, fake_server: FakeModelServer) -> None:
    del fake_server.routes["/health"]  # an HTTP server, but not a model server
    marker = tmp_path / "launched"
    config = write(tmp_path / "c.json", model_with(f"/usr/bin/touch {marker}", port=fake_server.port))
    result = edit_with(config, tmp_path)
    assert "is not a llamafile or llama.cpp server" in last_line(result)
    assert not marker.exists()


LATE_BINDER = """
import http.server, json, sys, time
time.sleep(1.0)  # like llamafile 0.8/0.9: the port opens only once the model is loaded
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok"}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/tokenize":
            body = json.dumps({"tokens": [1, 2, 3]}).encode()
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body); return
        events = [{"content": "    with open(path) as f:\\n        return json.load(f)\\n"}, {"content": "", "stop": True, "stop_type": "eos"}]
        body = "".join(f"data: {json.dumps(e)}\\n\\n" for e in events).encode()
        self.send_response(200); self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_a_server_that_binds_its_port_late_is_waited_for_and_left_running(tmp_path: Path) -> None:
    script = tmp_path / "late.py"
    script.write_text(LATE_BINDER)
    port = free_port()
    config = write(tmp_path / "c.json", model_with(f"{sys.executable} {script} {port}", port=port))
    result = edit_with(config, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "starting llamafile (log:" in result.stderr
    (note,) = [line for line in result.stderr.splitlines() if "keeps running" in line]
    assert "keeps running for the next edit (pid" in note and "stop it with `kill" in note
    pid = int(note.split("(pid ")[1].split(",")[0])
    try:
        os.kill(pid, 0)  # still alive
        again = edit_with(config, tmp_path)  # the next edit uses it: nothing new is started
        assert again.returncode == 0 and "starting llamafile" not in again.stderr
    finally:
        os.kill(pid, 15)


# --- the language server ------------------------------------------------------------------


async def test_lsp_ignores_a_command_from_a_config_inside_the_workspace(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    workspace = tmp_path / "project"
    workspace.mkdir()
    inside = write(workspace / "config.json", model_with(f"/usr/bin/touch {marker}"))
    client, editor = await start(inside, root=workspace)
    try:
        uri = editor.open(workspace / "a.py", SAMPLE)
        result = await execute(client, "llamafile.edit", edit_args(uri, 5, 9))
        assert "no model server answers" in result["reason"]
        assert not marker.exists()
        assert any("llamafile_command of model 'started' is ignored" in m.message for m in client.log_messages)
    finally:
        await stop(client)
    outside = write(tmp_path / "config.json", model_with(f"/usr/bin/touch {marker}"))
    client, editor = await start(outside, root=workspace)
    try:
        uri = editor.open(workspace / "a.py", SAMPLE)
        result = await execute(client, "llamafile.edit", edit_args(uri, 5, 9))
        assert "exited with code 0 before the model was ready" in result["reason"]
        assert marker.exists()  # the user's own config may run its command
    finally:
        await stop(client)


async def test_lsp_without_a_workspace_root_launches_only_from_the_users_own_config(tmp_path: Path) -> None:
    """No root known: the client-named file may belong to a project, so it may not launch;
    the same file named in $LLAMAFILE_LS_CONFIG (the user's own choice) may."""
    marker = tmp_path / "ran"
    (tmp_path / "project").mkdir()
    config = write(tmp_path / "project" / "config.json", model_with(f"/usr/bin/touch {marker}"))
    client, editor = await start(config, env={"HOME": str(tmp_path / "home")})
    try:
        uri = editor.open(tmp_path / "a.py", SAMPLE)
        result = await execute(client, "llamafile.edit", edit_args(uri, 5, 9))
        assert "no model server answers" in result["reason"]
        assert not marker.exists()
        assert any("the editor named no workspace folder" in m.message for m in client.log_messages)
    finally:
        await stop(client)
    client, editor = await start(config, env={"HOME": str(tmp_path / "home"), "LLAMAFILE_LS_CONFIG": str(config)})
    try:
        uri = editor.open(tmp_path / "a.py", SAMPLE)
        result = await execute(client, "llamafile.edit", edit_args(uri, 5, 9))
        assert "exited with code 0 before the model was ready" in result["reason"]
        assert marker.exists()
    finally:
        await stop(client)


# --- on the real llama-server ---------------------------------------------------------------


@pytest.fixture
def llama_command() -> Iterator[tuple[str, int]]:
    binary, model = real_parts.server_path(), real_parts.model_path()
    if not (binary.exists() and model.exists()):
        if os.environ.get("LLAMAFILE_LS_REQUIRE_REAL"):
            pytest.fail("the real llama-server or SmolLM2 is missing: run python scripts/real_parts.py")
        pytest.skip("the real llama-server or SmolLM2 is missing")
    port = free_port()
    command = (
        f"{shlex.quote(str(binary))} -m {shlex.quote(str(model))} --host 127.0.0.1 --port {port} -c 4096 -np 2 -t 2"
    )
    yield command, port
    subprocess.run(["pkill", "-f", f"--port {port} "], capture_output=True)


def launches(api_base: str) -> int:
    path = log_path_for(api_base)
    return path.read_text().count("llamafile-ls starts:") if path.exists() else 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


@pytest.mark.real
async def test_cold_start_to_first_token_on_smollm2(llama_command: tuple[str, int]) -> None:
    command, port = llama_command
    model = ModelConfig(title="m", api_base=f"http://127.0.0.1:{port}", llamafile_command=command)
    launcher, provider = Launcher(die_with_parent=True), LlamaCppProvider(model)
    try:
        started = time.perf_counter()
        launched = await launcher.ensure_running(model, provider)
        ready = time.perf_counter()
        stream = provider.stream(Prompt("<|im_start|>user\nSay hi<|im_end|>\n<|im_start|>assistant\n"))
        await anext(stream)
        first = time.perf_counter()
        await stream.aclose()
        print(f"launch → ready {ready - started:.2f} s, launch → first token {first - started:.2f} s")
        assert launched is not None and launcher.launched
    finally:
        await provider.aclose()
        await launcher.stop_all()
    assert launched.process.poll() is not None


@pytest.mark.real
def test_cli_cold_start_edit_and_stop_server(tmp_path: Path, llama_command: tuple[str, int]) -> None:
    command, port = llama_command
    result = edit_with(write(tmp_path / "c.json", model_with(command, port=port)), tmp_path, "--stop-server")
    assert result.returncode == 0, result.stderr
    assert "starting llamafile (log:" in result.stderr
    assert "stopped the llamafile it started" in result.stderr
    assert launches(f"http://127.0.0.1:{port}") == 1
    pid = int(result.stderr.split("stopped the llamafile it started (pid ")[1].split(")")[0])
    assert not alive(pid)


@pytest.mark.real
async def test_lsp_starts_once_for_concurrent_edits_restarts_after_a_crash_and_stops_at_shutdown(
    tmp_path: Path, state_home: Path, llama_command: tuple[str, int]
) -> None:
    command, port = llama_command
    api_base = f"http://127.0.0.1:{port}"
    workspace = tmp_path / "project"
    workspace.mkdir()
    client, editor = await start(
        write(tmp_path / "c.json", model_with(command, port=port)),
        env={"XDG_STATE_HOME": str(state_home)},
        root=workspace,  # the config lies outside the project: it may launch
    )
    try:
        first = editor.open(tmp_path / "a.py", SAMPLE)
        second = editor.open(tmp_path / "b.py", SAMPLE)
        results = await asyncio.gather(
            execute(client, "llamafile.edit", edit_args(first, 5, 9), token="one"),
            execute(client, "llamafile.edit", edit_args(second, 12, 13), token="two"),
        )
        assert all(r["applied"] or "unchanged" in r.get("reason", "") for r in results), results
        assert launches(api_base) == 1  # two requests, one launch
        reports = [
            r.message
            for r in client.progress_reports["one"] + client.progress_reports["two"]
            if isinstance(r, types.WorkDoneProgressReport)
        ]
        assert any(m and m.startswith("Starting llamafile…") for m in reports)
        started = [m.message for m in client.log_messages if "started " in m.message and "(pid " in m.message]
        pid = int(started[0].split("(pid ")[1].split(")")[0])
        os.kill(pid, 9)  # the model server dies mid-session
        await wait_for(lambda: not alive(pid))
        result = await execute(client, "llamafile.edit", edit_args(first, 12, 13))
        assert result["applied"] or "unchanged" in result.get("reason", ""), result
        assert launches(api_base) == 2
        started = [m.message for m in client.log_messages if "started " in m.message and "(pid " in m.message]
        pid = int(started[-1].split("(pid ")[1].split(")")[0])
        assert alive(pid)
    finally:
        await stop(client)
    await wait_for(lambda: not alive(pid), timeout=15)


def test_check_says_the_first_edit_will_start_the_server_or_what_is_wrong(tmp_path: Path) -> None:
    good = cli("check", "--config", str(write(tmp_path / "good.json", model_with("/bin/sleep 1"))))
    assert good.returncode == 0, good.stdout
    assert "server: not running; the first edit starts it with: /bin/sleep 1" in good.stdout
    bad = cli("check", "--config", str(write(tmp_path / "bad.json", model_with("/nonexistent/x.llamafile --server"))))
    assert bad.returncode == 1
    assert "llamafile_command of model" in bad.stdout and "/nonexistent/x.llamafile does not exist" in bad.stdout
