"""The README's config for each kind of model server works as written: it loads without a
warning, and an edit through the real CLI lands when the server at its address answers the
way that kind of server does (its api_base pointed at a scripted one)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.hostile import END, Action, HostileServer, answer, chunk, head

from llamafile_ls import jsonc
from llamafile_ls.config import parse_config

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"<!-- server-config: (\S+) -->\n```jsonc\n(.*?)```", re.DOTALL)
CONFIGS = dict(_BLOCK.findall(README.read_text(encoding="utf-8")))
SOURCE = "def area(w, h):\n    return w*h\n"
NEW = "def area(w, h):\n    return w * h\n"


def openai_answer(*words: str) -> list[Action]:
    """A streamed chat answer as OpenAI-compatible servers send it."""
    events = [
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}],
        }
        for w in words
    ]
    events.append(
        {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    )
    return [head(), *(chunk(f"data: {json.dumps(e)}\n\n") for e in events), chunk("data: [DONE]\n\n"), END]


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer().start()
    yield server
    server.stop()


def test_the_readme_shows_a_config_for_every_kind_of_server() -> None:
    assert set(CONFIGS) == {"llamafile", "openai", "ollama", "lmstudio", "vllm", "gateway"}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_readme_config_loads_without_a_warning(name: str) -> None:
    config = parse_config(CONFIGS[name], "README.md")
    assert config.warnings == ()
    (model,) = config.models
    assert model.api_base.startswith(("http://", "https://"))
    if model.provider not in ("llamafile", "ollama"):
        assert model.api_base.endswith("/v1")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_readme_config_edits_through_its_kind_of_server(tmp_path: Path, hostile: HostileServer, name: str) -> None:
    data = jsonc.loads(CONFIGS[name])
    entry = data["models"][0]
    native = entry["provider"] == "llamafile"
    # The same config, its server moved to the scripted one (Ollama's base has no /v1).
    entry["apiBase"] = hostile.url if native or entry["provider"] == "ollama" else f"{hostile.url}/v1"
    words = ["```python\n", NEW, "```\n"]
    hostile.play("/completion", answer(*words))
    hostile.play("/v1/chat/completions", openai_answer(*words))
    ollama = [{"message": {"role": "assistant", "content": w}, "done": False} for w in words]
    ollama.append({"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"})
    hostile.play("/api/chat", [head(200, "application/x-ndjson"), *(chunk(json.dumps(x) + "\n") for x in ollama), END])
    config = tmp_path / "config.json"
    config.write_text(json.dumps(data))
    target = tmp_path / "area.py"
    target.write_text(SOURCE)
    result = subprocess.run(
        [sys.executable, "-m", "llamafile_ls", "edit", str(target), "--lines", "1-2", "-i", "spaces", "--write",
         "--config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert target.read_text() == NEW
    (request,) = hostile.seen
    expected_path = {"llamafile": "/completion", "ollama": "/api/chat"}.get(entry["provider"], "/v1/chat/completions")
    assert request.path == expected_path
    if native:
        assert "spaces" in request.body["prompt"]
    else:
        assert [m["role"] for m in request.body["messages"]] == ["system", "user"]
        assert request.body["model"] == entry["model"]
        if entry["provider"] == "ollama":
            assert request.body["options"]["num_ctx"] == 2048  # the context it is asked to give
    if "apiKey" in entry:
        assert request.headers["authorization"] == f"Bearer {entry['apiKey']}"
    else:
        assert "authorization" not in request.headers
