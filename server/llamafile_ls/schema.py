"""A JSON Schema for config.json, generated from the config model so the two never drift.

Editors use it for completion and checks while the user types (the VS Code extension
contributes it for ``.continue/config.json``). Every field is offered in the seed's
snake_case and in Continue's camelCase spelling.

    python -m llamafile_ls.schema > config.schema.json
    python -m llamafile_ls.schema --yaml > config-yaml.schema.json   # Continue's config.yaml
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any

import attrs

from llamafile_ls import actions, prompts
from llamafile_ls.config import ROLES, CompletionOptions, CustomCommand, ModelConfig, RequestOptions
from llamafile_ls.providers import registry as providers

DESCRIPTIONS: dict[str, str] = {
    # ModelConfig
    "title": "The name shown in the editor and used to pick the model (`--model`, llamafile.selectModel).",
    "provider": "The kind of model server: llamafile or llama.cpp (its native API), or openai, lmstudio, ollama, "
    "vllm (the OpenAI API); models of other providers are skipped.",
    "model": "The model's name (sent as `model` to OpenAI-compatible servers); also picks the prompt family when "
    "`template` is not set.",
    "api_base": "Where the model server listens; OpenAI-compatible ones usually end in /v1. The default depends on "
    "the provider (llamafile http://localhost:8080, ollama http://localhost:11434, lmstudio "
    "http://localhost:1234/v1, vllm http://localhost:8000/v1).",
    "api_key": "Sent as a bearer token. Never logged.",
    "llamafile_command": "Run to start the llamafile when nothing answers at api_base. Use an absolute path. "
    "Only honoured in your own config file.",
    "llamafile_start_timeout": "Seconds a model started by llamafile_command may take to load.",
    "llama_cpp_args": "Extra fields for the /completion request; explicit options win, stop lists are joined.",
    "system_message": "The system message of the built-in prompt templates.",
    "context_length": "The model's context window in tokens: the prompt plus max_tokens must fit.",
    "completion_options": "Sampling options, sent in llama.cpp's names.",
    "request_options": "How requests to the model server are made.",
    "prompt_templates": "Mustache templates by action (e.g. edit) that replace the built-in ones.",
    "template": "The prompt family of the built-in templates; detected from the model name when not set.",
    "unique_id": "An identifier kept for Continue compatibility.",
    "use_legacy_completions_endpoint": "OpenAI-compatible servers: send a raw prompt in the model's own format to "
    "/completions instead of chat messages to /chat/completions.",
    # CompletionOptions
    "temperature": "Sampling temperature. When not set, edits are sampled at 0.2 (measured to land most edits).",
    "top_p": "Nucleus sampling probability.",
    "top_k": "Top-k sampling.",
    "presence_penalty": "Presence penalty.",
    "frequency_penalty": "Frequency penalty.",
    "stop": "Strings that end the answer.",
    "max_tokens": "The most tokens an answer may have (sent as n_predict). An answer cut off here is refused. "
    "When not set, an edit gets the room its prompt leaves in context_length (up to 4096), and at least twice "
    "the selection.",
    "min_p": "Min-p sampling (llama.cpp, Ollama).",
    "typical_p": "Locally typical sampling (llama.cpp, Ollama).",
    "tfs_z": "Tail-free sampling (llamafile, older llama.cpp, Ollama).",
    "mirostat": "Mirostat sampling: 0 off, 1 Mirostat, 2 Mirostat 2.0 (llama.cpp, Ollama).",
    "mirostat_tau": "Mirostat's target entropy (llama.cpp, Ollama).",
    "mirostat_eta": "Mirostat's learning rate (llama.cpp, Ollama).",
    "repeat_penalty": "Penalty for repeated tokens (llama.cpp, Ollama).",
    "repeat_last_n": "How many last tokens repeat_penalty looks at (llama.cpp, Ollama).",
    "seed": "The random seed of sampling.",
    "keep_alive": 'How long Ollama keeps the model loaded after a request (e.g. "5m", or seconds).',
    # CustomCommand and slash commands
    "name": "The command's name, used without its slash.",
    "prompt": "A mustache prompt with {{{input}}} and every template variable; the selected code is added "
    "when the prompt does not show {{{code_to_edit}}}.",
    "description": "The title of the command's code action.",
    "output": 'Where the answer goes: "document" (shown to read, the default) or "edit" (replaces the selection).',
    # RequestOptions
    "timeout": "Seconds to wait for the model server.",
    "verify_ssl": "Verify the server's TLS certificate.",
    "ca_bundle_path": "A certificate authority bundle for the server's TLS certificate.",
    "proxy": "An HTTP proxy URL for requests to the model server.",
    "headers": "Extra HTTP headers.",
    "roles": 'What the model is for: "edit", "autocomplete", "chat", "apply", "embed", "rerank", "summarize".',
}

_CAMEL = re.compile(r"_([a-z])")


def camel_case(name: str) -> str:
    return _CAMEL.sub(lambda match: match.group(1).upper(), name)


def _type_schema(annotation: Any) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        schema = _type_schema(options[0]) if len(options) == 1 else {"anyOf": [_type_schema(o) for o in options]}
        return {**schema, "type": [schema["type"], "null"]} if "type" in schema else schema
    if origin is tuple:
        return {"type": "array", "items": {"type": "string"}}
    if origin is dict:
        value = typing.get_args(annotation)[1]
        return {"type": "object", "additionalProperties": {} if value is Any else _type_schema(value)}
    if attrs.has(annotation):
        return _object_schema(annotation)
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return {"type": simple[annotation]}


def _object_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    for field in attrs.fields(cls):
        schema = {"description": DESCRIPTIONS[field.name], **_type_schema(hints[field.name])}
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        if default is attrs.NOTHING or attrs.has(type(default)):
            default = None
        if default is not None and default != "":
            schema["default"] = list(default) if isinstance(default, tuple) else default
        if field.name == "template":
            schema["enum"] = [*sorted(prompts.TEMPLATE_NAMES), None]
        if field.name == "roles":
            schema["items"] = {"enum": list(ROLES)}
        if field.name == "provider":
            schema["examples"] = sorted(providers.NAMES)
        properties[field.name] = schema
        if camel_case(field.name) != field.name:
            properties[camel_case(field.name)] = schema
    return {"type": "object", "properties": properties}


def config_schema() -> dict[str, Any]:
    model = _object_schema(ModelConfig)
    model["anyOf"] = [{"required": ["title"]}, {"required": ["model"]}]
    options = {
        "completion_options": _object_schema(CompletionOptions),
        "request_options": _object_schema(RequestOptions),
    }
    top: dict[str, Any] = {
        "models": {"type": "array", "items": model, "description": "The models; the first is the default."},
        "system_message": {"type": "string", "description": "The system message of every model that has none."},
    }
    for name, schema in options.items():
        top[name] = {**schema, "description": f"Defaults of {name} for every model."}
        top[camel_case(name)] = {**schema, "description": f"Same as {name}."}
    top["systemMessage"] = {**top["system_message"], "description": "Same as system_message."}
    custom = _object_schema(CustomCommand)
    custom["properties"]["output"]["enum"] = ["edit", "document"]
    custom["required"] = ["name", "prompt"]
    top["custom_commands"] = top["customCommands"] = {
        "type": "array", "items": custom, "description": "Your own commands, offered as code actions."
    }  # fmt: skip
    slash = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "examples": sorted(actions.SLASH_NAMES), "description": DESCRIPTIONS["name"]},
            "description": {"type": "string", "description": DESCRIPTIONS["description"]},
        },
    }
    top["model_roles"] = top["modelRoles"] = {
        "type": "object",
        "description": "The seed's roles: the title of the model for each. default serves edit, chat and "
        "summarize where they are not set.",
        "properties": {role: {"type": "string"} for role in ("default", *ROLES)},
        "additionalProperties": False,
    }
    top["tabAutocompleteModel"] = {**model, "description": "The model for inline completion (role autocomplete)."}
    top["slash_commands"] = top["slashCommands"] = {
        "type": "array", "items": slash, "description": "The built-in commands to offer; all when not set."
    }  # fmt: skip
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Continue config.json, as llamafile-ls reads it",
        "type": "object",
        "properties": top,
        "allowComments": True,
        "allowTrailingCommas": True,
    }


# --- config.yaml ----------------------------------------------------------------------------

YAML_DESCRIPTIONS: dict[str, str] = {
    "name": "The model's name, shown in the editor and used to pick it (`--model`, llamafile.selectModel).",
    "defaultCompletionOptions": "Sampling options; contextLength here is the model's context window.",
    "promptTemplates": "Handlebars templates: edit replaces the built-in edit prompt ({{{codeToEdit}}}, "
    "{{{userInput}}}, {{{prefix}}}, {{{suffix}}}, {{{language}}}, {{#if x}}…{{else}}…{{/if}}); chat names a "
    "prompt format; apply and autocomplete are not used.",
    "chatOptions": "baseSystemMessage is the model's system message; rules follow it.",
    "uses": "A block of the Continue Hub: llamafile-ls works offline and skips it with a warning.",
    "rules": "Text that joins every model's system message (strings, or {name, rule}). Rules with globs are "
    "not used unless alwaysApply is true.",
    "prompts": "Your own commands, offered as code actions; the answer is shown in a document.",
    "ignored": "Accepted for Continue; llamafile-ls does not use it.",
}


def _camel_only(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema with only Continue's camelCase spelling of each property."""
    properties = {name: value for name, value in schema["properties"].items() if camel_case(name) == name}
    return {**schema, "properties": properties}


def _ignored(kind: str = "array") -> dict[str, Any]:
    return {"type": kind, "description": YAML_DESCRIPTIONS["ignored"]}


def config_yaml_schema() -> dict[str, Any]:
    """A JSON Schema for Continue's config.yaml as llamafile-ls reads it (for the YAML
    extension's yamlValidation): Continue's names, and llamafile-ls's own model keys."""
    model = _camel_only(_object_schema(ModelConfig))
    properties = model["properties"]
    title = properties.pop("title")
    properties = {"name": {**title, "description": YAML_DESCRIPTIONS["name"]}, **properties}
    options = _camel_only(_object_schema(CompletionOptions))
    options["properties"]["contextLength"] = {**properties["contextLength"]}
    properties.pop("completionOptions")
    properties.pop("systemMessage")
    properties["defaultCompletionOptions"] = {**options, "description": YAML_DESCRIPTIONS["defaultCompletionOptions"]}
    properties["requestOptions"] = {**_camel_only(properties["requestOptions"])}
    properties["promptTemplates"] = {
        "type": "object",
        "description": YAML_DESCRIPTIONS["promptTemplates"],
        "properties": {
            "edit": {"type": "string"},
            "chat": {"type": "string", "examples": sorted(prompts.TEMPLATE_NAMES)},
            "apply": {"type": "string"},
            "autocomplete": {"type": "string"},
        },
    }
    properties["chatOptions"] = {
        "type": "object",
        "description": YAML_DESCRIPTIONS["chatOptions"],
        "properties": {"baseSystemMessage": {"type": "string"}},
    }
    for ignored in ("capabilities",):
        properties[ignored] = _ignored()
    for ignored in ("autocompleteOptions", "embedOptions", "cacheBehavior", "env"):
        properties[ignored] = _ignored("object")
    hub = {
        "type": "object",
        "required": ["uses"],
        "properties": {"uses": {"type": "string", "description": YAML_DESCRIPTIONS["uses"]}},
    }
    model = {"type": "object", "required": ["name"], "properties": properties}
    rule = {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "required": ["rule"],
                "properties": {
                    "name": {"type": "string"},
                    "rule": {"type": "string"},
                    "globs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                    "alwaysApply": {"type": "boolean"},
                },
            },
            hub,
        ]
    }
    prompt = {
        "type": "object",
        "required": ["name", "prompt"],
        "properties": {
            "name": {"type": "string", "description": DESCRIPTIONS["name"]},
            "description": {"type": "string", "description": DESCRIPTIONS["description"]},
            "prompt": {
                "type": "string",
                "description": "A Handlebars prompt with {{{input}}} and the template variables; the selected code "
                "is added when the prompt does not show {{{codeToEdit}}}.",
            },
        },
    }
    request = _camel_only(_object_schema(RequestOptions))
    top: dict[str, Any] = {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "schema": {"type": "string"},
        "models": {
            "type": "array",
            "description": "The models; the first is the default, and roles pick one for each use.",
            "items": {"anyOf": [hub, model]},
        },
        "rules": {"type": "array", "items": rule, "description": YAML_DESCRIPTIONS["rules"]},
        "prompts": {"type": "array", "items": {"anyOf": [hub, prompt]}, "description": YAML_DESCRIPTIONS["prompts"]},
        "requestOptions": {**request, "description": "Defaults of requestOptions for every model."},
        "metadata": _ignored("object"),
        "env": _ignored("object"),
    }
    for ignored in ("context", "docs", "mcpServers", "data"):
        top[ignored] = _ignored()
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Continue config.yaml, as llamafile-ls reads it",
        "type": "object",
        "required": ["models"],
        "properties": top,
    }


if __name__ == "__main__":
    import sys

    print(json.dumps(config_yaml_schema() if "--yaml" in sys.argv[1:] else config_schema(), indent=2))
