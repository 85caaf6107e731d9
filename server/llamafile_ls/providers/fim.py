"""Fill-in-the-middle prompts in each code model family's own tokens, for a server that
has no ``/infill`` of its own (an OpenAI-compatible ``/v1/completions``, a llamafile
``--v2``, an old llama.cpp). Pure: text in, text out.

The family is read from the model's name; a name that tells nothing gets the tokens of
Qwen2.5-Coder, which CodeGemma and many fine-tunes share.
"""

from __future__ import annotations

import attrs

from llamafile_ls.providers.base import Infill, Prompt


@attrs.frozen
class Family:
    name: str
    spotted_by: tuple[str, ...]  # lower-case parts of a model name
    stop: tuple[str, ...]

    def text(self, request: Infill) -> str:
        before, after = request.prefix + request.typed, request.suffix
        if self.name == "qwen":
            extra = "".join(f"<|file_sep|>{e.filename}\n{e.text}" for e in request.extra)
            current = f"<|file_sep|>{request.filename}\n" if extra else ""
            return f"{extra}{current}<|fim_prefix|>{before}<|fim_suffix|>{after}<|fim_middle|>"
        if self.name == "starcoder":
            extra = "".join(f"<file_sep>{e.filename}\n{e.text}" for e in request.extra)
            current = f"<file_sep>{request.filename}\n" if extra else ""
            return f"{extra}{current}<fim_prefix>{before}<fim_suffix>{after}<fim_middle>"
        if self.name == "codellama":
            return f"<PRE> {before} <SUF>{after} <MID>"
        if self.name == "deepseek":
            return f"<｜fim▁begin｜>{before}<｜fim▁hole｜>{after}<｜fim▁end｜>"
        if self.name == "codestral":
            return f"[SUFFIX]{after}[PREFIX]{before}"
        raise AssertionError(self.name)


QWEN = Family("qwen", ("qwen", "codegemma"), ("<|endoftext|>", "<|file_sep|>", "<|fim_pad|>", "<|im_end|>"))
FAMILIES = (
    Family("codestral", ("codestral", "mistral"), ("</s>", "[PREFIX]", "[SUFFIX]")),
    Family("deepseek", ("deepseek",), ("<｜end▁of▁sentence｜>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>")),
    Family("codellama", ("codellama", "code-llama", "code_llama"), ("<EOT>", "</s>")),
    Family("starcoder", ("starcoder", "santacoder", "refact"), ("<|endoftext|>", "<file_sep>", "<fim_prefix>")),
    QWEN,
)


def family_of(model_name: str) -> Family:
    name = model_name.lower()
    return next((family for family in FAMILIES if any(part in name for part in family.spotted_by)), QWEN)


def fim_prompt(model_name: str, request: Infill) -> Prompt:
    """A raw prompt that makes the model write the middle, and ends where it should."""
    family = family_of(model_name)
    stop = (*family.stop, "\n") if request.single_line else family.stop
    return Prompt(text=family.text(request), stop=stop, max_tokens=request.max_tokens)
