from __future__ import annotations

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


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    binary, model = real_parts.server_path(), real_parts.model_path()
    if not (binary.exists() and model.exists()):
        message = "the real llama-server or SmolLM2 is missing: run python scripts/real_parts.py"
        if os.environ.get("LLAMAFILE_LS_REQUIRE_REAL"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
             "-c", "8192", "-np", "2", "--slots", "-t", "2"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = RealServer(process, port, log)
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
            process.kill()
            pytest.fail("llama-server did not become ready within 120 s")
        time.sleep(0.1)
    yield server
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def real_qwen_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """The real llama-server running Qwen2.5-Coder-0.5B-Instruct Q4_K_M, which has FIM tokens."""
    binary, model = real_parts.server_path(), real_parts.qwen_path()
    if not (binary.exists() and model.exists()):
        message = "the real llama-server or Qwen2.5-Coder is missing: run python scripts/real_parts.py --server --qwen"
        if os.environ.get("LLAMAFILE_LS_REQUIRE_REAL"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server-qwen") / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
             "-c", "8192", "-np", "2", "--slots", "-t", "2"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = RealServer(process, port, log)
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
            process.kill()
            pytest.fail("llama-server did not become ready within 120 s")
        time.sleep(0.1)
    yield server
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
