"""The llamafile provider: a prompt in, an async stream of text chunks out, over httpx.

Speaks the ``/completion`` API of llama.cpp's server and of llamafile's ``--server``.
Closing the stream closes the HTTP connection, which is how llama.cpp learns to stop
generating; so callers iterate it inside ``contextlib.aclosing`` or a cancellable task.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncGenerator, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from llamafile_ls.config import ModelConfig
from llamafile_ls.errors import (
    AuthenticationFailed,
    ModelServerError,
    RequestTimedOut,
    ServerUnreachable,
    StreamBroken,
)
from llamafile_ls.prompts import unique
from llamafile_ls.sse import Chunk, CompletionStreamParser, error_from_payload, error_message

_SAMPLING = ("temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_ERROR_BODY_LIMIT = 4096


def completion_body(model: ModelConfig, prompt: str, stop: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON body for ``/completion``: options in llama.cpp's names, then llama_cpp_args.

    Explicit options win over ``llama_cpp_args``; stop strings from everywhere are unioned.
    """
    options = model.completion_options
    body: dict[str, Any] = {"prompt": prompt, "stream": True, "n_predict": options.max_tokens}
    for name in _SAMPLING:
        value = getattr(options, name)
        if value is not None:
            body[name] = value
    stops = [*options.stop, *stop]
    for key, value in model.llama_cpp_args.items():
        if key == "stop":
            stops.extend([value] if isinstance(value, str) else value)
        elif key not in body:
            body[key] = value
    if stops:
        body["stop"] = list(unique(stops))
    return body


def start_hint(model: ModelConfig) -> str:
    port = urlsplit(model.api_base).port or 8080
    return (
        f"start it with `./your-model.llamafile --server --nobrowser --port {port}` "
        f"(or `llama-server -m model.gguf --port {port}`), "
        f"or set llamafile_command for model {model.title!r} in the config"
    )


class LlamafileProvider:
    """One model's server. Reuses one connection pool; ``aclose()`` when done."""

    def __init__(self, model: ModelConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.model = model
        self.base_url = model.api_base.rstrip("/")
        self._tokenize_supported: bool | None = None
        self._client = _make_client(model, transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def stream(self, prompt: str, stop: Iterable[str] = ()) -> AsyncGenerator[Chunk, None]:
        """Yield the answer's chunks; the last one has ``stop=True``.

        Raises a :class:`~llamafile_ls.errors.ProviderError` subclass with a message a user
        can act on. Leaving the iteration early closes the connection.
        """
        body = completion_body(self.model, prompt, stop)
        parser = CompletionStreamParser()
        received = 0
        try:
            request = self._client.build_request("POST", f"{self.base_url}/completion", json=body)
            async with contextlib.aclosing(await self._send(request, stream=True)) as response:
                if response.status_code >= 400:
                    await self._raise_for_status(response, "/completion")
                async for line in response.aiter_lines():
                    chunk = parser.feed(line)
                    if chunk is not None:
                        received += 1
                        yield chunk
                    if parser.finished:
                        return
                last = parser.close()
                if last is not None:
                    yield last
                if not parser.finished:
                    raise StreamBroken(
                        f"the model server at {self.base_url} ended the answer without finishing it "
                        f"(after {received} chunks)"
                    )
        except httpx.TimeoutException:
            raise RequestTimedOut(
                f"the model server at {self.base_url} did not answer within "
                f"{self.model.request_options.timeout:g} s (request_options.timeout)"
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as error:
            raise StreamBroken(
                f"the model server at {self.base_url} broke the connection mid-answer "
                f"(after {received} chunks): {error or type(error).__name__}"
            ) from None

    async def count_tokens(self, text: str) -> int | None:
        """Tokens in ``text`` by the server's own tokenizer; None if it has no ``/tokenize``."""
        if self._tokenize_supported is False:
            return None
        try:
            request = self._client.build_request("POST", f"{self.base_url}/tokenize", json={"content": text})
            response = await self._send(request)
        except httpx.TimeoutException:
            raise RequestTimedOut(f"the model server at {self.base_url} did not answer /tokenize in time") from None
        except httpx.TransportError:
            return None  # counting is an optimisation; the estimate will do
        if response.status_code in (404, 405, 501):
            self._tokenize_supported = False
            return None
        if response.status_code >= 400:
            await self._raise_for_status(response, "/tokenize")
        try:
            tokens = response.json()["tokens"]
        except (ValueError, KeyError, TypeError):
            self._tokenize_supported = False
            return None
        self._tokenize_supported = True
        return len(tokens)

    async def get_json(self, path: str, timeout: float | None = 10.0) -> tuple[int, Any]:
        """GET a small JSON (or text) document, e.g. ``/health`` or ``/props``; for probing."""
        try:
            response = await self._send(self._client.build_request("GET", f"{self.base_url}{path}", timeout=timeout))
        except httpx.TimeoutException:
            raise RequestTimedOut(f"the model server at {self.base_url} did not answer {path} in time") from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    async def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send, once more on a fresh connection if a kept-alive one turns out dead (the
        server restarted): nothing was answered on it, so nothing is done twice. A server
        that cannot be reached at all becomes :class:`ServerUnreachable` here, for every call."""
        try:
            try:
                return await self._client.send(request, stream=stream)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                return await self._client.send(request, stream=stream)
        except (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.ProxyError) as error:
            raise self._unreachable(error) from None

    def _unreachable(self, error: Exception) -> ServerUnreachable:
        if isinstance(error, httpx.UnsupportedProtocol):
            return ServerUnreachable(f"api_base {self.model.api_base!r} is not an http:// or https:// URL")
        proxy = self.model.request_options.proxy
        if isinstance(error, httpx.ProxyError) or (proxy and isinstance(error, httpx.ConnectError)):
            return ServerUnreachable(
                f"cannot reach {self.base_url} through the proxy {proxy} (request_options.proxy): {error}"
            )
        tls = _tls_failure(error)
        if tls is not None:
            return ServerUnreachable(
                f"the TLS connection to {self.base_url} failed ({tls}); set request_options.ca_bundle_path "
                "to the server's certificate authority, or verify_ssl to false"
            )
        return ServerUnreachable(f"no model server answers at {self.base_url}: {start_hint(self.model)}")

    async def _raise_for_status(self, response: httpx.Response, path: str) -> None:
        raw = b""
        async for piece in response.aiter_bytes():
            raw += piece
            if len(raw) >= _ERROR_BODY_LIMIT:
                break
        text = raw.decode("utf-8", "replace").strip()
        try:
            payload: Any = json.loads(text)
        except ValueError:
            payload = text  # llamafile 0.8/0.9 send text/plain errors
        status = response.status_code
        detail = error_message(payload) or response.reason_phrase
        if status in (401, 403):
            raise AuthenticationFailed(
                f"the model server at {self.base_url} refused the request (HTTP {status}: {detail}); "
                f"check api_key for model {self.model.title!r} in the config"
            )
        if status == 503:
            raise ModelServerError(
                f"the model server at {self.base_url} is not ready (HTTP 503: {detail}); "
                "it may still be loading the model, try again in a moment",
                status=status,
            )
        if status == 404 and not text:
            raise ModelServerError(
                f"the server at {self.base_url} has no {path} endpoint (HTTP 404); api_base must point "
                "at a llamafile `--server` or llama.cpp `llama-server` (llamafile `--v2` has no /completion)",
                status=status,
            )
        error = error_from_payload(payload, status)
        if isinstance(error, ModelServerError):
            error = ModelServerError(
                f"the model server at {self.base_url} failed (HTTP {status}): {detail}", status=status
            )
        raise error


def _tls_failure(error: BaseException) -> str | None:
    """The TLS reason behind a connection error, if that is what it was."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return getattr(seen, "verify_message", None) or seen.reason or str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _make_client(model: ModelConfig, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    options = model.request_options
    headers = dict(options.headers)
    if model.api_key:
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
        transport=transport,
    )
