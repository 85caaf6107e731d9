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

# Seed-era (Continue's Python) names first, then Continue's TypeScript camelCase names;
# ``diagnostics`` and ``input`` are for slash and custom commands.
TEMPLATE_VARIABLES = frozenset(
    {
        "code_to_edit", "user_input", "file_prefix", "file_suffix", "system_message",
        "language", "file_path", "context_items", "diagnostics", "input",
        "codeToEdit", "userInput", "prefix", "suffix", "filePrefix", "fileSuffix",
        "systemMessage", "filePath",
    }
)  # fmt: skip

DEFAULT_SYSTEM_MESSAGE = "You are an expert programmer. You rewrite code exactly as asked and answer with code only."

# Context shown around the selected code; sections vanish when the text is empty.
CONTEXT = (
    "{{#file_prefix}}Code before the selected part, for context only:\n"
    "```{{language}}\n{{{file_prefix}}}\n```\n\n{{/file_prefix}}"
    "{{#file_suffix}}Code after the selected part, for context only:\n"
    "```{{language}}\n{{{file_suffix}}}\n```\n\n{{/file_suffix}}"
)
SELECTED = "```{{language}}\n{{{code_to_edit}}}\n```\n"
MORE = "{{#input}}Also: {{{input}}}\n{{/input}}"
CODE_ONLY = "Answer with the code only, in one code block, without explanations."


def custom_command_body(prompt: str) -> str:
    """A custom command's prompt, with the selected code added when it does not show it."""
    if "code_to_edit" in prompt or "codeToEdit" in prompt:
        return prompt
    return prompt.rstrip() + "\n\n```{{language}}\n{{{code_to_edit}}}\n```\n"


# The answer is started with an open code fence so that the model writes code at once;
# a fence at the start of a line then ends it.
OPEN_FENCE = "```{{language}}\n"
FENCE_STOP = "\n```"


@attrs.frozen
class PromptFamily:
    """A chat format: what goes before the user's message, and between it and the answer."""

    name: str
    before: str
    after: str
    stop: tuple[str, ...]

    def template(
        self, body: str, *, prose: bool = False, opener: str = OPEN_FENCE, stop: tuple[str, ...] = (FENCE_STOP,)
    ) -> tuple[str, tuple[str, ...]]:
        """The whole raw prompt for a request ``body`` and its stop strings. A code answer is
        begun with ``opener`` (an open fence), so the model writes code at once and ``stop``
        (a closing fence) ends it; prose is not begun."""
        if prose:
            return self.before + body + self.after, self.stop
        return self.before + body + self.after + opener, (*self.stop, *stop)


FAMILIES: dict[str, PromptFamily] = {
    family.name: family
    for family in (
        PromptFamily("llama2", "[INST] <<SYS>>\n{{{system_message}}}\n<</SYS>>\n\n", " [/INST] ", ("[INST]",)),
        PromptFamily(
            "chatml",
            "<|im_start|>system\n{{{system_message}}}<|im_end|>\n<|im_start|>user\n",
            "<|im_end|>\n<|im_start|>assistant\n",
            ("<|im_end|>",),
        ),
        PromptFamily(
            "alpaca", "{{{system_message}}}\n\n### Instruction:\n", "\n\n### Response:\n", ("### Instruction",)
        ),
        PromptFamily(
            "zephyr", "<|system|>\n{{{system_message}}}</s>\n<|user|>\n", "</s>\n<|assistant|>\n", ("</s>", "<|user|>")
        ),
        PromptFamily(
            "deepseek", "{{{system_message}}}\n### Instruction:\n", "\n### Response:\n", ("<|EOT|>", "### Instruction")
        ),
        PromptFamily(
            "llama3",
            "<|start_header_id|>system<|end_header_id|>\n\n{{{system_message}}}<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\n",
            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            ("<|eot_id|>",),
        ),
        # The seed's: Phind-CodeLlama's sections, and Anthropic's Human/Assistant turns.
        PromptFamily(
            "phind",
            "### System Prompt\n{{{system_message}}}\n\n### User Message\n",
            "\n### Assistant\n",
            ("### User Message",),
        ),
        PromptFamily("anthropic", "\n\nHuman: {{{system_message}}}\n\n", "\n\nAssistant: ", ("\n\nHuman:",)),
        PromptFamily(
            "gemma",
            "<start_of_turn>user\n{{{system_message}}}\n\n",
            "<end_of_turn>\n<start_of_turn>model\n",
            ("<end_of_turn>",),
        ),
    )
}
FAMILY_ALIASES = {"mistral": "llama2", "llama-2": "llama2", "llama-3": "llama3"}
TEMPLATE_NAMES = frozenset(FAMILIES) | frozenset(FAMILY_ALIASES)

# Checked in order against the lower-cased model name; the first hit wins.
_DETECTION: tuple[tuple[tuple[str, ...], str], ...] = (
    (("phind",), "phind"),  # before llama: Phind-CodeLlama is a CodeLlama in Phind's format
    (("claude",), "anthropic"),
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
def compile_template(source: str, label: str, allowed: frozenset[str] = TEMPLATE_VARIABLES) -> Tokens:
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
