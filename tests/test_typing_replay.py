"""The typing replay benchmark runs (a short smoke on a scripted model; numbers not judged
beyond what any working cache must give)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_typing_replay_runs_and_needs_fewer_requests_than_keystrokes(tmp_path: Path) -> None:
    out = tmp_path / "replay.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "typing_replay.py"), "--fake", "--limit", "80", "--speed", "2",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    numbers = json.loads(out.read_text())
    assert numbers["keystrokes"] == 80
    assert 0 < numbers["model_requests"] < 80
    assert numbers["suggestions_shown"] > 0
    assert numbers["accepted_share"] == 1.0  # the scripted model always guesses right
