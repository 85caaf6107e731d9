"""JSON with comments and trailing commas, as Continue's config.json allows.

The comments and trailing commas are blanked out in place, so every position in the cleaned
text is the position in the file: the standard ``json`` module then parses it and reports
exact lines and columns, and :func:`locate` finds where a value sits for error messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class JsoncSyntaxError(ValueError):
    def __init__(self, message: str, line: int, column: int) -> None:
        self.message = message
        self.line = line
        self.column = column
        super().__init__(f"{line}:{column}: {message}")


def blank_comments(text: str) -> str:
    """Replace comments and trailing commas with spaces, keeping every newline."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        else:
            if char in "]}":
                _blank_trailing_comma(out)
            out.append(char)
            i += 1
    return "".join(out)


def _blank_trailing_comma(out: list[str]) -> None:
    for index in range(len(out) - 1, -1, -1):
        piece = out[index]
        stripped = piece.rstrip()
        if not stripped:
            continue
        if stripped.endswith(","):
            cut = len(stripped) - 1
            out[index] = piece[:cut] + " " + piece[cut + 1 :]
        return


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset``."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def loads(text: str) -> Any:
    """Parse JSONC; raise :class:`JsoncSyntaxError` with the line and column of the fault."""
    try:
        return json.loads(blank_comments(text))
    except json.JSONDecodeError as error:
        raise JsoncSyntaxError(error.msg, error.lineno, error.colno) from None


def locate(text: str, path: Sequence[str | int], same_key: Any = None) -> tuple[int, int] | None:
    """1-based line and column of the value at ``path`` (keys and list indices).

    Stops at the deepest part of the path that exists. ``same_key(key, part)`` may say that
    a key in the file stands for a path part (e.g. ``apiBase`` for ``api_base``).
    """
    matches = same_key or (lambda key, part: key == part)
    doc = blank_comments(text)
    try:
        offset = _skip(doc, 0)
        for part in path:
            found = _child(doc, offset, part, matches)
            if found is None:
                break
            offset = found
    except (ValueError, IndexError):
        return None
    return line_column(doc, offset)


def _skip(doc: str, offset: int) -> int:
    match = _WHITESPACE.match(doc, offset)
    return match.end() if match else offset


def _child(doc: str, offset: int, part: str | int, matches: Any) -> int | None:
    opener = doc[offset]
    if opener not in "[{" or (opener == "{") != isinstance(part, str):
        return None
    offset = _skip(doc, offset + 1)
    index = 0
    while doc[offset] not in "]}":
        if opener == "{":
            key, offset = json.decoder.scanstring(doc, offset + 1)  # type: ignore[attr-defined]
            offset = _skip(doc, offset)
            offset = _skip(doc, offset + 1)  # the colon
            if matches(key, part):
                return offset
        elif index == part:
            return offset
        _, offset = _DECODER.raw_decode(doc, offset)
        offset = _skip(doc, offset)
        if doc[offset] == ",":
            offset = _skip(doc, offset + 1)
        index += 1
    return None
