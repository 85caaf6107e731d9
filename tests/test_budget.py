from __future__ import annotations

import pytest

from llamafile_ls import budget
from llamafile_ls.errors import ContextTooSmall
from llamafile_ls.providers.base import Message, Prompt


def render(prefix: str, suffix: str) -> Prompt:
    return Prompt(f"[{prefix}]<selection>[{suffix}]")


class WordCounter:
    """Counts whitespace-separated words, like a tokenizer would count tokens; records calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, text: str) -> int | None:
        self.calls += 1
        return len(text.split())


PREFIX = [f"above {i} w w w\n" for i in range(200)]  # 5 words a line
SUFFIX = [f"below {i} w w w\n" for i in range(200)]


async def test_a_prompt_far_below_the_limit_is_sent_whole_without_a_count() -> None:
    counter = WordCounter()
    fitted = await budget.fit_prompt(render, PREFIX[:3], SUFFIX[:3], context_length=400, max_tokens=10, count=counter)
    assert fitted.prompt == render("".join(PREFIX[:3]), "".join(SUFFIX[:3]))
    assert (fitted.prefix_lines, fitted.suffix_lines, fitted.counted, counter.calls) == (3, 3, False, 0)


async def test_a_prompt_near_the_limit_is_counted_once_and_sent_whole() -> None:
    counter = WordCounter()
    fitted = await budget.fit_prompt(render, PREFIX[:3], SUFFIX[:3], context_length=70, max_tokens=10, count=counter)
    assert fitted.prompt == render("".join(PREFIX[:3]), "".join(SUFFIX[:3]))
    assert (fitted.prefix_lines, fitted.suffix_lines, fitted.counted, counter.calls) == (3, 3, True, 1)


async def test_trimming_keeps_the_nearest_lines_and_fits_in_few_round_trips() -> None:
    counter = WordCounter()
    fitted = await budget.fit_prompt(render, PREFIX, SUFFIX, context_length=300, max_tokens=100, count=counter)
    limit = 300 - 100 - budget.SAFETY_TOKENS
    assert fitted.tokens <= limit
    assert fitted.tokens > limit * 0.8  # most of the room is used
    assert "above 199 w w w\n]<selection>[below 0 w w w" in fitted.prompt.text  # nearest kept
    assert "above 0 w" not in fitted.prompt.text and "below 199 w" not in fitted.prompt.text
    assert abs(fitted.prefix_lines - fitted.suffix_lines) <= 1
    assert counter.calls <= 2 + 4


async def test_a_selection_that_alone_does_not_fit_is_an_error_with_numbers() -> None:
    def big(prefix: str, suffix: str) -> Prompt:
        return Prompt("tok " * 500 + prefix + suffix)

    with pytest.raises(ContextTooSmall, match=r"needs 500 tokens plus 100 for the answer .* context_length is 512"):
        await budget.fit_prompt(big, PREFIX, SUFFIX, context_length=512, max_tokens=100, count=WordCounter())


async def test_without_a_tokenizer_the_estimate_is_used() -> None:
    async def no_tokenizer(_text: str) -> int | None:
        return None

    fitted = await budget.fit_prompt(render, PREFIX, SUFFIX, context_length=400, max_tokens=100, count=no_tokenizer)
    assert not fitted.counted
    assert budget.estimate_tokens(fitted.prompt.text) <= 400 - 100 - budget.SAFETY_TOKENS
    assert fitted.prefix_lines > 0 and fitted.suffix_lines > 0


def test_the_estimate_errs_on_the_high_side_for_wide_characters() -> None:
    assert budget.estimate_tokens("漢字" * 30) >= 60


async def test_chat_messages_are_counted_with_room_for_their_role_markers() -> None:
    def chat(prefix: str, suffix: str) -> Prompt:
        return Prompt(messages=(Message("system", "Be brief."), Message("user", f"[{prefix}]<selection>[{suffix}]")))

    counter = WordCounter()
    fitted = await budget.fit_prompt(chat, PREFIX, SUFFIX, context_length=300, max_tokens=100, count=counter)
    assert fitted.prompt.chat and fitted.tokens <= 300 - 100 - budget.SAFETY_TOKENS
    # What is counted carries every message and a marker for each.
    assert fitted.prompt.counted_text.count("<|") == 2 and "Be brief." in fitted.prompt.counted_text
