from __future__ import annotations

import json

import jsonschema
import pytest

from llamafile_ls import jsonc
from llamafile_ls.schema import config_schema
from tests.test_config import CAMEL_EXAMPLE, SEED_EXAMPLE


@pytest.mark.parametrize("text", [SEED_EXAMPLE, CAMEL_EXAMPLE])
def test_the_documented_configs_are_valid_in_both_spellings(text: str) -> None:
    jsonschema.validate(jsonc.loads(text), config_schema())


@pytest.mark.parametrize(
    "model",
    [{"title": "t", "contextLength": "big"}, {"title": "t", "completionOptions": {"maxTokens": "9"}},
     {"title": "t", "template": "llama9"}, {"title": "t", "requestOptions": {"verifySsl": "no"}}],
)  # fmt: skip
def test_wrong_values_are_flagged(model: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"models": [model]}, config_schema())


def test_the_schema_is_plain_json_and_describes_every_field() -> None:
    schema = json.loads(json.dumps(config_schema()))
    model = schema["properties"]["models"]["items"]["properties"]
    assert model["apiBase"] == model["api_base"]
    assert all(prop.get("description") for prop in model.values())
