"""``llamafile-ls edit``: one edit from the command line, as a diff or written in place."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from llamafile_ls.cli import fail, print_warnings
from llamafile_ls.errors import LlamafileLsError

if TYPE_CHECKING:
    from llamafile_ls.launcher import Launched, Launcher

_LINES = re.compile(r"^\s*(\d+)\s*(?:[-:,]\s*(\d+)\s*)?$")


def parse_lines(spec: str, line_count: int) -> tuple[int, int]:
    """``"10-24"`` → 0-based ``(9, 24)``, end exclusive; checked against the file."""
    match = _LINES.match(spec)
    if not match:
        raise LlamafileLsError(f"--lines {spec!r} is not a range like 10-24")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if first < 1 or last < first:
        raise LlamafileLsError(f"--lines {spec!r}: the range must start at 1 or later and not run backwards")
    if last > line_count:
        raise LlamafileLsError(f"--lines {spec!r}: the file has only {line_count} lines")
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

    def update(self, chunks: int, _answer: str) -> None:
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


async def _edit(args: argparse.Namespace, config_path: str | None) -> int:
    from llamafile_ls import textedit
    from llamafile_ls.config_file import load_config
    from llamafile_ls.edit import EditRequest, run_edit
    from llamafile_ls.languages import language_for
    from llamafile_ls.launcher import Launcher
    from llamafile_ls.llamafile import LlamafileProvider

    config = load_config(config_path)
    print_warnings(config)
    model = config.model(args.model)
    path = Path(args.file)
    original, text, bom = _read_text(path)
    start, end = parse_lines(args.lines, len(textedit.split_lines(text)))
    request = EditRequest(
        text=text,
        start_line=start,
        end_line=end,
        instruction=args.instruction,
        file_path=str(path),
        language=language_for(str(path)),
    )
    progress = Progress(model.title)
    provider = LlamafileProvider(model)
    launcher = Launcher(die_with_parent=False)
    launched = None
    try:
        launched = await launcher.ensure_running(model, provider, progress.status)
        progress.start(model.api_base)
        result = await run_edit(request, model, provider, on_progress=progress.update)
        progress.finish(result.answer_chunks)
    finally:
        await provider.aclose()
        if launched is not None:
            await _leave_or_stop(launcher, launched, stop=args.stop_server)
    if not result.changed:
        print("llamafile-ls: the model left the code unchanged", file=sys.stderr)
        return 0
    new_text = textedit.apply_edits(text, result.edits)
    if args.write:
        if path.read_bytes() != original:
            return fail(f"{path} changed while the model was answering; nothing was written")
        _write_atomically(path, bom + new_text)
        print(f"llamafile-ls: wrote {path}", file=sys.stderr)
    else:
        diff = difflib.unified_diff(
            textedit.split_lines(text),
            textedit.split_lines(new_text),
            fromfile=f"a/{args.file}",
            tofile=f"b/{args.file}",
        )
        for line in diff:
            ended = line.endswith(("\n", "\r"))
            sys.stdout.write(line if ended else line + "\n\\ No newline at end of file\n")
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


def _read_text(path: Path) -> tuple[bytes, str, str]:
    """The file's bytes, its text, and its BOM (kept as it was)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise LlamafileLsError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LlamafileLsError(f"{path} is not UTF-8 text") from None
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    return raw, text[len(bom) :], bom


def _write_atomically(path: Path, text: str) -> None:
    """Replace the file in one step, keeping its permissions; a crash leaves the old file."""
    path = path.resolve()  # write through a symlink, never replace it
    mode = path.stat().st_mode
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
