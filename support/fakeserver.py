"""A scripted HTTP server on 127.0.0.1 for fault injection: it plays whatever reply a test
scripts, including the error shapes of llama.cpp and of llamafile 0.8/0.9, broken streams
and slow answers. It runs in its own thread, so subprocesses (the CLI) can talk to it too.

It is a test double: every feature is also proven against the real llama-server.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int = 200
    content_type: str = "text/event-stream"
    # Pieces of the body, each sent after waiting `delay` seconds; None closes the connection
    # at once (a stream that breaks mid-way).
    pieces: list[bytes | None] = field(default_factory=list)
    delay: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def sse(*events: dict[str, Any] | str) -> list[bytes | None]:
    """``data:`` events; strings are sent as they are (comments, [DONE], garbage)."""
    return [(event if isinstance(event, str) else f"data: {json.dumps(event)}\n\n").encode() for event in events]


def completion(*words: str, stop_type: str = "eos") -> Reply:
    """A llama.cpp-style streamed answer made of ``words``."""
    events: list[dict[str, Any] | str] = [{"content": word, "stop": False} for word in words]
    events.append({"content": "", "stop": True, "stop_type": stop_type, "tokens_predicted": len(words)})
    return Reply(pieces=sse(*events))


Handler = Callable[[Request], Reply]


class FakeModelServer:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.requests: list[Request] = []
        self.routes: dict[str, Handler] = {
            "/tokenize": lambda r: Reply(
                content_type="application/json",
                pieces=[json.dumps({"tokens": list(range(len(str(r.body.get("content", "")).split())))}).encode()],
            ),
            "/health": lambda r: Reply(content_type="application/json", pieces=[b'{"status": "ok"}']),
        }
        # time.monotonic() of each moment a client closed its connection in the middle of a
        # reply: how a model server learns that a generation was cancelled.
        self.disconnects: list[float] = []
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def route(self, path: str, handler: Handler | Reply) -> None:
        self.routes[path] = handler if callable(handler) else (lambda _r: handler)

    def start(self) -> FakeModelServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls), self._loop
        )
        self._server = future.result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive, like a real server, until a slow reply (see _send)
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                request = Request(method, path, headers, body)
                self.requests.append(request)
                handler = self.routes.get(path)
                reply = handler(request) if handler else Reply(404, "text/plain", [b"File Not Found"])
                if not await self._send(reply, reader, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _send(self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Send a chunked reply; False when the connection is to be closed.

        A slow reply (``delay``) is the last on its connection: while it is sent, a read that
        ends can then only mean the client hung up, which is recorded in ``disconnects``.
        """
        slow = reply.delay > 0
        writer.write(
            f"HTTP/1.1 {reply.status} X\r\nContent-Type: {reply.content_type}\r\n"
            f"Transfer-Encoding: chunked\r\n{'Connection: close' if slow else 'Connection: keep-alive'}\r\n\r\n".encode()
        )
        hangup = asyncio.ensure_future(reader.read(1)) if slow else None
        try:
            for piece in reply.pieces:
                if hangup is not None:
                    await asyncio.wait({hangup}, timeout=reply.delay)
                    if hangup.done():
                        self.disconnects.append(time.monotonic())
                        return False
                if piece is None:
                    return False
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            self.disconnects.append(time.monotonic())
            return False
        finally:
            if hangup is not None:
                hangup.cancel()
        return not slow
