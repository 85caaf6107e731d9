from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamafile_ls import config_file
from llamafile_ls.config import ModelConfig, default_config, parse_config
from llamafile_ls.errors import ConfigError

SEED_EXAMPLE = """{
  // the seed's example, with everything the provider page documents
  "models": [
    {
      "title": "Llamafile",
      "provider": "llamafile",
      "model": "mistral-7b",
      "llamafile_command": "/home/me/mistral-7b.llamafile --server --nobrowser",
      "llama_cpp_args": {"stop": ["[INST]"], "mirostat": 2},
      "system_message": "Be brief.",
      "context_length": 4096,
      "completion_options": {"temperature": 0.2, "top_p": 0.9, "top_k": 40,
        "presence_penalty": 0.1, "frequency_penalty": 0.2, "stop": ["###"], "max_tokens": 500},
      "request_options": {"timeout": 60, "verify_ssl": false, "ca_bundle_path": "/ca.pem",
        "proxy": "http://proxy:3128", "headers": {"X-Team": "a"}},
      "prompt_templates": {"edit": "{{{code_to_edit}}} / {{{user_input}}}"},
      "api_key": "sk-secret",
      "api_base": "http://localhost:9000",
      "unique_id": "m1",
    },
  ],
}"""

CAMEL_EXAMPLE = """{
  "models": [{
    "title": "Llamafile", "provider": "llamafile", "model": "mistral-7b",
    "llamafileCommand": "/home/me/mistral-7b.llamafile --server --nobrowser",
    "llamaCppArgs": {"stop": ["[INST]"], "mirostat": 2},
    "systemMessage": "Be brief.", "contextLength": 4096,
    "completionOptions": {"temperature": 0.2, "topP": 0.9, "topK": 40, "presencePenalty": 0.1,
      "frequencyPenalty": 0.2, "stop": ["###"], "maxTokens": 500},
    "requestOptions": {"timeout": 60, "verifySsl": false, "caBundlePath": "/ca.pem",
      "proxy": "http://proxy:3128", "headers": {"X-Team": "a"}},
    "promptTemplates": {"edit": "{{{code_to_edit}}} / {{{user_input}}}"},
    "apiKey": "sk-secret", "apiBase": "http://localhost:9000", "uniqueId": "m1"
  }]
}"""


def test_every_documented_property_in_both_spellings_means_the_same() -> None:
    snake = parse_config(SEED_EXAMPLE, "c.json")
    camel = parse_config(CAMEL_EXAMPLE, "c.json")
    assert snake.models == camel.models
    assert snake.warnings == camel.warnings == ()
    model = snake.models[0]
    assert model.api_base == "http://localhost:9000"
    assert model.context_length == 4096
    assert model.completion_options.max_tokens == 500
    assert model.completion_options.top_k == 40
    assert model.completion_options.stop == ("###",)
    assert model.request_options.verify_ssl is False
    assert model.request_options.headers == {"X-Team": "a"}
    assert model.llama_cpp_args == {"stop": ["[INST]"], "mirostat": 2}
    assert model.prompt_templates["edit"].startswith("{{{code_to_edit}}}")
    assert model.llamafile_command is not None and model.system_message == "Be brief."


def test_defaults_are_the_documented_ones() -> None:
    model = parse_config('{"models": [{"title": "t", "provider": "llamafile", "model": "m"}]}').models[0]
    assert model.api_base == "http://localhost:8080"
    assert model.context_length == 2048
    assert model.completion_options.max_tokens is None  # sized per request (budget.answer_tokens)
    assert model.request_options.timeout == 300
    assert model.llama_cpp_args == {"stop": ["[INST]"]}


def test_api_key_never_appears_in_repr() -> None:
    config = parse_config(SEED_EXAMPLE)
    assert "sk-secret" not in repr(config)
    assert "sk-secret" not in repr(config.models[0])


def test_unknown_keys_warn_with_their_line_and_a_suggestion() -> None:
    text = '{\n  "models": [{"title": "t",\n    "contextLenght": 4096}],\n  "colour": "red"\n}'
    config = parse_config(text, "c.json")
    messages = [(w.line, w.message) for w in config.warnings]
    assert (
        3,
        "models[0].contextLenght: unknown key 'contextLenght' is ignored; did you mean 'contextLength'?",
    ) in messages
    assert any(line == 4 and "colour" in message for line, message in messages)
    assert config.models[0].context_length == 2048


def test_continue_keys_that_mean_nothing_here_are_quiet() -> None:
    text = json.dumps(
        {"models": [{"title": "t", "roles": ["edit"]}], "tabAutocompleteModel": {}, "contextProviders": []}
    )
    assert parse_config(text).warnings == ()


def test_other_providers_are_skipped_with_a_warning() -> None:
    text = json.dumps(
        {
            "models": [
                {"title": "a", "provider": "anthropic", "model": "x"},
                {"title": "l", "provider": "llamafile"},
            ]
        }
    )
    config = parse_config(text)
    assert [m.title for m in config.models] == ["l"]
    assert "provider 'anthropic' is not served" in config.warnings[0].message


def test_every_local_server_kind_is_a_provider_with_its_usual_address() -> None:
    text = json.dumps(
        {
            "models": [
                {"title": "lf", "provider": "llamafile"},
                {"title": "cpp", "provider": "llama.cpp"},
                {"title": "oai", "provider": "openai", "apiBase": "http://localhost:8080/v1"},
                {"title": "lms", "provider": "lmstudio"},
                {"title": "oll", "provider": "ollama"},
                {"title": "oll2", "provider": "ollama", "apiBase": "http://gpu-box:11434/"},
                {"title": "vl", "provider": "vllm", "useLegacyCompletionsEndpoint": True},
            ]
        }
    )
    config = parse_config(text)
    assert config.warnings == ()
    assert {m.title: m.api_base for m in config.models} == {
        "lf": "http://localhost:8080",
        "cpp": "http://localhost:8080",
        "oai": "http://localhost:8080/v1",
        "lms": "http://localhost:1234/v1",
        "oll": "http://localhost:11434",  # Ollama's own API, at the server's root
        "oll2": "http://gpu-box:11434/",
        "vl": "http://localhost:8000/v1",
    }
    assert [m.use_legacy_completions_endpoint for m in config.models] == [False] * 6 + [True]


def test_top_level_options_apply_to_every_model_and_models_override_them() -> None:
    text = json.dumps({
        "systemMessage": "shared",
        "completionOptions": {"temperature": 0.5, "maxTokens": 100},
        "models": [{"title": "a"}, {"title": "b", "completionOptions": {"maxTokens": 9}, "systemMessage": "own"}],
    })  # fmt: skip
    a, b = parse_config(text).models
    assert (a.completion_options.temperature, a.completion_options.max_tokens, a.system_message) == (
        0.5,
        100,
        "shared",
    )
    assert (b.completion_options.temperature, b.completion_options.max_tokens, b.system_message) == (
        0.5,
        9,
        "own",
    )


def test_comments_and_trailing_commas_are_allowed() -> None:
    text = '{\n // a comment\n "models": [ /* block\n comment */ {"title": "t", "model": "m // not a comment",},],\n}'
    assert parse_config(text).models[0].model == "m // not a comment"


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        (
            '{\n  "models": [\n    {"title": "t" "model": "m"}\n  ]\n}',
            3,
            19,
            "invalid JSON: Expecting ',' delimiter",
        ),
        (
            '{"models": [\n  {"title": "t",\n   "contextLength": "big"}]}',
            3,
            21,
            "models[0].context_length: expected an integer, got 'big'",
        ),
        (
            '{"models": [\n  {"title": "t",\n   "completionOptions": {"maxTokens": 0}}]}',
            3,
            39,
            "max_tokens: must be >= 1, got 0",
        ),
        (
            '{"models": [\n  {"title": "t",\n   "requestOptions": {"verifySsl": "no"}}]}',
            3,
            36,
            "verify_ssl: expected true or false, got 'no'",
        ),
        (
            '{"models": [\n  {"title": "t",\n   "completionOptions": {"stop": [1]}}]}',
            3,
            34,
            "stop: expected a list of strings",
        ),
        ('{"models": [\n  {"provider": "llamafile"}]}', 2, 3, "models[0].title: is required"),
        (
            '{"models": [\n  {"title": "t",\n   "template": "llama9"}]}',
            3,
            16,
            "unknown template 'llama9'; use one of",
        ),
        (
            '{"models": [\n  {"title": "t",\n   "promptTemplates": {"edit": "{{#open}}"}}]}',
            3,
            32,
            "prompt template 'edit' of model 't' does not parse",
        ),
        (
            '{"models": [\n  {"title": "t",\n   "promptTemplates": {"edit": "{{{code_too_edit}}}"}}]}',
            3,
            32,
            "uses {{code_too_edit}}, which is not a template variable",
        ),
        ('{"models": 5}', 1, 12, "models: expected a list of models"),
        (
            '{"models": [{"title": "o", "provider": "anthropic"}]}',
            1,
            12,
            "no model with a provider llamafile-ls serves (llama.cpp, llama_cpp, llamacpp, llamafile, lmstudio",
        ),
        ("{}", 1, 1, 'no "models" list'),
    ],
)
def test_errors_name_file_line_column_path_and_what_was_expected(text: str, line: int, column: int, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "/home/me/.continue/config.json")
    error = caught.value
    assert (error.file, error.line, error.column) == ("/home/me/.continue/config.json", line, column)
    assert words in str(error)
    assert str(error).startswith(f"/home/me/.continue/config.json:{line}:{column}: ")


def test_model_is_picked_by_title_and_the_first_is_the_default() -> None:
    config = parse_config(json.dumps({"models": [{"title": "a"}, {"title": "b"}]}))
    assert config.model().title == "a"
    assert config.model("b").title == "b"
    with pytest.raises(ConfigError, match="no model titled 'c' in the config; the models are: 'a', 'b'"):
        config.model("c")


def test_no_file_at_the_default_place_gives_the_builtin_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(config_file.ENV_VAR, raising=False)
    config = config_file.load_config()
    assert config == default_config()
    assert config.models[0] == ModelConfig(title="llamafile", model="llamafile")
    assert config.models[0].api_base == "http://localhost:8080"


def test_precedence_cli_then_initialization_options_then_env_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = {}
    for name in ("cli", "init", "env", "home"):
        path = tmp_path / name / "config.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"models": [{"title": name}]}))
        paths[name] = str(path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / ".continue").mkdir()
    Path(paths["home"]).rename(tmp_path / "home" / ".continue" / "config.json")
    monkeypatch.setenv(config_file.ENV_VAR, paths["env"])
    assert config_file.load_config(paths["cli"], paths["init"]).models[0].title == "cli"
    assert config_file.load_config(None, paths["init"]).models[0].title == "init"
    assert config_file.load_config().models[0].title == "env"
    monkeypatch.delenv(config_file.ENV_VAR)
    assert config_file.load_config().models[0].title == "home"


def test_a_named_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config_file.load_config(str(tmp_path / "nope.json"))


def test_many_warnings_blank_the_text_once_and_index_each_object_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from llamafile_ls import jsonc

    calls = {"blank": 0, "members": 0}
    blank, members = jsonc.blank_comments, jsonc.Document._members

    def counting_blank(text: str) -> str:
        calls["blank"] += 1
        return blank(text)

    def counting_members(self: jsonc.Document, offset: int) -> list[tuple[str, int]]:
        calls["members"] += 1
        return members(self, offset)

    monkeypatch.setattr(jsonc, "blank_comments", counting_blank)
    monkeypatch.setattr(jsonc.Document, "_members", counting_members)
    unknown = ",\n".join(f'  /* {i} */ "unknown{i}": {{"x": [1, 2, 3]}}' for i in range(200))
    config = parse_config('{\n  "models": [{"title": "t", "colour": 1, "size": 2}],\n' + unknown + "\n}")
    assert len(config.warnings) == 202
    assert [(w.line, w.column) for w in config.warnings[::100]] == [(3, 23), (103, 27), (2, 39)]
    assert calls == {"blank": 1, "members": 3}  # the top object, the models list, the model


def test_explicit_paths_are_made_absolute_and_a_relative_init_path_needs_a_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("config.json").write_text(json.dumps({"models": [{"title": "cwd"}]}))
    config = config_file.load_config("config.json")
    assert config.source == str(tmp_path / "config.json")
    with pytest.raises(ConfigError, match="configPath must be an absolute path"):
        config_file.load_config(None, "config.json")
    assert config_file.load_config(None, "config.json", root=str(tmp_path)).models[0].title == "cwd"


def test_a_suggestion_is_spelled_like_the_key_it_corrects() -> None:
    text = '{"models": [{"title": "t", "api_bse": "http://x:1", "apiBse": "http://x:1"}]}'
    messages = [w.message for w in parse_config(text).warnings]
    assert any(m.endswith("unknown key 'api_bse' is ignored; did you mean 'api_base'?") for m in messages), messages
    assert any(m.endswith("unknown key 'apiBse' is ignored; did you mean 'apiBase'?") for m in messages), messages
