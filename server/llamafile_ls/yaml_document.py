"""Safe YAML for config.yaml: plain values, and where each one is written.

Only YAML's data survives: mappings with text keys, sequences, strings, numbers, true/false
and null (YAML 1.2's core schema, as Continue reads its config.yaml). Tags that would build
objects (``!!python/object``), other custom tags, several documents in one file, duplicate
keys and keys that are not scalars are refused with the line and column of the fault.

ruamel.yaml's pure-Python parser turns the text into events; this module builds the tree
from them itself, without recursion, so that it can stop early: at nesting deeper than
:data:`MAX_DEPTH`, and when aliases would expand to more than :data:`MAX_ALIAS_VALUES`
values (the "billion laughs" bomb: a few lines that expand to gigabytes). The parser is
imported on first use, so a server reading config.json never loads it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

MAX_DEPTH = 64  # a config needs a handful of levels
MAX_ALIAS_VALUES = 100_000  # what aliases may expand to; a config's anchors share a few dozen values

_CORE = "tag:yaml.org,2002:"
_NULL = re.compile(r"~|null|Null|NULL|")
_TRUE = re.compile(r"true|True|TRUE")
_FALSE = re.compile(r"false|False|FALSE")
_INT = re.compile(r"[-+]?[0-9]+")
_OCTAL = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NOT_FINITE = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_MERGE = "<<"


class YamlSyntaxError(ValueError):
    """The text is not YAML that a config can be; ``message`` is a complete sentence."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        self.message = message
        self.line = line
        self.column = column
        super().__init__(f"{line}:{column}: {message}")


class YamlEmpty(YamlSyntaxError):
    """Only comments and whitespace (or a lone null): no config at all."""


class Node:
    """A value as written: its kind, where it starts (1-based) and what it holds.

    An alias is the node of its anchor itself, so a tree with aliases is a graph whose size
    is that of the text; only the expansion into ``YamlDocument.value`` copies what aliases share.
    """

    __slots__ = ("column", "items", "keys", "kind", "line", "style", "text", "value")

    def __init__(
        self, kind: str, line: int, column: int, value: Any = None, style: str | None = None, text: str = ""
    ) -> None:
        self.kind = kind  # "map", "seq" or "scalar"
        self.line = line
        self.column = column
        self.value = value  # a scalar's value
        self.style = style  # a scalar's style: None (plain), "'", '"', "|" or ">"
        self.text = text  # a scalar as written
        self.items: dict[str, Node] | list[Node] = {} if kind == "map" else []
        self.keys: dict[str, tuple[int, int]] = {}  # a mapping's keys: where each is written


def _fail(message: str, mark: Any) -> YamlSyntaxError:
    if mark is None:
        return YamlSyntaxError(message, None, None)
    return YamlSyntaxError(message, mark.line + 1, mark.column + 1)


def _tag_name(tag: Any) -> str | None:
    """A tag as written in the file (ruamel gives a Tag object or a string), or None."""
    if tag is None:
        return None
    text = getattr(tag, "value", tag)
    return str(text) if text is not None else None


def _scalar(event: Any) -> Any:
    """The value of a scalar: YAML 1.2's core schema for plain ones, else the text."""
    text: str = event.value
    tag = _tag_name(event.tag)
    if tag is None and event.style is None:
        return _plain(text, event)
    if tag is None or tag == "!" or tag == _CORE + "str":
        return text
    kind = tag.removeprefix(_CORE)
    if tag.startswith(_CORE) and kind in ("int", "float", "bool", "null"):
        value = _plain(text, event)
        wanted = {"int": (int,), "float": (int, float), "bool": (bool,), "null": (type(None),)}[kind]
        if isinstance(value, bool) != (kind == "bool") or not isinstance(value, wanted):
            raise _fail(f"{text!r} is not a value of type !!{kind}", event.start_mark)
        return float(value) if kind == "float" and isinstance(value, (int, float)) else value
    raise _refused_tag(tag, event.start_mark)


def _refused_tag(tag: str, mark: Any) -> YamlSyntaxError:
    shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return _fail(
        f"the YAML tag {shown} is not allowed in a config (it could build objects or needs a program's own "
        "types); write plain values: text, numbers, true/false, lists and mappings",
        mark,
    )


def _plain(text: str, event: Any) -> Any:
    if _NULL.fullmatch(text):
        return None
    if _TRUE.fullmatch(text):
        return True
    if _FALSE.fullmatch(text):
        return False
    try:
        if _INT.fullmatch(text):
            return int(text)
        if _OCTAL.fullmatch(text):
            return int(text[2:], 8)
        if _HEX.fullmatch(text):
            return int(text[2:], 16)
    except ValueError:  # more digits than Python converts
        raise _fail(f"the number {text[:20]}... has too many digits", event.start_mark) from None
    if _FLOAT.fullmatch(text):
        value = float(text)
        if math.isinf(value):
            raise _fail("a number too large to represent (it would be infinite)", event.start_mark)
        return value
    if _NOT_FINITE.fullmatch(text):
        raise _fail(f"{text} is not a finite number; write a number, or quote it to make it text", event.start_mark)
    return text


def _key(node: Node, mark: Any) -> str:
    """A mapping key as text: a scalar key as written (``8080:`` is the key "8080", ``0x1F:`` "0x1F")."""
    if node.kind != "scalar":
        raise _fail("a key must be text, not a list or a mapping", mark)
    return node.value if isinstance(node.value, str) else node.text


class _KeyMark:
    """Where a key is written, and whether it is a plain ``<<`` (a merge, not a quoted "<<")."""

    __slots__ = ("column", "line", "merge")

    def __init__(self, mark: Any, merge: bool = False) -> None:
        self.line = mark.line
        self.column = mark.column
        self.merge = merge


class _Open:
    """A mapping or sequence being filled."""

    __slots__ = ("anchor", "key", "mark", "merged", "node")

    def __init__(self, node: Node, anchor: str | None, mark: Any) -> None:
        self.node = node
        self.anchor = anchor
        self.mark = mark
        self.key: tuple[str, _KeyMark] | None = None  # a mapping's key, until its value comes
        self.merged: set[str] = set()  # keys a merge put in, which a written key may override


class _Builder:
    """Builds the node tree from the parser's events, one event at a time."""

    def __init__(self) -> None:
        self.anchors: dict[str, Node] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Open] = []
        self.root: Node | None = None
        self.documents = 0
        self.merged = 0  # keys copied by merges: bounded like aliases (each merge may copy many)

    def expects_key(self) -> bool:
        return bool(self.stack) and self.stack[-1].node.kind == "map" and self.stack[-1].key is None

    def add(self, node: Node, mark: Any) -> None:
        if not self.stack:
            self.root = node
            return
        top = self.stack[-1]
        if isinstance(top.node.items, list):
            top.node.items.append(node)
        elif top.key is None:
            top.key = (_key(node, mark), mark if isinstance(mark, _KeyMark) else _KeyMark(mark))
        else:
            key, key_mark = top.key
            top.key = None
            if key == _MERGE and key_mark.merge:
                self._merge(top, node, mark)
            else:
                self._put(top, key, key_mark, node)

    def _put(self, top: _Open, key: str, key_mark: _KeyMark, node: Node) -> None:
        parent = top.node
        assert isinstance(parent.items, dict)
        if key in parent.keys and key not in top.merged:
            line, _column = parent.keys[key]
            raise _fail(f"the key {key!r} is written twice in this mapping (first on line {line})", key_mark)
        top.merged.discard(key)
        parent.items[key] = node
        parent.keys[key] = (key_mark.line + 1, key_mark.column + 1)

    def _merge(self, top: _Open, node: Node, mark: Any) -> None:
        """``<<: *defaults``: the keys of the mapping(s) that this mapping does not write."""
        parent = top.node
        assert isinstance(parent.items, dict)
        sources = node.items if node.kind == "seq" and isinstance(node.items, list) else [node]
        for source in sources:
            if not isinstance(source.items, dict) or source.kind != "map":
                raise _fail("a merge (<<:) takes a mapping or a list of mappings, e.g. <<: *defaults", mark)
            self.merged += len(source.items)
            if self.merged > MAX_ALIAS_VALUES:
                raise _fail(f"the merges (<<:) copy more than {MAX_ALIAS_VALUES} keys; a config needs far fewer", mark)
            for name, item in source.items.items():
                if name not in parent.items:
                    parent.items[name] = item
                    parent.keys[name] = source.keys[name]
                    top.merged.add(name)


def _events(text: str) -> Iterator[Any]:
    from ruamel.yaml import YAML  # here, not at the top: only a config.yaml needs it

    return iter(YAML(typ="safe", pure=True).parse(text))


def _build(text: str) -> Node | None:
    from ruamel.yaml import events as ev
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    builder = _Builder()
    stream = _events(text)
    while True:
        try:
            event = next(stream)
        except StopIteration:
            break
        except MarkedYAMLError as error:
            raise _syntax(error) from None
        except (YAMLError, ValueError, TypeError) as error:  # whatever else the parser may raise
            raise YamlSyntaxError(f"invalid YAML: {_one_line(str(error))}", None, None) from None
        except RecursionError:  # not expected: ruamel's parser keeps its own stack
            raise YamlSyntaxError("the YAML is nested too deeply", None, None) from None
        mark = event.start_mark
        if isinstance(event, ev.DocumentStartEvent):
            builder.documents += 1
            if builder.documents > 1:
                raise _fail("the file holds more than one YAML document (a second ---); a config is one", mark)
        elif isinstance(event, ev.AliasEvent):
            name = event.anchor
            if name in builder.open_anchors:
                raise _fail(f"the alias *{name} refers to a value that contains it", mark)
            node = builder.anchors.get(name)
            if node is None:
                raise _fail(f"the alias *{name} refers to no anchor &{name} written before it", mark)
            builder.add(node, mark)
        elif isinstance(event, ev.ScalarEvent):
            node = Node("scalar", mark.line + 1, mark.column + 1, _scalar(event), event.style, event.value)
            if event.anchor:
                builder.anchors[event.anchor] = node
            if builder.expects_key():
                mark = _KeyMark(mark, merge=event.style is None and event.tag is None and event.value == _MERGE)
            builder.add(node, mark)
        elif isinstance(event, (ev.MappingStartEvent, ev.SequenceStartEvent)):
            kind = "map" if isinstance(event, ev.MappingStartEvent) else "seq"
            tag = _tag_name(event.tag)
            if tag not in (None, "!", _CORE + kind):
                raise _refused_tag(tag or "", mark)
            if len(builder.stack) >= MAX_DEPTH:
                raise _fail(f"the YAML is nested more than {MAX_DEPTH} levels deep; a config needs only a few", mark)
            if event.anchor:
                builder.open_anchors.add(event.anchor)
            builder.stack.append(_Open(Node(kind, mark.line + 1, mark.column + 1), event.anchor, mark))
        elif isinstance(event, (ev.MappingEndEvent, ev.SequenceEndEvent)):
            done = builder.stack.pop()
            if done.anchor:
                builder.open_anchors.discard(done.anchor)
                builder.anchors[done.anchor] = done.node
            builder.add(done.node, done.mark)
    return builder.root


def _syntax(error: Any) -> YamlSyntaxError:
    mark = error.problem_mark or error.context_mark
    problem = _one_line(error.problem or error.context or "the text is not YAML")
    if "\t" in problem or "\\t" in problem or " tab" in problem.lower():
        problem += " (YAML indents with spaces, never tabs)"
    return _fail(f"invalid YAML: {problem}", mark)


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 200 else text[:197] + "..."


class YamlDocument:
    """A parsed config.yaml: its plain ``value`` and where each value is written.

    ``normalize`` maps a key to the name it stands for (``apiBase`` → ``api_base``), so
    that :meth:`locate` finds a key by either spelling, as :class:`jsonc.Document` does.
    """

    def __init__(self, text: str, normalize: Callable[[str], str] | None = None) -> None:
        self.text = text
        self._normalize = normalize or (lambda key: key)
        self.root = _build(text.removeprefix("\ufeff"))
        if self.root is None or (self.root.kind == "scalar" and self.root.value is None):
            raise YamlEmpty("there is no YAML value, only whitespace and comments", 1, 1)
        self.value = _expand(self.root)

    def node(self, path: Sequence[str | int]) -> Node:
        """The deepest node along ``path`` that exists."""
        assert self.root is not None
        node = self.root
        for part in path:
            found = self._child(node, part)
            if found is None:
                break
            node = found
        return node

    def spelled(self, path: Sequence[str | int]) -> list[str | int]:
        """``path`` with each key that exists spelled as the file writes it."""
        assert self.root is not None
        node: Node | None = self.root
        spelled: list[str | int] = []
        for part in path:
            found = self._child(node, part) if node is not None else None
            if isinstance(part, str) and found is not None and node is not None and isinstance(node.items, dict):
                part = next((key for key, item in node.items.items() if item is found), part)
            spelled.append(part)
            node = found
        return spelled

    def locate(self, path: Sequence[str | int]) -> tuple[int, int] | None:
        """1-based line and column of the value at ``path``, or of the deepest part of it
        that exists."""
        node = self.node(path)
        return node.line, node.column

    def _child(self, node: Node, part: str | int) -> Node | None:
        if isinstance(node.items, dict) and isinstance(part, str):
            found = node.items.get(part)
            if found is not None:
                return found
            wanted = self._normalize(part)
            for key, item in node.items.items():  # a config's mappings have a few keys
                if self._normalize(key) == wanted:
                    found = item
            return found
        if isinstance(node.items, list) and isinstance(part, int):
            return node.items[part] if 0 <= part < len(node.items) else None
        return None


def _expand(root: Node) -> Any:
    """The plain value of the tree, without recursion. A node reached again (through an
    alias) is expanded again, as a copy, and every such value counts against
    :data:`MAX_ALIAS_VALUES`; so does nesting that aliases deepen past :data:`MAX_DEPTH`."""
    seen: set[int] = set()
    copies = 0
    result: list[Any] = []
    # (node, the container to put its value in, the key or None to append, depth)
    work: list[tuple[Node, Any, str | None, int]] = [(root, result, None, 0)]
    while work:
        node, into, key, depth = work.pop()
        if id(node) in seen:
            copies += 1 if node.kind == "scalar" else 1 + len(node.items)
            if copies > MAX_ALIAS_VALUES:
                raise YamlSyntaxError(
                    f"the aliases (*name) expand to more than {MAX_ALIAS_VALUES} values; a config needs far "
                    "fewer (is this an alias bomb?)",
                    node.line,
                    node.column,
                )
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise YamlSyntaxError(
                f"through its aliases, the YAML is nested more than {MAX_DEPTH} levels deep", node.line, node.column
            )
        value: Any
        if node.kind == "scalar":
            value = node.value
        elif isinstance(node.items, dict):
            value = {}
            # Pushed in reverse so that they are filled in order.
            work.extend((item, value, name, depth + 1) for name, item in reversed(node.items.items()))
        else:
            value = []
            work.extend((item, value, None, depth + 1) for item in reversed(node.items))
        if key is None:
            into.append(value)
        else:
            into[key] = value
    return result[0]


def parse(text: str, normalize: Callable[[str], str] | None = None) -> YamlDocument:
    """Parse safe YAML; raise :class:`YamlSyntaxError` with the line and column of the fault."""
    return YamlDocument(text, normalize)
