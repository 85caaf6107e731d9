from __future__ import annotations

import pytest

from llamafile_ls import prompts
from llamafile_ls.actions import BUILTIN as BUILTIN_ACTIONS
from llamafile_ls.actions import EDIT, custom_action
from llamafile_ls.config import CustomCommand, ModelConfig
from llamafile_ls.edit import EditRequest, edit_variables, template_for
from llamafile_ls.errors import TemplateError


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("mistral-7b-instruct", "llama2"), ("codellama-13b", "llama2"), ("SmolLM2-135M-Instruct", "chatml"),
        ("Qwen2.5-Coder-1.5B", "chatml"), ("Meta-Llama-3-8B-Instruct", "llama3"), ("zephyr-7b-beta", "zephyr"),
        ("TinyLlama-1.1B-Chat", "zephyr"), ("deepseek-coder-6.7b", "deepseek"), ("gemma-2-9b-it", "gemma"),
        ("WizardCoder-15B", "alpaca"), ("something-else", "llama2"),
    ],
)  # fmt: skip
def test_family_is_detected_from_the_model_name(name: str, family: str) -> None:
    assert prompts.family_for(None, name).name == family


def test_template_field_wins_over_detection_and_aliases_work() -> None:
    assert prompts.family_for("alpaca", "SmolLM2").name == "alpaca"
    assert prompts.family_for("mistral", "SmolLM2").name == "llama2"


REQUEST = EditRequest(
    text="", start_line=0, end_line=1, instruction="make it <async>", file_path="app.py", language="python"
)


@pytest.mark.parametrize("family", sorted(prompts.FAMILIES))
@pytest.mark.parametrize("action", sorted(BUILTIN_ACTIONS))
def test_every_builtin_template_of_every_family_renders(family: str, action: str) -> None:
    model = ModelConfig(title="t", template=family)
    tokens, stop = template_for(model, BUILTIN_ACTIONS[action])
    request = EditRequest(text="", start_line=0, end_line=1, instruction="do <it>" if action == "edit" else "",
                          input="and be brief", diagnostics="Fix: undefined name 'x' at line 3", language="python")  # fmt: skip
    prompt = prompts.render(tokens, edit_variables(request, model, "if a < b:\n    pass\n", "import x\n", ""))
    assert "if a < b:\n    pass" in prompt
    assert prompts.DEFAULT_SYSTEM_MESSAGE in prompt
    if action == "edit":
        assert "do <it>" in prompt
    else:
        assert "Also: and be brief" in prompt
    if action == "fix":
        assert "Fix: undefined name 'x' at line 3" in prompt
    if action == "explain":
        assert not prompt.endswith("```python\n") and "\n```" not in stop  # prose: no code fence to close
    elif not (action == "edit" and family == "llama2"):
        assert prompt.endswith("```python\n") and "\n```" in stop


def test_a_custom_command_prompt_gets_the_code_when_it_does_not_use_it() -> None:
    model = ModelConfig(title="t", template="chatml")
    action = custom_action(CustomCommand("check", "{{{input}}}\nCheck this code for mistakes."))
    tokens, stop = template_for(model, action)
    request = EditRequest(text="", start_line=0, end_line=1, input="Be strict.", language="python")
    prompt = prompts.render(tokens, edit_variables(request, model, "x = 1\n", "", ""))
    assert "Be strict.\nCheck this code for mistakes.\n\n```python\nx = 1\n```" in prompt
    assert prompt.endswith("<|im_start|>assistant\n") and stop == ("<|im_end|>",)
    rewrite = custom_action(CustomCommand("shout", "Upper-case this:\n{{{code_to_edit}}}", output="edit"))
    tokens, _ = template_for(model, rewrite)
    prompt = prompts.render(tokens, edit_variables(request, model, "x = 1\n", "", ""))
    assert prompt.count("x = 1") == 1 and prompt.endswith("```python\n")


@pytest.mark.parametrize("family", sorted(prompts.FAMILIES))
def test_every_builtin_edit_template_renders_code_instruction_and_context(family: str) -> None:
    model = ModelConfig(title="t", template=family)
    tokens, stop = template_for(model, EDIT)
    variables = edit_variables(REQUEST, model, "if a < b and c:\n    pass\n", "import x\n", "print(1)\n")
    prompt = prompts.render(tokens, variables)
    assert "if a < b and c:\n    pass" in prompt  # not HTML-escaped
    assert "make it <async>" in prompt
    assert "import x" in prompt and "print(1)" in prompt
    assert prompts.DEFAULT_SYSTEM_MESSAGE in prompt
    assert stop


def test_context_sections_vanish_when_there_is_no_surrounding_code() -> None:
    model = ModelConfig(title="t", template="chatml")
    tokens, _ = template_for(model, EDIT)
    prompt = prompts.render(tokens, edit_variables(REQUEST, model, "x = 1\n", "", ""))
    assert "for context only" not in prompt


def test_seed_and_camel_case_variables_both_render() -> None:
    source = "{{{code_to_edit}}}|{{{codeToEdit}}}|{{{user_input}}}|{{{userInput}}}|{{{prefix}}}|{{{file_prefix}}}|{{{suffix}}}|{{{fileSuffix}}}|{{language}}|{{file_path}}|{{{systemMessage}}}"
    model = ModelConfig(title="t", system_message="sys", prompt_templates={"edit": source})
    tokens, stop = template_for(model, EDIT)
    rendered = prompts.render(tokens, edit_variables(REQUEST, model, "c\n", "p\n", "s\n"))
    assert rendered == "c|c|make it <async>|make it <async>|p|p|s\n|s\n|python|app.py|sys"
    assert stop == ()  # a custom template brings no built-in stop strings


def test_a_template_with_an_unknown_variable_is_an_error_naming_it() -> None:
    with pytest.raises(TemplateError, match=r"prompt template 'edit' of model 't' uses \{\{selection\}\}"):
        template_for(ModelConfig(title="t", prompt_templates={"edit": "{{selection}}"}), EDIT)


def test_a_template_that_does_not_parse_is_an_error_naming_it() -> None:
    with pytest.raises(TemplateError, match="prompt template 'edit' of model 't' does not parse"):
        template_for(ModelConfig(title="t", prompt_templates={"edit": "{{#user_input}} never closed"}), EDIT)


def test_partials_are_refused() -> None:
    with pytest.raises(TemplateError, match="partials"):
        prompts.compile_template("{{>other}}", "x")
