"""What every HTTP provider shares: one connection pool per model, requests that never leak a
key, errors mapped once into the small hierarchy of :mod:`llamafile_ls.errors`, and a
streaming loop that is bounded by content (``request_options.timeout`` bounds the wait for
the first piece of the answer and any stall after it; keep-alive pings are not progress),
by ``max_tokens`` on our side, and by line length.

A wire format (llama.cpp's, the OpenAI API's) subclasses :class:`HttpProvider` and says
what to send and how to read one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from llamafile_ls.config import ModelConfig
from llamafile_ls.errors import (
    AuthenticationFailed,
    ContextTooSmall,
    ModelServerError,
    ProviderError,
    RequestTimedOut,
    ServerUnreachable,
    StreamBroken,
)
from llamafile_ls.providers.base import DEFAULT_MAX_TOKENS, Chunk
from llamafile_ls.redaction import SECRETS, public_url, remember_model
from llamafile_ls.sse import Decode, EventStreamParser, LineReader, error_from_payload, error_message

_T = TypeVar("_T")
# A server that streams past max_tokens is cut off here: chunks are about one token each,
# and no real token is longer than this many characters on average.
_TOKEN_SLACK = 8
_CHARS_PER_TOKEN = 64
_DRAIN_LIMIT = 64 * 1024
_DRAIN_SECONDS = 0.25
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_ERROR_BODY_LIMIT = 4096
_ERROR_BODY_SECONDS = 5.0
_KEEPALIVE_S = 4.0
# Error kinds that mean "your key is wrong", whatever the status: the OpenAI API's, and a
# LiteLLM gateway's (without its database it answers a key it does not know with 400).
_AUTH_KINDS = frozenset({"invalid_api_key", "authentication_error", "auth_error", "no_db_connection"})


class HttpProvider:
    """One model's server over httpx. Subclasses build requests and decode events."""

    def __init__(self, model: ModelConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.model = model
        self.base_url = model.api_base.rstrip("/")
        self.shown_url = public_url(self.base_url)  # what messages say: no credentials in it
        # Every credential that can leave this process leaves it through here: remembered
        # first, so no message, log or error can show it afterwards.
        remember_model(model)
        self._client = self._mapped(lambda: _make_client(model, transport))

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- what a wire format says ------------------------------------------------------------

    def start_hint(self) -> str:
        """How to start a server that answers at api_base, for the "nothing answers" message."""
        return f"is the model server running? check api_base of model {self.model.title!r}"

    def not_found(self, path: str) -> str:
        """What a 404 without a body means for this wire format."""
        return f"the server at {self.shown_url} has no {path} endpoint (HTTP 404); check api_base"

    # --- streaming ----------------------------------------------------------------------------

    async def stream_events(
        self, path: str, body: dict[str, Any], decode: Decode, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> AsyncGenerator[Chunk, None]:
        """POST ``body`` to ``path`` and yield the answer's chunks; the last has a finish.
        ``max_tokens`` is the answer's budget the body asks for (a server that streams far
        past it is cut off).

        Leaving the iteration early closes the connection, which is how a server learns to
        stop generating. ``max_tokens`` (else the model's) bounds a server that ignores it.
        """
        parser = EventStreamParser(decode)
        reader = LineReader()
        timeout = self.model.request_options.timeout
        received = 0
        characters = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            request = self._mapped(lambda: self.post_request(path, body))
            # No retry: a POST the server may have started on must not run twice. The head of
            # the answer counts against the same deadline as its first piece (a server that
            # trickles its head a byte at a time would reset httpx's read timeout for ever).
            async with _within(deadline):
                sent = await self._send(request, stream=True, retry=False)
            async with contextlib.aclosing(sent) as response:
                if response.status_code >= 400:
                    await self.raise_for_status(response, path)
                pieces = response.aiter_bytes()
                while True:  # pieces is closed with the response
                    try:
                        data = await _next_piece(pieces, deadline)
                    except StopAsyncIteration:
                        break
                    except (TimeoutError, asyncio.TimeoutError, httpx.TimeoutException):
                        raise self._stalled(received) from None
                    for line in reader.feed(data):
                        chunk = parser.feed(line)
                        if chunk is None:
                            if loop.time() > deadline:
                                raise self._stalled(received)
                            continue
                        if chunk.content:
                            received += 1
                            characters += len(chunk.content)
                            deadline = loop.time() + timeout
                        yield chunk
                        if parser.finished:
                            await _drain(pieces)
                            return
                        if received > max_tokens + _TOKEN_SLACK or characters > _CHARS_PER_TOKEN * max_tokens + 4096:
                            yield Chunk("", finish="length")  # the server ignored the limit
                            return
                    if parser.finished:  # [DONE] on a line of its own
                        await _drain(pieces)
                        return
                for line in [*reader.close(), ""]:
                    last = parser.feed(line)
                    if last is not None:
                        yield last
                if not parser.finished:
                    raise StreamBroken(
                        f"the model server at {self.shown_url} ended the answer without finishing it "
                        f"(after {_tokens(received)})"
                    )
        except (httpx.TimeoutException, TimeoutError, asyncio.TimeoutError):
            raise self._stalled(received) from None
        except httpx.RemoteProtocolError as error:
            if received == 0 and "without sending" in str(error):
                raise StreamBroken(
                    f"the model server at {self.shown_url} closed the connection without answering; "
                    "it may have crashed or restarted (see its log)"
                ) from None
            raise self._broken(received, error) from None
        except (httpx.ReadError, httpx.WriteError, httpx.DecodingError) as error:
            raise self._broken(received, error) from None

    def _stalled(self, received: int) -> RequestTimedOut:
        timeout = f"{self.model.request_options.timeout:g} s (request_options.timeout)"
        if received == 0:
            return RequestTimedOut(f"the model server at {self.shown_url} sent no answer within {timeout}")
        return RequestTimedOut(
            f"the model server at {self.shown_url} stopped sending the answer for {timeout} (after {_tokens(received)})"
        )

    def _broken(self, received: int, error: Exception) -> StreamBroken:
        return StreamBroken(
            f"the model server at {self.shown_url} broke the connection mid-answer "
            f"(after {_tokens(received)}): {error or type(error).__name__}"
        )

    # --- plain requests -------------------------------------------------------------------------

    async def get_json(self, path: str, timeout: float | None = 10.0) -> tuple[int, Any]:
        """GET a small JSON (or text) document, e.g. ``/health``; for probing."""
        limit = timeout if timeout is not None else self.model.request_options.timeout
        try:
            request = self._mapped(lambda: self._client.build_request("GET", f"{self.base_url}{path}", timeout=timeout))
            async with _within(asyncio.get_running_loop().time() + limit):  # a trickle ends too
                response = await self._send(request)
        except (httpx.TimeoutException, TimeoutError, asyncio.TimeoutError):
            raise RequestTimedOut(f"the model server at {self.shown_url} did not answer {path} in time") from None
        except httpx.TransportError as error:
            raise self._broken(0, error) from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    async def post_json(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST a small request that is safe to repeat (``/tokenize``); the whole answer."""
        request = self._mapped(lambda: self.post_request(path, body))
        deadline = asyncio.get_running_loop().time() + self.model.request_options.timeout
        try:
            async with _within(deadline):
                return await self._send(request)
        except (TimeoutError, asyncio.TimeoutError):
            raise httpx.ReadTimeout(f"{path} did not answer in time") from None

    def post_request(self, path: str, body: dict[str, Any]) -> httpx.Request:
        try:
            content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate in the document (legal in LSP's JSON)
            content = json.dumps(body, allow_nan=False).encode("ascii")
        headers = {"Content-Type": "application/json"}
        return self._client.build_request("POST", f"{self.base_url}{path}", content=content, headers=headers)

    def _mapped(self, build: Callable[[], _T]) -> _T:
        """Build a client or a request; a setting httpx refuses becomes a message that
        names the setting, never a traceback (which would show the header, key and all)."""
        try:
            return build()
        except httpx.InvalidURL as error:
            raise ProviderError(
                f"api_base of model {self.model.title!r} is not a valid URL ({_first_words(error)})"
            ) from None
        except (httpx.LocalProtocolError, UnicodeError) as error:
            raise ProviderError(
                f"a header of model {self.model.title!r} (api_key or request_options.headers) has characters "
                f"that HTTP does not allow ({type(error).__name__}); check it for spaces, newlines or non-ASCII"
            ) from None
        except OSError as error:  # a ca_bundle_path that cannot be read
            raise ProviderError(
                f"request_options.ca_bundle_path of model {self.model.title!r} cannot be used: "
                f"{error.strerror or type(error).__name__}"
            ) from None
        except (ValueError, TypeError, ImportError, ssl.SSLError) as error:
            raise ProviderError(
                f"the request options of model {self.model.title!r} are not usable ({_first_words(error)}); "
                "check api_base and request_options"
            ) from None

    async def _send(self, request: httpx.Request, *, stream: bool = False, retry: bool = True) -> httpx.Response:
        """Send; with ``retry``, once more on a fresh connection if a kept-alive one turns out
        dead (the server restarted), for requests that are safe to repeat. A server that
        cannot be reached at all becomes :class:`ServerUnreachable` here, for every call."""
        connection = _ConnectionTrace()
        request.extensions["trace"] = connection
        try:
            try:
                return await self._client.send(request, stream=stream)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as error:
                # A kept-alive connection the server closed as we reused it answered nothing
                # (llama-server closes one after a streamed /v1 answer, every server at the end
                # of its idle timeout): then even a generation goes once more, on a new one.
                if not (retry or (connection.reused and _unanswered(error))):
                    raise
                return await self._client.send(request, stream=stream)
        except (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.ProxyError) as error:
            raise self._unreachable(error) from None
        except httpx.LocalProtocolError as error:
            raise ProviderError(
                f"the request to {self.shown_url} could not be sent ({type(error).__name__}); check api_key and "
                f"request_options.headers of model {self.model.title!r} for spaces, newlines or non-ASCII"
            ) from None

    def _unreachable(self, error: Exception) -> ServerUnreachable:
        if isinstance(error, httpx.UnsupportedProtocol):
            return ServerUnreachable(f"api_base {self.shown_url!r} is not an http:// or https:// URL")
        proxy = self.model.request_options.proxy
        if isinstance(error, httpx.ProxyError) or (proxy and isinstance(error, httpx.ConnectError)):
            return ServerUnreachable(
                f"cannot reach {self.shown_url} through the proxy {public_url(proxy or '')} "
                f"(request_options.proxy): {_first_words(error)}"
            )
        tls = _tls_failure(error)
        if tls is not None:
            return ServerUnreachable(
                f"the TLS connection to {self.shown_url} failed ({tls}); set request_options.ca_bundle_path "
                "to the server's certificate authority, or verify_ssl to false"
            )
        return ServerUnreachable(f"no model server answers at {self.shown_url}: {self.start_hint()}")

    async def raise_for_status(self, response: httpx.Response, path: str) -> None:
        raw = b""
        deadline = asyncio.get_running_loop().time() + min(self.model.request_options.timeout, _ERROR_BODY_SECONDS)
        try:
            async with _within(deadline):  # a body trickled a byte at a time is cut short
                async for piece in response.aiter_bytes():
                    raw += piece
                    if len(raw) >= _ERROR_BODY_LIMIT:
                        break
        except (httpx.HTTPError, TimeoutError, asyncio.TimeoutError):
            pass  # the status is news enough; the body was a courtesy
        # Masked before anything is cut, so a key echoed in the body cannot show in part.
        text = SECRETS.redact(raw[:_ERROR_BODY_LIMIT].decode("utf-8", "replace")).strip()
        try:
            payload: Any = json.loads(text)
        except ValueError:
            payload = text  # llamafile 0.8/0.9 send text/plain errors
        status = response.status_code
        html = _html_title(text, response.headers.get("content-type", ""))
        if html is not None:
            detail = f"{response.reason_phrase}: an HTML page" + (f" titled {html!r}" if html else "")
        else:
            detail = _clip(" ".join((error_message(payload) or response.reason_phrase).split()))
        if status in (401, 403) or _error_kinds(payload) & _AUTH_KINDS:
            raise AuthenticationFailed(
                f"the model server at {self.shown_url} refused the request (HTTP {status}: {detail}); "
                f"check api_key for model {self.model.title!r} in the config"
            )
        if status == 503:
            raise ModelServerError(
                f"the model server at {self.shown_url} is not ready (HTTP 503: {detail}); "
                "it may still be loading the model, try again in a moment",
                status=status,
            )
        if status == 404 and (not text or html is not None or _says_not_found(detail, payload)):
            raise ModelServerError(self.not_found(path), status=status)
        if html is not None:
            raise ModelServerError(
                f"the server at {self.shown_url} answered HTTP {status} with {detail}; is api_base the model "
                "server, or is a proxy in the way?",
                status=status,
            )
        error = error_from_payload(payload, status)
        if isinstance(error, ContextTooSmall):
            raise error
        raise ModelServerError(f"the model server at {self.shown_url} failed (HTTP {status}): {detail}", status=status)


_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


# What servers say for a path they do not have: llama.cpp, llamafile --v2 (its reason
# phrase), Go's http (Ollama), FastAPI's {"detail": "Not Found"} (vLLM, LiteLLM).
_NOT_FOUND_BODIES = frozenset({"not found", "file not found", "404 page not found"})


def _says_not_found(detail: str, payload: Any) -> bool:
    if isinstance(payload, dict) and set(payload) == {"detail"} and isinstance(payload["detail"], str):
        detail = payload["detail"]
    return detail.strip().lower() in _NOT_FOUND_BODIES


def _error_kinds(payload: Any) -> set[str]:
    inner = payload.get("error") if isinstance(payload, dict) else None
    return {str(inner.get(key)) for key in ("type", "code")} if isinstance(inner, dict) else set()


def _html_title(text: str, content_type: str) -> str | None:
    """The title of an HTML error page (a proxy's, a captive portal's); None if not HTML."""
    head = text[:512].lstrip().lower()
    if "html" not in content_type.lower() and not head.startswith(("<!doctype html", "<html")):
        return None
    match = _HTML_TITLE.search(text)
    return _clip(" ".join(match.group(1).split()), 80) if match else ""


# Python 3.11+: a deadline on one read without a task per read. asyncio.wait_for would do on
# 3.10 too, but before 3.12 it swallows a cancel that arrives as the read completes — with a
# model streaming fast, the editor's Cancel was lost and llama.cpp went on generating.
_timeout_at: Callable[[float | None], Any] | None = getattr(asyncio, "timeout_at", None)


def _within(deadline: float) -> contextlib.AbstractAsyncContextManager[Any]:
    """TimeoutError at ``deadline`` (on 3.10, nothing: httpx's timeouts bound each read)."""
    return _timeout_at(deadline) if _timeout_at is not None else contextlib.nullcontext()


async def _next_piece(pieces: AsyncIterator[bytes], deadline: float) -> bytes:
    """The next piece of the body, or TimeoutError at ``deadline`` (on 3.10 the read timeout
    of httpx, request_options.timeout after the last read, bounds it instead)."""
    if _timeout_at is None:
        return await pieces.__anext__()
    async with _timeout_at(deadline):
        return await pieces.__anext__()


async def _drain(pieces: AsyncIterator[bytes]) -> None:
    """Read what follows the last event (the end of the chunked body, a few bytes) so the
    connection goes back to the pool for the next edit, rather than being closed: against a
    remote HTTPS server that saves a TLS handshake per edit. Bounded, for a server that keeps
    talking; skipped on 3.10, which has no safe bound."""
    if _timeout_at is None:
        return
    deadline = asyncio.get_running_loop().time() + _DRAIN_SECONDS
    read = 0
    with contextlib.suppress(Exception):
        async with _timeout_at(deadline):
            async for data in pieces:
                read += len(data)
                if read > _DRAIN_LIMIT:
                    return


def _tokens(count: int) -> str:
    return f"{count} token{'' if count == 1 else 's'}"


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_words(error: BaseException) -> str:
    return _clip(" ".join(str(error).split()) or type(error).__name__, 120)


def _tls_failure(error: BaseException) -> str | None:
    """The TLS reason behind a connection error, if that is what it was."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return getattr(seen, "verify_message", None) or seen.reason or str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


class _ConnectionTrace:
    """Whether a request went out on a kept-alive connection (from httpcore's trace events)."""

    def __init__(self) -> None:
        self.opened = False
        self.sent = False

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event.startswith("connection.connect_tcp."):
            self.opened = True
        elif event.endswith(".send_request_headers.started"):
            self.sent = True

    @property
    def reused(self) -> bool:
        return self.sent and not self.opened


def _unanswered(error: Exception) -> bool:
    """No byte of an answer came: not a garbled answer, a connection that was gone."""
    return not isinstance(error, httpx.RemoteProtocolError) or "without sending" in str(error)


def _make_client(model: ModelConfig, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    options = model.request_options
    headers = dict(options.headers)
    # An Authorization header written in the config wins over api_key (the seed kept it too).
    if model.api_key and not any(name.lower() == "authorization" for name in headers):
        headers["Authorization"] = f"Bearer {model.api_key}"
    address = urlsplit(model.api_base)
    # Plain http needs no certificates: loading the default bundle costs ~70 ms for nothing.
    verify: ssl.SSLContext | bool = options.verify_ssl and address.scheme != "http"
    if verify and options.ca_bundle_path:
        verify = ssl.create_default_context(cafile=options.ca_bundle_path)
    host = address.hostname or ""
    return httpx.AsyncClient(
        headers=headers,
        verify=verify,
        proxy=options.proxy,
        # A proxy from the environment must not capture a llamafile on this machine.
        trust_env=host not in _LOOPBACK,
        timeout=httpx.Timeout(options.timeout, connect=min(options.timeout, 10.0)),
        # Shorter than the idle timeout of llama-server and uvicorn (5 s): we drop a kept-alive
        # connection before the server does rather than race it.
        limits=httpx.Limits(keepalive_expiry=_KEEPALIVE_S),
        transport=transport,
    )


def port_of(api_base: str, default: int) -> int:
    try:
        return urlsplit(api_base).port or default
    except ValueError:
        return default
