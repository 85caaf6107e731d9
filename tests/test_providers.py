"""Every provider name, end to end, against scripted servers that speak each real server's
own wire shapes: llamafile ``--v2`` (llamafiler), llama.cpp's ``/v1``, Ollama, LM Studio,
vLLM, the OpenAI API and a LiteLLM gateway.

Each edit runs the real CLI (``llamafile-ls edit --write``) in a subprocess, a few run
through the language server; each asserts the exact request (path, JSON body, headers),
that the answer lands exactly on the selected lines, and that each kind's errors come back
as one actionable line. ``llamafile-ls check`` is run against each kind too.

The bodies are written as those servers send them (llamafiler's client.cpp and
v1_completions.cpp, Ollama's openai/openai.go, vLLM's protocol.py, LM Studio's answers as
its bug tracker shows them, LiteLLM's from docs/gateway-notes.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from support.fakeserver import FakeModelServer, Reply, sse
from support.hostile import CLOSE, END, Action, HostileServer, Seen, body_reply, chunk, event, head
from support.lsp_editor import edit_args, execute, start, stop, wait_for

from llamafile_ls.config import parse_config
from llamafile_ls.providers import registry
from llamafile_ls.providers.base import Message, Prompt

SECRET = "sk-providers-9d4e2a7c1b5f3086"
SOURCE = "import os\n\n\ndef main():\n    return os.getcwd()\n\n\nprint(main())\n"
NEW = "def main():\n    return os.getcwd() or '.'"
EXPECTED = SOURCE.replace("def main():\n    return os.getcwd()", NEW)
# A chat answer: the model writes its own fence. A raw answer: the prompt ends inside an
# open fence, and the server stops at the closing one (the stop string is not sent).
CHAT_WORDS = ("```python\n", "def main():\n", "    return os.getcwd()", " or '.'\n", "```")
RAW_WORDS = ("def main():\n", "    return os.getcwd()", " or '.'", "\n")
SYSTEM = "You are an expert programmer. You rewrite code exactly as asked and answer with code only."
DONE = chunk("data: [DONE]\n\n")
CREATED = 1747312345


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


# --- how each server streams ---------------------------------------------------------------


def stream(events: list[dict[str, Any]], content_type: str = "text/event-stream", done: bool = True) -> list[Action]:
    return [head(200, content_type), *(event(e) for e in events), *([DONE] if done else []), END]


def llamacpp_chat(words: tuple[str, ...] = CHAT_WORDS, finish: str = "stop") -> list[Action]:
    """llama-server's /v1/chat/completions: a role chunk with null content, deltas, the
    finish with an empty delta, then a usage-only chunk (empty choices) and [DONE]."""
    meta = {
        "created": CREATED,
        "id": "chatcmpl-Qm3oRkq7cJ1b8xZ0aT5vWn2Y",
        "model": "smollm2-135m-instruct-q8_0.gguf",
        "system_fingerprint": "b5400-9a1b2c3d",
        "object": "chat.completion.chunk",
    }
    events = [
        {"choices": [{"finish_reason": None, "index": 0, "delta": {"role": "assistant", "content": None}}], **meta}
    ]
    events += [{"choices": [{"finish_reason": None, "index": 0, "delta": {"content": w}}], **meta} for w in words]
    events.append({"choices": [{"finish_reason": finish, "index": 0, "delta": {}}], **meta})
    usage = {"completion_tokens": len(words), "prompt_tokens": 96, "total_tokens": 96 + len(words)}
    timings = {"prompt_n": 96, "prompt_ms": 41.2, "predicted_n": len(words), "predicted_ms": 80.5}
    events.append({"choices": [], **meta, "usage": usage, "timings": timings})
    return stream(events)


def llamacpp_completions(words: tuple[str, ...] = RAW_WORDS, finish: str = "stop") -> list[Action]:
    """llama-server's /v1/completions: choices[0].text, then the finish with empty text."""
    meta = {"created": CREATED, "model": "smollm2.gguf", "system_fingerprint": "b5400-9a1b2c3d",
            "object": "text_completion", "id": "chatcmpl-c1d2e3f4"}  # fmt: skip
    events = [{"choices": [{"text": w, "index": 0, "logprobs": None, "finish_reason": None}], **meta} for w in words]
    events.append({"choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": finish}], **meta})
    return stream(events)


def llamafiler_completions(words: tuple[str, ...] = RAW_WORDS) -> list[Action]:
    """llamafile --v2's /v1/completions (v1_completions.cpp): a first event with a role
    delta and no text, one event per piece, the last with empty text and a finish_reason."""

    def one(choice: dict[str, Any]) -> dict[str, Any]:
        return {"choices": [{"finish_reason": None, "index": 0, "logprobs": None, **choice}], "created": CREATED,
                "id": "cmpl-2kq0cz1vm7nb4aa3ldj5xuye8w", "model": "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M",
                "object": "text_completion", "system_fingerprint": "e2a4ba04b7a8aa5b6e3c4b3a1c3a4b1e"}  # fmt: skip

    events = [one({"delta": {"role": "assistant", "content": ""}})]
    events += [one({"text": w}) for w in words]
    events.append(one({"text": "", "finish_reason": "stop"}))
    return stream(events)


def ollama_chat(words: tuple[str, ...] = CHAT_WORDS, reason: str = "stop") -> list[Action]:
    """Ollama's own /api/chat (api/types.go ChatResponse): a JSON object a line, each with the
    message's piece; the last says done, why, and its counts."""

    def one(content: str, done: bool = False) -> dict[str, Any]:
        line: dict[str, Any] = {"model": "qwen2.5-coder:0.5b", "created_at": "2026-11-25T10:00:00.000000Z",
                                "message": {"role": "assistant", "content": content}, "done": done}  # fmt: skip
        if done:
            line.update(done_reason=reason, total_duration=812345678, load_duration=1234567, prompt_eval_count=42,
                        prompt_eval_duration=123456, eval_count=len(words), eval_duration=654321)  # fmt: skip
        return line

    lines = [*(one(w) for w in words), one("", done=True)]
    return [head(200, "application/x-ndjson"), *(chunk(json.dumps(line) + "\n") for line in lines), END]


def lmstudio_chat(words: tuple[str, ...] = CHAT_WORDS) -> list[Action]:
    """LM Studio's /v1/chat/completions: logprobs null in every choice, the model as the
    system_fingerprint, an empty delta on the finish."""

    def one(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-8o3u9kx1q2w3e4r5t6y7u", "object": "chat.completion.chunk", "created": CREATED,
                "model": "qwen2.5-coder-7b-instruct", "system_fingerprint": "qwen2.5-coder-7b-instruct",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]}  # fmt: skip

    return stream([*(one({"role": "assistant", "content": w}) for w in words), one({}, "stop")])


def vllm_chat(words: tuple[str, ...] = CHAT_WORDS) -> list[Action]:
    """vLLM's /v1/chat/completions: a role chunk with empty content, content deltas, the
    finish with empty content and stop_reason, charset in the content type."""

    def one(delta: dict[str, Any], reason: str | None = None, **extra: Any) -> dict[str, Any]:
        return {"id": "chatcmpl-4f2a9c1e7d3b4a5c8e6f", "object": "chat.completion.chunk", "created": CREATED,
                "model": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason, **extra}]}  # fmt: skip

    events = [one({"role": "assistant", "content": ""}), *(one({"content": w}) for w in words)]
    events.append(one({"content": ""}, "stop", stop_reason=None))
    return stream(events, "text/event-stream; charset=utf-8")


def litellm_chat(words: tuple[str, ...] = CHAT_WORDS) -> list[Action]:
    """A LiteLLM gateway's /v1/chat/completions (docs/gateway-notes.md)."""

    def one(choice: dict[str, Any]) -> dict[str, Any]:
        return {"id": "chatcmpl-Pp1MN88wqimHFx1T8792A8yFDkcErWq4", "created": 1795641657, "model": "smollm2-0",
                "object": "chat.completion.chunk", "system_fingerprint": "b1-0c1e570", "choices": [choice]}  # fmt: skip

    events = [one({"index": 0, "delta": {"role": "assistant"}})]
    events += [one({"index": 0, "delta": {"content": w}}) for w in words]
    events.append(one({"finish_reason": "stop", "index": 0, "delta": {}}))
    return stream(events, "text/event-stream; charset=utf-8")


def litellm_completions(words: tuple[str, ...] = RAW_WORDS) -> list[Action]:
    """LiteLLM's /v1/completions: usage zeros on every chunk, no text on the last."""
    usage = {"completion_tokens": 0, "prompt_tokens": 0, "total_tokens": 0}

    def one(choice: dict[str, Any]) -> dict[str, Any]:
        return {"id": "chatcmpl-vFFKxFcXCUyz2O7t132NiBvcN1x7JitL", "object": "text_completion", "created": 1795641657,
                "model": "smollm2-1", "choices": [choice], "usage": usage}  # fmt: skip

    events = [one({"index": 0, "text": w}) for w in words]
    events.append(one({"finish_reason": "stop", "index": 0}))
    return stream(events, "text/event-stream; charset=utf-8")


def json_reply(status: int, payload: Any, content_type: str = "application/json") -> list[Action]:
    return body_reply(status, json.dumps(payload, separators=(",", ":")), content_type)


# What each server lists at /v1/models.
LLAMAFILER_MODELS = {"object": "list", "data": [{"id": "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M", "object": "model",
                                                  "created": CREATED, "owned_by": "llamafile"}]}  # fmt: skip
LLAMACPP_MODELS = {
    "models": [{"name": "smollm2.gguf", "model": "smollm2.gguf", "modified_at": "", "size": "", "digest": "",
                "type": "model", "description": "", "tags": [""], "capabilities": ["completion"], "parameters": "",
                "details": {"parent_model": "", "format": "gguf", "family": "", "families": [""],
                            "parameter_size": "", "quantization_level": ""}}],
    "object": "list",
    "data": [{"id": "smollm2.gguf", "object": "model", "created": CREATED, "owned_by": "llamacpp",
              "meta": {"vocab_type": 2, "n_vocab": 49152, "n_ctx_train": 8192, "n_embd": 576,
                       "n_params": 134515008, "size": 138071040}}],
}  # fmt: skip
OLLAMA_TAGS = {"models": [{"name": "qwen2.5-coder:0.5b", "model": "qwen2.5-coder:0.5b", "size": 397821319,
                           "digest": "4ff64a7f502a", "details": {"family": "qwen2", "parameter_size": "494.03M",
                                                                 "quantization_level": "Q4_K_M"}}]}  # fmt: skip
OLLAMA_SHOW = {"model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
               "parameters": "stop \"<|im_end|>\""}  # fmt: skip
LMSTUDIO_MODELS = {"data": [{"id": "qwen2.5-coder-7b-instruct", "object": "model", "owned_by": "organization_owner"},
                            {"id": "text-embedding-nomic-embed-text-v1.5", "object": "model",
                             "owned_by": "organization_owner"}], "object": "list"}  # fmt: skip
VLLM_MODELS = {
    "object": "list",
    "data": [{"id": "Qwen/Qwen2.5-Coder-0.5B-Instruct", "object": "model", "created": CREATED, "owned_by": "vllm",
              "root": "Qwen/Qwen2.5-Coder-0.5B-Instruct", "parent": None, "max_model_len": 4096,
              "permission": [{"id": "modelperm-7a1c", "object": "model_permission", "created": CREATED,
                              "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                              "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
                              "organization": "*", "group": None, "is_blocking": False}]}],
}  # fmt: skip
LITELLM_MODELS = {"data": [{"id": m, "object": "model", "created": 1677610602, "owned_by": "openai"}
                           for m in ("smollm2", "smollm2-0", "smollm2-1")], "object": "list"}  # fmt: skip


def llamafiler_error(status: int, reason: str) -> list[Action]:
    """llamafiler's send_error(): the reason phrase is the whole body, with no Content-Type."""
    body = f"{reason}\r\n".encode()
    return [
        f"HTTP/1.1 {status} {reason}\r\nServer: llamafile/0.9.3\r\nReferrer-Policy: origin\r\n"
        f"Cache-Control: private; max-age=0\r\nDate: Thu, 15 May 2025 12:25:45 GMT\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode(),
        body,
    ]


# llamafiler answers every path it does not know (/completion, /health) so.
LLAMAFILER_404 = llamafiler_error(404, "Not Found")
TOKENIZE_WANTS_PROMPT = llamafiler_error(400, 'JSON missing "prompt" key')


# --- running the CLI ---------------------------------------------------------------------


def write_config(tmp_path: Path, *models: dict[str, Any]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"models": list(models)}))
    return path


def model(provider: str, api_base: str | None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"title": provider, "provider": provider, "model": "smollm2",
                             "completionOptions": {"maxTokens": 200}, "requestOptions": {"timeout": 5}}  # fmt: skip
    if api_base is not None:
        entry["apiBase"] = api_base
    entry.update(extra)
    return entry


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llamafile_ls", *args],
        capture_output=True, text=True, timeout=30,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
    )  # fmt: skip


def run_edit(
    tmp_path: Path, entry: dict[str, Any], source: str = SOURCE
) -> tuple[subprocess.CompletedProcess[str], Path]:
    target = tmp_path / "app.py"
    target.write_bytes(source.encode())
    config = write_config(tmp_path, entry)
    result = cli(
        tmp_path, "edit", str(target), "--lines", "4-5", "-i", "keep it safe", "--write", "--config", str(config)
    )
    return result, target


def run_check(tmp_path: Path, *entries: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return cli(tmp_path, "check", "--config", str(write_config(tmp_path, *entries)))


def assert_no_secret(*texts: str) -> None:
    pieces = [SECRET[:n] for n in range(8, len(SECRET) + 1)] + [SECRET[-n:] for n in range(8, len(SECRET))]
    for text in texts:
        leaked = [piece for piece in pieces if piece in text]
        assert not leaked, f"the key leaked as {leaked[-1]!r} in: {text[:500]}"


def assert_applied(result: subprocess.CompletedProcess[str], target: Path, source: str = SOURCE) -> None:
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert_no_secret(result.stderr, result.stdout)
    # Exactly the selected lines changed: everything else byte-identical.
    assert target.read_bytes() == source.replace("def main():\n    return os.getcwd()", NEW).encode()


def assert_refused(result: subprocess.CompletedProcess[str], target: Path, *messages: str) -> str:
    """Exit 1, one error line holding every one of ``messages``, the file untouched."""
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("llamafile-ls: error:")]
    assert len(errors) == 1, result.stderr
    for message in messages:
        assert message in errors[0], errors[0]
    assert len(errors[0]) < 600, errors[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert_no_secret(result.stderr, result.stdout)
    assert target.read_bytes() == SOURCE.encode()
    return errors[0]


def requests_to(server: HostileServer, path: str) -> list[Seen]:
    return [seen for seen in server.seen if seen.path == path]


def assert_chat_body(body: dict[str, Any], model_name: str, max_tokens: int = 200) -> None:
    """An OpenAI chat request: model, system and user messages, stream, max_tokens; none of
    llama.cpp's own fields."""
    assert body["model"] == model_name
    assert body["stream"] is True
    assert body["max_tokens"] == max_tokens
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM}
    assert user["role"] == "user"
    assert "```python\ndef main():\n    return os.getcwd()\n```" in user["content"]
    assert "Request: keep it safe" in user["content"]
    assert not {"prompt", "n_predict", "cache_prompt", "id_slot", "stream_options"} & set(body)


def assert_raw_body(body: dict[str, Any], model_name: str, max_tokens: int = 200) -> None:
    """An OpenAI /completions request: the raw prompt in the model's own (ChatML) format."""
    assert body["model"] == model_name
    assert body["stream"] is True
    assert body["max_tokens"] == max_tokens
    assert body["prompt"].startswith(f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n")
    assert "Request: keep it safe" in body["prompt"]
    assert body["prompt"].endswith("<|im_end|>\n<|im_start|>assistant\n```python\n")
    assert body["stop"] == ["<|im_end|>", "\n```"]
    assert not {"messages", "n_predict", "cache_prompt"} & set(body)


# --- the registry ------------------------------------------------------------------------

KIND_CLASSES = {
    "llamafile": "LlamaCppProvider", "llama.cpp": "LlamaCppProvider", "llamacpp": "LlamaCppProvider",
    "llama_cpp": "LlamaCppProvider", "openai": "OpenAIProvider", "lmstudio": "OpenAIProvider",
    "ollama": "OllamaProvider", "vllm": "OpenAIProvider",
}  # fmt: skip


def test_every_continue_provider_name_is_registered() -> None:
    from llamafile_ls.providers import registry as providers

    assert set(KIND_CLASSES) == providers.NAMES


@pytest.mark.parametrize("name", sorted(KIND_CLASSES))
async def test_create_gives_the_right_class_for_each_name(name: str) -> None:
    from llamafile_ls.config import parse_config
    from llamafile_ls.providers import registry as providers

    (config_model,) = parse_config(json.dumps({"models": [{"title": "m", "provider": name}]})).models
    provider = providers.create(config_model)
    try:
        assert type(provider).__name__ == KIND_CLASSES[name]
        # The default address of each kind, where its server listens out of the box.
        defaults = {"ollama": "http://localhost:11434", "lmstudio": "http://localhost:1234/v1",
                    "vllm": "http://localhost:8000/v1", "openai": "https://api.openai.com/v1"}  # fmt: skip
        assert provider.shown_url == defaults.get(name, "http://localhost:8080")
        # Chat messages for the OpenAI API and Ollama's; raw text in the model's format for llama.cpp's own.
        assert provider.wants_chat is (KIND_CLASSES[name] != "LlamaCppProvider")
    finally:
        await provider.aclose()


def test_importing_the_registry_loads_no_http_stack() -> None:
    code = (
        "import sys\nfrom llamafile_ls.providers import registry as p\n"
        "assert 'ollama' in p.NAMES\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'httpcore', 'h11', 'anyio')))\n"
        "print(sorted(m for m in sys.modules if m.startswith('llamafile_ls.providers.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "['llamafile_ls.providers.registry']"]


def test_an_unknown_provider_is_skipped_with_a_warning_and_the_others_work(
    tmp_path: Path, hostile: HostileServer
) -> None:
    hostile.play("/api/tags", json_reply(200, OLLAMA_TAGS))
    result = run_check(
        tmp_path,
        model("anthropic", "https://api.anthropic.com"),
        model("ollama", hostile.url, model="qwen2.5-coder:0.5b"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    warning, *_ = [line for line in result.stdout.splitlines() if "anthropic" in line]
    assert warning.startswith("llamafile-ls: warning: ")
    assert warning.endswith(
        "models[0].provider: provider 'anthropic' is not served by llamafile-ls; this model is skipped"
    )
    assert "(1 models)" in result.stdout and "model 'ollama' (default): provider ollama" in result.stdout
    assert [line for line in result.stdout.splitlines() if "anthropic" in line] == [warning]


def test_only_unknown_providers_is_an_error_naming_the_served_ones(tmp_path: Path) -> None:
    result = run_check(tmp_path, model("bedrock", None))
    assert result.returncode == 1
    assert "no model with a provider llamafile-ls serves" in result.stderr
    assert "llama.cpp, llama_cpp, llamacpp, llamafile, lmstudio, ollama, openai, vllm" in result.stderr
    assert "Traceback" not in result.stderr


# --- llamafile --v2 (llamafiler): only the OpenAI API ---------------------------------------


@pytest.mark.parametrize(
    "not_found", [LLAMAFILER_404, body_reply(404, b"", "text/plain")], ids=["llamafiler-text", "empty-body"]
)
def test_llamafile_v2_edit_falls_back_to_v1_completions_with_the_raw_prompt(
    tmp_path: Path, hostile: HostileServer, not_found: list[Action]
) -> None:
    hostile.play("/completion", not_found)
    hostile.play("/v1/models", json_reply(200, LLAMAFILER_MODELS))
    hostile.play("/v1/completions", llamafiler_completions())
    result, target = run_edit(tmp_path, model("llamafile", hostile.url, apiKey=SECRET))
    assert_applied(result, target)
    assert [seen.path for seen in hostile.seen if seen.method == "POST"][-2:] == ["/completion", "/v1/completions"]
    (request,) = requests_to(hostile, "/v1/completions")
    assert_raw_body(request.body, "smollm2")
    assert "ignore_eos" not in request.body and "[INST]" not in request.body["stop"]  # no llama_cpp_args on /v1
    assert request.headers["authorization"] == f"Bearer {SECRET}"


def test_llamafile_v2_edit_of_a_big_file_survives_its_tokenize_that_wants_prompt(
    tmp_path: Path, hostile: HostileServer
) -> None:
    """A file big enough for the budget to ask /tokenize: llamafiler's /tokenize wants
    "prompt" and answers {"content": …} with 400; the edit must still go through /v1."""
    hostile.play("/tokenize", TOKENIZE_WANTS_PROMPT)
    hostile.play("/completion", LLAMAFILER_404)
    hostile.play("/v1/models", json_reply(200, LLAMAFILER_MODELS))
    hostile.play("/v1/completions", llamafiler_completions())
    big = SOURCE + "".join(f"value_{i} = {i}  # filler\n" for i in range(250))
    result, target = run_edit(tmp_path, model("llamafile", hostile.url, contextLength=4096), source=big)
    assert_applied(result, target, source=big)
    assert requests_to(hostile, "/tokenize"), "the budget did not ask the tokenizer; make the file bigger"


def test_llamafile_v2_error_is_shown_in_its_own_words(tmp_path: Path, hostile: HostileServer) -> None:
    """llamafiler refuses more than 4 stop strings with a 400 whose body is the reason."""
    hostile.play("/completion", LLAMAFILER_404)
    hostile.play("/v1/models", json_reply(200, LLAMAFILER_MODELS))
    hostile.play("/v1/completions", llamafiler_error(400, "stop array must have 4 items or fewer"))
    entry = model("llamafile", hostile.url, completionOptions={"maxTokens": 200, "stop": ["#1", "#2", "#3"]})
    result, target = run_edit(tmp_path, entry)
    assert_refused(result, target, "HTTP 400", "stop array must have 4 items or fewer")
    (request,) = requests_to(hostile, "/v1/completions")
    assert request.body["stop"] == ["#1", "#2", "#3", "<|im_end|>", "\n```"]


def test_check_names_a_llamafile_v2(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/health", LLAMAFILER_404)
    hostile.play("/v1/models", json_reply(200, LLAMAFILER_MODELS))
    hostile.play("/tokenize", TOKENIZE_WANTS_PROMPT)
    result = run_check(tmp_path, model("llamafile", hostile.url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "model 'llamafile' (default): provider llamafile" in result.stdout
    assert "prompt: raw, in the chatml format" in result.stdout
    assert "server: up, llamafile --v2 (OpenAI API only); edits go to /v1/completions" in result.stdout
    assert "token counting: estimated" in result.stdout
    assert "context:" not in result.stdout  # llamafiler's /v1/models tells none
    assert "all good" in result.stdout


# --- llama.cpp's /v1 as "provider": "openai" -------------------------------------------------


def test_llamacpp_v1_chat_edit_sends_openai_fields_and_lands_exactly(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/chat/completions", llamacpp_chat())
    options = {"maxTokens": 321, "temperature": 0.2, "topP": 0.9, "topK": 40, "presencePenalty": 0.1,
               "frequencyPenalty": 0.3, "stop": ["# end", "\n\n\n"]}  # fmt: skip
    entry = model("openai", f"{hostile.url}/v1", apiKey=SECRET, completionOptions=options,
                  llamaCppArgs={"ignore_eos": True, "cache_prompt": True})  # fmt: skip
    result, target = run_edit(tmp_path, entry)
    assert_applied(result, target)
    assert [seen.path for seen in hostile.seen] == ["/v1/chat/completions"]
    (request,) = hostile.seen
    assert request.method == "POST" and request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    body = request.body
    assert_chat_body(body, "smollm2", max_tokens=321)
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.2, 0.9, 40)
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.1, 0.3)
    assert body["stop"] == ["# end", "\n\n\n"]
    assert "ignore_eos" not in body  # llamaCppArgs are llama.cpp's native API only


def test_llamacpp_v1_finish_reason_length_is_refused_like_max_tokens(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/chat/completions", llamacpp_chat(CHAT_WORDS[:3], finish="length"))
    result, target = run_edit(tmp_path, model("openai", f"{hostile.url}/v1"))
    assert_refused(result, target, "reached max_tokens (200)", "raise completion_options.max_tokens")


def test_llamacpp_v1_legacy_completions_endpoint_sends_the_raw_prompt(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/completions", llamacpp_completions())
    entry = model("openai", f"{hostile.url}/v1", apiKey=SECRET, useLegacyCompletionsEndpoint=True)
    result, target = run_edit(tmp_path, entry)
    assert_applied(result, target)
    (request,) = hostile.seen
    assert request.path == "/v1/completions"
    assert_raw_body(request.body, "smollm2")
    assert request.headers["authorization"] == f"Bearer {SECRET}"


def test_llamacpp_v1_context_error_says_the_prompt_does_not_fit(tmp_path: Path, hostile: HostileServer) -> None:
    error = {"error": {"code": 400, "message": "request (5031 tokens) exceeds the available context size (2048 tokens), "
                       "try increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 5031, "n_ctx": 2048}}  # fmt: skip
    hostile.play("/v1/chat/completions", json_reply(400, error, "application/json; charset=utf-8"))
    result, target = run_edit(tmp_path, model("openai", f"{hostile.url}/v1"))
    assert_refused(result, target, "does not fit the model server's context", "exceeds the available context size")


def test_llamacpp_v1_error_in_the_stream_is_shown(tmp_path: Path, hostile: HostileServer) -> None:
    partial = llamacpp_chat(CHAT_WORDS[:2])[:3]  # the head and two events
    error = {"error": {"code": 500, "message": "Failed to decode the batch: KV cache is full", "type": "server_error"}}
    hostile.play("/v1/chat/completions", [*partial, event(error), END])
    result, target = run_edit(tmp_path, model("openai", f"{hostile.url}/v1"))
    assert_refused(result, target, "KV cache is full")


def test_check_of_llamacpp_v1_tells_its_context_from_n_ctx_train(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/models", json_reply(200, LLAMACPP_MODELS))
    result = run_check(tmp_path, model("openai", f"{hostile.url}/v1", model="smollm2.gguf", apiKey=SECRET))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "prompt: chat messages (the server applies the model's chat template)" in result.stdout
    assert "server: up, llama.cpp (OpenAI API); edits go to /v1/chat/completions" in result.stdout
    assert "context: server 8192 tokens, context_length 2048" in result.stdout
    assert "all good" in result.stdout
    (request,) = hostile.seen
    assert (request.method, request.headers["authorization"]) == ("GET", f"Bearer {SECRET}")


def test_check_reports_a_context_length_larger_than_the_server_gives(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/models", json_reply(200, LLAMACPP_MODELS))
    result = run_check(tmp_path, model("openai", f"{hostile.url}/v1", contextLength=16384))
    assert result.returncode == 1
    assert "problem: the server gives each request 8192 tokens but context_length is 16384" in result.stdout
    assert "1 problem(s) found" in result.stdout


# --- Ollama ------------------------------------------------------------------------------


def assert_ollama_body(body: dict[str, Any], model_name: str) -> None:
    """Ollama's /api/chat: messages, and the options in Ollama's names — num_ctx above all,
    which its OpenAI API would ignore (cutting a long prompt without a word)."""
    assert body["model"] == model_name and body["stream"] is True
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM}
    assert "Request: keep it safe" in user["content"]
    assert body["options"]["num_ctx"] == 4096 and body["options"]["num_predict"] == 200
    assert not {"max_tokens", "prompt", "n_predict"} & set(body)


def test_ollama_edit_goes_to_its_own_chat_api_without_a_key(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/api/chat", ollama_chat())
    result, target = run_edit(tmp_path, model("ollama", hostile.url, model="qwen2.5-coder:0.5b", contextLength=4096))
    assert_applied(result, target)
    (request,) = hostile.seen
    assert request.path == "/api/chat"
    assert_ollama_body(request.body, "qwen2.5-coder:0.5b")
    assert "authorization" not in request.headers  # Ollama wants none; we send none


def test_ollama_api_base_written_for_its_openai_api_still_works(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/api/chat", ollama_chat())
    result, target = run_edit(tmp_path, model("ollama", f"{hostile.url}/v1/", apiKey=SECRET))
    assert_applied(result, target)
    (request,) = hostile.seen
    assert request.path == "/api/chat"
    assert request.headers["authorization"] == f"Bearer {SECRET}"


def test_ollama_raw_prompts_go_to_generate_without_a_template(tmp_path: Path, hostile: HostileServer) -> None:
    lines = [{"model": "m", "response": w, "done": False} for w in CHAT_WORDS]
    lines.append({"model": "m", "response": "", "done": True, "done_reason": "stop"})
    hostile.play(
        "/api/generate", [head(200, "application/x-ndjson"), *(chunk(json.dumps(x) + "\n") for x in lines), END]
    )
    result, target = run_edit(tmp_path, model("ollama", hostile.url, model="qwen2.5-coder:0.5b",
                                              useLegacyCompletionsEndpoint=True))  # fmt: skip
    assert_applied(result, target)
    (request,) = hostile.seen
    assert request.body["raw"] is True and "<|im_start|>user" in request.body["prompt"]


def test_ollama_cut_at_num_predict_is_refused(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/api/chat", ollama_chat(reason="length"))
    result, target = run_edit(tmp_path, model("ollama", hostile.url))
    assert_refused(result, target, "reached max_tokens")


def test_ollama_model_not_found_names_the_model_and_pulling(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/api/chat", json_reply(404, {"error": 'model "qwen9:70b" not found, try pulling it first'}))
    result, target = run_edit(tmp_path, model("ollama", hostile.url, model="qwen9:70b"))
    assert_refused(result, target, "HTTP 404", 'model "qwen9:70b" not found, try pulling it first')


def test_ollama_error_line_mid_stream_is_shown(tmp_path: Path, hostile: HostileServer) -> None:
    lines = [
        {"model": "m", "message": {"role": "assistant", "content": "def"}, "done": False},
        {"error": "out of memory"},
    ]
    hostile.play("/api/chat", [head(200, "application/x-ndjson"), *(chunk(json.dumps(x) + "\n") for x in lines), END])
    result, target = run_edit(tmp_path, model("ollama", hostile.url))
    assert_refused(result, target, "out of memory")


def test_ollama_not_running_says_how_to_start_it(tmp_path: Path) -> None:
    from support.ports import free_port

    port = free_port()
    result, target = run_edit(tmp_path, model("ollama", f"http://127.0.0.1:{port}"))
    assert_refused(result, target, f"no model server answers at http://127.0.0.1:{port}", "`ollama serve`")


def test_check_of_ollama(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/api/tags", json_reply(200, OLLAMA_TAGS))
    hostile.play("/api/show", json_reply(200, OLLAMA_SHOW))
    result = run_check(tmp_path, model("ollama", hostile.url, model="qwen2.5-coder:0.5b", contextLength=4096))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"provider ollama, {hostile.url}" in result.stdout
    assert "server: up, Ollama; edits go to /api/chat" in result.stdout
    assert "context: server 32768 tokens, context_length 4096" in result.stdout
    assert [seen.path for seen in hostile.seen] == ["/api/tags", "/api/show"]


def test_check_of_ollama_without_the_model_says_to_pull_it(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/api/tags", json_reply(200, OLLAMA_TAGS))
    result = run_check(tmp_path, model("ollama", hostile.url, model="llama3.2"))
    assert result.returncode == 1
    assert "Ollama has no model 'llama3.2'" in result.stdout and "ollama pull llama3.2" in result.stdout


# --- LM Studio ---------------------------------------------------------------------------


def test_lmstudio_edit_in_its_shapes(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/chat/completions", lmstudio_chat())
    entry = model("lmstudio", f"{hostile.url}/v1", model="qwen2.5-coder-7b-instruct", apiKey="lm-studio")
    result, target = run_edit(tmp_path, entry)
    assert_applied(result, target)
    (request,) = hostile.seen
    assert request.path == "/v1/chat/completions"
    assert_chat_body(request.body, "qwen2.5-coder-7b-instruct")
    assert request.headers["authorization"] == "Bearer lm-studio"


def test_lmstudio_error_that_is_a_plain_string_is_shown(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/chat/completions", json_reply(400, {"error": "'messages' field is required"},
                                                   "application/json; charset=utf-8"))  # fmt: skip
    result, target = run_edit(tmp_path, model("lmstudio", f"{hostile.url}/v1"))
    assert_refused(result, target, "HTTP 400", "'messages' field is required")


def test_lmstudio_without_v1_answers_200_with_an_error_and_the_message_points_at_v1(
    tmp_path: Path, hostile: HostileServer
) -> None:
    """LM Studio answers a path it does not know with 200 and {"error": "Unexpected endpoint
    or method. (POST /chat/completions)"}: the user must learn to end api_base in /v1."""
    hostile.play("/chat/completions", json_reply(200, {"error": "Unexpected endpoint or method. (POST /chat/completions)"},
                                                 "application/json; charset=utf-8"))  # fmt: skip
    result, target = run_edit(tmp_path, model("lmstudio", hostile.url))
    assert_refused(result, target, "Unexpected endpoint or method", f"{hostile.url}/v1")


def test_check_of_lmstudio(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/models", json_reply(200, LMSTUDIO_MODELS))
    result = run_check(tmp_path, model("lmstudio", f"{hostile.url}/v1", model="qwen2.5-coder-7b-instruct"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "server: up, LM Studio; edits go to /v1/chat/completions" in result.stdout


def test_check_of_lmstudio_without_v1_is_a_problem_not_up(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/models", json_reply(200, {"error": "Unexpected endpoint or method. (GET /models)"}))
    result = run_check(tmp_path, model("lmstudio", hostile.url))
    assert result.returncode == 1, result.stdout
    assert "server: up" not in result.stdout
    assert "problem:" in result.stdout and f"{hostile.url}/v1" in result.stdout


# --- vLLM --------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Authorization", "authorization"])
def test_vllm_edit_in_its_shapes_and_an_explicit_authorization_header_wins(
    tmp_path: Path, hostile: HostileServer, header: str
) -> None:
    hostile.play("/v1/chat/completions", vllm_chat())
    entry = model("vllm", f"{hostile.url}/v1", model="Qwen/Qwen2.5-Coder-0.5B-Instruct", apiKey=SECRET,
                  requestOptions={"timeout": 5, "headers": {header: "Bearer team-gateway-token"}})  # fmt: skip
    result, target = run_edit(tmp_path, entry)
    assert_applied(result, target)
    (request,) = hostile.seen
    assert request.path == "/v1/chat/completions"
    assert_chat_body(request.body, "Qwen/Qwen2.5-Coder-0.5B-Instruct")
    assert request.headers["authorization"] == "Bearer team-gateway-token"
    assert SECRET not in json.dumps(request.headers)


def test_vllm_error_without_an_error_key_is_shown(tmp_path: Path, hostile: HostileServer) -> None:
    error = {"object": "error", "message": "The model `Qwen/Qwen9` does not exist.", "type": "NotFoundError",
             "param": None, "code": 404}  # fmt: skip
    hostile.play("/v1/chat/completions", json_reply(404, error))
    result, target = run_edit(tmp_path, model("vllm", f"{hostile.url}/v1", model="Qwen/Qwen9"))
    assert_refused(result, target, "HTTP 404", "The model `Qwen/Qwen9` does not exist.")


def test_vllm_bad_request_is_shown(tmp_path: Path, hostile: HostileServer) -> None:
    error = {"object": "error", "message": "top_k must be -1 (disable), or at least 1, got 0.", "type": "BadRequestError",
             "param": None, "code": 400}  # fmt: skip
    hostile.play("/v1/chat/completions", json_reply(400, error))
    result, target = run_edit(tmp_path, model("vllm", f"{hostile.url}/v1", completionOptions={"topK": 0}))
    assert_refused(result, target, "HTTP 400", "top_k must be -1 (disable), or at least 1, got 0.")


def test_vllm_context_error_says_the_prompt_does_not_fit(tmp_path: Path, hostile: HostileServer) -> None:
    message = ("This model's maximum context length is 2048 tokens. However, you requested 2248 tokens "
               "(2048 in the messages, 200 in the completion). Please reduce the length of the messages or completion.")  # fmt: skip
    error = {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400}
    hostile.play("/v1/chat/completions", json_reply(400, error))
    result, target = run_edit(tmp_path, model("vllm", f"{hostile.url}/v1"))
    assert_refused(result, target, "does not fit the model server's context", "maximum context length is 2048")


def test_check_of_vllm_tells_its_max_model_len(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/models", json_reply(200, VLLM_MODELS))
    result = run_check(tmp_path, model("vllm", f"{hostile.url}/v1", model="Qwen/Qwen2.5-Coder-0.5B-Instruct"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "server: up, vLLM; edits go to /v1/chat/completions" in result.stdout
    assert "context: server 4096 tokens, context_length 2048" in result.stdout


def test_check_of_vllm_names_the_models_it_serves_when_ours_is_not_one(tmp_path: Path, hostile: HostileServer) -> None:
    listing = {"object": "list", "data": [dict(VLLM_MODELS["data"][0]), {**VLLM_MODELS["data"][0], "id": "lora-sql"}]}
    hostile.play("/v1/models", json_reply(200, listing))
    result = run_check(tmp_path, model("vllm", f"{hostile.url}/v1", model="Qwen/Qwen9"))
    assert result.returncode == 1
    assert (
        "the server offers Qwen/Qwen2.5-Coder-0.5B-Instruct, lora-sql, not 'Qwen/Qwen9'; check model" in result.stdout
    )


# --- the OpenAI API's error shapes, and a LiteLLM gateway's ---------------------------------

OPENAI_ERRORS: list[tuple[str, int, dict[str, Any], tuple[str, ...]]] = [
    ("401-invalid-api-key", 401, {"error": {"message": "Incorrect API key provided: sk-provi*****************3086. You "
     "can find your API key at https://platform.openai.com/account/api-keys.", "type": "invalid_request_error",
     "param": None, "code": "invalid_api_key"}}, ("HTTP 401", "check api_key for model 'openai'")),
    ("400-context-length-exceeded", 400, {"error": {"message": "This model's maximum context length is 8192 tokens. "
     "However, your messages resulted in 9000 tokens. Please reduce the length of the messages.",
     "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}},
     ("does not fit the model server's context", "lower context_length")),
    ("429-rate-limit", 429, {"error": {"message": "Rate limit reached for gpt-4o-mini in organization org-abc on "
     "requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.", "type": "requests",
     "param": None, "code": "rate_limit_exceeded"}}, ("HTTP 429", "Rate limit reached for gpt-4o-mini")),
    ("litellm-400-no-db-connection", 400, {"error": {"message": "No connected db.", "type": "no_db_connection",
     "param": None, "code": "400"}}, ("HTTP 400: No connected db.", "check api_key")),
    ("litellm-401-no-key", 401, {"error": {"message": "Authentication Error, No api key passed in.",
     "type": "auth_error", "param": "None", "code": "401"}}, ("check api_key",)),
    ("litellm-500-upstream-down", 500, {"error": {"message": "litellm.InternalServerError: InternalServerError: "
     "OpenAIException - Connection error.\n\nLiteLLM: model group 'smollm2-2' failed with the error above. No "
     "fallback was attempted.", "type": "internal_server_error", "param": None, "code": "500"}},
     ("HTTP 500", "OpenAIException - Connection error. LiteLLM: model group")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "payload", "messages"), [case[1:] for case in OPENAI_ERRORS], ids=[case[0] for case in OPENAI_ERRORS]
)
def test_openai_error_shapes_give_an_actionable_line(
    tmp_path: Path, hostile: HostileServer, status: int, payload: dict[str, Any], messages: tuple[str, ...]
) -> None:
    hostile.play("/v1/chat/completions", json_reply(status, payload))
    result, target = run_edit(tmp_path, model("openai", f"{hostile.url}/v1", model="gpt-4o-mini", apiKey=SECRET))
    assert_refused(result, target, *messages)


@pytest.mark.parametrize(
    "not_found",
    [
        body_reply(404, b"", "text/plain"),
        json_reply(404, {"detail": "Not Found"}),  # FastAPI: vLLM, LiteLLM
        body_reply(404, "404 page not found", "text/plain"),  # Go: Ollama
        LLAMAFILER_404,
    ],
    ids=["empty", "fastapi-detail", "go-404-page", "llamafiler"],
)
def test_openai_api_base_without_v1_says_to_end_it_in_v1(
    tmp_path: Path, hostile: HostileServer, not_found: list[Action]
) -> None:
    hostile.play("/chat/completions", not_found)
    result, target = run_edit(tmp_path, model("openai", hostile.url))
    assert_refused(result, target, "has no /chat/completions endpoint (HTTP 404)", f"ends in /v1: try {hostile.url}/v1")


def test_litellm_gateway_chat_edit(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/chat/completions", litellm_chat())
    result, target = run_edit(tmp_path, model("openai", f"{hostile.url}/v1", model="smollm2-0", apiKey=SECRET))
    assert_applied(result, target)
    (request,) = hostile.seen
    assert_chat_body(request.body, "smollm2-0")
    assert request.headers["authorization"] == f"Bearer {SECRET}"


def test_litellm_gateway_legacy_completions_edit(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/completions", litellm_completions())
    entry = model("openai", f"{hostile.url}/v1", model="smollm2-1", useLegacyCompletionsEndpoint=True)
    result, target = run_edit(tmp_path, entry)
    assert_applied(result, target)
    (request,) = hostile.seen
    assert request.path == "/v1/completions"
    assert request.body["model"] == "smollm2-1" and request.body["prompt"].startswith("<|im_start|>system\n")


def test_litellm_upstream_dying_mid_stream_is_one_line(tmp_path: Path, hostile: HostileServer) -> None:
    """The gateway's last event when its upstream dies mid-answer: an error, no [DONE]."""
    error = {"error": {"message": "litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error.",
                       "type": None, "param": None, "code": "500"}}  # fmt: skip
    hostile.play("/v1/chat/completions", [*litellm_chat()[:3], chunk(f"data: {json.dumps(error)}\n\n"), END])
    result, target = run_edit(tmp_path, model("openai", f"{hostile.url}/v1", model="smollm2-0"))
    assert_refused(result, target, "APIConnectionError")


def test_check_of_a_litellm_gateway_with_a_wrong_key(tmp_path: Path, hostile: HostileServer) -> None:
    error = {"error": {"message": "No connected db.", "type": "no_db_connection", "param": None, "code": "400"}}
    hostile.play("/v1/models", json_reply(400, error))
    result = run_check(tmp_path, model("openai", f"{hostile.url}/v1", apiKey=SECRET))
    assert result.returncode == 1
    assert "problem:" in result.stdout and "check api_key" in result.stdout
    assert_no_secret(result.stdout, result.stderr)


def test_check_of_a_litellm_gateway(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/models", json_reply(200, LITELLM_MODELS))
    result = run_check(tmp_path, model("openai", f"{hostile.url}/v1", model="smollm2-0", apiKey=SECRET))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "edits go to /v1/chat/completions" in result.stdout and "all good" in result.stdout


# --- through the language server ----------------------------------------------------------


async def test_lsp_edit_through_ollama_lands_exactly(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/api/chat", ollama_chat())
    client, editor = await start(write_config(tmp_path, model("ollama", hostile.url, contextLength=4096)))
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        assert await execute(client, "llamafile.edit", edit_args(uri, 3, 4, "keep it safe")) == {"applied": True}
        assert editor.text(uri) == EXPECTED
        (request,) = hostile.seen
        assert request.path == "/api/chat"
        assert_ollama_body(request.body, "smollm2")
    finally:
        await stop(client)


async def test_lsp_edit_through_a_llamafile_v2(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/completion", LLAMAFILER_404)
    hostile.play("/v1/models", json_reply(200, LLAMAFILER_MODELS))
    hostile.play("/v1/completions", llamafiler_completions())
    client, editor = await start(write_config(tmp_path, model("llamafile", hostile.url)))
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        assert await execute(client, "llamafile.edit", edit_args(uri, 3, 4, "keep it safe")) == {"applied": True}
        assert editor.text(uri) == EXPECTED
        # A second edit goes straight to /v1/completions: the fallback is remembered.
        uri2 = editor.open(tmp_path / "other.py", SOURCE)
        assert await execute(client, "llamafile.edit", edit_args(uri2, 3, 4, "keep it safe")) == {"applied": True}
        posts = [seen.path for seen in hostile.seen if seen.method == "POST"]
        assert posts.count("/completion") == 1 and posts.count("/v1/completions") == 2
    finally:
        await stop(client)


async def test_lsp_error_of_lmstudio_comes_back_as_the_reason(tmp_path: Path, hostile: HostileServer) -> None:
    hostile.play("/v1/chat/completions", json_reply(400, {"error": "'messages' field is required"}))
    client, editor = await start(write_config(tmp_path, model("lmstudio", f"{hostile.url}/v1", apiKey=SECRET)))
    try:
        uri = editor.open(tmp_path / "app.py", SOURCE)
        outcome = await execute(client, "llamafile.edit", edit_args(uri, 3, 4))
        assert outcome["applied"] is False
        assert "'messages' field is required" in outcome["reason"]
        assert_no_secret(outcome["reason"])
        assert editor.text(uri) == SOURCE and editor.apply_requests == []
    finally:
        await stop(client)


async def test_lsp_cancel_closes_the_chat_completions_connection(tmp_path: Path) -> None:
    """$/cancelRequest mid-stream: the server sees its connection closed, nothing changes."""
    server = FakeModelServer().start()
    try:
        delta = {"id": "chatcmpl-527", "object": "chat.completion.chunk", "created": CREATED, "model": "m",
                 "system_fingerprint": "fp_ollama",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": "x"}, "finish_reason": None}]}  # fmt: skip
        server.route("/v1/chat/completions", Reply(pieces=sse(*[delta] * 600), delay=0.05))
        client, editor = await start(write_config(tmp_path, model("openai", f"{server.url}/v1")))
        try:
            uri = editor.open(tmp_path / "app.py", SOURCE)
            call = asyncio.ensure_future(
                execute(client, "llamafile.edit", edit_args(uri, 3, 4), token="t", msg_id="edit-1")
            )
            await wait_for(lambda: any(r.path == "/v1/chat/completions" for r in server.requests))
            await asyncio.sleep(0.3)  # a few chunks stream
            assert not server.disconnects
            client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="edit-1"))
            with pytest.raises(JsonRpcException, match="cancel"):
                await call
            await wait_for(lambda: bool(server.disconnects), timeout=5)
            assert editor.text(uri) == SOURCE and editor.apply_requests == []
        finally:
            await stop(client)
    finally:
        server.stop()


@pytest.mark.parametrize("provider", ["llama.cpp", "openai", "ollama"])
async def test_an_idle_kept_alive_connection_is_dropped_before_the_server_drops_it(
    hostile: HostileServer, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama-server and uvicorn close a connection idle for 5 s; a generation is never sent
    twice, so reusing a connection the server is closing would fail the edit. We drop idle
    connections first (here after 0.2 s instead of 4 s, to keep the test quick)."""
    from llamafile_ls.providers import http

    monkeypatch.setattr(http, "_KEEPALIVE_S", 0.2)
    replies = {"llama.cpp": ("/completion", lambda: [head(), event({"content": "ok", "stop": False}), event({"content": "", "stop": True, "stop_type": "eos"}), END]),
               "openai": ("/v1/chat/completions", lambda: llamacpp_chat(("ok",))),
               "ollama": ("/api/chat", lambda: ollama_chat(("ok",)))}  # fmt: skip
    path, reply = replies[provider]
    # The server has closed its side of an idle connection: a request on it gets no answer.
    hostile.play(path, lambda _seen: [CLOSE] if len(requests_to(hostile, path)) > hostile.connections else reply())
    api_base = hostile.url + ("/v1" if provider == "openai" else "")
    entry = {"title": "m", "provider": provider, "model": "m", "apiBase": api_base}
    client = registry.create(parse_config(json.dumps({"models": [entry]})).models[0])
    prompt = (
        Prompt(text="say ok", messages=(Message("user", "say ok"),)) if client.wants_chat else Prompt(text="say ok")
    )
    try:
        for _ in range(2):
            assert "".join([chunk.content async for chunk in client.stream(prompt)]) == "ok"
            await asyncio.sleep(0.5)  # idle past our keep-alive
    finally:
        await client.aclose()
    assert len(requests_to(hostile, path)) == 2 and hostile.connections == 2


@pytest.mark.parametrize("provider", ["llama.cpp", "openai", "ollama"])
async def test_a_kept_alive_connection_closed_under_the_request_is_retried_once_on_a_new_one(
    hostile: HostileServer, provider: str
) -> None:
    """The server closes the kept-alive connection as the next request goes out on it (no byte
    of an answer): that request goes once more on a new connection; the edit does not fail."""
    replies = {"llama.cpp": ("/completion", lambda: [head(), event({"content": "ok", "stop": False}), event({"content": "", "stop": True, "stop_type": "eos"}), END]),
               "openai": ("/v1/chat/completions", lambda: llamacpp_chat(("ok",))),
               "ollama": ("/api/chat", lambda: ollama_chat(("ok",)))}  # fmt: skip
    path, reply = replies[provider]
    hostile.play(path, lambda _seen: [CLOSE] if len(requests_to(hostile, path)) == 2 else reply())
    api_base = hostile.url + ("/v1" if provider == "openai" else "")
    entry = {"title": "m", "provider": provider, "model": "m", "apiBase": api_base}
    client = registry.create(parse_config(json.dumps({"models": [entry]})).models[0])
    prompt = (
        Prompt(text="say ok", messages=(Message("user", "say ok"),)) if client.wants_chat else Prompt(text="say ok")
    )
    try:
        for _ in range(2):
            assert "".join([chunk.content async for chunk in client.stream(prompt)]) == "ok"
    finally:
        await client.aclose()
    assert len(requests_to(hostile, path)) == 3 and hostile.connections == 2


async def test_a_new_connection_closed_without_an_answer_is_not_sent_again(hostile: HostileServer) -> None:
    """On a connection opened for it, a close without an answer is the server's doing (a crash,
    a restart): the generation is not sent twice."""
    hostile.play("/completion", [CLOSE])
    entry = {"title": "m", "provider": "llama.cpp", "model": "m", "apiBase": hostile.url}
    client = registry.create(parse_config(json.dumps({"models": [entry]})).models[0])
    try:
        with pytest.raises(Exception, match="closed the connection without answering"):
            [chunk async for chunk in client.stream(Prompt(text="say ok"))]
    finally:
        await client.aclose()
    assert len(requests_to(hostile, "/completion")) == 1
