"""The gateway a team shares: a real LiteLLM proxy (scripts/litellm_gateway.py) in front of two
real llama-servers running SmolLM2-135M-Instruct, reached as ``"provider": "openai"`` with a
key. Edits by the CLI and over LSP, through ``/v1/chat/completions`` and ``/v1/completions``;
keys the gateway accepts, does not know, or has revoked; the gateway's own errors for a model
name it does not serve and for an upstream that is down; and whether an editor's cancel
reaches the llama-server behind the gateway.

The model is small: these tests check where an answer lands and what stays as it was,
never what the model wrote.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from support.lsp_editor import edit_args, execute, start, stop, wait_for
from support.ports import free_port

import litellm_gateway  # scripts/, on sys.path through tests/conftest.py
import real_parts
from llamafile_ls import textedit
from tests.conftest import RealServer, running_llama_server

pytestmark = pytest.mark.real

SAMPLE = (Path(__file__).resolve().parent.parent / "examples" / "sample.py").read_text()
FIRST, LAST = 12, 13  # 0-based: `def greet(name):` and its print, a small selection
INSTRUCTION = "use an f-string"
# At temperature 0 SmolLM2 answers this until max_tokens, so a cancel lands mid-stream.
LONG_INSTRUCTION = "add 100 assert lines testing it, each with a different file name"
MASTER_KEY = "sk-team-master-test"
ALICE = "sk-virtual-alice-test"  # a virtual key the gateway knows (the script's keys=)
MALLORY = "sk-virtual-mallory-test"  # one it has never heard of
BOB = "sk-virtual-bob-test"  # one it learns, then revokes


def skip_or_fail(message: str) -> NoReturn:
    if os.environ.get("LLAMAFILE_LS_REQUIRE_REAL"):
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def litellm_venv() -> Path:
    try:
        return litellm_gateway.ensure_venv()
    except Exception as error:  # pip, the network, the disk: whatever stops the install
        skip_or_fail(f"the LiteLLM venv cannot be built ({type(error).__name__}: {error}); "
                     "run python scripts/litellm_gateway.py --ensure")  # fmt: skip


@pytest.fixture(scope="module")
def second_server(tmp_path_factory: pytest.TempPathFactory, real_server: RealServer) -> Iterator[RealServer]:
    """A second SmolLM2 llama-server, small (one slot, one thread): the gateway's other upstream."""
    del real_server  # skips (or fails) first when the real parts are missing
    log = tmp_path_factory.mktemp("llama-server-2") / "server.log"
    with running_llama_server(real_parts.model_path(), log, "-c", "4096", "-np", "1", "-t", "1") as server:
        yield server


def warm_up(gateway: litellm_gateway.Gateway, model: str) -> None:
    """A fresh LiteLLM proxy loads much of itself on its first requests (the first one took up
    to 18 s here, a few after it up to a second): tiny requests until one is quick."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": True}
    for _ in range(8):
        started = time.monotonic()
        with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.headers,
                          timeout=120) as answer:  # fmt: skip
            assert answer.status_code == 200, answer.read()
            for _line in answer.iter_lines():
                pass
        if time.monotonic() - started < 0.5:
            return


@pytest.fixture(scope="module")
def team_gateway(
    litellm_venv: Path, real_server: RealServer, second_server: RealServer
) -> Iterator[litellm_gateway.Gateway]:
    del litellm_venv
    with litellm_gateway.gateway(
        upstreams=[real_server.url, second_server.url], master_key=MASTER_KEY, keys=[ALICE]
    ) as gateway:
        for model in gateway.models:  # the load-balanced group, and each upstream alone
            warm_up(gateway, model)
        yield gateway


def model_entry(gateway: litellm_gateway.Gateway, key: str, *, legacy: bool = False, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "title": "team gateway" + (" (completions)" if legacy else ""),
        "provider": "openai",
        "model": gateway.model,  # load-balanced over both llama-servers
        "apiBase": f"{gateway.url}/v1",
        "apiKey": key,
        "contextLength": 4096,
        "completionOptions": {"temperature": 0, "maxTokens": 64},
    }
    if legacy:
        entry["useLegacyCompletionsEndpoint"] = True
        entry["template"] = "chatml"  # the name "smollm2" says so too; a gateway's names often don't
    entry.update(extra)
    return entry


def write_config(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"models": list(entries)}))
    return path


def assert_only_the_selection_changed(before: str, after: str, first: int = FIRST, last: int = LAST) -> None:
    old, new = textedit.split_lines(before), textedit.split_lines(after)
    assert new[:first] == old[:first]
    below = len(old) - last - 1
    assert new[len(new) - below :] == old[last + 1 :]


def cli(config: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llamafile_ls", *arguments, "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def cli_edit(config: Path, file: Path) -> subprocess.CompletedProcess[str]:
    return cli(config, "edit", str(file), "--lines", f"{FIRST + 1}-{LAST + 1}", "--instruction", INSTRUCTION, "--write")


def the_error(result: subprocess.CompletedProcess[str]) -> str:
    """The CLI's failure: exactly one error line, and nothing that shows a key."""
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    for key in (MASTER_KEY, ALICE, MALLORY, BOB):
        assert key not in result.stdout + result.stderr
    return errors[0]


@pytest.mark.parametrize("legacy", [False, True], ids=["chat", "completions"])
def test_a_cli_edit_through_the_gateway_lands(
    tmp_path: Path, team_gateway: litellm_gateway.Gateway, legacy: bool
) -> None:
    file = tmp_path / "sample.py"
    file.write_text(SAMPLE)
    started = time.perf_counter()
    result = cli_edit(write_config(tmp_path, model_entry(team_gateway, ALICE, legacy=legacy)), file)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(("llamafile-ls: wrote", "llamafile-ls: the model left the code unchanged")), result.stderr
    assert "asking team gateway" in result.stderr and f"at {team_gateway.url}/v1" in result.stderr
    print(f"gateway {'completions' if legacy else 'chat'}: CLI edit in {elapsed:.2f} s ({last})")
    assert_only_the_selection_changed(SAMPLE, file.read_text())


async def test_lsp_edits_through_the_gateway_land(tmp_path: Path, team_gateway: litellm_gateway.Gateway) -> None:
    config = write_config(tmp_path, model_entry(team_gateway, ALICE), model_entry(team_gateway, ALICE, legacy=True))
    client, editor = await start(config)
    try:
        for title in ("team gateway", "team gateway (completions)"):
            uri = editor.open(tmp_path / f"sample_{len(title)}.py", SAMPLE)
            result = await execute(client, "llamafile.edit", edit_args(uri, FIRST, LAST, INSTRUCTION, model=title))
            assert result.get("applied") is True or "unchanged" in result.get("reason", ""), result
            assert_only_the_selection_changed(SAMPLE, editor.text(uri))
            print(f"{title}: LSP edit {result}")
    finally:
        await stop(client)


def test_check_through_the_gateway(tmp_path: Path, team_gateway: litellm_gateway.Gateway) -> None:
    good = model_entry(team_gateway, ALICE)
    wrong_name = model_entry(team_gateway, ALICE, title="wrong name", model="nope")
    result = cli(write_config(tmp_path, good, wrong_name), "check")
    out = result.stdout
    assert f"model 'team gateway' (default): provider openai, {team_gateway.url}/v1" in out
    assert out.count("server: up, ") == 2 and out.count("edits go to /v1/chat/completions") == 2
    # The gateway lists its model names: a name it does not serve is caught before any edit.
    assert "problem: the server offers smollm2, smollm2-0, smollm2-1, not 'nope'; check model" in out
    assert result.returncode == 1 and "1 problem(s) found" in out
    assert ALICE not in out + result.stderr


def test_a_key_the_gateway_does_not_know_is_refused(tmp_path: Path, team_gateway: litellm_gateway.Gateway) -> None:
    file = tmp_path / "sample.py"
    file.write_text(SAMPLE)
    config = write_config(tmp_path, model_entry(team_gateway, MALLORY))
    error = the_error(cli_edit(config, file))
    assert "HTTP 401" in error and "check api_key for model 'team gateway'" in error, error
    assert file.read_text() == SAMPLE
    checked = cli(config, "check")
    assert checked.returncode == 1
    assert "refused the api_key (HTTP 401); check api_key of 'team gateway'" in checked.stdout
    print(f"unknown key: {error}")


async def test_a_key_revoked_while_the_editor_runs_is_refused_from_the_next_edit(
    tmp_path: Path, team_gateway: litellm_gateway.Gateway
) -> None:
    team_gateway.add_key(BOB)
    client, editor = await start(write_config(tmp_path, model_entry(team_gateway, BOB)))
    try:
        first = editor.open(tmp_path / "first.py", SAMPLE)
        result = await execute(client, "llamafile.edit", edit_args(first, FIRST, LAST, INSTRUCTION))
        assert result.get("applied") is True or "unchanged" in result.get("reason", ""), result
        team_gateway.revoke_key(BOB)  # the connection the server keeps open is no pass
        second = editor.open(tmp_path / "second.py", SAMPLE)
        refused = await execute(client, "llamafile.edit", edit_args(second, FIRST, LAST, INSTRUCTION))
        assert refused["applied"] is False
        reason = refused["reason"]
        assert "\n" not in reason and "HTTP 401" in reason and "check api_key for model 'team gateway'" in reason
        assert BOB not in reason
        assert editor.text(second) == SAMPLE
        print(f"revoked key: {reason}")
    finally:
        await stop(client)
        team_gateway.revoke_key(BOB)


@pytest.mark.parametrize("legacy", [False, True], ids=["chat", "completions"])
def test_a_model_name_the_gateway_does_not_serve_is_named(
    tmp_path: Path, team_gateway: litellm_gateway.Gateway, legacy: bool
) -> None:
    file = tmp_path / "sample.py"
    file.write_text(SAMPLE)
    entry = model_entry(team_gateway, ALICE, legacy=legacy, model="no-such-model")
    error = the_error(cli_edit(write_config(tmp_path, entry), file))
    assert "HTTP 400" in error and "model=no-such-model" in error, error
    assert file.read_text() == SAMPLE
    print(f"unknown model ({'completions' if legacy else 'chat'}): {error}")


def test_a_gateway_without_a_database_and_an_upstream_that_is_down(tmp_path: Path, litellm_venv: Path) -> None:
    """A gateway as LiteLLM runs with no database: any key but the master key gets 400
    ``no_db_connection``; and its one upstream is down (nothing listens there)."""
    del litellm_venv
    file = tmp_path / "sample.py"
    file.write_text(SAMPLE)
    down = f"http://127.0.0.1:{free_port()}"
    with litellm_gateway.gateway(upstreams=[down], master_key=MASTER_KEY) as gateway:
        wrong = the_error(cli_edit(write_config(tmp_path, model_entry(gateway, MALLORY)), file))
        assert "HTTP 400" in wrong and "check api_key for model 'team gateway'" in wrong, wrong
        print(f"no database, unknown key: {wrong}")
        started = time.perf_counter()
        result = cli_edit(write_config(tmp_path, model_entry(gateway, MASTER_KEY)), file)
        elapsed = time.perf_counter() - started
        error = the_error(result)
        # The gateway answers for its upstream: its own address, never the upstream's.
        assert f"the model server at {gateway.url}/v1 failed (HTTP 500)" in error, error
        assert "Connection error" in error and down not in error
        print(f"upstream down, after {elapsed:.1f} s (LiteLLM's 2 retries): {error}")
    assert file.read_text() == SAMPLE


async def cancel_to_idle(tmp_path: Path, entry: dict[str, Any], upstream: RealServer) -> float:
    """Start a long LSP edit with ``entry``, cancel it once tokens arrive, and return the
    seconds from the $/cancelRequest until ``upstream`` has no slot processing."""
    client, editor = await start(write_config(tmp_path, entry))
    try:
        uri = editor.open(tmp_path / "sample.py", SAMPLE)
        call = asyncio.ensure_future(
            execute(client, "llamafile.edit", edit_args(uri, 5, 9, LONG_INSTRUCTION), token="c", msg_id="cancel-me")
        )
        await wait_for(
            lambda: any(isinstance(r, types.WorkDoneProgressReport) for r in client.progress_reports.get("c", [])), 60
        )
        assert upstream.slots_busy(), "the edit is streaming, but not from this llama-server"
        cancelled_at = time.monotonic()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
        with pytest.raises(JsonRpcException):
            await call
        while upstream.slots_busy():
            waited = time.monotonic() - cancelled_at
            assert waited < 10, f"the llama-server was still generating {waited:.1f} s after the cancel"
            await asyncio.sleep(0.02)
        idle = time.monotonic() - cancelled_at
        assert editor.text(uri) == SAMPLE and editor.apply_requests == []
        return idle
    finally:
        await stop(client)


@pytest.mark.parametrize("legacy", [False, True], ids=["chat", "completions"])
async def test_a_cancel_through_the_gateway_frees_the_upstream_slot(
    tmp_path: Path, team_gateway: litellm_gateway.Gateway, real_server: RealServer, second_server: RealServer,
    legacy: bool,
) -> None:  # fmt: skip
    """The same cancel sent straight to a llama-server's /v1, then through the gateway to the
    same llama-server (``smollm2-1``: the second upstream alone). That one runs on one thread,
    so its own cancel→idle is steady (30–80 ms here); real_server's two threads fill both
    cores, and the slot then frees anywhere between 30 ms and 3 s, with or without a gateway."""
    # Uncancelled, this answer runs for 3000 tokens (a minute and more on one thread).
    options = {"completionOptions": {"temperature": 0, "maxTokens": 3000}}
    direct = model_entry(team_gateway, "", legacy=legacy, apiBase=f"{second_server.url}/v1", **options)
    del direct["apiKey"]
    through = model_entry(team_gateway, ALICE, legacy=legacy, model=team_gateway.models[2], **options)
    kind = "completions" if legacy else "chat"
    direct_s = await cancel_to_idle(tmp_path, direct, second_server)
    gateway_s = await cancel_to_idle(tmp_path, through, second_server)
    assert not real_server.slots_busy()  # the gateway sent it to the upstream it was told
    print(f"{kind}: $/cancelRequest → upstream slot idle: direct {direct_s * 1000:.0f} ms, "
          f"through the gateway {gateway_s * 1000:.0f} ms")  # fmt: skip
