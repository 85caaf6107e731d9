"""What inline completion remembers between keystrokes, so that most of them need no model:
suggestions by context (an LRU), and chunks of recently used files for the model's extra
context (a ring). Pure: no I/O; times are arguments.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import attrs

# How much of the text on each side of the cursor keys a suggestion: enough to tell two
# places apart, short enough to survive the prefix window moving as lines are typed.
KEY_CHARS = 1024


@attrs.frozen
class Hit:
    suggestion: str
    walked_back: int  # characters typed since the cached answer's context (0: the same context)


class SuggestionCache:
    """Suggestions by the text around the cursor. A lookup also walks back over the last
    characters typed: when they are the start of a suggestion shown there, the rest of it
    is the answer (type-ahead), with no request."""

    def __init__(self, size: int = 256, walk_back: int = 64) -> None:
        self._entries: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._size = size
        self._walk_back = walk_back

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(before: str, suffix: str) -> tuple[str, str]:
        return before[-KEY_CHARS:], suffix[:KEY_CHARS]

    def put(self, before: str, suffix: str, suggestion: str) -> None:
        key = self.key(before, suffix)
        self._entries[key] = suggestion
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def get(self, before: str, suffix: str) -> Hit | None:
        """The suggestion for this context ("" when the model had none), or the rest of one
        that what was typed since began."""
        head = suffix[:KEY_CHARS]
        for back in range(min(self._walk_back, len(before)) + 1):
            end = len(before) - back
            found = self._entries.get((before[max(0, end - KEY_CHARS) : end], head))
            if found is None:
                continue
            typed = before[end:]
            if back == 0 or (found.startswith(typed) and len(found) > len(typed)):
                self._entries.move_to_end((before[max(0, end - KEY_CHARS) : end], head))
                return Hit(found[len(typed) :], back)
        return None


@attrs.frozen
class Chunk:
    """Some lines of a file, sent to the model as extra context."""

    filename: str
    text: str
    lines: frozenset[str] = attrs.field(eq=False, repr=False)


def similarity(a: Chunk, b: Chunk) -> float:
    """How alike two chunks are (shared lines over all lines): near-copies are not both kept."""
    if not a.lines and not b.lines:
        return 1.0
    return 2 * len(a.lines & b.lines) / (len(a.lines) + len(b.lines))


class ChunkRing:
    """Chunks of files the user recently opened, edited or saved (llama.vim's ring buffer).

    New chunks wait in a queue and enter the ring one at a time, and only when the user
    has paused: the ring is sent before everything else in the prompt, so while it stays
    the same llama.cpp reuses the whole prompt's cache from one keystroke to the next. The
    oldest chunk goes first, and a chunk replaces any near-copy of itself.
    """

    def __init__(self, size: int = 16, chunk_lines: int = 64, pause: float = 1.0) -> None:
        self.size = size
        self.chunk_lines = chunk_lines
        self.pause = pause
        self._ring: list[Chunk] = []
        self._queue: list[Chunk] = []
        self._last_request = float("-inf")

    def offer(self, filename: str, lines: Sequence[str], around: int) -> None:
        """Queue the chunk of ``lines`` (without endings) centred on line ``around``."""
        if self.size <= 0:
            return
        start = max(0, min(around - self.chunk_lines // 2, len(lines) - self.chunk_lines))
        picked = lines[start : start + self.chunk_lines]
        if sum(1 for line in picked if line.strip()) < 3:  # too little to teach the model anything
            return
        chunk = Chunk(filename, "".join(f"{line}\n" for line in picked), frozenset(picked))
        if any(similarity(chunk, other) > 0.9 for other in self._ring):
            return
        self._queue = [other for other in self._queue if similarity(chunk, other) <= 0.9]
        self._queue.append(chunk)
        del self._queue[: -self.size]

    def chunks(self, now: float, window: frozenset[str] = frozenset()) -> tuple[Chunk, ...]:
        """The ring for a request made at ``now`` (seconds); after a pause, one queued chunk
        enters it first. Chunks mostly made of the lines of ``window`` (the code sent around
        the cursor) are left out: the model would read the same code twice, once stale."""
        if self._queue and now - self._last_request >= self.pause:
            chunk = self._queue.pop(0)
            self._ring = [other for other in self._ring if similarity(chunk, other) <= 0.9]
            self._ring.append(chunk)
            del self._ring[: -self.size]
        self._last_request = now
        return tuple(chunk for chunk in self._ring if len(chunk.lines & window) * 2 <= len(chunk.lines))
