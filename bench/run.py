#!/usr/bin/env python3
"""How close an edit comes to the model server's own speed: the benchmark suite.

Everything llamafile-ls adds on top of the llama.cpp server (LSP, config, templates, HTTP,
diffing, applyEdit) is overhead. Each section measures one part of it, with repeated,
interleaved runs; ratios measured side by side are the headline.

    python bench/run.py                 # the full suite (a few minutes on 2 cores)
    python bench/run.py --quick         # a smoke run: every section, few repetitions
    python bench/run.py --json out.json --markdown docs/performance.md

Needs the real llama-server and SmolLM2 (scripts/real_parts.py gets them, cached).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from lsprotocol import types  # noqa: E402
from support.fakeserver import FakeModelServer, Reply, completion  # noqa: E402
from support.lsp_editor import edit_args, execute, start, stop  # noqa: E402
from support.ports import free_port  # noqa: E402

import real_parts  # noqa: E402
from llamafile_ls.config import parse_config  # noqa: E402
from llamafile_ls.edit import EditRequest, prepare_prompt  # noqa: E402
from llamafile_ls.providers.llamacpp import LlamaCppProvider, completion_body  # noqa: E402
from llamafile_ls.providers.openai import OpenAIProvider, request_body  # noqa: E402

SAMPLE = (ROOT / "examples" / "sample.py").read_text()
Row = dict[str, Any]
# A new connection per raw request (a loopback connect costs ~0.1 ms): llama-server closes one
# after a streamed answer without saying so, and a bare httpx client fails on it.
RAW_LIMITS = httpx.Limits(max_keepalive_connections=0)


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "min": ordered[0], "max": ordered[-1], "p99": p99, "n": len(ordered)}


class LlamaServer:
    def __init__(self, slots: int, threads: int = 2) -> None:
        self.port = free_port()
        self.slots = slots
        self.url = f"http://127.0.0.1:{self.port}"
        binary, model = real_parts.ensure_server(), real_parts.ensure_model()
        self.log = open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(self.port),
             "-c", str(4096 * slots), "-np", str(slots), "-t", str(threads), "--slots"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise SystemExit("llama-server did not start")
            time.sleep(0.1)

    def busy(self) -> bool:
        return any(slot.get("is_processing") for slot in httpx.get(f"{self.url}/slots", timeout=5).json())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def write_config(path: Path, api_base: str, **extra: Any) -> Path:
    entry = {"title": "bench", "provider": "llamafile", "model": "SmolLM2-135M-Instruct", "apiBase": api_base,
             "contextLength": 4096, "completionOptions": {"temperature": 0, "maxTokens": 200}, **extra}  # fmt: skip
    path.write_text(json.dumps({"models": [entry]}))
    return path


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


# --- 1. overhead on the real model --------------------------------------------------------


async def overhead_ratio(work: Path, server: LlamaServer, runs: int) -> Row:
    """The same edit over LSP, end to end, against the identical /completion sent raw."""
    config_path = write_config(work / "overhead.json", server.url)
    model = parse_config(config_path.read_text()).models[0]
    request = EditRequest(text=SAMPLE, start_line=5, end_line=10, instruction="use a with statement", language="python")
    provider = LlamaCppProvider(model)
    prepared = await prepare_prompt(request, model, provider)
    await provider.aclose()
    body = completion_body(model, prepared.prompt)
    client, editor = await start(config_path)
    lsp_times, raw_times = [], []
    async with httpx.AsyncClient(timeout=300, limits=RAW_LIMITS) as raw:

        async def raw_call() -> None:
            async with raw.stream("POST", f"{server.url}/completion", json=body) as response:
                async for _ in response.aiter_lines():
                    pass

        try:
            for run in range(runs + 1):  # the first pair warms the prompt cache and is dropped
                path = work / f"overhead-{run}.py"
                uri = editor.open(path, SAMPLE)
                lsp, result = await timed(
                    lambda uri=uri: execute(client, "llamafile.edit", edit_args(uri, 5, 9, "use a with statement"))
                )  # type: ignore[misc]
                assert result.get("applied") or "unchanged" in result.get("reason", ""), result
                raw_time, _ = await timed(raw_call)
                if run:
                    lsp_times.append(lsp)
                    raw_times.append(raw_time)
        finally:
            await stop(client)
    ratios = [a / b for a, b in zip(lsp_times, raw_times, strict=True)]
    return {"lsp_s": summary(lsp_times), "raw_s": summary(raw_times), "ratio": summary(ratios)}


# --- 2. added latency against an instant server ---------------------------------------------


async def added_latency(work: Path, runs: int) -> Row:
    """llamafile.edit sent → workspace/applyEdit received, minus the raw request, by file size."""
    fake = FakeModelServer().start()
    fake.route("/completion", lambda _r: completion("x_0 = 0\n"))
    # A tokenizer with the density of a real one on code (about 4 bytes a token).
    fake.route("/tokenize", lambda r: Reply(content_type="application/json", pieces=[
        json.dumps({"tokens": [0] * (len(r.body["content"].encode()) // 4)}).encode()]))  # fmt: skip
    config_path = write_config(work / "instant.json", fake.url, contextLength=8192, promptTemplates={"edit": "{{{file_prefix}}}{{{code_to_edit}}}{{{file_suffix}}}"})  # fmt: skip
    client, editor = await start(config_path)
    arrived: list[float] = []
    original = editor._apply_edit

    def record(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        arrived.append(time.perf_counter())
        return original(params)

    editor._apply_edit = record  # type: ignore[method-assign]
    rows: Row = {}
    try:
        async with httpx.AsyncClient() as raw:
            for lines in (2_000, 20_000):
                text = "".join(f"value_{i} = {i}\n" for i in range(lines))
                latencies, raws = [], []
                for run in range(runs + 2):
                    uri = editor.open(work / f"big-{lines}-{run}.py", text)
                    await execute(client, "llamafile.listModels")  # the server has read the didOpen
                    middle = lines // 2
                    started = time.perf_counter()
                    await execute(client, "llamafile.edit", edit_args(uri, middle, middle, "x"))
                    to_apply = arrived[-1] - started
                    raw_time, _ = await timed(lambda: raw.post(f"{fake.url}/completion", json={"prompt": "p"}))
                    if run >= 2:  # warm-up runs dropped
                        latencies.append((to_apply - raw_time) * 1000)
                        raws.append(raw_time * 1000)
                rows[f"{lines}_lines"] = {"added_ms": summary(latencies), "raw_ms": summary(raws)}
    finally:
        await stop(client)
        fake.stop()
    return rows


# --- 3. start and footprint -------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def start_and_footprint(work: Path, runs: int, edits: int) -> Row:
    from bench.startup import one_run

    starts, idles = [], []
    for _ in range(runs):
        answered, memory = one_run()
        starts.append(answered * 1000)
        idles.append(memory)
    fake = FakeModelServer().start()
    fake.route("/completion", lambda _r: completion("x = 1\n"))
    client, editor = await start(
        write_config(work / "footprint.json", fake.url, promptTemplates={"edit": "{{{code_to_edit}}}"})
    )
    try:
        pid = client._server.pid  # type: ignore[union-attr]
        uri = editor.open(work / "footprint.py", SAMPLE)
        for index in range(10):  # warm-up: the HTTP stack and caches load on the first edits
            await execute(client, "llamafile.edit", edit_args(uri, 5 + index % 5, 5 + index % 5, "x"))
        before = rss_mb(pid)
        for index in range(edits):
            await execute(client, "llamafile.edit", edit_args(uri, 5 + index % 5, 5 + index % 5, "x"))
        after = rss_mb(pid)
    finally:
        await stop(client)
        fake.stop()
    return {"initialize_ms": summary(starts), "idle_rss_mb": summary(idles), "rss_before_edits_mb": before,
            f"rss_after_{edits}_edits_mb": after}  # fmt: skip


# --- 4. cancellation ----------------------------------------------------------------------------


async def cancellation(work: Path, server: LlamaServer, runs: int) -> Row:
    from support.fakeserver import sse

    to_closed, to_idle = [], []
    fake = FakeModelServer().start()
    fake.route("/completion", lambda _r: Reply(pieces=sse(*({"content": "x"} for _ in range(2000))), delay=0.01))
    client, editor = await start(
        write_config(work / "cancel-fake.json", fake.url, promptTemplates={"edit": "{{{code_to_edit}}}"})
    )
    try:
        uri = editor.open(work / "cancel.py", SAMPLE)
        for run in range(runs):
            seen = len(fake.disconnects)
            call = asyncio.ensure_future(execute(client, "llamafile.edit", edit_args(uri, 5, 9, "x"), msg_id=f"c{run}"))
            while len([r for r in fake.requests if r.path == "/completion"]) <= run:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.1)
            sent = time.monotonic()
            client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=f"c{run}"))
            while len(fake.disconnects) == seen:
                await asyncio.sleep(0.001)
            to_closed.append((fake.disconnects[-1] - sent) * 1000)
            with contextlib.suppress(Exception):
                await call
    finally:
        await stop(client)
        fake.stop()
    config_path = write_config(work / "cancel-real.json", server.url, llamaCppArgs={"ignore_eos": True}, completionOptions={"maxTokens": 3000})  # fmt: skip
    client, editor = await start(config_path)
    try:
        uri = editor.open(work / "cancel-real.py", SAMPLE)
        for run in range(runs):
            call = asyncio.ensure_future(
                execute(client, "llamafile.edit", edit_args(uri, 5, 9, "x"), token=f"t{run}", msg_id=f"r{run}")
            )
            while not any(
                isinstance(r, types.WorkDoneProgressReport) for r in client.progress_reports.get(f"t{run}", [])
            ):
                await asyncio.sleep(0.01)
            sent = time.monotonic()
            client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=f"r{run}"))
            while server.busy():
                await asyncio.sleep(0.005)
            to_idle.append((time.monotonic() - sent) * 1000)
            with contextlib.suppress(Exception):
                await call
    finally:
        await stop(client)
    return {"cancel_to_connection_closed_ms": summary(to_closed), "cancel_to_slot_idle_ms": summary(to_idle)}


# --- 5. concurrency -------------------------------------------------------------------------------


async def concurrency(work: Path, server: LlamaServer, runs: int) -> Row:
    """4 edits at once on a 4-slot llama-server against one alone; other requests meanwhile."""
    client, editor = await start(
        write_config(work / "concurrent.json", server.url, completionOptions={"temperature": 0, "maxTokens": 400})
    )
    alone, together, responsive = [], [], []
    try:
        warm = editor.open(work / "concurrent-warm.py", SAMPLE)
        await execute(client, "llamafile.edit", edit_args(warm, 5, 9, "use a with statement"))
        for run in range(runs):
            single = editor.open(work / f"alone-{run}.py", SAMPLE)
            uris = [editor.open(work / f"concurrent-{run}-{i}.py", SAMPLE) for i in range(4)]
            one, _ = await timed(
                lambda single=single: execute(client, "llamafile.edit", edit_args(single, 5, 9, "use a with statement"))  # type: ignore[misc]
            )
            alone.append(one)
            edits = [
                asyncio.ensure_future(execute(client, "llamafile.edit", edit_args(u, 5, 9, "use a with statement")))
                for u in uris
            ]
            started = time.perf_counter()
            while not all(e.done() for e in edits):
                answer, _ = await timed(lambda: execute(client, "llamafile.listModels"))
                responsive.append(answer * 1000)
                action, _ = await timed(lambda uris=uris: client.text_document_code_action_async(types.CodeActionParams(  # type: ignore[misc]
                    text_document=types.TextDocumentIdentifier(uri=uris[0]),
                    range=types.Range(types.Position(5, 0), types.Position(9, 0)),
                    context=types.CodeActionContext(diagnostics=[]))))  # fmt: skip
                responsive.append(action * 1000)
                await asyncio.sleep(0.01)
            together.append(time.perf_counter() - started)
            await asyncio.gather(*edits)
    finally:
        await stop(client)
    ratios = [t / a for t, a in zip(together, alone, strict=True)]
    return {"one_edit_s": summary(alone), "four_edits_s": summary(together), "ratio_4_over_1": summary(ratios),
            "other_requests_ms": summary(responsive)}  # fmt: skip


# --- 6. context budget ---------------------------------------------------------------------------


async def context_budget(server: LlamaServer, runs: int) -> Row:
    text = "".join(f"def function_{i}(x):\n    return x * {i} + {i % 7}\n\n" for i in range(6_667))  # 20,001 lines
    model = parse_config(json.dumps({"models": [{"title": "b", "apiBase": server.url, "contextLength": 8192,
                                                 "completionOptions": {"maxTokens": 512}}]})).models[0]  # fmt: skip
    request = EditRequest(text=text, start_line=10_000, end_line=10_010, instruction="x", language="python")

    class NoTokenizer:
        wants_chat = False

        async def count_tokens(self, _text: str) -> int | None:
            return None

    provider = LlamaCppProvider(model)
    with_tokenize, estimated = [], []
    try:
        for _ in range(runs):
            seconds, prepared = await timed(lambda: prepare_prompt(request, model, provider))  # type: ignore[arg-type]
            with_tokenize.append(seconds * 1000)
            seconds, _ = await timed(lambda: prepare_prompt(request, model, NoTokenizer()))  # type: ignore[arg-type]
            estimated.append(seconds * 1000)
    finally:
        await provider.aclose()
    return {"with_tokenize_ms": summary(with_tokenize), "estimate_only_ms": summary(estimated),
            "prompt_tokens": prepared.fitted.tokens, "lines_kept": prepared.fitted.prefix_lines + prepared.fitted.suffix_lines}  # fmt: skip


# --- 8. overhead over the OpenAI API (/v1/chat/completions) ------------------------------------


def openai_entry(title: str, api_base: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "provider": "openai", "model": "SmolLM2-135M-Instruct", "apiBase": api_base,
            "contextLength": 4096, "completionOptions": {"temperature": 0, "maxTokens": 200}, **extra}  # fmt: skip


async def interleaved(
    first: Callable[[], Awaitable[Any]], second: Callable[[], Awaitable[Any]], runs: int
) -> tuple[list[float], list[float]]:
    """Seconds of ``runs`` pairs, the order swapped every other pair; a first pair (warm-up:
    llama.cpp's prompt cache, connections, lazy imports) is dropped."""
    times: tuple[list[float], list[float]] = ([], [])
    for run in range(runs + 1):
        calls = [(0, first), (1, second)]
        for index, call in calls if run % 2 else calls[::-1]:
            seconds, _ = await timed(call)
            if run:
                times[index].append(seconds)
    return times


async def overhead_v1(work: Path, server: LlamaServer, runs: int) -> Row:
    """The same edit over LSP with ``"provider": "openai"`` against the identical
    /v1/chat/completions request (same messages, same options) sent raw with httpx."""
    config_path = work / "overhead-v1.json"
    config_path.write_text(json.dumps({"models": [openai_entry("bench v1", f"{server.url}/v1")]}))
    model = parse_config(config_path.read_text()).models[0]
    request = EditRequest(text=SAMPLE, start_line=5, end_line=10, instruction="use a with statement", language="python")
    provider = OpenAIProvider(model)
    prepared = await prepare_prompt(request, model, provider)
    await provider.aclose()
    assert prepared.prompt.chat
    body = request_body(provider.model_name, model.completion_options, prepared.prompt)
    client, editor = await start(config_path)
    count = 0
    async with httpx.AsyncClient(timeout=300, limits=RAW_LIMITS) as raw:

        async def raw_call() -> None:
            async with raw.stream("POST", f"{server.url}/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                async for _ in response.aiter_lines():
                    pass

        async def lsp_call() -> None:
            nonlocal count
            count += 1
            uri = editor.open(work / f"overhead-v1-{count}.py", SAMPLE)
            result = await execute(client, "llamafile.edit", edit_args(uri, 5, 9, "use a with statement"))
            assert result.get("applied") or "unchanged" in result.get("reason", ""), result

        try:
            lsp_times, raw_times = await interleaved(lsp_call, raw_call, runs)
        finally:
            await stop(client)
    ratios = [a / b for a, b in zip(lsp_times, raw_times, strict=True)]
    return {"lsp_s": summary(lsp_times), "raw_s": summary(raw_times), "ratio": summary(ratios)}


# --- 9. through a team gateway (LiteLLM) --------------------------------------------------------


async def gateway_overhead(work: Path, server: LlamaServer, runs: int) -> Row:
    """The same LSP edit through a LiteLLM proxy (scripts/litellm_gateway.py, in front of the
    same llama-server) against straight to the llama-server's /v1: one language server, two
    models, interleaved."""
    import litellm_gateway

    try:
        litellm_gateway.ensure_venv()
    except Exception as error:  # no network for pip, no disk: the rest of the suite still runs
        return {"skipped": f"the LiteLLM venv cannot be built: {type(error).__name__}: {error}"}
    key = "sk-bench-virtual-key"
    (work / "gateway").mkdir()
    with litellm_gateway.gateway(upstreams=[server.url], workdir=work / "gateway", keys=[key]) as gateway:
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=120, headers=gateway.headers) as warm:
            for _ in range(8):  # a fresh proxy loads much of itself on its first requests
                seconds, answer = await timed(lambda: warm.post(f"{gateway.url}/v1/chat/completions", json={
                    "model": gateway.model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}))  # fmt: skip
                assert answer.status_code == 200, answer.text
                if seconds < 0.3:
                    break
        warm_up_s = time.perf_counter() - started
        direct = openai_entry("direct", f"{server.url}/v1")
        through = openai_entry("gateway", f"{gateway.url}/v1", apiKey=key, model=gateway.model)
        config_path = work / "gateway.json"
        config_path.write_text(json.dumps({"models": [direct, through]}))
        client, editor = await start(config_path)
        count = 0

        def edit_with(title: str) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                nonlocal count
                count += 1
                uri = editor.open(work / f"gateway-{count}.py", SAMPLE)
                args = edit_args(uri, 5, 9, "use a with statement", model=title)
                result = await execute(client, "llamafile.edit", args)
                assert result.get("applied") or "unchanged" in result.get("reason", ""), result

            return call

        try:
            direct_times, gateway_times = await interleaved(edit_with("direct"), edit_with("gateway"), runs)
        finally:
            await stop(client)
    ratios = [g / d for g, d in zip(gateway_times, direct_times, strict=True)]
    return {"direct_s": summary(direct_times), "gateway_s": summary(gateway_times), "ratio": summary(ratios),
            "warm_up_s": warm_up_s, "litellm": litellm_gateway.LITELLM_VERSION}  # fmt: skip


# --- 7. soak: bench/soak.py ----------------------------------------------------------------------


async def soak_section(work: Path, server: LlamaServer, edits: int) -> Row:
    from bench.soak import soak

    (work / "soak").mkdir()
    return await soak(work / "soak", server, edits)


# --- the table ----------------------------------------------------------------------------------


def table(results: Row) -> str:
    o, a, s, c, k, b = (
        results[key] for key in ("overhead", "added_latency", "start", "cancel", "concurrency", "budget")
    )
    after = next(v for key, v in s.items() if key.startswith("rss_after"))
    rows = [
        ("LSP edit / raw /completion on SmolLM2 (ratio)", f"{o['ratio']['p50']:.3f}", f"{o['ratio']['min']:.3f}–{o['ratio']['max']:.3f}", "≤ 1.03"),
        ("  LSP edit end to end (s)", f"{o['lsp_s']['p50']:.3f}", f"{o['lsp_s']['min']:.3f}–{o['lsp_s']['max']:.3f}", ""),
        ("  raw /completion (s)", f"{o['raw_s']['p50']:.3f}", f"{o['raw_s']['min']:.3f}–{o['raw_s']['max']:.3f}", ""),
        ("added latency, 2,000-line file (ms)", f"{a['2000_lines']['added_ms']['p50']:.1f}", f"{a['2000_lines']['added_ms']['min']:.1f}–{a['2000_lines']['added_ms']['max']:.1f}", "≤ 5"),
        ("added latency, 20,000-line file (ms)", f"{a['20000_lines']['added_ms']['p50']:.1f}", f"{a['20000_lines']['added_ms']['min']:.1f}–{a['20000_lines']['added_ms']['max']:.1f}", ""),
        ("process start → initialize answered (ms)", f"{s['initialize_ms']['p50']:.0f}", f"{s['initialize_ms']['min']:.0f}–{s['initialize_ms']['max']:.0f}", "≤ 300"),
        ("RSS idle (MB)", f"{s['idle_rss_mb']['p50']:.1f}", "", "≤ 60"),
        ("RSS after 10 warm-up edits → after the run (MB)", f"{s['rss_before_edits_mb']:.1f} → {after:.1f}", "", "no growth"),
        ("$/cancelRequest → model connection closed (ms)", f"{c['cancel_to_connection_closed_ms']['p50']:.1f}", f"{c['cancel_to_connection_closed_ms']['min']:.1f}–{c['cancel_to_connection_closed_ms']['max']:.1f}", "≤ 50"),
        ("$/cancelRequest → llama-server slot idle (ms)", f"{c['cancel_to_slot_idle_ms']['p50']:.0f}", f"{c['cancel_to_slot_idle_ms']['min']:.0f}–{c['cancel_to_slot_idle_ms']['max']:.0f}", ""),
        ("4 edits at once / 1 alone, 4 slots (ratio)", f"{k['ratio_4_over_1']['p50']:.2f}", f"{k['ratio_4_over_1']['min']:.2f}–{k['ratio_4_over_1']['max']:.2f}", ""),
        ("listModels / codeAction while 4 edits stream, p99 (ms)", f"{k['other_requests_ms']['p99']:.1f}", f"p50 {k['other_requests_ms']['p50']:.1f}", "≤ 20"),
        ("prompt for 20,000 lines, ctx 8192, with /tokenize (ms)", f"{b['with_tokenize_ms']['p50']:.1f}", f"{b['with_tokenize_ms']['min']:.1f}–{b['with_tokenize_ms']['max']:.1f}", ""),
        ("  same with the estimate only (ms)", f"{b['estimate_only_ms']['p50']:.1f}", f"{b['estimate_only_ms']['min']:.1f}–{b['estimate_only_ms']['max']:.1f}", ""),
    ]  # fmt: skip
    if "overhead_v1" in results:  # 8. the OpenAI API
        v = results["overhead_v1"]
        rows += [
            ("LSP edit / raw /v1/chat/completions on SmolLM2 (ratio)", f"{v['ratio']['p50']:.3f}", f"{v['ratio']['min']:.3f}–{v['ratio']['max']:.3f}", "≤ 1.01"),
            ("  LSP edit end to end, provider openai (s)", f"{v['lsp_s']['p50']:.3f}", f"{v['lsp_s']['min']:.3f}–{v['lsp_s']['max']:.3f}", ""),
            ("  raw /v1/chat/completions (s)", f"{v['raw_s']['p50']:.3f}", f"{v['raw_s']['min']:.3f}–{v['raw_s']['max']:.3f}", ""),
        ]  # fmt: skip
    if "gateway" in results:  # 9. through LiteLLM
        g = results["gateway"]
        if "skipped" in g:
            rows.append(("LSP edit through LiteLLM / direct to /v1 (ratio)", "skipped", g["skipped"][:80], ""))
        else:
            rows += [
                (f"LSP edit through LiteLLM {g['litellm']} / direct to /v1 (ratio)", f"{g['ratio']['p50']:.3f}", f"{g['ratio']['min']:.3f}–{g['ratio']['max']:.3f}", ""),
                ("  through the gateway (s)", f"{g['gateway_s']['p50']:.3f}", f"{g['gateway_s']['min']:.3f}–{g['gateway_s']['max']:.3f}", ""),
                ("  direct to llama-server's /v1 (s)", f"{g['direct_s']['p50']:.3f}", f"{g['direct_s']['min']:.3f}–{g['direct_s']['max']:.3f}", ""),
            ]  # fmt: skip
    if "soak" in results:  # 7. the soak
        from bench.soak import table_rows

        rows += table_rows(results["soak"])
    lines = ["| measure | median | range | goal |", "|---|---|---|---|"]
    lines += [f"| {name} | {median} | {spread} | {goal} |" for name, median, spread, goal in rows]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> Row:
    import tempfile

    runs = 2 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix="llamafile-bench-") as tmp:
        work = Path(tmp)
        os.environ["XDG_STATE_HOME"] = str(work / "state")
        server = LlamaServer(slots=4)
        try:
            results: Row = {
                "machine": {
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                },
                "runs": runs,
            }
            steps: list[tuple[str, Callable[[], Awaitable[Row]]]] = [
                ("overhead", lambda: overhead_ratio(work, server, runs)),
                ("added_latency", lambda: added_latency(work, max(runs * 3, 5))),
                ("start", lambda: start_and_footprint(work, max(runs, 3), 20 if args.quick else 100)),
                ("cancel", lambda: cancellation(work, server, runs)),
                ("concurrency", lambda: concurrency(work, server, runs)),
                ("budget", lambda: context_budget(server, runs)),
                ("overhead_v1", lambda: overhead_v1(work, server, runs)),
                ("gateway", lambda: gateway_overhead(work, server, runs)),
                ("soak", lambda: soak_section(work, server, 60 if args.quick else 1000)),
            ]
            for name, step in steps:
                if args.only and name not in args.only:
                    continue
                print(f"bench: {name}…", file=sys.stderr, flush=True)
                section_started = time.perf_counter()
                results[name] = await step()
                print(f"bench: {name} took {time.perf_counter() - section_started:.1f} s", file=sys.stderr, flush=True)
        finally:
            server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few repetitions")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    parser.add_argument("--only", nargs="+", help="run only these sections (no table)")
    parser.add_argument("--markdown", type=Path, help="replace the table in this Markdown file")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    if args.only:
        print(json.dumps({k: v for k, v in results.items() if k in args.only}, indent=1))
        return
    text = table(results)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.markdown:
        page = args.markdown.read_text()
        start, end = "<!-- bench:start -->", "<!-- bench:end -->"
        stamp = f"{time.strftime('%Y-%m-%d')}, {results['machine']['platform']}, {results['machine']['cpus']} cores, {results['runs']} runs"
        page = page.split(start)[0] + f"{start}\n_{stamp}_\n\n{text}\n{end}" + page.split(end)[1]
        args.markdown.write_text(page)


if __name__ == "__main__":
    main()
