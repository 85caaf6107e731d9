"""Fit a prompt into the model's context window by trimming the file around the selection.

The prompt plus ``max_tokens`` must fit ``context_length``. The lines nearest the selection
are kept, alternating above and below. Tokens are counted by a counter the caller gives
(the model server's ``/tokenize``); when it has none, a conservative estimate is used.
Pure apart from awaiting that counter: a few round trips at most, whatever the file size.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from itertools import accumulate

import attrs

from llamafile_ls.errors import ContextTooSmall
from llamafile_ls.providers.base import Prompt

TokenCounter = Callable[[str], Awaitable[int | None]]
RenderPrompt = Callable[[str, str], Prompt]  # (file_prefix, file_suffix) -> prompt

# Room left for what a server adds (a BOS token) and for rounding in the estimates.
SAFETY_TOKENS = 8
_MAX_ROUNDS = 4


def estimate_tokens(text: str) -> int:
    """An upper-leaning guess: about 3 bytes of UTF-8 per token for code and prose."""
    return math.ceil(len(text.encode("utf-8")) / 3)


@attrs.frozen
class FittedPrompt:
    prompt: Prompt
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

    async def tokens_of(prompt: Prompt) -> int:
        nonlocal counted
        text = prompt.counted_text
        exact = await count(text) if count is not None else None
        if exact is None:
            counted = False
            return estimate_tokens(text)
        return exact

    def fitted(prompt: Prompt, tokens: int, above: int, below: int) -> FittedPrompt:
        return FittedPrompt(prompt, tokens, above, below, counted)

    bare = render("", "")
    around = sum(map(len, prefix_lines)) + sum(map(len, suffix_lines))
    # The whole file, when a rough estimate says it may fit: one round trip. Otherwise only
    # lines near the selection are ever rendered or counted, so the work follows the
    # context window, not the file.
    if estimate_tokens(bare.counted_text) + around // 3 <= limit:
        full = render("".join(prefix_lines), "".join(suffix_lines))
        guess = estimate_tokens(full.counted_text)
        if guess * 2 <= limit:
            # Far below the limit: even a tokenizer twice as dense as the estimate fits it,
            # so the count (a round trip) would change nothing.
            return FittedPrompt(full, guess, len(prefix_lines), len(suffix_lines), counted=False)
        full_tokens = await tokens_of(full)
        if full_tokens <= limit:
            return fitted(full, full_tokens, len(prefix_lines), len(suffix_lines))

    bare_tokens: int | None = None  # counted only when needed: each count is a round trip

    async def count_bare() -> int:
        nonlocal bare_tokens
        if bare_tokens is None:
            bare_tokens = await tokens_of(bare)
            if bare_tokens > limit:
                raise ContextTooSmall(
                    f"the selection does not fit the model's context: its prompt needs {bare_tokens} tokens "
                    f"plus {max_tokens} for the answer (max_tokens), but context_length is {context_length}; "
                    "select fewer lines, or raise context_length (and the server's --ctx-size)"
                )
        return bare_tokens

    base = estimate_tokens(bare.counted_text)  # the bare prompt's tokens: estimated (high) until counted
    if base >= limit:
        base = await count_bare()
    ratio = 1 / 3  # tokens per character to start with; measured after each count
    room = limit - base
    best: FittedPrompt | None = None
    for _ in range(_MAX_ROUNDS):
        above, below = _nearest_lines(prefix_lines, suffix_lines, room / ratio)
        if above + below == 0 or (best and above + below <= best.prefix_lines + best.suffix_lines):
            break
        prompt = render("".join(prefix_lines[len(prefix_lines) - above :]), "".join(suffix_lines[:below]))
        tokens = await tokens_of(prompt)
        if tokens <= limit:
            best = fitted(prompt, tokens, above, below)
            # Good enough: most of the room used (another count costs a round trip, and more
            # context costs the model far more time to read), or nothing left to add.
            if tokens - base >= room * 0.7 or (above, below) == (len(prefix_lines), len(suffix_lines)):
                break
        else:
            base = await count_bare()
        ratio = max(tokens - base, 1) / max(_chars(prefix_lines, suffix_lines, above, below), 1)
        room = int((limit - base) * (0.97 if tokens > limit else 1.0))
    if best is None:
        best = fitted(bare, await count_bare(), 0, 0)
    return best


def _chars(prefix: Sequence[str], suffix: Sequence[str], above: int, below: int) -> int:
    return sum(map(len, prefix[len(prefix) - above :])) + sum(map(len, suffix[:below]))


def _nearest_lines(prefix: Sequence[str], suffix: Sequence[str], budget_chars: float) -> tuple[int, int]:
    """How many lines above and below fit ``budget_chars``, nearest first, alternating
    (above first); when one side runs out, the other goes on."""
    window = 256  # lines a side, doubled until the budget runs out inside it: work ~ lines kept
    while True:
        above_sums = [0, *accumulate(map(len, reversed(prefix[-window:])))]
        below_sums = [0, *accumulate(map(len, suffix[:window]))]
        whole = window >= len(prefix) and window >= len(suffix)
        if whole or above_sums[-1] + below_sums[-1] > budget_chars:
            break
        window *= 2

    def total(rounds: int) -> int:
        return above_sums[min(rounds, len(above_sums) - 1)] + below_sums[min(rounds, len(below_sums) - 1)]

    low, high = 0, max(len(above_sums), len(below_sums)) - 1
    while low < high:  # the most rounds of one line above and one below that fit
        middle = (low + high + 1) // 2
        if total(middle) <= budget_chars:
            low = middle
        else:
            high = middle - 1
    above, below = min(low, len(above_sums) - 1), min(low, len(below_sums) - 1)
    if above + 1 < len(above_sums) and above_sums[above + 1] + below_sums[below] <= budget_chars:
        above += 1  # the next round starts above
    return above, below


# --- the answer's budget ----------------------------------------------------------------------

# What a rewrite of the selection needs at least: the selection again, grown (comments,
# docstrings and type hints come on top of the code), and room for a code fence and a line
# or two more. The seed sized its answers the same way (2.5x a large selection).
REWRITE_FACTOR = 2
REWRITE_SLACK = 128
# The most an answer gets when the context has more room: past it a model that runs on (a
# small one repeating a line) is stopped before it costs minutes. The seed's cap too.
ANSWER_CAP = 4096


def rewrite_tokens(code: str) -> int:
    """Tokens the answer needs at least to rewrite ``code``."""
    return estimate_tokens(code) * REWRITE_FACTOR + REWRITE_SLACK


def answer_tokens(context_length: int, fitted: FittedPrompt, needed: int) -> int:
    """The answer's budget when the config sets none: the room the context has left after the
    prompt, up to :data:`ANSWER_CAP`, and never less than ``needed`` (the prompt was fitted
    to leave that much). A prompt whose tokens were estimated, not counted, is taken at twice
    its estimate, so the budget stays within the context whatever the tokenizer."""
    prompt_tokens = fitted.tokens if fitted.counted else 2 * fitted.tokens
    room = context_length - prompt_tokens - SAFETY_TOKENS
    return max(needed, min(room, max(needed, ANSWER_CAP)))
