#!/usr/bin/env python3
"""How the time to parse config.json grows with its size: it should grow linearly.

Builds configs of 0.5, 1, 2 and 4 MB (comments, trailing commas, and unknown keys in
proportion to the size, each of which is a warning that needs its line), times
``parse_config`` on each, and prints the ratio of each time to the previous size's: about
2 per doubling is linear, about 4 would be quadratic.

    python bench/config_scaling.py [--runs 3] [--sizes 0.5,1,2,4]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "server"))

from llamafile_ls.config import parse_config

_CHUNK_BYTES = 5_000  # each unknown key holds about this much: 200 warnings per MB


def make_config(megabytes: float) -> tuple[str, int]:
    """A config of about ``megabytes`` MB and the number of unknown keys in it."""
    target = int(megabytes * 2**20)
    filler = {
        "notes": ['a line of notes, // not a comment, with "quotes" and /* no comment */ either'] * 40,
        "numbers": list(range(200)),
        "nested": {"deeper": {"still": [True, False, None, 1.5, "x"]}},
    }
    chunk = json.dumps(filler, indent=2)
    repeat = max(1, _CHUNK_BYTES // len(chunk))
    value = "[\n" + ",\n".join([chunk] * repeat) + ",\n]"  # a trailing comma, as JSONC allows
    lines = [
        "// A big config: every unknown key below is a warning with a line and column.",
        "{",
        '  "models": [',
        '    {"title": "llamafile", "provider": "llamafile", "model": "mistral-7b",',
        '     "apiBase": "http://localhost:8080", /* the default */ },',
        "  ],",
    ]
    size = sum(len(line) + 1 for line in lines)
    keys = 0
    while size < target:
        entry = f'  /* entry {keys} */ "unknownKey{keys}": {value},'
        lines.append(entry)
        size += len(entry) + 1
        keys += 1
    lines.append("}")
    return "\n".join(lines), keys


def time_parse(text: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        config = parse_config(text, "config.json")
        best = min(best, time.perf_counter() - started)
    assert all(warning.line for warning in config.warnings)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per size; the best is kept (default: 3)")
    parser.add_argument("--sizes", default="0.5,1,2,4", help="sizes in MB (default: 0.5,1,2,4)")
    args = parser.parse_args()
    print("| size (MB) | unknown keys | parse_config (s) | ratio to previous |")
    print("|---:|---:|---:|---:|")
    previous: float | None = None
    for megabytes in (float(size) for size in args.sizes.split(",")):
        text, keys = make_config(megabytes)
        seconds = time_parse(text, args.runs)
        ratio = f"{seconds / previous:.2f}" if previous else "–"
        print(f"| {len(text) / 2**20:.2f} | {keys} | {seconds:.3f} | {ratio} |", flush=True)
        previous = seconds
    print("\nAbout 2 per doubling of size is linear; about 4 would be quadratic.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
