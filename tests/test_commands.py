from __future__ import annotations

import json

import pytest

from llamafile_ls.actions import Problem, candidate_test_files, describe_problems, group_problems
from llamafile_ls.actions import find as find_action
from llamafile_ls.actions import offered as offered_actions
from llamafile_ls.config import parse_config
from llamafile_ls.errors import LlamafileLsError

CONFIG = {
    "models": [{"title": "m"}],
    "slashCommands": [{"name": "comment", "description": "Comment it"}, {"name": "/explain"}],
    "customCommands": [
        {"name": "check", "prompt": "{{{input}}}\nFind mistakes in this code.", "description": "Check for mistakes"},
        {"name": "shout", "prompt": "Upper-case {{{code_to_edit}}}", "description": "Shout", "output": "edit"},
    ],
}


def test_slash_commands_choose_the_builtins_and_custom_commands_follow() -> None:
    actions = offered_actions(parse_config(json.dumps(CONFIG)))
    assert [(a.name, a.output, a.description) for a in actions] == [
        ("comment", "edit", "Comment it"),
        ("explain", "document", "Explain the selected code"),
        ("check", "document", "Check for mistakes"),
        ("shout", "edit", "Shout"),
    ]


def test_without_slash_commands_every_builtin_is_offered() -> None:
    names = [a.name for a in offered_actions(parse_config('{"models": [{"title": "m"}]}'))]
    assert names == ["comment", "docstring", "fix", "types", "test", "explain"]


def test_find_action_by_name_with_or_without_slash() -> None:
    config = parse_config(json.dumps(CONFIG))
    assert find_action(config, "/check").body.startswith("{{{input}}}\nFind mistakes in this code.")
    assert find_action(config, "docstring").output == "edit"  # offered or not, a built-in can be run
    with pytest.raises(LlamafileLsError, match=r"there is no command named '/nope'; the commands are: check, comment,"):
        find_action(config, "/nope")


def test_problems_on_neighbouring_lines_form_one_fix() -> None:
    groups = group_problems([Problem(9, 9, "e"), Problem(2, 2, "a"), Problem(3, 4, "b"), Problem(5, 5, "c")])
    assert [[p.message for p in g] for g in groups] == [["a", "b", "c"], ["e"]]
    assert describe_problems(groups[0]) == "Fix: a at line 3\nFix: b at line 4\nFix: c at line 6"


@pytest.mark.parametrize(
    ("path", "language", "first", "second"),
    [("/p/app.py", "python", "/p/test_app.py", "/p/test_app_2.py"),
     ("/p/app.ts", "typescript", "/p/app.test.ts", "/p/app.test_2.ts"),
     ("/p/app.go", "go", "/p/app_test.go", "/p/app_test_2.go"),
     ("/p/App.java", "java", "/p/AppTest.java", "/p/AppTest_2.java"),
     ("/p/x.c", "c", "/p/test_x.c", "/p/test_x_2.c")],
)  # fmt: skip
def test_test_files_follow_the_language_convention(path: str, language: str, first: str, second: str) -> None:
    names = candidate_test_files(path, language)
    assert (next(names), next(names)) == (first, second)
