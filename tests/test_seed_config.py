"""A config.json as the seed (Continue's Python server, continuedev 0.1.104) wrote it loads
here and behaves as the seed did where the seed was right: which model edits, which prompt
family, a temperature sent, an answer sized to the context.

tests/seed/config.json was written by the seed's own code (SerializedContinueConfig): its
default config.json, then a llamafile model and a llama.cpp Phind-CodeLlama added, the first
chosen for every role and the second for edit, as its UI does. tests/seed/default_config.json
is its default config.json as it shipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from support.fakeserver import FakeModelServer, Request, completion

from llamafile_ls import actions, budget, prompts
from llamafile_ls.config import ModelConfig, parse_config
from llamafile_ls.edit import DEFAULT_TEMPERATURE, EditRequest, run_edit
from llamafile_ls.errors import ConfigError
from llamafile_ls.providers import registry

SEED = Path(__file__).resolve().parent / "seed"


def seed_config() -> str:
    return (SEED / "config.json").read_text()


def test_the_seeds_config_loads_with_its_roles_and_one_note_about_its_slash_commands() -> None:
    config = parse_config(seed_config(), "config.json")
    # The free trial models (a service that is gone) are skipped without a word.
    assert [m.title for m in config.models] == ["Mistral", "Phind CodeLlama"]
    assert [w.message.split(":")[0] for w in config.warnings] == ["slash_commands"]
    assert "every built-in command is offered" in config.warnings[0].message
    # As in the seed: model_roles.edit edits, default serves chat and summarize.
    assert config.model_for("edit").title == "Phind CodeLlama"  # type: ignore[union-attr]
    assert config.model_for("chat").title == "Mistral"  # type: ignore[union-attr]
    assert config.model_for("summarize").title == "Mistral"  # type: ignore[union-attr]
    assert config.model_for("autocomplete") is None
    mistral, phind = config.models
    assert mistral.context_length == 4096 and phind.api_base == "http://localhost:8081"
    assert prompts.family_for(phind.template, phind.model, phind.title).name == "phind"
    assert prompts.family_for(mistral.template, mistral.model, mistral.title).name == "llama2"


def test_the_seeds_slash_list_hides_no_built_in_command_and_its_example_test_gives_way() -> None:
    config = parse_config(seed_config())
    offered = {action.name for action in actions.offered(config)}
    assert offered == actions.SLASH_NAMES  # /docstring, /fix, /test, /explain, /types too
    assert actions.find(config, "test").output == "file"  # the built-in /test, not the seed's chat one


def test_a_users_own_slash_list_still_limits_what_is_offered() -> None:
    text = json.dumps({"models": [{"title": "m"}], "slash_commands": [{"name": "comment"}, {"name": "fix"}]})
    config = parse_config(text)
    assert config.warnings == ()
    assert [action.name for action in actions.offered(config)] == ["comment", "fix"]
    # A list of the seed's steps with one of ours mixed in is the user's own.
    mixed = json.dumps({"models": [{"title": "m"}], "slash_commands": [
        {"name": "comment", "step": "CommentCodeStep"}, {"name": "fix"}]})  # fmt: skip
    assert [action.name for action in actions.offered(parse_config(mixed))] == ["comment", "fix"]


def test_the_seeds_default_config_has_no_model_llamafile_ls_serves() -> None:
    with pytest.raises(ConfigError, match="no model with a provider llamafile-ls serves"):
        parse_config((SEED / "default_config.json").read_text())


def test_every_top_level_key_of_the_seed_is_accepted_quietly() -> None:
    seed_keys = {
        "disallowed_steps": [], "allow_anonymous_telemetry": False, "system_message": "Be brief.",
        "retrieval_settings": {"n_retrieve": 50, "n_final": 10, "use_reranking": True},
        "context_providers": [{"name": "terminal", "params": {}}], "user_token": "u",
        "data_server_url": "https://example.invalid", "disable_summaries": True, "disable_indexing": True,
        "completion_options": {"temperature": 0.5, "top_p": 0.9, "max_tokens": 1023},
        "model_roles": {"default": "m"},
    }  # fmt: skip
    config = parse_config(json.dumps({"models": [{"title": "m", "provider": "llamafile", "model": "m"}], **seed_keys}))
    assert config.warnings == ()
    assert config.models[0].system_message == "Be brief."


def test_real_typos_are_still_warned_about() -> None:
    text = json.dumps({"models": [{"title": "m", "completionOptions": {"tempreature": 0.2}}], "model_role": {}})
    messages = [w.message for w in parse_config(text).warnings]
    assert any("'model_role'" in m and "did you mean 'model_roles'" in m for m in messages)
    assert any("'tempreature'" in m and "did you mean 'temperature'" in m for m in messages)


@pytest.mark.parametrize(
    ("name", "family"),
    [("phind-codellama-34b", "phind"), ("claude-2", "anthropic"), ("codellama-13b", "llama2"),
     ("mistral-7b", "llama2"), ("llama2-7b", "llama2"), ("zephyr-7b", "zephyr"), ("deepseek-7b", "deepseek"),
     ("wizardcoder-13b", "alpaca")],
)  # fmt: skip
def test_the_seeds_model_names_get_the_seeds_prompt_family(name: str, family: str) -> None:
    assert prompts.family_for(None, name).name == family


@pytest.mark.parametrize("template", ["llama2", "alpaca", "zephyr", "phind", "anthropic", "chatml", "deepseek"])
def test_every_template_the_seed_knew_is_accepted(template: str) -> None:
    config = parse_config(json.dumps({"models": [{"title": "m", "template": template}]}))
    assert config.models[0].template == template and config.warnings == ()


# --- what an edit sends -----------------------------------------------------------------------

SOURCE = "".join(f"value_{i} = {i}\n" for i in range(40))


def echo(request: Request) -> Any:
    """A llama.cpp server that answers with the selection unchanged but for its first line."""
    return completion("value_0 = 100\n", "value_1 = 1\n")


async def edit_through(server: FakeModelServer, model: ModelConfig, first: int = 0, last: int = 2) -> dict[str, Any]:
    server.route("/completion", echo)
    provider = registry.create(attrs.evolve(model, api_base=server.url))
    try:
        await run_edit(EditRequest(SOURCE, first, last, "make value_0 bigger", "a.py", "python"), model, provider)
    finally:
        await provider.aclose()
    body: dict[str, Any] = [r for r in server.requests if r.path == "/completion"][-1].body
    return body


async def test_an_edit_with_the_seeds_config_sends_a_temperature_and_an_answer_sized_to_the_context(
    fake_server: FakeModelServer,
) -> None:
    config = parse_config(seed_config())
    mistral = config.model_for("chat")
    assert mistral is not None and mistral.completion_options.temperature is None
    body = await edit_through(fake_server, mistral)
    assert body["temperature"] == DEFAULT_TEMPERATURE
    # Far more than the fixed 1023 of before: the room the 4096-token context has left, up to the cap.
    prompt_tokens = budget.estimate_tokens(body["prompt"])
    assert body["n_predict"] == min(budget.ANSWER_CAP, 4096 - 2 * prompt_tokens - budget.SAFETY_TOKENS)
    assert body["n_predict"] > 1023


async def test_the_configs_own_temperature_and_max_tokens_are_honoured(fake_server: FakeModelServer) -> None:
    text = json.dumps({"models": [{"title": "m", "model": "mistral-7b", "completionOptions": {
        "temperature": 0.7, "maxTokens": 300}}]})  # fmt: skip
    body = await edit_through(fake_server, parse_config(text).models[0])
    assert (body["temperature"], body["n_predict"]) == (0.7, 300)


async def test_a_large_selection_gets_room_for_its_rewrite(fake_server: FakeModelServer) -> None:
    """A selection whose rewrite needs more than 1023 tokens is not refused up front: the
    prompt is fitted to leave room for twice the selection."""
    text = json.dumps({"models": [{"title": "m", "model": "mistral-7b", "contextLength": 8192}]})
    model = parse_config(text).models[0]
    big = "".join(f"value_{i} = {i} * {i}\n" for i in range(300))
    fake_server.route("/completion", echo)
    provider = registry.create(attrs.evolve(model, api_base=fake_server.url))
    try:
        await run_edit(EditRequest(big, 0, 300, "rename", "a.py", "python"), model, provider)
    finally:
        await provider.aclose()
    body = [r for r in fake_server.requests if r.path == "/completion"][-1].body
    needed = budget.rewrite_tokens(big.removesuffix("\n"))
    assert needed > 1023 and body["n_predict"] >= needed


def test_the_answer_budget_rule() -> None:
    fitted = budget.FittedPrompt(prompt=None, tokens=1000, prefix_lines=0, suffix_lines=0, counted=True)  # type: ignore[arg-type]
    assert budget.answer_tokens(4096, fitted, 300) == 4096 - 1000 - budget.SAFETY_TOKENS
    assert budget.answer_tokens(32768, fitted, 300) == budget.ANSWER_CAP  # capped
    assert budget.answer_tokens(32768, fitted, 6000) == 6000  # never below what the rewrite needs
    estimated = attrs.evolve(fitted, counted=False)
    assert budget.answer_tokens(4096, estimated, 300) == 4096 - 2000 - budget.SAFETY_TOKENS
