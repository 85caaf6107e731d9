"""The core on real parts: llama.cpp's llama-server running SmolLM2-135M-Instruct.

SmolLM2 follows instructions poorly, so these tests prove the plumbing (requests, streams,
limits, errors, edits that keep the rest of the file), never what the model "should" write.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llamafile_ls import textedit
from llamafile_ls.config import CompletionOptions, ModelConfig
from llamafile_ls.edit import EditRequest, prepare_prompt, run_edit
from llamafile_ls.errors import ContextTooSmall, EditRejected
from llamafile_ls.providers.base import Prompt
from llamafile_ls.providers.llamacpp import LlamaCppProvider as LlamafileProvider
from tests.conftest import RealServer

pytestmark = pytest.mark.real

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.py"


def smollm2(server: RealServer, **changes: object) -> ModelConfig:
    options = CompletionOptions(temperature=0.0, max_tokens=200)
    fields: dict[str, object] = {"title": "SmolLM2", "model": "SmolLM2-135M-Instruct", "api_base": server.url,
                                 "context_length": 4096, "completion_options": options}  # fmt: skip
    fields.update(changes)
    return ModelConfig(**fields)  # type: ignore[arg-type]


def config_file(tmp_path: Path, server: RealServer) -> Path:
    path = tmp_path / "config.json"
    entry = {"title": "SmolLM2", "provider": "llamafile", "model": "SmolLM2-135M-Instruct", "apiBase": server.url,
             "contextLength": 4096, "completionOptions": {"temperature": 0, "maxTokens": 200}}  # fmt: skip
    path.write_text(json.dumps({"models": [entry]}))
    return path


def test_cli_edit_on_the_real_model_writes_only_the_selected_lines(tmp_path: Path, real_server: RealServer) -> None:
    app = tmp_path / "sample.py"
    app.write_bytes(SAMPLE.read_bytes())
    original = textedit.split_lines(app.read_text())
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "llamafile_ls", "edit", str(app), "--lines", "6-10", "--instruction",
         "use a with statement to open the file", "--config", str(config_file(tmp_path, real_server)), "--write"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    print(f"real edit on SmolLM2 took {elapsed:.2f} s: {result.stderr.strip().splitlines()[-2]}")
    edited = textedit.split_lines(app.read_text())
    assert edited != original
    assert edited[:5] == original[:5]  # everything above the selection is byte-identical
    tail = len(original) - 10
    assert edited[-tail:] == original[-tail:]  # and everything below it


async def test_stream_and_tokenize_speak_the_real_protocol(real_server: RealServer) -> None:
    provider = LlamafileProvider(smollm2(real_server))
    try:
        assert await provider.count_tokens("def hello_world():") is not None
        chunks = [
            chunk
            async for chunk in provider.stream(Prompt("<|im_start|>user\nSay hi<|im_end|>\n<|im_start|>assistant\n"))
        ]
    finally:
        await provider.aclose()
    assert chunks[-1].stop and chunks[-1].finish in ("stop", "length")
    assert "".join(chunk.content for chunk in chunks).strip()


async def test_closing_the_stream_stops_generation_on_the_server(real_server: RealServer) -> None:
    # Without a stop this would run 4000 tokens (about 30 s on 2 cores).
    model = smollm2(real_server, llama_cpp_args={"ignore_eos": True},
                    completion_options=CompletionOptions(temperature=0.0, max_tokens=4000))  # fmt: skip
    provider = LlamafileProvider(model)
    try:
        stream = provider.stream(Prompt("Count from one to ten thousand: one, two,"))
        received = 0
        async for _chunk in stream:
            received += 1
            if received == 5:
                break
        await stream.aclose()
        deadline = time.monotonic() + 10
        while real_server.slots_busy():
            assert time.monotonic() < deadline, "llama-server kept generating after the stream was closed"
            await asyncio.sleep(0.05)
    finally:
        await provider.aclose()


async def test_an_answer_cut_by_max_tokens_is_refused(real_server: RealServer) -> None:
    model = smollm2(real_server, completion_options=CompletionOptions(temperature=0.0, max_tokens=3))
    provider = LlamafileProvider(model)
    request = EditRequest(text=SAMPLE.read_text(), start_line=5, end_line=10, instruction="add type hints")
    try:
        with pytest.raises(EditRejected, match=r"reached max_tokens \(3\)"):
            await run_edit(request, model, provider)
    finally:
        await provider.aclose()


async def test_a_selection_too_big_is_refused_before_generation(real_server: RealServer) -> None:
    model = smollm2(real_server, context_length=300)
    big = "".join(f"value_{i} = compute({i}, {i * 7}, 'label {i}')\n" for i in range(200))
    provider = LlamafileProvider(model)
    try:
        with pytest.raises(ContextTooSmall, match="does not fit the model's context"):
            await run_edit(EditRequest(text=big, start_line=0, end_line=200, instruction="x"), model, provider)
    finally:
        await provider.aclose()


async def test_the_context_budget_trims_a_big_file_to_fit_the_real_tokenizer(real_server: RealServer) -> None:
    model = smollm2(
        real_server, context_length=1024, completion_options=CompletionOptions(temperature=0.0, max_tokens=64)
    )
    text = "".join(f"def function_{i}(x):\n    return x * {i}\n\n" for i in range(600))
    provider = LlamafileProvider(model)
    try:
        prepared = await prepare_prompt(
            EditRequest(text=text, start_line=900, end_line=902, instruction="x"), model, provider
        )
        exact = await provider.count_tokens(prepared.prompt.text)
    finally:
        await provider.aclose()
    assert prepared.fitted.counted
    assert exact is not None and exact + 64 <= 1024
    assert 0 < prepared.fitted.prefix_lines < 900
    assert "def function_299(x)" in prepared.prompt.text  # the nearest lines above
    assert "def function_300(x)" in prepared.prompt.text  # the selection
    assert "def function_0(x)" not in prepared.prompt.text


async def test_a_prompt_beyond_the_server_context_is_reported_as_such(real_server: RealServer) -> None:
    # The config claims more context than the server gives a slot (8192 / 2 slots).
    model = smollm2(real_server, context_length=32768)
    text = "".join(f"value_{i} = compute({i}, {i * 7}, 'label {i}')\n" for i in range(1200))
    provider = LlamafileProvider(model)
    try:
        with pytest.raises(ContextTooSmall, match="does not fit the model server's context"):
            await run_edit(EditRequest(text=text, start_line=0, end_line=1200, instruction="x"), model, provider)
    finally:
        await provider.aclose()


def test_check_probes_the_real_server(tmp_path: Path, real_server: RealServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llamafile_ls", "check", "--config", str(config_file(tmp_path, real_server))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "server: up" in result.stdout
    assert "context: server 4096 tokens, context_length 4096" in result.stdout
    assert "token counting: the server's tokenizer" in result.stdout
    assert "edits go to /completion" in result.stdout and "fill-in-the-middle: not available" in result.stdout
