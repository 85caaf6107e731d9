"""Family "files": `llamafile-ls edit` against files that are odd, hostile or changing.

Each case runs the real CLI as a subprocess against a scripted model server and checks the
exit code, the kind of message, that nothing printed a traceback, and the file's bytes:
identical where nothing may change, and for an edit, identical outside the edited lines
(the expected bytes are worked out here, not by the code under test).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.fakeserver import FakeModelServer, Reply, Request, completion

from llamafile_ls import cli_edit
from llamafile_ls.cli import main
from tests.conftest import model_entry

ANSWER = "NEW ONE\nNEW TWO"  # what the fake model answers: two lines, no indentation
# A template of ours, so that the prompt neither opens a code block nor depends on a family.
TEMPLATE = {"edit": "{{{userInput}}}\n\n{{{codeToEdit}}}\n"}
TIMEOUT = 30  # a FIFO must not hang the CLI: the subprocess is killed (and the test fails) after this


@pytest.fixture
def config(fake_server: FakeModelServer, write_config: Callable[..., Path]) -> Path:
    fake_server.route("/completion", completion(ANSWER))
    return write_config(model_entry(fake_server.url, promptTemplates=TEMPLATE))


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """The directory the edited files live in, apart from the config."""
    directory = tmp_path / "work"
    directory.mkdir()
    yield directory
    # Undo what a test did to it, so that pytest can remove it.
    subprocess.run(["chattr", "-R", "-i", str(directory)], capture_output=True, check=False)
    for path in [directory, *directory.rglob("*")]:
        if not path.is_symlink() and (path.is_dir() or path.is_file()):
            path.chmod(0o755 if path.is_dir() else 0o644)


def run(target: Path | bytes | str, config: Path, lines: str = "2-2", *extra: str, write: bool = True) -> Result:
    command: list[str | bytes] = [
        sys.executable,
        "-m",
        "llamafile_ls",
        "edit",
        target if isinstance(target, bytes) else str(target),
    ]
    command += [f"--lines={lines}", "-i", "rewrite it", "--config", str(config), *extra]
    if write:
        command.append("--write")
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)
    return Result(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"), time.monotonic() - started)


class Result:
    def __init__(self, code: int, stdout: bytes, stderr: str, seconds: float) -> None:
        self.code, self.stdout, self.stderr, self.seconds = code, stdout, stderr, seconds
        assert b"Traceback" not in stdout and "Traceback" not in stderr, stderr

    @property
    def last(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""

    def refused(self, words: str) -> Result:
        """Exit 1 and the one-line error, containing ``words``, nothing on stdout."""
        assert self.code == 1, self.stderr
        assert self.last.startswith("llamafile-ls: error: "), self.stderr
        assert words in self.last, self.stderr
        assert self.stdout == b""
        return self

    def wrote(self) -> Result:
        assert self.code == 0, self.stderr
        assert "llamafile-ls: wrote " in self.last, self.stderr
        assert self.stdout == b""
        return self


def asked(server: FakeModelServer) -> int:
    return len([r for r in server.requests if r.path == "/completion"])


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# -- an independent model of the expected result --------------------------------------------


def lsp_lines(text: str) -> list[str]:
    """Lines as LSP counts them: only \\n, \\r\\n and \\r end one (written out by hand)."""
    lines, current, index = [], "", 0
    while index < len(text):
        char = text[index]
        current += char
        if char == "\r" and text[index + 1 : index + 2] == "\n":
            current += "\n"
            index += 1
        if char in "\r\n":
            lines.append(current)
            current = ""
        index += 1
    if current:
        lines.append(current)
    return lines


def ending(line: str) -> str:
    return "\r\n" if line.endswith("\r\n") else line[-1] if line.endswith(("\r", "\n")) else ""


def expected_middles(selected: list[str], answer: str) -> set[str]:
    """What the selected lines may become: the answer's lines, indented like the selection,
    each ending in the selection's most common line ending (any of them on a tie); the last
    one ends like the selection's last line (with nothing at the end of the file)."""
    indents = [line[: len(line) - len(line.lstrip(" \t"))] for line in selected if line.strip()]
    indent = min(indents, key=len) if indents else ""
    endings = [ending(line) for line in selected if ending(line)] or ["\n"]
    best = max(endings.count(e) for e in endings)
    parts = [indent + part for part in answer.split("\n")]
    results = set()
    for eol in {e for e in endings if endings.count(e) == best}:
        body = "".join(part + eol for part in parts)
        results.add(body if ending(selected[-1]) else body[: -len(eol)])
    return results


def check_edit(before: bytes, after: bytes, first: int, last: int, answer: str = ANSWER) -> None:
    """``after`` is ``before`` with lines first..last (1-based) replaced, every other byte the same."""
    bom = "\ufeff" if before.startswith(b"\xef\xbb\xbf") else ""
    lines = lsp_lines(before.decode("utf-8")[len(bom) :])
    head = (bom + "".join(lines[: first - 1])).encode()
    tail = "".join(lines[last:]).encode()
    assert after.startswith(head), (before, after)
    assert after.endswith(tail), (before, after)
    assert len(after) >= len(head) + len(tail)
    middle = after[len(head) : len(after) - len(tail)].decode()
    assert middle in expected_middles(lines[first - 1 : last], answer), (before, after)


# -- line endings and odd characters round-trip ----------------------------------------------

ROUND_TRIPS = {
    "lf": (b"one\ntwo\nthree\nfour\n", "2-3", b"one\nNEW ONE\nNEW TWO\nfour\n"),
    "crlf": (b"one\r\ntwo\r\nthree\r\nfour\r\n", "2-3", b"one\r\nNEW ONE\r\nNEW TWO\r\nfour\r\n"),
    "lone-cr": (b"one\rtwo\rthree\rfour\r", "2-3", b"one\rNEW ONE\rNEW TWO\rfour\r"),
    "mixed": (b"one\r\ntwo\nthree\nfour\rfive\r\n", "2-3", b"one\r\nNEW ONE\nNEW TWO\nfour\rfive\r\n"),
    "bom": (b"\xef\xbb\xbfone\ntwo\nthree\n", "1-1", b"\xef\xbb\xbfNEW ONE\nNEW TWO\ntwo\nthree\n"),
    "bom-crlf": (b"\xef\xbb\xbfone\r\ntwo\r\n", "2-2", b"\xef\xbb\xbfone\r\nNEW ONE\r\nNEW TWO\r\n"),
    "form-feed": (b"one\n\x0c\ntwo\x0cx\nthree\n", "3-3", b"one\n\x0c\nNEW ONE\nNEW TWO\nthree\n"),
    "vertical-tab": (b"a\x0bb\nc\nd\x0be\n", "2-2", b"a\x0bb\nNEW ONE\nNEW TWO\nd\x0be\n"),
    # U+2028, U+2029, NEL and the separators \x1c-\x1e are inside lines: line 2 is "c\n".
    "u2028": ("a\u2028b\nc\nd\u2028e\n".encode(), "2-2", "a\u2028b\nNEW ONE\nNEW TWO\nd\u2028e\n".encode()),
    "u2029": ("a\u2029b\nc\nd\u2029\n".encode(), "2-2", "a\u2029b\nNEW ONE\nNEW TWO\nd\u2029\n".encode()),
    "nel": ("a\x85b\nc\n\x85\n".encode(), "2-2", "a\x85b\nNEW ONE\nNEW TWO\n\x85\n".encode()),
    "separators": (b"a\x1cb\x1dc\x1e\nd\n", "2-2", b"a\x1cb\x1dc\x1e\nNEW ONE\nNEW TWO\n"),
    "no-final-newline-last": (b"one\ntwo\nthree", "3-3", b"one\ntwo\nNEW ONE\nNEW TWO"),
    "no-final-newline-middle": (b"one\ntwo\nthree", "2-2", b"one\nNEW ONE\nNEW TWO\nthree"),
    "single-line-no-newline": (b"only", "1-1", b"NEW ONE\nNEW TWO"),
    "lone-cr-no-final": (b"one\rtwo", "1-1", b"NEW ONE\rNEW TWO\rtwo"),
    "astral": (
        "𝔘𝔫𝔦\n😀 = 1\n👩\u200d👩\u200d👧 = 2\n".encode(),
        "2-2",
        "𝔘𝔫𝔦\nNEW ONE\nNEW TWO\n👩\u200d👩\u200d👧 = 2\n".encode(),
    ),
    "combining-and-zero-width": (
        "e\u0301\n\ufeffx\u200b\n\ufeff\n".encode(),
        "1-1",
        "NEW ONE\nNEW TWO\n\ufeffx\u200b\n\ufeff\n".encode(),
    ),
    "indented": (b"def f():\n    a = 1\n    b = 2\n", "2-3", b"def f():\n    NEW ONE\n    NEW TWO\n"),
    "blank-lines-around": (b"\n\n\tx\n\n\n", "3-3", b"\n\n\tNEW ONE\n\tNEW TWO\n\n\n"),
    "cr-then-crlf": (b"a\r\r\nb\r\n", "2-2", b"a\rNEW ONE\r\nNEW TWO\r\nb\r\n"),
    "whole-file": (b"one\ntwo\n", "1-2", b"NEW ONE\nNEW TWO\n"),
}


@pytest.mark.parametrize(("before", "lines", "after"), ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_line_endings_and_odd_characters_round_trip(
    work: Path, config: Path, before: bytes, lines: str, after: bytes
) -> None:
    path = work / "f.py"
    path.write_bytes(before)
    run(path, config, lines).wrote()
    first, _, last = lines.partition("-")
    check_edit(before, after, int(first), int(last))  # the table agrees with the model of it
    assert path.read_bytes() == after
    assert listing(work) == ["f.py"]  # no temporary file left


def test_the_diff_is_of_the_files_bytes_and_patch_applies_it(work: Path, config: Path) -> None:
    before = b"\xef\xbb\xbfone\rtwo\r\nthree\rfour"  # a BOM, lone CRs, no final newline
    path = work / "f.py"
    path.write_bytes(before)
    result = run(path, config, "3-4", write=False)
    assert result.code == 0, result.stderr
    assert path.read_bytes() == before
    assert result.stdout.startswith(f"--- a/{path}\n+++ b/{path}\n".encode())
    assert b"\\ No newline at end of file\n" in result.stdout
    copy = work / "copy.py"
    copy.write_bytes(before)
    patch = shutil.which("patch")
    assert patch is not None, "GNU patch is part of the test environment"
    applied = subprocess.run([patch, "-s", str(copy)], input=result.stdout, capture_output=True, check=False)
    assert applied.returncode == 0, applied
    assert copy.read_bytes() == b"\xef\xbb\xbfone\rtwo\r\nNEW ONE\rNEW TWO"


def test_a_model_that_changes_nothing_leaves_the_file(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    fake_server.route("/completion", completion("two"))
    path = work / "f.py"
    path.write_bytes(b"one\r\ntwo\r\n")
    result = run(path, config, "2-2")
    assert result.code == 0
    assert "the model left the code unchanged" in result.last
    assert path.read_bytes() == b"one\r\ntwo\r\n"


# -- what the file is: refused before anything is opened or asked -----------------------------


def test_a_fifo_is_refused_without_hanging(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    fifo = work / "pipe.py"
    os.mkfifo(fifo)
    for write in (True, False):
        result = run(fifo, config, "1-1", write=write).refused(
            "is a FIFO (named pipe); only a regular file can be edited"
        )
        assert result.seconds < TIMEOUT
    assert asked(fake_server) == 0


def test_a_symlink_to_a_fifo_is_refused(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    os.mkfifo(work / "pipe")
    (work / "link.py").symlink_to("pipe")
    run(work / "link.py", config, "1-1").refused("is a FIFO")
    assert asked(fake_server) == 0


def test_a_directory_is_refused(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    (work / "pkg.py").mkdir()
    run(work / "pkg.py", config, "1-1").refused("is a directory; only a regular file can be edited")
    assert asked(fake_server) == 0


def test_a_character_device_is_refused(fake_server: FakeModelServer, config: Path) -> None:
    run(Path(os.devnull), config, "1-1").refused("is a character device; only a regular file can be edited")
    assert asked(fake_server) == 0


def test_a_socket_is_refused(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(work / "s.py"))
        server.listen()
        run(work / "s.py", config, "1-1").refused("is a socket; only a regular file can be edited")
    assert asked(fake_server) == 0


def test_a_missing_file(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    run(work / "absent.py", config, "1-1").refused("cannot read")
    assert (
        "No such file or directory" in run(work / "absent.py", config, "1-1", write=False).refused("cannot read").last
    )
    assert listing(work) == []
    assert asked(fake_server) == 0


def test_a_path_under_a_file(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    (work / "f.py").write_bytes(b"x\n")
    run(work / "f.py" / "g.py", config, "1-1").refused("Not a directory")
    assert (work / "f.py").read_bytes() == b"x\n"
    assert asked(fake_server) == 0


def test_a_dangling_symlink(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    (work / "link.py").symlink_to("nowhere.py")
    run(work / "link.py", config, "1-1").refused("No such file or directory")
    assert listing(work) == ["link.py"]  # it did not create the target either
    assert asked(fake_server) == 0


def test_a_symlink_loop(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    (work / "a.py").symlink_to("b.py")
    (work / "b.py").symlink_to("a.py")
    run(work / "a.py", config, "1-1").refused("Too many levels of symbolic links")
    assert asked(fake_server) == 0


def test_an_unreadable_file(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\n")
    path.chmod(0)
    if readable(path):  # root reads it anyway; mode 000 still says "don't write me"
        run(path, config, "2-2").refused("is read-only (mode 000)")
        assert run(path, config, "2-2", write=False).code == 0
    else:
        run(path, config, "2-2").refused("cannot read")
        run(path, config, "2-2", write=False).refused("Permission denied")
    path.chmod(0o644)
    assert path.read_bytes() == b"one\ntwo\n"


def readable(path: Path) -> bool:
    try:
        path.read_bytes()
    except PermissionError:
        return False
    return True


# -- what the file holds ----------------------------------------------------------------------

CONTENTS = {
    "latin-1": (b"caf\xe9 = 1\n", "is not UTF-8 text: byte 0xe9 at offset 3"),
    "utf-16": ("x = 1\n".encode("utf-16"), "is not UTF-8 text (it looks like UTF-16)"),
    "encoded-surrogate": (b"a\n\xed\xa0\x80\n", "is not UTF-8 text: byte 0xed at offset 2"),
    "overlong": (b"a\xc0\xaf\n", "is not UTF-8 text: byte 0xc0"),
    "truncated-sequence": ("x\n€".encode()[:-1], "is not UTF-8 text"),
    "nul-byte": (b"one\ntwo\x00\n", "looks like a binary file: it holds a NUL byte (line 2)"),
    "empty": (b"", "is empty: there are no lines to edit"),
    "bom-only": (b"\xef\xbb\xbf", "is empty: there are no lines to edit"),
}


@pytest.mark.parametrize(("content", "words"), CONTENTS.values(), ids=CONTENTS.keys())
def test_files_that_are_not_editable_text(
    work: Path, fake_server: FakeModelServer, config: Path, content: bytes, words: str
) -> None:
    path = work / "f.py"
    path.write_bytes(content)
    run(path, config, "1-1").refused(words)
    assert path.read_bytes() == content
    assert asked(fake_server) == 0


def test_a_huge_file_is_refused_at_once(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    path = work / "big.py"
    with path.open("wb") as out:
        out.truncate(21 * 1024 * 1024)  # sparse: quick to make
    result = run(path, config, "1-1").refused("is too big to edit: 21.0 MB, and llamafile-ls edits files up to 20 MB")
    assert result.seconds < 10
    assert path.stat().st_size == 21 * 1024 * 1024
    assert asked(fake_server) == 0


# -- --lines ----------------------------------------------------------------------------------

BAD_LINES = {
    "reversed": ("20-10", "runs backwards; write it as 10-20"),
    "zero": ("0", "lines are numbered from 1"),
    "zero-start": ("0-3", "lines are numbered from 1"),
    "negative": ("-5", "is not a range like 10-24"),
    "negative-end": ("1--2", "is not a range like 10-24"),
    "garbage": ("five", "is not a range like 10-24"),
    "empty": ("", "is not a range like 10-24"),
    "open-ended": ("5-", "is not a range like 10-24"),
    "three-parts": ("1-2-3", "is not a range like 10-24"),
    "decimal": ("1.5", "is not a range like 10-24"),
    "fullwidth-digits": ("１-２", "is not a range like 10-24"),
    "past-the-end": ("3-99", "the file has only 30 lines"),
    "one-past-the-end": ("31", "the file has only 30 lines"),
    "astronomical": ("1-" + "9" * 5000, "the file has only 30 lines"),
}


@pytest.mark.parametrize(("spec", "words"), BAD_LINES.values(), ids=BAD_LINES.keys())
def test_bad_line_ranges(work: Path, fake_server: FakeModelServer, config: Path, spec: str, words: str) -> None:
    path = work / "f.py"
    content = "".join(f"line {n}\r\n" for n in range(1, 31)).encode()
    path.write_bytes(content)
    run(path, config, spec).refused(words)
    assert path.read_bytes() == content
    assert asked(fake_server) == 0


def test_a_range_in_a_one_line_file(work: Path, config: Path) -> None:
    (work / "f.py").write_bytes(b"x\n")
    run(work / "f.py", config, "1-2").refused("the file has only 1 line")


def test_lines_count_only_lsp_line_breaks(work: Path, config: Path) -> None:
    # str.splitlines would see 6 lines here; LSP sees 2, and so must --lines.
    content = "a\x0bb\x0cc\u2028d\u2029e\x85f\nsecond\n".encode()
    path = work / "f.py"
    path.write_bytes(content)
    run(path, config, "3-3").refused("the file has only 2 lines")
    run(path, config, "2-2").wrote()
    assert path.read_bytes() == "a\x0bb\x0cc\u2028d\u2029e\x85f\nNEW ONE\nNEW TWO\n".encode()


# -- how it is written ------------------------------------------------------------------------


def test_a_read_only_file_is_not_written(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\n")
    path.chmod(0o444)
    run(path, config, "2-2").refused("is read-only (mode 444)")
    assert asked(fake_server) == 0  # refused before the model spent any time on it
    assert path.read_bytes() == b"one\ntwo\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    diff = run(path, config, "2-2", write=False)  # a diff is still fine
    assert diff.code == 0
    assert b"+NEW ONE\n" in diff.stdout
    assert listing(work) == ["f.py"]


def test_a_hard_link_stays_linked(work: Path, config: Path) -> None:
    path, other = work / "f.py", work / "also.py"
    before = b"one\r\ntwo\r\nthree"
    path.write_bytes(before)
    os.link(path, other)
    inode = path.stat().st_ino
    run(path, config, "2-2").wrote()
    after = b"one\r\nNEW ONE\r\nNEW TWO\r\nthree"
    check_edit(before, after, 2, 2)
    assert path.read_bytes() == after
    assert other.read_bytes() == after  # the other name sees the edit
    assert path.stat().st_ino == inode == other.stat().st_ino
    assert path.stat().st_nlink == 2
    assert listing(work) == ["also.py", "f.py"]  # the backup is gone


def test_a_shorter_edit_of_a_hard_linked_file_is_truncated(
    work: Path, fake_server: FakeModelServer, config: Path
) -> None:
    fake_server.route("/completion", completion("x"))
    path = work / "f.py"
    path.write_bytes(b"a\n" + b"long line\n" * 50 + b"z\n")
    os.link(path, work / "link.py")
    run(path, config, "2-51").wrote()
    assert path.read_bytes() == b"a\nx\nz\n"
    assert (work / "link.py").read_bytes() == b"a\nx\nz\n"


def test_a_symlink_is_written_through(work: Path, tmp_path: Path, config: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "real.py"
    target.write_bytes(b"one\rtwo\r")
    (work / "link.py").symlink_to(target)
    (work / "link2.py").symlink_to("link.py")  # a chain
    run(work / "link2.py", config, "2-2").wrote()
    assert (work / "link.py").is_symlink() and (work / "link2.py").is_symlink()
    assert target.read_bytes() == b"one\rNEW ONE\rNEW TWO\r"
    assert listing(work) == ["link.py", "link2.py"]
    assert listing(elsewhere) == ["real.py"]


def test_mode_and_owner_are_kept(work: Path, config: Path) -> None:
    path = work / "tool.py"
    path.write_bytes(b"#!/bin/sh\necho hi\n")
    path.chmod(0o751)
    owner = (65534, 65534) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    os.chown(path, *owner)
    run(path, config, "2-2").wrote()
    status = path.stat()
    assert stat.S_IMODE(status.st_mode) == 0o751
    assert (status.st_uid, status.st_gid) == owner
    assert path.read_bytes() == b"#!/bin/sh\nNEW ONE\nNEW TWO\n"


def test_a_name_near_the_length_limit(work: Path, config: Path) -> None:
    path = work / ("n" * 250 + ".py")  # the temporary file's name must still fit in 255 bytes
    path.write_bytes(b"one\ntwo\n")
    run(path, config, "2-2").wrote()
    assert path.read_bytes() == b"one\nNEW ONE\nNEW TWO\n"
    assert listing(work) == [path.name]


def test_a_name_that_is_not_utf8(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    name = os.fsencode(work) + b"/caf\xe9.py"
    with open(name, "wb") as out:
        out.write(b"one\ntwo\n")
    diff = run(name, config, "2-2", write=False)
    assert diff.code == 0, diff.stderr
    assert diff.stdout.startswith(b"--- a/" + name + b"\n")  # the name's own bytes
    run(name, config, "2-2").wrote()
    with open(name, "rb") as written:
        assert written.read() == b"one\nNEW ONE\nNEW TWO\n"
    assert os.listdir(os.fsencode(work)) == [b"caf\xe9.py"]


# -- the file changes while the model answers -------------------------------------------------


def while_answering(server: FakeModelServer, action: Callable[[], object]) -> None:
    """Do ``action`` when the model is asked, then answer."""

    def handler(_request: Request) -> Reply:
        action()
        return completion(ANSWER)

    server.route("/completion", handler)


def test_a_file_deleted_while_the_model_answers(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\n")
    while_answering(fake_server, path.unlink)
    run(path, config, "2-2").refused("was deleted while the model was answering; nothing was written")
    assert listing(work) == []  # not re-created, and no temporary file


def test_a_file_renamed_away_with_its_symlink_left(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    (work / "real.py").write_bytes(b"one\ntwo\n")
    (work / "link.py").symlink_to("real.py")
    while_answering(fake_server, lambda: (work / "real.py").rename(work / "moved.py"))
    run(work / "link.py", config, "2-2").refused("was deleted while the model was answering")
    assert listing(work) == ["link.py", "moved.py"]
    assert (work / "moved.py").read_bytes() == b"one\ntwo\n"


def test_a_file_replaced_by_a_fifo_while_the_model_answers(
    work: Path, fake_server: FakeModelServer, config: Path
) -> None:
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\n")

    def swap() -> None:
        path.unlink()
        os.mkfifo(path)

    while_answering(fake_server, swap)
    run(path, config, "2-2").refused("is a FIFO (named pipe); only a regular file can be edited")
    assert stat.S_ISFIFO(path.lstat().st_mode)
    assert listing(work) == ["f.py"]


def test_a_file_made_unreadable_while_the_model_answers(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\n")
    while_answering(fake_server, lambda: path.chmod(0))
    result = run(path, config, "2-2")
    if readable(path):  # root: it can still read it, but mode 000 forbids writing
        result.refused("is read-only (mode 000)")
    else:
        result.refused("cannot read")
        assert "nothing was written" in result.last
    path.chmod(0o644)
    assert path.read_bytes() == b"one\ntwo\n"
    assert listing(work) == ["f.py"]


def test_a_file_made_read_only_while_the_model_answers(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\n")
    while_answering(fake_server, lambda: path.chmod(0o444))
    run(path, config, "2-2").refused("is read-only (mode 444)")
    assert path.read_bytes() == b"one\ntwo\n"
    assert listing(work) == ["f.py"]


def make_directory_read_only(directory: Path) -> None:
    """chmod 555, and for root (which chmod does not stop) the immutable attribute if it can."""
    directory.chmod(0o555)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(directory)], capture_output=True, check=False)


def can_create_in(directory: Path) -> bool:
    probe = directory / ".probe"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.mark.parametrize("links", [1, 2], ids=["one-link", "hard-linked"])
def test_a_directory_made_read_only_while_the_model_answers(
    work: Path, fake_server: FakeModelServer, config: Path, links: int
) -> None:
    directory = work / "sub"
    directory.mkdir()
    path = directory / "f.py"
    path.write_bytes(b"one\ntwo\n")
    if links == 2:
        os.link(path, work / "other.py")
    while_answering(fake_server, lambda: make_directory_read_only(directory))
    result = run(path, config, "2-2")
    if can_create_in(directory):  # root without chattr: the directory does not stop it
        result.wrote()
        assert path.read_bytes() == b"one\nNEW ONE\nNEW TWO\n"
    else:
        result.refused("its directory")
        assert "is not writable" in result.last
        assert path.read_bytes() == b"one\ntwo\n"
    assert listing(directory) == ["f.py"]


def test_a_file_made_immutable_while_the_model_answers(work: Path, fake_server: FakeModelServer, config: Path) -> None:
    """What root cannot write even with mode 644: the write must fail in one line."""
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\n")
    while_answering(fake_server, lambda: subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False))
    result = run(path, config, "2-2")
    if can_open_for_writing(path):  # no chattr here (not root, or no support): nothing stops the write
        result.wrote()
    else:
        result.refused("cannot write")
        assert path.read_bytes() == b"one\ntwo\n"
    assert listing(work) == ["f.py"]


def can_open_for_writing(path: Path) -> bool:
    try:
        os.close(os.open(path, os.O_WRONLY))
    except PermissionError:
        return False
    return True


def test_a_read_only_directory_is_refused_before_the_model_is_asked(
    work: Path, fake_server: FakeModelServer, config: Path
) -> None:
    directory = work / "sub"
    directory.mkdir()
    path = directory / "f.py"
    path.write_bytes(b"one\ntwo\n")
    make_directory_read_only(directory)
    result = run(path, config, "2-2")
    if can_create_in(directory):  # root without chattr
        result.wrote()
    else:
        result.refused("is not writable, so it cannot hold a temporary copy")
        assert asked(fake_server) == 0
        assert path.read_bytes() == b"one\ntwo\n"
    assert listing(directory) == ["f.py"]


# -- failures in the middle of a write, injected in-process ----------------------------------


def edit_in_process(path: Path, config: Path, lines: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["edit", str(path), "--lines", lines, "-i", "x", "--write", "--config", str(config)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.strip().splitlines()[-1]


def test_a_failed_in_place_write_is_undone(
    work: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\nthree\n")
    os.link(path, work / "link.py")
    real, calls = cli_edit._overwrite, []

    def disk_full_once(fd: int, data: bytes) -> None:
        calls.append(data)
        if len(calls) == 1:
            os.pwrite(fd, data[:6], 0)  # half of it got there
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)

    monkeypatch.setattr(cli_edit, "_overwrite", disk_full_once)
    code, last = edit_in_process(path, config, "2-2", capsys)
    assert code == 1
    assert last == f"llamafile-ls: error: cannot write {path}: No space left on device; the file is unchanged"
    assert path.read_bytes() == b"one\ntwo\nthree\n"
    assert listing(work) == ["f.py", "link.py"]  # the backup is gone


def test_an_in_place_write_that_cannot_be_undone_keeps_the_backup(
    work: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\nthree\n")
    os.link(path, work / "link.py")

    def broken_disk(fd: int, data: bytes) -> None:
        os.pwrite(fd, b"XX", 0)
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(cli_edit, "_overwrite", broken_disk)
    code, last = edit_in_process(path, config, "2-2", capsys)
    assert code == 1
    (backup,) = set(listing(work)) - {"f.py", "link.py"}
    assert (
        last
        == f"llamafile-ls: error: writing {path} failed and so did restoring it; its original content is in {work / backup}"
    )
    assert (work / backup).read_bytes() == b"one\ntwo\nthree\n"


def test_a_failed_replace_leaves_no_temporary_file(
    work: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\n")

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    code, last = edit_in_process(path, config, "2-2", capsys)
    assert code == 1
    assert last == f"llamafile-ls: error: cannot write {path}: Input/output error; the file is unchanged"
    assert path.read_bytes() == b"one\ntwo\n"
    assert listing(work) == ["f.py"]


def test_a_file_whose_owner_cannot_be_kept_is_written_in_place(
    work: Path, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user who may write someone else's file must not make it theirs by replacing it."""
    path = work / "f.py"
    path.write_bytes(b"one\ntwo\n")
    inode = path.stat().st_ino
    monkeypatch.setattr(os, "geteuid", lambda: path.stat().st_uid + 1)  # "we" are not its owner
    code, last = edit_in_process(path, config, "2-2", capsys)
    assert code == 0, last
    assert path.stat().st_ino == inode
    assert path.read_bytes() == b"one\nNEW ONE\nNEW TWO\n"
    assert listing(work) == ["f.py"]


# -- property: only the selected lines change -------------------------------------------------

ALPHABET = ["a", "b", " ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\ufeff", "é", "😀"]  # fmt: skip


@st.composite
def file_and_range(draw: st.DrawFn) -> tuple[bytes, int, int]:
    bom = draw(st.sampled_from(["", "\ufeff"]))
    text = bom + "".join(draw(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=40)))
    lines = lsp_lines(text.removeprefix("\ufeff"))  # a first U+FEFF is the BOM, whichever drew it
    if not lines:
        text, lines = text + "a", ["a"]
    first = draw(st.integers(1, len(lines)))
    last = draw(st.integers(first, len(lines)))
    return text.encode(), first, last


@pytest.fixture(scope="module")
def fixed_server() -> Iterator[FakeModelServer]:
    server = FakeModelServer().start()
    server.route("/completion", completion("XY"))
    yield server
    server.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=file_and_range())
def test_write_changes_exactly_the_selected_lines(
    case: tuple[bytes, int, int], fixed_server: FakeModelServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, first, last = case
    config = tmp_path / "config.json"
    if not config.exists():
        config.write_text(json.dumps({"models": [model_entry(fixed_server.url, promptTemplates=TEMPLATE)]}))
    path = tmp_path / "f.txt"
    path.write_bytes(before)
    code = main(["edit", str(path), "--lines", f"{first}-{last}", "-i", "x", "--write", "--config", str(config)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert code == 0, captured.err
    after = path.read_bytes()
    if "the model left the code unchanged" in captured.err:
        assert after == before
    else:
        assert "llamafile-ls: wrote" in captured.err
        check_edit(before, after, first, last, answer="XY")


def test_the_model_of_lsp_lines_agrees_with_a_simple_split() -> None:
    assert lsp_lines("a\nb\r\nc\rd\x0be\u2028") == ["a\n", "b\r\n", "c\r", "d\x0be\u2028"]
    assert lsp_lines("\r\r\n\n") == ["\r", "\r\n", "\n"]
    assert re.sub(r"\r\n|\r|\n", "|", "".join(lsp_lines("x\r\ny"))) == "x|y"
