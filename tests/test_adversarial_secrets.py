"""Adversarial suite, family "secrets": servers that echo the key back, keys cut, escaped,
changed mid-request, pasted with a newline, credentials in URLs and proxies — through the
real CLI (a fresh process each time, so nothing is masked by an earlier case) and the real
language server. In every case the key appears in no output: not whole, not cut, not
escaped.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from support.hostile import END, Action, HostileServer, Seen, answer, body_reply, chunk, event, head
from support.lsp_editor import edit_args, execute, start, stop, wait_for
from support.ports import free_port

from llamafile_ls.redaction import MASK, Redactor, public_url, url_secrets

SECRET = "sk-live/9Qx+2bZ4=w8Km7Lp3Rt"  # '/', '+' and '=': escaped differently by JSON and URLs
SOURCE = "a = 1\nb = 2\nc = 3\n"


def pieces_of(secret: str, shortest: int = 6) -> list[str]:
    whole = [secret, json.dumps(secret)[1:-1], secret.replace("/", "\\/"), quote(secret, safe="")]
    return (
        whole + [secret[:n] for n in range(shortest, len(secret))] + [secret[-n:] for n in range(shortest, len(secret))]
    )


def assert_clean(*texts: str, secret: str = SECRET) -> None:
    for text in texts:
        leaked = [piece for piece in pieces_of(secret) if piece in text]
        assert not leaked, f"the secret leaked as {leaked[0]!r} in: {text[:400]}"
        assert "Traceback" not in text


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


def model(api_base: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": "secretive",
        "provider": "llamafile",
        "model": "smollm2",
        "apiBase": api_base,
        "apiKey": SECRET,
        "promptTemplates": {"edit": "<code>{{{code_to_edit}}}</code>"},
        "requestOptions": {"timeout": 2},
        **extra,
    }


def write_config(tmp_path: Path, entry: dict[str, Any]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"models": [entry]}))
    return path


def cli(tmp_path: Path, config: Path, command: str = "edit") -> subprocess.CompletedProcess[str]:
    target = tmp_path / "app.py"
    target.write_text(SOURCE)
    args = ["edit", str(target), "--lines", "1-2", "-i", "x", "--write"] if command == "edit" else [command]
    return subprocess.run(
        [sys.executable, "-m", "llamafile_ls", *args, "--config", str(config)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
    )  # fmt: skip


def echo_headers(status: int) -> Any:
    def script(seen: Seen) -> list[Action]:
        return body_reply(status, json.dumps({"error": {"message": f"bad request, headers were {seen.headers}"}}))

    return script


def echo_authorization(seen: Seen) -> list[Action]:
    return body_reply(401, f"invalid credentials: Authorization: {seen.headers.get('authorization')}", "text/plain")


def key_across_the_cut(seen: Seen) -> list[Action]:
    """An error body whose 4 KiB limit falls inside the echoed key."""
    key = seen.headers.get("authorization", "").removeprefix("Bearer ")
    prefix = "x" * (4096 - 10)
    return body_reply(400, f"{prefix}{key} and more", "text/plain")


def key_json_escaped(seen: Seen) -> list[Action]:
    key = seen.headers.get("authorization", "").removeprefix("Bearer ")
    return body_reply(400, '{"error": {"message": "no such key: ' + key.replace("/", "\\/") + '"}}')


def key_url_encoded(seen: Seen) -> list[Action]:
    key = seen.headers.get("authorization", "").removeprefix("Bearer ")
    return body_reply(400, f"see https://example.invalid/keys?k={quote(key, safe='')}", "text/plain")


def key_in_stream_error(seen: Seen) -> list[Action]:
    key = seen.headers.get("authorization", "")
    return [head(), event({"content": "a", "stop": False}), event({"error": {"message": f"revoked: {key}"}}), END]


def key_in_garbage_line(seen: Seen) -> list[Action]:
    key = seen.headers.get("authorization", "")
    return [head(), chunk(f"{'#' * 100} {key}\n"), END]


def custom_header_echo(seen: Seen) -> list[Action]:
    return body_reply(403, f"X-Team-Token {seen.headers.get('x-team-token')} is not allowed", "text/plain")


def basic_auth_echo(seen: Seen) -> list[Action]:
    return body_reply(400, f"bad request, headers were {seen.headers}")


def key_cut_after_a_label(seen: Seen) -> list[Action]:
    """The limit falls inside the key, right after ``api_key=``: one run of key characters."""
    key = seen.headers.get("authorization", "").removeprefix("Bearer ")
    return body_reply(400, " " * 4060 + f"bad request: api_key={key}", "text/plain")


def key_in_a_garbage_line_after_a_label(seen: Seen) -> list[Action]:
    key = seen.headers.get("authorization", "").removeprefix("Bearer ")
    return [head(), chunk(f"{'#' * 100}api_key={key}\n"), END]


def key_base64(seen: Seen) -> list[Action]:
    key = seen.headers.get("authorization", "").removeprefix("Bearer ")
    return body_reply(400, f"token {base64.b64encode(key.encode()).decode()} is revoked", "text/plain")


def key_html_escaped(seen: Seen) -> list[Action]:
    key = seen.headers.get("authorization", "").removeprefix("Bearer ")
    return body_reply(400, f"<p>key {html.escape(key + '&x')}</p>", "text/plain")


def key_percent_lower(seen: Seen) -> list[Action]:
    key = seen.headers.get("authorization", "").removeprefix("Bearer ")
    encoded = re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(key, safe=""))
    return body_reply(400, f"see /keys?k={encoded}", "text/plain")


SERVER_CASES = [
    ("key-cut-after-a-label", key_cut_after_a_label, "HTTP 400"),
    ("garbage-line-key-after-a-label", key_in_a_garbage_line_after_a_label, "not an event stream"),
    ("key-base64", key_base64, "HTTP 400"),
    ("key-html-escaped", key_html_escaped, "HTTP 400"),
    ("key-percent-encoded-lower-case", key_percent_lower, "HTTP 400"),
    ("401-echoes-authorization", echo_authorization, "check api_key"),
    ("400-dumps-all-headers", echo_headers(400), "HTTP 400"),
    ("500-dumps-all-headers", echo_headers(500), "HTTP 500"),
    ("key-cut-at-4-kib", key_across_the_cut, "HTTP 400"),
    ("key-json-escaped", key_json_escaped, "no such key"),
    ("key-url-encoded", key_url_encoded, "HTTP 400"),
    ("key-in-a-stream-error", key_in_stream_error, "revoked"),
    ("key-in-a-garbage-line", key_in_garbage_line, "not an event stream"),
]


@pytest.mark.parametrize(("script", "message"), [c[1:] for c in SERVER_CASES], ids=[c[0] for c in SERVER_CASES])
def test_a_server_echoing_the_key_never_gets_it_printed(
    tmp_path: Path, hostile: HostileServer, script: Any, message: str
) -> None:
    hostile.play("/completion", script)
    result = cli(tmp_path, write_config(tmp_path, model(hostile.url)))
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert_clean(result.stdout, result.stderr)
    assert (tmp_path / "app.py").read_text() == SOURCE
    assert hostile.seen[0].headers["authorization"] == f"Bearer {SECRET}"  # it was really sent


def test_a_custom_credential_header_is_masked_too(tmp_path: Path, hostile: HostileServer) -> None:
    token = "team-token-5e8d1c0b9a7f"
    hostile.play("/completion", custom_header_echo)
    entry = model(hostile.url, requestOptions={"timeout": 2, "headers": {"X-Team-Token": token}})
    result = cli(tmp_path, write_config(tmp_path, entry))
    assert result.returncode == 1 and "check api_key" in result.stderr
    assert_clean(result.stderr, secret=token)


def test_check_never_prints_the_key_a_health_endpoint_echoes(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/health", echo_authorization)
    hostile.play("/props", echo_authorization)
    result = cli(tmp_path, write_config(tmp_path, model(hostile.url)), command="check")
    assert result.returncode == 1
    assert_clean(result.stdout, result.stderr)


def test_a_key_pasted_with_a_newline_is_trimmed_sent_and_never_shown(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/completion", answer("A = 1\n", "B = 2\n"))
    result = cli(tmp_path, write_config(tmp_path, {**model(hostile.url), "apiKey": SECRET + "\n"}))
    assert result.returncode == 0, result.stderr
    assert "trimmed" in result.stderr
    assert hostile.seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert_clean(result.stdout, result.stderr)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (SECRET[:10] + " " + SECRET[10:], "whitespace"),
        (SECRET[:10] + "\n" + SECRET[10:], "whitespace"),
        (SECRET[:10] + "é" + SECRET[10:], "api_key"),
        (SECRET[:10] + "\x00" + SECRET[10:], "api_key"),
    ],
    ids=["inner-space", "inner-newline", "non-ascii", "nul"],
)
def test_a_key_http_cannot_carry_is_a_config_error_that_does_not_show_it(
    tmp_path: Path, key: str, message: str
) -> None:
    result = cli(tmp_path, write_config(tmp_path, {**model(f"http://127.0.0.1:{free_port()}"), "apiKey": key}))
    assert result.returncode == 1
    assert message in result.stderr and "config.json:1:" in result.stderr
    assert_clean(result.stdout, result.stderr, secret=key)
    assert_clean(result.stdout, result.stderr, secret=SECRET[10:])


def test_a_key_of_the_wrong_type_is_not_quoted(tmp_path: Path) -> None:
    number = 918273645546372819
    result = cli(tmp_path, write_config(tmp_path, {**model("http://127.0.0.1:9"), "apiKey": number}))
    assert result.returncode == 1 and "api_key" in result.stderr
    assert str(number)[:8] not in result.stderr


def test_a_password_in_api_base_is_not_shown_as_the_basic_header_either(tmp_path: Path, hostile: HostileServer) -> None:
    """httpx sends user:password of api_base as a Basic header: base64 is not a disguise."""
    hostile.play("/completion", basic_auth_echo)
    api_base = hostile.url.replace("http://", "http://admin:hunter2-Secret-pass@")
    result = cli(tmp_path, write_config(tmp_path, {**model(api_base), "apiKey": None}))
    assert result.returncode == 1
    assert "authorization" in result.stderr  # the header dump is there, masked
    assert base64.b64encode(b"admin:hunter2-Secret-pass").decode()[:12] not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_a_password_in_api_base_is_not_in_the_no_server_message(tmp_path: Path) -> None:
    port = free_port()
    result = cli(tmp_path, write_config(tmp_path, model(f"http://admin:hunter2-pass@127.0.0.1:{port}")))
    assert result.returncode == 1
    assert f"no model server answers at http://127.0.0.1:{port}" in result.stderr
    assert "hunter2-pass" not in result.stderr + result.stdout and "admin:" not in result.stderr


@pytest.mark.parametrize(
    "api_base",
    ["http://127.0.0.1:{port}/?token=tok-91af3e77c2", "http://127.0.0.1:{port}/v1?api_key=tok-91af3e77c2&x=1"],
    ids=["token-query", "api-key-query"],
)
def test_a_token_in_the_query_of_api_base_is_refused_without_being_shown(tmp_path: Path, api_base: str) -> None:
    result = cli(tmp_path, write_config(tmp_path, model(api_base.format(port=free_port()))))
    assert result.returncode == 1
    assert "api_base" in result.stderr and "query" in result.stderr
    assert "tok-91af3e77c2" not in result.stderr + result.stdout


def test_proxy_credentials_are_not_in_the_proxy_message(tmp_path: Path) -> None:
    proxy = f"http://proxyuser:pr0xy-Secret-77@127.0.0.1:{free_port()}"
    entry = model("http://10.255.255.1:8080", requestOptions={"timeout": 2, "proxy": proxy})
    result = cli(tmp_path, write_config(tmp_path, entry))
    assert result.returncode == 1
    assert "request_options.proxy" in result.stderr
    assert "pr0xy-Secret-77" not in result.stderr and "proxyuser" not in result.stderr


# --- the language server -----------------------------------------------------------------


async def test_lsp_never_shows_the_key_in_messages_logs_results_or_its_stderr(
    tmp_path: Path, hostile: HostileServer
) -> None:
    hostile.play("/completion", echo_headers(400))
    config = write_config(tmp_path, model(hostile.url))
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        result = await execute(client, "llamafile.edit", edit_args(uri, 0, 1))
        assert result["applied"] is False and "HTTP 400" in result["reason"]
        await wait_for(lambda: bool(client.messages))
        texts = [m.message for m in client.messages] + [m.message for m in client.log_messages] + [json.dumps(result)]
        assert_clean(*texts)
        assert editor.text(uri) == SOURCE
    finally:
        await stop(client)


async def test_lsp_masks_an_old_key_that_changed_while_its_request_was_in_flight(
    tmp_path: Path, hostile: HostileServer
) -> None:
    new_key = "sk-rotated-aa11bb22cc33dd44"
    config = write_config(tmp_path, model(hostile.url))

    def slow_echo(seen: Seen) -> list[Action]:
        # Answers only once the config holds the new key: the error names the old one.
        return [1.5, *echo_authorization(seen)]

    hostile.play("/completion", slow_echo)
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        request = asyncio.ensure_future(execute(client, "llamafile.edit", edit_args(uri, 0, 1)))
        await asyncio.sleep(0.5)
        config.write_text(json.dumps({"models": [{**model(hostile.url), "apiKey": new_key}]}))
        # A second request makes the server read the new config while the first is in flight.
        second = await execute(client, "llamafile.listModels")
        assert second[0]["title"] == "secretive"
        result = await request
        assert "check api_key" in result["reason"]
        texts = [m.message for m in client.messages] + [m.message for m in client.log_messages] + [result["reason"]]
        assert_clean(*texts)
        assert_clean(*texts, secret=new_key)
    finally:
        await stop(client)


# --- the redactor itself -------------------------------------------------------------------


def test_the_redactor_masks_every_form_and_keeps_ordinary_words() -> None:
    redactor = Redactor()
    redactor.add(SECRET + "\n", "Bearer tok-abcdef123456")
    text = (
        f"a {SECRET} b {json.dumps(SECRET)} c {quote(SECRET, safe='')} d {SECRET[:9]}... "
        f"e …{SECRET[-8:]} f Bearer tok-abcdef123456 g tok-abcdef12"
    )
    masked = redactor.redact(text)
    assert_clean(masked)
    assert "tok-abcdef12" not in masked
    assert masked.startswith("a *** b ") and " f *** g " in masked
    assert redactor.redact("the model server at http://127.0.0.1:8080 failed") == (
        "the model server at http://127.0.0.1:8080 failed"
    )


def test_placeholder_keys_of_local_servers_are_not_masked() -> None:
    redactor = Redactor()
    redactor.add("ollama", "lm-studio", "EMPTY")
    assert redactor.redact("provider 'ollama' at lm-studio, EMPTY") == "provider 'ollama' at lm-studio, EMPTY"
    assert not redactor


def test_urls_lose_their_credentials_for_messages() -> None:
    assert public_url("https://u:p@host:8443/v1/?token=t#frag") == "https://host:8443/v1"
    assert sorted(url_secrets("https://u:p@host/?token=t&x=y")) == ["dTpw", "p", "t", "y"]  # dTpw: base64 of u:p
    assert public_url("http://[::1]:8080/") == "http://[::1]:8080"
    assert MASK not in public_url("http://localhost:8080")


def test_the_cli_crash_guard_prints_one_masked_line_and_logs_a_masked_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from llamafile_ls import cli
    from llamafile_ls.redaction import SECRETS

    SECRETS.add(SECRET)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    def explode(*_args: object) -> int:
        raise RuntimeError(f"unforeseen, with {SECRET} inside")

    monkeypatch.setattr(cli, "_run", explode)
    assert cli.main(["check"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llamafile-ls: error: unexpected internal error (RuntimeError")
    log = (tmp_path / "llamafile-ls" / "crash.log").read_text()
    assert "Traceback" in log and "explode" in log
    assert_clean(captured.err, captured.out)
    assert SECRET not in log and SECRET[:9] not in log
