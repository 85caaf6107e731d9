"""Slash commands and custom commands: which are offered, and finding one by name. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

import attrs

from llamafile_ls.config import Config, CustomCommand
from llamafile_ls.edit import BUILTIN_ACTIONS, Action
from llamafile_ls.errors import LlamafileLsError


def offered_actions(config: Config) -> list[Action]:
    """The slash commands the config offers (all built-ins when it names none), then its
    custom commands."""
    if config.slash_commands is None:
        slash = [action for name, action in BUILTIN_ACTIONS.items() if name != "edit"]
    else:
        slash = [
            attrs.evolve(BUILTIN_ACTIONS[command.name], description=command.description)
            if command.description
            else BUILTIN_ACTIONS[command.name]
            for command in config.slash_commands
        ]
    custom = [_action_of(command) for command in config.custom_commands]
    return [*slash, *custom]


def _action_of(command: CustomCommand) -> Action:
    return Action(command.name, "edit" if command.output == "edit" else "document", command.prompt, command.description)


def find_action(config: Config, name: str) -> Action:
    """The command called ``name`` (with or without its slash): custom first, then built-in."""
    bare = name.strip().lstrip("/")
    for command in config.custom_commands:
        if command.name == bare:
            return _action_of(command)
    if bare in BUILTIN_ACTIONS and bare != "edit":
        return BUILTIN_ACTIONS[bare]
    known = sorted({*(n for n in BUILTIN_ACTIONS if n != "edit"), *(c.name for c in config.custom_commands)})
    raise LlamafileLsError(f"there is no command named {name!r}; the commands are: {', '.join(known)}")


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
