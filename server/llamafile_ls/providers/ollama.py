"""Ollama's own API: ``/api/chat`` (messages; Ollama applies the model's chat template),
``/api/generate`` with ``raw`` for a prompt already in the model's format, ``/api/tags`` and
``/api/show`` to probe. Streams are JSON lines (``{"message": {"content"}, "done"}``).

Ollama also serves the OpenAI API at ``/v1``, but there it ignores the context size asked
for and cuts a long prompt to its default window without a word; here ``num_ctx`` is sent
as the model's ``context_length``, so the budget llamafile-ls fits the prompt to is the one
the model gets.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx

from llamafile_ls.config import ModelConfig
from llamafile_ls.errors import AuthenticationFailed, LlamafileLsError, ServerUnreachable
from llamafile_ls.providers.base import Chunk, Finish, Infill, Probe, Prompt, answer_tokens, temperature
from llamafile_ls.providers.http import HttpProvider
from llamafile_ls.sse import field

# Our option → Ollama's name for it in "options" (its Modelfile parameters).
_OPTIONS = {
    "top_p": "top_p", "top_k": "top_k", "min_p": "min_p", "typical_p": "typical_p", "tfs_z": "tfs_z",
    "mirostat": "mirostat", "mirostat_tau": "mirostat_tau", "mirostat_eta": "mirostat_eta",
    "repeat_penalty": "repeat_penalty", "repeat_last_n": "repeat_last_n", "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty", "seed": "seed",
}  # fmt: skip
_FINISH: dict[str, Finish] = {"stop": "stop", "length": "length"}


def request_body(model: ModelConfig, prompt: Prompt) -> dict[str, Any]:
    options: dict[str, Any] = {
        "num_ctx": model.context_length,
        "num_predict": answer_tokens(model.completion_options, prompt),
    }
    if temperature(model.completion_options, prompt) is not None:
        options["temperature"] = temperature(model.completion_options, prompt)
    for ours, theirs in _OPTIONS.items():
        value = getattr(model.completion_options, ours)
        if value is not None:
            options[theirs] = value
    stops = list(dict.fromkeys([*model.completion_options.stop, *prompt.stop]))
    if stops:
        options["stop"] = stops
    body: dict[str, Any] = {"model": model.model or model.title, "stream": True, "options": options}
    if model.completion_options.keep_alive is not None:
        body["keep_alive"] = model.completion_options.keep_alive  # top-level in Ollama's API
    if prompt.chat:
        body["messages"] = [{"role": message.role, "content": message.content} for message in prompt.messages]
    else:
        body["prompt"] = prompt.text
        body["raw"] = True  # already in the model's format: no template around it
    return body


def infill_body(model: ModelConfig, request: Infill) -> dict[str, Any]:
    """``/api/generate`` with ``suffix``: Ollama writes the model's own FIM prompt (its
    template's Suffix), so ``raw`` stays false."""
    stop = ("\n",) if request.single_line else ()
    body = request_body(model, Prompt(text=request.prefix + request.typed, stop=stop, max_tokens=request.max_tokens))
    body["suffix"] = request.suffix
    body["raw"] = False
    return body


def decode(data: dict[str, Any]) -> Chunk:
    """One line of ``/api/chat`` or ``/api/generate``."""
    message = data.get("message")  # /api/chat; /api/generate answers in "response"
    content = field(message, "content", str, "") if isinstance(message, dict) else field(data, "response", str, "")
    finish: Finish | None = None
    if field(data, "done", bool, False):
        reason = field(data, "done_reason", str, "stop")
        finish = _FINISH.get(reason, "stop")
    return Chunk(content=content, finish=finish)


class OllamaProvider(HttpProvider):
    def __init__(self, model: ModelConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(model, transport)
        # Configs written for Ollama's OpenAI API end in /v1; its own API is at the root.
        self.base_url = self.base_url.removesuffix("/v1")

    @property
    def wants_chat(self) -> bool:
        return not self.model.use_legacy_completions_endpoint

    def start_hint(self) -> str:
        return "start it with `ollama serve`"

    def not_found(self, path: str) -> str:
        return (
            f"the server at {self.shown_url} has no {path} endpoint (HTTP 404); api_base of an Ollama model is the "
            "server itself (e.g. http://localhost:11434), without /v1"
        )

    def stream(self, prompt: Prompt) -> AsyncGenerator[Chunk, None]:
        path = "/api/chat" if prompt.chat else "/api/generate"
        body = request_body(self.model, prompt)
        return self.stream_events(path, body, decode, body["options"]["num_predict"])

    def infill(self, request: Infill) -> AsyncGenerator[Chunk, None]:
        return self.stream_events("/api/generate", infill_body(self.model, request), decode, request.max_tokens)

    async def count_tokens(self, text: str) -> int | None:
        return None  # Ollama has no tokenizer endpoint: the budget estimates

    async def probe(self, *, thorough: bool = False) -> Probe:
        endpoint = "/api/chat" if self.wants_chat else "/api/generate"
        try:
            status, tags = await self.get_json("/api/tags")
        except ServerUnreachable:
            return Probe("down", problems=(f"no model server answers at {self.shown_url}: {self.start_hint()}",))
        except AuthenticationFailed as error:
            return Probe("ready", "Ollama", endpoint, problems=(str(error),))
        except LlamafileLsError:
            return Probe("loading")
        if status != 200 or not isinstance(tags, dict) or not isinstance(tags.get("models"), list):
            return Probe("foreign", problems=(self.not_found("/api/tags"),))
        names = [str(entry.get("name")) for entry in tags["models"] if isinstance(entry, dict)]
        wanted = self.model.model or self.model.title
        problems: tuple[str, ...] = ()
        if names and wanted not in names and f"{wanted}:latest" not in names:
            problems = (f"Ollama has no model {wanted!r} (it has {', '.join(names[:8])}); run `ollama pull {wanted}`",)
        context_size = await self._context_size(wanted) if thorough and not problems else None
        return Probe("ready", "Ollama", endpoint, context_size=context_size, fim=None, problems=problems)

    async def _context_size(self, name: str) -> int | None:
        """The model's trained context (``/api/show``): how much ``num_ctx`` may ask for."""
        try:
            response = await self.post_json("/api/show", {"model": name})
            info = response.json().get("model_info", {}) if response.status_code == 200 else {}
        except (LlamafileLsError, httpx.HTTPError, ValueError, AttributeError):
            return None
        for key, value in info.items() if isinstance(info, dict) else ():
            if key.endswith(".context_length") and isinstance(value, int):
                return value
        return None
