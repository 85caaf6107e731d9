"""Suggestions as you type, from the model with the role "autocomplete":
``textDocument/inlineCompletion`` (LSP 3.18, ghost text) and, for editors without it
(Helix, Kate, eglot …), ``textDocument/completion`` — one engine behind both.

Most keystrokes need no model: a suggestion the user is typing through, or one for a
context seen before, comes from the cache at once. Otherwise, after a debounce that waits
for a pause in the user's typing (learnt from their gaps between keystrokes), one
fill-in-the-middle request; a new keystroke cancels it at once, and cancelling closes its
connection, which stops the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, overload

import attrs
from lsprotocol import types

from llamafile_ls.completion import Context, context_at, finish, split
from llamafile_ls.completion_cache import ChunkRing, SuggestionCache
from llamafile_ls.errors import LlamafileLsError
from llamafile_ls.lsp.apply import open_document
from llamafile_ls.session import Event

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from llamafile_ls.config import ModelConfig
    from llamafile_ls.session import Session

logger = logging.getLogger(__name__)
_WORD = re.compile(r"[\w$]*$")


@attrs.frozen
class Settings:
    prefix_lines: int = 256  # llama.vim's n_prefix, n_suffix, n_predict, time limits
    suffix_lines: int = 64
    max_tokens: int = 128
    max_prompt_ms: int = 500
    max_predict_ms: int = 1000
    max_line_suffix: int = 8  # more code than this after the cursor: no suggestion unless asked
    # Seconds before a request: 1.5 times the user's usual gap between keystrokes, so that
    # a request waits for a pause in their typing, within these bounds.
    min_debounce: float = 0.03
    max_debounce: float = 0.35
    usual_gap: float = 0.15  # until their typing says otherwise


NOT_CONFIGURED = (
    'inline completion is off: no model has the role "autocomplete". Add a code model with fill-in-the-middle '
    '(e.g. Qwen2.5-Coder) to the config with "roles": ["autocomplete"] to turn it on'
)


@attrs.frozen
class Suggestion:
    context: Context
    text: str  # to insert at the cursor, lines ending in "\n"


class InlineCompletion:
    def __init__(self, server: Session, settings: Settings | None = None) -> None:
        self.server = server
        self.settings = settings or Settings()
        self.cache = SuggestionCache()
        self.ring = ChunkRing()
        self._generation: asyncio.Task[str | None] | None = None
        self._last_keystroke = float("-inf")
        self._usual_gap = self.settings.usual_gap
        self._said: set[str] = set()  # messages told once per session
        self._cursors: dict[str, int] = {}  # uri -> line of its last request
        self._last_uri: str | None = None

    # --- the ring of recently used files -------------------------------------------------------

    def offer(self, uri: str) -> None:
        """A file the user opened or saved: some of it for the model's extra context."""
        document = open_document(self.server, uri)
        if document is not None:
            self.ring.offer(self._filename(uri), _lines(document), self._cursors.get(uri, 0))

    # --- suggestions ---------------------------------------------------------------------------

    async def suggest(self, uri: str, position: types.Position, *, invoked: bool) -> Suggestion | None:
        """The suggestion at ``position``; None when there is none, or a newer request came."""
        model = self.server.autocomplete_model()
        if model is None:
            self._say_once(NOT_CONFIGURED, types.MessageType.Info)
            return None
        document = open_document(self.server, uri)
        if document is None:
            return None
        self._cancel()  # whatever the previous keystroke asked is no longer wanted
        debounce = self._debounce(asyncio.get_running_loop().time())
        lines = _lines(document)
        at = document.position_codec.position_from_client_units(document.lines, position)
        settings = self.settings
        context = context_at(lines, at.line, at.character, settings.prefix_lines, settings.suffix_lines)
        context = attrs.evolve(context, filename=self._filename(uri))
        self._moved_to(uri, at.line, lines)
        if not invoked and len(context.line_suffix.strip()) > settings.max_line_suffix:
            return None
        hit = self.cache.get(context.before, context.suffix)
        if hit is not None:
            self.cache.put(context.before, context.suffix, hit.suggestion)
            return Suggestion(context, hit.suggestion) if hit.suggestion else None
        generation = asyncio.ensure_future(self._generate(model, context, debounce))
        self._generation = generation
        try:
            await asyncio.wait({generation})
        except asyncio.CancelledError:  # the editor cancelled this request: stop the model too
            generation.cancel()
            raise
        if generation.cancelled():
            return None  # a newer request took over
        text = generation.result()
        return Suggestion(context, text) if text else None

    def _debounce(self, now: float) -> float:
        """How long to wait before asking the model, learnt from the gaps between requests
        (a gap over a second is a pause, not typing)."""
        gap, self._last_keystroke = now - self._last_keystroke, now
        if gap < 1.0:
            self._usual_gap = 0.8 * self._usual_gap + 0.2 * gap
        settings = self.settings
        return min(settings.max_debounce, max(settings.min_debounce, 1.5 * self._usual_gap))

    def _cancel(self) -> None:
        if self._generation is not None and not self._generation.done():
            self._generation.cancel()
        self._generation = None

    async def _generate(self, model: ModelConfig, context: Context, debounce: float) -> str | None:
        await asyncio.sleep(debounce)  # a keystroke within it cancels this before any request
        from llamafile_ls.providers.base import ExtraFile, Infill

        settings = self.settings
        loop = asyncio.get_running_loop()
        window = frozenset(split(context.prefix + context.typed + context.suffix))
        extra = tuple(ExtraFile(chunk.filename, chunk.text) for chunk in self.ring.chunks(loop.time(), window))
        request = Infill(
            prefix=context.prefix,
            typed=context.typed,
            suffix=context.suffix,
            extra=extra,
            filename=context.filename,
            indent=context.indent,
            max_tokens=settings.max_tokens,
            single_line=context.mid_line,
            max_prompt_ms=settings.max_prompt_ms,
            max_predict_ms=settings.max_predict_ms,
        )
        parts: list[str] = []
        try:
            async with (
                self.server.providers.use(model) as provider,
                contextlib.aclosing(provider.infill(request)) as chunks,
            ):
                async for chunk in chunks:
                    parts.append(chunk.content)
                    if chunk.stop or (context.mid_line and "\n" in chunk.content):
                        break  # one line is all a mid-line suggestion shows
        except LlamafileLsError as error:
            self._say_once(f"inline completion with {model.title!r}: {error}", types.MessageType.Warning)
            return None
        except Exception as error:  # a bug of ours must not reach the editor at every keystroke
            logger.error("inline completion failed: %s", error, exc_info=error)
            return None
        suggestion = finish("".join(parts), context)
        self.cache.put(context.before, context.suffix, suggestion)
        return suggestion

    def _moved_to(self, uri: str, line: int, lines: Sequence[str]) -> None:
        """Feed the ring as llama.vim does: the previous file where the user left it, and
        this file's code beyond the window sent around the cursor."""
        if self._last_uri is not None and self._last_uri != uri:
            self.offer(self._last_uri)
        self._last_uri = uri
        self._cursors[uri] = line
        settings, half = self.settings, self.ring.chunk_lines // 2
        name = self._filename(uri)
        if line - settings.prefix_lines > 0:
            self.ring.offer(name, lines, line - settings.prefix_lines - half)
        if line + settings.suffix_lines + half < len(lines):
            self.ring.offer(name, lines, line + settings.suffix_lines + half)

    def _say_once(self, message: str, kind: types.MessageType) -> None:
        if message not in self._said:
            self._said.add(message)
            self.server.log(message, kind)

    def _filename(self, uri: str) -> str:
        """The file's path in the workspace (as the model sees file names in a repository)."""
        from pygls.uris import to_fs_path

        path = to_fs_path(uri)
        if path is None:
            return uri
        root = self.server.workspace.root_path
        if root:
            with contextlib.suppress(ValueError):
                return Path(path).relative_to(root).as_posix()
        return Path(path).name


class _Lines(Sequence[str]):
    """A document's lines without their endings, each stripped only when read: a keystroke
    reads a window of a few hundred lines, not the whole file."""

    def __init__(self, lines: Sequence[str]) -> None:
        self._lines = lines

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        from llamafile_ls.document import content_length

        if isinstance(index, slice):
            return [line[: content_length(line)] for line in self._lines[index]]
        line = self._lines[index]
        return line[: content_length(line)]


def _lines(document: TextDocument) -> Sequence[str]:
    return _Lines(document.lines)


def _eol(document: TextDocument, line: int) -> str:
    """The line ending the document uses: the cursor line's, else its first line's."""
    lines = document.lines
    sample = lines[line] if line < len(lines) and lines[line].endswith(("\r", "\n")) else lines[0] if lines else ""
    return "\r\n" if sample.endswith("\r\n") else "\r" if sample.endswith("\r") else "\n"


def register(server: Session) -> None:
    engine = InlineCompletion(server)
    server.subscribe(Event.OPENED, engine.offer)
    server.subscribe(Event.SAVED, engine.offer)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: Session, params: types.InlineCompletionParams) -> types.InlineCompletionList | None:
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        uri, position = params.text_document.uri, params.position
        suggestion = await engine.suggest(uri, position, invoked=invoked)
        document = open_document(ls, uri)
        if suggestion is None or document is None:
            return types.InlineCompletionList(items=[])
        text = suggestion.text.replace("\n", _eol(document, position.line))
        item = types.InlineCompletionItem(insert_text=text, range=types.Range(position, position))
        return types.InlineCompletionList(items=[item])

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions())
    async def completion(ls: Session, params: types.CompletionParams) -> types.CompletionList | None:
        document_capabilities = ls.client_capabilities.text_document
        if document_capabilities is not None and document_capabilities.inline_completion is not None:
            return None  # the editor shows ghost text from inlineCompletion: not twice
        context = params.context
        if context is not None and context.trigger_kind == types.CompletionTriggerKind.TriggerCharacter:
            return None  # "." and the like: the language's own server answers those
        uri, position = params.text_document.uri, params.position
        invoked = context is not None and context.trigger_kind == types.CompletionTriggerKind.Invoked
        suggestion = await engine.suggest(uri, position, invoked=invoked)
        document = open_document(ls, uri)
        if suggestion is None or document is None:
            return types.CompletionList(is_incomplete=True, items=[])
        return types.CompletionList(is_incomplete=True, items=[_item(document, position, suggestion)])


def _item(document: TextDocument, position: types.Position, suggestion: Suggestion) -> types.CompletionItem:
    """One item that inserts the suggestion: it replaces the word being typed with the word
    and the suggestion, so that a client's filtering by that word keeps it."""
    typed = suggestion.context.typed
    word = _WORD.search(typed)
    start = word.start() if word else len(typed)
    codec = document.position_codec
    begin = types.Position(position.line, codec.client_num_units(typed[:start]))
    new_text = (typed[start:] + suggestion.text).replace("\n", _eol(document, position.line))
    first_line = (typed[start:] + suggestion.text).split("\n", 1)[0].strip() or suggestion.text.strip()
    label = first_line if len(first_line) <= 60 else first_line[:59] + "…"
    return types.CompletionItem(
        label=label,
        kind=types.CompletionItemKind.Snippet,
        detail="llamafile",
        documentation=suggestion.text,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(types.Range(begin, position), new_text),
        filter_text=typed[start:] + suggestion.text,
        sort_text="0",
        preselect=True,
    )
