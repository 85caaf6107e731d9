"""The benchmark suite still runs (a quick smoke; the numbers are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RealServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.real
def test_the_benchmark_suite_runs_and_reports_every_section(tmp_path: Path, real_server: RealServer) -> None:
    del real_server  # only to skip (or fail) like the other real tests when the parts are missing
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    numbers = json.loads(out.read_text())
    assert {
        "overhead",
        "added_latency",
        "start",
        "cancel",
        "concurrency",
        "budget",
        "overhead_v1",
        "gateway",
        "soak",
    } <= numbers.keys()
    assert numbers["overhead"]["ratio"]["n"] == 2
    assert numbers["overhead_v1"]["ratio"]["n"] == 2
    assert numbers["gateway"]["ratio"]["n"] == 2, numbers["gateway"]
    assert "| LSP edit / raw /completion on SmolLM2 (ratio) |" in result.stdout
    assert "| LSP edit / raw /v1/chat/completions on SmolLM2 (ratio) |" in result.stdout
