#!/usr/bin/env python3
"""A real LiteLLM proxy (the team gateway) on 127.0.0.1 in front of llama-server upstreams.

LiteLLM and its ``proxy`` extra are heavy (755 MB, 120 packages), so they live in a venv of
their own under ``$LLAMAFILE_LS_CACHE/litellm-venv`` (default ``~/.cache/llamafile-ls``), never
in the project's venv. Every package in it is pinned below; the first install takes 1 to 1.5
minutes and is reused until the pins change.

The proxy is started offline: the model cost map, beta-header list, blog feed, policy
templates and autorouter presets come from the package, telemetry is off, and no database is
configured (``DATABASE_URL`` is removed from its environment), so Prisma never runs and only
the ``master_key`` authenticates (other keys get 400 ``no_db_connection``), unless ``keys=``
is given. Measurements and the exact error bodies: docs/gateway-notes.md.

In a test::

    with gateway(upstreams=["http://127.0.0.1:8081", "http://127.0.0.1:8082"], master_key="sk-test") as g:
        httpx.post(f"{g.url}/v1/chat/completions", headers=g.headers, json={"model": g.model, ...})

``g.model`` (``smollm2`` by default) is load-balanced over all upstreams; ``g.models[i]``
(``smollm2-0``, ``smollm2-1``, ...) reaches upstream ``i`` alone.

From a shell::

    python scripts/litellm_gateway.py --ensure                  # install the venv, print its path
    python scripts/litellm_gateway.py --upstream URL [--upstream URL ...] [--port P] [--master-key K]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LITELLM_VERSION = "1.108.0"
# 1.108.0 is the newest release whose proxy extra resolves from PyPI here: 1.109.x pins
# litellm-proxy-extras==0.4.113 and 1.110.x pins litellm-proxy==1.110.x, neither of which is
# published. 1.82.7, 1.82.8 and 1.107.0 were compromised releases (withdrawn from PyPI).
# The rest is `pip freeze` of a working install, so a later release of any dependency can't
# change what runs.
CONSTRAINTS = """
aiohappyeyeballs==2.7.1 aiohttp==3.14.5 aiosignal==1.4.0 annotated-doc==0.0.7 annotated-types==0.8.0 anyio==4.16.0
APScheduler==3.11.3 attrs==26.1.0 azure-core==1.41.0 azure-identity==1.27.0 azure-storage-blob==12.31.1
backoff==2.2.1 boto3==1.44.8 botocore==1.44.8 certifi==2026.10.19.post1 cffi==2.1.1 charset-normalizer==3.5.3
click==8.5.1 croniter==7.0.0 cryptography==50.0.2 dnspython==2.9.2 email-validator==2.4.0 Expression==5.8.0
fastapi==0.165.0 fastapi-sso==0.23.0 fastuuid==0.14.0 filelock==3.32.7 frozenlist==1.8.0 fsspec==2026.9.0
granian==2.8.7 gunicorn==23.0.0 h11==0.16.0 h2==4.4.1 hf-xet==1.8.0 hiredis==3.5.0 hpack==4.2.0 httpcore==1.0.9
httpcore2==2.16.2 httpx==0.28.1 httpx2==2.16.2 huggingface_hub==1.33.0 hyperframe==6.1.0 idna==3.20
importlib_metadata==8.9.0 inquirerpy==0.3.4 isodate==0.7.2 Jinja2==3.1.6 jiter==0.19.0 jmespath==1.1.0
jsonschema==4.26.0 jsonschema-specifications==2025.9.1 litellm-enterprise==0.1.79 litellm-proxy-extras==0.4.110
markdown-it-py==4.3.0 MarkupSafe==3.0.4 mcp==2.3.0 mcp-types==2.3.0 mdurl==0.1.2 msal==1.39.0 msal-extensions==1.3.1
multidict==7.2.1 numpy==2.4.6 oauthlib==4.0.1 openai==3.57.0 opentelemetry-api==1.45.2 orjson==3.13.0
packaging==26.4 pfzy==0.3.4 polars==1.44.2 polars-runtime-32==1.44.2 prompt_toolkit==3.0.53 propcache==0.5.4
psycopg==3.3.9 psycopg-binary==3.3.9 pycparser==3.12 pydantic==2.14.4 pydantic-settings==2.16.3
pydantic_core==2.50.5 Pygments==2.21.0 PyJWT==2.15.1 PyNaCl==1.6.2 pyroscope-io==0.8.16
python-dateutil==2.9.0.post0 python-dotenv==1.2.4 python-multipart==0.0.34 PyYAML==6.0.4 redis==8.1.0
referencing==0.37.0 regex==2026.11.19 requests==2.34.2 RestrictedPython==8.5 rich==13.9.4 rpds-py==2026.9.1
rq==2.12.0 s3transfer==0.19.3 six==1.17.0 sniffio==1.3.1 soundfile==0.14.0 sse-starlette==3.7.0 starlette==1.10.0
tiktoken==0.14.0 tokenizers==0.23.3 tomlkit==0.15.2 tqdm==4.70.1 truststore==0.10.5 typing-inspection==0.4.5
typing_extensions==4.16.0 tzlocal==5.4.5 urllib3==2.8.0 uvicorn==0.54.0 uvloop==0.23.0 wcwidth==0.9.4
websockets==15.0.1 yarl==1.25.1 zipp==4.1.2 prisma==0.15.0 nodeenv==1.12.0
"""
# prisma (the Python client only: without a database it never runs) is there because 1.108.0's
# auth error handler imports it: without it a request with no key at all gets a bare
# "500 Internal Server Error" instead of the 401 below.
EXTRAS = ("prisma==0.15.0",)

# Everything LiteLLM would otherwise fetch from the internet at start, and its telemetry.
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_TELEMETRY_DISABLED": "True",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
}
# Variables of the caller's environment that would change what the proxy does.
DROPPED_ENV = ("DATABASE_URL", "DIRECT_URL", "LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "REDIS_HOST", "REDIS_URL")

# LiteLLM's own virtual keys need its Prisma database layer, whose engines can't be had here
# (docs/gateway-notes.md). With ``keys=`` the proxy instead authenticates through this
# ``custom_auth`` hook: the keys in gateway_keys.json (the master key among them), read on each
# request, so adding or revoking one takes effect at once. To a client it is the same: a bearer
# token that is accepted, or refused with 401.
KEY_AUTH_MODULE = '''"""Bearer keys for the LiteLLM proxy, from gateway_keys.json (written by litellm_gateway.py)."""

import json
from pathlib import Path

from litellm.proxy._types import ProxyException, UserAPIKeyAuth

KEYS = Path(__file__).with_name("gateway_keys.json")


async def user_api_key_auth(request, api_key):
    if api_key and api_key in json.loads(KEYS.read_text()):
        return UserAPIKeyAuth(api_key=api_key)
    raise ProxyException(message="Authentication Error, invalid key", type="auth_error", param="api_key", code=401)
'''


def cache_dir() -> Path:
    root = os.environ.get("LLAMAFILE_LS_CACHE") or Path.home() / ".cache" / "llamafile-ls"
    return Path(root)


def venv_path() -> Path:
    return cache_dir() / "litellm-venv"


def litellm_path() -> Path:
    return venv_path() / "bin" / "litellm"


def _constraints() -> str:
    return "\n".join(CONSTRAINTS.split()) + "\n"


def _fingerprint() -> str:
    python = ".".join(map(str, sys.version_info[:2]))
    text = f"litellm[proxy]=={LITELLM_VERSION} {' '.join(EXTRAS)}\npython {python}\n{_constraints()}"
    return hashlib.sha256(text.encode()).hexdigest()


def _say(message: str) -> None:
    print(f"litellm_gateway: {message}", file=sys.stderr, flush=True)


def _base_python() -> str:
    """A python to make the venv with: this one, or the one a venv it runs in was made from."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return base if Path(base).exists() else sys.executable


def ensure_venv(*, quiet: bool = True) -> Path:
    """The ``litellm`` executable of the cached venv, installing it first if it is missing or stale.

    Safe to call from several processes at once (a file lock); a failed pip install is tried
    once more before giving up. The venv counts as ready only once ``.ready`` holds the
    fingerprint of the pins, so an interrupted install is redone, never used.
    """
    venv = venv_path()
    marker = venv / ".ready"
    fingerprint = _fingerprint()
    if marker.is_file() and marker.read_text().strip() == fingerprint and litellm_path().exists():
        return litellm_path()
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / "litellm-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text().strip() == fingerprint and litellm_path().exists():
            return litellm_path()
        if not quiet:
            _say(f"installing litellm[proxy]=={LITELLM_VERSION} into {venv} (about a minute, 750 MB)")
        started = time.monotonic()
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True, stdout=subprocess.DEVNULL)
        constraints = venv / "constraints.txt"
        constraints.write_text(_constraints())
        log_path = venv / "install.log"
        command = [
            str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
            "--only-binary", ":all:", "-c", str(constraints), f"litellm[proxy]=={LITELLM_VERSION}", *EXTRAS,
        ]  # fmt: skip
        for attempt in (1, 2):
            with log_path.open("a") as log:
                done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if done.returncode == 0:
                break
            if attempt == 2:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
                raise RuntimeError(f"pip install of litellm[proxy]=={LITELLM_VERSION} failed twice:\n{tail}")
            if not quiet:
                _say("pip install failed; trying once more")
        marker.write_text(fingerprint + "\n")
        if not quiet:
            _say(f"installed in {time.monotonic() - started:.0f} s")
    return litellm_path()


def _api_base(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def make_config(
    upstreams: Sequence[str],
    master_key: str,
    *,
    model: str = "smollm2",
    litellm_settings: Mapping[str, Any] | None = None,
    router_settings: Mapping[str, Any] | None = None,
    general_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The proxy config: ``model`` over every upstream, and ``model-i`` for upstream ``i`` alone.

    An upstream is a llama-server's root or its ``/v1`` URL. ``openai/`` is LiteLLM's provider
    for any OpenAI-compatible server; llama-server ignores the model name and the api_key.
    """
    if not upstreams:
        raise ValueError("at least one upstream is needed")
    deployments: list[dict[str, Any]] = []
    for name in [model, *(f"{model}-{i}" for i in range(len(upstreams)))]:
        targets = upstreams if name == model else [upstreams[int(name.rsplit("-", 1)[1])]]
        for upstream in targets:
            deployments.append(
                {
                    "model_name": name,
                    "litellm_params": {"model": f"openai/{model}", "api_base": _api_base(upstream), "api_key": "none"},
                }
            )
    return {
        "model_list": deployments,
        "general_settings": {"master_key": master_key, **(general_settings or {})},
        "litellm_settings": dict(litellm_settings or {}),
        "router_settings": dict(router_settings or {}),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def proxy_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(OFFLINE_ENV)
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


@dataclass
class Gateway:
    url: str
    master_key: str
    model: str
    models: list[str]
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    keys_path: Path | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.master_key}"}

    def keys(self) -> list[str]:
        if self.keys_path is None:
            raise RuntimeError("this gateway was started without keys=")
        return list(json.loads(self.keys_path.read_text()))

    def add_key(self, key: str) -> None:
        """Accept ``key`` from the next request on (only with ``keys=``)."""
        _write_keys(self.keys_path, [*self.keys(), key])

    def revoke_key(self, key: str) -> None:
        """Refuse ``key`` with 401 from the next request on (only with ``keys=``)."""
        _write_keys(self.keys_path, [k for k in self.keys() if k != key])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _write_keys(path: Path | None, keys: Sequence[str]) -> None:
    if path is None:
        raise RuntimeError("this gateway was started without keys=")
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(list(dict.fromkeys(keys))))
    partial.replace(path)  # atomic: the proxy never reads half a file


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/liveliness", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start(
    upstreams: Sequence[str],
    master_key: str = "sk-llamafile-ls-test",
    *,
    workdir: Path,
    port: int | None = None,
    model: str = "smollm2",
    startup_timeout: float = 120.0,
    extra_args: Sequence[str] = (),
    keys: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    **settings: Mapping[str, Any] | None,
) -> Gateway:
    """Start the proxy and return once ``/health/liveliness`` answers; the caller must ``stop`` it."""
    executable = ensure_venv()
    config = make_config(upstreams, master_key, model=model, **settings)
    keys_path = None
    if keys is not None:
        keys_path = workdir / "gateway_keys.json"
        _write_keys(keys_path, [master_key, *keys])
        (workdir / "gateway_key_auth.py").write_text(KEY_AUTH_MODULE)
        config["general_settings"]["custom_auth"] = "gateway_key_auth.user_api_key_auth"
    config_path = workdir / "litellm-config.yaml"
    config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    for attempt in (1, 2):  # a second try if another process took the free port first
        chosen = port or free_port()
        url = f"http://127.0.0.1:{chosen}"
        log_path = workdir / f"litellm-{chosen}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(executable), "--config", str(config_path), "--host", "127.0.0.1", "--port", str(chosen),
                 *extra_args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**proxy_env(), **(env or {})},
                cwd=workdir, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + startup_timeout
        while process.poll() is None and time.monotonic() < deadline:
            if _ready(url):
                models = [model, *(f"{model}-{i}" for i in range(len(upstreams)))]
                return Gateway(url, master_key, model, models, config_path, log_path, process, keys_path)
            time.sleep(0.2)
        _stop(process)
        text = log_path.read_text(errors="replace")
        if attempt == 1 and port is None and "address already in use" in text.lower():
            continue
        tail = "\n".join(text.splitlines()[-30:])
        raise RuntimeError(f"the LiteLLM proxy did not get ready on {url} (exit {process.returncode}):\n{tail}")
    raise AssertionError("unreachable")


def stop(gateway: Gateway) -> None:
    _stop(gateway.process)


@contextlib.contextmanager
def gateway(
    upstreams: Sequence[str],
    master_key: str = "sk-llamafile-ls-test",
    *,
    port: int | None = None,
    model: str = "smollm2",
    startup_timeout: float = 120.0,
    extra_args: Sequence[str] = (),
    workdir: Path | None = None,
    keys: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    **settings: Mapping[str, Any] | None,
) -> Iterator[Gateway]:
    """A running proxy for the ``with`` block; stopped (its whole process group) when it ends.

    ``litellm_settings``, ``router_settings`` and ``general_settings`` go into the config
    (``router_settings={"num_retries": 0}`` makes upstream errors come back at once instead
    of after LiteLLM's 2 retries, about 4.5 s). ``keys`` turns on bearer keys besides the
    master key (see ``KEY_AUTH_MODULE``); ``env`` adds to the proxy's environment.
    Its config and log are in a temporary folder (or ``workdir``), removed afterwards.
    """
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="litellm-gw-")))
        g = start(
            upstreams, master_key, workdir=workdir, port=port, model=model,
            startup_timeout=startup_timeout, extra_args=extra_args, keys=keys, env=env, **settings,
        )  # fmt: skip
        try:
            yield g
        finally:
            stop(g)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ensure", action="store_true", help="install the venv if needed and print litellm's path")
    parser.add_argument("--upstream", action="append", default=[], help="a llama-server URL (repeatable)")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--master-key", default="sk-llamafile-ls-test")
    parser.add_argument("--model", default="smollm2")
    args = parser.parse_args()
    if args.ensure:
        print(ensure_venv(quiet=False))
        return
    if not args.upstream:
        parser.error("give --upstream at least once, or --ensure")
    ensure_venv(quiet=False)
    with gateway(args.upstream, args.master_key, port=args.port, model=args.model) as g:
        print(f"url={g.url}\nmaster_key={g.master_key}\nmodels={','.join(g.models)}\nlog={g.log_path}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            g.process.wait()


if __name__ == "__main__":
    main()
