"""Continue's config.yaml → the config llamafile-ls runs. Pure: text in, objects out.

The YAML is translated into the shape of config.json (``name`` → ``title``,
``defaultCompletionOptions`` → ``completion_options``, ``prompts`` → custom commands,
``rules`` → the system message, Handlebars templates → mustache), with a map from each
translated place back to where it is written in the YAML. The validation of
:func:`llamafile_ls.config.config_from_document` then runs unchanged, and every error and
warning it reports points at the line of config.yaml.

What cannot work offline is skipped with a warning at its line: ``uses:`` blocks (the
Continue Hub) and ``${{ secrets.NAME }}`` (Continue's secrets). Keys of llamafile-ls's own
config.json (``llamafileCommand``, ``template``, …) work in config.yaml too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import attrs

from llamafile_ls import handlebars, prompts, yaml_document
from llamafile_ls.config import (
    CompletionOptions,
    Config,
    ConfigProblem,
    config_from_document,
    snake_case,
)
from llamafile_ls.errors import ConfigError

# A config.yaml is a few kilobytes; the pure-Python parser reads about half a megabyte a
# second, so a bigger file is a mistake that would only stall the server.
MAX_YAML_BYTES = 1024 * 1024

# Continue's keys that mean nothing to llamafile-ls: accepted without a word.
_QUIET_TOP = frozenset({"name", "version", "schema", "metadata", "env", "context", "docs", "mcpServers", "data"})
_QUIET_MODEL = frozenset(
    {
        "capabilities", "autocompleteOptions", "embedOptions", "cacheBehavior", "env", "maxStopWords",
        "useResponsesApi", "sourceFile",
    }
)  # fmt: skip
_QUIET_COMPLETION = frozenset({"n", "reasoning", "reasoningBudgetTokens", "promptCaching", "stream", "keepAlive"})
_QUIET_TEMPLATES = frozenset({"apply", "autocomplete"})  # llamafile-ls neither applies nor completes with them
_SECRET = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
_EXAMPLE = "models: [{name: llamafile, provider: llamafile, model: mistral-7b}]"
_Path = tuple[str | int, ...]


class TranslatedDocument:
    """config.yaml in config.json's shape, that says where each value is written in the YAML."""

    def __init__(self, yaml: yaml_document.YamlDocument, value: dict[str, Any], moves: dict[_Path, _Path]) -> None:
        self._yaml = yaml
        self._value = value
        self._moves = moves  # a translated path (snake_case keys) → the YAML path it came from

    @property
    def value(self) -> Any:
        return self._value

    def yaml_path(self, path: Sequence[str | int]) -> list[str | int]:
        """Where a translated path comes from in the YAML (keys below a move as given)."""
        parts = tuple(snake_case(part) if isinstance(part, str) else part for part in path)
        for cut in range(len(parts), 0, -1):
            target = self._moves.get(parts[:cut])
            if target is not None:
                return [*target, *path[cut:]]
        return list(path)

    def locate(self, path: Sequence[str | int]) -> tuple[int, int] | None:
        return self._yaml.locate(self.yaml_path(path))

    def spell(self, path: Sequence[str | int]) -> list[str | int]:
        """The path as config.yaml writes it, for messages: ``models[2].apiBase``."""
        return self._yaml.spelled(self.yaml_path(path))


def _dotted(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return "text" if isinstance(value, str) else "a single value"


class _Drop:
    """A value that a secret made unusable: left out of the translation."""


_DROP = _Drop()


class _Translation:
    def __init__(self, document: yaml_document.YamlDocument, source: str | None) -> None:
        self.document = document
        self.source = source
        self.warnings: list[ConfigProblem] = []
        self.moves: dict[_Path, _Path] = {}

    # --- saying where ----------------------------------------------------------------------

    def warn(self, path: Sequence[str | int], message: str) -> None:
        line, column = self.document.locate(path) or (None, None)
        where = _dotted(path)
        self.warnings.append(ConfigProblem(f"{where}: {message}" if where else message, line, column))

    def fail(self, path: Sequence[str | int], message: str) -> ConfigError:
        line, column = self.document.locate(path) or (None, None)
        where = _dotted(path)
        return ConfigError(f"{where}: {message}" if where else message, file=self.source, line=line, column=column)

    def template_error(self, path: Sequence[str | int], error: handlebars.HandlebarsError) -> ConfigProblem:
        """Where a template's fault is: its line inside the template, counted from where the
        template is written (a block scalar, ``|``, starts on the line after its key)."""
        node = self.document.node(path)
        block = node.style in ("|", ">")
        line = node.line + error.line - 1 + (1 if block else 0)
        column = node.column if error.line == 1 and not block else None
        return ConfigProblem(f"{_dotted(path)}: {error}", line, column)

    def move(self, here: _Path, name: str, source: _Path) -> None:
        """``name`` of the translated value at ``here`` comes from ``source`` in the YAML."""
        translated = (*here, name)
        self.moves[translated] = source

    # --- the translation --------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        top = self.document.value
        if not isinstance(top, dict):
            raise self.fail([], f"config.yaml must be a mapping (name:, models:, …), not {_kind(top)}")
        out: dict[str, Any] = {}
        for key, value in top.items():
            if key in _QUIET_TOP or key in ("models", "rules", "prompts"):
                continue
            kept = self.without_secrets(value, [key])
            if kept is not _DROP:
                out[key] = kept
        if "models" not in top:
            raise self.fail([], f"no models list; add one, e.g. {_EXAMPLE}")
        out["models"] = self.models(top["models"])
        rules = self.rules(top.get("rules"))
        if rules:
            self.apply_rules(out, rules)
        if top.get("prompts") is not None:
            self.prompts(out, top["prompts"])
        return out

    def models(self, raw: Any) -> Any:
        if not isinstance(raw, list):
            return raw  # the validation says what is wrong, at its line
        models: list[Any] = []
        hub = 0
        for index, item in enumerate(raw):
            path: list[str | int] = ["models", index]
            if isinstance(item, dict) and "uses" in item:
                hub += 1
                self.warn_hub([*path, "uses"], item["uses"], "model", "write the model out (name, provider, model)")
                continue
            self.moves[("models", len(models))] = tuple(path)
            models.append(self.model(item, len(models), path) if isinstance(item, dict) else item)
        if hub and not models:
            raise self.fail(
                ["models"],
                "every model is a `uses:` block of the Continue Hub, which llamafile-ls cannot fetch; "
                "write at least one model out, e.g. {name: llamafile, provider: llamafile, model: mistral-7b}",
            )
        return models

    def warn_hub(self, path: list[str | int], uses: Any, what: str, instead: str) -> None:
        shown = repr(uses) if isinstance(uses, str) and len(uses) <= 60 else "a block"
        self.warn(
            path,
            f"`uses: {shown}` is a {what} from the Continue Hub, which llamafile-ls cannot fetch (it reads only "
            f"this file); {instead}; it is skipped",
        )

    def model(self, raw: dict[str, Any], index: int, path: list[str | int]) -> dict[str, Any]:
        here: _Path = ("models", index)
        cleaned = self.without_secrets(raw, path)
        assert isinstance(cleaned, dict)
        own_context = any(key in cleaned for key in ("contextLength", "context_length"))
        entry: dict[str, Any] = {}
        for key, value in cleaned.items():
            if key in _QUIET_MODEL:
                continue
            if key == "name":
                entry["title"] = value
                self.move(here, "title", (*path, key))
            elif key == "defaultCompletionOptions":
                entry["completion_options"] = self.completion_options(entry, value, own_context, here, [*path, key])
                self.move(here, "completion_options", (*path, key))
            elif key == "promptTemplates":
                self.prompt_templates(entry, value, here, [*path, key])
            elif key == "chatOptions":
                system = value.get("baseSystemMessage") if isinstance(value, dict) else None
                if system is not None:
                    entry["system_message"] = system
                    self.move(here, "system_message", (*path, key, "baseSystemMessage"))
            else:
                entry[key] = value  # as in config.json: the validation knows it, or warns
        return entry

    def completion_options(
        self, entry: dict[str, Any], value: Any, own_context: bool, here: _Path, path: list[str | int]
    ) -> Any:
        """Continue's defaultCompletionOptions: each option by its name (so whatever
        CompletionOptions knows passes), contextLength to the model."""
        if not isinstance(value, dict):
            return value
        known = {field.name for field in attrs.fields(CompletionOptions)}
        options: dict[str, Any] = {}
        for name, option in value.items():
            if name == "contextLength":
                if not own_context:  # the model's own contextLength wins
                    entry["context_length"] = option
                    self.move(here, "context_length", (*path, name))
            elif name not in _QUIET_COMPLETION or snake_case(name) in known:
                options[name] = option
        return options

    def prompt_templates(self, entry: dict[str, Any], value: Any, here: _Path, path: list[str | int]) -> None:
        if not isinstance(value, dict):
            entry["prompt_templates"] = value  # the validation says what is wrong
            return
        templates: dict[str, Any] = {}
        for name, template in value.items():
            if name in _QUIET_TEMPLATES:
                continue
            if name == "chat":  # the name of a chat format, not a template
                if isinstance(template, str) and template in prompts.TEMPLATE_NAMES:
                    entry["template"] = template
                    self.move(here, "template", (*path, name))
                else:
                    shown = repr(template) if isinstance(template, str) else _kind(template)
                    self.warn(
                        [*path, name],
                        f"the chat format {shown[:60]} is not one llamafile-ls writes "
                        f"({', '.join(sorted(prompts.TEMPLATE_NAMES))}); the model's name picks the format",
                    )
                continue
            if isinstance(template, str):
                try:
                    template = handlebars.to_mustache(template)
                except handlebars.HandlebarsError as error:
                    problem = self.template_error([*path, name], error)
                    raise ConfigError(
                        problem.message, file=self.source, line=problem.line, column=problem.column
                    ) from None
            templates[name] = template
        entry["prompt_templates"] = templates

    def without_secrets(self, value: Any, path: list[str | int]) -> Any:
        """``value`` without the settings that hold a ``${{ … }}`` reference, each one warned about."""
        if isinstance(value, str):
            found = _SECRET.search(value)
            if found is None:
                return value
            self.warn(path, _secret_message(found.group(1), path))
            return _DROP
        if isinstance(value, dict):
            kept = {key: self.without_secrets(item, [*path, key]) for key, item in value.items()}
            return {key: item for key, item in kept.items() if item is not _DROP}
        if isinstance(value, list):
            items = [self.without_secrets(item, [*path, index]) for index, item in enumerate(value)]
            return [item for item in items if item is not _DROP]
        return value

    def rules(self, raw: Any) -> list[str]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.warn(["rules"], f"expected a list of rules, got {_kind(raw)}; it is ignored")
            return []
        texts: list[str] = []
        for index, item in enumerate(raw):
            path: list[str | int] = ["rules", index]
            if isinstance(item, str):
                text = item
            elif isinstance(item, dict) and "uses" in item:
                self.warn_hub([*path, "uses"], item["uses"], "rule", "write the rule's text here instead")
                continue
            elif isinstance(item, dict) and isinstance(item.get("rule"), str):
                if (item.get("globs") or item.get("regex")) and item.get("alwaysApply") is not True:
                    name = item.get("name")
                    label = f"rule {name!r}" if isinstance(name, str) else "this rule"
                    self.warn(
                        path,
                        f"{label} is for files matching its globs or regex, which llamafile-ls does not check; "
                        "it is not used (add alwaysApply: true to use it everywhere)",
                    )
                    continue
                text = item["rule"]
            else:
                self.warn(path, f"expected a rule (text, or a mapping with rule:), got {_kind(item)}; it is skipped")
                continue
            if _SECRET.search(text):
                self.warn(path, "a rule cannot hold ${{ … }} references, which llamafile-ls cannot resolve; skipped")
            elif text.strip():
                texts.append(text.strip())
        return texts

    def apply_rules(self, out: dict[str, Any], rules: list[str]) -> None:
        """The rules follow each model's system message (its own, else the shared one, else
        the built-in one)."""
        shared = _pop_system(out)
        models = out["models"]
        if not isinstance(models, list):
            return
        for index, entry in enumerate(models):
            if not isinstance(entry, dict):
                continue
            system = _pop_system(entry)
            system = system if system is not None else shared
            if system is not None and not isinstance(system, str):
                entry["system_message"] = system  # the validation says what is wrong
                continue
            entry["system_message"] = "\n\n".join([system or prompts.DEFAULT_SYSTEM_MESSAGE, *rules])
            self.moves.setdefault(("models", index, "system_message"), ("rules",))

    def prompts(self, out: dict[str, Any], raw: Any) -> None:
        """Continue's prompts are custom commands; their answer is prose for the chat, so it
        goes to a document beside the code ("document"), never into the code."""
        if not isinstance(raw, list):
            self.warn(["prompts"], f"expected a list of prompts, got {_kind(raw)}; it is ignored")
            return
        key = next((name for name in ("customCommands", "custom_commands") if name in out), "custom_commands")
        commands = out.setdefault(key, [])
        if not isinstance(commands, list):
            return  # the validation says what is wrong with customCommands
        for index, item in enumerate(raw):
            path: list[str | int] = ["prompts", index]
            if isinstance(item, dict) and "uses" in item:
                self.warn_hub([*path, "uses"], item["uses"], "prompt", "write the prompt out (name, prompt)")
                continue
            command: Any = item
            if isinstance(item, dict):
                command = {name: value for name, value in item.items() if name != "sourceFile"}
                command.setdefault("output", "document")
                if isinstance(command.get("prompt"), str):
                    try:
                        command["prompt"] = handlebars.to_mustache(command["prompt"])
                    except handlebars.HandlebarsError as error:
                        problem = self.template_error([*path, "prompt"], error)
                        self.warnings.append(attrs.evolve(problem, message=f"{problem.message}; it is skipped"))
                        continue
            self.moves[("custom_commands", len(commands))] = tuple(path)
            commands.append(command)


def _pop_system(entry: dict[str, Any]) -> Any:
    """The system message of a model or of the whole config, by either spelling, taken out."""
    found = None
    for key in ("systemMessage", "system_message"):
        if key in entry:
            found = entry.pop(key)
    return found


def _secret_message(reference: str, path: list[str | int]) -> str:
    what = reference.split(".", 1)[0]
    kind = "a Continue secret" if what == "secrets" else "a Continue input" if what == "inputs" else "a reference"
    shown = f"${{{{ {reference[:60]} }}}}"
    if path and path[-1] == "apiKey":
        return (
            f"{shown} is {kind}, which llamafile-ls cannot resolve: write the key itself as apiKey (and keep "
            "this file private); until then no API key is sent"
        )
    return (
        f"{shown} is {kind}, which llamafile-ls cannot resolve: write the value itself here; until then it is ignored"
    )


def parse_config_yaml(text: str, source: str | None = None) -> Config:
    """Validate config.yaml text. Raise :class:`ConfigError` pointing at the fault's line."""
    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(
            f"the config is {len(text) / 2**10:.0f} KB; the most llamafile-ls reads of a config.yaml is "
            f"{MAX_YAML_BYTES // 2**10} KB, and a config needs a few kilobytes",
            file=source,
        )
    try:
        document = yaml_document.parse(text, snake_case)
    except yaml_document.YamlEmpty:
        raise ConfigError(f"the config is empty; it needs at least {_EXAMPLE}", file=source, line=1, column=1) from None
    except yaml_document.YamlSyntaxError as error:
        raise ConfigError(error.message, file=source, line=error.line, column=error.column) from None
    translation = _Translation(document, source)
    value = translation.config()
    translated = TranslatedDocument(document, value, translation.moves)
    return config_from_document(translated, source, translation.warnings)
