"""Continue's Handlebars prompt templates → the mustache templates llamafile-ls renders.

Continue writes its templates (config.yaml's ``promptTemplates.edit``, a prompt's text) in
Handlebars. The part people write maps onto mustache one tag at a time: ``{{name}}``,
``{{{name}}}``, ``{{&name}}``, ``{{#if name}}…{{else}}…{{/if}}``, ``{{#unless name}}…{{/unless}}``
and comments. The rest (``{{#each}}``, ``{{#with}}``, helpers with arguments, partials,
``@index`` and ``this``, whitespace control) has no mustache equivalent that means the same,
so it is refused, naming the line. Pure and linear: one pass over the tags.
"""

from __future__ import annotations

import re

from llamafile_ls.errors import TemplateError

_TAG = re.compile(r"\{\{!--.*?--\}\}|\{\{![^}]*\}\}|\{\{\{(?P<raw>.*?)\}\}\}|\{\{(?P<tag>.*?)\}\}", re.DOTALL)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


class HandlebarsError(TemplateError):
    """A template that cannot be mapped; ``line`` is its line in the template (1-based)."""

    def __init__(self, message: str, line: int) -> None:
        self.line = line
        super().__init__(message)


_HELPERS = frozenset({"each", "with", "lookup", "log", "let"})
SUPPORTED = "{{name}}, {{{name}}}, {{#if name}}…{{else}}…{{/if}} and {{#unless name}}…{{/unless}}"


def _line(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1


def to_mustache(source: str) -> str:
    """The mustache template that renders as ``source`` does in Handlebars; raise
    :class:`HandlebarsError` naming the line (of the template) of what cannot be mapped."""
    out: list[str] = []
    blocks: list[tuple[str, str, int, bool]] = []  # (if or unless, name, line, in its else)
    position = 0
    for match in _TAG.finditer(source):
        out.append(source[position : match.start()])
        position = match.end()
        line = _line(source, match.start())
        written = match.group()
        shown = written if len(written) <= 40 else written[:37] + "..."

        def refuse(why: str, line: int = line, shown: str = shown) -> HandlebarsError:
            return HandlebarsError(
                f"{shown} on line {line} of the template {why}; llamafile-ls supports the Handlebars of {SUPPORTED}",
                line,
            )

        raw = match.group("raw")
        tag = match.group("tag")
        if raw is None and tag is None:
            continue  # a comment
        if raw is not None:
            name = raw.strip()
            if not _NAME.fullmatch(name):
                raise refuse("is not a plain variable")
            out.append("{{{" + name + "}}}")
            continue
        body = tag.strip()
        if body.startswith("~") or body.endswith("~"):
            raise refuse("uses whitespace control (~), which is not supported")
        if body.startswith("&"):
            body = body[1:].strip()
            if not _NAME.fullmatch(body):
                raise refuse("is not a plain variable")
            out.append("{{{" + body + "}}}")
            continue
        if body.startswith("#"):
            helper, _, argument = body[1:].strip().partition(" ")
            argument = argument.strip()
            if helper not in ("if", "unless"):
                if helper in _HELPERS or argument or not _NAME.fullmatch(helper):
                    raise refuse(f"uses the block helper #{helper}, which is not supported")
                blocks.append((helper, helper, line, False))  # {{#name}}: a mustache section
                out.append("{{#" + helper + "}}")
                continue
            if not _NAME.fullmatch(argument):
                raise refuse(f"needs one variable name after #{helper} (no helpers or arguments)")
            blocks.append((helper, argument, line, False))
            out.append(("{{#" if helper == "if" else "{{^") + argument + "}}")
            continue
        if body.startswith("^") and body != "^":
            name = body[1:].strip()
            if not _NAME.fullmatch(name):
                raise refuse("is not a plain variable")
            blocks.append((name, name, line, True))  # {{^name}}: an inverted section
            out.append("{{^" + name + "}}")
            continue
        if body in ("else", "^"):
            if not blocks or blocks[-1][3]:
                raise refuse("has no {{#if}} or {{#unless}} to belong to")
            helper, name, opened, _else = blocks[-1]
            blocks[-1] = (helper, name, opened, True)
            out.append("{{/" + name + "}}" + ("{{#" if helper == "unless" else "{{^") + name + "}}")
            continue
        if body.startswith("/"):
            helper = body[1:].strip()
            if not blocks or blocks[-1][0] != helper:
                if not blocks:
                    raise refuse("closes a block that was never opened")
                raise refuse(f"closes a block that is not open here (expected {{{{/{blocks[-1][0]}}}}})")
            _helper, name, _opened, _else = blocks.pop()
            out.append("{{/" + name + "}}")
            continue
        if body.startswith(">"):
            raise refuse("is a partial, which is not supported")
        if body.startswith(("@", "this", "..")) or body == ".":
            raise refuse("refers to a block's context, which is not supported")
        if not _NAME.fullmatch(body):
            raise refuse("is a helper or an expression, not a plain variable")
        out.append("{{" + body + "}}")
    if blocks:
        helper, name, opened, _else = blocks[-1]
        written = f"{{{{#{helper} {name}}}}}" if helper in ("if", "unless") else f"{{{{#{name}}}}}"
        closing = f"{{{{/{helper}}}}}"
        raise HandlebarsError(f"{written} on line {opened} of the template is never closed with {closing}", opened)
    out.append(source[position:])
    return "".join(out)
