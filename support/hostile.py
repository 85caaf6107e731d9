"""A model server that misbehaves at the byte level, for the adversarial suite.

Where support/fakeserver.py plays well-formed replies, this one plays a script of raw actions
per request: bytes to write, pauses, a close at any moment, an endless flood. It runs in its
own thread, so the CLI in a subprocess (and the language server) can talk to it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Union

Close = type("Close", (), {})  # a marker: close the connection now
CLOSE = Close()
Action = Union[bytes, float, Close]  # noqa: UP007 — bytes to send, seconds to pause, or close


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


Script = Callable[[Seen], Iterable[Action]]


def head(status: int = 200, content_type: str = "text/event-stream", **headers: str) -> bytes:
    """A response head for a chunked body (``chunked=False`` in ``headers`` for none)."""
    lines = [f"HTTP/1.1 {status} Status", f"Content-Type: {content_type}"]
    if headers.pop("chunked", "yes") != "no":
        lines.append("Transfer-Encoding: chunked")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return b"%x\r\n%s\r\n" % (len(raw), raw)


END = b"0\r\n\r\n"


def event(payload: dict[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return chunk(f"data: {text}\n\n")


def answer(*words: str, stop_type: str = "eos") -> list[Action]:
    """A complete, well-formed llama.cpp answer."""
    events = [event({"content": word, "stop": False}) for word in words]
    events.append(event({"content": "", "stop": True, "stop_type": stop_type}))
    return [head(), *events, END]


def body_reply(status: int, body: bytes | str, content_type: str = "application/json") -> list[Action]:
    raw = body.encode() if isinstance(body, str) else body
    return [head(status, content_type, chunked="no", Content_Length=str(len(raw))), raw]


class HostileServer:
    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.seen: list[Seen] = []
        self.hangups = 0  # connections the client closed while a script was still playing
        self.connections = 0  # connections the client opened
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def play(self, path: str, script: Script | Iterable[Action]) -> None:
        if callable(script):
            self.scripts[path] = script
        else:
            actions = list(script)
            self.scripts[path] = lambda _seen: actions

    def start(self) -> HostileServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop)
        self._server = future.result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            # Scripts that play for ever (pings, floods) end here, not with the loop.
            others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                raw_head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                seen = Seen(method, path, headers, body)
                self.seen.append(seen)
                script = self.scripts.get(path)
                actions = script(seen) if script else body_reply(404, b"File Not Found", "text/plain")
                if not await self._perform(actions, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _perform(self, actions: Iterable[Action], writer: asyncio.StreamWriter) -> bool:
        try:
            for action in actions:
                if isinstance(action, Close):
                    return False
                if isinstance(action, float):
                    await asyncio.sleep(action)
                    continue
                writer.write(action)
                await writer.drain()
        except ConnectionError:
            self.hangups += 1
            return False
        return True
