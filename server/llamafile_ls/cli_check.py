"""``llamafile-ls check``: is the config valid, and is every model's server up?"""

from __future__ import annotations

import asyncio
import sys

from llamafile_ls.cli import fail, loaded
from llamafile_ls.config import ModelConfig
from llamafile_ls.errors import LlamafileLsError, ServerUnreachable


def run_check_command(config_path: str | None) -> int:
    try:
        return asyncio.run(_check(config_path))
    except LlamafileLsError as error:
        return fail(str(error))


def _say(text: str) -> None:
    print(text, flush=True)


async def _check(config_path: str | None) -> int:
    from llamafile_ls import prompts
    from llamafile_ls.config_file import load_config, resolve_path

    path, _explicit = resolve_path(config_path)
    config = load_config(config_path)
    if config.source is None:
        _say(f"config: no file at {path}; using the built-in default model (a llamafile at localhost:8080)")
    else:
        _say(f"config: {config.source} is valid ({len(config.models)} models)")
    loaded(config, sys.stdout)
    problems = 0
    for index, model in enumerate(config.models):
        family = prompts.family_for(model.template, model.model, model.title)
        default = " (default)" if index == 0 else ""
        _say(f"model {model.title!r}{default}: {model.api_base}, prompt family {family.name}")
        problems += await _probe(model)
    if problems:
        _say(f"{problems} problem(s) found")
        return 1
    _say("all good")
    return 0


async def _probe(model: ModelConfig) -> int:
    """Print what the model's server says; return the number of problems."""
    from llamafile_ls.llamafile import LlamafileProvider

    provider = LlamafileProvider(model)
    try:
        status, health = await provider.get_json("/health")
        if status == 503 or (isinstance(health, dict) and health.get("status") == "loading model"):
            _say("  server: up, still loading the model; try again in a moment")
            return 1
        if status >= 400 and status != 404:
            _say(f"  server: /health answered HTTP {status}; is api_base a llamafile or llama.cpp server?")
            return 1
        _say("  server: up")
        problems = 0
        _status, props = await provider.get_json("/props")
        n_ctx = _server_context(props)
        if n_ctx is not None:
            if n_ctx < model.context_length:
                _say(
                    f"  context: the server gives each request {n_ctx} tokens but context_length is "
                    f"{model.context_length}; lower context_length or start the server with a "
                    "larger --ctx-size"
                )
                problems += 1
            else:
                _say(f"  context: server {n_ctx} tokens, context_length {model.context_length}")
        counted = await provider.count_tokens("hello")
        _say(
            "  token counting: the server's /tokenize"
            if counted is not None
            else "  token counting: estimated (no /tokenize)"
        )
        return problems
    except ServerUnreachable as error:
        if model.llamafile_command:
            return _check_command(model)
        _say(f"  server: {error}")
        return 1
    except LlamafileLsError as error:
        _say(f"  server: {error}")
        return 1
    finally:
        await provider.aclose()


def _check_command(model: ModelConfig) -> int:
    """The server is down, but llamafile_command will start it: is the command runnable?"""
    import os
    import shlex
    import shutil

    from llamafile_ls.launcher import split_command

    try:
        command = split_command(model.llamafile_command or "")
    except LlamafileLsError as error:
        _say(f"  llamafile_command: {error}")
        return 1
    program = command[0] if os.sep in command[0] else (shutil.which(command[0]) or command[0])
    if not os.path.exists(program):
        _say(f"  llamafile_command: {command[0]} does not exist; use an absolute path to the llamafile")
        return 1
    if not os.access(program, os.X_OK):
        _say(f"  llamafile_command: {program} is not executable; run `chmod +x {shlex.quote(program)}`")
        return 1
    _say(f"  server: not running; the first edit starts it with: {shlex.join(command)}")
    return 0


def _server_context(props: object) -> int | None:
    if isinstance(props, dict):
        settings = props.get("default_generation_settings")
        if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
            return int(settings["n_ctx"])
    return None
