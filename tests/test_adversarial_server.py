"""Adversarial suite, family "model server": every status and body shape, pings, stalls,
cuts, floods, split and broken UTF-8, malformed events, and a real llama-server killed
mid-answer. Each case runs the real CLI (``llamafile-ls edit --write``) in a subprocess and
asserts the exit code, the one-line message, that no traceback and no piece of the api_key
is printed, and that the file is byte-identical (or, for the answers that are fine, that
exactly the selected lines changed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.hostile import CLOSE, END, Action, HostileServer, answer, body_reply, chunk, event, head
from support.ports import free_port

from tests.conftest import RealServer

SECRET = "sk-hostile-7f3a9c2e5b1d4086"
SOURCE = "import os\n\n\ndef main():\n    return os.getcwd()\n\n\nprint(main())\n"
NEW = "def main():\n    return os.getcwd() or '.'"
EXPECTED = SOURCE.replace("def main():\n    return os.getcwd()", NEW)
TIMEOUT = 1.0  # request_options.timeout in these configs: stalls are staged around it


def secret_pieces(secret: str = SECRET, shortest: int = 6) -> list[str]:
    """Every start and end of the key long enough to say something about it."""
    return [secret[:n] for n in range(shortest, len(secret) + 1)] + [secret[-n:] for n in range(shortest, len(secret))]


def assert_no_secret(*texts: str, secret: str = SECRET) -> None:
    for text in texts:
        leaked = [piece for piece in secret_pieces(secret) if piece in text]
        assert not leaked, f"the key leaked as {leaked[-1]!r} in: {text[:500]}"


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


def config_for(tmp_path: Path, api_base: str, **extra: Any) -> Path:
    model = {
        "title": "hostile",
        "provider": "llamafile",
        "model": "smollm2",
        "apiBase": api_base,
        "apiKey": SECRET,
        "promptTemplates": {"edit": "<code>{{{code_to_edit}}}</code>{{{user_input}}}"},
        "completionOptions": {"maxTokens": 40},
        "requestOptions": {"timeout": TIMEOUT},
        **extra,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"models": [model]}))
    return path


def run_edit(
    tmp_path: Path, api_base: str, *, timeout: float = 30, **extra: Any
) -> tuple[subprocess.CompletedProcess[str], Path]:
    target = tmp_path / "app.py"
    target.write_bytes(SOURCE.encode())
    config = config_for(tmp_path, api_base, **extra)
    result = subprocess.run(
        [sys.executable, "-m", "llamafile_ls", "edit", str(target), "--lines", "4-5", "-i", "keep it safe",
         "--write", "--config", str(config)],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
    )  # fmt: skip
    return result, target


def assert_refused(result: subprocess.CompletedProcess[str], target: Path, message: str) -> str:
    """Exit 1, one error line with ``message``, no traceback, no key, the file untouched."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("llamafile-ls: error:")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0], errors[0]
    assert len(errors[0]) < 600, f"a message of {len(errors[0])} characters is not one line a user reads"
    assert "Traceback" not in result.stderr + result.stdout
    assert_no_secret(result.stderr, result.stdout)
    assert target.read_bytes() == SOURCE.encode()
    return errors[0]


def assert_applied(result: subprocess.CompletedProcess[str], target: Path) -> None:
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert_no_secret(result.stderr, result.stdout)
    assert target.read_bytes() == EXPECTED.encode()


def good_words() -> list[str]:
    return ["def main():\n", "    return os.getcwd()", " or '.'\n"]


def html_page(title: str, size: int = 3000) -> str:
    filler = "<p>" + "The upstream server did not answer in time. " * (size // 45) + "</p>"
    return f"<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>{filler}</body></html>"


def pings_forever(_seen: object = None) -> Iterator[Action]:
    yield head()
    while True:
        yield chunk(": ping\n\n")
        yield 0.1


def content_then_pings(_seen: object = None) -> Iterator[Action]:
    yield head()
    yield event({"content": "def main():\n", "stop": False})
    while True:
        yield chunk(": ping\n\n")
        yield 0.1


def flood(_seen: object = None) -> Iterator[Action]:
    yield head()
    while True:
        yield event({"content": "x = 1\n", "stop": False})


def huge_line(_seen: object = None) -> Iterator[Action]:
    yield head()
    yield chunk('data: {"content": "')
    for _ in range(300):
        yield chunk("a" * 8192)


def split_everywhere(words: Iterable[str], line_end: str = "\n") -> list[Action]:
    """A good answer sent a byte at a time: UTF-8 characters and CRLFs cut in two."""
    data = b"".join(
        f"data: {json.dumps({'content': word, 'stop': False}, ensure_ascii=False)}{line_end}{line_end}".encode()
        for word in words
    )
    data += f"data: {json.dumps({'content': '', 'stop': True, 'stop_type': 'eos'})}{line_end}{line_end}".encode()
    return [head(), *(chunk(data[i : i + 1]) for i in range(len(data))), END]


def trickle(data: bytes, pause: float = 0.3) -> list[Action]:
    """``data`` a byte at a time: each read resets an HTTP read timeout, never the deadline."""
    actions: list[Action] = []
    for index in range(len(data)):
        actions += [data[index : index + 1], pause]
    return actions


ERROR_JSON = {"error": {"code": 400, "message": "the request is invalid", "type": "invalid_request_error"}}

# (id, script, the message the user must get)
REFUSED: list[tuple[str, list[Action] | Any, str]] = [
    ("400-llama.cpp-json", body_reply(400, json.dumps(ERROR_JSON)), "failed (HTTP 400): the request is invalid"),
    ("400-context-size", body_reply(400, json.dumps({"error": {"code": 400, "message": "the request exceeds the available context size", "type": "exceed_context_size_error"}})), "does not fit the model server's context"),
    ("401-text", body_reply(401, "Unauthorized", "text/plain"), "check api_key for model 'hostile'"),
    ("403-json", body_reply(403, json.dumps({"error": {"message": "forbidden"}})), "check api_key"),
    ("404-empty", body_reply(404, b"", "text/plain"), "has no /completion endpoint"),
    ("404-text", body_reply(404, "File Not Found", "text/plain"), "HTTP 404"),
    ("405", body_reply(405, "Method Not Allowed", "text/plain"), "HTTP 405"),
    ("413", body_reply(413, "Payload Too Large", "text/plain"), "HTTP 413"),
    ("429-openai-json", body_reply(429, json.dumps({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}})), "Rate limit reached"),
    ("500-llama-decode", body_reply(500, json.dumps({"error": {"code": 500, "message": "llama_decode failed"}})), "HTTP 500): llama_decode failed"),
    ("500-empty", body_reply(500, b""), "HTTP 500"),
    ("500-one-megabyte", body_reply(500, "x" * 1_000_000, "text/plain"), "HTTP 500"),
    ("500-binary", body_reply(500, bytes(range(256)) * 40, "application/octet-stream"), "HTTP 500"),
    ("501", body_reply(501, json.dumps({"error": {"code": 501, "message": "This server does not support infill", "type": "not_supported_error"}})), "HTTP 501"),
    ("502-html-proxy-page", body_reply(502, html_page("502 Bad Gateway"), "text/html"), "an HTML page titled '502 Bad Gateway'"),
    ("503-loading", body_reply(503, json.dumps({"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}})), "is not ready (HTTP 503: Loading model)"),
    ("504-html-no-type", body_reply(504, html_page("Gateway Timeout"), "text/plain"), "an HTML page titled 'Gateway Timeout'"),
    ("200-captive-portal-html", body_reply(200, html_page("Sign in to Wi-Fi"), "text/html"), "not an event stream"),
    ("302-redirect", [head(302, "text/plain", chunked="no", Location="http://example.invalid/", Content_Length="0")], "ended the answer without finishing it"),
    ("pings-forever", pings_forever, f"sent no answer within {TIMEOUT:g} s"),
    ("content-then-pings", content_then_pings, f"stopped sending the answer for {TIMEOUT:g} s"),
    ("content-then-silence", [head(), event({"content": "def main():\n", "stop": False}), 30.0], f"stopped sending the answer for {TIMEOUT:g} s"),
    ("head-then-silence", [head(), 30.0], f"sent no answer within {TIMEOUT:g} s"),
    ("no-head-at-all", [30.0], f"sent no answer within {TIMEOUT:g} s"),
    ("head-a-byte-at-a-time", trickle(head()), f"sent no answer within {TIMEOUT:g} s"),
    ("error-body-a-byte-at-a-time", [head(500, "text/plain", chunked="no", Content_Length="400"), *trickle(b"x" * 400)], "HTTP 500"),
    ("close-without-answering", [CLOSE], "closed the connection without answering"),
    ("close-mid-answer", [head(), event({"content": "a", "stop": False}), event({"content": "b", "stop": False}), CLOSE], "broke the connection mid-answer (after 2 tokens)"),
    ("flood-past-max-tokens", flood, "reached max_tokens (40)"),
    ("line-of-two-megabytes", huge_line, "a line longer than 1024 KiB"),
    ("invalid-utf8", [head(), chunk(b'data: {"content": "\xff\xfe", "stop": false}\n\n'), END], "not UTF-8"),
    ("ends-inside-a-utf8-character", [head(), event({"content": "a", "stop": False}), chunk(b"data: \xe2\x82"), END], "UTF-8"),
    ("stop-is-the-string-false", [head(), event({"content": "x = 1\n", "stop": "false"}), END], "malformed event: 'stop'"),
    ("content-is-a-number", [head(), event({"content": 42, "stop": False}), END], "malformed event: 'content'"),
    ("truncated-is-a-string", [head(), event({"content": "", "stop": True, "truncated": "yes"}), END], "malformed event: 'truncated'"),
    ("done-without-stop", [head(), event({"content": "x = 1\n", "stop": False}), chunk("data: [DONE]\n\n"), END], "without finishing it"),
    ("clean-end-without-stop", [head(), event({"content": "x = 1\n", "stop": False}), END], "without finishing it"),
    ("error-event-mid-stream", [head(), event({"content": "x", "stop": False}), event({"error": {"code": 500, "message": "slot unavailable"}}), END], "slot unavailable"),
    ("llamafile-0.8-error-line", [head(), chunk('error: {"code": 500, "message": "kv cache full"}\n\n'), END], "kv cache full"),
    ("malformed-json-event", [head(), chunk('data: {"content": "x", "stop": fals\n\n'), END], "malformed event"),
    ("event-is-a-list", [head(), event("[1, 2, 3]"), END], "malformed event"),
    ("garbage-line", [head(), chunk("HTTP/1.1 200 OK\n"), END], "not an event stream"),
    ("prompt-truncated", [*answer("x = 1\n")[:-2], event({"content": "", "stop": True, "stop_type": "eos", "truncated": True}), END], "cut the prompt"),
    ("stopped-at-limit", answer("x = 1\n", stop_type="limit"), "reached max_tokens"),
    ("empty-answer", answer(), "held no code"),
    ("only-chatter", answer("Sure! Here is the updated code:"), "held no code"),
    ("gzip-that-is-not", [head(200, "text/event-stream", Content_Encoding="gzip"), chunk(b"this is not gzip at all"), END], "broke the connection mid-answer"),
    ("bad-chunk-size", [head(), b"zz\r\nnonsense\r\n"], "broke the connection mid-answer"),
    ("short-content-length", [head(200, "text/event-stream", chunked="no", Content_Length="5000"), b'data: {"content": "x", "stop": false}\n\n', CLOSE], "broke the connection mid-answer"),
]  # fmt: skip


@pytest.mark.parametrize(("script", "message"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_a_hostile_answer_is_refused_in_one_line_and_changes_nothing(
    tmp_path: Path, hostile: HostileServer, script: Any, message: str
) -> None:
    hostile.play("/completion", script if callable(script) else list(script))
    result, target = run_edit(tmp_path, hostile.url)
    assert_refused(result, target, message)


def test_a_tokenizer_that_trickles_is_bounded_by_the_timeout(tmp_path: Path, hostile: HostileServer) -> None:
    """A big file makes the budget ask /tokenize; its answer, a byte every 0.3 s, must not
    keep the edit waiting past request_options.timeout."""
    hostile.play("/tokenize", [head(200, "application/json"), *trickle(b'{"tokens": [1, 2, 3]}')])
    hostile.play("/completion", answer(*good_words()))
    target = tmp_path / "app.py"
    big = SOURCE + "".join(f"value_{i} = {i}\n" for i in range(3000))
    target.write_text(big)
    config = config_for(tmp_path, hostile.url, contextLength=4096)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "llamafile_ls", "edit", str(target), "--lines", "4-5", "-i", "x", "--write",
         "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert time.monotonic() - started < 15
    assert result.returncode == 1 and "did not answer /tokenize in time" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and target.read_text() == big


def test_an_html_error_page_is_named_by_its_title_not_printed(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/completion", body_reply(502, html_page("502 Bad Gateway", size=30_000), "text/html"))
    result, target = run_edit(tmp_path, hostile.url)
    line = assert_refused(result, target, "HTTP 502")
    assert "<p>" not in line and "upstream server" not in line


def test_nothing_listening_names_the_address_and_how_to_start_a_server(tmp_path: Path) -> None:
    port = free_port()
    result, target = run_edit(tmp_path, f"http://127.0.0.1:{port}")
    assert_refused(result, target, f"no model server answers at http://127.0.0.1:{port}: start it with")


def test_a_post_is_not_sent_twice_when_the_server_closes_without_answering(
    tmp_path: Path, hostile: HostileServer
) -> None:
    hostile.play("/completion", [CLOSE])
    result, target = run_edit(tmp_path, hostile.url)
    assert_refused(result, target, "closed the connection without answering")
    assert len([seen for seen in hostile.seen if seen.path == "/completion"]) == 1


def test_a_flood_is_cut_on_our_side_and_the_connection_closed(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/completion", flood)
    started = time.monotonic()
    result, target = run_edit(tmp_path, hostile.url)
    assert_refused(result, target, "reached max_tokens")
    assert time.monotonic() - started < 20  # not minutes of reading an endless stream


ANSWERED: list[tuple[str, list[Action]]] = [
    ("split-a-byte-at-a-time", split_everywhere(good_words())),
    ("crlf-events-split", split_everywhere(good_words(), "\r\n")),
    ("lone-cr-events", split_everywhere(good_words(), "\r")),
    ("utf8-split-across-reads", split_everywhere(["def main():\n", "    return os.getcwd()", " or '.'\n"])),
    ("comments-ids-and-retries-ignored", [head(), chunk(": hello\n\nid: 1\nevent: message\nretry: 10\n"), *answer(*good_words())[1:]]),
    ("json-body-instead-of-stream", body_reply(200, json.dumps({"content": "def main():\n    return os.getcwd() or '.'\n", "stop": True, "stop_type": "eos"}))),
    ("old-stopped-eos-field", [head(), *(event({"content": w, "stop": False}) for w in good_words()), event({"content": "", "stop": True, "stopped_eos": True}), END]),
    ("pings-between-tokens", [head(), *(part for word in good_words() for part in (chunk(": ping\n\n"), event({"content": word, "stop": False}))), event({"content": "", "stop": True}), END]),
]  # fmt: skip


@pytest.mark.parametrize("script", [case[1] for case in ANSWERED], ids=[case[0] for case in ANSWERED])
def test_an_odd_but_valid_answer_lands_exactly(tmp_path: Path, hostile: HostileServer, script: list[Action]) -> None:
    hostile.play("/completion", script)
    result, target = run_edit(tmp_path, hostile.url)
    assert_applied(result, target)


def test_unicode_content_split_inside_characters_arrives_whole(tmp_path: Path, hostile: HostileServer) -> None:
    words = ["def main():\n", "    return os.getcwd() or 'ünïcødé 𝄞 ✓'\n"]
    hostile.play("/completion", split_everywhere(words))
    result, target = run_edit(tmp_path, hostile.url)
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8") == SOURCE.replace(
        "def main():\n    return os.getcwd()", "def main():\n    return os.getcwd() or 'ünïcødé 𝄞 ✓'"
    )


def test_the_request_carries_the_key_and_the_answer_is_applied(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/completion", answer(*good_words()))
    result, target = run_edit(tmp_path, hostile.url)
    assert_applied(result, target)
    (request,) = [seen for seen in hostile.seen if seen.path == "/completion"]
    assert request.headers["authorization"] == f"Bearer {SECRET}"


# --- a real llama-server killed mid-answer -------------------------------------------------


@pytest.mark.real
def test_a_real_llama_server_killed_mid_answer_changes_nothing(tmp_path: Path, real_server: RealServer) -> None:
    """kill -9 of a real llama-server while it streams: the edit fails in one line."""
    import real_parts

    port = free_port()
    log = (tmp_path / "victim.log").open("wb")
    victim = subprocess.Popen(
        [str(real_parts.server_path()), "-m", str(real_parts.model_path()), "--host", "127.0.0.1",
         "--port", str(port), "-c", "2048", "-np", "1", "-t", "1"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the victim llama-server did not start"
            time.sleep(0.1)
        target = tmp_path / "app.py"
        target.write_bytes(SOURCE.encode())
        config = config_for(
            tmp_path,
            f"http://127.0.0.1:{port}",
            completionOptions={"maxTokens": 2000, "temperature": 1.5},
            requestOptions={"timeout": 30},
            promptTemplates={"edit": "<|im_start|>user\nWrite a very long story.<|im_end|>\n<|im_start|>assistant\n"},
            llamaCppArgs={"ignore_eos": True},
        )
        cli = subprocess.Popen(
            [sys.executable, "-m", "llamafile_ls", "edit", str(target), "--lines", "4-5", "-i", "x", "--write",
             "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # Kill once tokens are flowing (the CLI reports progress once a second when piped).
        time.sleep(2.5)
        victim.send_signal(signal.SIGKILL)
        stdout, stderr = cli.communicate(timeout=60)
        result = subprocess.CompletedProcess(cli.args, cli.returncode, stdout, stderr)
        assert_refused(result, target, "broke the connection mid-answer")
    finally:
        victim.kill()
        victim.wait(10)
        log.close()
