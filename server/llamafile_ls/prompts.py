"""Prompt templates: mustache (chevron) strings that turn an action's variables into a prompt.

Built-in templates exist per prompt family (the chat format a model was trained on); a
model's ``prompt_templates`` override them. Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import attrs
import chevron
from chevron.tokenizer import ChevronError

from llamafile_ls.errors import TemplateError

Tokens = tuple[tuple[str, str], ...]

# Seed-era (Continue's Python) names first, then Continue's TypeScript camelCase names.
EDIT_VARIABLES = frozenset(
    {
        "code_to_edit", "user_input", "file_prefix", "file_suffix", "system_message",
        "language", "file_path", "context_items",
        "codeToEdit", "userInput", "prefix", "suffix", "filePrefix", "fileSuffix",
        "systemMessage", "filePath",
    }
)  # fmt: skip

DEFAULT_SYSTEM_MESSAGE = "You are an expert programmer. You rewrite code exactly as asked and answer with code only."

# Context shown around the code to rewrite; sections vanish when the text is empty.
_CONTEXT = (
    "{{#file_prefix}}Code before the part to rewrite, for context only:\n"
    "```{{language}}\n{{{file_prefix}}}\n```\n\n{{/file_prefix}}"
    "{{#file_suffix}}Code after the part to rewrite, for context only:\n"
    "```{{language}}\n{{{file_suffix}}}\n```\n\n{{/file_suffix}}"
)
_FENCED_REQUEST = (
    _CONTEXT + "Rewrite this {{language}} code:\n```{{language}}\n{{{code_to_edit}}}\n```\n"
    "Request: {{{user_input}}}\n"
    "Answer with the rewritten code only, in one code block, without explanations."
)
# The answer is started with an open code fence so that the model writes code at once;
# a fence at the start of a line then ends it.
_OPEN_FENCE = "```{{language}}\n"
_FENCE_STOP = "\n```"


@attrs.frozen
class PromptFamily:
    name: str
    edit: str
    stop: tuple[str, ...]


FAMILIES: dict[str, PromptFamily] = {
    family.name: family
    for family in (
        # The seed's default: Continue's llama2 edit prompt wrapped the code in [CODE] tags.
        PromptFamily(
            "llama2",
            "[INST] <<SYS>>\n{{{system_message}}}\n<</SYS>>\n\n" + _CONTEXT
            + "Rewrite the {{language}} code between [CODE] and [/CODE].\n"
            "Request: {{{user_input}}}\n[CODE]\n{{{code_to_edit}}}\n[/CODE]\n"
            "Answer with the rewritten code only, between [CODE] and [/CODE]. [/INST] [CODE]\n",
            ("[/CODE]", "[INST]"),
        ),
        PromptFamily(
            "chatml",
            "<|im_start|>system\n{{{system_message}}}<|im_end|>\n<|im_start|>user\n"
            + _FENCED_REQUEST + "<|im_end|>\n<|im_start|>assistant\n" + _OPEN_FENCE,
            ("<|im_end|>", _FENCE_STOP),
        ),
        PromptFamily(
            "alpaca",
            "{{{system_message}}}\n\n### Instruction:\n" + _FENCED_REQUEST
            + "\n\n### Response:\n" + _OPEN_FENCE,
            ("### Instruction", _FENCE_STOP),
        ),
        PromptFamily(
            "zephyr",
            "<|system|>\n{{{system_message}}}</s>\n<|user|>\n" + _FENCED_REQUEST
            + "</s>\n<|assistant|>\n" + _OPEN_FENCE,
            ("</s>", "<|user|>", _FENCE_STOP),
        ),
        PromptFamily(
            "deepseek",
            "{{{system_message}}}\n### Instruction:\n" + _FENCED_REQUEST
            + "\n### Response:\n" + _OPEN_FENCE,
            ("<|EOT|>", "### Instruction", _FENCE_STOP),
        ),
        PromptFamily(
            "llama3",
            "<|start_header_id|>system<|end_header_id|>\n\n{{{system_message}}}<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n" + _FENCED_REQUEST
            + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n" + _OPEN_FENCE,
            ("<|eot_id|>", _FENCE_STOP),
        ),
        PromptFamily(
            "gemma",
            "<start_of_turn>user\n{{{system_message}}}\n\n" + _FENCED_REQUEST
            + "<end_of_turn>\n<start_of_turn>model\n" + _OPEN_FENCE,
            ("<end_of_turn>", _FENCE_STOP),
        ),
    )
}  # fmt: skip
FAMILY_ALIASES = {"mistral": "llama2", "llama-2": "llama2", "llama-3": "llama3"}
TEMPLATE_NAMES = frozenset(FAMILIES) | frozenset(FAMILY_ALIASES)

# Checked in order against the lower-cased model name; the first hit wins.
_DETECTION: tuple[tuple[tuple[str, ...], str], ...] = (
    (("llama3", "llama-3", "llama_3"), "llama3"),
    (("gemma",), "gemma"),
    (("deepseek",), "deepseek"),
    (("qwen", "smollm", "chatml", "dolphin", "hermes", "yi-", "starchat"), "chatml"),
    (("zephyr", "tinyllama"), "zephyr"),
    (("alpaca", "codeup", "wizard"), "alpaca"),
)


def family_for(template: str | None, *names: str) -> PromptFamily:
    """The family named by ``template``, else detected from the model's names; else llama2."""
    if template:
        return FAMILIES[FAMILY_ALIASES.get(template, template)]
    for name in names:
        lowered = name.lower()
        for needles, family in _DETECTION:
            if any(needle in lowered for needle in needles):
                return FAMILIES[family]
    return FAMILIES["llama2"]


@functools.lru_cache(maxsize=64)
def compile_template(source: str, label: str, allowed: frozenset[str] = EDIT_VARIABLES) -> Tokens:
    """Parse a template once and check every name in it; raise :class:`TemplateError`."""
    try:
        tokens = tuple(chevron.tokenizer.tokenize(source))
    except ChevronError as error:
        detail = " ".join(str(error).split())
        raise TemplateError(f"prompt template {label} does not parse: {detail}") from None
    section_depth = 0
    for kind, name in tokens:
        if kind == "partial":
            raise TemplateError(f"prompt template {label}: partials ({{{{>{name}}}}}) are not supported")
        if kind in ("section", "inverted section"):
            section_depth += 1
        elif kind == "end":
            section_depth -= 1
        if kind not in ("variable", "no escape", "section", "inverted section"):
            continue
        if name == "." and section_depth > 0:
            continue
        if name.split(".")[0] not in allowed:
            raise TemplateError(
                f"prompt template {label} uses {{{{{name}}}}}, which is not a template variable; "
                f"use one of: {', '.join(sorted(allowed))}"
            )
    # A prompt is not HTML: render {{name}} like {{{name}}} so code keeps its < and &.
    return tuple(("no escape" if kind == "variable" else kind, name) for kind, name in tokens)


def render(tokens: Tokens, variables: Mapping[str, object]) -> str:
    return chevron.render(list(tokens), dict(variables))


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """Items in first-seen order without repeats (stop lists are unions)."""
    return tuple(dict.fromkeys(items))
