"""What a client's status bar gets: typed llamafile/status notifications (never text to
parse), and a failure reaches the user once — shown by the server, or, for a client that
says it shows results itself, only in the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.fakeserver import FakeModelServer
from support.lsp_editor import edit_args, execute, start, stop, wait_for
from support.ports import free_port

from tests.test_lsp import SOURCE, shouting, write_config


async def test_a_client_that_asks_gets_the_state_of_each_request_as_data(
    tmp_path: Path, fake_server: FakeModelServer
) -> None:
    fake_server.route("/completion", shouting(delay=0.05, pieces=4))
    client, editor = await start(write_config(tmp_path / "config.json", fake_server.url), status=True)
    seen: list[dict[str, Any]] = []

    def status(params: Any) -> None:
        seen.append(params if isinstance(params, dict) else params._asdict())  # pygls reads it as a namedtuple

    client.feature("llamafile/status")(status)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        assert await execute(client, "llamafile.edit", edit_args(uri, 1, 2), token="tok") == {"applied": True}
        await wait_for(lambda: any(s.get("state") == "done" for s in seen))
        states = [s["state"] for s in seen]
        assert states[0] == "waiting" and states[-1] == "done"
        assert "generating" in states and "applying" in states
        assert states.index("generating") < states.index("applying") < states.index("done")
        tokens = [s["tokens"] for s in seen if s["state"] == "generating"]
        assert tokens == sorted(tokens) and tokens[0] >= 1
        assert {s["request"] for s in seen} == {"tok"} and {s["model"] for s in seen} == {"fake"}
        assert seen[-1]["outcome"] == "applied"
    finally:
        await stop(client)


async def test_without_asking_a_client_gets_no_status_notifications(
    tmp_path: Path, fake_server: FakeModelServer
) -> None:
    fake_server.route("/completion", shouting())
    client, editor = await start(write_config(tmp_path / "config.json", fake_server.url))
    seen: list[Any] = []

    def status(params: Any) -> None:
        seen.append(params)

    client.feature("llamafile/status")(status)
    try:
        uri = editor.open(tmp_path / "a.py", SOURCE)
        assert await execute(client, "llamafile.edit", edit_args(uri, 1, 2)) == {"applied": True}
        assert seen == []
    finally:
        await stop(client)


async def test_a_failure_reaches_the_user_once(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    for shows_results in (False, True):
        client, editor = await start(write_config(tmp_path / "config.json", down), showsResults=shows_results)
        try:
            uri = editor.open(tmp_path / "a.py", SOURCE)
            result = await execute(client, "llamafile.edit", edit_args(uri, 1, 2))
            assert result["applied"] is False and "no model server answers" in result["reason"]
            shown = [m.message for m in client.messages if "no model server answers" in m.message]
            # The server shows it, unless the client said it shows answers itself.
            assert len(shown) == (0 if shows_results else 1)
        finally:
            await stop(client)
