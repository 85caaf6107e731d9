from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.fakeserver import FakeModelServer
from support.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import real_parts  # noqa: E402


@pytest.fixture
def fake_server() -> Iterator[FakeModelServer]:
    server = FakeModelServer().start()
    yield server
    server.stop()


def model_entry(api_base: str, **extra: Any) -> dict[str, Any]:
    return {"title": "test model", "provider": "llamafile", "model": "smollm2", "apiBase": api_base, **extra}


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config.json with the given models (dicts) and return its path."""

    def write(*models: dict[str, Any], **top: Any) -> Path:
        path = tmp_path / "config.json"
        path.write_text(json.dumps({"models": list(models), **top}, indent=2))
        return path

    return write


class RealServer:
    """The real llama.cpp llama-server running SmolLM2-135M-Instruct."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def slots_busy(self) -> bool:
        slots = httpx.get(f"{self.url}/slots", timeout=5).json()
        return any(slot.get("is_processing") for slot in slots)


@contextlib.contextmanager
def running_llama_server(model: Path, log: Path, *args: str) -> Iterator[RealServer]:
    """The real llama-server with ``model`` on a free port, ready (``/health`` answers) for the
    ``with`` block, then stopped; ``args`` are its size (context, slots, threads)."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(real_parts.server_path()), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
             "--slots", *args],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = RealServer(process, port, log)
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama-server exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama-server did not become ready within 120 s")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _real_parts_or_skip(model: Path, missing: str) -> None:
    if not (real_parts.server_path().exists() and model.exists()):
        if os.environ.get("LLAMAFILE_LS_REQUIRE_REAL"):
            pytest.fail(missing)
        pytest.skip(missing)


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    model = real_parts.model_path()
    _real_parts_or_skip(model, "the real llama-server or SmolLM2 is missing: run python scripts/real_parts.py")
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with running_llama_server(model, log, "-c", "8192", "-np", "2", "-t", "2") as server:
        yield server


@pytest.fixture(scope="session")
def real_qwen_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """The real llama-server running Qwen2.5-Coder-0.5B-Instruct Q4_K_M, which has FIM tokens."""
    model = real_parts.qwen_path()
    missing = "the real llama-server or Qwen2.5-Coder is missing: run python scripts/real_parts.py --server --qwen"
    _real_parts_or_skip(model, missing)
    log = tmp_path_factory.mktemp("llama-server-qwen") / "server.log"
    with running_llama_server(model, log, "-c", "8192", "-np", "2", "-t", "2") as server:
        yield server
