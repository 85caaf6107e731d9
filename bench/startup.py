#!/usr/bin/env python3
"""Start-up and footprint of the language server: process start → `initialize` answered,
and resident memory once idle. Prints a table; `--json PATH` writes the numbers too.

    python bench/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def frame(message: dict[str, object]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def read_message(stream: object) -> dict[str, object]:
    length = 0
    while True:
        line = stream.readline()  # type: ignore[attr-defined]
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return json.loads(stream.read(length))  # type: ignore[attr-defined,no-any-return]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_run() -> tuple[float, float]:
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "llamafile_ls"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdin and server.stdout
    server.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}))
    server.stdin.flush()
    while read_message(server.stdout).get("id") != 1:
        pass
    answered = time.perf_counter() - started
    server.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    server.stdin.flush()
    time.sleep(0.5)
    memory = rss_mb(server.pid)
    server.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
    server.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
    server.stdin.flush()
    server.wait(10)
    return answered, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    starts = sorted(r[0] * 1000 for r in runs)
    memories = sorted(r[1] for r in runs)
    result = {
        "initialize_ms_p50": statistics.median(starts),
        "initialize_ms_min": starts[0],
        "initialize_ms_max": starts[-1],
        "idle_rss_mb_p50": statistics.median(memories),
        "runs": args.runs,
    }
    print(f"process start → initialize answered: p50 {result['initialize_ms_p50']:.0f} ms "
          f"(min {starts[0]:.0f}, max {starts[-1]:.0f}, {args.runs} runs)")  # fmt: skip
    print(f"idle RSS after initialize: p50 {result['idle_rss_mb_p50']:.1f} MB")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
