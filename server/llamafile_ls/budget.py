"""Fit a prompt into the model's context window by trimming the file around the selection.

The prompt plus ``max_tokens`` must fit ``context_length``. The lines nearest the selection
are kept, alternating above and below. Tokens are counted by a counter the caller gives
(the model server's ``/tokenize``); when it has none, a conservative estimate is used.
Pure apart from awaiting that counter: a few round trips at most, whatever the file size.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence

import attrs

from llamafile_ls.errors import ContextTooSmall

TokenCounter = Callable[[str], Awaitable[int | None]]
RenderPrompt = Callable[[str, str], str]  # (file_prefix, file_suffix) -> prompt

# Room left for what a server adds (a BOS token) and for rounding in the estimates.
SAFETY_TOKENS = 8
_MAX_ROUNDS = 4


def estimate_tokens(text: str) -> int:
    """An upper-leaning guess: about 3 bytes of UTF-8 per token for code and prose."""
    return math.ceil(len(text.encode("utf-8")) / 3)


@attrs.frozen
class FittedPrompt:
    prompt: str
    tokens: int
    prefix_lines: int  # how many lines of the file above the selection were kept
    suffix_lines: int
    counted: bool  # True when tokens came from the server's tokenizer


async def fit_prompt(
    render: RenderPrompt,
    prefix_lines: Sequence[str],
    suffix_lines: Sequence[str],
    *,
    context_length: int,
    max_tokens: int,
    count: TokenCounter | None = None,
) -> FittedPrompt:
    """The prompt with as much of the surrounding file as fits; raise if the bare one doesn't."""
    limit = context_length - max_tokens - SAFETY_TOKENS
    counted = True

    async def tokens_of(text: str) -> int:
        nonlocal counted
        exact = await count(text) if count is not None else None
        if exact is None:
            counted = False
            return estimate_tokens(text)
        return exact

    def fitted(prompt: str, tokens: int, above: int, below: int) -> FittedPrompt:
        return FittedPrompt(prompt, tokens, above, below, counted)

    full = render("".join(prefix_lines), "".join(suffix_lines))
    full_tokens = await tokens_of(full)
    if full_tokens <= limit:
        return fitted(full, full_tokens, len(prefix_lines), len(suffix_lines))

    bare = render("", "")
    bare_tokens = await tokens_of(bare)
    if bare_tokens > limit:
        raise ContextTooSmall(
            f"the selection does not fit the model's context: its prompt needs {bare_tokens} tokens "
            f"plus {max_tokens} for the answer (max_tokens), but context_length is {context_length}; "
            "select fewer lines, or raise context_length (and the server's --ctx-size)"
        )

    # Tokens per character of the surrounding text, measured once, guides the line picking.
    around = sum(map(len, prefix_lines)) + sum(map(len, suffix_lines))
    ratio = max(full_tokens - bare_tokens, 1) / max(around, 1)
    room = limit - bare_tokens
    best = fitted(bare, bare_tokens, 0, 0)
    for _ in range(_MAX_ROUNDS):
        above, below = _nearest_lines(prefix_lines, suffix_lines, room / ratio)
        if above + below <= best.prefix_lines + best.suffix_lines:
            break
        prompt = render("".join(prefix_lines[len(prefix_lines) - above :]), "".join(suffix_lines[:below]))
        tokens = await tokens_of(prompt)
        if tokens <= limit:
            best = fitted(prompt, tokens, above, below)
            if limit - tokens < max(room // 20, 16):  # within 5%: good enough
                break
            ratio = max(tokens - bare_tokens, 1) / max(_chars(prefix_lines, suffix_lines, above, below), 1)
            room = limit - bare_tokens
        else:
            room = int(room * (limit - bare_tokens) / max(tokens - bare_tokens, 1) * 0.95)
    return best


def _chars(prefix: Sequence[str], suffix: Sequence[str], above: int, below: int) -> int:
    return sum(map(len, prefix[len(prefix) - above :])) + sum(map(len, suffix[:below]))


def _nearest_lines(prefix: Sequence[str], suffix: Sequence[str], budget_chars: float) -> tuple[int, int]:
    """How many lines above and below fit ``budget_chars``, taking the nearest first, in turn."""
    above = below = 0
    used = 0
    while above < len(prefix) or below < len(suffix):
        progressed = False
        if above < len(prefix) and used + len(prefix[-1 - above]) <= budget_chars:
            used += len(prefix[-1 - above])
            above += 1
            progressed = True
        if below < len(suffix) and used + len(suffix[below]) <= budget_chars:
            used += len(suffix[below])
            below += 1
            progressed = True
        if not progressed:
            break
    return above, below
