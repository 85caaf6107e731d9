"""The edit action: a selection and an instruction in, minimal text edits out.

Builds the template variables, fits the prompt to the context, streams the model's answer
and turns it into edits. The model is reached only through the
:class:`~llamafile_ls.providers.base.Provider` protocol, so the action itself does no I/O of
its own. A provider that wants chat messages gets the action's request as the user's message
(the server applies the model's chat template); one that wants raw text gets it wrapped in
the model's own format (its prompt family).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import attrs

from llamafile_ls import budget, prompts, textedit
from llamafile_ls.actions import EDIT, Action
from llamafile_ls.config import ModelConfig
from llamafile_ls.errors import EditRejected, StreamBroken
from llamafile_ls.providers.base import Chunk, Message, Prompt, Provider

ProgressCallback = Callable[[int], None]  # called with the number of chunks received so far

# The sampling temperature of an edit when the config sets none (llama.cpp would sample at
# 0.8, the seed sent 0.5). Chosen by measurement: bench/temperature.py, docs/sampling.md.
DEFAULT_TEMPERATURE = 0.2


@attrs.frozen
class EditRequest:
    text: str  # the whole document
    start_line: int  # 0-based, first selected line
    end_line: int  # 0-based, exclusive
    instruction: str = ""  # what the user asked (the edit action's request)
    file_path: str = ""
    language: str = ""
    input: str = ""  # extra input for a slash or custom command
    diagnostics: str = ""  # "Fix: <message> at line N" lines, for /fix


@attrs.frozen
class EditResult:
    edits: tuple[textedit.TextEdit, ...]  # for an "edit" action
    new_code: str  # the code (edit, file) or the text (document) the answer came to
    answer_chunks: int
    seconds: float
    selection: textedit.Selection | None = None  # what the edits are for

    @property
    def changed(self) -> bool:
        return bool(self.edits)


@attrs.frozen
class PreparedPrompt:
    prompt: Prompt
    selection: textedit.Selection
    fitted: budget.FittedPrompt


def template_for(model: ModelConfig, action: Action, *, chat: bool = False) -> tuple[prompts.Tokens, tuple[str, ...]]:
    """The compiled template for an action and the stop strings that go with it: for a chat
    endpoint the user's message alone, for a raw one the whole prompt in the model's format."""
    custom = None if action.custom else model.prompt_templates.get(action.name)
    if custom is not None:
        return prompts.compile_template(custom, f"{action.name!r} of model {model.title!r}"), ()
    if chat:
        return prompts.compile_template(action.body, f"{action.name!r} message"), ()
    family = prompts.family_for(model.template, model.model, model.title)
    form = action.families.get(family.name)
    if form is not None:
        source, stop = family.template(form.body, opener=form.opener, stop=form.stop)
    else:
        source, stop = family.template(action.body, prose=action.prose)
    return prompts.compile_template(source, f"{family.name!r} {action.name!r}"), stop


def edit_variables(request: EditRequest, model: ModelConfig, code: str, prefix: str, suffix: str) -> dict[str, str]:
    """Every variable a template may use, under its seed-era and its camelCase name."""
    system = model.system_message or prompts.DEFAULT_SYSTEM_MESSAGE
    code, prefix = _without_final_eol(code), _without_final_eol(prefix)
    code, prefix, suffix = (textedit.normalize_eol(text) if "\r" in text else text for text in (code, prefix, suffix))
    values = {
        "code_to_edit": code, "user_input": request.instruction or request.input, "file_prefix": prefix,
        "file_suffix": suffix, "system_message": system, "language": request.language,
        "file_path": request.file_path, "context_items": "", "input": request.input,
        "diagnostics": request.diagnostics,
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
    request: EditRequest, model: ModelConfig, source: Provider, action: Action = EDIT
) -> PreparedPrompt:
    selection = textedit.select_lines(request.text, request.start_line, request.end_line)
    chat = source.wants_chat
    tokens, stop = template_for(model, action, chat=chat)

    def render(prefix: str, suffix: str) -> Prompt:
        variables = edit_variables(request, model, selection.code, prefix, suffix)
        text = prompts.render(tokens, variables)
        if not chat:
            return Prompt(text=text, stop=stop)
        system = Message("system", variables["system_message"])
        return Prompt(messages=(system, Message("user", text)), stop=stop)

    # The answer's budget: the config's max_tokens, else room for a rewrite of the selection
    # (the prompt is fitted to leave that much), then whatever room the context has left.
    chosen = model.completion_options.max_tokens
    needed = chosen if chosen is not None else budget.rewrite_tokens(selection.code)
    fitted = await budget.fit_prompt(
        render,
        selection.prefix_lines,
        selection.suffix_lines,
        context_length=model.context_length,
        max_tokens=needed,
        count=source.count_tokens,
    )
    answer = chosen if chosen is not None else budget.answer_tokens(model.context_length, fitted, needed)
    prompt = attrs.evolve(fitted.prompt, max_tokens=answer, temperature=DEFAULT_TEMPERATURE)
    return PreparedPrompt(prompt, selection, fitted)


async def collect_answer(
    source: Provider,
    prepared: PreparedPrompt,
    model: ModelConfig,
    on_progress: ProgressCallback | None,
) -> tuple[str, int]:
    """The whole answer text and its chunk count; refuses an answer cut off by max_tokens."""
    parts: list[str] = []
    received = 0
    last: Chunk | None = None
    async with contextlib.aclosing(source.stream(prepared.prompt)) as chunks:
        async for chunk in chunks:
            last = chunk
            if chunk.content:
                parts.append(chunk.content)
                received += 1
                if on_progress is not None:
                    on_progress(received)  # never the answer so far: re-joining it per chunk is quadratic
    if last is None or not last.stop:
        raise StreamBroken("the model server ended the answer without finishing it")
    if last.prompt_truncated:
        raise EditRejected(
            "the model server cut the prompt to fit its context, so the answer cannot be trusted; "
            "lower context_length to the server's --ctx-size (per slot)"
        )
    if last.finish == "length":
        if model.completion_options.max_tokens is not None:
            raise EditRejected(
                f"the answer reached max_tokens ({model.completion_options.max_tokens}) before it was "
                "finished; raise completion_options.max_tokens or select less code"
            )
        raise EditRejected(
            f"the answer reached max_tokens ({prepared.prompt.max_tokens}, the room the context had left) before "
            "it was finished; select less code, or raise context_length (and the server's --ctx-size)"
        )
    if last.finish == "error":
        raise EditRejected(
            "the model server stopped the answer for a reason of its own (finish_reason); nothing was changed"
        )
    return "".join(parts), received


async def run_edit(
    request: EditRequest,
    model: ModelConfig,
    source: Provider,
    on_progress: ProgressCallback | None = None,
    action: Action = EDIT,
) -> EditResult:
    """Ask the model; for an edit, return the edits of the selected lines (none if unchanged),
    else the code of a new file or the text of a document."""
    started = time.perf_counter()
    prepared = await prepare_prompt(request, model, source, action)
    answer, received = await collect_answer(source, prepared, model, on_progress)
    selection = prepared.selection
    edits: tuple[textedit.TextEdit, ...] = ()
    if action.output == "document":
        new_code = textedit.strip_end_tokens(textedit.normalize_eol(answer)).strip() + "\n"
        if not new_code.strip():
            raise EditRejected("the model's answer was empty")
    else:
        code = textedit.extract_code(answer, textedit.answer_opener(prepared.prompt.text))
        if not code.strip():
            raise EditRejected("the model's answer held no code; nothing was changed")
        if action.output == "file":
            new_code = code + "\n"
        else:
            new_code = textedit.reindent(code, selection.indent)
            edits = textedit.line_edits(selection, new_code)
    return EditResult(
        edits=edits,
        new_code=new_code,
        answer_chunks=received,
        seconds=time.perf_counter() - started,
        selection=selection,
    )
