"""JSON with comments and trailing commas, as Continue's config.json allows.

The comments and trailing commas are blanked out in place, so every offset in the cleaned
text is the offset in the file: the standard ``json`` module then parses it and reports
exact lines and columns, and :meth:`Document.locate` finds where a value sits for error
messages.

Everything here is linear in the size of the text: blanking is two regular-expression
passes, the nesting check one more, and locating values indexes each container's children
once (lazily, when a position is first asked for inside it) so that thousands of lookups
cost no more than one pass. Nothing recurses on the input: nesting deeper than
:data:`MAX_DEPTH` is refused before ``json`` sees it.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

MAX_DEPTH = 64  # a config needs a handful of levels; json itself recurses on each one

# The regular expressions below match long runs of text that stay as they are (code and
# whole strings) in one step, so Python code runs only where something is blanked, not once
# per string: that makes blanking several times faster on a big config.
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'  # a string, escapes and all
_UNTERMINATED = r'".*'  # a string that never ends runs to the end of the text (json reports it)
_BLOCK = r"/\*[^*]*\*+(?:[^/*][^*]*\*+)*/|/\*.*"  # the classic unrolled pattern; unclosed: to the end
_COMMENTS = re.compile(rf"(?P<keep>(?:[^\"/]+|{_STRING}|/(?![/*]))+|{_UNTERMINATED})|//[^\n]*|{_BLOCK}", re.DOTALL)
_TRAILING_COMMA = re.compile(rf"(?P<keep>(?:[^\",]+|{_STRING}|,(?![ \t\r\n]*[\]}}]))+|{_UNTERMINATED})|,", re.DOTALL)
_BRACKETS = re.compile(rf"(?:[^\"\[\]{{}}]+|{_STRING})+|{_UNTERMINATED}|([\[{{]+)|([\]}}]+)", re.DOTALL)
_NOT_NEWLINE = re.compile(r"[^\r\n]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_TOKEN = re.compile(rf"{_STRING}|{_UNTERMINATED}|(-?Infinity|NaN)|(-?[0-9]+)(\.[0-9]+)?([eE][-+]?[0-9]+)?", re.DOTALL)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class JsoncSyntaxError(ValueError):
    """The text is not JSONC that can be used; ``message`` is a complete sentence."""

    def __init__(self, message: str, line: int, column: int) -> None:
        self.message = message
        self.line = line
        self.column = column
        super().__init__(f"{line}:{column}: {message}")


def _blank_comment(match: re.Match[str]) -> str:
    kept = match.group("keep")
    return kept if kept is not None else _NOT_NEWLINE.sub(" ", match.group())


def _blank_comma(match: re.Match[str]) -> str:
    kept = match.group("keep")
    return kept if kept is not None else " "


def blank_comments(text: str) -> str:
    """Replace comments and trailing commas with spaces, keeping every newline and offset."""
    if "/" in text:
        text = _COMMENTS.sub(_blank_comment, text)
    if "," in text:
        text = _TRAILING_COMMA.sub(_blank_comma, text)
    return text


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` (one scan of the text; see :class:`Document`)."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


class _Refused(ValueError):
    """A token json would accept but a config must not have (NaN, an infinite number)."""


def _refuse_constant(_name: str) -> Any:
    raise _Refused


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused
    return value


class JsoncEmpty(JsoncSyntaxError):
    """Only whitespace and comments: no value at all."""


class Document:
    """A parsed JSONC text that can say where each of its values is.

    ``normalize`` maps a key in the file to the name it stands for (e.g. ``apiBase`` →
    ``api_base``), so a path of normalized names finds the key as it is spelled.
    """

    def __init__(self, text: str, normalize: Callable[[str], str] | None = None) -> None:
        self.text = text
        doc = blank_comments(text)
        if doc.startswith("\ufeff"):
            doc = " " + doc[1:]  # a byte order mark left in an editor's buffer
        self.doc = doc
        self._normalize = normalize or (lambda key: key)
        self._newlines: list[int] | None = None
        self._objects: dict[int, tuple[dict[str, int], dict[str, int]]] = {}
        self._arrays: dict[int, list[int]] = {}
        self._check_depth()
        self.value = self._decode()
        if _SURROGATE_ESCAPE.search(self.doc) or _SURROGATE.search(self.doc):
            self._check_surrogates()

    @property
    def blank(self) -> bool:
        """Nothing but whitespace and comments."""
        return not self.doc.strip(" \t\r\n")

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and column of an offset; logarithmic after one scan for newlines."""
        if self._newlines is None:
            self._newlines = [match.start() for match in re.finditer("\n", self.doc)]
        line = bisect.bisect_left(self._newlines, offset)
        start = self._newlines[line - 1] + 1 if line else 0
        return line + 1, offset - start + 1

    def _fail(self, message: str, offset: int) -> JsoncSyntaxError:
        line, column = self.position(min(max(offset, 0), len(self.doc)))
        return JsoncSyntaxError(message, line, column)

    def _check_depth(self) -> None:
        depth = 0
        for match in _BRACKETS.finditer(self.doc):
            opened, closed = match.group(1), match.group(2)
            if opened:
                if depth + len(opened) > MAX_DEPTH:
                    raise self._fail(
                        f"the JSON is nested more than {MAX_DEPTH} levels deep; a config needs only a few",
                        match.start() + MAX_DEPTH - depth,
                    )
                depth += len(opened)
            elif closed:
                depth = max(depth - len(closed), 0)

    def _decode(self) -> Any:
        if self.blank:
            raise JsoncEmpty("there is no JSON value, only whitespace and comments", 1, 1)
        try:
            # Floats are few in a config, so checking each costs nothing; integers are many
            # and keep json's fast path (Python refuses only those of thousands of digits).
            return json.loads(self.doc, parse_constant=_refuse_constant, parse_float=_finite_float)
        except json.JSONDecodeError as error:
            raise JsoncSyntaxError(f"invalid JSON: {error.msg}", error.lineno, error.colno) from None
        except ValueError:  # _Refused, or an integer too long for int()
            pass
        digits = getattr(sys, "get_int_max_str_digits", lambda: 0)() or math.inf
        # json parses in the order of the text: the first such token outside a string is the one.
        for match in _TOKEN.finditer(self.doc):
            constant, whole, fraction, exponent = match.groups()
            if constant:
                raise self._fail(f"invalid JSON: {constant} is not a JSON number; write a finite number", match.start())
            if whole and not (fraction or exponent) and len(whole.lstrip("-")) > digits:
                raise self._fail(f"invalid JSON: an integer with more than {digits} digits", match.start())
            if whole and (fraction or exponent) and math.isinf(float(match.group())):
                raise self._fail("invalid JSON: a number too large to represent (it would be infinite)", match.start())
        raise self._fail("invalid JSON: a number is out of range", 0)  # not reached: the scan finds it

    def _check_surrogates(self) -> None:
        """Refuse a string with an unpaired surrogate (``"\\ud800"``): it is not text, and
        encoding it as UTF-8 later (to send it, or to show it) would fail."""
        stack: list[tuple[list[str | int], Any]] = [([], self.value)]
        while stack:
            path, value = stack.pop()
            if isinstance(value, str):
                if _SURROGATE.search(value):
                    break
            elif isinstance(value, dict):
                bad = next((key for key in value if _SURROGATE.search(key)), None)
                if bad is not None:
                    path = [*path, bad]  # where its value is
                    break
                stack.extend(([*path, key], item) for key, item in reversed(value.items()))
            elif isinstance(value, list):
                stack.extend(([*path, index], item) for index, item in reversed(list(enumerate(value))))
        else:
            return
        line, column = self.locate(path) or (1, 1)
        raise JsoncSyntaxError(
            "a string has an unpaired surrogate escape (\\ud800-\\udfff), which is not a character; "
            "write the character itself",
            line,
            column,
        )

    # --- locating values -------------------------------------------------------------

    def locate(self, path: Sequence[str | int]) -> tuple[int, int] | None:
        """1-based line and column of the value at ``path`` (keys and list indices).

        Stops at the deepest part of the path that exists; None only if the text has no
        value at all.
        """
        try:
            offset = _skip(self.doc, 0)
            if offset >= len(self.doc):
                return None
            for part in path:
                found = self._child(offset, part)
                if found is None:
                    break
                offset = found
        except (ValueError, IndexError):
            return None
        return self.position(offset)

    def _child(self, offset: int, part: str | int) -> int | None:
        opener = self.doc[offset]
        if opener == "{" and isinstance(part, str):
            exact, normal = self._object(offset)
            canonical = self._normalize(part)
            if canonical == part:  # a name: the last key that stands for it is the one used
                return normal.get(part, exact.get(part))
            return exact.get(part, normal.get(canonical))
        if opener == "[" and isinstance(part, int):
            items = self._array(offset)
            return items[part] if 0 <= part < len(items) else None
        return None

    def _object(self, offset: int) -> tuple[dict[str, int], dict[str, int]]:
        index = self._objects.get(offset)
        if index is None:
            exact: dict[str, int] = {}
            normal: dict[str, int] = {}
            for key, value in self._members(offset):
                exact[key] = value
                normal[self._normalize(key)] = value
            index = self._objects[offset] = (exact, normal)
        return index

    def _array(self, offset: int) -> list[int]:
        items = self._arrays.get(offset)
        if items is None:
            items = self._arrays[offset] = [value for _key, value in self._members(offset)]
        return items

    def _members(self, offset: int) -> list[tuple[str, int]]:
        """(key, offset of the value) of each member; the keys of an array are ""."""
        doc = self.doc
        is_object = doc[offset] == "{"
        members: list[tuple[str, int]] = []
        offset = _skip(doc, offset + 1)
        while doc[offset] not in "]}":
            key = ""
            if is_object:
                key, offset = json.decoder.scanstring(doc, offset + 1)  # type: ignore[attr-defined]
                offset = _skip(doc, offset)
                offset = _skip(doc, offset + 1)  # the colon
            members.append((key, offset))
            _, offset = _DECODER.raw_decode(doc, offset)
            offset = _skip(doc, offset)
            if doc[offset] == ",":
                offset = _skip(doc, offset + 1)
        return members


def _skip(doc: str, offset: int) -> int:
    match = _WHITESPACE.match(doc, offset)
    return match.end() if match else offset


def parse(text: str, normalize: Callable[[str], str] | None = None) -> Document:
    """Parse JSONC; raise :class:`JsoncSyntaxError` with the line and column of the fault."""
    return Document(text, normalize)


def loads(text: str) -> Any:
    """Parse JSONC to plain values; raise :class:`JsoncSyntaxError` on a fault."""
    return Document(text).value


def locate(
    text: str, path: Sequence[str | int], normalize: Callable[[str], str] | None = None
) -> tuple[int, int] | None:
    """Where the value at ``path`` is, for one lookup; parse once with :func:`parse` for many."""
    try:
        return Document(text, normalize).locate(path)
    except JsoncSyntaxError:
        return None
