"""Start a model's llamafile when nothing answers at its api_base, and look after it.

The command comes only from the user's own config (never from a workspace or the client):
the caller decides whether a config may launch. It is split like a shell would split it
(quotes, ``~``) and run without a shell; its output goes to a log file. Readiness is
polled, never slept on: llama.cpp answers ``/health`` 503 while loading, llamafile 0.8/0.9
binds its port only once loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from llamafile_ls.errors import LaunchFailed

if TYPE_CHECKING:
    from llamafile_ls.config import ModelConfig
    from llamafile_ls.providers.base import Provider
    from llamafile_ls.providers.base import State as Probe

StatusCallback = Callable[[str], None]
_POLL_SECONDS = 0.25
_LOG_TAIL_LINES = 12


def split_command(command: str) -> list[str]:
    """``llamafile_command`` as arguments: shell quoting rules, ``~`` expanded, no shell."""
    try:
        parts = shlex.split(command)
    except ValueError as error:
        raise LaunchFailed(f"llamafile_command {command!r} cannot be split into arguments: {error}") from None
    if not parts:
        raise LaunchFailed("llamafile_command is empty")
    return [os.path.expanduser(part) if part.startswith("~") else part for part in parts]


def runnable_command(model: ModelConfig) -> list[str]:
    """The model's ``llamafile_command`` as arguments, checked before anything runs: it splits,
    and its program exists and may be executed. :class:`LaunchFailed` says what to fix."""
    command = split_command(model.llamafile_command or "")
    program = command[0] if os.sep in command[0] else (shutil.which(command[0]) or command[0])
    if not os.path.exists(program):
        raise LaunchFailed(
            f"llamafile_command of model {model.title!r}: {command[0]} does not exist; "
            "use an absolute path to the llamafile"
        )
    if not os.access(program, os.X_OK):
        raise LaunchFailed(
            f"llamafile_command of model {model.title!r}: {program} is not executable; "
            f"run `chmod +x {shlex.quote(program)}`"
        )
    return command


def log_directory() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "llamafile-ls"


def log_path_for(api_base: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", api_base.split("://", 1)[-1]).strip("-")
    return log_directory() / f"llamafile-{slug}.log"


_LAUNCH_HEADER = "llamafile-ls starts:"


def tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last lines the latest launch wrote to its log, on one line."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    latest = text.rsplit(_LAUNCH_HEADER, 1)[-1].split("\n", 1)[-1] if _LAUNCH_HEADER in text else text
    return " | ".join(line.strip() for line in latest.strip().splitlines()[-lines:] if line.strip())


@attrs.define
class Launched:
    """A model server this process started."""

    process: subprocess.Popen[bytes]
    command: list[str]
    log: Path
    api_base: str


async def probe(provider: Provider) -> Probe:
    """What answers at the provider's api_base: ready, loading, nothing, or something else."""
    return (await provider.probe()).state


class Launcher:
    """Starts at most one process per api_base, however many requests arrive together."""

    def __init__(self, *, die_with_parent: bool) -> None:
        # The language server ties a started process to its own life; the CLI leaves it
        # running for the next edit.
        self.die_with_parent = die_with_parent
        self.launched: dict[str, Launched] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def ensure_running(
        self, model: ModelConfig, provider: Provider, on_status: StatusCallback | None = None
    ) -> Launched | None:
        """Make sure the model's server answers, starting ``llamafile_command`` if needed.

        Returns what was started by this call (None if the server was already there).
        """
        if not model.llamafile_command:
            return None
        say = on_status or (lambda _message: None)
        key = provider.shown_url
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            state = await probe(provider)
            if state == "ready":
                return None
            if state == "foreign":
                raise LaunchFailed(
                    f"something answers at {key} but it is not a llamafile or llama.cpp server (no /health); "
                    f"stop it or change api_base of model {model.title!r}, rather than starting a second server"
                )
            mine = self.launched.get(key)
            if mine is not None and mine.process.poll() is None:
                try:
                    await self._wait_ready(mine, model, provider, say)  # still loading what we started
                    return None
                except LaunchFailed:
                    if mine.process.poll() is None:
                        raise
                    # It died meanwhile (killed, crashed after it had been serving): start anew.
            if state == "loading":
                say("waiting for the model server to finish loading")
                await self._wait_ready(None, model, provider, say)
                return None
            launched = self._start(model, key)
            self.launched[key] = launched
            say(f"starting llamafile (log: {launched.log})")
            await self._wait_ready(launched, model, provider, say)
            return launched

    def _start(self, model: ModelConfig, key: str) -> Launched:
        command = runnable_command(model)
        log = log_path_for(key)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            out.write(f"\n--- {stamp} {_LAUNCH_HEADER} {shlex.join(command)}\n".encode())
            out.flush()
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C in the terminal is not meant for it
                    preexec_fn=_die_with_parent if self.die_with_parent and sys.platform == "linux" else None,
                )
            except OSError as error:  # gone or changed since it was checked
                raise LaunchFailed(f"llamafile_command of model {model.title!r} could not start: {error}") from None
        return Launched(process, command, log, key)

    async def _wait_ready(
        self, launched: Launched | None, model: ModelConfig, provider: Provider, say: StatusCallback
    ) -> None:
        started = time.monotonic()
        timeout = model.llamafile_start_timeout
        shown = -1
        while True:
            if launched is not None and launched.process.poll() is not None:
                code = launched.process.returncode
                self.launched.pop(launched.api_base, None)
                details = tail(launched.log, 6)
                raise LaunchFailed(
                    f"llamafile_command exited with code {code} before the model was ready: "
                    f"{shlex.join(launched.command)}" + (f"; its output ends: {details}" if details else "")
                    + f" (log: {launched.log})"
                )  # fmt: skip
            state = await probe(provider)
            if state == "ready":
                return
            if state == "foreign":
                raise LaunchFailed(f"the server at {provider.shown_url} is not a llamafile or llama.cpp server")
            waited = time.monotonic() - started
            if waited > timeout:
                if launched is not None:
                    await self.stop(launched)
                raise LaunchFailed(
                    f"the model server at {provider.shown_url} was not ready after {timeout:g} s "
                    "(llamafile_start_timeout)"
                    + (f"; its output ends: {tail(launched.log, 6)} (log: {launched.log})" if launched else "")
                )  # fmt: skip
            if int(waited) != shown:
                shown = int(waited)
                say(f"loading model… {shown} s")
            await asyncio.sleep(_POLL_SECONDS)

    async def stop(self, launched: Launched) -> None:
        """Stop a process this launcher started (never one it did not)."""
        self.launched.pop(launched.api_base, None)
        process = launched.process
        if process.poll() is not None:
            return
        process.terminate()
        for _ in range(50):
            if process.poll() is not None:
                return
            await asyncio.sleep(0.1)
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(2)

    async def stop_all(self) -> None:
        for launched in list(self.launched.values()):
            await self.stop(launched)

    def kill_all_now(self) -> None:
        """Synchronous last resort at process exit."""
        for launched in list(self.launched.values()):
            if launched.process.poll() is None:
                launched.process.terminate()
        self.launched.clear()


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the language server dies, even by SIGKILL."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
