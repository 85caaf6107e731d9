"""Inline completion on the real thing: the server process over LSP, Qwen2.5-Coder-0.5B on the
real llama-server. The model is small, so these check the shape of a suggestion, never its
quality."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from lsprotocol import types
from support.fakeserver import FakeModelServer, Reply, Request
from support.lsp_editor import start, stop

from tests.conftest import RealServer
from tests.test_lsp_inline_completion import ask, inline_capabilities

pytestmark = pytest.mark.real

SOURCE = (
    '"""Numbers of the famous sequences, small and slow, for teaching."""\n'
    "\n"
    "import sys\n"
    "\n"
    "\n"
    "def factorial(n):\n"
    '    """Return n! computed by a loop."""\n'
    "    result = 1\n"
    "    for k in range(2, n + 1):\n"
    "        result *= k\n"
    "    return result\n"
    "\n"
    "\n"
    "def fibonacci(n):\n"
    '    """Return the n-th Fibonacci number."""\n'
    "    a, b = 0, 1\n"
    "    for _ in range(n):\n"
    "        \n"
    "    return a\n"
    "\n"
    "\n"
    "print(fibonacci(10))\n"
)
LINE = 17  # the empty body of the loop


def relay_to(server: RealServer, relay: FakeModelServer) -> list[dict[str, float]]:
    """The scripted server as a relay to the real one: what was asked is then on record, and
    llama.cpp's timings of each answer are returned."""
    timings: list[dict[str, float]] = []

    def forward(request: Request) -> Reply:
        answer = httpx.post(f"{server.url}{request.path}", json=request.body, timeout=120)
        for line in answer.text.splitlines():
            if line.startswith("data: ") and '"timings"' in line:
                timings.append(json.loads(line[6:])["timings"])
        return Reply(answer.status_code, answer.headers.get("content-type", "text/event-stream"), [answer.content])

    relay.route("/infill", forward)
    relay.route("/completion", forward)
    return timings


async def test_a_suggestion_inside_a_function_from_infill(
    tmp_path: Path, real_qwen_server: RealServer, fake_server: FakeModelServer
) -> None:
    timings = relay_to(real_qwen_server, fake_server)
    model = {
        "title": "qwen coder",
        "provider": "llama.cpp",
        "model": "qwen2.5-coder-0.5b",
        "apiBase": fake_server.url,
        "roles": ["autocomplete"],
        "completionOptions": {"temperature": 0},  # the likeliest answer, the same each run
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"models": [model]}))
    client, editor = await start(path, caps=inline_capabilities())
    try:
        uri = editor.open(tmp_path / "fib.py", SOURCE)
        started = time.monotonic()
        (suggestion,) = await ask(client, uri, types.Position(LINE, 8))
        first = time.monotonic() - started
        assert suggestion.strip()
        assert not suggestion.rstrip().endswith("return a")  # the code below the cursor is not repeated
        assert "```" not in suggestion
        for line in suggestion.split("\n")[1:]:  # it stays in the loop's body
            assert not line.strip() or line.startswith("        ")
        started = time.monotonic()
        assert await ask(client, uri, types.Position(LINE, 8)) == [suggestion]  # the cache: at once
        again = time.monotonic() - started
        assert [request.path for request in fake_server.requests] == ["/infill"]
        typed = "z" if suggestion.startswith("a") else "a"  # not the suggestion's start: the model is asked
        editor.type(uri, (LINE, 8), (LINE, 8), typed)
        started = time.monotonic()
        await ask(client, uri, types.Position(LINE, 9))
        next_key = time.monotonic() - started
        assert [request.path for request in fake_server.requests] == ["/infill", "/infill"]
        first_timing, next_timing = timings
        # The prefix's tokens stayed in llama.cpp's cache: the suffix and the typed line are evaluated again.
        assert next_timing["prompt_n"] < first_timing["prompt_n"] / 3
        print(
            f"\nfirst suggestion {first * 1000:.0f} ms (prompt {first_timing['prompt_n']:.0f} tokens in "
            f"{first_timing['prompt_ms']:.0f} ms, {first_timing['predicted_n']:.0f} tokens in "
            f"{first_timing['predicted_ms']:.0f} ms); from the cache {again * 1000:.0f} ms; after a keystroke "
            f"{next_key * 1000:.0f} ms (prompt {next_timing['prompt_n']:.0f} tokens evaluated, "
            f"{next_timing['predicted_n']:.0f} predicted): {suggestion!r}"
        )
    finally:
        await stop(client)


async def test_without_infill_the_qwen_fim_tokens_make_the_real_model_fill_in(
    real_qwen_server: RealServer, fake_server: FakeModelServer
) -> None:
    import contextlib

    from llamafile_ls.config import CompletionOptions, ModelConfig
    from llamafile_ls.providers import registry
    from llamafile_ls.providers.base import Infill

    relay_to(real_qwen_server, fake_server)
    fake_server.route("/infill", Reply(404, "text/plain", [b"File Not Found"]))  # an old server
    model = ModelConfig(
        title="qwen", model="qwen2.5-coder-0.5b", api_base=fake_server.url,
        completion_options=CompletionOptions(temperature=0), llama_cpp_args={},
    )  # fmt: skip
    provider = registry.create(model)
    request = Infill(
        prefix='def square(x):\n    """Return x squared."""\n', typed="    return ", suffix="\n\n\nprint(square(3))\n",
        max_tokens=16,
    )  # fmt: skip
    try:
        async with contextlib.aclosing(provider.infill(request)) as chunks:
            answer = "".join([chunk.content async for chunk in chunks])
    finally:
        await provider.aclose()
    assert [r.path for r in fake_server.requests] == ["/infill", "/completion"]
    assert fake_server.requests[1].body["prompt"].startswith("<|fim_prefix|>def square(x):")
    assert "x" in answer and "<|" not in answer  # it filled in, and stopped at its end token
