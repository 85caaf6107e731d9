"""Every action, declared once: the edit, the built-in slash commands and the config's custom
commands. Pure: data and the lookups over it.

An action says what to ask the model (its request, the user's message; a prompt family may
have its own form of it), where the answer goes (an edit of the selection, a new file, a
document to read), how an editor offers it (its code-action kind; whether the client must
ask for an instruction; whether it is offered once per group of problems the editor
reports), and which template variables it fills besides the common ones. Adding a slash
command is one declaration here: nothing else names an action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Literal

import attrs

from llamafile_ls.contract import Role
from llamafile_ls.errors import LlamafileLsError
from llamafile_ls.prompts import CODE_ONLY, CONTEXT, MORE, SELECTED, custom_command_body

if TYPE_CHECKING:  # the config checks slash command names against these actions
    from llamafile_ls.config import Config, CustomCommand

Output = Literal["edit", "file", "document"]
Kind = Literal["quickfix", "refactor.rewrite", "refactor"]


@attrs.frozen
class FamilyForm:
    """An action's request in a prompt family's own form: its body, how the answer is begun
    and what ends it (the seed's llama2 edit wraps code in [CODE] tags)."""

    body: str
    opener: str
    stop: tuple[str, ...]


@attrs.frozen
class Action:
    name: str  # "edit", a slash command's name without its slash, or a custom command's
    description: str
    body: str  # the request: a mustache template, the user's message of the model's chat
    output: Output = "edit"  # edit: rewrite the selection; file: a new file; document: text to read
    kind: Kind = "refactor.rewrite"  # the code action's kind
    needs_instruction: bool = False  # the client asks the user what to do (the edit)
    on_problems: bool = False  # offered once per group of problems the editor reports (/fix)
    variables: tuple[str, ...] = ()  # template variables it fills besides the common ones
    families: Mapping[str, FamilyForm] = attrs.field(factory=dict)  # family name → its own form
    custom: bool = False  # from the config's customCommands (its prompt_templates do not apply)

    @property
    def prose(self) -> bool:
        """The answer is Markdown to read, not code."""
        return self.output == "document"

    @property
    def role(self) -> Role:
        """Which model it goes to: an answer to read (/explain) is the chat model's; code, the
        edit model's."""
        return "chat" if self.output == "document" else "edit"

    @property
    def label(self) -> str:
        """How progress and the editor's undo history name a run of it."""
        return "editing" if self.needs_instruction else f"/{self.name}"


_LLAMA2_EDIT = FamilyForm(
    CONTEXT + "Rewrite the {{language}} code between [CODE] and [/CODE].\n"
    "Request: {{{user_input}}}\n[CODE]\n{{{code_to_edit}}}\n[/CODE]\n"
    "Answer with the rewritten code only, between [CODE] and [/CODE].",
    opener="[CODE]\n",
    stop=("[/CODE]",),
)

EDIT = Action(
    "edit",
    "Edit selection",
    CONTEXT + "Rewrite this {{language}} code:\n" + SELECTED + "Request: {{{user_input}}}\n"
    "Answer with the rewritten code only, in one code block, without explanations.",
    needs_instruction=True,
    families={"llama2": _LLAMA2_EDIT},
)

SLASH: tuple[Action, ...] = (
    Action(
        "comment",
        "Comment the selected code",
        CONTEXT + "Add comments to this {{language}} code, in the language's own comment style, saying what it "
        "does and why. Keep the code itself exactly as it is.\n" + SELECTED + MORE + CODE_ONLY,
        variables=("input",),
    ),
    Action(
        "docstring",
        "Write docstrings for the selected code",
        CONTEXT + "Add or update the docstrings (the language's documentation comments) of the functions and "
        "classes in this {{language}} code. Keep the code itself exactly as it is.\n" + SELECTED + MORE + CODE_ONLY,
        variables=("input",),
    ),
    Action(
        "fix",
        "Fix the selected code",
        CONTEXT + "Fix this {{language}} code.\n" + SELECTED + "{{#diagnostics}}The problems reported:\n"
        "{{{diagnostics}}}\n{{/diagnostics}}" + MORE + "Answer with the fixed code only, in one code block.",
        kind="quickfix",
        on_problems=True,
        variables=("diagnostics", "input"),
    ),
    Action(
        "types",
        "Add type annotations to the selected code",
        CONTEXT + "Add type annotations (type hints) to this {{language}} code: parameters, return values, and "
        "variables where a reader would need them, in the language's own syntax. Change nothing else.\n"
        + SELECTED
        + MORE
        + CODE_ONLY,
        variables=("input",),
    ),
    Action(
        "test",
        "Write unit tests for the selected code",
        "Write unit tests for this {{language}} code from {{file_path}}, with the language's usual test "
        "framework. Import what is tested from its module.\n"
        + SELECTED
        + MORE
        + "Answer with the complete test file only, in one code block.",
        output="file",
        kind="refactor",
        variables=("input",),
    ),
    Action(
        "explain",
        "Explain the selected code",
        CONTEXT + "Explain what this {{language}} code does and how, for a programmer who reads it for the "
        "first time. Be concise.\n" + SELECTED + MORE + "Answer in Markdown.",
        output="document",
        kind="refactor",
        variables=("input",),
    ),
)
BUILTIN: dict[str, Action] = {action.name: action for action in (EDIT, *SLASH)}
SLASH_NAMES = frozenset(action.name for action in SLASH)


def custom_action(command: CustomCommand) -> Action:
    output: Output = "edit" if command.output == "edit" else "document"
    return Action(
        command.name,
        command.description,
        custom_command_body(command.prompt),
        output=output,
        kind="refactor.rewrite" if output == "edit" else "refactor",
        custom=True,
    )


def offered(config: Config) -> list[Action]:
    """The slash commands the config offers (all built-ins when it names none), then its
    custom commands."""
    if config.slash_commands is None:
        slash = list(SLASH)
    else:
        slash = [
            attrs.evolve(BUILTIN[command.name], description=command.description)
            if command.description
            else BUILTIN[command.name]
            for command in config.slash_commands
        ]
    return [*slash, *(custom_action(command) for command in config.custom_commands)]


def find(config: Config, name: str) -> Action:
    """The command called ``name`` (with or without its slash): custom first, then built-in."""
    bare = name.strip().lstrip("/")
    for command in config.custom_commands:
        if command.name == bare:
            return custom_action(command)
    if bare in SLASH_NAMES:
        return BUILTIN[bare]
    known = sorted({*SLASH_NAMES, *(c.name for c in config.custom_commands)})
    raise LlamafileLsError(f"there is no command named {name!r}; the commands are: {', '.join(known)}")


# --- /fix: the problems the editor reports ------------------------------------------------------


@attrs.frozen
class Problem:
    start_line: int  # 0-based
    end_line: int  # 0-based, inclusive
    message: str


def group_problems(problems: Iterable[Problem]) -> list[list[Problem]]:
    """Problems on the same or neighbouring lines form one group: one fix for each group."""
    groups: list[list[Problem]] = []
    for problem in sorted(problems, key=lambda p: (p.start_line, p.end_line)):
        if groups and problem.start_line <= max(p.end_line for p in groups[-1]) + 1:
            groups[-1].append(problem)
        else:
            groups.append([problem])
    return groups


def describe_problems(group: Iterable[Problem]) -> str:
    """The ``diagnostics`` template variable: one "Fix: <message> at line N" a problem."""
    return "\n".join(f"Fix: {' '.join(p.message.split())} at line {p.start_line + 1}" for p in group)


# --- /test: where tests go --------------------------------------------------------------------------

_TEST_NAMES = {
    "python": "test_{stem}{suffix}",
    "javascript": "{stem}.test{suffix}",
    "javascriptreact": "{stem}.test{suffix}",
    "typescript": "{stem}.test{suffix}",
    "typescriptreact": "{stem}.test{suffix}",
    "go": "{stem}_test{suffix}",
    "java": "{stem}Test{suffix}",
    "kotlin": "{stem}Test{suffix}",
    "csharp": "{stem}Tests{suffix}",
    "ruby": "{stem}_spec{suffix}",
    "rust": "{stem}_test{suffix}",
    "php": "{stem}Test{suffix}",
    "elixir": "{stem}_test.exs",
    "swift": "{stem}Tests{suffix}",
}


def candidate_test_files(path: str, language: str) -> Iterable[str]:
    """Where tests of ``path`` go by its language's convention, then free alternatives."""
    source = PurePath(path)
    pattern = _TEST_NAMES.get(language, "test_{stem}{suffix}")
    first = source.with_name(pattern.format(stem=source.stem, suffix=source.suffix))
    yield str(first)
    for number in range(2, 100):
        yield str(first.with_name(f"{first.stem}_{number}{first.suffix}"))
