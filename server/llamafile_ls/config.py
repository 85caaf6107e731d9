"""Continue's config.json → typed, validated configuration. Pure: text in, objects out.

Validation is cattrs structuring attrs classes with strict type hooks, so a wrong value is
reported with its JSON path and mapped back to its line in the file. Continue's camelCase
spellings (``apiBase``) and the seed's snake_case ones (``api_base``) both work; unknown
keys give warnings, not errors.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

import attrs
import cattrs

from llamafile_ls import jsonc, prompts
from llamafile_ls.errors import ConfigError, TemplateError

DEFAULT_API_BASE = "http://localhost:8080"
PROVIDERS = frozenset({"llamafile", "llama.cpp", "llamacpp", "llama_cpp"})


@attrs.frozen
class CompletionOptions:
    """Sampling options; None means the model server's own default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: tuple[str, ...] = ()
    max_tokens: int = attrs.field(default=1023, validator=attrs.validators.ge(1))


@attrs.frozen
class RequestOptions:
    timeout: float = attrs.field(default=300.0, validator=attrs.validators.gt(0))
    verify_ssl: bool = True
    ca_bundle_path: str | None = None
    proxy: str | None = None
    headers: dict[str, str] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class ModelConfig:
    title: str
    provider: str = "llamafile"
    model: str = ""
    api_base: str = DEFAULT_API_BASE
    api_key: str | None = attrs.field(default=None, repr=False)  # never in logs
    llamafile_command: str | None = None
    # How long a model started by llamafile_command may take to load before giving up.
    llamafile_start_timeout: float = attrs.field(default=300.0, validator=attrs.validators.gt(0))
    llama_cpp_args: dict[str, Any] = attrs.field(factory=lambda: {"stop": ["[INST]"]})
    system_message: str | None = None
    context_length: int = attrs.field(default=2048, validator=attrs.validators.ge(16))
    completion_options: CompletionOptions = attrs.field(factory=CompletionOptions)
    request_options: RequestOptions = attrs.field(factory=RequestOptions)
    prompt_templates: dict[str, str] = attrs.field(factory=dict)
    template: str | None = None
    unique_id: str | None = None

    @property
    def name(self) -> str:
        """What the model is called in detection and messages: its model name, else title."""
        return self.model or self.title


@attrs.frozen
class ConfigProblem:
    """A warning or error at a place in the config file (1-based line and column)."""

    message: str
    line: int | None = None
    column: int | None = None


@attrs.frozen
class SlashCommand:
    """An entry of Continue's ``slashCommands``: which built-in commands are offered."""

    name: str
    description: str = ""


@attrs.frozen
class CustomCommand:
    """An entry of Continue's ``customCommands``; ``output`` says where the answer goes."""

    name: str
    prompt: str
    description: str = ""
    output: str = attrs.field(default="document", validator=attrs.validators.in_(("edit", "document")))


@attrs.frozen
class Config:
    models: tuple[ModelConfig, ...]
    source: str | None = None  # the file it came from; None for the built-in default
    warnings: tuple[ConfigProblem, ...] = ()
    slash_commands: tuple[SlashCommand, ...] | None = None  # None: every built-in is offered
    custom_commands: tuple[CustomCommand, ...] = ()

    def model(self, title: str | None = None) -> ModelConfig:
        """The model with this title; the first one when no title is given."""
        if title is None:
            return self.models[0]
        for model in self.models:
            if model.title == title:
                return model
        titles = ", ".join(repr(model.title) for model in self.models)
        raise ConfigError(f"no model titled {title!r} in the config; the models are: {titles}")


def default_config() -> Config:
    """What runs when there is no config file: one llamafile at localhost:8080."""
    return Config(models=(ModelConfig(title="llamafile", model="llamafile"),))


# --- validation -----------------------------------------------------------------------


class _Invalid(ValueError):
    """A value of the wrong type; the message says what was expected."""


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _strict(check: Callable[[Any], bool], expected: str, convert: Callable[[Any], Any]) -> Any:
    def hook(value: Any, _type: Any) -> Any:
        if not check(value):
            raise _Invalid(f"expected {expected}, got {_describe(value)}")
        return convert(value)

    return hook


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _structure_stop(value: Any, _type: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Invalid(f"expected a list of strings, got {_describe(value)}")
    return tuple(value)


def _structure_str_dict(value: Any, _type: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid(f"expected an object, got {_describe(value)}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _Invalid(f"expected a string for {key!r}, got {_describe(item)}")
    return dict(value)


def _structure_any_dict(value: Any, _type: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"expected an object, got {_describe(value)}")
    return dict(value)


def _is_exactly(expected: Any) -> Callable[[Any], bool]:
    """A cattrs predicate for one generic type (``dict[str, str]`` is not a class to register)."""
    return lambda candidate: bool(candidate == expected)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=False)
    converter.register_structure_hook(
        int,
        _strict(lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer", int),
    )
    converter.register_structure_hook(float, _strict(_is_number, "a number", float))
    converter.register_structure_hook(str, _strict(lambda v: isinstance(v, str), "a string", str))
    converter.register_structure_hook(bool, _strict(lambda v: isinstance(v, bool), "true or false", bool))
    for exact, hook in (
        (tuple[str, ...], _structure_stop),
        (dict[str, str], _structure_str_dict),
        (dict[str, Any], _structure_any_dict),
    ):
        converter.register_structure_hook_func(_is_exactly(exact), hook)
    return converter


_CONVERTER = _make_converter()

# Keys Continue knows that mean nothing here: accepted silently rather than warned about.
_CONTINUE_TOP_LEVEL = frozenset(
    {
        "$schema", "tabAutocompleteModel", "tabAutocompleteOptions", "contextProviders",
        "allowAnonymousTelemetry", "embeddingsProvider",
        "reranker", "ui", "experimental", "docs", "disableIndexing", "disableSessionTitles",
        "userToken", "analytics", "env", "tools", "mcpServers", "data", "rules", "disableHeadlessInference",
        "teamAnalytics", "selectedModelByRole", "modelRoles",
    }
)  # fmt: skip
_CONTINUE_MODEL = frozenset(
    {
        "capabilities", "roles", "cacheBehavior", "useLegacyCompletionsEndpoint", "region",
        "profile", "engine", "apiVersion", "apiType", "deployment", "projectId", "env",
        "isFromAutoDetect", "contextProviders", "defaultCompletionOptions", "chatOptions",
        "promptTemplates.apply", "embedOptions", "name",
    }
)  # fmt: skip
_TOP_LEVEL_FIELDS = frozenset(
    {"models", "system_message", "completion_options", "request_options", "slash_commands", "custom_commands"}
)
_EXAMPLE_MODEL = '{"title": "llamafile", "provider": "llamafile", "model": "mistral-7b"}'
_ATTRS_VALIDATOR = re.compile(r"^'(\w+)' must be (.*?): (.*)$")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(key: str) -> str:
    """``apiBase`` → ``api_base``; ``verifySsl`` → ``verify_ssl``."""
    return _CAMEL.sub(r"_\1", key).lower()


def _same_key(key: str, part: str | int) -> bool:
    return key == part or snake_case(key) == part


def _field_names(cls: type) -> frozenset[str]:
    return frozenset(field.name for field in attrs.fields(cls))


class _Reader:
    """One pass over a parsed file: normalizes keys, collects warnings with positions."""

    def __init__(self, text: str, source: str | None) -> None:
        self.text = text
        self.source = source
        self.warnings: list[ConfigProblem] = []

    def position(self, path: list[str | int]) -> tuple[int | None, int | None]:
        found = jsonc.locate(self.text, path, _same_key)
        return found if found else (None, None)

    def warn(self, path: list[str | int], message: str) -> None:
        line, column = self.position(path)
        self.warnings.append(ConfigProblem(f"{_dotted(path)}: {message}", line, column))

    def fail(self, path: list[str | int], message: str) -> ConfigError:
        line, column = self.position(path)
        where = _dotted(path)
        return ConfigError(f"{where}: {message}" if where else message, file=self.source, line=line, column=column)

    def normalize(
        self, value: Any, path: list[str | int], known: frozenset[str], quiet: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """Rename camelCase keys to their snake_case fields; warn about unknown keys."""
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {_describe(value)}")
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = key if key in known else snake_case(key)
            if name not in known:
                if key not in quiet:
                    close = difflib.get_close_matches(name, sorted(known), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    self.warn([*path, key], f"unknown key {key!r} is ignored{hint}")
                continue
            if name in out:
                self.warn([*path, key], f"{key!r} repeats {name!r}; the last one is used")
            out[name] = item
        return out


def _dotted(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def parse_config(text: str, source: str | None = None) -> Config:
    """Validate config.json text. Raise :class:`ConfigError` pointing at the fault."""
    try:
        data = jsonc.loads(text)
    except jsonc.JsoncSyntaxError as error:
        raise ConfigError(f"invalid JSON: {error.message}", file=source, line=error.line, column=error.column) from None
    reader = _Reader(text, source)
    top = reader.normalize(data, [], _TOP_LEVEL_FIELDS, _CONTINUE_TOP_LEVEL)
    raw_models = top.get("models")
    if raw_models is None:
        raise reader.fail(
            [],
            f'no "models" list; add one, e.g. "models": [{_EXAMPLE_MODEL}]',
        )
    if not isinstance(raw_models, list):
        raise reader.fail(["models"], f"expected a list of models, got {_describe(raw_models)}")
    shared = {
        key: reader.normalize(top[key], [key], _field_names(cls))
        for key, cls in (("completion_options", CompletionOptions), ("request_options", RequestOptions))
        if key in top
    }
    models: list[ModelConfig] = []
    for index, raw in enumerate(raw_models):
        path: list[str | int] = ["models", index]
        entry = reader.normalize(raw, path, _field_names(ModelConfig), _CONTINUE_MODEL)
        provider = entry.get("provider", "llamafile")
        if isinstance(provider, str) and provider not in PROVIDERS:
            reader.warn(
                [*path, "provider"],
                f"provider {provider!r} is not served by llamafile-ls; this model is skipped",
            )
            continue
        if "system_message" not in entry and "system_message" in top:
            entry["system_message"] = top["system_message"]
        for key, cls in (("completion_options", CompletionOptions), ("request_options", RequestOptions)):
            own = reader.normalize(entry[key], [*path, key], _field_names(cls)) if key in entry else {}
            entry[key] = {**shared.get(key, {}), **own}
        if "title" not in entry and isinstance(entry.get("model"), str):
            entry["title"] = entry["model"]
        models.append(_structure_model(reader, entry, path))
    if not models:
        raise reader.fail(
            ["models"],
            f'no model with "provider": "llamafile"; add one, e.g. {_EXAMPLE_MODEL}',
        )
    _check_unique_titles(reader, models)
    slash = _slash_commands(reader, top["slash_commands"]) if "slash_commands" in top else None
    custom = _custom_commands(reader, top.get("custom_commands", []))
    return Config(
        models=tuple(models),
        source=source,
        warnings=tuple(reader.warnings),
        slash_commands=slash,
        custom_commands=custom,
    )


def _slash_commands(reader: _Reader, raw: Any) -> tuple[SlashCommand, ...]:
    if not isinstance(raw, list):
        raise reader.fail(["slash_commands"], f"expected a list of commands, got {_describe(raw)}")
    commands: list[SlashCommand] = []
    for index, item in enumerate(raw):
        path: list[str | int] = ["slash_commands", index]
        entry = reader.normalize(item, path, _field_names(SlashCommand), frozenset({"params", "step"}))
        name = entry.get("name")
        if not isinstance(name, str):
            raise reader.fail([*path, "name"], 'a slash command needs a name, e.g. "comment"')
        name = name.lstrip("/")
        if name not in prompts.SLASH_COMMANDS:
            offered = ", ".join(sorted(prompts.SLASH_COMMANDS))
            reader.warn([*path, "name"], f"slash command {name!r} is not one llamafile-ls offers ({offered}); ignored")
            continue
        commands.append(SlashCommand(name, str(entry.get("description") or "")))
    return tuple(commands)


def _custom_commands(reader: _Reader, raw: Any) -> tuple[CustomCommand, ...]:
    """Valid custom commands; a broken one is skipped with a warning naming it."""
    if not isinstance(raw, list):
        raise reader.fail(["custom_commands"], f"expected a list of commands, got {_describe(raw)}")
    commands: list[CustomCommand] = []
    for index, item in enumerate(raw):
        path: list[str | int] = ["custom_commands", index]
        entry = reader.normalize(item, path, _field_names(CustomCommand))
        name = entry.get("name")
        label = f"custom command {name!r}" if isinstance(name, str) else f"custom command #{index + 1}"
        if not isinstance(name, str) or not name.strip("/ "):
            reader.warn(path, f"{label} has no name; it is skipped")
            continue
        if not isinstance(entry.get("prompt"), str) or not entry["prompt"].strip():
            reader.warn(path, f"{label} has no prompt; it is skipped")
            continue
        if entry.get("output", "document") not in ("edit", "document"):
            reader.warn([*path, "output"], f'{label}: output must be "edit" or "document", got '
                        f'{_describe(entry["output"])}; it is skipped')  # fmt: skip
            continue
        try:
            command = _CONVERTER.structure({**entry, "name": name.strip("/ ")}, CustomCommand)
            prompts.compile_template(prompts.custom_command_body(command.prompt), f"of {label}")
        except TemplateError as error:
            reader.warn([*path, "prompt"], f"{error}; it is skipped")
            continue
        except Exception as error:  # a wrong type or an unknown output
            located = _located(reader, error, path)
            reader.warn(path, f"{label}: {located.reason.split(': ', 1)[-1]}; it is skipped")
            continue
        commands.append(command)
    return tuple(commands)


def _structure_model(reader: _Reader, entry: dict[str, Any], path: list[str | int]) -> ModelConfig:
    try:
        model = _CONVERTER.structure(entry, ModelConfig)
    except Exception as error:  # cattrs raises exception groups; report the first leaf
        raise _located(reader, error, path) from None
    if model.template is not None and model.template not in prompts.TEMPLATE_NAMES:
        raise reader.fail(
            [*path, "template"],
            f"unknown template {model.template!r}; use one of: {', '.join(sorted(prompts.TEMPLATE_NAMES))}",
        )
    for action, source in model.prompt_templates.items():
        try:
            prompts.compile_template(source, f"{action!r} of model {model.title!r}")
        except TemplateError as error:
            raise reader.fail([*path, "prompt_templates", action], str(error)) from None
    return model


def _located(reader: _Reader, error: BaseException, path: list[str | int]) -> ConfigError:
    """Turn a cattrs exception (group) into a ConfigError at the first failing value."""
    leaf_path, leaf = _first_leaf(error, [])
    full = [*path, *leaf_path]
    if isinstance(leaf, KeyError):
        return reader.fail(full, "is required")
    if isinstance(leaf, _Invalid):
        return reader.fail(full, str(leaf))
    validator = _ATTRS_VALIDATOR.match(str(leaf))
    if isinstance(leaf, ValueError) and validator:  # "'max_tokens' must be >= 1: 0"
        name, rule, value = validator.groups()
        return reader.fail([*full, name], f"must be {rule}, got {value}")
    return reader.fail(full, cattrs.v.format_exception(leaf, None))


def _first_leaf(error: BaseException, path: list[str | int]) -> tuple[list[str | int], BaseException]:
    for child in getattr(error, "exceptions", ()):  # cattrs' exception groups
        step: list[str | int] = []
        for note in getattr(child, "__notes__", []):
            if isinstance(note, cattrs.AttributeValidationNote):
                step = [note.name]
            elif isinstance(note, cattrs.IterableValidationNote):
                step = [note.index]
        return _first_leaf(child, [*path, *step])
    return path, error


def _check_unique_titles(reader: _Reader, models: list[ModelConfig]) -> None:
    seen: set[str] = set()
    for index, model in enumerate(models):
        if model.title in seen:
            reader.warn(["models", index, "title"], f"title {model.title!r} is used twice; `--model` picks the first")
        seen.add(model.title)
