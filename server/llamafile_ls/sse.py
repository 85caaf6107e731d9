"""Server-sent events as model servers send them: lines in, decoded events out. Pure.

What arrives, line by line: ``data: {json}`` events, ``:`` comment pings, ``data: [DONE]``;
errors as ``data: {"error": {...}}`` (llama.cpp, OpenAI) or ``error: {json}`` (llamafile
0.8/0.9); from a server that ignored ``"stream"``, a plain JSON body. Each provider says
how one event's JSON becomes a :class:`~llamafile_ls.providers.base.Chunk`.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llamafile_ls.errors import ContextTooSmall, ModelServerError, StreamBroken

if TYPE_CHECKING:
    from llamafile_ls.providers.base import Chunk

_EOL = re.compile(r"\r\n|\r|\n")
# Error kinds that mean "the prompt does not fit": llama.cpp's and the OpenAI API's.
_CONTEXT_KINDS = frozenset({"exceed_context_size_error", "context_length_exceeded"})
_CONTEXT_WORDS = ("context size", "context length", "context window")


def error_message(payload: Any) -> str:
    """The human part of an error payload in any of the shapes servers send."""
    if isinstance(payload, dict):
        inner = payload.get("error", payload)
        if isinstance(inner, dict):
            return str(inner.get("message") or inner.get("type") or json.dumps(inner))
        return str(inner)
    return str(payload)


def error_from_payload(payload: Any, status: int | None = None) -> ModelServerError | ContextTooSmall:
    message = error_message(payload)
    inner = payload.get("error") if isinstance(payload, dict) else None
    kinds = {str(inner.get(key)) for key in ("type", "code")} if isinstance(inner, dict) else set()
    lowered = message.lower()
    if kinds & _CONTEXT_KINDS or any(
        words in lowered for words in ("context size", "context length", "context window")
    ):
        return ContextTooSmall(
            f"the prompt does not fit the model server's context ({message}); "
            "lower context_length in the config or start the server with a larger --ctx-size"
        )
    return ModelServerError(f"the model server reported an error: {message}", status=status)


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """A chunk field of exactly the documented type: a ``"stop": "false"`` is not a stop."""
    value = data.get(name, default)
    if value is None or value is default:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StreamBroken(f"the model server sent a malformed event: {name!r} is {_clip(json.dumps(value), 40)}")
    return value


class LineReader:
    """Bytes in, lines out, as SSE splits them (``\\r\\n``, ``\\r`` or ``\\n``).

    Linear in the input however it is cut (a UTF-8 character or a CRLF split across reads
    is joined); a line longer than ``limit`` characters, or bytes that are not UTF-8, are an
    error rather than memory spent on a server that is not speaking the protocol.
    """

    def __init__(self, limit: int = 1 << 20) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._pending: list[str] = []  # the start of a line not ended yet
        self._size = 0
        self._after_cr = False  # the last read ended in CR: an LF next belongs to it
        self._limit = limit

    def feed(self, data: bytes) -> list[str]:
        try:
            text = self._decoder.decode(data)
        except UnicodeDecodeError:
            raise StreamBroken("the model server sent bytes that are not UTF-8 text") from None
        if not text:
            return []
        if self._after_cr:
            self._after_cr = False
            text = text[1:] if text[0] == "\n" else text
        lines: list[str] = []
        start = 0
        for match in _EOL.finditer(text):
            self._pending.append(text[start : match.start()])
            self._size += match.start() - start
            self._check()
            lines.append("".join(self._pending))
            self._pending, self._size = [], 0
            start = match.end()
        self._after_cr = text.endswith("\r")
        if start < len(text):
            self._pending.append(text[start:])
            self._size += len(text) - start
            self._check()
        return lines

    def close(self) -> list[str]:
        """The stream ended: its last line, if it had no line ending."""
        try:
            rest = self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise StreamBroken("the model server's answer ended in the middle of a UTF-8 character") from None
        self._pending.append(rest)
        line = "".join(self._pending)
        self._pending, self._size = [], 0
        return [line] if line else []

    def _check(self) -> None:
        if self._size > self._limit:
            raise StreamBroken(
                f"the model server sent a line longer than {self._limit // 1024} KiB; it is not an answer stream"
            )


Decode = Callable[[dict[str, Any]], "Chunk | None"]  # one event's JSON → a chunk (None: no news)


class EventStreamParser:
    """Feed lines; get chunks. Raises on an error event or on text that is not the protocol.

    ``finished`` turns true at the chunk that says why the model stopped, or at ``[DONE]``.
    """

    def __init__(self, decode: Decode) -> None:
        self._decode = decode
        self.finished = False
        self._pending: list[str] = []  # a data field split over lines (rare, but legal SSE)

    def feed(self, line: str) -> Chunk | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._flush()
        if line.startswith(":"):
            return None  # a keep-alive comment
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            if value.strip() == "[DONE]":
                self.finished = True
                return None
            self._pending.append(value)
            return self._parse_pending(final=False)
        if field == "error":  # llamafile 0.8/0.9
            raise error_from_payload(_loads_or_text(value))
        if field in ("event", "id", "retry"):
            return None
        if line.lstrip().startswith("{"):  # a server that ignored "stream": a JSON body
            payload = _loads_or_text(line)
            if isinstance(payload, dict) and "error" in payload:
                raise error_from_payload(payload)
            if isinstance(payload, dict):
                chunk = self._decode(payload)
                if chunk is not None:
                    self.finished = chunk.stop
                    return chunk
        raise StreamBroken(f"the model server sent something that is not an event stream: {_clip(line)}")

    def _flush(self) -> Chunk | None:
        return self._parse_pending(final=True) if self._pending else None

    def _parse_pending(self, *, final: bool) -> Chunk | None:
        text = "\n".join(self._pending)
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            if final:
                self._pending.clear()
                raise StreamBroken(f"the model server sent a malformed event: {_clip(text)}") from None
            return None
        self._pending.clear()
        if not isinstance(data, dict):
            raise StreamBroken(f"the model server sent a malformed event: {_clip(text)}")
        if "error" in data:
            raise error_from_payload(data)
        chunk = self._decode(data)
        if chunk is not None and chunk.stop:
            self.finished = True
        return chunk

    def close(self) -> Chunk | None:
        """The stream ended: parse what is left."""
        return self._flush()


def _loads_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
