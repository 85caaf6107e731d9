"""The JSON Schema the VS Code extension gives the YAML extension for config.yaml."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from llamafile_ls import yaml_document
from llamafile_ls.schema import config_yaml_schema
from tests.test_config_yaml import LLAMA_CPP_OPENAI, MIXED

COMMITTED = Path(__file__).resolve().parent.parent / "client-vscode" / "schemas" / "config-yaml.schema.json"


def test_the_committed_schema_is_the_generated_one() -> None:
    # The drift check: client-vscode/scripts/schema.mjs --write regenerates it.
    assert COMMITTED.read_text() == json.dumps(config_yaml_schema(), indent=2) + "\n"


@pytest.mark.parametrize("text", [LLAMA_CPP_OPENAI, MIXED])
def test_configs_people_write_are_valid(text: str) -> None:
    jsonschema.validate(yaml_document.parse(textwrap.dedent(text)).value, config_yaml_schema())


def test_hub_blocks_rules_and_prompts_are_valid() -> None:
    config = {
        "name": "a",
        "version": "1",
        "models": [
            {"uses": "anthropic/claude"},
            {"name": "m", "provider": "llamafile", "llamafileCommand": "/m --server"},
        ],
        "rules": ["be brief", {"name": "r", "rule": "x", "globs": "*.py"}],
        "prompts": [{"name": "p", "prompt": "explain"}],
        "context": [{"provider": "code"}],
    }
    jsonschema.validate(config, config_yaml_schema())


@pytest.mark.parametrize(
    "model",
    [
        {"name": "m", "contextLength": "big"},
        {"name": "m", "defaultCompletionOptions": {"maxTokens": "9"}},
        {"name": "m", "requestOptions": {"verifySsl": "no"}},
        {"name": "m", "roles": ["chef"]},
        {"provider": "openai"},  # no name
    ],
)
def test_wrong_values_are_flagged(model: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"models": [model]}, config_yaml_schema())


def test_every_model_key_is_described_in_continue_spelling() -> None:
    model = config_yaml_schema()["properties"]["models"]["items"]["anyOf"][1]["properties"]
    assert "apiBase" in model and "api_base" not in model and "title" not in model
    assert all(prop.get("description") for prop in model.values())
