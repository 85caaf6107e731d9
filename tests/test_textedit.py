from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamafile_ls import textedit
from llamafile_ls.errors import EditRejected


def test_split_lines_uses_the_lsp_line_endings_only() -> None:
    assert textedit.split_lines("a\nb\r\nc\rd") == ["a\n", "b\r\n", "c\r", "d"]
    assert textedit.split_lines("a\x0cb\u2028c\n") == ["a\x0cb\u2028c\n"]  # not line breaks in LSP
    assert textedit.split_lines("") == []


def test_select_lines_splits_prefix_code_suffix_and_finds_eol() -> None:
    selection = textedit.select_lines("a\r\nb\r\nc\r\nd", 1, 3)
    assert ("".join(selection.prefix_lines), selection.code, "".join(selection.suffix_lines), selection.eol) == (
        "a\r\n",
        "b\r\nc\r\n",
        "d",
        "\r\n",
    )
    with pytest.raises(EditRejected, match="outside the file"):
        textedit.select_lines("a\n", 3, 4)


@pytest.mark.parametrize(
    ("answer", "opener", "code"),
    [
        ("x = 1\n", None, "x = 1"),
        ("```python\nx = 1\n```\n", None, "x = 1"),
        ("Sure, here is the updated code:\n\n```python\nx = 1\n```\nThis sets x.", None, "x = 1"),
        ("Here's the code:\n```\nx = 1\n```", None, "x = 1"),
        ("x = 1\n```\nExplanation: it sets x.", "```", "x = 1"),
        ("Sure, here is the code:\n```python\nx = 1\n```\nDone.", "```", "x = 1"),
        ("x = 1\n```python\ny = 2\n```", "```", "x = 1"),
        ("```python\nx = 1\n```\nmore", "```", "x = 1"),  # model re-opened the block
        ("[CODE]\nx = 1\n[/CODE]\nDone.", None, "x = 1"),
        ("\nx = 1\n[/CODE]", "[CODE]", "x = 1"),
        ("x = 1<|im_end|>", "```", "x = 1"),
        ("x = 1\n</s>", None, "x = 1"),
        ("Sure, here you go:\nx = 1", None, "x = 1"),
        ("here = 1\nthere = 2", None, "here = 1\nthere = 2"),  # code, not chatter
        ("x = 1\r\ny = 2\r\n", None, "x = 1\ny = 2"),
    ],
)
def test_extract_code_strips_what_chat_models_wrap_code_in(answer: str, opener: str | None, code: str) -> None:
    assert textedit.extract_code(answer, opener) == code


def test_answer_opener_sees_a_prefilled_fence_or_code_tag() -> None:
    assert textedit.answer_opener("...assistant\n```python\n") == "```"
    assert textedit.answer_opener("... [/INST] [CODE]\n") == "[CODE]"
    assert textedit.answer_opener("```python\nx\n```\nRewrite it.") is None


def test_reindent_restores_the_selection_indentation_but_never_dedents() -> None:
    assert textedit.reindent("if x:\n    y()", "    ") == "    if x:\n        y()"
    assert textedit.reindent("if x:\n\n    y()", "\t") == "\tif x:\n\n\t    y()"
    assert textedit.reindent("        deep()", "    ") == "        deep()"


def test_line_edits_touch_only_changed_lines_and_keep_crlf() -> None:
    text = "def f():\r\n    a = 1\r\n    b = 2\r\n    return a\r\nprint(f())\r\n"
    selection = textedit.select_lines(text, 0, 4)
    edits = textedit.line_edits(selection, "def f():\n    a = 10\n    b = 2\n    return a")
    assert len(edits) == 1
    (edit,) = edits
    assert (edit.start, edit.end, edit.new_text) == (
        textedit.Position(1, 0),
        textedit.Position(2, 0),
        "    a = 10\r\n",
    )
    assert textedit.apply_edits(text, edits) == text.replace("a = 1\r", "a = 10\r")


def test_line_edits_at_the_end_of_a_file_without_final_newline() -> None:
    text = "x = 1\ny = 2"
    selection = textedit.select_lines(text, 1, 2)
    edits = textedit.line_edits(selection, "y = 3\nz = 4")
    assert textedit.apply_edits(text, edits) == "x = 1\ny = 3\nz = 4"
    assert edits[0].end == textedit.Position(1, 5)


lines = st.lists(st.text(alphabet="ab \t=é😀", max_size=6), max_size=8)


@given(
    before=lines,
    selected=lines.filter(bool),
    after=lines,
    new=lines.filter(bool),
    eol=st.sampled_from(["\n", "\r\n"]),
)
def test_edits_rewrite_exactly_the_selection_and_leave_the_rest_byte_identical(
    before: list[str], selected: list[str], after: list[str], new: list[str], eol: str
) -> None:
    text = "".join(line + eol for line in before + selected + after)
    selection = textedit.select_lines(text, len(before), len(before) + len(selected))
    code = "\n".join(new)
    result = textedit.apply_edits(text, textedit.line_edits(selection, code))
    expected = "".join(line + eol for line in before + new + after)
    assert result == expected


_LINES = st.lists(st.sampled_from(["}\n", "\n", "a\n", "b\n", "x = 1\n", "    pass\n"]), max_size=30)


@given(old=_LINES, new=_LINES)
def test_line_changes_describe_a_diff_that_turns_old_into_new(old: list[str], new: list[str]) -> None:
    """Between the changes, old and new agree line for line; the counts add up; and the
    distance is no more than a trivial diff's."""
    changes = textedit.line_changes(old, new, 100)
    assert changes is not None
    x = y = 0
    for first, end, inserted in changes:
        assert first >= x
        assert old[x:first] == new[y : y + first - x]
        y += first - x + inserted
        x = end
    assert old[x:] == new[y:]
    distance = sum(end - first + inserted for first, end, inserted in changes)
    assert distance <= len(old) + len(new)


def test_line_changes_give_up_beyond_the_distance() -> None:
    assert textedit.line_changes(["a\n"] * 10, ["b\n"] * 10, 5) is None
    assert textedit.line_changes(["a\n"] * 10, ["a\n"] * 10, 0) == []


@given(
    above=st.lists(st.sampled_from(["}\n", "\n", "x\n"]), max_size=12),
    below=st.lists(st.sampled_from(["}\n", "\n", "x\n"]), max_size=12),
    typed_above=st.lists(st.tuples(st.integers(0, 20), st.sampled_from(["}\n", "\n", "typed\n", ""])), max_size=4),
    typed_below=st.lists(st.tuples(st.integers(0, 20), st.sampled_from(["}\n", "\n", "typed\n", ""])), max_size=4),
)
def test_an_edit_rebased_past_typing_above_and_below_lands_on_its_lines(
    above: list[str], below: list[str], typed_above: list[tuple[int, str]], typed_below: list[tuple[int, str]]
) -> None:
    """Lines inserted or deleted above and below the selection (repeated lines included):
    the edit still replaces exactly the selected lines, and the user's lines stay."""
    selected = ["def f():\n", "    return 1\n"]
    old_text = "".join([*above, *selected, *below])
    selection = textedit.select_lines(old_text, len(above), len(above) + len(selected))
    edits = textedit.line_edits(selection, "def f():\n    return 2")

    def typed(lines: list[str], changes: list[tuple[int, str]]) -> list[str]:
        lines = list(lines)
        for where, text in changes:
            index = where % (len(lines) + 1)
            if text:
                lines.insert(index, text)
            elif index < len(lines):
                del lines[index]
        return lines

    new_above, new_below = typed(above, typed_above), typed(below, typed_below)
    new_text = "".join([*new_above, *selected, *new_below])
    moved = textedit.rebase_edits(old_text, new_text, selection, edits)
    assert moved is not None
    result = textedit.apply_edits(new_text, moved)
    # The diff may pair a repeated line with another copy of itself; what counts is the text.
    assert result == "".join([*new_above, "def f():\n", "    return 2\n", *new_below])
