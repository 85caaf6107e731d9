"""What every provider is: a prompt in, an async stream of chunks out. Pure types, no I/O.

A provider speaks one wire format to one model server (llama.cpp's native API, the OpenAI
API, …). The rest of llamafile-ls sees only this: it builds a :class:`Prompt` — chat
messages for a server that applies the model's chat template itself, or raw text in the
model's own format — streams it, and reads :class:`Chunk` s with a neutral finish reason.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Literal, Protocol

import attrs

from llamafile_ls.config import CompletionOptions, ModelConfig

Role = Literal["system", "user", "assistant"]
# Why the model stopped: "stop" (its end, or a stop string), "length" (max_tokens),
# "cancelled" or "error" (as a server says so in the stream; our own cancels and failures
# are exceptions, not chunks).
Finish = Literal["stop", "length", "cancelled", "error"]
# What answers at a provider's address.
State = Literal["ready", "loading", "down", "foreign"]


@attrs.frozen
class Message:
    role: Role
    content: str


@attrs.frozen
class Prompt:
    """Either chat messages (the server formats them) or raw text (already formatted)."""

    text: str = ""
    messages: tuple[Message, ...] = ()
    stop: tuple[str, ...] = ()
    # What this request asks where the config says nothing: the answer's budget (an edit's is
    # sized to its selection) and the sampling temperature.
    max_tokens: int | None = None
    temperature: float | None = None

    @property
    def chat(self) -> bool:
        return bool(self.messages)

    @property
    def counted_text(self) -> str:
        """The text whose tokens the prompt costs; for chat, with room for the role markers
        a chat template adds around each message."""
        if not self.messages:
            return self.text
        return "".join(f"<|{message.role}|>\n{message.content}\n" for message in self.messages)


DEFAULT_MAX_TOKENS = 1023  # the seed's, for a request that sizes no budget of its own


def answer_tokens(options: CompletionOptions, prompt: Prompt) -> int:
    """The most tokens the answer may have: the config's max_tokens, else the request's."""
    if options.max_tokens is not None:
        return options.max_tokens
    return prompt.max_tokens if prompt.max_tokens is not None else DEFAULT_MAX_TOKENS


def temperature(options: CompletionOptions, prompt: Prompt) -> float | None:
    """The config's temperature, else the request's default (None: the server's)."""
    return options.temperature if options.temperature is not None else prompt.temperature


@attrs.frozen
class ExtraFile:
    """Some lines of another file, as context for a fill-in-the-middle request."""

    filename: str
    text: str


@attrs.frozen
class Infill:
    """A fill-in-the-middle request: what to write between ``prefix + typed`` and ``suffix``.

    ``typed`` is the cursor's line up to the cursor, apart from ``prefix`` (whole lines) so
    that a server can keep the prefix's tokens cached while the user types on one line.
    """

    prefix: str
    typed: str
    suffix: str
    extra: tuple[ExtraFile, ...] = ()
    filename: str = ""
    indent: int = 0  # the cursor line's indentation: lines indented less end the answer
    max_tokens: int = 128
    single_line: bool = False  # the answer ends at its first line break
    max_prompt_ms: int = 500  # what llama.cpp may spend on the prompt and on the answer
    max_predict_ms: int = 1000


@attrs.frozen
class Chunk:
    content: str
    finish: Finish | None = None  # set on the last chunk
    prompt_truncated: bool = False  # the server cut the prompt to fit its context

    @property
    def stop(self) -> bool:
        return self.finish is not None


@attrs.frozen
class Probe:
    """What a provider found at its server: for `check`, the launcher and the editor."""

    state: State
    flavour: str = ""  # e.g. "llama.cpp", "llamafile 0.8", "llamafile --v2", "OpenAI-compatible"
    endpoint: str = ""  # what an edit is sent to, e.g. "/completion", "/v1/chat/completions"
    context_size: int | None = None  # tokens per request, as the server reports it
    fim: bool | None = None  # fill-in-the-middle available (None: unknown)
    problems: tuple[str, ...] = ()  # what to fix, one sentence each


class Provider(Protocol):
    """One model's server. ``aclose()`` when done; leaving a stream early closes its
    connection, which is how a server learns to stop generating."""

    model: ModelConfig
    shown_url: str  # the server's address fit for a message (no credentials)

    @property
    def wants_chat(self) -> bool:
        """Whether prompts should be chat messages (else raw text in the model's format)."""
        ...

    def stream(self, prompt: Prompt) -> AsyncGenerator[Chunk, None]:
        """The answer's chunks; the last one has a ``finish``. Raises a
        :class:`~llamafile_ls.errors.ProviderError` a user can act on."""
        ...

    def infill(self, request: Infill) -> AsyncGenerator[Chunk, None]:
        """Fill in the middle: the code between ``request.prefix + request.typed`` and
        ``request.suffix``, streamed as :meth:`stream` streams."""
        ...

    async def count_tokens(self, text: str) -> int | None:
        """Tokens in ``text`` by the server's tokenizer; None when it cannot say."""
        ...

    async def probe(self, *, thorough: bool = False) -> Probe:
        """What answers at the server; ``thorough`` also asks its context size and FIM
        support (more requests: for ``check``, not for polling)."""
        ...

    async def aclose(self) -> None: ...
