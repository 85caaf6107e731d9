"""Continue's config.json → typed, validated configuration. Pure: text in, objects out.

Validation is cattrs structuring attrs classes with strict type hooks, then checks of each
value that a later step would trip over (a URL httpx refuses, a header h11 refuses, a key
with a pasted newline), so a wrong value is reported at load with its JSON path and mapped
back to its line in the file. Continue's camelCase spellings (``apiBase``) and the seed's
snake_case ones (``api_base``) both work; unknown keys give warnings, not errors.

No message ever shows the value of ``api_key`` or of a header: it says what is wrong with it.
What depends on this machine (does ``ca_bundle_path`` exist? is the package for a SOCKS proxy
installed?) is checked by the caller that read the file (:mod:`llamafile_ls.config_file`),
at the place :attr:`Config.local` records.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, get_args
from urllib.parse import urlsplit

import attrs
import cattrs

from llamafile_ls import actions, jsonc, prompts
from llamafile_ls.contract import Role
from llamafile_ls.errors import ConfigError, TemplateError
from llamafile_ls.providers import registry as providers

DEFAULT_API_BASE = "http://localhost:8080"
PROVIDERS = providers.NAMES
MAX_CONFIG_BYTES = 20 * 1024 * 1024  # a config is a few kilobytes; this is a mistake, not a config
MAX_TOKENS = 10_000_000  # far beyond any model's context window
MAX_SECONDS = 1_000_000.0  # about 11 days: longer is a typo, and timers overflow on absurd ones

_tokens: Any = attrs.validators.and_(attrs.validators.ge(1), attrs.validators.le(MAX_TOKENS))
_seconds: Any = attrs.validators.and_(attrs.validators.gt(0), attrs.validators.le(MAX_SECONDS))


@attrs.frozen
class CompletionOptions:
    """Sampling options; None means the model server's own default."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(
            attrs.validators.and_(attrs.validators.ge(-1), attrs.validators.le(MAX_TOKENS))
        ),
    )
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: tuple[str, ...] = ()
    # None: sized per request (an edit gets room for its rewrite; see budget.answer_tokens).
    max_tokens: int | None = attrs.field(default=None, validator=attrs.validators.optional(_tokens))
    # Continue's further options, sent under each server's own names where it has them
    # (the provider's module maps them) and left out where it has not.
    min_p: float | None = None
    typical_p: float | None = None
    tfs_z: float | None = None
    mirostat: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_((0, 1, 2)))
    )
    mirostat_tau: float | None = None
    mirostat_eta: float | None = None
    repeat_penalty: float | None = None
    repeat_last_n: int | None = None
    seed: int | None = None
    keep_alive: int | str | None = None  # Ollama's: how long the model stays loaded ("5m", 300, -1)


@attrs.frozen
class RequestOptions:
    timeout: float = attrs.field(default=300.0, validator=_seconds)
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
    llamafile_start_timeout: float = attrs.field(default=300.0, validator=_seconds)
    llama_cpp_args: dict[str, Any] = attrs.field(factory=lambda: {"stop": ["[INST]"]})
    system_message: str | None = None
    context_length: int = attrs.field(
        default=2048, validator=attrs.validators.and_(attrs.validators.ge(16), attrs.validators.le(MAX_TOKENS))
    )
    completion_options: CompletionOptions = attrs.field(factory=CompletionOptions)
    request_options: RequestOptions = attrs.field(factory=RequestOptions)
    prompt_templates: dict[str, str] = attrs.field(factory=dict)
    template: str | None = None
    unique_id: str | None = None
    # OpenAI-compatible servers: send a raw prompt in the model's format to /completions
    # instead of chat messages to /chat/completions (Continue's useLegacyCompletionsEndpoint).
    use_legacy_completions_endpoint: bool = False
    # What the model is for (Continue's roles: "edit", "autocomplete", "chat", …); an empty
    # tuple means no role was given, and then the model serves every role it is picked for.
    roles: tuple[str, ...] = ()

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
class LocalSetting:
    """A setting whose validity depends on this machine, and where it is written: the reader
    of the config file checks it (the pure parser touches neither files nor packages)."""

    name: str  # "ca_bundle_path" (a file that must be there) or "proxy" (a SOCKS one needs socksio)
    where: str  # its JSON path, e.g. "models[0].request_options.ca_bundle_path"
    value: str
    line: int | None = None
    column: int | None = None


ROLES: tuple[Role, ...] = get_args(Role)
# The roles a request here goes by: edits (and the commands that edit), answers to read
# (/explain), and inline completion.
SERVED_ROLES: tuple[Role, ...] = ("edit", "chat", "autocomplete")


@attrs.frozen
class Config:
    models: tuple[ModelConfig, ...]
    source: str | None = None  # the file it came from; None for the built-in default
    warnings: tuple[ConfigProblem, ...] = ()
    slash_commands: tuple[SlashCommand, ...] | None = None  # None: every built-in is offered
    custom_commands: tuple[CustomCommand, ...] = ()
    local: tuple[LocalSetting, ...] = attrs.field(default=(), eq=False, repr=False)

    def model_for(self, role: Role) -> ModelConfig | None:
        """The model for ``role``: the first that names it among its roles; else, for any role
        but "autocomplete" (which is never guessed), the first model that names no role, or
        failing that the first that is not only an autocomplete model."""
        for model in self.models:
            if role in model.roles:
                return model
        if role == "autocomplete":
            return None
        general = (model for model in self.models if not model.roles)
        not_only_autocomplete = (model for model in self.models if set(model.roles) - {"autocomplete"})
        return next(general, next(not_only_autocomplete, self.models[0]))

    def model(self, title: str | None = None) -> ModelConfig:
        """The model with this title; the first one when no title is given."""
        if title is None:
            return self.models[0]
        for model in self.models:
            if model.title == title:
                return model
        titles = ", ".join(_clip_title(model.title) for model in self.models[:20])
        more = f" and {len(self.models) - 20} more" if len(self.models) > 20 else ""
        raise ConfigError(f"no model titled {_clip_title(title)} in the config; the models are: {titles}{more}")


def _clip_title(title: str) -> str:
    text = repr(title)
    return text if len(text) <= 60 else text[:57] + "..."


def default_config() -> Config:
    """What runs when there is no config file: one llamafile at localhost:8080."""
    return Config(models=(ModelConfig(title="llamafile", model="llamafile"),))


# --- validation -----------------------------------------------------------------------

_SECRET_PARTS = frozenset({"api_key", "headers"})  # their values never appear in a message


class _Invalid(ValueError):
    """A wrong value: what was expected, and (for the message) what was found.

    ``at`` is a path below the value being structured (a key of a dict) where it is.
    """

    def __init__(self, expected: str, value: Any, at: tuple[str | int, ...] = ()) -> None:
        self.expected = expected
        self.value = value
        self.at = at
        super().__init__(expected)

    def message(self, secret: bool) -> str:
        found = _kind(self.value) if secret else _describe(self.value)
        return f"expected {self.expected}, got {found}"


def _describe(value: object) -> str:
    if isinstance(value, (dict, list)) and len(value) > 8:  # no repr of a huge value to cut it short
        return f"{_kind(value)} of {len(value)} items"
    text = _without_credentials(repr(value))
    return text if len(text) <= 40 else text[:37] + "..."


_URL_USERINFO = re.compile(r"(//)[^/@\s'\"]*@")
_URL_QUERY_VALUE = re.compile(r"([?&][^=&\s'\"]*=)[^&#\s'\"]*")


def _without_credentials(text: str) -> str:
    """A value quoted in a message keeps no ``user:password@`` and no query values: a URL
    of the wrong type (a list of one, say) is still the user's api_base or proxy."""
    return _URL_QUERY_VALUE.sub(r"\1***", _URL_USERINFO.sub(r"\1***@", text))


def _kind(value: object) -> str:
    """What sort of value it is, without showing it (for secrets)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "an object"


def _strict(check: Callable[[Any], bool], expected: str, convert: Callable[[Any], Any]) -> Any:
    def hook(value: Any, _type: Any) -> Any:
        if not check(value):
            raise _Invalid(expected, value)
        return convert(value)

    return hook


def _is_number(value: Any) -> bool:
    """A finite int or float (an int too big for a float is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _structure_str(value: Any, _type: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid("a string", value)
    return value


def _structure_stop(value: Any, _type: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise _Invalid("a list of strings", value)
    return tuple(value)


def _structure_str_dict(value: Any, _type: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid("an object", value)
    for key, item in value.items():
        if not isinstance(item, str):
            raise _Invalid("a string", item, (key,))
    return dict(value)


def _structure_int_or_str(value: Any, _type: Any) -> int | str | None:
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _Invalid('a number of seconds or a duration like "5m"', value)


def _structure_any_dict(value: Any, _type: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid("an object", value)
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
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _strict(lambda v: isinstance(v, bool), "true or false", bool))
    for exact, hook in (
        (tuple[str, ...], _structure_stop),
        (dict[str, str], _structure_str_dict),
        (dict[str, Any], _structure_any_dict),
        (int | str | None, _structure_int_or_str),
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
        "capabilities", "cacheBehavior", "region",
        "profile", "engine", "apiVersion", "apiType", "deployment", "projectId", "env",
        "isFromAutoDetect", "contextProviders", "defaultCompletionOptions", "chatOptions",
        "promptTemplates.apply", "embedOptions", "name",
    }
)  # fmt: skip
_TOP_LEVEL_FIELDS = frozenset(
    {"models", "system_message", "completion_options", "request_options", "slash_commands", "custom_commands"}
) | frozenset({"model_roles", "tab_autocomplete_model"})  # read by _assign_roles
# The seed's (Continue 0.1's) own top-level keys: written by it, meaning nothing here.
_SEED_TOP_LEVEL = frozenset(
    {
        "disallowed_steps", "allow_anonymous_telemetry", "retrieval_settings", "context_providers",
        "user_token", "data_server_url", "disable_summaries", "disable_indexing", "steps_on_startup",
        "on_traceback", "policy_override",
    }
)  # fmt: skip
# Continue's completion options no server here takes as a sampling option (threads, mmap,
# GPU layers, tools, reasoning…): accepted and not sent.
_CONTINUE_COMPLETION = frozenset(
    {
        "numThreads", "useMmap", "numGpu", "raw", "stream", "reasoning", "reasoningBudgetTokens",
        "prediction", "tools", "toolChoice", "promptCaching", "n_threads", "use_mmap", "num_gpu",
    }
)  # fmt: skip
_OPTIONS_QUIET = {
    "completion_options": _CONTINUE_COMPLETION,
    "request_options": frozenset({"noProxy", "extraBodyProperties"}),
}
_OPTIONS: tuple[tuple[str, type], ...] = (
    ("completion_options", CompletionOptions),
    ("request_options", RequestOptions),
)
_EXAMPLE_MODEL = '{"title": "llamafile", "provider": "llamafile", "model": "mistral-7b"}'
_ATTRS_VALIDATOR = re.compile(r"^'(\w+)' must be (.*?): (.*)$")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake_case(key: str) -> str:
    """``apiBase`` → ``api_base``; ``verifySsl`` → ``verify_ssl``."""
    return _CAMEL.sub(r"_\1", key).lower()


def _field_names(cls: type) -> frozenset[str]:
    return frozenset(field.name for field in attrs.fields(cls))


class LocatedDocument(Protocol):
    """A parsed config file shaped like config.json (``value``) that can say where each of
    its values is written: :class:`jsonc.Document`, or config.yaml translated to this shape."""

    @property
    def value(self) -> Any: ...

    def locate(self, path: Sequence[str | int]) -> tuple[int, int] | None: ...


class _Reader:
    """One pass over a parsed file: normalizes keys, collects warnings with positions."""

    def __init__(self, document: LocatedDocument, source: str | None) -> None:
        self.document = document
        self.source = source
        self.warnings: list[ConfigProblem] = []
        self.local: list[LocalSetting] = []

    def dotted(self, path: list[str | int]) -> str:
        """The path as the file spells it (a config.yaml's document knows its own names)."""
        spell = getattr(self.document, "spell", None)
        return _dotted(spell(path) if spell is not None else path)

    def position(self, path: list[str | int]) -> tuple[int | None, int | None]:
        found = self.document.locate(path)
        return found if found else (None, None)

    def warn(self, path: list[str | int], message: str) -> None:
        line, column = self.position(path)
        self.warnings.append(ConfigProblem(f"{self.dotted(path)}: {message}", line, column))

    def fail(self, path: list[str | int], message: str, shown: list[str | int] | None = None) -> ConfigError:
        """An error at the value at ``path``; the message names ``shown`` (default: ``path``)."""
        line, column = self.position(path)
        where = self.dotted(path if shown is None else shown)
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
                    # Named as the user spells keys: contextLenght → contextLength.
                    spelled = _camel_case(close[0]) if close and key != name else close[0] if close else ""
                    hint = f"; did you mean {spelled!r}?" if close else ""
                    self.warn([*path, key], f"unknown key {key!r} is ignored{hint}")
                continue
            if name in out:
                self.warn([*path, key], f"{key!r} repeats {name!r}; the last one is used")
            out[name] = item
        return out


def _dotted(path: Iterable[str | int]) -> str:
    """``models[0].api_base``; a key that is not a plain word is quoted: ``headers['a b']``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part and part.isprintable() and not _NOT_PLAIN.search(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


_NOT_PLAIN = re.compile(r"[\s.\[\]'\"]")


def parse_config(text: str, source: str | None = None) -> Config:
    """Validate config.json text. Raise :class:`ConfigError` pointing at the fault.

    Nothing else escapes, whatever the text: every value is checked here, so nothing later
    trips over one.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the config is {len(text) / 2**20:.1f} MB; the most llamafile-ls reads is "
            f"{MAX_CONFIG_BYTES // 2**20} MB, and a config needs a few kilobytes",
            file=source,
        )
    try:
        document = jsonc.parse(text, snake_case)
    except jsonc.JsoncEmpty:
        raise ConfigError(
            f'the config is empty; it needs at least {{"models": [{_EXAMPLE_MODEL}]}}', file=source, line=1, column=1
        ) from None
    except jsonc.JsoncSyntaxError as error:
        raise ConfigError(error.message, file=source, line=error.line, column=error.column) from None
    return config_from_document(document, source)


def config_from_document(
    document: LocatedDocument, source: str | None, warnings: Iterable[ConfigProblem] = ()
) -> Config:
    """Validate a parsed config of config.json's shape; ``warnings`` were found before (by
    the translation of a config.yaml) and come first."""
    reader = _Reader(document, source)
    reader.warnings.extend(warnings)
    top = reader.normalize(document.value, [], _TOP_LEVEL_FIELDS, _CONTINUE_TOP_LEVEL | _SEED_TOP_LEVEL)
    raw_models = top.get("models")
    if raw_models is None:
        raise reader.fail(
            [],
            f'no "models" list; add one, e.g. "models": [{_EXAMPLE_MODEL}]',
        )
    if not isinstance(raw_models, list):
        raise reader.fail(["models"], f"expected a list of models, got {_describe(raw_models)}")
    if "system_message" in top:
        _structure(reader, top["system_message"], str | None, ["system_message"])
    # The shared options are checked where they are written; a model's own keys win over them.
    shared: dict[str, dict[str, Any]] = {}
    for key, cls in _OPTIONS:
        if key in top:
            raw = reader.normalize(top[key], [key], _field_names(cls), _OPTIONS_QUIET[key])
            options = _check_options(reader, _structure(reader, raw, cls, [key]), [key], raw.keys())
            shared[key] = {name: getattr(options, name) for name in raw}
    models: list[ModelConfig] = []
    skipped: dict[str, str] = {}  # the title of a model of a provider not served → that provider
    for index, raw in enumerate(raw_models):
        model = _read_model(reader, raw, ["models", index], top, shared, skipped)
        if model is not None:
            models.append(model)
    if not models:
        raise reader.fail(
            ["models"],
            f"no model with a provider llamafile-ls serves ({', '.join(sorted(PROVIDERS))}); add one, "
            f"e.g. {_EXAMPLE_MODEL}",
        )
    models = _assign_roles(reader, top, shared, models, skipped)
    _check_unique_titles(reader, models)
    slash = _slash_commands(reader, top["slash_commands"]) if "slash_commands" in top else None
    custom = _custom_commands(reader, top.get("custom_commands", []))
    if isinstance(top.get("slash_commands"), list) and _is_seed_list(top["slash_commands"]):
        # The seed's example /test (tests as chat output) gives way to the built-in one.
        custom = tuple(c for c in custom if (c.name, c.prompt) != ("test", _SEED_TEST_PROMPT))
    return Config(
        models=tuple(models),
        source=source,
        warnings=tuple(reader.warnings),
        slash_commands=slash,
        custom_commands=custom,
        local=tuple(reader.local),
    )


def _read_model(
    reader: _Reader,
    raw: Any,
    path: list[str | int],
    top: dict[str, Any],
    shared: dict[str, dict[str, Any]],
    skipped: dict[str, str],
) -> ModelConfig | None:
    """One model entry, checked; None (with a warning) for a provider not served here."""
    entry = reader.normalize(raw, path, _field_names(ModelConfig), _CONTINUE_MODEL)
    provider = entry.get("provider", "llamafile")
    if isinstance(provider, str) and provider not in PROVIDERS:
        title = entry.get("title", entry.get("model"))
        if isinstance(title, str):
            skipped[title] = provider
        if provider not in _GONE_TRIALS:  # the seed's own placeholders: nothing the user can do
            reader.warn(
                [*path, "provider"], f"provider {provider!r} is not served by llamafile-ls; this model is skipped"
            )
        return None
    if isinstance(provider, str):
        entry.setdefault("api_base", providers.KINDS[provider].api_base)  # where that kind listens
    if "system_message" not in entry and "system_message" in top:
        entry["system_message"] = top["system_message"]
    own: dict[str, Iterable[str]] = {}
    for key, cls in _OPTIONS:
        mine = (
            reader.normalize(entry[key], [*path, key], _field_names(cls), _OPTIONS_QUIET[key]) if key in entry else {}
        )
        own[key] = mine.keys()
        entry[key] = {**shared.get(key, {}), **mine}
    if "title" not in entry and isinstance(entry.get("model"), str):
        entry["title"] = entry["model"]
    model = _structure_model(reader, entry, path)
    model = _check_model(reader, model, path)
    for key, _cls in _OPTIONS:
        options = _check_options(reader, getattr(model, key), [*path, key], own[key])
        model = attrs.evolve(model, **{key: options})
    return model


# --- roles: the seed's model_roles and Continue's tabAutocompleteModel ----------------------------

# The free trials of the seed and of Continue: hosted services that are gone. Their entries in
# a config the seed wrote are its defaults, skipped without a word unless a role names them.
_GONE_TRIALS = frozenset({"openai-free-trial", "free-trial"})
# The seed's model_roles: "default" serves every role the others leave unset.
_SEED_DEFAULT_ROLES: tuple[Role, ...] = ("edit", "chat", "summarize")


def _assign_roles(
    reader: _Reader,
    top: dict[str, Any],
    shared: dict[str, dict[str, Any]],
    models: list[ModelConfig],
    skipped: dict[str, str],
) -> list[ModelConfig]:
    """The models with the roles ``model_roles`` gives them, and the autocomplete model."""
    if "tab_autocomplete_model" in top:
        models = _add_autocomplete(reader, top, shared, models, skipped)
    raw = top.get("model_roles")
    if raw is None:
        return models
    if not isinstance(raw, dict):
        reader.warn(["model_roles"], f'expected an object like {{"default": "<model title>"}}, got {_describe(raw)}; '
                    "it is ignored")  # fmt: skip
        return models
    titles = {model.title for model in models}
    chosen: dict[str, str] = {}  # role → title
    default: str | None = None
    for key, title in raw.items():
        path: list[str | int] = ["model_roles", key]
        if title is None:
            continue
        if key != "default" and key not in ROLES:
            reader.warn(path, f"unknown role {key!r} is ignored; the roles are default, {', '.join(ROLES)}")
            continue
        if not isinstance(title, str):
            reader.warn(path, f"expected a model title, got {_describe(title)}; it is ignored")
            continue
        if title not in titles:
            why = (f"its provider {skipped[title]!r} is not served by llamafile-ls" if title in skipped
                   else "no model has that title")  # fmt: skip
            reader.warn(path, f"names the model {_clip_title(title)}, but {why}; the first model serves this role")
            continue
        if key == "default":
            default = title
        else:
            chosen[key] = title
    if default is not None:
        for role in _SEED_DEFAULT_ROLES:
            chosen.setdefault(role, default)
    return [
        attrs.evolve(model, roles=prompts.unique([*model.roles, *(r for r, t in chosen.items() if t == model.title)]))
        for model in models
    ]


def _add_autocomplete(
    reader: _Reader,
    top: dict[str, Any],
    shared: dict[str, dict[str, Any]],
    models: list[ModelConfig],
    skipped: dict[str, str],
) -> list[ModelConfig]:
    """Continue's ``tabAutocompleteModel`` (an object, or a list of them): a model with the
    role "autocomplete" — one of the models when its title is theirs, else one more, last,
    so that it never becomes the model of the other roles."""
    raw = top["tab_autocomplete_model"]
    entries = raw if isinstance(raw, list) else [raw]
    for index, item in enumerate(entries):
        path: list[str | int] = (
            ["tab_autocomplete_model", index] if isinstance(raw, list) else ["tab_autocomplete_model"]
        )
        if isinstance(item, dict) and not item.get("title") and not item.get("model"):
            continue  # an empty placeholder, as Continue's own default config has
        model = _read_model(reader, item, path, top, shared, skipped)
        if model is None:
            continue
        same = next((i for i, known in enumerate(models) if known.title == model.title), None)
        if same is None:
            models = [*models, attrs.evolve(model, roles=prompts.unique([*model.roles, "autocomplete"]))]
        else:
            known = models[same]
            models[same] = attrs.evolve(known, roles=prompts.unique([*known.roles, "autocomplete"]))
    return models


# --- slash commands -----------------------------------------------------------------------------

# The steps the seed's slash_commands run (its StepName): a list of them is the seed's own,
# not a choice among llamafile-ls's commands.
_SEED_STEPS = frozenset(
    {
        "AnswerQuestionChroma", "GenerateShellCommandStep", "EditHighlightedCodeStep", "ShareSessionStep",
        "CommentCodeStep", "ClearHistoryStep", "StackOverflowStep", "OpenConfigStep", "DefaultOnTracebackStep",
    }
)  # fmt: skip
# The prompt of the example custom command /test the seed put in every config.json.
_SEED_TEST_PROMPT = (
    "Write a comprehensive set of unit tests for the selected code. It should setup, run tests that check "
    "for correctness including important edge cases, and teardown. Ensure that the tests are complete and "
    "sophisticated. Give the tests just as chat output, don't edit any file."
)


def _is_seed_list(raw: list[Any]) -> bool:
    return bool(raw) and all(isinstance(item, dict) and item.get("step") in _SEED_STEPS for item in raw)


def _slash_commands(reader: _Reader, raw: Any) -> tuple[SlashCommand, ...] | None:
    if not isinstance(raw, list):
        raise reader.fail(["slash_commands"], f"expected a list of commands, got {_describe(raw)}")
    if _is_seed_list(raw):
        builtins = ", ".join(f"/{name}" for name in sorted(actions.SLASH_NAMES))
        reader.warn(["slash_commands"], "this is the list of the seed's own steps (Continue 0.1), which "
                    f"llamafile-ls does not run; every built-in command is offered instead ({builtins}), and the "
                    "seed's example custom command /test gives way to the built-in one. "
                    "Remove slash_commands, or list the built-in commands you want")  # fmt: skip
        return None
    commands: list[SlashCommand] = []
    for index, item in enumerate(raw):
        path: list[str | int] = ["slash_commands", index]
        entry = reader.normalize(item, path, _field_names(SlashCommand), frozenset({"params", "step"}))
        name = entry.get("name")
        if not isinstance(name, str):
            raise reader.fail([*path, "name"], 'a slash command needs a name, e.g. "comment"')
        name = name.lstrip("/")
        if name not in actions.SLASH_NAMES:
            offered = ", ".join(sorted(actions.SLASH_NAMES))
            reader.warn([*path, "name"], f"slash command {name!r} is not one llamafile-ls offers ({offered}); ignored")
            continue
        description = entry.get("description")
        commands.append(SlashCommand(name, description if isinstance(description, str) else ""))
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
            _compile(prompts.custom_command_body(command.prompt), f"of {label}")
        except TemplateError as error:
            reader.warn([*path, "prompt"], f"{error}; it is skipped")
            continue
        except Exception as error:  # a wrong type or an unknown output
            located = _located(reader, error, path)
            reader.warn(path, f"{label}: {located.reason.split(': ', 1)[-1]}; it is skipped")
            continue
        commands.append(command)
    return tuple(commands)


def _compile(source: str, label: str) -> None:
    """Check a mustache template; whatever the template parser raises is a TemplateError."""
    try:
        prompts.compile_template(source, label)
    except TemplateError:
        raise
    except Exception as error:  # the parser failing on input it did not foresee
        raise TemplateError(f"prompt template {label} does not parse ({type(error).__name__})") from None


def _structure(reader: _Reader, raw: Any, cls: Any, path: list[str | int]) -> Any:
    try:
        return _CONVERTER.structure(raw, cls)
    except Exception as error:  # cattrs raises exception groups; report the first leaf
        raise _located(reader, error, path) from None


def _structure_model(reader: _Reader, entry: dict[str, Any], path: list[str | int]) -> ModelConfig:
    model: ModelConfig = _structure(reader, entry, ModelConfig, path)
    if model.template is not None and model.template not in prompts.TEMPLATE_NAMES:
        raise reader.fail(
            [*path, "template"],
            f"unknown template {model.template!r}; use one of: {', '.join(sorted(prompts.TEMPLATE_NAMES))}",
        )
    for action, source in model.prompt_templates.items():
        try:
            _compile(source, f"{action!r} of model {model.title!r}")
        except TemplateError as error:
            raise reader.fail([*path, "prompt_templates", action], str(error)) from None
    return model


def _located(reader: _Reader, error: BaseException, path: list[str | int]) -> ConfigError:
    """Turn a cattrs exception (group) into a ConfigError at the first failing value."""
    leaf_path, leaf = _first_leaf(error, [])
    full = [*path, *leaf_path]
    secret = bool(_SECRET_PARTS.intersection(full))
    if isinstance(leaf, KeyError):
        return reader.fail(full, "is required")
    if isinstance(leaf, _Invalid):
        return reader.fail([*full, *leaf.at], leaf.message(secret))
    validator = _ATTRS_VALIDATOR.match(str(leaf))
    if isinstance(leaf, ValueError) and validator:  # "'max_tokens' must be >= 1: 0"
        name, rule, value = validator.groups()
        return reader.fail([*full, name], f"must be {rule}, got {value if len(value) <= 40 else value[:37] + '...'}")
    if secret:
        return reader.fail(full, "is not a value of the expected type")
    return reader.fail(full, " ".join(cattrs.v.format_exception(leaf, None).split()))


def _first_leaf(error: BaseException, path: list[str | int]) -> tuple[list[str | int], BaseException]:
    while True:
        children = getattr(error, "exceptions", ())  # cattrs' exception groups
        if not children:
            return path, error
        error = children[0]
        for note in getattr(error, "__notes__", []):
            if isinstance(note, cattrs.AttributeValidationNote):
                path = [*path, note.name]
            elif isinstance(note, cattrs.IterableValidationNote):
                path = [*path, note.index]


def _check_unique_titles(reader: _Reader, models: list[ModelConfig]) -> None:
    seen: set[str] = set()
    for index, model in enumerate(models):
        if model.title in seen:
            reader.warn(["models", index, "title"], f"title {model.title!r} is used twice; `--model` picks the first")
        seen.add(model.title)


# --- the checks of values that are the right type -----------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WHITESPACE = re.compile(r"\s")
_HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOST_NAME = re.compile(r"[A-Za-z0-9._~-]+")
_PORT = re.compile(r"[0-9]*")
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "host"})  # a wrong one breaks every request


def _check_model(reader: _Reader, model: ModelConfig, path: list[str | int]) -> ModelConfig:
    problem = _url_problem(model.api_base, ("http", "https"), "http://localhost:8080")
    if problem:
        raise reader.fail([*path, "api_base"], problem)
    if model.api_key is not None:
        model = attrs.evolve(model, api_key=_check_api_key(reader, model.api_key, [*path, "api_key"]))
    if model.llamafile_command is not None:
        problem = _command_problem(model.llamafile_command)
        if problem:
            raise reader.fail([*path, "llamafile_command"], problem)
    stop = model.llama_cpp_args.get("stop")
    if stop is not None and not (isinstance(stop, str) or _is_list_of_strings(stop)):
        raise reader.fail(
            [*path, "llama_cpp_args", "stop"], f"expected a string or a list of strings, got {_describe(stop)}"
        )
    unknown = [role for role in model.roles if role not in ROLES]
    if unknown:
        reader.warn([*path, "roles"], f"unknown role {unknown[0]!r} is ignored; the roles are {', '.join(ROLES)}")
        model = attrs.evolve(model, roles=tuple(role for role in model.roles if role in ROLES))
    return model


def _is_list_of_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _check_options(reader: _Reader, options: Any, path: list[str | int], keys: Iterable[str]) -> Any:
    """Check the keys of completion or request options written at ``path``."""
    if not isinstance(options, RequestOptions):
        return options  # completion options: their attrs validators said everything
    keys = frozenset(keys)
    if "proxy" in keys and options.proxy is not None:
        problem = _url_problem(options.proxy, ("http", "https", "socks5", "socks5h"), "http://proxy:3128")
        if problem:
            raise reader.fail([*path, "proxy"], problem)
        if options.proxy.lower().startswith("socks"):
            where = [*path, "proxy"]
            reader.local.append(LocalSetting("proxy", reader.dotted(where), options.proxy, *reader.position(where)))
    if "headers" in keys:
        headers = {
            name: _check_header(reader, name, value, [*path, "headers"], index)
            for index, (name, value) in enumerate(options.headers.items())
        }
        options = attrs.evolve(options, headers=headers)
    if "ca_bundle_path" in keys and options.ca_bundle_path:
        where = [*path, "ca_bundle_path"]
        if "\0" in options.ca_bundle_path:
            raise reader.fail(where, "contains a NUL character; it must be the path of a file")
        reader.local.append(
            LocalSetting("ca_bundle_path", reader.dotted(where), options.ca_bundle_path, *reader.position(where))
        )
    return options


def _check_header(reader: _Reader, name: str, value: str, path: list[str | int], index: int) -> str:
    if not _HTTP_TOKEN.fullmatch(name):
        # The name is not shown either: a malformed one may be a pasted value.
        raise reader.fail(
            [*path, name],
            f"the name of header #{index + 1} is not a valid HTTP header name: use only letters, digits "
            "and !#$%&'*+-.^_`|~ (no spaces or colons), e.g. X-Team",
            shown=path,
        )
    where = [*path, name]
    if name.lower() in _FRAMING_HEADERS:
        raise reader.fail(where, "this header is set for each request by the HTTP client itself; remove it")
    if any(char in value for char in "\r\n\0"):
        raise reader.fail(where, "the value contains a line break or a NUL character, which HTTP forbids")
    if _CONTROL.search(value.replace("\t", " ")):
        raise reader.fail(where, "the value contains a control character, which HTTP forbids")
    if not value.isascii():
        raise reader.fail(where, "the value contains a non-ASCII character; HTTP headers are ASCII")
    trimmed = value.strip(" \t")
    if trimmed != value:
        reader.warn(where, "the value has spaces around it; they are trimmed")
    return trimmed


def _check_api_key(reader: _Reader, value: str, path: list[str | int]) -> str | None:
    """An API key: one word of printable ASCII; a pasted newline around it is trimmed."""
    trimmed = value.strip()
    if trimmed != value:
        if trimmed:
            reader.warn(path, "has whitespace around it (a pasted newline?); it is trimmed")
        else:
            reader.warn(path, "is blank; no key is sent")
            return None
    if _WHITESPACE.search(trimmed):
        raise reader.fail(path, "contains whitespace inside it; an API key is one word")
    if _CONTROL.search(trimmed):
        raise reader.fail(path, "contains a control character; an API key is printable ASCII")
    if not trimmed.isascii():
        raise reader.fail(path, "contains a non-ASCII character; an API key is printable ASCII")
    return trimmed or None


def _url_problem(url: str, schemes: tuple[str, ...], sample: str) -> str | None:
    """What makes ``url`` unusable as a server's address, or None. Never quotes the URL,
    which may hold a password."""
    kinds = ", ".join(f"{scheme}://" for scheme in schemes[:-1]) + f" or {schemes[-1]}://"
    example = f"e.g. {sample}"
    if _CONTROL.search(url):
        return "contains a control character (a line break, a tab or a NUL?); it must be a URL"
    if _WHITESPACE.search(url):
        return "contains whitespace; it must be a URL"
    if not url.isascii():
        return "contains a non-ASCII character; write an international host name in its xn-- form"
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"is not a URL (an unclosed [ of an IPv6 address?); it must be an {kinds} URL, {example}"
    if parts.scheme not in schemes or not url.lower().startswith(f"{parts.scheme}://"):
        return f"must be an {kinds} URL, {example}"
    if not parts.hostname:
        return f"has no host name; {example}"
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("["):
        address, _, port = hostport[1:].partition("]")
        port = port.removeprefix(":")
        try:
            ipaddress.IPv6Address(address.split("%", 1)[0])
        except ValueError:
            return f"has an invalid IPv6 address in brackets; {example}"
    else:
        host, _, port = hostport.partition(":")
        if not _HOST_NAME.fullmatch(host):
            return f"has a host name with a character a host name cannot have; {example}"
    if not _PORT.fullmatch(port) or (port and not 1 <= int(port) <= 65535):
        return f"has a port that is not a number from 1 to 65535; {example}"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return f"must not have a query (?) or a fragment (#); {example}"
    return None


def _command_problem(command: str) -> str | None:
    if "\0" in command:
        return "contains a NUL character, which no command can have"
    try:
        words = shlex.split(command)
    except ValueError as error:
        return f"cannot be split into arguments the way a shell would ({error}); check its quotes and backslashes"
    if command and not words:
        return "is blank; give the llamafile's path and arguments, e.g. /path/to/model.llamafile --server"
    return None
