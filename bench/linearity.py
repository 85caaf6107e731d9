#!/usr/bin/env python3
"""Does the work grow with the input, and no faster? Times the pure paths that once grew
quadratically — taking in a streamed answer, and moving an edit past what the user typed —
at doubling sizes, and prints the ratio between neighbours: about 2 is linear, 4 quadratic.

    python bench/linearity.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncGenerator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "server")]

from llamafile_ls import textedit  # noqa: E402
from llamafile_ls.config import CompletionOptions, ModelConfig  # noqa: E402
from llamafile_ls.edit import EditRequest, run_edit  # noqa: E402
from llamafile_ls.providers.base import Chunk, Prompt  # noqa: E402


class ManyChunks:
    """A model that answers ``size`` bytes of code in 16-character chunks."""

    def __init__(self, size: int) -> None:
        line = "value = 1234567\n"  # 16 characters
        self.pieces = [line] * (size // len(line))

    wants_chat = False

    async def stream(self, prompt: Prompt) -> AsyncGenerator[Chunk, None]:
        for piece in self.pieces:
            yield Chunk(piece)
        yield Chunk("", finish="stop")

    async def count_tokens(self, text: str) -> int | None:
        return None


def answer_seconds(size: int) -> float:
    model = ModelConfig(
        title="m",
        prompt_templates={"edit": "{{{code_to_edit}}}"},
        completion_options=CompletionOptions(max_tokens=1_000_000),
        context_length=2_000_000,
    )
    request = EditRequest(text="x = 1\n", start_line=0, end_line=1, instruction="grow")
    started = time.perf_counter()
    asyncio.run(run_edit(request, model, ManyChunks(size), on_progress=lambda _chunks: None))
    return time.perf_counter() - started


def rebase_seconds(lines: int) -> float:
    """A file of braces and blank lines (the worst case for a diff), typed in at the top,
    middle and bottom while the model answered."""
    body = ["    }\n" if i % 3 == 0 else "\n" if i % 3 == 1 else f"x{i} = {i}\n" for i in range(lines)]
    old = "".join(body)
    new = "".join(["typed\n", *body[: lines // 2], "typed\n", *body[lines // 2 :], "typed\n"])
    selection = textedit.select_lines(old, lines // 4, lines // 4 + 3)
    edits = textedit.line_edits(selection, "a\nb\n")
    started = time.perf_counter()
    assert textedit.rebase_edits(old, new, selection, edits) is not None
    return time.perf_counter() - started


def series(name: str, unit: str, sizes: list[int], measure: object) -> None:
    assert callable(measure)
    previous = None
    print(f"{name}:")
    for size in sizes:
        seconds = min(measure(size) for _ in range(3))
        ratio = f"  ×{seconds / previous:.2f}" if previous else ""
        print(f"  {size:>9,} {unit}: {seconds * 1000:8.1f} ms{ratio}")
        previous = seconds


def main() -> None:
    series("a streamed answer in 16-character chunks", "bytes", [128_000, 256_000, 512_000, 1_024_000], answer_seconds)
    series("an edit moved past typing above and below", "lines", [10_000, 20_000, 40_000, 80_000], rebase_seconds)
    print("about ×2 per doubling is linear; ×4 would be quadratic")


if __name__ == "__main__":
    main()
