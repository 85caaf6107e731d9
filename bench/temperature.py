#!/usr/bin/env python3
"""Which sampling temperature makes edits land? A fixed set of small edit tasks — a
function, an instruction, and a hidden check — run through the real edit path
(:func:`llamafile_ls.edit.run_edit`, the llama.cpp provider, the model's prompt family) on
llama-server with Qwen2.5-Coder-0.5B-Instruct, at several temperatures and seeds. An edit
passes when the edited file runs and its check holds (in a subprocess, with a time limit).

    python bench/temperature.py                       # 0, 0.2, 0.5, 0.8 x 3 seeds
    python bench/temperature.py --temperatures 0 0.5 --seeds 1 2

The table it prints is the one in docs/sampling.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "server"), str(ROOT / "scripts")]

from support.ports import free_port  # noqa: E402

import real_parts  # noqa: E402
from llamafile_ls import textedit  # noqa: E402
from llamafile_ls.config import CompletionOptions, ModelConfig  # noqa: E402
from llamafile_ls.edit import EditRequest, run_edit  # noqa: E402
from llamafile_ls.errors import LlamafileLsError  # noqa: E402
from llamafile_ls.providers.llamacpp import LlamaCppProvider  # noqa: E402


@attrs.frozen
class Task:
    name: str
    code: str
    instruction: str
    check: str  # Python run after the edited code; an exception or a failed assert fails it


TASKS: tuple[Task, ...] = (
    Task("rename", "def add(a, b):\n    return a + b\n", "rename the function to sum_two",
         "assert sum_two(2, 3) == 5"),
    Task("fix-even", "def is_even(n):\n    return n % 2 == 1\n",
         "fix the bug: it must return True for even numbers", "assert is_even(4) and not is_even(3)"),
    Task("default-arg", 'def greet(name):\n    return "Hello, " + name + "!"\n',
         'give name the default value "world"', 'assert greet() == "Hello, world!" and greet("Ann") == "Hello, Ann!"'),
    Task("comprehension",
         "def squares(n):\n    out = []\n    for i in range(n):\n        out.append(i * i)\n    return out\n",
         "use a list comprehension", "assert squares(4) == [0, 1, 4, 9]"),
    Task("type-hints", "def scale(values, factor):\n    return [v * factor for v in values]\n",
         "add type hints (list of floats, float)",
         "assert scale([1.0, 2.0], 2.0) == [2.0, 4.0] and 'return' in scale.__annotations__"),
    Task("empty-average", "def average(xs):\n    return sum(xs) / len(xs)\n",
         "return 0.0 for an empty list", "assert average([]) == 0.0 and average([1, 3]) == 2"),
    Task("case-insensitive",
         'def count_vowels(s):\n    return sum(1 for c in s if c in "aeiou")\n',
         "make it count upper-case vowels too", 'assert count_vowels("AEIOU") == 5 and count_vowels("abc") == 1'),
    Task("reverse-words", 'def words(s):\n    return " ".join(s.split())\n',
         "return the words in reverse order", 'assert words("a b  c") == "c b a"'),
    Task("docstring", "def area(w, h):\n    return w * h\n", "add a docstring",
         "assert area(2, 3) == 6 and area.__doc__"),
    Task("raise-negative",
         "def factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result\n",
         "raise ValueError for a negative n",
         "assert factorial(5) == 120\ntry:\n    factorial(-1)\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError"),
    Task("rename-variable",
         "def swap(pair):\n    tmp = pair[0]\n    return (pair[1], tmp)\n",
         "rename the variable tmp to first", "assert swap((1, 2)) == (2, 1) and 'tmp' not in SOURCE"),
    Task("f-string", 'def price(x):\n    return "$" + format(x, ".2f")\n', "use an f-string",
         'assert price(3.5) == "$3.50" and ("f\\"" in SOURCE or "f\'" in SOURCE)'),
    Task("separator", 'def join_items(items):\n    return ", ".join(items)\n',
         'add a parameter sep with the default ", "',
         'assert join_items(["a", "b"]) == "a, b" and join_items(["a", "b"], sep="-") == "a-b"'),
    Task("fizzbuzz",
         'def fizzbuzz(n):\n    if n % 3 == 0:\n        return "Fizz"\n    if n % 5 == 0:\n        return "Buzz"\n'
         '    if n % 15 == 0:\n        return "FizzBuzz"\n    return str(n)\n',
         'fix it: multiples of 15 must give "FizzBuzz"',
         'assert [fizzbuzz(i) for i in (3, 5, 15, 7)] == ["Fizz", "Buzz", "FizzBuzz", "7"]'),
    Task("implement-clamp", 'def clamp(x, lo, hi):\n    """x limited to the range lo..hi."""\n    pass\n',
         "implement this function", "assert clamp(5, 0, 3) == 3 and clamp(-1, 0, 3) == 0 and clamp(2, 0, 3) == 2"),
    Task("min-not-max", "def pick(xs):\n    best = xs[0]\n    for x in xs:\n        if x > best:\n"
         "            best = x\n    return best\n", "return the smallest element instead of the largest",
         "assert pick([3, 1, 2]) == 1"),
    Task("strip", "def normalize(s):\n    return s.lower()\n", "also strip surrounding whitespace",
         'assert normalize("  AbC ") == "abc"'),
    Task("missing-key", "def lookup(d, key):\n    return d[key]\n", "return None when the key is missing",
         'assert lookup({"a": 1}, "a") == 1 and lookup({}, "b") is None'),
    Task("sorted-copy", "def sorted_copy(xs):\n    xs.sort()\n    return xs\n",
         "return a sorted copy and leave the argument unchanged",
         "data = [3, 1, 2]\nassert sorted_copy(data) == [1, 2, 3] and data == [3, 1, 2]"),
    Task("iterative-fib", "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
         "make it iterative", "assert fib(10) == 55 and fib(200) > 0"),
)  # fmt: skip


def passes(task: Task, text: str) -> bool:
    """Does the edited file run, and its check hold? In a subprocess: the code is a model's."""
    program = f"SOURCE = {text!r}\n{text}\n{task.check}\n"
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(program)
    try:
        done = subprocess.run([sys.executable, file.name], capture_output=True, timeout=10, check=False)
        return done.returncode == 0
    except subprocess.TimeoutExpired:
        return False
    finally:
        os.unlink(file.name)


async def run_task(url: str, task: Task, temperature: float | None, seed: int) -> bool:
    # A right answer to these tasks is a few dozen tokens; one that runs on is a failure,
    # and capping it keeps the run within minutes on two cores.
    options = CompletionOptions(temperature=temperature, max_tokens=256)
    model = ModelConfig(
        title="qwen", model="qwen2.5-coder-0.5b-instruct", provider="llama.cpp", api_base=url,
        context_length=4096, completion_options=options, llama_cpp_args={"seed": seed},
    )  # fmt: skip
    lines = task.code.count("\n")
    request = EditRequest(task.code, 0, lines, task.instruction, "task.py", "python")
    provider = LlamaCppProvider(model)
    try:
        result = await run_edit(request, model, provider)
    except LlamafileLsError:
        return False  # refused (no code, cut off): a failed edit
    finally:
        await provider.aclose()
    assert result.selection is not None
    text = textedit.apply_edits(task.code, result.edits) if result.edits else task.code
    return await asyncio.to_thread(passes, task, text)


Results = dict[float, dict[str, list[bool]]]  # temperature → task → one outcome per seed


async def measure(url: str, temperatures: list[float], seeds: list[int]) -> Results:
    results: Results = {t: {task.name: [] for task in TASKS} for t in temperatures}
    slots = asyncio.Semaphore(2)  # the server's two slots

    async def one(temperature: float, seed: int, task: Task) -> None:
        async with slots:
            ok = await run_task(url, task, temperature, seed)
        results[temperature][task.name].append(ok)
        print(f"  t={temperature:<4} seed={seed} {task.name:<17} {'pass' if ok else 'FAIL'}", flush=True)

    jobs = [one(t, seed, task) for seed in seeds for t in temperatures for task in TASKS]
    await asyncio.gather(*jobs)
    return results


def start_server(port: int) -> subprocess.Popen[bytes]:
    binary, model = real_parts.server_path(), real_parts.qwen_path()
    if not (binary.exists() and model.exists()):
        sys.exit("the real llama-server or Qwen2.5-Coder is missing: run python scripts/real_parts.py --server --qwen")
    process = subprocess.Popen(
        [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
         "-c", "8192", "-np", "2", "-t", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    sys.exit("llama-server did not become ready within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 0.2, 0.5, 0.8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    port = free_port()
    server = start_server(port)
    started = time.monotonic()
    try:
        results = asyncio.run(measure(f"http://127.0.0.1:{port}", args.temperatures, args.seeds))
    finally:
        server.terminate()
        server.wait(10)
    print(f"\n{len(TASKS)} tasks x {len(args.seeds)} seeds, {time.monotonic() - started:.0f} s\n")
    print(table(results))


def table(results: Results) -> str:
    """Pass rate per temperature, and how many tasks at least one seed got right (what
    asking again can reach: at temperature 0 every try is the same)."""
    rows = ["| temperature | edits that passed | pass rate | tasks passed by some seed |", "| --- | --- | --- | --- |"]
    for temperature, by_task in results.items():
        outcomes = [ok for runs in by_task.values() for ok in runs]
        reached = sum(any(runs) for runs in by_task.values())
        rows.append(f"| {temperature:g} | {sum(outcomes)}/{len(outcomes)} | {sum(outcomes) / len(outcomes):.0%} "
                    f"| {reached}/{len(by_task)} |")  # fmt: skip
    return "\n".join(rows)


if __name__ == "__main__":
    main()
