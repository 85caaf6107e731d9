"""Documents kept as LSP defines them (llamafile_ls.document): lines break at \\n, \\r\\n and
\\r only, positions count units of the negotiated encoding, incremental changes land where
the editor meant. Unit tests of each odd case, a property test against an independent
reference, and the server end to end with an editor that types while the model answers."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.lsp.server import LanguageServer
from support.fakeserver import FakeModelServer, Reply, Request, completion
from support.lsp_editor import capabilities, edit_args, execute, start, stop, wait_for

from llamafile_ls.document import DocumentsProtocol, LspDocument, LspPositionCodec, LspWorkspace
from llamafile_ls.textedit import split_lines

UTF8, UTF16, UTF32 = types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16, types.PositionEncodingKind.Utf32
# What str.splitlines breaks lines at and LSP does not.
NOT_BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
CLEF = "𝄞"  # U+1D11E: two UTF-16 units, four UTF-8 bytes


def document(text: str | None, encoding: str = UTF16, uri: str = "file:///nowhere/a.py") -> LspDocument:
    return LspDocument(uri, text, version=1, position_codec=LspPositionCodec(encoding))


def changed(doc: LspDocument, start: tuple[int, int], end: tuple[int, int], text: str) -> str:
    rng = types.Range(types.Position(*start), types.Position(*end))
    doc.apply_change(types.TextDocumentContentChangePartial(range=rng, text=text))
    return doc.source


# Lines.


@pytest.mark.parametrize("char", NOT_BREAKS)
def test_only_lsp_line_endings_break_lines(char: str) -> None:
    doc = document(f"a{char}b\nc\n")
    assert doc.lines == (f"a{char}b\n", "c\n")
    assert changed(doc, (1, 0), (1, 1), "X") == f"a{char}b\nX\n"
    assert changed(doc, (0, 2), (0, 3), "Y") == f"a{char}Y\nX\n"  # the break-like char is one character
    assert doc.offset_at_position(types.Position(1, 0)) == 4
    assert doc.server_position_at_offset(4).line == 1


def test_every_break_like_char_at_once_above_a_change() -> None:
    text = "".join(f"line{i}{char}tail\n" for i, char in enumerate(NOT_BREAKS)) + "last\n"
    doc = document(text)
    assert len(doc.lines) == len(NOT_BREAKS) + 1
    assert changed(doc, (8, 0), (8, 4), "LAST") == text.replace("last", "LAST")


def test_crlf_lone_cr_and_mixed_endings() -> None:
    doc = document("a\r\nb\rc\nd")
    assert doc.lines == ("a\r\n", "b\r", "c\n", "d")
    assert [doc.offset_at_position(types.Position(line, 0)) for line in range(5)] == [0, 3, 5, 7, 8]
    assert changed(doc, (1, 0), (1, 1), "B") == "a\r\nB\rc\nd"
    assert changed(doc, (2, 0), (3, 1), "CD") == "a\r\nB\rCD"
    assert changed(doc, (0, 1), (1, 0), "") == "aB\rCD"  # joins lines across a \r\n


def test_a_position_past_the_line_end_stops_before_a_crlf_never_inside_it() -> None:
    assert changed(document("ab\r\ncd"), (0, 3), (0, 3), "X") == "abX\r\ncd"  # "between" \r and \n
    assert changed(document("ab\r\ncd"), (0, 1), (0, 3), "") == "a\r\ncd"  # a range ending there
    assert changed(document("ab\r\ncd"), (0, 9), (1, 1), "") == "abd"
    doc = document("ab\r\ncd")
    assert doc.offset_at_position(types.Position(0, 3)) == 2
    assert doc.server_position_at_offset(3) == doc.server_position_at_offset(2)  # mid-pair offset: before it


def test_changes_that_make_or_split_a_crlf() -> None:
    doc = document("a\rb\nc")
    assert changed(doc, (1, 0), (1, 1), "") == "a\r\nc"  # the \r and \n now are one line break
    assert doc.lines == ("a\r\n", "c")
    assert changed(doc, (1, 0), (1, 0), ">") == "a\r\n>c"
    doc = document("a\r")
    assert changed(doc, (1, 0), (1, 0), "\nb") == "a\r\nb"
    assert changed(doc, (1, 1), (1, 1), "!") == "a\r\nb!"
    doc = document("a\r\nb")
    assert changed(doc, (0, 1), (1, 0), "\rX\n") == "a\rX\nb"  # a change splits the pair
    assert doc.lines == ("a\r", "X\n", "b")
    assert changed(doc, (1, 0), (1, 1), "") == "a\r\nb"


def test_a_bom_is_a_character_at_the_start() -> None:
    assert changed(document("\ufeffab\ncd"), (0, 1), (0, 2), "X") == "\ufeffXb\ncd"
    assert changed(document("\ufeffab\ncd", UTF8), (0, 3), (0, 4), "X") == "\ufeffXb\ncd"  # three bytes
    assert changed(document("\ufeffab\ncd", UTF32), (0, 1), (0, 2), "X") == "\ufeffXb\ncd"


def test_no_final_newline_and_changes_at_the_very_end() -> None:
    doc = document("a\nbc")
    assert doc.lines == ("a\n", "bc")
    assert changed(doc, (1, 2), (1, 2), "!") == "a\nbc!"
    assert changed(doc, (1, 99), (1, 99), "?") == "a\nbc!?"  # past the line's end: its end
    assert changed(doc, (7, 3), (9, 0), "\n") == "a\nbc!?\n"  # past the last line: the end
    assert changed(doc, (2, 0), (2, 0), "d") == "a\nbc!?\nd"  # the line after a final newline
    assert doc.lines == ("a\n", "bc!?\n", "d")
    assert doc.offset_at_position(types.Position(2, 1)) == len(doc.source)
    assert doc.server_position_at_offset(len(doc.source)) == doc.position_from_client_units(types.Position(2, 5))


def test_the_end_of_a_document_that_ends_in_a_newline_is_the_next_line() -> None:
    doc = document("a\n")
    assert doc.offset_at_position(types.Position(1, 0)) == 2
    assert doc.client_position_at_offset(2) == types.Position(1, 0)
    assert doc.client_position_at_offset(99) == types.Position(1, 0)
    assert document("ab").client_position_at_offset(99) == types.Position(0, 2)


def test_empty_documents() -> None:
    doc = document("")
    assert doc.lines == ()
    assert doc.offset_at_position(types.Position(0, 0)) == 0
    assert doc.offset_at_position(types.Position(3, 4)) == 0
    assert doc.client_position_at_offset(0) == types.Position(0, 0)
    assert doc.word_at_position(types.Position(0, 0)) == ""
    assert changed(doc, (0, 0), (0, 0), "hi") == "hi"
    assert changed(doc, (0, 0), (0, 2), "") == ""
    assert changed(doc, (5, 5), (5, 5), "x\n") == "x\n"
    assert document(None).source == ""  # opened without text


def test_a_reversed_range_is_the_text_between_its_ends() -> None:
    assert changed(document("abc\ndef"), (1, 1), (0, 1), "-") == "a-ef"


# Encodings and characters that take more than one unit.


@pytest.mark.parametrize(("encoding", "column"), [(UTF16, 2), (UTF8, 4), (UTF32, 1)])
def test_an_astral_char_before_the_change_on_the_same_line(encoding: str, column: int) -> None:
    doc = document(f"x\n{CLEF}y = 1\n", encoding)
    assert changed(doc, (1, column), (1, column + 1), "z") == f"x\n{CLEF}z = 1\n"
    assert doc.client_position_at_offset(3) == types.Position(1, column)  # before z


@pytest.mark.parametrize(("encoding", "column"), [(UTF16, 4), (UTF8, 8), (UTF32, 2)])
def test_emoji_before_the_change(encoding: str, column: int) -> None:
    doc = document("😀😀ab\n", encoding)
    assert changed(doc, (0, column), (0, column + 1), "A") == "😀😀Ab\n"
    assert doc.range_to_client_units(
        doc.range_from_client_units(types.Range(types.Position(0, column), types.Position(0, column)))
    ) == types.Range(types.Position(0, column), types.Position(0, column))


@pytest.mark.parametrize(("encoding", "units"), [(UTF16, 5), (UTF8, 7), (UTF32, 4)])
def test_the_spec_example_x_equals_emoji(encoding: str, units: int) -> None:
    doc = document('x="😋"', encoding)  # the closing quote, in each encoding (from the spec)
    assert doc.offset_at_position(types.Position(0, units)) == 4
    assert doc.client_position_at_offset(4) == types.Position(0, units)


def test_a_position_inside_a_character_means_its_start() -> None:
    assert changed(document(f"{CLEF}x"), (0, 1), (0, 1), "Z") == f"Z{CLEF}x"  # half a surrogate pair
    assert changed(document(f"{CLEF}x"), (0, 1), (0, 3), "") == ""
    assert changed(document(f"{CLEF}x"), (0, 0), (0, 1), "") == f"{CLEF}x"
    assert changed(document("é€x", UTF8), (0, 1), (0, 4), "") == "€x"  # inside é, inside €
    for encoding in (UTF8, UTF16):
        doc = document(f"a{CLEF}b😀c", encoding)
        for units in range(12):
            text = changed(document(doc.source, encoding), (0, units), (0, units + 1), "_")
            text.encode("utf-8")  # never half a character
            assert len(text) in (len(doc.source), len(doc.source) + 1)


def test_lone_surrogates_from_a_client_do_not_break_positions() -> None:
    doc = document("a\ud800b\nc")  # JSON can carry an unpaired surrogate
    assert changed(doc, (1, 0), (1, 1), "C") == "a\ud800b\nC"
    assert doc.client_position_at_offset(3) == types.Position(0, 3)


def test_word_at_position_reads_the_right_line() -> None:
    doc = document("foo\x0cbar baz\nqux")
    assert doc.word_at_position(types.Position(0, 6)) == "bar"
    assert doc.word_at_position(types.Position(1, 1)) == "qux"
    assert doc.word_at_position(types.Position(0, 99)) == "baz"
    assert doc.word_at_position(types.Position(5, 0)) == ""


def test_text_in_a_client_range() -> None:
    doc = document(f"a\u2028b\n{CLEF}cd\r\ne")
    assert doc.text_in_client_range(types.Range(types.Position(0, 1), types.Position(1, 3))) == f"\u2028b\n{CLEF}c"
    assert doc.text_in_client_range(types.Range(types.Position(1, 3), types.Position(1, 9))) == "d"


def test_full_changes_replace_the_text() -> None:
    doc = document("a\x0cb\n")
    doc.apply_change(types.TextDocumentContentChangeWholeDocument(text="x\ny"))
    assert doc.lines == ("x\n", "y")
    assert changed(doc, (1, 0), (1, 1), "Y") == "x\nY"


# Documents that are not open, untitled documents, the workspace.


def test_untitled_documents_never_read_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Untitled-1").write_text("on disk")
    (tmp_path / "a.py").write_text("on disk")
    assert document(None, uri="untitled:Untitled-1").source == ""
    assert document(None, uri=f"untitled:{tmp_path / 'a.py'}").source == ""
    assert document("typed", uri="untitled:Untitled-1").source == "typed"
    assert document(None, uri=(tmp_path / "a.py").as_uri()).source == "on disk"
    assert document(None, uri=(tmp_path / "missing.py").as_uri()).source == ""


def test_the_workspace_forgives_changes_and_closes_of_documents_never_opened(caplog: pytest.LogCaptureFixture) -> None:
    workspace = LspWorkspace(None, position_encoding=UTF8)
    uri = "file:///nowhere/ghost.py"
    change = types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(0, 0), types.Position(0, 0)), text="x"
    )
    with caplog.at_level(logging.WARNING, logger="llamafile_ls.document"):
        workspace.update_text_document(types.VersionedTextDocumentIdentifier(uri=uri, version=2), change)
        workspace.remove_text_document(uri)
    assert [record.getMessage() for record in caplog.records] == [
        f"ignored a change to {uri}, which is not open",
        f"ignored the closing of {uri}, which is not open",
    ]
    assert uri not in workspace.text_documents


def test_the_workspace_makes_lsp_documents_and_a_second_open_replaces_the_first() -> None:
    workspace = LspWorkspace(None, position_encoding=UTF8)
    uri = "file:///nowhere/a.py"
    workspace.put_text_document(types.TextDocumentItem(uri=uri, language_id="python", version=1, text="old"))
    workspace.put_text_document(types.TextDocumentItem(uri=uri, language_id="python", version=5, text="é\x0cb\nc"))
    doc = workspace.get_text_document(uri)
    assert isinstance(doc, LspDocument) and (doc.source, doc.version) == ("é\x0cb\nc", 5)
    workspace.update_text_document(
        types.VersionedTextDocumentIdentifier(uri=uri, version=6),
        types.TextDocumentContentChangePartial(range=types.Range(types.Position(0, 3), types.Position(0, 4)), text="B"),
    )
    assert (doc.source, doc.version) == ("é\x0cB\nc", 6)  # é is two UTF-8 bytes
    assert isinstance(workspace.get_text_document("untitled:Untitled-9"), LspDocument)


@pytest.mark.parametrize(
    ("offered", "chosen"), [(None, UTF16), ([UTF8], UTF8), ([UTF32, UTF16], UTF32), (["utf-7"], UTF16)]
)
def test_initialize_installs_the_lsp_workspace_with_the_negotiated_encoding(
    offered: list[str] | None, chosen: str
) -> None:
    server = LanguageServer("t", "1", protocol_cls=DocumentsProtocol)
    seen: list[Any] = []

    @server.feature(types.INITIALIZE)
    def on_initialize(ls: LanguageServer, params: types.InitializeParams) -> None:
        seen.append(ls.workspace)  # the handler already sees the LSP workspace

    general = types.GeneralClientCapabilities(position_encodings=offered) if offered else None
    params = types.InitializeParams(
        capabilities=types.ClientCapabilities(general=general),
        root_uri="file:///nowhere",
        workspace_folders=[types.WorkspaceFolder(uri="file:///nowhere", name="nowhere")],
    )
    steps = server.protocol.lsp_initialize(params)
    handler, args, _kwargs = next(steps)
    handler(*args)
    with pytest.raises(StopIteration) as done:
        steps.send(None)
    result = done.value.value
    assert isinstance(result, types.InitializeResult) and result.capabilities.position_encoding == chosen
    workspace = server.workspace
    assert isinstance(workspace, LspWorkspace) and seen == [workspace]
    assert workspace.position_encoding == chosen and workspace.root_uri == "file:///nowhere"
    assert list(workspace.folders) == ["file:///nowhere"]
    assert workspace.position_codec.encoding == chosen


# A property: any document, any sequence of changes, the same text as a reference.


def _units(text: str, encoding: str) -> list[int]:
    if encoding == UTF8:
        return list(text.encode("utf-8"))
    if encoding == UTF16:
        data = text.encode("utf-16-le")
        return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]
    return [ord(char) for char in text]


def _text(units: list[int], encoding: str) -> str:
    if encoding == UTF8:
        return bytes(units).decode("utf-8")
    if encoding == UTF16:
        return b"".join(unit.to_bytes(2, "little") for unit in units).decode("utf-16-le")
    return "".join(map(chr, units))


class Reference:
    """A document as a list of code units of its encoding, read as the spec says: lines end
    at \\n, \\r\\n and \\r; a character past a line's end means its end; a line past the last
    means the end; a position inside a character means its start."""

    def __init__(self, text: str, encoding: str) -> None:
        self.units, self.encoding = _units(text, encoding), encoding

    def lines(self) -> list[tuple[int, int]]:
        """(start, end without the line ending) of each line."""
        lines, start, i, units = [], 0, 0, self.units
        while i < len(units):
            if units[i] in (10, 13):
                size = 2 if units[i] == 13 and i + 1 < len(units) and units[i + 1] == 10 else 1
                lines.append((start, i))
                start = i = i + size
            else:
                i += 1
        lines.append((start, len(units)))
        return lines

    def offset(self, line: int, character: int) -> int:
        lines = self.lines()
        if line >= len(lines):
            return len(self.units)
        start, end = lines[line]
        offset = min(start + character, end)
        while offset < len(self.units) and self._inside_a_character(offset):
            offset -= 1
        return offset

    def _inside_a_character(self, offset: int) -> bool:
        unit = self.units[offset]
        if self.encoding == UTF8:
            return 0x80 <= unit < 0xC0
        return self.encoding == UTF16 and 0xDC00 <= unit < 0xE000

    def change(self, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        first, last = self.offset(*start), self.offset(*end)
        self.units[first:last] = _units(text, self.encoding)

    def text(self) -> str:
        return _text(self.units, self.encoding)


ALPHABET = ["a", "b", " ", "\n", "\r", "\r\n", *NOT_BREAKS, "é", CLEF]
texts = st.lists(st.sampled_from(ALPHABET), max_size=30).map("".join)
insertions = st.lists(st.sampled_from(ALPHABET), max_size=4).map("".join)


@given(text=st.lists(st.sampled_from([*ALPHABET, "\r\n" * 3, "\n\n", "\r\r"]), max_size=40).map("".join))
def test_split_lines_splits_at_lsp_line_endings_only(text: str) -> None:
    assert split_lines(text) == re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+", text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, encoding=st.sampled_from([UTF16, UTF16, UTF8, UTF32]), data=st.data())
def test_incremental_changes_match_the_reference(text: str, encoding: str, data: st.DataObject) -> None:
    doc, reference = document(text, encoding), Reference(text, encoding)
    for _ in range(data.draw(st.integers(1, 6))):
        lines = reference.lines()
        longest = max(end - start for start, end in lines)
        position = st.tuples(st.integers(0, len(lines) + 1), st.integers(0, longest + 2))
        start, end = sorted([data.draw(position), data.draw(position)])
        new_text = data.draw(insertions)
        reference.change(start, end, new_text)
        assert changed(doc, start, end, new_text) == reference.text()
        assert doc.lines == tuple(split_lines(doc.source))  # the lines kept up to date, not split again
        assert len(doc.lines) == len(reference.lines()) - (not doc.source or doc.source.endswith(("\r", "\n")))


# End to end: the real server process, an editor that types while the model answers.

TEMPLATE = "<code>{{{code_to_edit}}}</code>"


def shouting(delay: float) -> Any:
    """A model that answers with the code upper-cased, after ``delay`` seconds."""

    def handler(request: Request) -> Reply:
        code = re.search(r"<code>(.*)</code>", request.body["prompt"], re.S).group(1)  # type: ignore[union-attr]
        reply = completion(code.upper())
        reply.delay = delay
        return reply

    return handler


@pytest.fixture
def model(fake_server: FakeModelServer) -> FakeModelServer:
    fake_server.route("/completion", shouting(delay=0.5))
    return fake_server


@pytest.fixture
def config(tmp_path: Path, model: FakeModelServer) -> Path:
    entry = {"title": "fake", "provider": "llamafile", "model": "m", "apiBase": model.url}
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"models": [{**entry, "promptTemplates": {"edit": TEMPLATE}}]}))
    return path


def prompts(model: FakeModelServer) -> list[str]:
    return [r.body["prompt"] for r in model.requests if r.path == "/completion"]


ODD = [
    "import os\n",  # 0
    "page\x0cbreak = 1\n",  # 1: a form feed
    "s = 'a\u2028b'  # 😀\n",  # 2: a line separator and an emoji
    "keep = 3\n",  # 3
    "drop = 4\n",  # 4
    "line_5 = 5\n",  # 5: selected
    "line_6 = 6\n",  # 6: selected
    "tail\x0b= 7\n",  # 7: a vertical tab
]


async def test_typing_above_the_selection_past_a_form_feed_and_u2028_keeps_both(
    tmp_path: Path, config: Path, model: FakeModelServer
) -> None:
    client, editor = await start(config)
    try:
        uri = editor.open(tmp_path / "a.py", "".join(ODD))
        call = asyncio.ensure_future(execute(client, "llamafile.edit", edit_args(uri, 5, 6)))
        await wait_for(lambda: bool(prompts(model)))
        assert prompts(model) == ["<code>line_5 = 5\nline_6 = 6</code>"]
        editor.type(uri, (1, 5), (1, 10), "BREAK")  # just after the form feed
        end_of_line_2 = len(ODD[2].rstrip("\n").encode("utf-16-le")) // 2  # the emoji is two units
        editor.type(uri, (2, end_of_line_2), (2, end_of_line_2), " typed")
        # Two lines fewer above the selection: splitting at the form feed and U+2028, pygls
        # deleted one line, moved the edit one line down and overwrote "tail".
        editor.type(uri, (3, 0), (5, 0), "")
        editor.type(uri, (0, 0), (0, 0), "# top\n")
        assert await call == {"applied": True}
        assert editor.text(uri) == "".join(
            [
                "# top\n",
                "import os\n",
                "page\x0cBREAK = 1\n",
                "s = 'a\u2028b'  # 😀 typed\n",
                "LINE_5 = 5\n",
                "LINE_6 = 6\n",
                "tail\x0b= 7\n",
            ]
        )
        (params,) = editor.apply_requests
        (change,) = params.edit.document_changes  # type: ignore[misc]
        assert [(e.range.start.line, e.range.end.line) for e in change.edits] == [(4, 6)]  # type: ignore[union-attr]
    finally:
        await stop(client)


async def test_typing_inside_the_selection_below_odd_line_breaks_applies_nothing(
    tmp_path: Path, config: Path, model: FakeModelServer
) -> None:
    client, editor = await start(config)
    try:
        text = "".join(ODD)
        uri = editor.open(tmp_path / "a.py", text)
        call = asyncio.ensure_future(execute(client, "llamafile.edit", edit_args(uri, 5, 6)))
        await wait_for(lambda: bool(prompts(model)))
        editor.type(uri, (6, 0), (6, 6), "mine")  # pygls applied this to line 4, above the selection
        result = await call
        assert result["applied"] is False and "the selected lines changed" in result["reason"]
        assert editor.text(uri) == text.replace("line_6 = 6", "mine = 6")
        assert editor.apply_requests == []
    finally:
        await stop(client)


async def test_changes_and_closes_of_documents_never_opened_are_ignored(
    tmp_path: Path, config: Path, model: FakeModelServer, capfd: pytest.CaptureFixture[str]
) -> None:
    model.route("/completion", shouting(delay=0))
    client, editor = await start(config)
    try:
        ghost = (tmp_path / "ghost.py").as_uri()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=ghost, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(3, 0), types.Position(3, 1)), text="x"
                    )
                ],
            )
        )
        client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=ghost)))
        uri = editor.open(tmp_path / "a.py", "".join(ODD))
        editor.type(uri, (7, 0), (7, 4), "end")
        assert await execute(client, "llamafile.edit", edit_args(uri, 5, 5)) == {"applied": True}
        assert editor.text(uri) == "".join(ODD).replace("line_5", "LINE_5").replace("tail\x0b", "end\x0b")
        assert not [m for m in client.messages if m.type == types.MessageType.Error]
        assert not any("Traceback" in m.message or "Error in server" in m.message for m in client.log_messages)
        stderr = ""

        def warned() -> bool:
            nonlocal stderr
            stderr += capfd.readouterr().err
            return "ignored the closing of" in stderr

        await wait_for(warned)  # the server's stderr comes through the client
        assert f"ignored a change to {ghost}, which is not open" in stderr
        assert f"ignored the closing of {ghost}, which is not open" in stderr
        assert "Traceback" not in stderr
    finally:
        await stop(client)


async def test_an_untitled_document_is_edited_from_its_buffer(tmp_path: Path, config: Path) -> None:
    client, editor = await start(config)
    try:
        uri, text = "untitled:Untitled-1", "a = 1\x0c\nb = 2\n"
        editor.docs[uri] = (1, text)
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
        )
        editor.type(uri, (0, 0), (0, 0), "# hi\n")
        assert await execute(client, "llamafile.edit", edit_args(uri, 2, 2)) == {"applied": True}
        assert editor.text(uri) == "# hi\na = 1\x0c\nB = 2\n"
    finally:
        await stop(client)


async def test_utf8_positions_when_the_client_asks_for_them(
    tmp_path: Path, config: Path, model: FakeModelServer
) -> None:
    model.route("/completion", shouting(delay=0))
    caps = capabilities()
    caps.general = types.GeneralClientCapabilities(position_encodings=[UTF8])
    client, editor = await start(config, caps=caps)
    try:
        uri = editor.open(tmp_path / "a.py", "é\x0c = 1\nx = 2\n")
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(0, 2), types.Position(0, 2)),
                        text="z",  # after é: 2 bytes
                    )
                ],
            )
        )
        editor.docs[uri] = (2, "éz\x0c = 1\nx = 2\n")
        assert await execute(client, "llamafile.edit", edit_args(uri, 0, 0)) == {"applied": True}
        assert prompts(model) == ["<code>éz\x0c = 1</code>"]
        assert editor.text(uri) == "ÉZ\x0c = 1\nx = 2\n"
    finally:
        await stop(client)
