"""Inline completion's pure engine: the context at the cursor, post-processing against
golden cases (a document with the cursor at ``█``, a model's raw answer, the suggestion
shown), properties that hold for any answer, the suggestion cache and the chunk ring."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamafile_ls.completion import Context, context_at, finish, split
from llamafile_ls.completion_cache import ChunkRing, SuggestionCache

CURSOR = "█"


def at_cursor(document: str, prefix_lines: int = 256, suffix_lines: int = 64) -> Context:
    before, after = document.split(CURSOR)
    lines = split(before + after)
    line = before.count("\n")
    return context_at(lines, line, len(split(before)[-1]), prefix_lines, suffix_lines)


GOLDEN = [
    # name, document, raw answer, suggestion
    ("plain single line at the end of a line", "x = █\n", "compute(1)", "compute(1)"),
    ("mid-line: only the first line", "value = max(█)\n", "a, b)\nprint(value)", "a, b"),
    ("an auto-closed bracket is not closed twice", "print(█)\n", "'hello')", "'hello'"),
    ("a bracket the answer opens and closes stays", "print(█)\n", "len(xs)", "len(xs)"),
    ("an auto-closed quote is not closed twice", 'name = "█"\n', 'world"', "world"),
    ("the rest of the line is not repeated", "total = █ + 1\n", "a + b + 1", "a + b"),
    ("the rest of the line repeated twice goes twice", "y = █ or 1\n", "x or 1 or 1", "x"),
    ("a closer of the answer's own at the end stays", "f(█)\n", "g(1), h(2)", "g(1), h(2)"),
    (
        "fences and the prose before them are dropped",
        "def add(a, b):\n    █\n",
        "Here is the code:\n```python\nreturn a + b\n```\nThis adds them.",
        "return a + b",
    ),
    (
        "a fence that closes ends the answer",
        "def add(a, b):\n    █\n",
        "return a + b\n```\nExplanation: adds.",
        "return a + b",
    ),
    ("fences in Markdown are kept", "# Title\n```\n█\n", "code\n```", "code\n```"),
    (
        "an end token ends the answer",
        "def f():\n    █\n",
        "return 1<|endoftext|>garbage",
        "return 1",
    ),
    (
        "a multi-line answer stops at the end of its block",
        "def f(xs):\n    total = 0\n    █\n",
        "for x in xs:\n        total += x\n    return total\n\ndef g():\n    pass",
        "for x in xs:\n        total += x",
    ),
    (
        "a body after a colon ends where the block does",
        "def f(xs):█\n",
        "\n    return sum(xs)\n\n\ndef g():\n    pass",
        "\n    return sum(xs)",
    ),
    (
        "a brace block ends with its closing brace",
        "int main() {█\n",
        "\n    return 0;\n}\n\nint other() {",
        "\n    return 0;\n}",
    ),
    (
        "the answer stops where it reaches the code below the cursor",
        "def f(a, b):\n    █\n    return c\n",
        "c = a + b\n    return c\n",
        "c = a + b",
    ),
    (
        "a repeated line is cut",
        "def f():\n    █\n",
        "x = 1\n    x = 1\n    x = 1\n    x = 1",
        "x = 1",
    ),
    ("at top level a blank line ends the answer", "█\n", "import os\nimport sys\n\nprint(1)", "import os\nimport sys"),
    (
        "a first line indented again is brought back to the block's indentation",
        "def f():\n    █\n",
        "    return 1",
        "return 1",
    ),
    (
        "indentation follows the document's tabs",
        "def f():\n\tif x:█\n",
        "\n        return 1",
        "\n\t\treturn 1",
    ),
    ("CRLF answers become lines", "def f():\r\n    █\r\n", "a = 1\r\n    b = 2", "a = 1\n    b = 2"),
    ("HTML's </s> is code, not an end token", "<p>█\n", "<s>old</s> new</p>", "<s>old</s> new</p>"),
    ("what is left once the rest of the line goes is chatter", "█0\n", "SURE:0", ""),
    ("chatter alone is no suggestion", "x = █\n", "Sure! Here it is:", ""),
    ("whitespace alone is no suggestion", "x = █\n", "   \n  ", ""),
]


@pytest.mark.parametrize(("document", "raw", "expected"), [case[1:] for case in GOLDEN], ids=[c[0] for c in GOLDEN])
def test_golden_post_processing(document: str, raw: str, expected: str) -> None:
    assert finish(raw, at_cursor(document)) == expected


def test_the_context_is_llama_vims_window() -> None:
    document = "".join(f"line {i}\n" for i in range(10))
    lines = split(document)
    context = context_at(lines, 5, 3, prefix_lines=2, suffix_lines=2)
    assert context.prefix == "line 3\nline 4\n"
    assert context.typed == "lin"
    assert context.line_suffix == "e 5"
    assert context.suffix == "e 5\nline 6\nline 7\n"
    assert context.mid_line
    assert context_at(lines, 99, 99, 2, 2).typed == ""  # past the end: the end, no error


def test_the_indent_is_the_cursor_lines() -> None:
    assert at_cursor("def f():\n    x = █\n").indent == 4
    assert at_cursor("def f():\n\t█\n").indent == 4


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
documents = st.builds(
    lambda a, b: a + CURSOR + b, texts.map(lambda t: t.replace(CURSOR, "")), texts.map(lambda t: t.replace(CURSOR, ""))
)
code_like = st.lists(
    st.sampled_from([*"ab()[]{}\"'`:\n\r\t =x1#\u2028", "```", "<|endoftext|>", "    ", "Sure:"]), max_size=40
).map("".join)


@settings(max_examples=400, deadline=None)
@given(documents, st.one_of(texts, code_like))
def test_post_processing_never_raises_and_is_idempotent(document: str, raw: str) -> None:
    context = at_cursor(document)
    once = finish(raw, context)
    assert finish(once, context) == once


code_documents = st.builds(lambda a, b: a + CURSOR + b, code_like, code_like)


@settings(max_examples=400, deadline=None)
@given(st.one_of(documents, code_documents), st.one_of(texts, code_like))
def test_a_suggestion_never_ends_with_what_follows_the_cursor(document: str, raw: str) -> None:
    context = at_cursor(document)
    result = finish(raw, context)
    rest = context.line_suffix.strip()
    if context.mid_line:
        assert "\n" not in result
        if rest[0] not in ")]}\"'`":
            assert not result.endswith(rest)
        elif not any(quote in result for quote in "\"'`"):  # it closes nothing opened before the cursor
            depth = 0
            for char in result:
                depth += (char in "([{") - (char in ")]}")
                assert depth >= 0
    assert result == result.rstrip()


def test_the_cache_serves_the_same_context_and_type_ahead() -> None:
    cache = SuggestionCache()
    cache.put("def f():\n    ", "\n", "return compute(1)")
    assert cache.get("def f():\n    ", "\n").suggestion == "return compute(1)"  # type: ignore[union-attr]
    hit = cache.get("def f():\n    return com", "\n")
    assert hit is not None and hit.suggestion == "pute(1)" and hit.walked_back == len("return com")
    assert cache.get("def f():\n    return x", "\n") is None  # typed something else
    assert cache.get("def f():\n    return compute(1)", "\n") is None  # typed all of it
    assert cache.get("def f():\n    ", "other\n") is None  # the code after the cursor differs


def test_the_cache_remembers_that_there_was_nothing_and_forgets_the_oldest() -> None:
    cache = SuggestionCache(size=2)
    cache.put("a", "", "")
    hit = cache.get("a", "")
    assert hit is not None and hit.suggestion == ""
    cache.put("b", "", "1")
    cache.put("c", "", "2")
    assert cache.get("a", "") is None
    assert len(cache) == 2


def test_the_ring_changes_only_after_a_pause_oldest_first_without_near_copies() -> None:
    ring = ChunkRing(size=2, chunk_lines=4, pause=1.0)
    one = [f"one {i}" for i in range(10)]
    two = [f"two {i}" for i in range(10)]
    three = [f"three {i}" for i in range(10)]
    ring.offer("one.py", one, 2)
    assert [c.filename for c in ring.chunks(10.0)] == ["one.py"]
    ring.offer("two.py", two, 2)
    assert [c.filename for c in ring.chunks(10.2)] == ["one.py"]  # typing: the ring stays, the cache holds
    assert [c.filename for c in ring.chunks(11.5)] == ["one.py", "two.py"]
    ring.offer("one.py", one, 2)  # a near-copy of what the ring has
    ring.offer("three.py", three, 2)
    assert [c.filename for c in ring.chunks(13.0)] == ["two.py", "three.py"]  # the oldest went
    ring.offer("blank.py", ["", "x", ""], 0)
    assert [c.filename for c in ring.chunks(15.0)] == ["two.py", "three.py"]  # too little to say anything


def test_chunks_of_the_code_around_the_cursor_are_not_sent_twice() -> None:
    ring = ChunkRing(size=4, chunk_lines=8, pause=0.0)
    here = [f"here {i}" for i in range(8)]
    there = [f"there {i}" for i in range(8)]
    ring.offer("here.py", here, 0)
    ring.chunks(1.0)
    ring.offer("there.py", there, 0)
    window = frozenset(here[:6])
    assert [c.filename for c in ring.chunks(2.0, window)] == ["there.py"]
    assert [c.filename for c in ring.chunks(3.0)] == ["here.py", "there.py"]  # still in the ring, in order
