"""``llamafile-ls check``: is the config valid, and is every model's server up?"""

from __future__ import annotations

import asyncio
import sys

from llamafile_ls.cli_output import fail, loaded, say
from llamafile_ls.config import ModelConfig
from llamafile_ls.errors import LlamafileLsError
from llamafile_ls.redaction import public_url

LLAMA_CPP_NAMES = frozenset({"llamafile", "llama.cpp", "llamacpp", "llama_cpp"})


def run_check_command(config_path: str | None) -> int:
    try:
        return asyncio.run(_check(config_path))
    except LlamafileLsError as error:
        return fail(str(error))


async def _check(config_path: str | None) -> int:
    from llamafile_ls import prompts
    from llamafile_ls.config_file import load_config, resolve_path, why_this_file

    path, _explicit = resolve_path(config_path)
    config = load_config(config_path)
    if config.source is None:
        say(f"config: no file at {path}; using the built-in default model (a llamafile at localhost:8080)")
    else:
        say(f"config: {config.source} ({why_this_file(config_path)}) is valid ({len(config.models)} models)")
    loaded(config, sys.stdout)
    problems = 0
    for index, model in enumerate(config.models):
        default = " (default)" if index == 0 else ""
        say(f"model {model.title!r}{default}: provider {model.provider}, {public_url(model.api_base)}")
        if model.provider in LLAMA_CPP_NAMES or model.use_legacy_completions_endpoint:
            family = prompts.family_for(model.template, model.model, model.title)
            say(f"  prompt: raw, in the {family.name} format")
        else:
            say("  prompt: chat messages (the server applies the model's chat template)")
        problems += await _probe(model)
    if problems:
        say(f"{problems} problem(s) found")
        return 1
    say("all good")
    return 0


async def _probe(model: ModelConfig) -> int:
    """Print what the model's server says; return the number of problems."""
    from llamafile_ls.providers import registry as providers

    provider = providers.create(model)
    try:
        found = await provider.probe(thorough=True)
    except LlamafileLsError as error:
        say(f"  server: {error}")
        return 1
    finally:
        await provider.aclose()
    if found.state == "down" and model.llamafile_command:
        return _check_command(model)
    problems = list(found.problems)
    if found.state == "ready":
        say(f"  server: up, {found.flavour or 'unknown kind'}; edits go to {found.endpoint}")
    elif found.state == "loading":
        say("  server: up, still loading the model; try again in a moment")
        problems = problems or ["the model is still loading"]
    elif found.state == "down" and not problems:
        problems.append(f"nothing answers at {provider.shown_url}")
    if found.context_size is not None:
        if found.context_size < model.context_length:
            problems.append(
                f"the server gives each request {found.context_size} tokens but context_length is "
                f"{model.context_length}; lower context_length or give the server a larger context (--ctx-size)"
            )
        else:
            say(f"  context: server {found.context_size} tokens, context_length {model.context_length}")
    if found.state == "ready" and found.fim is not None:
        say(f"  fill-in-the-middle: {'available' if found.fim else 'not available (the model has no FIM tokens)'}")
    if found.state == "ready":
        counted = await _count(model)
        say("  token counting: the server's tokenizer" if counted else "  token counting: estimated")
    for problem in problems:
        say(f"  problem: {problem}")
    return len(problems)


async def _count(model: ModelConfig) -> bool:
    from llamafile_ls.providers import registry as providers

    provider = providers.create(model)
    try:
        return await provider.count_tokens("hello") is not None
    except LlamafileLsError:
        return False
    finally:
        await provider.aclose()


def _check_command(model: ModelConfig) -> int:
    """The server is down, but llamafile_command will start it: is the command runnable?"""
    import shlex

    from llamafile_ls.launcher import runnable_command

    try:
        command = runnable_command(model)
    except LlamafileLsError as error:
        say(f"  {error}")
        return 1
    say(f"  server: not running; the first edit starts it with: {shlex.join(command)}")
    return 0
