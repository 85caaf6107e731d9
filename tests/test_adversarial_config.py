"""The config family of the adversarial suite: whatever config.json holds, loading it either
gives a usable Config or raises one ConfigError that says what is wrong and where (file,
line, column, JSON path) — never a traceback later, never a secret in a message.

In the texts below, ``‸`` marks where the error must point; it is removed before parsing.
"""

from __future__ import annotations

import codecs
import importlib.util
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import certifi
import h11
import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from llamafile_ls import config_file, jsonc
from llamafile_ls.config import MAX_CONFIG_BYTES, Config, parse_config
from llamafile_ls.config_store import ConfigStore
from llamafile_ls.errors import ConfigError
from llamafile_ls.providers.base import Prompt
from llamafile_ls.providers.llamacpp import completion_body

MARK = "‸"
SECRET = "sk-SECRET-4242"
SOURCE = "/home/me/.continue/config.json"
posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


def model(*lines: str, title: bool = True) -> str:
    """A config whose one model has these lines (after a title, unless it is one of them)."""
    body = (['"title": "t"'] if title else []) + list(lines)
    inner = ",\n".join(f"      {line}" for line in body)
    return '{\n  // adversarial\n  "models": [\n    {\n' + inner + ",\n    },\n  ],\n}\n"


def marked(text: str) -> tuple[str, int | None, int | None]:
    """The text without its mark, and the mark's 1-based line and column (None: no mark)."""
    if MARK not in text:
        return text, None, None
    offset = text.index(MARK)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return text.replace(MARK, "", 1), line, column


def nested(depth: int, mark_at: int) -> str:
    """A config whose llamaCppArgs hold arrays ``depth`` deep; the mark before opener ``mark_at``."""
    opens = "".join(MARK + "[" if level == mark_at else "[" for level in range(1, depth + 1))
    return model(f'"llamaCppArgs": {{"x": {opens}{"]" * depth}}}')


def assert_inside(text: str, error: ConfigError) -> None:
    """The error's line and column, where it has them, are a place in the text."""
    lines = text.split("\n")
    if error.line is not None:
        assert 1 <= error.line <= len(lines), (error, len(lines))
        if error.column is not None:
            assert 1 <= error.column <= len(lines[error.line - 1]) + 1, error


def one_line(message: str) -> None:
    assert "\n" not in message and "\r" not in message, message


# --- parse_config: errors, each exactly located -------------------------------------------

BIG_ARRAY = "[" + ", ".join(["1"] * 50) + "]"

ERRORS = [
    # types
    pytest.param(model('"title": ‸5', title=False), "models[0].title: expected a string, got 5", None, id="config-types-title-number"),
    pytest.param(model('"apiKey": ‸987654321'), "models[0].api_key: expected a string, got a number", "987654321", id="config-types-api-key-number"),
    pytest.param(model(f'"apiKey": ‸{{"value": "{SECRET}"}}'), "models[0].api_key: expected a string, got an object", SECRET, id="config-types-api-key-object"),
    pytest.param(model(f'"api_key": ‸["{SECRET}"]'), "models[0].api_key: expected a string, got a list", SECRET, id="config-types-api-key-list"),
    pytest.param(model(f'"requestOptions": {{"headers": ‸"Bearer {SECRET}"}}'), "models[0].request_options.headers: expected an object, got a string", SECRET, id="config-types-headers-string"),
    pytest.param(model('"requestOptions": {"headers": {"X-Key": ‸987654321}}'), "models[0].request_options.headers.X-Key: expected a string, got a number", "987654321", id="config-types-header-value-number"),
    pytest.param(model('"requestOptions": {"timeout": ‸"slow"}'), "models[0].request_options.timeout: expected a number, got 'slow'", None, id="config-types-timeout-string"),
    pytest.param(model('"contextLength": ‸4096.5'), "models[0].context_length: expected an integer, got 4096.5", None, id="config-types-context-length-float"),
    pytest.param(model('"contextLength": ‸true'), "models[0].context_length: expected an integer, got True", None, id="config-types-context-length-bool"),
    pytest.param(model('"llamaCppArgs": {"stop": ‸5}'), "models[0].llama_cpp_args.stop: expected a string or a list of strings, got 5", None, id="config-types-llama-cpp-stop"),
    pytest.param(model(f'"llamaCppArgs": {{"stop": ‸{BIG_ARRAY}}}'), "expected a string or a list of strings, got a list of 50 items", None, id="config-types-big-value-described-briefly"),
    pytest.param('{\n  "systemMessage": ‸5,\n  "models": [{"title": "t"}],\n}', "system_message: expected a string, got 5", None, id="config-types-top-level-system-message"),
    pytest.param(model('"title": ‸"bad \\ud800 escape"', title=False), "a string has an unpaired surrogate escape (\\ud800-\\udfff), which is not a character", None, id="config-types-unpaired-surrogate"),
    pytest.param(model('"llamaCppArgs": {"x": [1, {"\\udc00": ‸2}]}'), "a string has an unpaired surrogate escape", None, id="config-types-unpaired-surrogate-in-a-key"),
    # nesting
    pytest.param(nested(10_000, mark_at=61), "the JSON is nested more than 64 levels deep", None, id="config-nesting-10000-levels"),
    pytest.param(nested(61, mark_at=61), "nested more than 64 levels deep", None, id="config-nesting-65-levels"),
    pytest.param("[" * 64 + "‸" + "[" * 100_000, "nested more than 64 levels deep", None, id="config-nesting-unclosed"),
    pytest.param(model('"llamaCppArgs": ' + '{"a": ' * 61 + "‸" + '{"a": 1' + "}" * 62), "nested more than 64 levels deep", None, id="config-nesting-objects"),
    # size
    pytest.param("‸", "the config is empty", None, id="config-size-empty"),
    pytest.param("‸  // only a comment\n  /* and another */\n", "the config is empty", None, id="config-size-only-comments"),
    pytest.param("{" + " " * MAX_CONFIG_BYTES + "}", "the most llamafile-ls reads is 20 MB", None, id="config-size-over-the-cap"),
    # NaN and other numbers JSON allows but a config cannot use
    pytest.param(model('"requestOptions": {"timeout": ‸NaN}'), "invalid JSON: NaN is not a JSON number", None, id="config-nan-timeout"),
    pytest.param(model('"contextLength": ‸Infinity'), "invalid JSON: Infinity is not a JSON number", None, id="config-nan-infinity"),
    pytest.param(model('"completionOptions": {"temperature": ‸-Infinity}'), "invalid JSON: -Infinity is not a JSON number", None, id="config-nan-minus-infinity"),
    pytest.param(model('"llamaCppArgs": {"mirostat_tau": ‸NaN}'), "NaN is not a JSON number", None, id="config-nan-in-llama-cpp-args"),
    pytest.param(model('"title": "NaN"', '"requestOptions": {"timeout": ‸1e999}', title=False), "a number too large to represent", None, id="config-nan-overflowing-float"),
    pytest.param(model('"contextLength": ‸' + "9" * 5000), "an integer with more than 4300 digits", None, id="config-nan-huge-integer"),
    pytest.param(model('"requestOptions": {"timeout": ‸1' + "0" * 400 + "}"), "models[0].request_options.timeout: expected a number, got 1000000000000000000000000000000000000...", None, id="config-numbers-integer-beyond-float"),
    pytest.param(model('"requestOptions": {"timeout": ‸1e300}'), "models[0].request_options.timeout: must be <= 1000000", None, id="config-numbers-absurd-timeout"),
    pytest.param(model('"requestOptions": {"timeout": ‸0}'), "models[0].request_options.timeout: must be > 0", None, id="config-numbers-zero-timeout"),
    pytest.param(model('"contextLength": ‸100000000'), "models[0].context_length: must be <= 10000000", None, id="config-numbers-absurd-context"),
    pytest.param(model('"contextLength": ‸' + "9" * 4000), "models[0].context_length: must be <= 10000000, got 9999999999999999999999999999999999999...", None, id="config-numbers-long-integer-shown-short"),
    pytest.param(model('"completionOptions": {"maxTokens": ‸99999999}'), "models[0].completion_options.max_tokens: must be <= 10000000", None, id="config-numbers-absurd-max-tokens"),
    pytest.param(model('"llamafileStartTimeout": ‸-5'), "models[0].llamafile_start_timeout: must be > 0", None, id="config-numbers-negative-start-timeout"),
    pytest.param('{\n  "requestOptions": {"timeout": ‸-1},\n  "models": [{"title": "t"}],\n}', "request_options.timeout: must be > 0", None, id="config-numbers-shared-timeout"),
    # URLs
    pytest.param(model('"apiBase": ‸"localhost:8080"'), "models[0].api_base: must be an http:// or https:// URL", None, id="config-url-no-scheme"),
    pytest.param(model('"apiBase": ‸"ftp://localhost:8080"'), "models[0].api_base: must be an http:// or https:// URL", None, id="config-url-ftp"),
    pytest.param(model('"apiBase": ‸"http://"'), "models[0].api_base: has no host name", None, id="config-url-no-host"),
    pytest.param(model('"apiBase": ‸"http://localhost:99999"'), "models[0].api_base: has a port that is not a number from 1 to 65535", None, id="config-url-port-99999"),
    pytest.param(model('"apiBase": ‸"http://localhost:80a8"'), "has a port that is not a number from 1 to 65535", None, id="config-url-port-letters"),
    pytest.param(model('"apiBase": ‸"http://localhost:0"'), "has a port that is not a number from 1 to 65535", None, id="config-url-port-zero"),
    pytest.param(model('"apiBase": ‸"http://local host:8080"'), "models[0].api_base: contains whitespace", None, id="config-url-space"),
    pytest.param(model('"apiBase": ‸"http://localhost:8080\\u0000"'), "models[0].api_base: contains a control character", None, id="config-url-nul"),
    pytest.param(model('"apiBase": ‸"http://localhost:8080\\n"'), "models[0].api_base: contains a control character", None, id="config-url-newline"),
    pytest.param(model('"apiBase": ‸"http://[::1:8080"'), "models[0].api_base: is not a URL", None, id="config-url-unclosed-ipv6"),
    pytest.param(model('"apiBase": ‸"http://user:hunter2@localhost:99999"'), "models[0].api_base: has a port that is not", "hunter2", id="config-url-password-not-shown"),
    pytest.param(model('"apiBase": ‸"http://bücher.example"'), "models[0].api_base: contains a non-ASCII character", None, id="config-url-non-ascii"),
    pytest.param(model('"apiBase": ‸"http://localhost:8080/?x=1"'), "models[0].api_base: must not have a query", None, id="config-url-query"),
    pytest.param(model('"apiBase": ‸8080'), "models[0].api_base: expected a string, got 8080", None, id="config-url-number"),
    pytest.param(model('"requestOptions": {"proxy": ‸"ftp://proxy:21"}'), "models[0].request_options.proxy: must be an http://, https://, socks5:// or socks5h:// URL", None, id="config-url-proxy-ftp"),
    pytest.param(model('"requestOptions": {"proxy": ‸"proxy:3128"}'), "models[0].request_options.proxy: must be an http://", None, id="config-url-proxy-no-scheme"),
    pytest.param('{\n  "requestOptions": {"proxy": ‸"http://me:hunter2@proxy:70000"},\n  "models": [{"title": "t"}],\n}', "request_options.proxy: has a port that is not", "hunter2", id="config-url-shared-proxy-password-not-shown"),
    # headers
    pytest.param(model('"requestOptions": {"headers": {"X Team": ‸"a"}}'), "models[0].request_options.headers: the name of header #1 is not a valid HTTP header name", "X Team", id="config-headers-name-space"),
    pytest.param(model(f'"requestOptions": {{"headers": {{"X-A": "b", "Authorization: Bearer {SECRET}": ‸""}}}}'), "the name of header #2 is not a valid HTTP header name", SECRET, id="config-headers-name-colon"),
    pytest.param(model('"requestOptions": {"headers": {"": ‸"x"}}'), "the name of header #1 is not a valid HTTP header name", None, id="config-headers-name-empty"),
    pytest.param(model('"requestOptions": {"headers": {"X-Café": ‸"x"}}'), "the name of header #1 is not a valid HTTP header name", "Café", id="config-headers-name-non-ascii"),
    pytest.param(model(f'"requestOptions": {{"headers": {{"X-A": ‸"ok\\r\\nX-Injected: {SECRET}"}}}}'), "models[0].request_options.headers.X-A: the value contains a line break", SECRET, id="config-headers-value-crlf"),
    pytest.param(model(f'"requestOptions": {{"headers": {{"X-A": ‸"{SECRET}\\u0000"}}}}'), "the value contains a line break or a NUL character", SECRET, id="config-headers-value-nul"),
    pytest.param(model(f'"requestOptions": {{"headers": {{"X-A": ‸"{SECRET}\\u001b[31m"}}}}'), "the value contains a control character", SECRET, id="config-headers-value-escape"),
    pytest.param(model(f'"requestOptions": {{"headers": {{"X-A": ‸"{SECRET}é"}}}}'), "the value contains a non-ASCII character", SECRET, id="config-headers-value-non-ascii"),
    pytest.param(model(f'"requestOptions": {{"headers": {{"X-A": "fine",\n        "X-B": ‸"{SECRET}\\n"}}}}'), "models[0].request_options.headers.X-B: the value contains a line break", SECRET, id="config-headers-second-value"),
    pytest.param(model('"requestOptions": {"headers": {"content-length": ‸"abc"}}'), "models[0].request_options.headers.content-length: this header is set for each request by the HTTP client itself", None, id="config-headers-framing"),
    # keys
    pytest.param(model('"apiKey": ‸"sk-SECRET 4242"'), "models[0].api_key: contains whitespace inside it", "SECRET", id="config-keys-inner-space"),
    pytest.param(model('"apiKey": ‸"sk-SECRET\\n4242"'), "models[0].api_key: contains whitespace inside it", "SECRET", id="config-keys-inner-newline"),
    pytest.param(model(f'"apiKey": ‸"{SECRET}\\u0007x"'), "models[0].api_key: contains a control character", SECRET, id="config-keys-control"),
    pytest.param(model(f'"apiKey": ‸"{SECRET}ü"'), "models[0].api_key: contains a non-ASCII character", SECRET, id="config-keys-non-ascii"),
    # llamafile_command
    pytest.param(model('"llamafileCommand": ‸"/opt/m.llamafile --server \\"oops"'), "models[0].llamafile_command: cannot be split into arguments", None, id="config-command-unclosed-quote"),
    pytest.param(model('"llamafileCommand": ‸"/opt/m.llamafile \\\\"'), "models[0].llamafile_command: cannot be split into arguments", None, id="config-command-trailing-backslash"),
    pytest.param(model('"llamafileCommand": ‸"/opt/m.llamafile\\u0000 --server"'), "models[0].llamafile_command: contains a NUL character", None, id="config-command-nul"),
    pytest.param(model('"llamafileCommand": ‸"   "'), "models[0].llamafile_command: is blank", None, id="config-command-blank"),
    # syntax
    pytest.param('{\n  "models": [{"title": ‸"t', "invalid JSON: Unterminated string starting at", None, id="config-syntax-unterminated-string"),
    pytest.param('{\n  "models": [{"title": "t"}],\n}\n‸]', "invalid JSON: Extra data", None, id="config-syntax-extra-data"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "words", "secret"), ERRORS)
def test_a_broken_value_is_one_located_error(text: str, words: str, secret: str | None) -> None:
    text, line, column = marked(text)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, SOURCE)
    error = caught.value
    message = str(error)
    assert words in message
    assert (error.file, error.line, error.column) == (SOURCE, line, column)
    where = ":".join(str(part) for part in (SOURCE, line, column) if part is not None)
    assert message.startswith(f"{where}: ")
    one_line(message)
    assert_inside(text, error)
    if secret is not None:
        assert secret not in message
        assert secret not in repr(error)


# --- parse_config: what loads, and how ----------------------------------------------------


def test_a_pasted_newline_around_the_api_key_is_trimmed_with_a_located_warning() -> None:
    text, line, column = marked(model(f'"apiKey": ‸"  {SECRET}\\n"'))
    config = parse_config(text, SOURCE)
    assert config.models[0].api_key == SECRET
    (warning,) = config.warnings
    assert (warning.line, warning.column) == (line, column)
    assert warning.message == "models[0].api_key: has whitespace around it (a pasted newline?); it is trimmed"
    assert SECRET not in warning.message


def test_a_blank_api_key_sends_no_key() -> None:
    config = parse_config(model('"apiKey": "\\n"'))
    assert config.models[0].api_key is None
    assert "models[0].api_key: is blank; no key is sent" in config.warnings[0].message


def test_spaces_around_a_header_value_are_trimmed_with_a_warning() -> None:
    text, line, column = marked(model(f'"requestOptions": {{"headers": {{"X-Key": ‸" {SECRET}\\t"}}}}'))
    config = parse_config(text)
    assert config.models[0].request_options.headers == {"X-Key": SECRET}
    (warning,) = config.warnings
    assert (warning.line, warning.column) == (line, column)
    assert "headers.X-Key: the value has spaces around it; they are trimmed" in warning.message
    assert SECRET not in warning.message


@pytest.mark.parametrize(
    ("text", "check"),
    [
        pytest.param(nested(60, mark_at=0), lambda c: len(json.dumps(c.models[0].llama_cpp_args)) > 120, id="config-nesting-64-levels-is-fine"),
        pytest.param(model('"title": "NaN", "model": "[[[[' + "[" * 200 + '"', title=False), lambda c: c.models[0].title == "NaN", id="config-nan-and-brackets-in-strings-are-text"),
        pytest.param(model('"apiBase": "http://[::1]:8080/v1"'), lambda c: c.models[0].api_base == "http://[::1]:8080/v1", id="config-url-ipv6"),
        pytest.param(model('"requestOptions": {"proxy": "socks5://127.0.0.1:1080"}'), lambda c: c.models[0].request_options.proxy.startswith("socks5"), id="config-url-socks5-proxy"),
        pytest.param(model('"requestOptions": {"headers": {"X-Tab": "a\\tb"}}'), lambda c: c.models[0].request_options.headers["X-Tab"] == "a\tb", id="config-headers-inner-tab"),
        pytest.param(model('"requestOptions": {"timeout": 1e3}', '"contextLength": 1000000'), lambda c: c.models[0].request_options.timeout == 1000, id="config-numbers-large-but-sane"),
        pytest.param(model('"llamafileCommand": "~/m.llamafile --server --port \'8 0\'"'), lambda c: len(shlex.split(c.models[0].llamafile_command)) == 4, id="config-command-quotes"),
    ],
)  # fmt: skip
def test_what_is_odd_but_valid_loads(text: str, check: Callable[[Config], bool]) -> None:
    config = parse_config(text)
    assert check(config)
    assert config.warnings == ()


def test_shared_options_are_checked_where_they_are_written_and_models_get_the_cleaned_values() -> None:
    text = '{\n  "requestOptions": {"headers": {"X-A": " a "}},\n  "models": [{"title": "a"}, {"title": "b"}],\n}'
    config = parse_config(text)
    assert [m.request_options.headers for m in config.models] == [{"X-A": "a"}, {"X-A": "a"}]
    assert [(w.line, w.message) for w in config.warnings] == [
        (2, "request_options.headers.X-A: the value has spaces around it; they are trimmed")
    ]


def test_the_position_of_a_value_is_that_of_the_key_in_force() -> None:
    text = '{"models": [{"title": "t",\n "api_base": "http://ok:1",\n "apiBase": "http://bad:99999"}]}'
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert (caught.value.line, caught.value.column) == (3, 13)


# --- the I/O layer: files, encodings, CA bundles ------------------------------------------

GOOD = '{\n  "models": [{"title": "ünïcode"}],\n}\n'


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


FILES: list[Any] = [
    pytest.param(lambda d: write(d / "c.json", codecs.BOM_UTF16_LE + GOOD.encode("utf-16-le")), None, id="config-encoding-utf16-le-bom"),
    pytest.param(lambda d: write(d / "c.json", codecs.BOM_UTF16_BE + GOOD.encode("utf-16-be")), None, id="config-encoding-utf16-be-bom"),
    pytest.param(lambda d: write(d / "c.json", codecs.BOM_UTF8 + GOOD.replace("\n", "\r\n").encode()), None, id="config-encoding-utf8-bom-crlf"),
    pytest.param(lambda d: write(d / "c.json", codecs.BOM_UTF16_LE + GOOD.encode("utf-16-le")[:-1]), "starts with a UTF-16 byte order mark but is not UTF-16 text", id="config-encoding-utf16-truncated"),
    pytest.param(lambda d: write(d / "c.json", GOOD.encode("utf-16-le")), "looks like UTF-16 or UTF-32 text without a byte order mark", id="config-encoding-utf16-no-bom"),
    pytest.param(lambda d: write(d / "c.json", b'{\n  "models": [{"title": "caf\xe9"}]\n}'), "c.json:2:28: the config file is not UTF-8 text: byte 0xe9 at byte offset 29", id="config-encoding-latin1"),
    pytest.param(lambda d: write(d / "c.json", b""), "c.json:1:1: the config is empty", id="config-files-empty"),
    pytest.param(lambda d: (d / "c.json").mkdir() or d / "c.json", "c.json is a directory, not a file", id="config-files-directory"),
    pytest.param(lambda d: os.mkfifo(d / "c.json") or d / "c.json", "c.json is a FIFO (named pipe); it must be a regular file", marks=posix_only, id="config-files-fifo"),
    pytest.param(lambda d: os.truncate(write(d / "c.json", b"{"), MAX_CONFIG_BYTES + 1) or d / "c.json", "c.json is 20.0 MB; the most llamafile-ls reads is 20 MB", id="config-files-over-the-cap"),
    pytest.param(lambda d: os.symlink(d / "c.json", d / "c.json") or d / "c.json", "cannot read config file", marks=posix_only, id="config-files-symlink-loop"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "words"), FILES)
def test_files_load_or_fail_with_one_clear_error(
    tmp_path: Path, build: Callable[[Path], Path], words: str | None
) -> None:
    path = build(tmp_path)
    if words is None:
        config = config_file.load_config(str(path))
        assert config.models[0].title == "ünïcode"
        assert config.source == str(path)
        return
    with pytest.raises(ConfigError) as caught:
        config_file.load_config(str(path))
    assert words in str(caught.value)
    one_line(str(caught.value))


def test_lines_of_a_crlf_file_are_counted_as_an_editor_counts_them(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", b'{\r\n  "models": [{"title": "t",\r\n  "contextLength": "big"}]\r\n}')
    with pytest.raises(ConfigError) as caught:
        config_file.load_config(str(path))
    assert (caught.value.line, caught.value.column) == (3, 20)


def marked_file(directory: Path, text: str, name: str = "config.json") -> Path:
    """The text, without its mark, in a file; the mark's "line:column" in the file "where"."""
    clean, line, column = marked(text)
    (directory / "where").write_text(f"{line}:{column}")
    return write(directory / name, clean.encode())


def ca_config(directory: Path, ca_path: str, *, shared: bool = False) -> Path:
    setting = f'"requestOptions": {{"caBundlePath": ‸{json.dumps(ca_path)}}}'
    text = "{\n  " + setting + ',\n  "models": [{"title": "t"}],\n}\n' if shared else model(setting)
    return marked_file(directory, text)


def pem(directory: Path) -> Path:
    return Path(shutil.copy(certifi.where(), directory / "ca.pem"))


CA_CASES: list[Any] = [
    pytest.param(lambda d: str(d / "nope.pem"), "models[0].request_options.ca_bundle_path: {d}/nope.pem does not exist", False, id="config-ca-missing"),
    pytest.param(lambda d: str(d / "nope.pem"), "request_options.ca_bundle_path: {d}/nope.pem does not exist", True, id="config-ca-missing-shared"),
    pytest.param(lambda d: str(d), "models[0].request_options.ca_bundle_path: {d} is a directory, not a file", False, id="config-ca-directory"),
    pytest.param(lambda d: os.mkfifo(d / "fifo") or str(d / "fifo"), "{d}/fifo is a FIFO (named pipe); it must be a regular file", False, marks=posix_only, id="config-ca-fifo"),
    pytest.param(lambda d: str(write(d / "junk.pem", b"not a certificate\n")), "{d}/junk.pem is not a bundle of PEM certificates", False, id="config-ca-not-pem"),
    pytest.param(lambda d: str(write(d / "empty.pem", b"")), "{d}/empty.pem is not a bundle of PEM certificates", False, id="config-ca-empty"),
]  # fmt: skip


@pytest.mark.parametrize(("ca_path", "words", "shared"), CA_CASES)
def test_a_ca_bundle_that_cannot_be_used_is_a_located_error_from_the_io_layer(
    tmp_path: Path, ca_path: Callable[[Path], str], words: str, shared: bool
) -> None:
    path = ca_config(tmp_path, ca_path(tmp_path), shared=shared)
    line, column = (tmp_path / "where").read_text().split(":")
    parse_config(path.read_text(), str(path))  # the pure parser does not look at files
    for load in (lambda: config_file.load_config(str(path)), lambda: _store_error(path)):
        with pytest.raises(ConfigError) as caught:
            load()
        error = caught.value
        assert (error.file, error.line, error.column) == (str(path), int(line), int(column))
        assert words.format(d=tmp_path) in str(error)


def _store_error(path: Path) -> None:
    state = ConfigStore(str(path)).refresh(force=True)
    assert state.config.source is None  # the built-in default stays: nothing good was read
    assert state.error is not None
    raise state.error


def test_an_unreadable_ca_bundle_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = pem(tmp_path)
    ca.chmod(0)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # root reads every file: refuse it the way the kernel would
        real_open = open

        def refusing_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            if str(file) == str(ca):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("builtins.open", refusing_open)
    with pytest.raises(ConfigError, match=r"ca_bundle_path: cannot read .*ca\.pem: Permission denied"):
        config_file.load_config(str(ca_config(tmp_path, str(ca))))


def test_a_ca_bundle_path_expands_tilde_and_is_relative_to_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    pem(home)
    config = config_file.load_config(str(ca_config(tmp_path, "~/ca.pem")))
    assert config.models[0].request_options.ca_bundle_path == str(home / "ca.pem")
    pem(tmp_path)
    config = config_file.load_config(str(ca_config(tmp_path, "ca.pem", shared=True)))
    assert config.models[0].request_options.ca_bundle_path == str(tmp_path / "ca.pem")


def test_a_broken_ca_bundle_keeps_the_last_good_config_in_force(tmp_path: Path) -> None:
    path = write(tmp_path / "config.json", model('"model": "first"').encode())
    store = ConfigStore(str(path))
    assert store.refresh(force=True).config.models[0].model == "first"
    ca_config(tmp_path, str(tmp_path / "gone.pem"))
    state = store.refresh(force=True)
    assert state.config.models[0].model == "first"
    assert state.error is not None and "gone.pem does not exist" in str(state.error)


@pytest.mark.skipif(importlib.util.find_spec("socksio") is not None, reason="socksio is installed here")
def test_a_socks_proxy_without_its_package_is_a_located_error_from_the_io_layer(tmp_path: Path) -> None:
    path = marked_file(tmp_path, model('"requestOptions": {"proxy": ‸"socks5://127.0.0.1:1080"}'))
    line, column = (int(part) for part in (tmp_path / "where").read_text().split(":"))
    assert parse_config(path.read_text(), str(path)).models[0].request_options.proxy == "socks5://127.0.0.1:1080"
    with pytest.raises(ConfigError) as caught:
        config_file.load_config(str(path))
    assert (caught.value.line, caught.value.column) == (line, column)
    assert "models[0].request_options.proxy: a SOCKS proxy needs the socksio package" in str(caught.value)


@posix_only
def test_the_server_never_opens_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "c.json")
    state = ConfigStore(str(tmp_path / "c.json")).refresh(force=True)  # would hang if it opened it
    assert state.error is not None and "is a FIFO" in str(state.error)


# --- configPath from the editor -----------------------------------------------------------


def test_a_relative_config_path_is_relative_to_the_workspace_root(tmp_path: Path) -> None:
    (tmp_path / ".continue").mkdir()
    write(tmp_path / ".continue" / "config.json", model('"model": "here"').encode())
    for root in (str(tmp_path), tmp_path.as_uri()):
        store = ConfigStore()
        state = store.configure(".continue/config.json", root)
        assert state.error is None
        assert state.config.models[0].model == "here"
        assert store.path == tmp_path / ".continue" / "config.json"


def test_a_relative_config_path_without_a_root_is_an_error_and_the_default_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "config.json", model('"model": "from-the-cwd"').encode())
    store = ConfigStore()
    state = store.configure("config.json")
    assert state.error is not None
    assert str(state.error).startswith("configPath must be an absolute path")
    assert state.config.models[0].model == "llamafile"  # the built-in default, not the cwd's file
    assert store.path.is_absolute()
    again = store.refresh()
    assert (again.error, again.changed) == (state.error, False)


def test_an_absolute_config_path_and_the_cli_path_ignore_the_root(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", model('"model": "abs"').encode())
    assert ConfigStore().configure(str(path), "/elsewhere").config.models[0].model == "abs"
    assert ConfigStore(str(path)).configure("relative.json").config.models[0].model == "abs"


# --- through the real CLI -------------------------------------------------------------------

CLI = Path(sys.executable).parent / "llamafile-ls"

CLI_CASES: list[Any] = [
    pytest.param("check", lambda d: marked_file(d, model('"requestOptions": {"timeout": ‸NaN}')), "{where}: invalid JSON: NaN is not a JSON number", None, id="config-cli-check-nan"),
    pytest.param("check", lambda d: marked_file(d, nested(10_000, 61)), "{where}: the JSON is nested more than 64 levels deep", None, id="config-cli-check-deep"),
    pytest.param("check", lambda d: marked_file(d, model('"apiBase": ‸"http://localhost:99999"')), "{where}: models[0].api_base: has a port that is not a number from 1 to 65535", None, id="config-cli-check-port"),
    pytest.param("check", lambda d: write(d / "c.json", model(f'"requestOptions": {{"headers": {{"X-A": "{SECRET}\\r\\n"}}}}').encode()), "headers.X-A: the value contains a line break", SECRET, id="config-cli-check-header-crlf"),
    pytest.param("check", lambda d: write(d / "c.json", model('"apiKey": "sk-SECRET 4242"').encode()), "models[0].api_key: contains whitespace inside it", "SECRET", id="config-cli-check-api-key"),
    pytest.param("check", lambda d: ca_config(d, str(d / "nope.pem")), "{where}: models[0].request_options.ca_bundle_path: {d}/nope.pem does not exist", None, id="config-cli-check-ca-missing"),
    pytest.param("check", lambda d: write(d / "c.json", b"\xff\xfe{\x00\n"), "starts with a UTF-16 byte order mark but is not UTF-16 text", None, id="config-cli-check-utf16-broken"),
    pytest.param("edit", lambda d: os.mkfifo(d / "c.json") or d / "c.json", "is a FIFO (named pipe)", None, marks=posix_only, id="config-cli-edit-fifo"),
    pytest.param("edit", lambda d: write(d / "c.json", b'{"models": [{"title": "caf\xe9"}]}'), "c.json:1:27: the config file is not UTF-8 text: byte 0xe9 at byte offset 26", None, id="config-cli-edit-latin1"),
    pytest.param("edit", lambda d: (d / "c.json").mkdir() or d / "c.json", "is a directory, not a file", None, id="config-cli-edit-directory"),
    pytest.param("edit", lambda d: write(d / "c.json", b"  // nothing\n"), "c.json:1:1: the config is empty", None, id="config-cli-edit-empty"),
    pytest.param("edit", lambda d: write(d / "c.json", model('"llamafileCommand": "/opt/x \\"unclosed"').encode()), "models[0].llamafile_command: cannot be split into arguments", None, id="config-cli-edit-command"),
    pytest.param("edit", lambda d: write(d / "c.json", model(f'"apiKey": ["{SECRET}"]').encode()), "models[0].api_key: expected a string, got a list", SECRET, id="config-cli-edit-api-key-type"),
]  # fmt: skip


@pytest.mark.skipif(not CLI.exists(), reason="the llamafile-ls script is not installed next to this Python")
@pytest.mark.parametrize(("command", "build", "words", "secret"), CLI_CASES)
def test_the_cli_says_one_line_and_leaves_the_file_alone(
    tmp_path: Path, command: str, build: Callable[[Path], Path], words: str, secret: str | None
) -> None:
    config = build(tmp_path)
    source = write(tmp_path / "code.py", b"x = 1\r\ny = 2\n")
    before = source.read_bytes()
    args = [str(CLI), "check", "--config", str(config)]
    if command == "edit":
        args = [str(CLI), "edit", str(source), "--lines", "1-1", "--instruction", "x", "--config", str(config)]
    env = {k: v for k, v in os.environ.items() if k != config_file.ENV_VAR}
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("llamafile-ls: error: ")
    where = (tmp_path / "where").read_text() if (tmp_path / "where").exists() else ""
    assert words.format(d=tmp_path, where=f"{config}:{where}") in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert source.read_bytes() == before
    if secret is not None:
        assert secret not in result.stderr + result.stdout


# --- properties: nothing but a Config or a located ConfigError ----------------------------

_OPTION_KEYS = [
    "temperature", "topP", "topK", "presencePenalty", "frequencyPenalty", "stop", "maxTokens",
    "timeout", "verifySsl", "caBundlePath", "proxy", "headers",
]  # fmt: skip
_TRICKY_TEXT = st.sampled_from([
    "", " ", "t", "llamafile", "http://localhost:8080", "https://h:1/v1", "http://[::1]:9", "http://h:99999",
    "socks5://p:1080", "ftp://x", "a\r\nb", "\x00", "sk-key\n", " sk key", "é", "\ud800", "{{{user_input}}}",
    "{{#x}}", "/bin/llamafile --server", "'unclosed", "X-Team", "X Team", "edit", "zephyr", "~/ca.pem",
])  # fmt: skip
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20), _TRICKY_TEXT,
)  # fmt: skip
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), _TRICKY_TEXT), inner, max_size=4)),
    max_leaves=20,
)  # fmt: skip
_OPTIONS = st.dictionaries(st.sampled_from(_OPTION_KEYS), st.one_of(_JSON, st.dictionaries(_TRICKY_TEXT, _TRICKY_TEXT, max_size=3)), max_size=5)  # fmt: skip


def _mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A valid value nine times in ten, else something tricky or random."""
    bad = st.one_of(_TRICKY_TEXT, _JSON)
    return st.integers(0, 19).flatmap(lambda n: good if n < 18 else bad)


_TOKEN_CHARS = st.characters(codec="ascii", categories=["L", "N"], include_characters="!#$%&'*+-.^_`|~")
_ASCII = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
_URL = st.builds(
    "{}://{}:{}{}".format,
    st.sampled_from(["http", "https"]), st.sampled_from(["localhost", "127.0.0.1", "[::1]", "my-host.lan"]),
    st.integers(1, 65535), st.sampled_from(["", "/", "/v1"]),
)  # fmt: skip
_GOOD = {
    "title": st.text(max_size=10),
    "provider": st.sampled_from(["llamafile", "llama.cpp", "ollama"]),
    "model": st.sampled_from(["mistral-7b", "llama-3", "phi", ""]),
    "apiBase": _URL,
    "apiKey": st.builds("{}{}{}".format, st.sampled_from(["", " ", "\n"]), _ASCII, st.sampled_from(["", "\n", "\r\n "])),
    "llamafileCommand": st.sampled_from(["/opt/m.llamafile --server", "~/m --port '8080'", ""]),
    "llamafileStartTimeout": st.floats(0.01, 1e6),
    "llamaCppArgs": st.fixed_dictionaries({}, optional={"stop": st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=3)), "mirostat": st.integers(0, 2), "other": _JSON}),
    "systemMessage": st.text(max_size=20),
    "contextLength": st.integers(16, 10**7),
    "completionOptions": st.fixed_dictionaries({}, optional={
        "temperature": st.floats(0, 2), "topK": st.integers(-1, 100), "stop": st.lists(st.text(max_size=5), max_size=3),
        "maxTokens": st.integers(1, 10**7), "presencePenalty": st.floats(-2, 2)}),
    "requestOptions": st.fixed_dictionaries({}, optional={
        "timeout": st.floats(0.01, 1e6), "verifySsl": st.booleans(), "proxy": st.sampled_from(["http://p:3128", "socks5://p:1080"]),
        "headers": st.dictionaries(st.text(_TOKEN_CHARS, min_size=1, max_size=8), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=10), max_size=3),
        "caBundlePath": st.sampled_from(["/ca.pem", "~/ca.pem", "ca.pem"])}),
    "promptTemplates": st.dictionaries(st.sampled_from(["edit", "comment"]), st.sampled_from(["{{{code_to_edit}}} {{{user_input}}}", "{{#x}}", "{{nope}}"]), max_size=2),
    "template": st.sampled_from(["llama2", "chatml", "zephyr", "nope"]),
    "uniqueId": st.text(max_size=5),
}  # fmt: skip
_MODEL = st.fixed_dictionaries({}, optional={key: _mostly(good) for key, good in _GOOD.items()}).flatmap(
    lambda entry: st.just(entry) if "title" in entry or "model" in entry else st.just({**entry, "title": "t"})
)
_CONFIG = st.fixed_dictionaries(
    {"models": _mostly(st.lists(_MODEL, min_size=1, max_size=3))},
    optional={"requestOptions": _mostly(st.one_of(_GOOD["requestOptions"], _OPTIONS)),
              "completionOptions": _mostly(st.one_of(_GOOD["completionOptions"], _OPTIONS)),
              "systemMessage": _mostly(st.text(max_size=5)), "colour": _JSON,
              "customCommands": _mostly(st.lists(st.fixed_dictionaries({"name": st.text(max_size=5), "prompt": st.text(max_size=12)}, optional={"output": st.sampled_from(["edit", "document", "x"])}), max_size=2)),
              "slashCommands": _mostly(st.lists(st.fixed_dictionaries({"name": st.sampled_from(["comment", "/edit", "nope"])}), max_size=2))},
)  # fmt: skip


def _jsonc(value: Any, draw: Callable[..., Any]) -> str:
    """``value`` as JSONC, with comments, odd whitespace and trailing commas sprinkled in."""
    gap = draw(st.sampled_from(["", " ", "\n", "\t", " /* c */ ", "// line\n", "/* a\n b */", "\r\n"]))
    if isinstance(value, dict):
        items = [f"{gap}{json.dumps(key)}{gap}:{_jsonc(item, draw)}" for key, item in value.items()]
        trailing = "," if items and draw(st.booleans()) else ""
        return "{" + ",".join(items) + trailing + gap + "}"
    if isinstance(value, list):
        items = [_jsonc(item, draw) for item in value]
        trailing = "," if items and draw(st.booleans()) else ""
        return "[" + gap + ",".join(items) + trailing + "]"
    return gap + json.dumps(value) + gap


def _load(text: str) -> Config | None:
    """parse_config must give a Config or a ConfigError inside the text — nothing else."""
    try:
        config = parse_config(text, "c.json")
    except ConfigError as error:
        assert_inside(text, error)
        one_line(str(error))
        return None
    _assert_usable(config)
    return config


def _assert_usable(config: Config) -> None:
    """What later steps do with a loaded config does not raise."""
    for loaded in config.models:
        url = httpx.URL(loaded.api_base)
        assert url.scheme in ("http", "https") and url.host
        headers = dict(loaded.request_options.headers)
        if loaded.api_key:
            headers["Authorization"] = f"Bearer {loaded.api_key}"
        with httpx.Client(headers=headers) as client:  # the headers go out as the provider sends them
            request = client.build_request("POST", url.join("completion"), json=completion_body(loaded, Prompt("x")))
        h11.Connection(h11.CLIENT).send(h11.Request(method="POST", target="/completion", headers=request.headers.raw))
        if loaded.request_options.proxy:
            assert httpx.URL(loaded.request_options.proxy).host
        assert math.isfinite(loaded.request_options.timeout) and loaded.request_options.timeout > 0
        json.dumps(completion_body(loaded, Prompt("x")), allow_nan=False)
        if loaded.llamafile_command:
            assert shlex.split(loaded.llamafile_command)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_jsonc_configs_give_a_config_or_a_located_config_error(data: st.DataObject) -> None:
    value = data.draw(st.one_of(_CONFIG, _JSON))
    _load(_jsonc(value, data.draw))


VALID = """{
  // a valid config, to be mutated
  "systemMessage": "Be brief.",
  "requestOptions": {"timeout": 60, "headers": {"X-Team": "a"}},
  "models": [
    {"title": "Llamafile", "provider": "llamafile", "model": "mistral-7b",
     "apiBase": "http://localhost:9000", "apiKey": "sk-1", "contextLength": 4096,
     "completionOptions": {"temperature": 0.2, "stop": ["###"], "maxTokens": 500},
     "llamafileCommand": "/opt/m.llamafile --server --nobrowser",
     "promptTemplates": {"edit": "{{{code_to_edit}}} / {{{user_input}}}"}, },
    {"title": "other", "provider": "ollama"},
  ],
  "customCommands": [{"name": "test", "prompt": "write tests for {{{input}}}"}],
  "slashCommands": [{"name": "comment"}],
}"""
_PIECES = st.sampled_from([*'{}[],:"/*\\\n\r\t 0-1e.', "NaN", "Infinity", "true", "//", "/*", "*/", '"x"', "\\u00", "\ufeff", "\x00", "é"])  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID)), st.integers(0, 8), st.lists(_PIECES, max_size=4).map("".join)), max_size=4), st.integers(0, len(VALID)))  # fmt: skip
def test_mutated_and_truncated_configs_give_a_config_or_a_located_config_error(
    edits: list[tuple[int, int, str]], cut: int
) -> None:
    text = VALID
    for at, length, insert in edits:
        text = text[:at] + insert + text[at + length :]
    _load(text)
    _load(text[:cut])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*'{}[],:"/*\\\n ab', "//", "/*", "*/"]), max_size=40).map("".join))
def test_blanking_keeps_every_offset_and_newline(text: str) -> None:
    blank = jsonc.blank_comments(text)
    assert len(blank) == len(text)
    assert [i for i, c in enumerate(blank) if c == "\n"] == [i for i, c in enumerate(text) if c == "\n"]
    assert all(b == c or b == " " for b, c in zip(blank, text, strict=True))


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_plain_json_reads_as_json_does_and_every_value_is_located(value: Any) -> None:
    assume(not re.search("[\ud800-\udfff]", json.dumps(value, ensure_ascii=False)))  # refused: not text
    text = json.dumps(value, indent=1)
    document = jsonc.parse(text)
    assert document.value == json.loads(text)
    assert document.locate([]) == (1, 1)
    if isinstance(value, dict) and value:
        key = list(value)[-1]
        line, column = document.locate([key]) or (0, 0)
        assert text.split("\n")[line - 1][column - 1 :].startswith(json.dumps(value[key], indent=1).split("\n")[0])
