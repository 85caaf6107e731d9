"""Which model serves which role: the seed's model_roles, Continue's tabAutocompleteModel,
real configs people post, the session's pick per request (edits, /explain, selectModel by
role), and Continue's sampling options in each provider's request body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from support.fakeserver import FakeModelServer, Reply, Request, completion, sse
from support.lsp_editor import capabilities, edit_args, execute, start, stop

from llamafile_ls.config import parse_config
from llamafile_ls.edit import DEFAULT_TEMPERATURE, EditRequest, run_edit
from llamafile_ls.providers import registry


def titles(config_text: str) -> dict[str, str | None]:
    config = parse_config(config_text)
    picked = {role: config.model_for(role) for role in ("edit", "chat", "summarize", "autocomplete")}
    return {role: model.title if model else None for role, model in picked.items()}


def test_without_roles_the_first_model_serves_everything_but_autocomplete() -> None:
    text = json.dumps({"models": [{"title": "a"}, {"title": "b"}]})
    assert titles(text) == {"edit": "a", "chat": "a", "summarize": "a", "autocomplete": None}


def test_model_roles_default_serves_the_roles_left_unset() -> None:
    text = json.dumps({"models": [{"title": "a"}, {"title": "b"}, {"title": "c"}],
                       "model_roles": {"default": "b", "summarize": "c"}})  # fmt: skip
    assert titles(text) == {"edit": "b", "chat": "b", "summarize": "c", "autocomplete": None}
    text = json.dumps({"models": [{"title": "a"}, {"title": "b"}], "modelRoles": {"default": "a", "edit": "b"}})
    assert titles(text) == {"edit": "b", "chat": "a", "summarize": "a", "autocomplete": None}


def test_model_roles_that_name_no_served_model_are_warned_about_and_fall_back() -> None:
    text = json.dumps({"models": [{"title": "GPT-4", "provider": "openai-free-trial", "model": "gpt-4"},
                                  {"title": "a"}, {"title": "b"}],
                       "model_roles": {"default": "GPT-4", "edit": "nope", "chatty": "a"}})  # fmt: skip
    config = parse_config(text)
    messages = [w.message for w in config.warnings]
    assert len(messages) == 3
    assert "model_roles.default: names the model 'GPT-4', but its provider 'openai-free-trial'" in messages[0]
    assert "model_roles.edit: names the model 'nope', but no model has that title" in messages[1]
    assert "unknown role 'chatty'" in messages[2]
    assert titles(text)["edit"] == "a"


def test_tab_autocomplete_model_is_one_more_model_and_never_the_edit_model() -> None:
    text = json.dumps({
        "models": [{"title": "chat", "provider": "ollama", "model": "llama3.1:8b"}],
        "tabAutocompleteModel": {"title": "Starcoder 3b", "provider": "openai", "model": "starcoder2:3b",
                                 "apiBase": "http://localhost:8081/v1"},
    })  # fmt: skip
    config = parse_config(text)
    assert config.warnings == ()
    assert [m.title for m in config.models] == ["chat", "Starcoder 3b"]
    tab = config.models[1]
    assert (tab.provider, tab.api_base, tab.roles) == ("openai", "http://localhost:8081/v1", ("autocomplete",))
    assert titles(text) == {"edit": "chat", "chat": "chat", "summarize": "chat", "autocomplete": "Starcoder 3b"}
    # Named like one of the models, it is that model with the role added.
    same = json.dumps({"models": [{"title": "a"}, {"title": "b"}], "tabAutocompleteModel": {"title": "b"}})
    assert [m.roles for m in parse_config(same).models] == [(), ("autocomplete",)]
    assert titles(same)["edit"] == "a"


REAL_CONFIGS = {
    # llama.cpp's llama-server behind the OpenAI provider, as its README and forums show it.
    "llama-server-as-openai": """{
      // llama-server -m qwen2.5-coder-7b-instruct-q4_k_m.gguf --port 8080
      "models": [{"title": "Qwen 7B", "provider": "openai", "model": "qwen2.5-coder-7b",
                  "apiBase": "http://localhost:8080/v1", "apiKey": "none", "contextLength": 8192}],
      "tabAutocompleteModel": {"title": "Qwen 1.5B", "provider": "openai", "model": "qwen2.5-coder-1.5b",
                               "apiBase": "http://localhost:8081/v1"},
      "tabAutocompleteOptions": {"debounceDelay": 300},
      "embeddingsProvider": {"provider": "transformers.js"},
      "allowAnonymousTelemetry": false,
    }""",
    "several-providers": """{
      "models": [
        {"title": "Llama 3.1 8B", "provider": "ollama", "model": "llama3.1:8b", "completionOptions": {"keepAlive": 1800}},
        {"title": "LM Studio", "provider": "lmstudio", "model": "deepseek-coder-v2-lite"},
        {"title": "llamafile", "provider": "llamafile", "model": "mistral-7b", "apiBase": "http://127.0.0.1:8080"},
      ],
      "tabAutocompleteModel": {"title": "Starcoder2 3b", "provider": "ollama", "model": "starcoder2:3b"},
      "embeddingsProvider": {"provider": "ollama", "model": "nomic-embed-text"},
      "contextProviders": [{"name": "code"}, {"name": "docs"}],
      "slashCommands": [{"name": "comment", "description": "Comment it"}],
    }""",
}


@pytest.mark.parametrize("name", sorted(REAL_CONFIGS))
def test_real_configs_load_quietly_with_the_right_models_picked(name: str) -> None:
    config = parse_config(REAL_CONFIGS[name])
    assert config.warnings == ()
    edit, autocomplete = config.model_for("edit"), config.model_for("autocomplete")
    assert edit is config.models[0] and autocomplete is config.models[-1]
    assert autocomplete is not None and autocomplete.roles == ("autocomplete",)


# --- Continue's sampling options in each provider's body --------------------------------------

OPTIONS = {"temperature": 0.3, "topP": 0.9, "topK": 40, "minP": 0.05, "typicalP": 0.95, "tfsZ": 0.97,
           "mirostat": 2, "mirostatTau": 4.0, "mirostatEta": 0.2, "repeatPenalty": 1.1, "repeatLastN": 64,
           "seed": 7, "presencePenalty": 0.1, "frequencyPenalty": 0.2, "keepAlive": "10m", "numThreads": 4,
           "useMmap": True, "maxTokens": 256}  # fmt: skip
LLAMA_CPP_NAMES = {"temperature": 0.3, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "typical_p": 0.95, "tfs_z": 0.97,
                   "mirostat": 2, "mirostat_tau": 4.0, "mirostat_eta": 0.2, "repeat_penalty": 1.1,
                   "repeat_last_n": 64, "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2}  # fmt: skip
NOT_SENT = {"keepAlive", "keep_alive", "numThreads", "useMmap", "num_thread", "use_mmap"}
SOURCE = "x = 1\ny = 2\n"


def openai_reply(_request: Request) -> Reply:
    return Reply(pieces=sse({"choices": [{"index": 0, "delta": {"content": "```python\nx = 10\n```"}}]},
                            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, "data: [DONE]\n\n"))  # fmt: skip


def ollama_reply(_request: Request) -> Reply:
    lines = [{"message": {"role": "assistant", "content": "```python\nx = 10\n```"}, "done": False},
             {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"}]  # fmt: skip
    return Reply(content_type="application/x-ndjson", pieces=[(json.dumps(line) + "\n").encode() for line in lines])


async def body_of(server: FakeModelServer, provider: str, path: str, options: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps({"models": [{"title": "m", "provider": provider, "model": "qwen2.5-coder",
                                   "apiBase": server.url + ("/v1" if provider == "openai" else ""),
                                   "completionOptions": options}]})  # fmt: skip
    config = parse_config(text)
    assert config.warnings == ()
    model = config.models[0]
    source = registry.create(model)
    try:
        result = await run_edit(EditRequest(SOURCE, 0, 1, "make x 10", "a.py", "python"), model, source)
    finally:
        await source.aclose()
    assert result.new_code == "x = 10"
    body: dict[str, Any] = next(r for r in server.requests if r.path == path).body
    return body


async def test_llama_cpp_completion_gets_every_option_under_llama_cpp_names(fake_server: FakeModelServer) -> None:
    fake_server.route("/completion", completion("x = 10\n"))
    body = await body_of(fake_server, "llamafile", "/completion", OPTIONS)
    assert {key: body[key] for key in LLAMA_CPP_NAMES} == LLAMA_CPP_NAMES
    assert body["n_predict"] == 256
    assert not NOT_SENT & set(body)


async def test_openai_gets_its_own_names_and_llama_servers_extras(fake_server: FakeModelServer) -> None:
    fake_server.route("/v1/chat/completions", openai_reply)
    body = await body_of(fake_server, "openai", "/v1/chat/completions", OPTIONS)
    assert {key: body[key] for key in LLAMA_CPP_NAMES} == LLAMA_CPP_NAMES
    assert body["max_tokens"] == 256 and "n_predict" not in body
    assert not NOT_SENT & set(body)


async def test_ollama_gets_its_options_and_keep_alive(fake_server: FakeModelServer) -> None:
    fake_server.route("/api/chat", ollama_reply)
    body = await body_of(fake_server, "ollama", "/api/chat", OPTIONS)
    assert {key: body["options"][key] for key in LLAMA_CPP_NAMES} == LLAMA_CPP_NAMES
    assert body["options"]["num_predict"] == 256
    assert body["keep_alive"] == "10m"
    assert not {"numThreads", "useMmap", "keep_alive"} & set(body["options"])


async def test_with_no_options_an_edit_still_sends_the_default_temperature(fake_server: FakeModelServer) -> None:
    fake_server.route("/v1/chat/completions", openai_reply)
    body = await body_of(fake_server, "openai", "/v1/chat/completions", {})
    assert body["temperature"] == DEFAULT_TEMPERATURE
    assert not {"min_p", "seed", "mirostat", "top_k"} & set(body)


# --- the session: listModels, selectModel by role, /explain to the chat model -------------------

TEMPLATE = "<code>{{{code_to_edit}}}</code>"


def answer_for(name: str) -> Any:
    def handler(request: Request) -> Reply:
        if "Explain" in request.body["prompt"]:
            return completion(f"explained by {name}")
        return completion(f"x = '{name}'\n")

    return handler


async def test_list_models_shows_roles_and_select_model_by_role_changes_only_that_role(tmp_path: Path) -> None:
    servers = {name: FakeModelServer().start() for name in ("edit", "chat", "tab")}
    try:
        for name, server in servers.items():
            server.route("/completion", answer_for(name))
        config = tmp_path / "config.json"
        config.write_text(json.dumps({
            "models": [{"title": "Chat", "provider": "llamafile", "model": "mistral-7b", "apiBase": servers["chat"].url},
                       {"title": "Editor", "provider": "llamafile", "model": "mistral-7b", "apiBase": servers["edit"].url}],
            "model_roles": {"default": "Chat", "edit": "Editor"},
            "tabAutocompleteModel": {"title": "Tab", "provider": "llamafile", "apiBase": servers["tab"].url},
        }))  # fmt: skip
        client, editor = await start(config, caps=capabilities(), env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
        try:
            listed = await execute(client, "llamafile.listModels")
            assert [(m["title"], m["active"], m["roles"]) for m in listed] == [
                ("Chat", False, ["chat", "summarize"]), ("Editor", True, ["edit"]), ("Tab", False, ["autocomplete"])]  # fmt: skip
            uri = editor.open(tmp_path / "a.py", "x = 1\n")
            # An edit goes to the edit model, /explain to the chat model.
            await execute(client, "llamafile.edit", edit_args(uri, 0, 0))
            assert editor.text(uri) == "x = 'edit'\n"
            run = {"name": "explain", "uri": uri, "range": edit_args(uri, 0, 0)["range"]}
            explained = await execute(client, "llamafile.runCommand", run)
            assert explained["text"] == "explained by chat\n"
            # Selecting the chat model for edit changes edits only.
            assert await execute(client, "llamafile.selectModel", {"title": "Chat", "role": "edit"}) == {
                "title": "Chat", "role": "edit"}  # fmt: skip
            listed = await execute(client, "llamafile.listModels")
            assert [(m["title"], m["active"], m["roles"]) for m in listed] == [
                ("Chat", True, ["edit", "chat", "summarize"]), ("Editor", False, []), ("Tab", False, ["autocomplete"])]  # fmt: skip
            await execute(client, "llamafile.edit", edit_args(uri, 0, 0))
            assert editor.text(uri) == "x = 'chat'\n"
            with pytest.raises(Exception, match="role: expected one of"):
                await execute(client, "llamafile.selectModel", {"title": "Chat", "role": "writer"})
            # Selecting without a role: every role but autocomplete.
            await execute(client, "llamafile.selectModel", {"title": "Editor"})
            listed = await execute(client, "llamafile.listModels")
            assert [m["roles"] for m in listed] == [["summarize"], ["edit", "chat"], ["autocomplete"]]
        finally:
            await stop(client)
        assert [r.path for r in servers["tab"].requests if r.path == "/completion"] == []
    finally:
        for server in servers.values():
            server.stop()


async def test_the_session_exposes_the_autocomplete_model() -> None:
    from llamafile_ls.session import Session

    session = Session()
    text = json.dumps({"models": [{"title": "a"}], "tabAutocompleteModel": {"title": "tab", "model": "starcoder2"}})
    config = parse_config(text)
    session.config = lambda: config  # type: ignore[method-assign]
    assert session.autocomplete_model() is config.models[1]
    assert session.model().title == "a"
    session.select("a", "autocomplete")
    assert session.autocomplete_model() is config.models[0]
    session.select("tab")  # without a role: not for autocomplete
    assert session.model().title == "tab" and session.autocomplete_model() is config.models[0]
    assert attrs.evolve(config, models=config.models[:1]).model_for("autocomplete") is None


def test_the_cli_edits_with_the_edit_model(tmp_path: Path, fake_server: FakeModelServer) -> None:
    import subprocess
    import sys

    from support.ports import free_port

    fake_server.route("/completion", completion("x = 10\n"))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "models": [{"title": "chat", "provider": "llamafile", "apiBase": f"http://127.0.0.1:{free_port()}"},
                   {"title": "editor", "provider": "llamafile", "apiBase": fake_server.url}],
        "model_roles": {"default": "chat", "edit": "editor"},
    }))  # fmt: skip
    app = tmp_path / "a.py"
    app.write_text(SOURCE)
    command = [sys.executable, "-m", "llamafile_ls", "edit", str(app), "--lines", "1-1", "-i", "make x 10"]
    done = subprocess.run([*command, "--write", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert app.read_text() == "x = 10\ny = 2\n"
