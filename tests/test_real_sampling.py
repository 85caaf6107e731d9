"""An edit on Qwen2.5-Coder-0.5B-Instruct with the config's sampling left unset: the default
temperature of edits and the answer's budget sized to the selection land it."""

from __future__ import annotations

import json

import pytest

from llamafile_ls import textedit
from llamafile_ls.config import parse_config
from llamafile_ls.edit import EditRequest, run_edit
from llamafile_ls.providers import registry
from tests.conftest import RealServer

pytestmark = pytest.mark.real

SOURCE = "def add(a, b):\n    return a + b\n\n\nprint(add(2, 3))\n"


async def test_an_edit_on_qwen_with_the_default_temperature_lands(real_qwen_server: RealServer) -> None:
    text = json.dumps({"models": [{"title": "Qwen", "provider": "llama.cpp", "model": "qwen2.5-coder-0.5b-instruct",
                                   "apiBase": real_qwen_server.url, "contextLength": 4096,
                                   "completionOptions": {"seed": 1}}]})  # fmt: skip
    model = parse_config(text).models[0]
    assert model.completion_options.temperature is None and model.completion_options.max_tokens is None
    provider = registry.create(model)
    try:
        request = EditRequest(SOURCE, 0, 2, "rename the function to sum_two", "calc.py", "python")
        result = await run_edit(request, model, provider)
    finally:
        await provider.aclose()
    edited = textedit.apply_edits(SOURCE, result.edits)
    assert "def sum_two(a, b):" in edited and "return a + b" in edited
    assert edited.endswith("print(add(2, 3))\n")  # the lines outside the selection are untouched
