"""Property: a config written in Continue's config.yaml gives the same config as the same
settings written in config.json."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from llamafile_ls.config import parse_config
from llamafile_ls.config_yaml import parse_config_yaml

_words = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), min_size=1, max_size=20
).filter(lambda text: text.strip() == text and "{" not in text and "}" not in text)
_options = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2, allow_nan=False),
        "topP": st.floats(0, 1, allow_nan=False),
        "topK": st.integers(1, 100),
        "maxTokens": st.integers(1, 100_000),
        "stop": st.lists(_words, max_size=3),
        "presencePenalty": st.floats(-2, 2, allow_nan=False),
    },
)
_request = st.fixed_dictionaries(
    {},
    optional={
        "timeout": st.floats(0.5, 10_000, allow_nan=False),
        "verifySsl": st.booleans(),
        "headers": st.dictionaries(
            st.from_regex(r"X-[A-Za-z]{1,8}", fullmatch=True),
            st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
            max_size=2,
        ),
    },
)
_model = st.fixed_dictionaries(
    {"name": _words},
    optional={
        "provider": st.sampled_from(["llamafile", "openai", "ollama", "llama.cpp"]),
        "model": _words,
        "apiBase": st.sampled_from(["http://localhost:8080", "http://127.0.0.1:8080/v1", "https://gw.example:4000/v1"]),
        "roles": st.lists(st.sampled_from(["chat", "edit", "apply", "autocomplete", "embed"]), unique=True, max_size=3),
        "contextLength": st.integers(16, 200_000),
        "defaultCompletionOptions": _options,
        "requestOptions": _request,
        "useLegacyCompletionsEndpoint": st.booleans(),
    },
)
_prompt = st.fixed_dictionaries(
    {"name": st.from_regex(r"[a-z]{1,10}", fullmatch=True), "prompt": _words}, optional={"description": _words}
)


def _unique_names(models: list[dict[str, Any]]) -> bool:
    names = [model["name"] for model in models]
    return len(set(names)) == len(names)


def as_json(config: dict[str, Any]) -> str:
    """The same settings in config.json's words."""
    models = []
    for model in config["models"]:
        entry = {("title" if key == "name" else key): value for key, value in model.items()}
        options = entry.pop("defaultCompletionOptions", None)
        if options is not None:
            entry["completionOptions"] = options
        models.append(entry)
    commands = [{**prompt, "output": "document"} for prompt in config.get("prompts", [])]
    return json.dumps({"models": models, "customCommands": commands})


def as_yaml(config: dict[str, Any]) -> str:
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False  # ruamel's parser refuses some plain scalars it emits in flow style ({a: ?0})
    yaml.dump(config, out)
    return out.getvalue()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_model, min_size=1, max_size=4).filter(_unique_names),
    st.lists(_prompt, max_size=3, unique_by=lambda prompt: prompt["name"]),
)
def test_yaml_and_json_give_the_same_config(models: list[dict[str, Any]], prompts: list[dict[str, Any]]) -> None:
    config: dict[str, Any] = {"name": "generated", "version": "1.0.0", "schema": "v1", "models": models}
    if prompts:
        config["prompts"] = prompts
    from_yaml = parse_config_yaml(as_yaml(config), "config.yaml")
    from_json = parse_config(as_json(config), "config.json")
    assert from_yaml.models == from_json.models
    assert from_yaml.custom_commands == from_json.custom_commands
    assert from_yaml.warnings == from_json.warnings == ()
