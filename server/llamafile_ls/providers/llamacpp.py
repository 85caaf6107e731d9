"""llama.cpp's native API, as llama-server and llamafile ``--server`` speak it: ``/completion``
(a raw prompt in the model's own chat format), ``/tokenize``, ``/props``, ``/health``, and
the shapes of llamafile 0.8/0.9 (text/plain errors, ``error:`` lines in the stream).

A llamafile ``--server --v2`` (llamafiler) has none of these, only ``/v1``: that is found on
the first 404 of ``/completion`` and used through ``/v1/completions`` with the same prompt,
without the user changing anything.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from llamafile_ls.config import ModelConfig
from llamafile_ls.errors import LlamafileLsError, ModelServerError, RequestTimedOut, ServerUnreachable
from llamafile_ls.prompts import unique
from llamafile_ls.providers.base import Chunk, Infill, Probe, Prompt, answer_tokens, temperature
from llamafile_ls.providers.http import HttpProvider, port_of
from llamafile_ls.sse import field

if TYPE_CHECKING:
    from llamafile_ls.providers.openai import OpenAIProvider

# Every sampling option /completion takes, by the name it takes it under (llama.cpp's own
# names are ours). Continue's keep_alive (Ollama's) has no counterpart: it is not sent.
_SAMPLING = (
    "top_p", "top_k", "min_p", "typical_p", "tfs_z", "mirostat", "mirostat_tau", "mirostat_eta",
    "repeat_penalty", "repeat_last_n", "presence_penalty", "frequency_penalty", "seed",
)  # fmt: skip


def completion_body(model: ModelConfig, prompt: Prompt) -> dict[str, Any]:
    """The JSON body for ``/completion``: options in llama.cpp's names, then llama_cpp_args.

    Explicit options win over ``llama_cpp_args``; stop strings from everywhere are unioned.
    """
    options = model.completion_options
    body: dict[str, Any] = {"prompt": prompt.text, "stream": True, "n_predict": answer_tokens(options, prompt)}
    if temperature(options, prompt) is not None:
        body["temperature"] = temperature(options, prompt)
    for name in _SAMPLING:
        value = getattr(options, name)
        if value is not None:
            body[name] = value
    stops = [*options.stop, *prompt.stop]
    for key, value in model.llama_cpp_args.items():
        if key == "stop":
            stops.extend([value] if isinstance(value, str) else value)
        elif key not in body:
            body[key] = value
    if stops:
        body["stop"] = list(unique(stops))
    return body


def infill_body(request: Infill, temperature: float | None = None) -> dict[str, Any]:
    """The JSON body for ``/infill``, as llama.vim sends it: the typed part of the cursor's
    line as ``prompt`` (the prefix's tokens stay cached while the user types), the extra
    files first, time limits, and its samplers; a temperature the model's config sets
    joins them (0: always the likeliest answer)."""
    body: dict[str, Any] = {
        "input_prefix": request.prefix,
        "input_suffix": request.suffix,
        "input_extra": [{"filename": extra.filename, "text": extra.text} for extra in request.extra],
        "prompt": request.typed,
        "n_predict": request.max_tokens,
        "n_indent": request.indent,
        "top_k": 40,
        "top_p": 0.90,
        "samplers": ["top_k", "top_p", "infill"],
        "stream": True,
        "cache_prompt": True,
        "t_max_prompt_ms": request.max_prompt_ms,
        "t_max_predict_ms": request.max_predict_ms,
    }
    if request.single_line:
        body["stop"] = ["\n"]
    if temperature is not None:
        body["samplers"].append("temperature")
        body["temperature"] = temperature
    return body


def decode(data: dict[str, Any]) -> Chunk:
    """One ``/completion`` event: ``content``, and on the last ``stop`` with ``stop_type``."""
    stop = field(data, "stop", bool, False)
    stop_type = field(data, "stop_type", str, None)
    if stop and stop_type is None:  # older servers: stopped_eos / stopped_word / stopped_limit
        for kind in ("limit", "word", "eos"):
            if field(data, f"stopped_{kind}", bool, False):
                stop_type = kind
                break
    field(data, "tokens_predicted", int, None)  # typed, though unused: a wrong type is a wrong server
    return Chunk(
        content=field(data, "content", str, ""),
        finish=("length" if stop_type == "limit" else "stop") if stop else None,
        prompt_truncated=field(data, "truncated", bool, False),
    )


class LlamaCppProvider(HttpProvider):
    def __init__(self, model: ModelConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(model, transport)
        self._transport = transport
        self._tokenize_supported: bool | None = None
        self._v1: OpenAIProvider | None = None  # a llamafile --v2: its /v1 API, once found
        self._has_infill: bool | None = None  # False once /infill answered 404 or 501

    @property
    def wants_chat(self) -> bool:
        return False  # /completion takes the prompt in the model's own format

    def start_hint(self) -> str:
        port = port_of(self.model.api_base, 8080)
        return (
            f"start it with `./your-model.llamafile --server --nobrowser --port {port}` "
            f"(or `llama-server -m model.gguf --port {port}`), "
            f"or set llamafile_command for model {self.model.title!r} in the config"
        )

    def not_found(self, path: str) -> str:
        return (
            f"the server at {self.shown_url} has no {path} endpoint (HTTP 404); api_base must point at a llamafile "
            "`--server` or llama.cpp `llama-server` (for another OpenAI-compatible server use "
            '"provider": "openai" and an api_base ending in /v1)'
        )

    async def aclose(self) -> None:
        if self._v1 is not None:
            await self._v1.aclose()
        await super().aclose()

    async def stream(self, prompt: Prompt) -> AsyncGenerator[Chunk, None]:
        if self._v1 is None:
            started = False
            try:
                body = completion_body(self.model, prompt)
                async for chunk in self.stream_events("/completion", body, decode, body["n_predict"]):
                    started = True
                    yield chunk
                return
            except ModelServerError as error:
                # Nothing was generated (a 404 comes before any answer): a --v2 may be there.
                if started or error.status != 404 or not await self._found_v1():
                    raise
        assert self._v1 is not None
        async for chunk in self._v1.stream(prompt):
            yield chunk

    async def infill(self, request: Infill) -> AsyncGenerator[Chunk, None]:
        """``/infill``; where the server has none (404) or the model no FIM tokens (501), the
        family's FIM tokens in a raw prompt to ``/completion`` (or ``/v1/completions``)."""
        if self._has_infill is not False and self._v1 is None:
            try:
                async for chunk in self.stream_events(
                    "/infill",
                    infill_body(request, self.model.completion_options.temperature),
                    decode,
                    request.max_tokens,
                ):
                    self._has_infill = True
                    yield chunk
                return
            except ModelServerError as error:
                if self._has_infill or error.status not in (404, 501):
                    raise
                self._has_infill = False
        from llamafile_ls.providers.fim import fim_prompt

        async for chunk in self.stream(fim_prompt(self.model.model or self.model.title, request)):
            yield chunk

    async def _found_v1(self) -> bool:
        """Is this a llamafile --v2, with only the OpenAI API? Then use that from now on."""
        try:
            status, listing = await self.get_json("/v1/models")
        except LlamafileLsError:
            return False
        if status != 200 or not isinstance(listing, dict):
            return False
        from llamafile_ls.providers.openai import OpenAIProvider

        # The same raw prompt, through /v1/completions: --v2 has no /infill and no /tokenize.
        v1_model = attrs.evolve(self.model, api_base=f"{self.base_url}/v1", use_legacy_completions_endpoint=True)
        self._v1 = OpenAIProvider(v1_model, self._transport)
        return True

    async def count_tokens(self, text: str) -> int | None:
        """Tokens in ``text`` by the server's own tokenizer; None if it has no ``/tokenize``."""
        if self._tokenize_supported is False or self._v1 is not None:
            return None
        try:
            response = await self.post_json("/tokenize", {"content": text})
        except httpx.TimeoutException:
            raise RequestTimedOut(f"the model server at {self.shown_url} did not answer /tokenize in time") from None
        except httpx.TransportError:
            return None  # counting is an optimisation; the estimate will do
        if response.status_code in (404, 405, 501):
            self._tokenize_supported = False
            return None
        if response.status_code >= 400:
            try:
                await self.raise_for_status(response, "/tokenize")
            except ModelServerError as error:
                if error.status != 400:
                    raise
                # A llamafile --v2's /tokenize wants "prompt", not "content" (HTTP 400):
                # not the tokenizer we speak to; the estimate will do.
                self._tokenize_supported = False
                return None
        try:
            tokens = response.json()["tokens"]
            count = len(tokens) if isinstance(tokens, list) else None
        except (ValueError, KeyError, TypeError):
            count = None
        if count is None:
            self._tokenize_supported = False
            return None
        self._tokenize_supported = True
        return count

    async def probe(self, *, thorough: bool = False) -> Probe:
        """Up, loading, down, or not a llama.cpp server; which kind, its context size, FIM."""
        try:
            status, health = await self.get_json("/health")
        except ServerUnreachable:
            return Probe("down", problems=(f"no model server answers at {self.shown_url}: {self.start_hint()}",))
        except LlamafileLsError:
            return Probe("loading")  # it took the connection but is too busy to answer in time
        if status == 503 or (isinstance(health, dict) and "loading" in str(health.get("status", ""))):
            return Probe("loading", flavour="llama.cpp")
        if status == 404 and await self._found_v1():
            assert self._v1 is not None
            found = await self._v1.probe(thorough=thorough)
            return attrs.evolve(
                found, flavour="llamafile --v2 (OpenAI API only)", endpoint="/v1/completions", fim=False
            )
        if status != 200 or not isinstance(health, dict) or "status" not in health:
            return Probe(
                "foreign",
                problems=(
                    f"something answers at {self.shown_url} but it is not a llamafile or llama.cpp server "
                    f"(/health answered HTTP {status}); is api_base right?",
                ),
            )
        context_size = fim = None
        if not thorough:
            return Probe("ready", flavour="llama.cpp", endpoint="/completion")
        try:
            _status, props = await self.get_json("/props")
            context_size = _context_size(props)
            fim = await self._has_fim()
        except LlamafileLsError:
            pass
        return Probe("ready", flavour="llama.cpp", endpoint="/completion", context_size=context_size, fim=fim)

    async def _has_fim(self) -> bool | None:
        """``/infill`` answers 501 when the model has no fill-in-the-middle tokens."""
        body = {"input_prefix": "", "input_suffix": "", "n_predict": 0, "stream": False}
        try:
            response = await self.post_json("/infill", body)
        except (httpx.HTTPError, LlamafileLsError):
            return None
        if response.status_code in (404, 501):
            return False
        return response.status_code < 400


def _context_size(props: object) -> int | None:
    if isinstance(props, dict):
        settings = props.get("default_generation_settings")
        if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
            return int(settings["n_ctx"])
        if isinstance(props.get("n_ctx"), int):
            return int(props["n_ctx"])
    return None
