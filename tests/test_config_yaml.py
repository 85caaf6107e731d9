"""Continue's config.yaml: the shapes people write, read into the right models, quietly;
every fault named at its line of the YAML."""

from __future__ import annotations

import textwrap

import pytest

from llamafile_ls import prompts
from llamafile_ls.config_file import is_yaml, parse_config_text
from llamafile_ls.config_yaml import parse_config_yaml
from llamafile_ls.errors import ConfigError


def load(text: str):  # type: ignore[no-untyped-def]
    return parse_config_yaml(textwrap.dedent(text), "/home/u/.continue/config.yaml")


def fails(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return caught.value


LLAMA_CPP_OPENAI = """\
    name: Local Assistant
    version: 1.0.0
    schema: v1
    models:
      - name: Qwen2.5-Coder 7B
        provider: openai
        model: qwen2.5-coder-7b-instruct
        apiBase: http://localhost:8080/v1
        roles:
          - chat
          - edit
          - apply
        defaultCompletionOptions:
          temperature: 0.2
          topP: 0.9
          maxTokens: 1024
          contextLength: 8192
          stop: ["<|im_end|>"]
    context:
      - provider: code
      - provider: docs
      - provider: diff
"""


def test_llama_cpp_behind_the_openai_provider() -> None:
    config = load(LLAMA_CPP_OPENAI)
    assert config.warnings == ()
    (model,) = config.models
    assert (model.title, model.provider, model.model) == ("Qwen2.5-Coder 7B", "openai", "qwen2.5-coder-7b-instruct")
    assert model.api_base == "http://localhost:8080/v1"
    assert model.roles == ("chat", "edit", "apply")
    assert model.context_length == 8192
    options = model.completion_options
    assert (options.temperature, options.top_p, options.max_tokens, options.stop) == (0.2, 0.9, 1024, ("<|im_end|>",))
    assert config.source == "/home/u/.continue/config.yaml"


MIXED = """\
    name: Mixed
    version: 0.0.1
    schema: v1
    models:
      - name: Claude  # not served here: skipped with a warning
        provider: anthropic
        model: claude-3-7-sonnet-latest
        apiKey: sk-ant-literal
        roles: [chat]
      - name: Local chat
        provider: ollama
        model: llama3.1:8b
        roles: [chat, edit]
      - name: Autocomplete
        provider: llama.cpp
        model: qwen2.5-coder-1.5b
        apiBase: http://127.0.0.1:8012
        roles: [autocomplete]
        autocompleteOptions:
          debounceDelay: 250
          maxPromptTokens: 1024
      - name: Embedder
        provider: ollama
        model: nomic-embed-text
        roles: [embed]
        embedOptions:
          maxChunkSize: 512
"""


def test_several_providers_and_roles_pick_the_right_models() -> None:
    config = load(MIXED)
    assert [model.title for model in config.models] == ["Local chat", "Autocomplete", "Embedder"]
    (warning,) = config.warnings
    assert (
        warning.message
        == "models[0].provider: provider 'anthropic' is not served by llamafile-ls; this model is skipped"
    )
    assert warning.line == 6
    assert config.model_for("edit").title == "Local chat"
    assert config.model_for("chat").title == "Local chat"
    assert config.model_for("autocomplete").title == "Autocomplete"
    assert config.model_for("embed").title == "Embedder"
    assert config.model("Autocomplete").api_base == "http://127.0.0.1:8012"
    assert config.model("Local chat").api_base == "http://localhost:11434"  # ollama's own port


def test_prompts_rules_comments_and_anchors() -> None:
    config = load(
        """\
        # My config
        name: with extras
        version: 1.0.0
        x-defaults: &local
          provider: openai
          apiBase: http://localhost:8080/v1
          requestOptions: &timeouts
            timeout: 30
        models:
          - <<: *local
            name: big
            model: qwen-14b
            chatOptions:
              baseSystemMessage: You are terse.
          - <<: *local
            name: small   # a comment after a value
            model: qwen-1.5b
            requestOptions:
              <<: *timeouts
              verifySsl: false
        rules:
          - Always use type hints.
          - name: no-prints
            rule: Never leave print() calls behind.
          - name: python only
            rule: PEP 8.
            globs: "**/*.py"
        prompts:
          - name: explain
            description: Explain the selected code
            prompt: |
              Explain this code{{#if input}}, focusing on {{{input}}}{{/if}}.
          - name: test
            prompt: Write pytest tests for it.
        """
    )
    big, small = config.models
    assert big.system_message == "You are terse.\n\nAlways use type hints.\n\nNever leave print() calls behind."
    assert small.system_message == (
        f"{prompts.DEFAULT_SYSTEM_MESSAGE}\n\nAlways use type hints.\n\nNever leave print() calls behind."
    )
    assert (big.api_base, small.api_base) == ("http://localhost:8080/v1", "http://localhost:8080/v1")
    assert big.request_options.timeout == 30.0 and big.request_options.verify_ssl
    assert small.request_options.timeout == 30.0 and not small.request_options.verify_ssl
    explain, test = config.custom_commands
    assert (explain.name, explain.description, explain.output) == ("explain", "Explain the selected code", "document")
    assert explain.prompt == "Explain this code{{#input}}, focusing on {{{input}}}{{/input}}.\n"
    assert (test.name, test.output) == ("test", "document")
    # Only two things are said: a key that means nothing anywhere, and the glob rule.
    glob, unknown = config.warnings  # the translation's first, then the validation's
    assert (unknown.line, unknown.message) == (4, "x-defaults: unknown key 'x-defaults' is ignored")
    assert glob.message.startswith("rules[2]: rule 'python only' is for files matching its globs")
    assert glob.line == 25


def test_an_unknown_top_level_key_is_named_but_continue_keys_are_quiet() -> None:
    config = load(
        """\
        name: a
        version: 1
        schema: v1
        metadata: {author: me}
        env: {A: b}
        docs: [{name: d, startUrl: "https://x"}]
        mcpServers: [{name: m, command: npx}]
        data: [{name: d, destination: "file:///tmp", schema: "0.2.0"}]
        context: [{provider: code}]
        modles: []
        models: [{name: m, provider: llamafile}]
        """
    )
    (warning,) = config.warnings
    assert warning.message.startswith("modles: unknown key 'modles' is ignored; did you mean 'models'?")
    assert warning.line == 10


def test_edit_template_in_handlebars_becomes_the_edit_template() -> None:
    config = load(
        """\
        models:
          - name: m
            provider: llamafile
            promptTemplates:
              chat: chatml
              autocomplete: "{{{prefix}}}<FIM>{{{suffix}}}"
              apply: "{{{original_code}}}"
              edit: |
                <|im_start|>user
                {{#if userInput}}{{{userInput}}}{{else}}Improve this.{{/if}}
                ```{{{language}}}
                {{{codeToEdit}}}
                ```<|im_end|>
        """
    )
    (model,) = config.models
    assert config.warnings == ()
    assert model.template == "chatml"
    assert model.prompt_templates == {
        "edit": "<|im_start|>user\n{{#userInput}}{{{userInput}}}{{/userInput}}{{^userInput}}Improve this.{{/userInput}}\n"
        "```{{{language}}}\n{{{codeToEdit}}}\n```<|im_end|>\n"
    }


def test_llamafile_ls_own_keys_work_in_yaml_too() -> None:
    config = load(
        """\
        models:
          - name: local
            provider: llamafile
            llamafileCommand: /opt/models/qwen.llamafile --server --nobrowser
            template: chatml
            contextLength: 4096
            defaultCompletionOptions:
              contextLength: 2048  # the model's own contextLength wins
        """
    )
    (model,) = config.models
    assert model.llamafile_command == "/opt/models/qwen.llamafile --server --nobrowser"
    assert (model.template, model.context_length) == ("chatml", 4096)


def test_continue_completion_options_without_meaning_here_are_quiet() -> None:
    config = load(
        """\
        models:
          - name: m
            provider: openai
            apiBase: http://localhost:8080/v1
            defaultCompletionOptions: {stream: true, n: 1, reasoning: false, promptCaching: true, keepAlive: 60, maxTokens: 64}
            capabilities: [tool_use]
            cacheBehavior: {cacheSystemMessage: true}
            useLegacyCompletionsEndpoint: true
        """
    )
    assert config.warnings == ()
    assert config.models[0].completion_options.max_tokens == 64
    assert config.models[0].use_legacy_completions_endpoint is True


# --- what cannot work offline ---------------------------------------------------------------


def test_hub_blocks_are_skipped_with_a_warning_at_their_line() -> None:
    config = load(
        """\
        models:
          - uses: anthropic/claude-3-7-sonnet
            with:
              ANTHROPIC_API_KEY: ${{ secrets.ANTHROPIC_API_KEY }}
          - name: local
            provider: llamafile
        rules:
          - uses: continuedev/python-rules
        prompts:
          - uses: continuedev/write-tests
        """
    )
    assert [model.title for model in config.models] == ["local"]
    assert [(w.line, w.message.split(":")[0]) for w in config.warnings] == [
        (2, "models[0].uses"),
        (8, "rules[0].uses"),
        (10, "prompts[0].uses"),
    ]
    assert "Continue Hub, which llamafile-ls cannot fetch" in config.warnings[0].message
    assert "anthropic/claude-3-7-sonnet" in config.warnings[0].message


def test_only_hub_models_is_an_error_that_says_so() -> None:
    error = fails("models:\n  - uses: openai/gpt-4o\n")
    assert error.line == 2
    assert "every model is a `uses:` block of the Continue Hub" in error.reason


def test_a_secret_is_named_at_its_line_and_never_sent() -> None:
    config = load(
        """\
        models:
          - name: gateway
            provider: openai
            model: gpt-4o-mini
            apiBase: http://localhost:4000/v1
            apiKey: ${{ secrets.OPENAI_API_KEY }}
            requestOptions:
              headers:
                X-Team: platform
                X-Token: "${{ secrets.TEAM_TOKEN }}"
        """
    )
    (model,) = config.models
    assert model.api_key is None
    assert model.request_options.headers == {"X-Team": "platform"}
    key, header = config.warnings
    assert key.line == 6 and key.message.startswith(
        "models[0].apiKey: ${{ secrets.OPENAI_API_KEY }} is a Continue secret"
    )
    assert "write the key itself as apiKey" in key.message and "no API key is sent" in key.message
    assert header.line == 10 and "models[0].requestOptions.headers.X-Token" in header.message


def test_an_api_key_written_out_is_used_and_never_shown() -> None:
    error = fails(
        """\
        models:
          - name: m
            provider: openai
            apiKey: "sk-secret 123"
        """
    )
    assert error.line == 4
    assert "sk-secret" not in str(error)
    assert "models[0].apiKey: contains whitespace" in error.reason


# --- faults, at their line ------------------------------------------------------------------


def test_a_syntax_error_names_its_line_and_column() -> None:
    error = fails(
        """\
        models:
          - name: m
            provider: openai
           apiBase: http://localhost:8080/v1
        """
    )
    assert (error.file, error.line) == ("/home/u/.continue/config.yaml", 4)
    assert error.column is not None
    assert error.reason.startswith("invalid YAML:")
    assert str(error).startswith(f"/home/u/.continue/config.yaml:4:{error.column}: invalid YAML")


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        (
            "models:\n  - name: m\n    provider: openai\n    apiBase: [http://x]\n",
            4,
            14,
            "models[0].apiBase: expected a string, got ['http://x']",
        ),
        (
            "models:\n  - name: m\n    defaultCompletionOptions:\n      maxTokens: lots\n",
            4,
            18,
            "models[0].defaultCompletionOptions.maxTokens: expected an integer, got 'lots'",
        ),
        (
            "models:\n  - name: m\n    requestOptions:\n      timeout: -1\n",
            4,
            16,
            "models[0].requestOptions.timeout: must be > 0, got -1.0",
        ),
        (
            "models:\n  - uses: a/b\n  - name: m\n    apiBase: ftp://x\n",
            4,
            14,
            "models[1].apiBase: must be an http:// or https:// URL, e.g. http://localhost:8080",
        ),
        ("models:\n  - name: m\n    contextLength: 8\n", 3, 20, "models[0].contextLength: must be >= 16, got 8"),
        ("models: {name: m}\n", 1, 9, "models: expected a list of models, got {'name': 'm'}"),
        ("- name: m\n", 1, 1, "config.yaml must be a mapping (name:, models:, …), not a list"),
        (
            "name: x\n",
            1,
            1,
            "no models list; add one, e.g. models: [{name: llamafile, provider: llamafile, model: mistral-7b}]",
        ),
    ],
)
def test_a_wrong_value_names_its_yaml_line(text: str, line: int, column: int, message: str) -> None:
    error = fails(text)
    assert (error.line, error.column, error.reason) == (line, column, message)


def test_an_unsupported_handlebars_template_is_refused_at_its_line() -> None:
    error = fails(
        """\
        models:
          - name: m
            promptTemplates:
              edit: |
                Context:
                {{#each contextItems}}{{this}}{{/each}}
                {{{codeToEdit}}}
        """
    )
    assert error.line == 6
    assert "{{#each contextItems}} on line 2 of the template uses the block helper #each" in error.reason


def test_a_broken_prompt_is_skipped_with_a_warning_at_its_line() -> None:
    config = load(
        """\
        models: [{name: m}]
        prompts:
          - name: partial
            prompt: "{{> header}} explain"
          - name: fine
            prompt: Explain it.
        """
    )
    assert [command.name for command in config.custom_commands] == ["fine"]
    (warning,) = config.warnings
    assert warning.line == 4
    assert "is a partial, which is not supported" in warning.message and warning.message.endswith("it is skipped")


def test_a_template_variable_that_does_not_exist_is_named() -> None:
    error = fails("models:\n  - name: m\n    promptTemplates:\n      edit: 'Fix {{{currentFile}}}'\n")
    assert error.line == 4
    assert "uses {{currentFile}}, which is not a template variable" in error.reason


def test_an_empty_file_says_what_it_needs() -> None:
    for text in ("", "# only a comment\n", "---\n", "~\n"):
        error = fails(text)
        assert error.reason.startswith("the config is empty; it needs at least models:")


# --- which format -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "text", "expected"),
    [
        ("/a/config.yaml", "{}", True),
        ("/a/config.YML", "", True),
        ("/a/config.json", "models: []", False),
        ("/a/config", '{"models": []}', False),
        ("/a/config", "// comment\n{}", False),
        ("/a/config", "\ufeff  models: []", True),
        (None, "name: x\nmodels: []", True),
    ],
)
def test_the_format_is_told_by_extension_then_by_content(source: str | None, text: str, expected: bool) -> None:
    assert is_yaml(source, text) is expected


def test_a_yaml_config_with_any_name_is_read_as_yaml() -> None:
    config = parse_config_text("models:\n  - name: m\n    provider: llamafile\n", "/etc/llamafile-ls.conf")
    assert config.models[0].title == "m"
    json_config = parse_config_text('{"models": [{"title": "j"}]}', "/etc/llamafile-ls.conf")
    assert json_config.models[0].title == "j"


def test_the_readme_config_yaml_loads_without_a_warning() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"<!-- config-yaml -->\n```yaml\n(.*?)```", readme, re.DOTALL)
    config = parse_config_yaml(block, "config.yaml")
    assert config.warnings == ()
    assert [model.title for model in config.models] == ["Qwen2.5-Coder 7B", "Autocomplete"]
    assert config.model_for("autocomplete").title == "Autocomplete"
    assert config.custom_commands[0].output == "document"


def test_top_level_request_options_apply_to_every_model() -> None:
    config = load(
        """\
        requestOptions:
          timeout: 12
          headers: {X-Team: core}
        models:
          - name: a
          - name: b
            requestOptions: {timeout: 3}
        """
    )
    a, b = config.models
    assert (a.request_options.timeout, b.request_options.timeout) == (12.0, 3.0)
    assert a.request_options.headers == b.request_options.headers == {"X-Team": "core"}
    assert config.warnings == ()


def test_the_yaml_parser_loads_only_for_a_yaml_config() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from llamafile_ls import config_file, server\n"
        'config_file.parse_config_text(\'{"models": [{"title": "j"}]}\', \'config.json\')\n'
        "assert not any(name.startswith('ruamel') for name in sys.modules), 'loaded for JSON'\n"
        "config_file.parse_config_text('models: [{name: y}]', 'config.yaml')\n"
        "assert 'ruamel.yaml' in sys.modules\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
