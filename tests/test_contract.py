"""The contract with the clients: the schema the extension's types are generated from is the
one the server's classes give, and arguments are read strictly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llamafile_ls import contract

SCHEMA = Path(__file__).resolve().parent.parent / "client-vscode" / "schemas" / "contract.schema.json"


def test_the_committed_schema_is_the_generated_one() -> None:
    """Regenerate with: python -m llamafile_ls.contract > client-vscode/schemas/contract.schema.json"""
    assert json.loads(SCHEMA.read_text()) == contract.schema()


def test_every_command_and_the_status_notification_are_described() -> None:
    schema = contract.schema()
    assert set(schema["commands"]) == {contract.EDIT, contract.RUN_COMMAND, contract.LIST_MODELS, contract.SELECT_MODEL}
    status = schema["$defs"]["Status"]
    assert status["properties"]["state"]["enum"] == ["waiting", "starting", "generating", "applying", "done"]
    assert set(status["required"]) == {"request", "state", "model"}
    assert schema["$defs"]["EditArguments"]["required"] == ["uri", "range"]


def test_arguments_are_read_strictly_and_the_wrong_one_is_named() -> None:
    good = {"uri": "file:///a.py", "range": {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}}
    read = contract.read(contract.EditArguments, {**good, "instruction": "x"}, "llamafile.edit")
    assert read.range.end.line == 2 and read.instruction == "x" and read.preview is False
    cases = [
        ({**good, "preview": "yes"}, "llamafile.edit: preview: expected true or false, got a string"),
        ({**good, "range": {"start": {"line": -1, "character": 0}, "end": {"line": 0, "character": 0}}},
         "llamafile.edit: range: start: line: expected a non-negative integer, got a number"),
        ({"range": good["range"]}, "llamafile.edit: 'uri' is missing"),
        ([good], "llamafile.edit takes one object, got a list"),
    ]  # fmt: skip
    for value, message in cases:
        with pytest.raises(contract.ContractError) as caught:
            contract.read(contract.EditArguments, value, "llamafile.edit")
        assert str(caught.value) == message


def test_written_results_leave_out_what_is_not_set() -> None:
    assert contract.write(contract.CommandResult(applied=True)) == {"applied": True}
    assert contract.write(contract.CommandResult(applied=False, reason="r", uri="u")) == {
        "applied": False, "reason": "r", "uri": "u"
    }  # fmt: skip
