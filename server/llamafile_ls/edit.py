"""The edit action: a selection and an instruction in, minimal text edits out.

Builds the template variables, fits the prompt to the context, streams the model's answer
and turns it into edits. The model is reached only through the ``CompletionSource``
protocol, so the action itself does no I/O of its own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Protocol

import attrs

from llamafile_ls import budget, prompts, textedit
from llamafile_ls.config import ModelConfig
from llamafile_ls.errors import EditRejected, StreamBroken
from llamafile_ls.sse import Chunk

ProgressCallback = Callable[[int, str], None]  # (chunks received so far, answer so far)


class CompletionSource(Protocol):
    def stream(self, prompt: str, stop: Iterable[str] = ()) -> AsyncGenerator[Chunk, None]: ...

    async def count_tokens(self, text: str) -> int | None: ...


@attrs.frozen
class EditRequest:
    text: str  # the whole document
    start_line: int  # 0-based, first selected line
    end_line: int  # 0-based, exclusive
    instruction: str
    file_path: str = ""
    language: str = ""


@attrs.frozen
class EditResult:
    edits: tuple[textedit.TextEdit, ...]
    old_code: str
    new_code: str
    prompt_tokens: int
    answer_chunks: int
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.edits)


@attrs.frozen
class PreparedPrompt:
    prompt: str
    stop: tuple[str, ...]
    selection: textedit.Selection
    fitted: budget.FittedPrompt


def template_for(model: ModelConfig, action: str) -> tuple[prompts.Tokens, tuple[str, ...]]:
    """The compiled template for an action and the stop strings that go with it."""
    custom = model.prompt_templates.get(action)
    if custom is not None:
        return prompts.compile_template(custom, f"{action!r} of model {model.title!r}"), ()
    family = prompts.family_for(model.template, model.model, model.title)
    return prompts.compile_template(getattr(family, action), f"{family.name!r} built-in {action!r}"), family.stop


def edit_variables(request: EditRequest, model: ModelConfig, code: str, prefix: str, suffix: str) -> dict[str, str]:
    """Every variable a template may use, under its seed-era and its camelCase name."""
    system = model.system_message or prompts.DEFAULT_SYSTEM_MESSAGE
    code, prefix = _without_final_eol(code), _without_final_eol(prefix)
    code, prefix, suffix = (textedit.normalize_eol(text) for text in (code, prefix, suffix))
    values = {
        "code_to_edit": code, "user_input": request.instruction, "file_prefix": prefix,
        "file_suffix": suffix, "system_message": system, "language": request.language,
        "file_path": request.file_path, "context_items": "",
    }  # fmt: skip
    for snake, camel in (
        ("code_to_edit", "codeToEdit"), ("user_input", "userInput"), ("file_prefix", "prefix"),
        ("file_suffix", "suffix"), ("file_prefix", "filePrefix"), ("file_suffix", "fileSuffix"),
        ("system_message", "systemMessage"), ("file_path", "filePath"),
    ):  # fmt: skip
        values[camel] = values[snake]
    return values


def _without_final_eol(text: str) -> str:
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith(("\n", "\r")) else text


async def prepare_prompt(
    request: EditRequest, model: ModelConfig, source: CompletionSource, action: str = "edit"
) -> PreparedPrompt:
    selection = textedit.select_lines(request.text, request.start_line, request.end_line)
    tokens, stop = template_for(model, action)

    def render(prefix: str, suffix: str) -> str:
        return prompts.render(tokens, edit_variables(request, model, selection.code, prefix, suffix))

    fitted = await budget.fit_prompt(
        render,
        textedit.split_lines(selection.prefix),
        textedit.split_lines(selection.suffix),
        context_length=model.context_length,
        max_tokens=model.completion_options.max_tokens,
        count=source.count_tokens,
    )
    return PreparedPrompt(fitted.prompt, stop, selection, fitted)


async def collect_answer(
    source: CompletionSource,
    prepared: PreparedPrompt,
    model: ModelConfig,
    on_progress: ProgressCallback | None,
) -> tuple[str, int]:
    """The whole answer text and its chunk count; refuses an answer cut off by max_tokens."""
    parts: list[str] = []
    received = 0
    last: Chunk | None = None
    async with contextlib.aclosing(source.stream(prepared.prompt, prepared.stop)) as chunks:
        async for chunk in chunks:
            last = chunk
            if chunk.content:
                parts.append(chunk.content)
                received += 1
                if on_progress is not None:
                    on_progress(received, "".join(parts))
    if last is None or not last.stop:
        raise StreamBroken("the model server ended the answer without finishing it")
    if last.prompt_truncated:
        raise EditRejected(
            "the model server cut the prompt to fit its context, so the answer cannot be trusted; "
            "lower context_length to the server's --ctx-size (per slot)"
        )
    if last.stop_type == "limit":
        raise EditRejected(
            f"the answer reached max_tokens ({model.completion_options.max_tokens}) before it was "
            "finished; raise completion_options.max_tokens or select less code"
        )
    return "".join(parts), received


async def run_edit(
    request: EditRequest,
    model: ModelConfig,
    source: CompletionSource,
    on_progress: ProgressCallback | None = None,
) -> EditResult:
    """Ask the model to rewrite the selected lines; return the edits (none if unchanged)."""
    started = time.perf_counter()
    prepared = await prepare_prompt(request, model, source)
    answer, received = await collect_answer(source, prepared, model, on_progress)
    selection = prepared.selection
    code = textedit.extract_code(answer, textedit.answer_opener(prepared.prompt))
    if not code.strip():
        raise EditRejected("the model's answer held no code; nothing was changed")
    new_code = textedit.reindent(code, selection.indent)
    edits = textedit.line_edits(selection, new_code)
    return EditResult(
        edits=edits,
        old_code=selection.code,
        new_code=new_code,
        prompt_tokens=prepared.fitted.tokens,
        answer_chunks=received,
        seconds=time.perf_counter() - started,
    )
