"""``llamafile-ls edit``: one edit from the command line, as a diff or written in place.

The file is handled with care: only a regular UTF-8 text file is read (never a FIFO or a
device, which could block or have side effects), a read-only file is not written, and the
write keeps what the user set up: symlinks are written through, hard links stay linked,
and the owner and mode are kept. Every failure is one line, and leaves the file as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import os
import re
import stat
import sys
import tempfile
import time
from typing import TYPE_CHECKING, NamedTuple

from llamafile_ls.cli_output import fail, loaded
from llamafile_ls.errors import LlamafileLsError

if TYPE_CHECKING:
    from llamafile_ls.launcher import Launched, Launcher

MAX_BYTES = 20 * 1024 * 1024  # bigger is no source file a local model can help with in time
_LINES = re.compile(r"\s*(\d+)\s*(?:[-:,]\s*(\d+)\s*)?", re.ASCII)
_HUGE = 10**18  # any line number with more digits is past the end of any file we accept


def _line_number(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < 19 else _HUGE  # int() refuses > 4300 digits


def parse_lines(spec: str, line_count: int) -> tuple[int, int]:
    """``"10-24"`` → 0-based ``(9, 24)``, end exclusive; checked against the file."""
    match = _LINES.fullmatch(spec)
    if not match:
        raise LlamafileLsError(f"--lines {spec!r} is not a range like 10-24")
    first = _line_number(match.group(1))
    last = _line_number(match.group(2) or match.group(1))
    if first < 1:
        raise LlamafileLsError(f"--lines {spec!r}: lines are numbered from 1")
    if last < first:
        raise LlamafileLsError(f"--lines {spec!r} runs backwards; write it as {last}-{first}")
    if last > line_count:
        lines = "line" if line_count == 1 else "lines"
        raise LlamafileLsError(f"--lines {spec!r}: the file has only {line_count} {lines}")
    return first - 1, last


class Progress:
    """Streaming progress on stderr: redrawn in place on a terminal, a line a second elsewhere."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.shown = self.started  # the first line after a second, not at once

    def start(self, api_base: str) -> None:
        print(f"llamafile-ls: asking {self.title} at {api_base}…", file=sys.stderr, flush=True)

    def status(self, message: str) -> None:
        print(f"llamafile-ls: {self.title}: {message}", file=sys.stderr, flush=True)

    def update(self, chunks: int) -> None:
        now = time.monotonic()
        if self.tty:
            print(f"\rllamafile-ls: {self.title}: {chunks} tokens", end="", file=sys.stderr, flush=True)
        elif now - self.shown >= 1.0:
            self.shown = now
            print(f"llamafile-ls: {self.title}: {chunks} tokens so far", file=sys.stderr, flush=True)

    def finish(self, chunks: int) -> None:
        if self.tty:
            print(file=sys.stderr)
        elapsed = time.monotonic() - self.started
        print(f"llamafile-ls: {self.title}: {chunks} tokens in {elapsed:.1f} s", file=sys.stderr, flush=True)


def run_edit_command(args: argparse.Namespace, config_path: str | None) -> int:
    try:
        return asyncio.run(_edit(args, config_path))
    except KeyboardInterrupt:
        fail("interrupted; the file is unchanged")
        return 130
    except LlamafileLsError as error:
        return fail(str(error))
    except BrokenPipeError:  # `llamafile-ls edit … | head`: the reader has gone; say nothing more
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:  # any other: one line, never a traceback
        return fail(_reason(error))


async def _edit(args: argparse.Namespace, config_path: str | None) -> int:
    from llamafile_ls import textedit
    from llamafile_ls.config_file import load_config
    from llamafile_ls.edit import EditRequest, run_edit
    from llamafile_ls.languages import language_for
    from llamafile_ls.launcher import Launcher
    from llamafile_ls.providers import registry as providers

    config = load_config(config_path)
    loaded(config)
    model = config.model(args.model) if args.model else (config.model_for("edit") or config.model())
    name: str = args.file
    read = _read_file(name)
    lines = textedit.split_lines(read.text)  # LSP lines: only \n, \r\n and \r end one
    if not lines:
        raise LlamafileLsError(f"{name} is empty: there are no lines to edit")
    start, end = parse_lines(args.lines, len(lines))
    if args.write:
        _check_writable(name, read.stat)  # before the model spends minutes on it
    request = EditRequest(
        text=read.text,
        start_line=start,
        end_line=end,
        instruction=args.instruction,
        file_path=_printable(name),
        language=language_for(name),
    )
    progress = Progress(model.title)
    provider = providers.create(model)
    launcher = Launcher(die_with_parent=False)
    launched = None
    try:
        launched = await launcher.ensure_running(model, provider, progress.status)
        progress.start(provider.shown_url)
        result = await run_edit(request, model, provider, on_progress=progress.update)
        progress.finish(result.answer_chunks)
    finally:
        await provider.aclose()
        if launched is not None:
            await _leave_or_stop(launcher, launched, stop=args.stop_server)
    if not result.changed:
        print("llamafile-ls: the model left the code unchanged", file=sys.stderr)
        return 0
    new_text = read.bom + textedit.apply_edits(read.text, result.edits)
    if args.write:
        _write_file(name, read, new_text.encode("utf-8"))
        print(f"llamafile-ls: wrote {name}", file=sys.stderr)
    else:
        _print_diff(name, read.bom + read.text, new_text)
    return 0


async def _leave_or_stop(launcher: Launcher, launched: Launched, *, stop: bool) -> None:
    """The CLI leaves a server it started running, so the next edit needn't load the model."""
    pid = launched.process.pid
    if stop:
        await launcher.stop(launched)
        print(f"llamafile-ls: stopped the llamafile it started (pid {pid})", file=sys.stderr)
    else:
        print(
            f"llamafile-ls: the llamafile it started keeps running for the next edit (pid {pid}, log "
            f"{launched.log}); stop it with `kill {pid}`, or pass --stop-server next time",
            file=sys.stderr,
        )


def _print_diff(name: str, old: str, new: str) -> None:
    """A unified diff of the file's bytes, BOM included, that patch and git apply accept.

    Its lines are split at \\n only, as those tools do: a line ending in a lone \\r would
    otherwise run into the next line of the diff.
    """
    diff = difflib.unified_diff(_diff_lines(old), _diff_lines(new), fromfile=f"a/{name}", tofile=f"b/{name}")
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in diff)
    data = text.encode("utf-8", "surrogateescape")  # the file's own bytes, and its name's
    sys.stdout.flush()
    out = getattr(sys.stdout, "buffer", None)
    if out is None:
        sys.stdout.write(data.decode("utf-8", "replace"))
    else:
        out.write(data)
        out.flush()


def _diff_lines(text: str) -> list[str]:
    return re.findall(r"[^\n]*\n|[^\n]+", text)


def _printable(name: str) -> str:
    """A file name as text that can be sent to the model: undecodable bytes become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _reason(error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"{reason}: {error.filename}" if error.filename and error.strerror else reason


class _Read(NamedTuple):
    raw: bytes  # the file as it was read: what it must still be when the edit is written
    text: str  # without the BOM
    bom: str  # "\ufeff" or "", written back as it was
    stat: os.stat_result


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _refuse_unless_regular(name: str, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((kind for test, kind in _KINDS if test(mode)), "not a regular file")
    raise LlamafileLsError(f"{name} is {kind}; only a regular file can be edited")


def _open_regular(name: str, path: str, flags: int) -> int:
    """A descriptor of the regular file at ``path``; anything else is refused unopened.

    Opening a FIFO blocks until someone writes to it, and opening a device can do things
    (rewind a tape), so the kind is checked first; O_NONBLOCK and a second check on the
    descriptor cover a file swapped for one in between.
    """
    _refuse_unless_regular(name, os.stat(path).st_mode)
    extra = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags | extra)
    try:
        _refuse_unless_regular(name, os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_exactly(name: str, path: str) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file of at most MAX_BYTES, and its stat; OSError as it comes."""
    with os.fdopen(_open_regular(name, path, os.O_RDONLY), "rb") as handle:
        status = os.fstat(handle.fileno())
        raw = handle.read(MAX_BYTES + 1) if status.st_size <= MAX_BYTES else b""  # it may grow as we read
        if status.st_size > MAX_BYTES or len(raw) > MAX_BYTES:
            size = max(status.st_size, len(raw)) / 1024 / 1024
            raise LlamafileLsError(
                f"{name} is too big to edit: {size:.1f} MB, and llamafile-ls edits files up to "
                f"{MAX_BYTES // 1024 // 1024} MB"
            )
    return raw, status


def _read_file(name: str) -> _Read:
    """The file's bytes, its text and its BOM; a one-line error for anything but UTF-8 text."""
    try:
        raw, status = _read_exactly(name, name)
    except OSError as error:
        raise LlamafileLsError(f"cannot read {name}: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        utf16 = " (it looks like UTF-16)" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else ""
        raise LlamafileLsError(
            f"{name} is not UTF-8 text{utf16}: byte {raw[error.start]:#04x} at offset {error.start}; "
            "llamafile-ls edits UTF-8 files only"
        ) from None
    if "\x00" in text:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        raise LlamafileLsError(f"{name} looks like a binary file: it holds a NUL byte (line {line})")
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    return _Read(raw, text[len(bom) :], bom, status)


def _check_writable(name: str, status: os.stat_result) -> None:
    """Refuse to write a read-only file, even as root, and a file in a directory we can't write.

    Mode 444 says "don't change this"; rename would ignore it (it needs only the directory),
    so it is checked here. The directory must take a temporary file (or a backup).
    """
    mode = stat.S_IMODE(status.st_mode)
    if not mode & 0o222:
        raise LlamafileLsError(
            f"{name} is read-only (mode {mode:03o}); make it writable (chmod u+w) or leave out --write for a diff"
        )
    path = os.path.realpath(name)
    if not os.access(path, os.W_OK):
        raise LlamafileLsError(f"cannot write {name}: permission denied; leave out --write for a diff")
    directory = os.path.dirname(path)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise LlamafileLsError(
            f"cannot write {name} safely: its directory {directory} is not writable, so it cannot hold "
            "a temporary copy; leave out --write for a diff"
        )


def _write_file(name: str, read: _Read, data: bytes) -> None:
    """Write ``data`` over the file if it is still what was read; one-line errors, no half-writes."""
    path = os.path.realpath(name)  # through a symlink, never replacing it
    try:
        current, status = _read_exactly(name, path)
    except FileNotFoundError:
        raise LlamafileLsError(f"{name} was deleted while the model was answering; nothing was written") from None
    except OSError as error:
        raise LlamafileLsError(f"cannot read {name} again to check it: {_reason(error)}; nothing was written") from None
    if current != read.raw:
        raise LlamafileLsError(f"{name} changed while the model was answering; nothing was written")
    _check_writable(name, status)  # its mode or its directory may have changed meanwhile
    try:
        if status.st_nlink > 1 or not _can_keep_owner(status):
            _write_in_place(name, path, status, read.raw, data)
        else:
            _replace(path, status, data)
    except OSError as error:
        raise LlamafileLsError(f"cannot write {name}: {_reason(error)}; the file is unchanged") from None


def _can_keep_owner(status: os.stat_result) -> bool:
    """Whether a new file can be given the file's owner and group (else rename would change them)."""
    if not hasattr(os, "geteuid"):
        return True
    uid = os.geteuid()
    groups = {os.getegid(), *os.getgroups()}
    return uid == 0 or (status.st_uid == uid and status.st_gid in groups)


def _temporary(path: str, suffix: str) -> tuple[int, str]:
    """A new file next to ``path`` (same file system, so rename is atomic), mode 600."""
    directory, base = os.path.split(path)
    # A name near NAME_MAX (255 bytes) would leave no room for the prefix and suffix.
    return tempfile.mkstemp(dir=directory, prefix=f".{base[:80]}.", suffix=suffix)


def _sync_directory(directory: str) -> None:
    """Make a rename or a new entry durable; best effort (not every system can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _replace(path: str, status: os.stat_result, data: bytes) -> None:
    """Replace the file in one step with a synced copy of the same owner and mode.

    A crash leaves either the old file or the new one, never a mix. The temporary file is
    removed on any failure.
    """
    fd, temporary = _temporary(path, ".llamafile-ls.tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            written = os.fstat(out.fileno())
            if (written.st_uid, written.st_gid) != (status.st_uid, status.st_gid):
                os.fchown(out.fileno(), status.st_uid, status.st_gid)
            os.fchmod(out.fileno(), stat.S_IMODE(status.st_mode))  # after chown, which clears set-id bits
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(os.path.dirname(path))


def _write_in_place(name: str, path: str, status: os.stat_result, original: bytes, data: bytes) -> None:
    """Overwrite the file's own inode: for a file with hard links, or whose owner a new file
    could not have.

    A rename would give the path a new inode and split it from its other links, so the new
    bytes go into the existing inode instead, once they are fully computed. That is not
    atomic: a crash in the middle (power loss, SIGKILL) would leave a mix of old and new.
    The trade-off chosen: the original bytes are first written and synced to a backup next
    to the file, removed only once the new content is synced, so such a crash leaves the
    backup to recover from. A failure Python sees (disk full, I/O error, Ctrl-C) is undone
    at once from the original bytes in memory, and the backup removed.
    """
    backup_fd, backup = _temporary(path, ".llamafile-ls-backup")
    try:
        with os.fdopen(backup_fd, "wb") as out:
            out.write(original)
            out.flush()
            os.fsync(out.fileno())
        _sync_directory(os.path.dirname(path))
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(backup)
        raise
    keep_backup = False
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (status.st_dev, status.st_ino) or not stat.S_ISREG(now.st_mode):
            raise LlamafileLsError(f"{name} was replaced just before it was written; nothing was written")
        try:
            _overwrite(fd, data)
        except BaseException:
            try:
                _overwrite(fd, original)
            except BaseException:
                keep_backup = True
                raise LlamafileLsError(
                    f"writing {name} failed and so did restoring it; its original content is in {backup}"
                ) from None
            raise
    finally:
        os.close(fd)
        if not keep_backup:
            with contextlib.suppress(OSError):
                os.unlink(backup)


def _overwrite(fd: int, data: bytes) -> None:
    view = memoryview(data)
    offset = 0
    while offset < len(data):
        offset += os.pwrite(fd, view[offset:], offset)
    os.ftruncate(fd, len(data))
    os.fsync(fd)
