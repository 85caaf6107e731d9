#!/usr/bin/env python3
"""Inline completion against a typing replay: a file written keystroke by keystroke with
human timings, through the real server process, asking for ghost text after every
keystroke as an editor does.

    python bench/typing_replay.py --fake        # a scripted /infill: request counts in seconds
    python bench/typing_replay.py               # the real llama-server and Qwen2.5-Coder-0.5B
    python bench/typing_replay.py --synthesize  # (re)write bench/typing/session.json

A counting proxy between llamafile-ls and the model server sees what the model server
sees: the requests, the connections closed mid-answer (generations wasted), and
llama.cpp's ``timings`` (prompt tokens evaluated versus served from its cache).

The naive client of the comparison (one request per keystroke, no cache, no cancel) makes
100 requests per 100 keystrokes by construction, so it is not run.

The committed session is synthetic (seeded human-like timings over a real file), until
one is recorded from real typing: its "source" field says which it is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from lsprotocol import types  # noqa: E402
from support.fakeserver import FakeModelServer, Reply, Request, sse  # noqa: E402
from support.lsp_editor import capabilities, start, stop  # noqa: E402
from support.ports import free_port  # noqa: E402

SESSION = ROOT / "bench" / "typing" / "session.json"
TEXT = '''"""Word counts of text files, most common first."""

import sys
from collections import Counter


def words(line):
    """The lower-case words of a line, without punctuation."""
    return [word.strip(".,;:!?\\"'()").lower() for word in line.split()]


def count_words(path):
    counts = Counter()
    with open(path, encoding="utf-8") as file:
        for line in file:
            counts.update(word for word in words(line) if word)
    return counts


def main(paths):
    total = Counter()
    for path in paths:
        total += count_words(path)
    for word, count in total.most_common(10):
        print(f"{count:6d} {word}")


if __name__ == "__main__":
    main(sys.argv[1:])
'''


# --- the session ---------------------------------------------------------------------------


def synthesize(text: str, seed: int = 14) -> dict[str, Any]:
    """Keystrokes with human-like gaps: ~110 ms within a word, longer between words, a
    pause to think at the end of a line. Indentation comes as one keystroke (an editor's
    auto-indent)."""
    rng = random.Random(seed)
    keys: list[tuple[int, str]] = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        indent = body[: len(body) - len(body.lstrip(" "))]
        if indent:
            keys.append((rng.randint(40, 90), indent))
        for char in body[len(indent) :]:
            gap = rng.lognormvariate(4.7, 0.35)  # median ~110 ms
            if char in " (.,:":
                gap += rng.uniform(30, 180)
            keys.append((round(gap), char))
        if line.endswith("\n"):
            keys.append((round(rng.uniform(350, 1400)), "\n"))
    return {"source": f"synthetic (seed {seed})", "file": "wordcount.py", "text": text, "keys": keys}


# --- a proxy that counts what the model server sees ------------------------------------------------


class CountingProxy:
    """TCP between llamafile-ls and the model server, counting requests by path, answers
    cut short by the client (generations wasted) and llama.cpp's timings."""

    _REQUEST = re.compile(rb"(?:^|\r\n)(POST|GET) (/[\w/]*) HTTP/1\.1\r\n")

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.paths: list[str] = []
        self.timings: list[dict[str, Any]] = []
        self.wasted = 0
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> CountingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def requests(self, path: str = "/infill") -> int:
        return sum(1 for seen in self.paths if seen in (path, "/completion"))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        state = {"streaming": False, "tokens": False}

        async def to_server() -> None:
            while data := await reader.read(65536):
                for match in self._REQUEST.finditer(data):
                    self.paths.append(match.group(2).decode())
                    state.update(streaming=True, tokens=False)
                up_writer.write(data)
                await up_writer.drain()
            if state["streaming"] and state["tokens"]:
                self.wasted += 1  # the client hung up in the middle of an answer

        async def to_client() -> None:
            pending = b""
            while data := await up_reader.read(65536):
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.startswith(b"data: ") and b'"content"' in line:
                        with contextlib.suppress(ValueError):
                            event = json.loads(line[6:])
                            state["tokens"] = state["tokens"] or bool(event.get("content"))
                            if event.get("stop"):
                                state["streaming"] = False
                                if isinstance(event.get("timings"), dict):
                                    self.timings.append(event["timings"])
                writer.write(data)
                await writer.drain()

        tasks = [asyncio.ensure_future(to_server()), asyncio.ensure_future(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for stream in (writer, up_writer):
                stream.close()


# --- a scripted model for --fake -----------------------------------------------------------------


def oracle(text: str, delay: float) -> Any:
    """Answers with the rest of the line being typed (a model that always guesses right),
    a token every ``delay`` seconds."""

    def handler(request: Request) -> Reply:
        before = request.body["input_prefix"] + request.body["prompt"]
        rest = text[len(before) :].split("\n", 1)[0] if text.startswith(before) else ""
        pieces = [rest[i : i + 4] for i in range(0, len(rest), 4)]
        events: list[dict[str, Any] | str] = [{"content": piece, "stop": False} for piece in pieces]
        events.append({"content": "", "stop": True})  # no timings: a scripted model evaluates nothing
        return Reply(pieces=sse(*events), delay=delay)

    return handler


# --- the replay ------------------------------------------------------------------------------------


async def replay(session: dict[str, Any], api_base_port: int, proxy: CountingProxy, speed: float) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="typing-replay-"))
    config = directory / "config.json"
    model = {
        "title": "coder",
        "provider": "llama.cpp",
        "model": "qwen2.5-coder",
        "apiBase": f"http://127.0.0.1:{api_base_port}",
        "roles": ["autocomplete"],
        "completionOptions": {"temperature": 0},
    }
    config.write_text(json.dumps({"models": [model]}))
    caps = capabilities()
    caps.text_document = types.TextDocumentClientCapabilities(
        inline_completion=types.InlineCompletionClientCapabilities()
    )
    client, editor = await start(config, caps=caps)
    typed = ""
    shown: list[tuple[int, str, float, bool]] = []  # offset in the text, suggestion, ms, served without request
    keys = session["keys"]
    try:
        uri = editor.open(directory / session["file"], "")
        pending: asyncio.Future[Any] | None = None  # not cancelled here: the next request supersedes it
        for delay, key in keys:
            await asyncio.sleep(delay / 1000 / speed)
            line = typed.count("\n")
            column = len(typed.rsplit("\n", 1)[-1])
            editor.type(uri, (line, column), (line, column), key)
            typed += key
            line, column = typed.count("\n"), len(typed.rsplit("\n", 1)[-1])
            params = types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri),
                position=types.Position(line, column),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            )
            pending = asyncio.ensure_future(_ask(client, params, proxy, len(typed)))
            pending.add_done_callback(lambda done: _record(done, shown))
        if pending is not None:
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(pending, 30)
    finally:
        await stop(client)
    text = session["text"]
    accepted = sum(
        1 for offset, suggestion, _ms, _cached in shown if text[offset:].startswith(suggestion.split("\n")[0])
    )
    latencies = [ms for _offset, _suggestion, ms, _cached in shown]
    from_cache = sum(1 for *_shown, cached in shown if cached)
    evaluated = [t.get("prompt_n", 0) / max(1, t.get("prompt_n", 0) + t.get("cache_n", 0)) for t in proxy.timings]
    requests = proxy.requests()
    return {
        "session": session["source"],
        "keystrokes": len(keys),
        "model_requests": requests,
        "requests_per_100_keystrokes": round(100 * requests / len(keys), 1),
        "ratio_to_naive": round(requests / len(keys), 3),
        "suggestions_shown": len(shown),
        "served_without_request": from_cache,
        "prompt_evaluated_share": round(statistics.mean(evaluated), 3) if evaluated else None,
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p95": round(_percentile(latencies, 0.95), 1) if latencies else None,
        "generations_wasted": proxy.wasted,
        "accepted_share": round(accepted / len(shown), 3) if shown else None,
    }


async def _ask(client: Any, params: types.InlineCompletionParams, proxy: CountingProxy, offset: int) -> Any:
    before = proxy.requests()
    started = time.perf_counter()
    result = await client.text_document_inline_completion_async(params)
    elapsed = (time.perf_counter() - started) * 1000
    items = result.items if isinstance(result, types.InlineCompletionList) else result or []
    texts = [item.insert_text for item in items if isinstance(item.insert_text, str)]
    return offset, texts[0] if texts else "", elapsed, proxy.requests() == before


def _record(done: asyncio.Future[Any], shown: list[tuple[int, str, float, bool]]) -> None:
    if done.cancelled() or done.exception() is not None:
        return
    offset, text, elapsed, cached = done.result()
    if text:
        shown.append((offset, text, elapsed, cached))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- running it ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    session = json.loads(Path(args.session).read_text())
    if args.limit:
        session["keys"] = session["keys"][: args.limit]
    if args.fake:
        fake = FakeModelServer().start()
        fake.route("/infill", oracle(session["text"], delay=0.01))
        upstream, process = fake.port, None
    else:
        import real_parts

        upstream = free_port()
        process = subprocess.Popen(
            [str(real_parts.server_path()), "-m", str(real_parts.qwen_path()), "--host", "127.0.0.1",
             "--port", str(upstream), "-c", "8192", "-np", "1", "-t", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        await _wait_ready(upstream)
    proxy = await CountingProxy(upstream).start()
    try:
        return await replay(session, proxy.port, proxy, args.speed)
    finally:
        await proxy.close()
        if process is not None:
            process.terminate()
            process.wait(10)
        else:
            fake.stop()


async def _wait_ready(port: int) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SystemExit("llama-server did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--session", default=str(SESSION))
    parser.add_argument("--fake", action="store_true", help="a scripted /infill instead of the real model")
    parser.add_argument("--limit", type=int, default=0, help="replay only the first N keystrokes")
    parser.add_argument("--speed", type=float, default=1.0, help="type N times faster than recorded")
    parser.add_argument("--synthesize", action="store_true", help="write the synthetic session file and stop")
    parser.add_argument("--json", help="write the numbers here too")
    args = parser.parse_args()
    if args.synthesize:
        SESSION.parent.mkdir(parents=True, exist_ok=True)
        SESSION.write_text(json.dumps(synthesize(TEXT)) + "\n")
        print(f"wrote {SESSION}")
        return 0
    numbers = asyncio.run(run(args))
    for name, value in numbers.items():
        print(f"{name:32} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
