#!/usr/bin/env python3
"""A soak: many edits through the LSP against the real llama-server; memory and file
descriptors of the server process must stay flat.

One real ``llamafile-ls`` process, driven by pytest-lsp's client like an editor would, makes
cheap edits (a line or two of a small file, a few tokens, temperature 0) on SmolLM2, with what
stresses resources mixed in: every 10th edit cancelled mid-stream with ``$/cancelRequest``
(every 100th by the progress's cancel button instead), concurrent pairs on one document,
a config reload every 100 edits (a changed ``maxTokens``, every other time a renamed model),
documents opened and closed every 10 edits, and edits whose model answer fails (a model on a
closed port, a model the llama-server refuses). The server's RSS (``VmRSS``) and open fds
(``/proc/PID/fd``) are read after a warm-up of 50 edits and then every 100.

    python bench/soak.py --edits 1000      # the soak (a few minutes on 2 cores)
    python bench/soak.py --edits 60        # a quick run
    python bench/soak.py --tracemalloc 12  # also: the server's allocations that grew, by line

Asyncio tasks and live objects by type are read in the server by a probe this script puts on
the server's ``PYTHONPATH`` (a ``sitecustomize``): bench tooling, not part of llamafile-ls.
The verdict is printed; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from lsprotocol import types  # noqa: E402
from pygls.exceptions import JsonRpcRequestCancelled  # noqa: E402
from pytest_lsp import LanguageClient  # noqa: E402
from support.lsp_editor import Editor, edit_args, execute, start, stop  # noqa: E402
from support.ports import free_port  # noqa: E402

from bench.run import LlamaServer, Row, rss_mb  # noqa: E402

WARM_UP = 50  # edits before the first reading
EVERY = 100  # edits between readings, config reloads
FLAT_FDS = 2  # fds: the end within this many of the warm-up
FLAT_RSS_MB = 10.0  # RSS: growth below this from the warm-up to the end
EDIT_TIMEOUT = 120.0  # seconds; an edit that takes longer is counted as stuck
# Live objects counted at each reading: what an edit, a document or a config reload makes.
WATCHED = {
    "providers": "llamafile_ls.providers.llamacpp.LlamaCppProvider",
    "http_clients": "httpx.AsyncClient",
    "documents": "llamafile_ls.document.LspDocument",
    "locks": "asyncio.locks.Lock",
    "futures": "concurrent.futures._base.Future",
}

SOURCE = """def area(width, height):
    return width * height


def greet(name):
    print("Hello, " + name)


total = area(3, 4)
greet("world")
"""
INSTRUCTIONS = ("use an f-string", "rename the variable", "add a type hint", "use multiplication")
TEMPLATE = "# {{{user_input}}}\n{{{code_to_edit}}}\n# rewritten:\n"  # the answer: one line

# The probe: a sitecustomize in the measured server only (it is on no other process's path).
PROBE = r'''"""bench/soak.py's probe in the server it measures; not part of llamafile-ls."""
import os


def _install(address):
    import asyncio
    import gc
    import json
    import socket
    import threading
    import tracemalloc
    from asyncio import base_events

    frames = int(os.environ.get("LLAMAFILE_SOAK_TRACEMALLOC") or 0)
    if frames:
        tracemalloc.start(frames)
    loops = []
    run_forever = base_events.BaseEventLoop.run_forever

    def recording(self):
        loops.append(self)
        return run_forever(self)

    base_events.BaseEventLoop.run_forever = recording

    def measure(command):
        gc.collect()
        counts = {}
        for obj in gc.get_objects():
            kind = type(obj)
            name = f"{kind.__module__}.{kind.__qualname__}"
            counts[name] = counts.get(name, 0) + 1
        if command.startswith("snapshot ") and tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(command.split(" ", 1)[1])
        tasks = len(asyncio.all_tasks(loops[-1])) if loops else None
        return {"tasks": tasks, "objects": sum(counts.values()), "types": counts}

    def serve():
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(address)
        listener.listen(1)
        while True:
            connection, _ = listener.accept()
            with connection:
                command = connection.recv(4096).decode().strip()
                answer, done = {}, threading.Event()

                def run():
                    try:
                        answer.update(measure(command))
                    except Exception as error:
                        answer["error"] = repr(error)
                    done.set()

                if loops and loops[-1].is_running():
                    loops[-1].call_soon_threadsafe(run)  # tasks are the loop's: count them there
                else:
                    run()
                done.wait(60)
                connection.sendall(json.dumps(answer).encode() + b"\n")

    threading.Thread(target=serve, name="soak-probe", daemon=True).start()


if os.environ.get("LLAMAFILE_SOAK_PROBE"):
    _install(os.environ["LLAMAFILE_SOAK_PROBE"])
'''


def soak_config(path: Path, api_base: str, closed_base: str, reload: int) -> Path:
    """Reload ``k`` changes maxTokens; every other reload also renames the main model.

    A short prompt and a one-line answer keep an edit cheap (SmolLM2 on 2 cores); the
    refused model keeps the built-in template.
    """
    common = {
        "provider": "llamafile",
        "model": "SmolLM2-135M-Instruct",
        "contextLength": 4096,
        "promptTemplates": {"edit": TEMPLATE},
    }
    models = [
        {"title": f"soak-{reload // 2}", "apiBase": api_base,
         "completionOptions": {"temperature": 0, "maxTokens": 24 + reload % 2, "stop": ["\n"]}, **common},
        {"title": "soak-long", "apiBase": api_base, "llamaCppArgs": {"ignore_eos": True},
         "completionOptions": {"temperature": 0, "maxTokens": 400}, **common},
        {"title": "soak-closed", "apiBase": closed_base, "requestOptions": {"timeout": 10}, **common},
        {"title": "soak-refused", "apiBase": api_base, "llamaCppArgs": {"grammar": "root ::= ((("},
         "completionOptions": {"temperature": 0, "maxTokens": 24}, **common, "promptTemplates": {}},
    ]  # fmt: skip
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"models": models}, indent=1))
    temporary.replace(path)  # whole: the server never reads half a file
    return path


def fd_kinds(pid: int) -> dict[str, int]:
    kinds: collections.Counter[str] = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            kinds[target.split(":")[0] if ":" in target else "file"] += 1
    return dict(kinds)


async def ask_probe(address: str, command: str) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(address)
    try:
        writer.write(command.encode() + b"\n")
        await writer.drain()
        answer: dict[str, Any] = json.loads(await asyncio.wait_for(reader.readline(), 60))
        return answer
    finally:
        writer.close()
        await writer.wait_closed()


class Soak:
    def __init__(self, work: Path, server: LlamaServer, edits: int, tracemalloc: int = 0) -> None:
        self.work = work
        self.server = server
        self.edits = edits
        self.tracemalloc = tracemalloc
        self.closed_base = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        self.config = work / "soak.json"
        self.probe = str(work / "probe.sock")
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.reasons: collections.Counter[str] = collections.Counter()
        self.series: list[Row] = []
        self.types: dict[int, dict[str, int]] = {}
        self.snapshots: dict[int, Path] = {}
        self.reloads = 0
        self.documents = 0
        self.sampling = 0.0

    # --- one edit of each kind --------------------------------------------------------------

    def classify(self, result: Any, expected: str = "") -> str:
        if isinstance(result, dict) and result.get("applied"):
            return "applied"
        reason = str(result.get("reason", "")) if isinstance(result, dict) else repr(result)
        if "unchanged" in reason:
            return "unchanged"
        if expected:
            return expected
        self.reasons[reason[:120]] += 1
        return "failed" if "model server" in reason else "not applied"

    async def edit(self, client: LanguageClient, uri: str, lines: tuple[int, int], index: int, **extra: Any) -> str:
        args = edit_args(uri, *lines, INSTRUCTIONS[index % len(INSTRUCTIONS)], **extra)
        try:
            result = await asyncio.wait_for(execute(client, "llamafile.edit", args), EDIT_TIMEOUT)
        except asyncio.TimeoutError:
            return "stuck"
        return self.classify(result, "failed (as meant)" if "model" in extra else "")

    async def cancelled_edit(self, client: LanguageClient, uri: str, lines: tuple[int, int], index: int) -> str:
        """A long answer cancelled once its first tokens are in: ``$/cancelRequest``, or
        every 100th edit the progress's cancel button (``window/workDoneProgress/cancel``)."""
        token, msg_id = f"soak-t{index}", f"soak-r{index}"
        args = edit_args(uri, *lines, INSTRUCTIONS[index % len(INSTRUCTIONS)], model="soak-long")
        call = asyncio.ensure_future(execute(client, "llamafile.edit", args, token=token, msg_id=msg_id))
        deadline = time.monotonic() + EDIT_TIMEOUT
        while not call.done() and not any(
            isinstance(r, types.WorkDoneProgressReport) for r in client.progress_reports.get(token, [])
        ):
            if time.monotonic() > deadline:
                call.cancel()
                return "stuck"
            await asyncio.sleep(0.005)
        if index % EVERY == 0:
            client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        else:
            client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
        try:
            result = await asyncio.wait_for(call, EDIT_TIMEOUT)
        except JsonRpcRequestCancelled:
            return "cancelled"
        except asyncio.TimeoutError:
            return "stuck"
        finally:
            client.progress_reports.pop(token, None)
        if isinstance(result, dict) and result.get("reason") == "cancelled":
            return "cancelled"
        return "cancelled too late (" + self.classify(result) + ")"

    # --- documents, config, readings ------------------------------------------------------

    def open_document(self, editor: Editor) -> str:
        self.documents += 1
        return editor.open(self.work / "docs" / f"doc-{self.documents}.py", SOURCE)

    def close_document(self, client: LanguageClient, editor: Editor, uri: str) -> None:
        editor.docs.pop(uri, None)
        client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))

    async def reading(self, pid: int, done: int) -> None:
        started = time.perf_counter()
        await asyncio.sleep(0.3)  # the last didChange and connection closes settle
        row: Row = {"edits": done, "rss_mb": round(rss_mb(pid), 2), "fds": len(os.listdir(f"/proc/{pid}/fd")),
                    "fd_kinds": fd_kinds(pid)}  # fmt: skip
        command = "stats"
        if self.tracemalloc and (done == WARM_UP or done >= self.edits):
            self.snapshots[done] = self.work / f"snapshot-{done}.tracemalloc"
            command = f"snapshot {self.snapshots[done]}"
        try:
            probe = await ask_probe(self.probe, command)
            row["tasks"], row["objects"] = probe.get("tasks"), probe.get("objects")
            self.types[done] = probe.get("types", {})
            row["live"] = {key: self.types[done].get(name, 0) for key, name in WATCHED.items()}
        except (OSError, ValueError, asyncio.TimeoutError) as error:
            row["probe_error"] = repr(error)
        self.series.append(row)
        print(f"soak: {done:5d} edits  rss {row['rss_mb']:6.1f} MB  fds {row['fds']:3d}  "
              f"tasks {row.get('tasks')}  objects {row.get('objects')}", file=sys.stderr, flush=True)  # fmt: skip
        self.sampling += time.perf_counter() - started

    # --- the run ---------------------------------------------------------------------------

    async def run(self) -> Row:
        (self.work / "docs").mkdir(exist_ok=True)
        probe_dir = self.work / "probe"
        probe_dir.mkdir(exist_ok=True)
        (probe_dir / "sitecustomize.py").write_text(PROBE)
        env = {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(probe_dir), os.environ.get("PYTHONPATH")])),
            "LLAMAFILE_SOAK_PROBE": self.probe,
            "LLAMAFILE_SOAK_TRACEMALLOC": str(self.tracemalloc or ""),
        }
        soak_config(self.config, self.server.url, self.closed_base, self.reloads)
        client_log = logging.getLogger("pytest_lsp")  # it echoes every window/logMessage
        level = client_log.level
        client_log.setLevel(logging.CRITICAL)
        client, editor = await start(self.config, env=env)
        pid = client._server.pid  # type: ignore[union-attr]
        readings = {WARM_UP, *range(EVERY, self.edits + 1, EVERY), self.edits}
        done = 0
        uri = self.open_document(editor)
        started = time.perf_counter()
        try:
            while done < self.edits:
                index = done + 1
                text_lines = max(len(editor.text(uri).splitlines()), 1)
                first = (index * 3) % max(text_lines - 1, 1)
                lines = (first, min(first + index % 2, text_lines - 1))
                if index % 10 == 0:
                    outcomes = [await self.cancelled_edit(client, uri, lines, index)]
                elif index % 50 == 25:
                    outcomes = [await self.edit(client, uri, lines, index, model="soak-closed")]
                elif index % 50 == 45:
                    outcomes = [await self.edit(client, uri, lines, index, model="soak-refused")]
                elif index % 50 == 33 and index < self.edits:  # a pair at once, on one document
                    outcomes = list(await asyncio.gather(
                        self.edit(client, uri, (0, 1), index),
                        self.edit(client, uri, (text_lines - 2, text_lines - 1), index + 1),
                    ))  # fmt: skip
                else:
                    outcomes = [await self.edit(client, uri, lines, index)]
                self.outcomes.update(outcomes)
                done += len(outcomes)
                if done % 10 == 0:  # a fresh document; the old one closed
                    self.close_document(client, editor, uri)
                    uri = self.open_document(editor)
                    editor.apply_requests.clear()
                    client.messages.clear()
                    client.log_messages.clear()
                if done in readings:
                    await self.reading(pid, done)
                if done % EVERY == 0 and done < self.edits:
                    self.reloads += 1
                    soak_config(self.config, self.server.url, self.closed_base, self.reloads)
            seconds = time.perf_counter() - started - self.sampling
        finally:
            await stop(client)
            client_log.setLevel(level)
        return self.summary(seconds)

    def summary(self, seconds: float) -> Row:
        first, last = self.series[0], self.series[-1]
        rss_growth = last["rss_mb"] - first["rss_mb"]
        fd_growth = last["fds"] - first["fds"]
        grown = collections.Counter(self.types.get(last["edits"], {}))
        grown.subtract(self.types.get(first["edits"], {}))
        result: Row = {
            "edits": sum(self.outcomes.values()),
            "outcomes": dict(self.outcomes.most_common()),
            "applied": self.outcomes["applied"],
            "cancelled": self.outcomes["cancelled"],
            "failed": sum(n for k, n in self.outcomes.items() if k.startswith("failed")),
            "reasons": dict(self.reasons.most_common(10)),
            "config_reloads": self.reloads,
            "documents_opened": self.documents,
            "seconds": round(seconds, 1),
            "edits_per_s": round(sum(self.outcomes.values()) / seconds, 2),
            "series": self.series,
            "warm_up_edits": first["edits"],
            "rss_growth_mb": round(rss_growth, 2),
            "fd_growth": fd_growth,
            "tasks_growth": (last.get("tasks") or 0) - (first.get("tasks") or 0),
            "objects_growth": (last.get("objects") or 0) - (first.get("objects") or 0),
            "types_grown": {k: n for k, n in grown.most_common(12) if n > 0},
            "flat": abs(fd_growth) <= FLAT_FDS and rss_growth < FLAT_RSS_MB,
        }
        if len(self.snapshots) == 2:
            result["allocations_grown"] = allocation_growth(*self.snapshots.values())
        return result


def allocation_growth(before: Path, after: Path, top: int = 12) -> list[str]:
    """The server's allocations that grew between two snapshots, by line (then a traceback
    for the biggest)."""
    import tracemalloc

    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "*sitecustomize.py")]
    old = tracemalloc.Snapshot.load(str(before)).filter_traces(ignore)
    new = tracemalloc.Snapshot.load(str(after)).filter_traces(ignore)
    lines = [str(stat) for stat in new.compare_to(old, "lineno")[:top]]
    biggest = new.compare_to(old, "traceback")[:1]
    for stat in biggest:
        lines.append(f"biggest growth: {stat.size_diff / 1024:.1f} KiB in {stat.count_diff:+d} blocks, allocated at")
        lines += [f"  {line}" for line in stat.traceback.format(limit=12)]
    return lines


async def soak(work: Path, server: LlamaServer, edits: int, tracemalloc: int = 0) -> Row:
    return await Soak(work, server, edits, tracemalloc).run()


def report(result: Row) -> str:
    first, last = result["series"][0], result["series"][-1]
    outcomes = ", ".join(f"{n} {k}" for k, n in result["outcomes"].items())
    lines = [
        f"{result['edits']} edits in {result['seconds']} s ({result['edits_per_s']} edits/s): {outcomes}",
        f"{result['config_reloads']} config reloads, {result['documents_opened']} documents opened and closed",
        "",
        "| edits | RSS (MB) | fds | asyncio tasks | live objects | " + " | ".join(WATCHED) + " |",
        "|---" * (5 + len(WATCHED)) + "|",
        *(f"| {r['edits']} | {r['rss_mb']:.1f} | {r['fds']} | {r.get('tasks')} | {r.get('objects')} | "
          + " | ".join(str(r.get("live", {}).get(key, "")) for key in WATCHED) + " |"
          for r in result["series"]),
        "",
        f"from {first['edits']} to {last['edits']} edits: RSS {result['rss_growth_mb']:+.1f} MB, "
        f"fds {result['fd_growth']:+d}, tasks {result['tasks_growth']:+d}, objects {result['objects_growth']:+d}",
    ]  # fmt: skip
    if result["types_grown"]:
        lines.append("live objects that grew: " + ", ".join(f"{k} {n:+d}" for k, n in result["types_grown"].items()))
    if result["reasons"]:
        lines.append("unexpected outcomes: " + "; ".join(f"{n}× {k}" for k, n in result["reasons"].items()))
    if result.get("allocations_grown"):
        lines += ["allocations that grew (tracemalloc, by line):", *result["allocations_grown"]]
    verdict = "FLAT" if result["flat"] else "GROWS"
    lines.append(
        f"verdict: {verdict} (flat: fds within ±{FLAT_FDS} of the warm-up, RSS growth under {FLAT_RSS_MB:g} MB)"
    )
    return "\n".join(lines)


def table_rows(result: Row) -> list[tuple[str, str, str, str]]:
    """bench/run.py's table rows: (measure, value, range, goal)."""
    first, last = result["series"][0], result["series"][-1]
    done = f"{first['edits']} → {last['edits']} edits"
    counts = f"{result['applied']} applied, {result['cancelled']} cancelled, {result['failed']} failed"
    return [
        (f"soak: server RSS, {done} (MB)", f"{first['rss_mb']:.1f} → {last['rss_mb']:.1f}",
         f"{result['rss_growth_mb']:+.1f}", f"< +{FLAT_RSS_MB:g}"),
        (f"soak: server open fds, {done}", f"{first['fds']} → {last['fds']}", f"{result['fd_growth']:+d}",
         f"± {FLAT_FDS}"),
        ("soak: edits per second (SmolLM2, a few tokens each)", f"{result['edits_per_s']:.1f}",
         f"{counts} of {result['edits']}", ""),
    ]  # fmt: skip


async def main_async(args: argparse.Namespace) -> Row:
    with tempfile.TemporaryDirectory(prefix="llamafile-soak-") as tmp:
        work = Path(tmp)
        os.environ["XDG_STATE_HOME"] = str(work / "state")
        # One thread: on 2 busy cores, two threads that wait for each other at every step are
        # slowed far more than one (the soak measures us, not llama-server).
        server = LlamaServer(slots=2, threads=1)
        try:
            return await soak(work, server, args.edits, args.tracemalloc)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=1000, help=f"at least {WARM_UP + 1}; default 1000")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="trace the server's allocations (this many frames) and show what grew")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()
    if args.edits <= WARM_UP:
        parser.error(f"--edits must be more than the warm-up of {WARM_UP}")
    result = asyncio.run(main_async(args))
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
