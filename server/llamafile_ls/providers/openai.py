"""The OpenAI API, as llama.cpp's ``/v1``, llamafile ``--v2``, Ollama's ``/v1``, LM Studio,
vLLM and gateways (LiteLLM) speak it: ``/chat/completions`` (the server applies the model's
chat template to our messages), ``/completions`` for a raw prompt (Continue's
``useLegacyCompletionsEndpoint``), ``/models`` to probe. Streams are ``data:`` events of
``choices[0].delta`` ending in ``data: [DONE]``; errors are ``{"error": {"message", "type",
"code"}}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from llamafile_ls.config import CompletionOptions
from llamafile_ls.errors import AuthenticationFailed, LlamafileLsError, ModelServerError, ServerUnreachable
from llamafile_ls.providers.base import Chunk, Finish, Infill, Probe, Prompt, answer_tokens, temperature
from llamafile_ls.providers.http import _AUTH_KINDS, HttpProvider, _error_kinds, port_of
from llamafile_ls.redaction import SECRETS
from llamafile_ls.sse import Decode, error_message, field

# The sampling options the OpenAI API names as we do (seed too), then those it has not but
# llama-server's /v1 takes under llama.cpp's names (vLLM, LM Studio and Ollama take some):
# each is sent only when set. Continue's keep_alive (Ollama's own API) is not sent.
_SAMPLING = (
    "top_p", "presence_penalty", "frequency_penalty", "seed",
    "top_k", "min_p", "typical_p", "tfs_z", "mirostat", "mirostat_tau", "mirostat_eta", "repeat_penalty",
    "repeat_last_n",
)  # fmt: skip
_FINISH: dict[str, Finish] = {"stop": "stop", "eos": "stop", "length": "length", "content_filter": "error"}
_HINTS = {
    "ollama": "start it with `ollama serve`",
    "lmstudio": "start the server in LM Studio (Developer: Start Server)",
    "vllm": "start it with `vllm serve MODEL --port {port}`",
}


def request_body(model_name: str, options: CompletionOptions, prompt: Prompt) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model_name, "stream": True, "max_tokens": answer_tokens(options, prompt)}
    if temperature(options, prompt) is not None:
        body["temperature"] = temperature(options, prompt)
    if prompt.chat:
        body["messages"] = [{"role": message.role, "content": message.content} for message in prompt.messages]
    else:
        body["prompt"] = prompt.text
    for name in _SAMPLING:
        value = getattr(options, name)
        if value is not None:
            body[name] = value
    stops = list(dict.fromkeys([*options.stop, *prompt.stop]))
    if stops:
        body["stop"] = stops
    return body


def _finish(choice: dict[str, Any]) -> Finish | None:
    reason = field(choice, "finish_reason", str, None)
    return None if reason is None else _FINISH.get(reason, "stop")


def decode_chat(data: dict[str, Any]) -> Chunk | None:
    """One ``/chat/completions`` event (or a whole answer from a server that ignored ``stream``)."""
    choice = _first_choice(data)
    if choice is None:
        return None  # a usage-only chunk
    delta = choice.get("delta") if "delta" in choice else choice.get("message")
    content = field(delta, "content", str, "") if isinstance(delta, dict) else ""
    return Chunk(content=content, finish=_finish(choice))


def decode_completion(data: dict[str, Any]) -> Chunk | None:
    """One ``/completions`` event."""
    choice = _first_choice(data)
    if choice is None:
        return None
    return Chunk(content=field(choice, "text", str, ""), finish=_finish(choice))


def _first_choice(data: dict[str, Any]) -> dict[str, Any] | None:
    choices = field(data, "choices", list, [])
    if not choices:
        return None
    choice = choices[0]
    if not isinstance(choice, dict):
        from llamafile_ls.errors import StreamBroken

        raise StreamBroken("the model server sent a malformed event: 'choices' holds no object")
    return choice


class OpenAIProvider(HttpProvider):
    @property
    def wants_chat(self) -> bool:
        return not self.model.use_legacy_completions_endpoint

    @property
    def model_name(self) -> str:
        return self.model.model or self.model.title

    def start_hint(self) -> str:
        hint = _HINTS.get(self.model.provider)
        if hint is not None:
            return hint.format(port=port_of(self.model.api_base, 8000))
        return f"is the server running, and does api_base of model {self.model.title!r} end in /v1?"

    def _v1_hint(self) -> str:
        return f"an OpenAI-compatible api_base usually ends in /v1: try {self.shown_url}/v1"

    def not_found(self, path: str) -> str:
        if not self.base_url.endswith("/v1"):
            return f"the server at {self.shown_url} has no {path} endpoint (HTTP 404); {self._v1_hint()}"
        return (
            f"the server at {self.shown_url} has no {path} endpoint (HTTP 404); is api_base an OpenAI-compatible "
            "server?" + ("" if self.wants_chat else " (useLegacyCompletionsEndpoint needs /completions)")
        )

    def stream(self, prompt: Prompt) -> AsyncGenerator[Chunk, None]:
        body = request_body(self.model_name, self.model.completion_options, prompt)
        path, decode = ("/chat/completions", decode_chat) if prompt.chat else ("/completions", decode_completion)
        if self.base_url.endswith("/v1"):
            return self.stream_events(path, body, decode, body["max_tokens"])
        return self._stream_without_v1(path, body, decode, body["max_tokens"])

    def infill(self, request: Infill) -> AsyncGenerator[Chunk, None]:
        """The OpenAI API has no fill-in-the-middle: the model's own FIM tokens, raw, to /completions."""
        from llamafile_ls.providers.fim import fim_prompt

        return self.stream(fim_prompt(self.model_name, request))

    async def _stream_without_v1(
        self, path: str, body: dict[str, Any], decode: Decode, max_tokens: int
    ) -> AsyncGenerator[Chunk, None]:
        """LM Studio answers a path it does not have with HTTP 200 and ``{"error": "Unexpected
        endpoint or method. (POST /chat/completions)"}``: say where its API is."""
        async with contextlib.aclosing(self.stream_events(path, body, decode, max_tokens)) as chunks:
            try:
                async for chunk in chunks:
                    yield chunk
            except ModelServerError as error:
                if "unexpected endpoint" not in str(error).lower():
                    raise
                raise ModelServerError(f"{error}; {self._v1_hint()}", status=error.status) from None

    async def count_tokens(self, text: str) -> int | None:
        return None  # the OpenAI API has no tokenizer endpoint: the budget estimates

    async def probe(self, *, thorough: bool = False) -> Probe:
        endpoint = "/v1/chat/completions" if self.wants_chat else "/v1/completions"
        if not self.base_url.endswith("/v1"):
            endpoint = endpoint.removeprefix("/v1")
        try:
            status, listing = await self.get_json("/models")
        except ServerUnreachable:
            return Probe("down", problems=(f"no model server answers at {self.shown_url}: {self.start_hint()}",))
        except AuthenticationFailed as error:
            return Probe("ready", "OpenAI-compatible", endpoint, problems=(str(error),))
        except LlamafileLsError:
            return Probe("loading")
        if status in (401, 403) or (status >= 400 and _error_kinds(listing) & _AUTH_KINDS):
            return Probe(
                "ready",
                "OpenAI-compatible",
                endpoint,
                problems=(
                    f"{self.shown_url} refused the api_key (HTTP {status}); check api_key of {self.model.title!r}",
                ),
            )
        if status == 503:
            return Probe("loading", "OpenAI-compatible", endpoint)
        if status == 404 or not isinstance(listing, dict):
            return Probe("foreign", problems=(self.not_found("/models"),))
        if "error" in listing and not isinstance(listing.get("data"), list):  # LM Studio says so with HTTP 200
            said = SECRETS.redact(" ".join(error_message(listing).split()))[:200]
            hint = self._v1_hint() if not self.base_url.endswith("/v1") else "is api_base an OpenAI-compatible server?"
            return Probe("foreign", problems=(f"the server at {self.shown_url} answered /models with: {said}; {hint}",))
        models = listing.get("data")
        entries = [entry for entry in models if isinstance(entry, dict)] if isinstance(models, list) else []
        ids = [str(entry.get("id")) for entry in entries]
        problems: tuple[str, ...] = ()
        if self.model.model and ids and self.model.model not in ids and len(ids) > 1:
            problems = (f"the server offers {', '.join(ids[:8])}, not {self.model.model!r}; check model",)
        entry = next((e for e in entries if e.get("id") == self.model.model), entries[0] if entries else {})
        return Probe(
            "ready",
            _flavour(listing, entry),
            endpoint,
            context_size=_context_size(entry),
            fim=None,
            problems=problems,
        )


def _flavour(listing: dict[str, Any], entry: dict[str, Any]) -> str:
    owner = str(entry.get("owned_by", ""))
    if owner == "llamacpp" or ("meta" in entry and isinstance(entry.get("meta"), dict)):
        return "llama.cpp (OpenAI API)"
    if owner == "vllm" or "max_model_len" in entry:
        return "vLLM"
    if owner in ("library", "ollama"):
        return "Ollama (OpenAI API)"
    if owner == "organization_owner" or owner == "lmstudio":
        return "LM Studio"
    if owner == "openai" or owner == "system":
        return "OpenAI API"
    if owner:
        return f"OpenAI-compatible ({owner})"
    return "OpenAI-compatible"


def _context_size(entry: dict[str, Any]) -> int | None:
    meta = entry.get("meta")
    for source, key in ((meta, "n_ctx"), (meta, "n_ctx_train"), (entry, "max_model_len"), (entry, "context_length")):
        if isinstance(source, dict) and isinstance(source.get(key), int) and not isinstance(source.get(key), bool):
            return int(source[key])
    return None
