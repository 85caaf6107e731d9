"""Open documents kept exactly as LSP defines them: lines, positions, incremental changes.

pygls' ``TextDocument`` splits lines with ``str.splitlines``, which also breaks at ``\\f``,
``\\v``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028 and U+2029. LSP breaks lines only at ``\\n``,
``\\r\\n`` and ``\\r``: with a form feed above a change, pygls applied the change one line
off and our edit then overwrote what the user had just typed. Here lines are
:func:`llamafile_ls.textedit.split_lines`, and every position is read the way the spec says:

- ``character`` counts units of the negotiated encoding (UTF-16 unless the client offered
  UTF-8 or UTF-32); a character beyond the line's length (its line ending excluded) means
  the line's length, so no position falls between the ``\\r`` and ``\\n`` of a ``\\r\\n``;
- a line beyond the last means the end of the document;
- a position inside a character (half a UTF-16 surrogate pair, the middle of a UTF-8
  sequence) means the start of that character: text is never cut inside a character.

:class:`DocumentsProtocol` makes a server use these documents.
"""

from __future__ import annotations

import bisect
import codecs
import itertools
import logging
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import to_fs_path
from pygls.workspace import PositionCodec, TextDocument, Workspace
from pygls.workspace.position_codec import ServerTextPosition

logger = logging.getLogger(__name__)


def content_length(line: str) -> int:
    """The length of ``line`` (from :func:`split_lines`) without its line ending."""
    if line.endswith("\r\n"):
        return len(line) - 2
    if line.endswith(("\r", "\n")):
        return len(line) - 1
    return len(line)


class LspPositionCodec(PositionCodec):
    """pygls' codec with positions read as the spec says (see the module's doc).

    ``lines`` are the document's lines with their endings, as :func:`split_lines` gives.
    Server positions count code points; a server position at ``len(lines)`` is the start
    of the empty line after a final line ending.
    """

    def __init__(self, encoding: types.PositionEncodingKind | str | None = types.PositionEncodingKind.Utf16) -> None:
        super().__init__(encoding)
        if encoding == types.PositionEncodingKind.Utf8:
            self._codec, self._unit_bytes = "utf-8", 1
        elif encoding == types.PositionEncodingKind.Utf32:
            self._codec, self._unit_bytes = "", 0  # a unit is a code point: nothing to convert
        else:  # UTF-16: the default, also for an encoding pygls does not know
            self._codec, self._unit_bytes = "utf-16-le", 2

    def client_num_units(self, string: str) -> int:
        if not self._codec or string.isascii():
            return len(string)
        return len(string.encode(self._codec, "surrogatepass")) // self._unit_bytes

    def index_of_units(self, line: str, units: int) -> int:
        """The code points in the longest start of ``line`` that takes at most ``units`` units."""
        if units <= 0:
            return 0
        head = line[:units]  # every code point takes at least one unit
        if not self._codec or head.isascii():
            return len(head)
        data = head.encode(self._codec, "surrogatepass")[: units * self._unit_bytes]
        # Not final: a cut character stays in the decoder, so it is not counted.
        decoder = codecs.getincrementaldecoder(self._codec)("surrogatepass")
        return len(decoder.decode(data, final=False))

    def position_from_client_units(self, lines: Sequence[str], position: types.Position) -> ServerTextPosition:
        if position.line >= len(lines):
            return _end_of(lines)
        line = max(position.line, 0)
        text = lines[line]
        return ServerTextPosition(line, self.index_of_units(text[: content_length(text)], position.character))

    def position_to_client_units(
        self, lines: Sequence[str], position: ServerTextPosition | types.Position
    ) -> types.Position:
        if position.line >= len(lines):
            end = _end_of(lines)
            if end.line >= len(lines):
                return types.Position(end.line, 0)
            position = end
        line = max(position.line, 0)
        text = lines[line]
        character = min(max(position.character, 0), content_length(text))
        return types.Position(line, self.client_num_units(text[:character]))


def _offset(lines: Sequence[str], position: ServerTextPosition, top: int = 0, top_offset: int = 0) -> int:
    """The offset of ``position`` in the text of ``lines``; ``top`` is a line at or above it
    that starts at ``top_offset``."""
    line = max(position.line, top)
    if line >= len(lines):
        return top_offset + sum(map(len, lines[top:]))  # the end
    start = top_offset + sum(map(len, lines[top:line]))
    return start + min(max(position.character, 0), content_length(lines[line]))


def _end_of(lines: Sequence[str]) -> ServerTextPosition:
    """The position of the end of a document."""
    if not lines:
        return ServerTextPosition(0, 0)
    if lines[-1].endswith(("\r", "\n")):
        return ServerTextPosition(len(lines), 0)
    return ServerTextPosition(len(lines) - 1, len(lines[-1]))


class LspDocument(TextDocument):
    """A text document whose lines and positions are LSP's (see the module's doc).

    A document that is not open is read from disk when it is a ``file:`` URI, and is empty
    otherwise (``untitled:`` and other schemes have no file: ``path`` is only a name).
    """

    def __init__(
        self,
        uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
        local: bool = True,
        sync_kind: types.TextDocumentSyncKind = types.TextDocumentSyncKind.Incremental,
        position_codec: PositionCodec | None = None,
    ) -> None:
        if not isinstance(position_codec, LspPositionCodec):
            encoding = position_codec.encoding if position_codec else types.PositionEncodingKind.Utf16
            position_codec = LspPositionCodec(encoding)
        super().__init__(uri, source, version, language_id, local, sync_kind, position_codec)
        self._file = to_fs_path(uri)  # None for a URI that names no file
        self._index: tuple[str, tuple[str, ...]] | None = None  # a source and its lines

    @property
    def position_codec(self) -> LspPositionCodec:
        assert isinstance(self._position_codec, LspPositionCodec)
        return self._position_codec

    @property
    def source(self) -> str:
        if self._source is not None:
            return self._source
        if self._file is None:
            return ""
        try:
            return Path(self._file).read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            logger.warning("cannot read %s, which is not open: %s", self._file, error)
            return ""

    @property
    def lines(self) -> tuple[str, ...]:
        """The lines with their endings, as :func:`~llamafile_ls.textedit.split_lines` gives them: without the empty
        line LSP counts after a final line ending."""
        source = self.source
        if self._index is None or self._index[0] is not source:
            from llamafile_ls.textedit import split_lines  # here: not needed to start the server

            self._index = (source, tuple(split_lines(source)))
        return self._index[1]

    def offset_at_server_position(self, server_position: ServerTextPosition) -> int:
        return _offset(self.lines, server_position)

    def offset_at_position(self, client_position: types.Position) -> int:
        return self.offset_at_server_position(self.position_from_client_units(client_position))

    def server_position_at_offset(self, offset: int) -> ServerTextPosition:
        lines = self.lines
        starts = list(itertools.accumulate(map(len, lines), initial=0))
        line = bisect.bisect_right(starts, min(max(offset, 0), starts[-1])) - 1
        if line == len(lines):
            return _end_of(lines)
        return ServerTextPosition(line, min(offset - starts[line], content_length(lines[line])))

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        from llamafile_ls.textedit import split_lines

        source, lines = self.source, self.lines
        first, last = sorted(
            [self.position_from_client_units(change.range.start), self.position_from_client_units(change.range.end)]
        )  # a reversed range means the text between its ends, as in vscode
        # Split again only the lines the change touches and the line before them (its \r and a
        # \n the change starts with are one line break): every other line stays as it was.
        top = max(min(first.line, len(lines)) - 1, 0)
        bottom = min(last.line + 1, len(lines))
        region_start = sum(map(len, lines[:top]))
        start, end = _offset(lines, first, top, region_start), _offset(lines, last, top, region_start)
        self._source = source[:start] + change.text + source[end:]
        region_end = region_start + sum(map(len, lines[top:bottom])) + len(change.text) - (end - start)
        middle = split_lines(self._source[region_start:region_end])
        self._index = (self._source, lines[:top] + tuple(middle) + lines[bottom:])


class LspWorkspace(Workspace):
    """pygls' workspace with :class:`LspDocument` documents; it forgives a client that
    changes or closes a document it never opened."""

    def __init__(
        self,
        root_uri: str | None,
        sync_kind: types.TextDocumentSyncKind = types.TextDocumentSyncKind.Incremental,
        workspace_folders: Sequence[types.WorkspaceFolder] | None = None,
        position_encoding: types.PositionEncodingKind | str | None = types.PositionEncodingKind.Utf16,
    ) -> None:
        super().__init__(root_uri, sync_kind, workspace_folders, position_encoding)
        self._position_codec = LspPositionCodec(position_encoding)

    @classmethod
    def like(cls, workspace: Workspace) -> LspWorkspace:
        """A new, empty workspace with the root, folders and settings of ``workspace``."""
        return cls(
            workspace.root_uri,
            workspace._sync_kind,
            list(workspace.folders.values()),
            workspace.position_encoding,
        )

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> LspDocument:
        return LspDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )

    def update_text_document(
        self,
        text_doc: types.VersionedTextDocumentIdentifier,
        change: types.TextDocumentContentChangeEvent,
    ) -> None:
        document = self._text_documents.get(unquote(text_doc.uri))
        if document is None:
            logger.warning("ignored a change to %s, which is not open", text_doc.uri)
            return
        document.apply_change(change)
        document.version = text_doc.version

    def remove_text_document(self, doc_uri: str) -> None:
        if unquote(doc_uri) not in self._text_documents:
            logger.warning("ignored the closing of %s, which is not open", doc_uri)
        super().remove_text_document(doc_uri)


class DocumentsProtocol(LanguageServerProtocol):
    """A protocol whose workspace is an :class:`LspWorkspace`.

    pygls makes its ``Workspace`` in its initialize handler, just before it calls the
    server's own initialize handler; this runs pygls' handler a step at a time and puts an
    ``LspWorkspace`` in its place before any handler can see it.
    """

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        steps = super().lsp_initialize(params)
        answer = None
        while True:
            try:
                step = steps.send(answer)
            except StopIteration as done:
                self._use_lsp_workspace()
                return done.value  # type: ignore[no-any-return]
            self._use_lsp_workspace()
            answer = yield step

    def _use_lsp_workspace(self) -> None:
        if self._workspace is not None and not isinstance(self._workspace, LspWorkspace):
            self._workspace = LspWorkspace.like(self._workspace)
