"""Inline completion's pure engine: the context around the cursor, and what is done to a
model's answer before it is shown. No I/O, no clock.

The context is llama.vim's: whole lines above the cursor (``prefix``), the typed part of
the cursor's line (``typed``, sent as ``prompt`` so the prefix's tokens stay cached in
llama.cpp while the user types on one line), and the rest of the line with whole lines
below (``suffix``).

:func:`finish` turns a raw answer into a suggestion. Each rule only cuts or re-indents, and
the order is such that applying :func:`finish` to its own result changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

TAB_WIDTH = 4
# Past this many characters an answer is a runaway (a hostile server, a looping model):
# what a suggestion can hold is far less.
MAX_ANSWER = 8192
# A line ending that opens a block: what follows is indented deeper.
_OPENERS = (":", "{", "(", "[", "=>", " do", " then", "->")
_CLOSER_LINE = re.compile(r"^\s*(?:[)\]}]+[;,)]*|end)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# A line of prose an instruct model puts before code ("Sure! Here is the code:").
_CHATTER = re.compile(
    r"^\s*(sure|certainly|of course|okay|ok|here|below|this (is|code)|the (completed|missing|code))"
    r"\b[^=(){}]*[:.!]\s*$",
    re.IGNORECASE,
)
# Special tokens a server may let through as text: the answer ends where one starts. Not
# "</s>" or "[SUFFIX]": HTML and code have them (a server stops at the real ones itself).
_SPECIAL = re.compile(
    r"<\|(?:endoftext|file_sep|fim_pad|fim_prefix|fim_suffix|fim_middle|repo_name|im_end|im_start|eot_id|end)\|>"
    r"|<(?:fim_prefix|fim_suffix|fim_middle|file_sep|EOT)>"
    r"|<｜(?:end▁of▁sentence|fim▁begin|fim▁hole|fim▁end)｜>"
)
# Characters an editor closes by itself when their opener is typed.
_AUTO_CLOSED = ")]}\"'`"
_PAIRS = {")": "(", "]": "[", "}": "{"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@attrs.frozen
class Context:
    """What surrounds the cursor, in lines ending in ``\\n`` whatever the document uses."""

    prefix: str  # whole lines above the cursor's line, in a bounded window
    typed: str  # the cursor's line up to the cursor
    line_suffix: str  # the cursor's line after the cursor
    suffix: str  # line_suffix, "\n", whole lines below in a bounded window
    filename: str = ""
    previous_line: str = ""  # the nearest non-blank line above, for indentation
    uses_tabs: bool = False
    indent_unit: int = TAB_WIDTH

    @property
    def mid_line(self) -> bool:
        """Code after the cursor: a suggestion is one line, to fit before it."""
        return bool(self.line_suffix.strip())

    @property
    def before(self) -> str:
        return self.prefix + self.typed

    @property
    def indent(self) -> int:
        """The cursor line's indentation in columns: llama.cpp's ``n_indent``."""
        return width(_lead(self.typed))

    @property
    def next_line(self) -> str:
        """The first non-blank line below the cursor's, stripped; "" if none."""
        for line in self.suffix.split("\n")[1:]:
            if line.strip():
                return line.strip()
        return ""


def context_at(lines: Sequence[str], line: int, character: int, prefix_lines: int, suffix_lines: int) -> Context:
    """The context at ``character`` (code points) of ``line``; ``lines`` without endings."""
    line = min(max(line, 0), len(lines))
    current = lines[line] if line < len(lines) else ""
    character = min(max(character, 0), len(current))
    above = lines[max(0, line - prefix_lines) : line]
    below = lines[line + 1 : line + 1 + suffix_lines]
    previous = next((text for text in reversed(above) if text.strip()), "")
    leads = [_lead(text) for text in above[-64:] if text.strip() and _lead(text)]
    tabs = sum(lead.startswith("\t") for lead in leads) * 2 > len(leads) if leads else "\t" in _lead(current)
    widths = [width(lead) for lead in leads if not lead.startswith("\t")]
    unit = min(widths) if widths else TAB_WIDTH
    return Context(
        prefix="".join(f"{text}\n" for text in above),
        typed=current[:character],
        line_suffix=current[character:],
        suffix=current[character:] + "\n" + "".join(f"{text}\n" for text in below),
        previous_line=previous,
        uses_tabs=bool(tabs),
        indent_unit=max(1, min(unit, 8)),
    )


def split(text: str) -> list[str]:
    """Lines as LSP counts them (``\\n``, ``\\r\\n``, ``\\r``), without their endings."""
    return _LINE_BREAK.split(text)


def width(lead: str) -> int:
    return sum(TAB_WIDTH if char == "\t" else 1 for char in lead)


def _lead(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _indent_string(columns: int, tabs: bool) -> str:
    columns = max(columns, 0)
    return "\t" * (columns // TAB_WIDTH) + " " * (columns % TAB_WIDTH) if tabs else " " * columns


# --- post-processing ---------------------------------------------------------------------------


def finish(raw: str, context: Context) -> str:
    """The suggestion to show for the model's ``raw`` answer at ``context``; "" for none.

    A rule's cut can give another rule something to cut ("Sure: x" loses the " x" that
    follows the cursor, and is then chatter): the rules run again until nothing changes.
    After the first pass each pass only shortens the text; the bound is a safety net.
    """
    text = _finish_once(raw[:MAX_ANSWER], context)
    for _ in range(8):
        again = _finish_once(text, context)
        if again == text:
            break
        text = again
    return text


def _finish_once(raw: str, context: Context) -> str:
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    special = _SPECIAL.search(text)
    if special:
        text = text[: special.start()]
    lines = text.split("\n")
    if "```" not in context.before and "~~~" not in context.before:  # fences are code in Markdown
        lines = _without_fences(lines)
    if not lines:
        return ""
    lines = _reindented(lines, context)
    if context.mid_line:
        lines = lines[:1]
    else:
        lines = _within_block(lines, context)
        lines = _before_repeat(lines, context)
        lines = _without_loops(lines, context)
    text = "\n".join(line.rstrip() for line in lines).rstrip()
    if context.mid_line:
        rest = context.line_suffix.strip()
        closed = rest[0] in _AUTO_CLOSED  # by the editor: bracket balance decides, not text
        text = _balanced(text, rest[0]).rstrip() if closed else _without_rest_of_line(text, rest)
    return text if text.strip() else ""


def _without_fences(lines: list[str]) -> list[str]:
    """Prose before a fence goes with the fence; a closing fence ends the answer."""
    while True:
        start = 0
        while start < len(lines) and (not lines[start].strip() or _CHATTER.match(lines[start])):
            start += 1
        if start < len(lines) and _FENCE.match(lines[start]):
            lines = lines[start + 1 :]  # an opening fence, maybe more prose inside it
            continue
        if any(_CHATTER.match(line) for line in lines[:start]):
            lines = lines[start:]
        break
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            return lines[:index]
    return lines


def _reindented(lines: list[str], context: Context) -> list[str]:
    """Leading whitespace in the document's style (tabs or spaces), and a first line no
    deeper than the line above asks for (a model that indents again what is already typed)."""
    if not any(_lead(line) for line in lines):
        return lines
    excess = 0
    typed_blank = not context.typed.strip()
    if typed_blank and _lead(lines[0]):
        previous = context.previous_line.rstrip()
        expected = width(_lead(previous)) + (context.indent_unit if previous.endswith(_OPENERS) else 0)
        have = width(context.typed + _lead(lines[0]))
        if have > expected >= width(context.typed):
            excess = have - expected
    result = []
    for index, line in enumerate(lines):
        lead = _lead(line)
        if not lead:
            result.append(line)
            continue
        columns = width(lead)
        if excess and (index == 0 or columns >= excess):
            columns -= excess
        result.append(_indent_string(columns, context.uses_tabs) + line[len(lead) :])
    return result


def _within_block(lines: list[str], context: Context) -> list[str]:
    """A multi-line answer ends with the block it is in: at a line indented less than the
    block (or, after a line that opens a block, not deeper than it, a closing bracket
    included); at top level, at the first blank line after code."""
    first = context.typed + lines[0]
    start = 1
    if not first.strip():  # the answer's code starts on a later line
        start = next((i for i in range(1, len(lines)) if lines[i].strip()), len(lines))
        if start == len(lines):
            return lines
        first = lines[start]
        start += 1
    reference = width(_lead(first))
    opens = first.rstrip().endswith(_OPENERS)
    for index in range(start, len(lines)):
        line = lines[index]
        if not line.strip():
            if reference == 0 and not opens:
                return lines[:index]
            continue
        indent = width(_lead(line))
        if opens:
            if indent < reference or (indent == reference and not _CLOSER_LINE.match(line)):
                return lines[:index]
            if indent == reference:  # the block's closing bracket ends it
                return lines[: index + 1]
        elif indent < reference:
            return lines[:index]
    return lines


def _before_repeat(lines: list[str], context: Context) -> list[str]:
    """Where the answer reaches the code below the cursor, it ends."""
    following = context.next_line
    if not following:
        return lines
    first = 0 if not context.typed.strip() else 1
    for index in range(first, len(lines)):
        if lines[index].strip() == following:
            return lines[:index]
    return lines


def _without_loops(lines: list[str], context: Context) -> list[str]:
    """A small model repeats a line over and over: one of a run of three is kept."""
    whole = [context.typed + lines[0], *lines[1:]] if lines else []
    for index in range(2, len(whole)):
        line = whole[index]
        if line.strip() and line == whole[index - 1] == whole[index - 2]:
            return lines[: index - 1]
    return lines


def _balanced(text: str, closer: str) -> str:
    """When the editor closed a bracket or quote after the cursor, an answer that closes it
    too ends before its own closer (else the line would have two)."""
    stack: list[str] = []
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'`":
            if char == closer:
                return text[:index]
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in _PAIRS:
            if stack and stack[-1] == _PAIRS[char]:
                stack.pop()
            else:
                return text[:index]  # it closes what was opened before the cursor
    return text


def _without_rest_of_line(text: str, rest: str) -> str:
    """An answer that ends with what already follows the cursor loses that ending."""
    text = text.rstrip()
    while rest and text.endswith(rest):
        text = text[: -len(rest)].rstrip()
    return text
