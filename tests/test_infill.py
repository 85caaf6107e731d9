"""Fill-in-the-middle on each provider, against a scripted server: the exact request, and
the fallbacks to a raw prompt in the model family's FIM tokens when ``/infill`` is missing
(404) or the model has no FIM tokens (501)."""

from __future__ import annotations

import contextlib
import json

import pytest
from support.fakeserver import FakeModelServer, Reply, completion, sse

from llamafile_ls.config import CompletionOptions, ModelConfig
from llamafile_ls.providers import registry
from llamafile_ls.providers.base import ExtraFile, Infill
from llamafile_ls.providers.fim import family_of, fim_prompt

REQUEST = Infill(
    prefix="def add(a, b):\n",
    typed="    return ",
    suffix="\n\nprint(add(1, 2))\n",
    extra=(ExtraFile("util.py", "def sub(a, b):\n    return a - b\n"),),
    filename="calc.py",
    indent=4,
    max_tokens=64,
    max_prompt_ms=400,
    max_predict_ms=900,
)


async def infill(model: ModelConfig, request: Infill = REQUEST) -> str:
    provider = registry.create(model)
    try:
        async with contextlib.aclosing(provider.infill(request)) as chunks:
            return "".join([chunk.content async for chunk in chunks])
    finally:
        await provider.aclose()


def llamacpp(url: str, model: str = "qwen2.5-coder-0.5b") -> ModelConfig:
    return ModelConfig(title="coder", provider="llamafile", model=model, api_base=url)


async def test_llamacpp_sends_llama_vims_infill_request(fake_server: FakeModelServer) -> None:
    fake_server.route("/infill", completion("a + b"))
    assert await infill(llamacpp(fake_server.url)) == "a + b"
    (request,) = fake_server.requests
    assert request.path == "/infill"
    assert request.body == {
        "input_prefix": "def add(a, b):\n",
        "input_suffix": "\n\nprint(add(1, 2))\n",
        "input_extra": [{"filename": "util.py", "text": "def sub(a, b):\n    return a - b\n"}],
        "prompt": "    return ",
        "n_predict": 64,
        "n_indent": 4,
        "top_k": 40,
        "top_p": 0.9,
        "samplers": ["top_k", "top_p", "infill"],
        "stream": True,
        "cache_prompt": True,
        "t_max_prompt_ms": 400,
        "t_max_predict_ms": 900,
    }


async def test_a_configured_temperature_joins_llama_vims_samplers(fake_server: FakeModelServer) -> None:
    fake_server.route("/infill", completion("x"))
    model = ModelConfig(
        title="coder",
        provider="llamafile",
        api_base=fake_server.url,
        completion_options=CompletionOptions(temperature=0),
    )
    await infill(model)
    body = fake_server.requests[0].body
    assert body["samplers"] == ["top_k", "top_p", "infill", "temperature"]
    assert body["temperature"] == 0


async def test_a_single_line_request_stops_at_the_line_end(fake_server: FakeModelServer) -> None:
    fake_server.route("/infill", completion("x"))
    await infill(llamacpp(fake_server.url), Infill(prefix="", typed="f(", suffix=")\n", single_line=True))
    assert fake_server.requests[0].body["stop"] == ["\n"]


@pytest.mark.parametrize("status", [404, 501])
async def test_llamacpp_without_infill_sends_the_familys_fim_tokens_to_completion(
    fake_server: FakeModelServer, status: int
) -> None:
    fake_server.route("/infill", Reply(status, "application/json", [b'{"error": {"code": %d}}' % status]))
    fake_server.route("/completion", completion("a + b"))
    model = llamacpp(fake_server.url)
    provider = registry.create(model)
    try:
        for _ in range(2):
            async with contextlib.aclosing(provider.infill(REQUEST)) as chunks:
                assert "".join([chunk.content async for chunk in chunks]) == "a + b"
    finally:
        await provider.aclose()
    assert [r.path for r in fake_server.requests] == ["/infill", "/completion", "/completion"]  # asked once
    body = fake_server.requests[1].body
    assert body["prompt"] == (
        "<|file_sep|>util.py\ndef sub(a, b):\n    return a - b\n<|file_sep|>calc.py\n"
        "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n\nprint(add(1, 2))\n<|fim_middle|>"
    )
    assert body["n_predict"] == 64
    assert "<|endoftext|>" in body["stop"] and "<|file_sep|>" in body["stop"]


async def test_an_infill_error_other_than_missing_is_not_hidden_by_a_fallback(fake_server: FakeModelServer) -> None:
    from llamafile_ls.errors import ModelServerError

    fake_server.route("/infill", Reply(500, "application/json", [b'{"error": {"message": "boom"}}']))
    with pytest.raises(ModelServerError, match="boom"):
        await infill(llamacpp(fake_server.url))
    assert [r.path for r in fake_server.requests] == ["/infill"]


FAMILIES = [
    ("Qwen2.5-Coder-1.5B", "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>"),
    ("codegemma-2b", "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>"),
    ("starcoder2-3b", "<fim_prefix>P<fim_suffix>S<fim_middle>"),
    ("CodeLlama-7b", "<PRE> P <SUF>S <MID>"),
    ("deepseek-coder-1.3b-base", "<｜fim▁begin｜>P<｜fim▁hole｜>S<｜fim▁end｜>"),
    ("codestral-22b", "[SUFFIX]S[PREFIX]P"),
    ("some-unknown-model", "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>"),
]


@pytest.mark.parametrize(("name", "text"), FAMILIES)
def test_fim_tokens_per_model_family(name: str, text: str) -> None:
    prompt = fim_prompt(name, Infill(prefix="", typed="P", suffix="S", max_tokens=7))
    assert prompt.text == text
    assert prompt.max_tokens == 7
    assert prompt.stop == family_of(name).stop
    assert fim_prompt(name, Infill(prefix="", typed="P", suffix="S", single_line=True)).stop[-1] == "\n"


async def test_openai_compatible_servers_get_the_fim_prompt_on_completions(fake_server: FakeModelServer) -> None:
    fake_server.route(
        "/v1/completions",
        Reply(
            pieces=sse(
                {"choices": [{"text": "a + b", "finish_reason": None}]},
                {"choices": [{"text": "", "finish_reason": "stop"}]},
                "data: [DONE]\n\n",
            )
        ),
    )
    model = ModelConfig(title="coder", provider="openai", model="deepseek-coder", api_base=f"{fake_server.url}/v1")
    assert await infill(model) == "a + b"
    (request,) = fake_server.requests
    assert request.path == "/v1/completions"
    assert (
        request.body["prompt"]
        == "<｜fim▁begin｜>def add(a, b):\n    return <｜fim▁hole｜>\n\nprint(add(1, 2))\n<｜fim▁end｜>"
    )
    assert request.body["max_tokens"] == 64
    assert request.body["model"] == "deepseek-coder"


async def test_ollama_gets_its_suffix_field_and_applies_the_template_itself(fake_server: FakeModelServer) -> None:
    lines = [{"response": "a + b", "done": False}, {"response": "", "done": True, "done_reason": "stop"}]
    fake_server.route(
        "/api/generate",
        Reply(content_type="application/x-ndjson", pieces=[(json.dumps(line) + "\n").encode() for line in lines]),
    )
    model = ModelConfig(title="coder", provider="ollama", model="qwen2.5-coder:1.5b", api_base=fake_server.url)
    assert await infill(model) == "a + b"
    (request,) = fake_server.requests
    assert request.path == "/api/generate"
    assert request.body["prompt"] == "def add(a, b):\n    return "
    assert request.body["suffix"] == "\n\nprint(add(1, 2))\n"
    assert request.body["raw"] is False
    assert request.body["options"]["num_predict"] == 64
