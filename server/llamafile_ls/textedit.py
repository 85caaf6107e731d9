"""From file text and a model's answer to minimal text edits. Pure: strings in, edits out.

Lines end in ``\\n``, ``\\r\\n`` or ``\\r``, as in LSP. Positions are 0-based lines and
characters counted in code points; the LSP layer converts them to the client's encoding.
"""

from __future__ import annotations

import collections
import difflib
import re

import attrs

from llamafile_ls.errors import EditRejected

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_EOL = re.compile(r"\r\n|\r|\n")


# Characters str.splitlines breaks at that LSP does not.
_NOT_LSP_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def split_lines(text: str) -> list[str]:
    """Lines with their endings; ``"a\\nb\\n"`` → ``["a\\n", "b\\n"]``."""
    if not any(char in text for char in _NOT_LSP_BREAKS):  # `in` scans far faster than a regex
        return text.splitlines(keepends=True)  # the same lines, several times faster
    # One kind of line ending (the usual case): str.split is three times faster than a regex.
    if "\r" not in text:
        eol = "\n"
    elif "\n" not in text:
        eol = "\r"
    elif text.count("\r") == text.count("\n") == text.count("\r\n"):
        eol = "\r\n"
    else:
        return _LINE.findall(text)
    parts = text.split(eol)
    last = parts.pop()
    lines = [part + eol for part in parts]
    if last:
        lines.append(last)
    return lines


def normalize_eol(text: str) -> str:
    """Every line ending as ``\\n``: what a model is shown and what it answers in."""
    return _EOL.sub("\n", text)


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


@attrs.frozen
class Position:
    line: int
    character: int


@attrs.frozen
class TextEdit:
    start: Position
    end: Position
    new_text: str


@attrs.frozen
class Selection:
    """Whole lines ``start_line`` to ``end_line`` (exclusive) of a text, and what surrounds them."""

    lines: tuple[str, ...]  # with their line endings
    start_line: int
    prefix_lines: tuple[str, ...]  # the lines before the selection
    suffix_lines: tuple[str, ...]  # the lines after it
    eol: str

    @property
    def end_line(self) -> int:
        return self.start_line + len(self.lines)

    @property
    def code(self) -> str:
        return "".join(self.lines)

    @property
    def indent(self) -> str:
        """The smallest indentation of the selection's non-blank lines."""
        indents = [_indent_of(line) for line in self.lines if line.strip()]
        return min(indents, key=len) if indents else ""


def select_lines(text: str, start_line: int, end_line: int) -> Selection:
    """The selection of lines ``[start_line, end_line)``; ``end_line`` past the end is clamped."""
    lines = split_lines(text)
    end_line = min(end_line, len(lines))
    if not 0 <= start_line < end_line:
        raise EditRejected(
            f"the selection (lines {start_line + 1}-{end_line}) is empty or outside the file, "
            f"which has {len(lines)} lines"
        )
    selected = lines[start_line:end_line]
    endings = _EOL.findall("".join(selected)) or _EOL.findall(text) or ["\n"]
    return Selection(
        lines=tuple(selected),
        start_line=start_line,
        prefix_lines=tuple(lines[:start_line]),
        suffix_lines=tuple(lines[end_line:]),
        eol=collections.Counter(endings).most_common(1)[0][0],  # a tie goes to the first seen
    )


# Tokens of chat formats that a server may let through at the end of an answer.
_END_TOKENS = (
    "<|im_end|>",
    "</s>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|EOT|>",
    "<end_of_turn>",
    "[/INST]",
    "<|end|>",
)
_CHATTER = re.compile(
    r"^\s*(sure|certainly|of course|okay|ok|here|below"
    r"|the (updated|rewritten|modified|edited|refactored|new) code"
    r"|i('ve| have)|this (is|code))\b[^=]*[:.!]\s*$",
    re.IGNORECASE,
)
_FENCE = re.compile(r"^\s*(```|~~~)")
_OPENER_AT_END = re.compile(r"(```[\w+#.-]*\n?|\[CODE\]\s*)$")


def answer_opener(prompt: str) -> str | None:
    """The code opener the prompt ends with (``` or [CODE]): the answer is already inside it."""
    match = _OPENER_AT_END.search(prompt[-80:])  # only the end matters: don't scan the whole prompt
    if not match:
        return None
    return "[CODE]" if match.group(1).startswith("[CODE]") else "```"


def extract_code(answer: str, opener: str | None = None) -> str:
    """The code in a model's answer, without fences, [CODE] tags and chatter around it."""
    text = strip_end_tokens(normalize_eol(answer))
    if opener == "[CODE]" or "[CODE]" in text or "[/CODE]" in text:
        if opener != "[CODE]" and "[CODE]" in text:
            text = text.split("[CODE]", 1)[1]
        text = text.split("[/CODE]", 1)[0]
        lines = text.split("\n")
    else:
        lines = _unfence(text.split("\n"), inside=opener == "```")
    lines = _drop_chatter(lines)
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip() for line in lines)


def strip_end_tokens(text: str) -> str:
    changed = True
    while changed:
        changed = False
        stripped = text.rstrip()
        for token in _END_TOKENS:
            if stripped.endswith(token):
                text = stripped[: -len(token)]
                changed = True
    return text


def _unfence(lines: list[str], *, inside: bool) -> list[str]:
    """The lines of the first fenced block; ``inside``: the prompt already opened one."""
    fences = [index for index, line in enumerate(lines) if _FENCE.match(line)]
    if not fences:
        return lines
    first = fences[0]
    # After code, a fence closes the block the prompt opened; after nothing or chatter, the
    # model opened a block of its own.
    opens_block = all(not line.strip() or _CHATTER.match(line) for line in lines[:first])
    if inside and not opens_block:
        return lines[:first]
    end = fences[1] if len(fences) >= 2 else len(lines)
    return lines[first + 1 : end]


def _drop_chatter(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if _CHATTER.match(line):  # an answer of chatter alone holds no code, not a line of prose
            return lines[index + 1 :]
        return lines
    return lines


def reindent(code: str, indent: str) -> str:
    """Shift ``code`` right so its least-indented line sits at ``indent``; never left."""
    lines = code.split("\n")
    current = min((len(_indent_of(line)) for line in lines if line.strip()), default=0)
    if current >= len(indent):
        return code
    pad = indent[: len(indent) - current] if current else indent
    return "\n".join(pad + line if line.strip() else line for line in lines)


def replacement_lines(selection: Selection, code: str) -> list[str]:
    """``code`` as lines in the file's line ending; the last ends like the selection's last."""
    parts = code.split("\n")
    last_has_eol = selection.lines[-1] != _strip_eol(selection.lines[-1])
    lines = [part + selection.eol for part in parts]
    if not last_has_eol:
        lines[-1] = parts[-1]
    return lines


def line_edits(selection: Selection, code: str) -> tuple[TextEdit, ...]:
    """Minimal whole-line edits that turn the selected lines into ``code``."""
    old = list(selection.lines)
    new = replacement_lines(selection, code)

    def position(index: int) -> Position:
        if index == len(old) and old[-1] == _strip_eol(old[-1]):
            return Position(selection.start_line + index - 1, len(old[-1]))  # end of the file
        return Position(selection.start_line + index, 0)

    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return tuple(
        TextEdit(position(i1), position(i2), "".join(new[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    )


def apply_edits(text: str, edits: tuple[TextEdit, ...] | list[TextEdit]) -> str:
    """Apply non-overlapping edits (positions in code points) to ``text``."""
    starts = [0]
    for line in split_lines(text):
        starts.append(starts[-1] + len(line))

    def offset(position: Position) -> int:
        return starts[min(position.line, len(starts) - 1)] + position.character

    out = text
    for edit in sorted(edits, key=lambda e: (e.start.line, e.start.character), reverse=True):
        out = out[: offset(edit.start)] + edit.new_text + out[offset(edit.end) :]
    return out


# How many lines the user may change while the model answers before an edit is no longer
# placed: the diff below costs (lines in the file) × (lines changed).
_MAX_REBASE_DISTANCE = 4000


def line_changes(old: list[str], new: list[str], max_distance: int) -> list[tuple[int, int, int]] | None:
    """The lines that differ, as ``(first, end, inserted)``: ``old[first:end]`` was replaced by
    ``inserted`` lines. Myers' O(ND) diff: fast when few lines changed, however many lines
    repeat (SequenceMatcher took a minute on 40,000 lines of braces and blank lines).
    None when more than ``max_distance`` lines were deleted or inserted."""
    n, m = len(old), len(new)
    offset = max_distance + 1
    frontier = [0] * (2 * offset + 1)  # furthest x reached on each diagonal k = x - y
    trace: list[list[int]] = []
    found = None
    for distance in range(max_distance + 1):
        trace.append(frontier[offset - distance - 1 : offset + distance + 2])
        for k in range(-distance, distance + 1, 2):
            if k == -distance or (k != distance and frontier[offset + k - 1] < frontier[offset + k + 1]):
                x = frontier[offset + k + 1]  # down: a line of new inserted
            else:
                x = frontier[offset + k - 1] + 1  # right: a line of old deleted
            y = x - k
            while x < n and y < m and old[x] == new[y]:
                x, y = x + 1, y + 1
            frontier[offset + k] = x
            if x >= n and y >= m:
                found = distance
                break
        if found is not None:
            break
    if found is None:
        return None
    # Walk back from the end, collecting single-line insertions and deletions.
    steps: list[tuple[int, int]] = []  # (old index, +1 inserted before it / -1 deleted)
    x, y = n, m
    for distance in range(found, 0, -1):
        saved = trace[distance]  # the frontier before this step, diagonals -distance-1 … distance+1

        def reach(k: int, saved: list[int] = saved, distance: int = distance) -> int:
            return saved[k + distance + 1]

        k = x - y
        down = k == -distance or (k != distance and reach(k - 1) < reach(k + 1))
        previous_k = k + 1 if down else k - 1
        previous_x = reach(previous_k)
        previous_y = previous_x - previous_k
        steps.append((previous_x, 1) if down else (previous_x, -1))
        x, y = previous_x, previous_y
    changes: list[tuple[int, int, int]] = []
    for index, kind in reversed(steps):
        first, end = (index, index) if kind == 1 else (index, index + 1)
        if changes and changes[-1][1] == first:  # join touching changes into one block
            last_first, _last_end, inserted = changes[-1]
            changes[-1] = (last_first, end, inserted + (kind == 1))
        else:
            changes.append((first, end, int(kind == 1)))
    return changes


def rebase_edits(
    old_text: str, new_text: str, selection: Selection, edits: tuple[TextEdit, ...]
) -> tuple[TextEdit, ...] | None:
    """Move edits made for ``old_text`` onto ``new_text`` (what the user typed meanwhile).

    Returns None when the user changed any of the selected lines: the edit no longer
    applies to what they see, and applying it would overwrite their typing.
    """
    if old_text == new_text:
        return edits
    old, new = split_lines(old_text), split_lines(new_text)
    start, end = selection.start_line, selection.end_line
    # Only the part between the common head and tail can differ: diff just that.
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    changes = line_changes(old[head : len(old) - tail], new[head : len(new) - tail], _MAX_REBASE_DISTANCE)
    if changes is None:
        return None  # rewritten wholesale meanwhile (a formatter, a paste): not safe to place
    shift = 0
    for i1, i2, inserted in changes:
        i1, i2 = i1 + head, i2 + head
        if i2 <= start:
            shift += inserted - (i2 - i1)  # wholly above the selection: moves it
        elif i1 >= end:
            continue  # wholly below: no effect
        else:
            return None
    return tuple(
        TextEdit(
            Position(edit.start.line + shift, edit.start.character),
            Position(edit.end.line + shift, edit.end.character),
            edit.new_text,
        )
        for edit in edits
    )
