"""What the CLI says: one module for its output. Every line passes the redactor; a failure
is one line on stderr; an error nobody foresaw is one line too, its traceback in a log."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from llamafile_ls import __version__

if TYPE_CHECKING:
    from llamafile_ls.config import Config


def say(text: str) -> None:
    """A line of a command's report on stdout (``check``)."""
    print(text, flush=True)


def crashed(error: BaseException) -> int:
    """An error nobody foresaw: one line for the user, the traceback (redacted) in a log."""
    import traceback

    from llamafile_ls.redaction import redact

    details = redact("".join(traceback.format_exception(error)))
    where = ""
    try:
        log = crash_log_path()
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} llamafile-ls {__version__}\n{details}\n")
        where = f"; details in {log}"
    except OSError:
        pass
    summary = " ".join(str(error).split())
    summary = summary if len(summary) <= 200 else summary[:197] + "..."
    return fail(f"unexpected internal error ({type(error).__name__}: {summary}){where}; please report it")


def crash_log_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "llamafile-ls" / "crash.log"


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets before they reach the real one, a line at a time
    (a secret is never split across writes of one line)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in text or "\r" in text:
            self.flush()
        return len(text)

    def flush(self) -> None:
        from llamafile_ls.redaction import redact

        if self._pending:
            pending, self._pending = self._pending, ""
            self._stream.write(redact(pending))
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")


def fail(message: str, stream: TextIO | None = None) -> int:
    """Report a failure as the one line the CLI promises; return the exit code."""
    print(f"llamafile-ls: error: {' '.join(message.split())}", file=stream or sys.stderr)
    return 1


def loaded(config: Config, stream: TextIO | None = None) -> None:
    """A config was loaded: remember its secrets before anything is said, then say its warnings."""
    from llamafile_ls.redaction import remember

    remember(config)
    for problem in config.warnings:
        where = ":".join(str(p) for p in (config.source, problem.line) if p is not None)
        print(f"llamafile-ls: warning: {where}: {problem.message}", file=stream or sys.stderr)
