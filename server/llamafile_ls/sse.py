"""Parse the answer stream of llama.cpp's and llamafile's ``/completion`` endpoint. Pure.

What arrives, line by line: ``data: {json}`` events (``content``, and a final chunk with
``stop: true``), ``:`` comment pings, sometimes ``data: [DONE]``; errors as
``data: {"error": {...}}`` (llama.cpp) or ``error: {json}`` (llamafile 0.8/0.9).
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from llamafile_ls.errors import ContextTooSmall, ModelServerError, StreamBroken


@attrs.frozen
class Chunk:
    content: str
    stop: bool = False
    stop_type: str | None = None  # "eos", "word", "limit" (llama.cpp); None if unknown
    tokens_predicted: int | None = None
    prompt_truncated: bool = False


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
    kind = (
        payload.get("error", {}).get("type")
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict)
        else None
    )
    if kind == "exceed_context_size_error" or "context size" in message or "context length" in message:
        return ContextTooSmall(
            f"the prompt does not fit the model server's context ({message}); "
            "lower context_length in the config or start the server with a larger --ctx-size"
        )
    return ModelServerError(f"the model server reported an error: {message}", status=status)


def _chunk(data: dict[str, Any]) -> Chunk:
    stop = bool(data.get("stop"))
    stop_type = data.get("stop_type")
    if stop and stop_type is None:  # older servers: stopped_eos / stopped_word / stopped_limit
        for kind in ("limit", "word", "eos"):
            if data.get(f"stopped_{kind}"):
                stop_type = kind
                break
    predicted = data.get("tokens_predicted")
    return Chunk(
        content=str(data.get("content") or ""),
        stop=stop,
        stop_type=stop_type if isinstance(stop_type, str) else None,
        tokens_predicted=predicted if isinstance(predicted, int) else None,
        prompt_truncated=bool(data.get("truncated")),
    )


class CompletionStreamParser:
    """Feed lines; get chunks. Raises on an error event or on text that is not the protocol."""

    def __init__(self) -> None:
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
            if isinstance(payload, dict) and "content" in payload:
                chunk = _chunk(payload)
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
        chunk = _chunk(data)
        if chunk.stop:
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
