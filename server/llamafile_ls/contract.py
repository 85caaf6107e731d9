"""The contract with the editor clients: command names, their arguments and results, and the
status notification, as typed classes. Pure.

A JSON Schema is generated from these classes (``python -m llamafile_ls.contract``) into the
VS Code extension, and its TypeScript types from that schema; a test fails when either
drifts. Arguments are read strictly: a wrong value gets a message that names it.
"""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

import attrs

EDIT = "llamafile.edit"
RUN_COMMAND = "llamafile.runCommand"
LIST_MODELS = "llamafile.listModels"
SELECT_MODEL = "llamafile.selectModel"
STATUS = "llamafile/status"  # server → client notification


class ContractError(ValueError):
    """Arguments that are not as the contract says; the message says what is wrong."""


@attrs.frozen
class Position:
    line: int = attrs.field(metadata={"doc": "0-based line"})
    character: int = attrs.field(metadata={"doc": "0-based column, in the negotiated position encoding"})


@attrs.frozen
class Range:
    start: Position
    end: Position


@attrs.frozen
class EditArguments:
    """``llamafile.edit``: rewrite the selected lines as the instruction says."""

    uri: str
    range: Range
    instruction: str = attrs.field(default="", metadata={"doc": "what to do with the code"})
    model: str | None = attrs.field(default=None, metadata={"doc": "a model title; default: the selected model"})
    preview: bool = attrs.field(default=False, metadata={"doc": "send the edit through the editor's preview"})


@attrs.frozen
class RunCommandArguments:
    """``llamafile.runCommand``: a slash command (/comment, /fix…) or a custom command."""

    name: str = attrs.field(metadata={"doc": "the command's name, with or without its slash"})
    uri: str
    range: Range
    input: str = attrs.field(default="", metadata={"doc": "extra input for the command"})
    diagnostics: str = attrs.field(default="", metadata={"doc": "for /fix: the problems, one a line"})
    model: str | None = None
    preview: bool = False


@attrs.frozen
class CommandResult:
    """What ``llamafile.edit`` and ``llamafile.runCommand`` answer."""

    applied: bool = attrs.field(metadata={"doc": "whether the document was changed"})
    reason: str | None = attrs.field(default=None, metadata={"doc": "why not, in one line"})
    uri: str | None = attrs.field(default=None, metadata={"doc": "a file or document the answer went to"})
    text: str | None = attrs.field(default=None, metadata={"doc": "the answer, for answers that are text to read"})


# What a model is for (Continue's roles); the config reads them, the clients show them.
Role = Literal["chat", "edit", "apply", "autocomplete", "embed", "rerank", "summarize"]


@attrs.frozen
class ModelInfo:
    """One entry of ``llamafile.listModels``."""

    title: str
    provider: str
    model: str
    active: bool = attrs.field(metadata={"doc": "edits go to this model"})
    roles: list[Role] = attrs.field(
        factory=list, metadata={"doc": "the roles requests now pick this model for, and those the config gives it"}
    )


@attrs.frozen
class SelectModelArguments:
    """``llamafile.selectModel``: the model later requests use."""

    title: str
    role: Role | None = attrs.field(
        default=None,
        metadata={"doc": "only for this role (e.g. edit, chat, autocomplete); default: every role but autocomplete"},
    )


@attrs.frozen
class SelectModelResult:
    title: str
    role: Role | None = None


State = Literal["waiting", "starting", "generating", "applying", "done"]


@attrs.frozen
class Status:
    """``llamafile/status``: what one request is doing, for a status bar (never text to parse)."""

    request: str = attrs.field(metadata={"doc": "an id for the request, the same in all its notifications"})
    state: State
    model: str = attrs.field(metadata={"doc": "the model's title"})
    tokens: int | None = attrs.field(default=None, metadata={"doc": "tokens received so far (generating)"})
    detail: str | None = attrs.field(default=None, metadata={"doc": "e.g. 'loading model… 3 s' (starting)"})
    outcome: str | None = attrs.field(
        default=None, metadata={"doc": "when done: applied, unchanged, cancelled, failed, not applied, done"}
    )


@attrs.frozen
class InitializationOptions:
    """What a client may send in ``initialize``'s ``initializationOptions``."""

    configPath: str | None = attrs.field(default=None, metadata={"doc": "the config file; relative to the workspace"})
    model: str | None = attrs.field(default=None, metadata={"doc": "the model to start with (a title)"})
    applyEditTimeout: float | None = attrs.field(
        default=None, metadata={"doc": "seconds to wait for the editor to answer workspace/applyEdit (default 30)"}
    )
    showsResults: bool = attrs.field(
        default=False,
        metadata={"doc": "the client shows a failed command's reason itself: the server then does not show it"},
    )
    status: bool = attrs.field(default=False, metadata={"doc": "send llamafile/status notifications"})


# Each command: the class of its one argument, and of its result (a list of it when the
# third item is True).
COMMANDS: dict[str, tuple[type | None, type, bool]] = {
    EDIT: (EditArguments, CommandResult, False),
    RUN_COMMAND: (RunCommandArguments, CommandResult, False),
    LIST_MODELS: (None, ModelInfo, True),
    SELECT_MODEL: (SelectModelArguments, SelectModelResult, False),
}


# --- reading arguments strictly ---------------------------------------------------------------


def read(cls: type[_T], value: Any, what: str) -> _T:
    """``value`` (JSON) as ``cls``, checked field by field; :class:`ContractError` names the
    first wrong one (``range.start.line: expected a non-negative integer``)."""
    if not isinstance(value, Mapping):
        raise ContractError(f"{what} takes one object, got {_kind(value)}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in attrs.fields(typing.cast(Any, cls)):
        if field.name not in value:
            if field.default is attrs.NOTHING:
                raise ContractError(f"{what}: {field.name!r} is missing")
            continue
        values[field.name] = _read_value(hints[field.name], value[field.name], f"{what}: {field.name}")
    return cls(**values)


_T = typing.TypeVar("_T")
_UNION_TYPE: Any = getattr(types, "UnionType", typing.Union)  # X | Y (3.10+); typing.Union for Optional[X]


def _read_value(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, _UNION_TYPE):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return _read_value(inner, value, where)
    if origin is Literal:
        if value not in typing.get_args(kind):
            raise ContractError(f"{where}: expected one of {', '.join(map(repr, typing.get_args(kind)))}")
        return value
    if attrs.has(kind):
        return read(kind, value, where)
    if kind is bool:
        if not isinstance(value, bool):
            raise ContractError(f"{where}: expected true or false, got {_kind(value)}")
        return value
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
            raise ContractError(f"{where}: expected a non-negative integer, got {_kind(value)}")
        return value
    if kind is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ContractError(f"{where}: expected a number, got {_kind(value)}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ContractError(f"{where}: expected a string, got {_kind(value)}")
        return value
    raise TypeError(f"no reader for {kind!r}")  # a contract class with a type this does not know


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def write(value: Any) -> Any:
    """A contract value as JSON: ``None`` fields are left out."""
    if attrs.has(type(value)):
        return {
            field.name: write(item)
            for field, item in zip(attrs.fields(type(value)), attrs.astuple(value, recurse=False), strict=True)
            if item is not None
        }
    if isinstance(value, list):
        return [write(item) for item in value]
    return value


# --- the JSON Schema ------------------------------------------------------------------------------


def schema() -> dict[str, Any]:
    """Every contract type under ``$defs``, and the commands with their argument and result."""
    defs: dict[str, Any] = {}
    for cls in (Position, Range, EditArguments, RunCommandArguments, CommandResult, ModelInfo,
                SelectModelArguments, SelectModelResult, Status, InitializationOptions):  # fmt: skip
        defs[cls.__name__] = _object_schema(cls)
    commands = {}
    for name, (arguments, result, many) in COMMANDS.items():
        answer: dict[str, Any] = {"$ref": f"#/$defs/{result.__name__}"}
        commands[name] = {
            "arguments": {"$ref": f"#/$defs/{arguments.__name__}"} if arguments else None,
            "result": {"type": "array", "items": answer} if many else answer,
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "llamafile-ls client contract",
        "description": "Generated from server/llamafile_ls/contract.py by `python -m llamafile_ls.contract`.",
        "commands": commands,
        "notifications": {STATUS: {"$ref": "#/$defs/Status"}},
        "$defs": defs,
    }


def _object_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        prop = _type_schema(hints[field.name])
        doc = field.metadata.get("doc")
        if doc:
            prop = {**prop, "description": doc}
        properties[field.name] = prop
        if field.default is attrs.NOTHING:
            required.append(field.name)
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    if cls.__doc__:
        out["description"] = " ".join(cls.__doc__.split())
    return out


def _type_schema(kind: Any) -> dict[str, Any]:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, _UNION_TYPE):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        (inner,) = options
        return _type_schema(inner)  # optional: not in "required"; None is written as absent
    if origin is Literal:
        return {"type": "string", "enum": list(typing.get_args(kind))}
    if attrs.has(kind):
        return {"$ref": f"#/$defs/{kind.__name__}"}
    if origin is list:
        (item,) = typing.get_args(kind)
        return {"type": "array", "items": _type_schema(item)}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return {"type": simple[kind]}


def main() -> None:
    json.dump(schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
