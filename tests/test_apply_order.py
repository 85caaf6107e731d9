"""Edits of one document are applied one at a time, and nothing is kept once they are done."""

from __future__ import annotations

import asyncio

from llamafile_ls.lsp import apply as edit_command


async def test_edits_of_one_document_take_turns_and_leave_no_lock_behind() -> None:
    inside: list[str] = []
    overlaps = 0

    async def apply(uri: str, name: str) -> None:
        nonlocal overlaps
        async with edit_command._one_at_a_time(uri):
            overlaps += any(other.startswith(uri) for other in inside)
            inside.append(f"{uri}:{name}")
            await asyncio.sleep(0.01)
            inside.remove(f"{uri}:{name}")

    await asyncio.gather(*(apply(f"file:///doc{i % 3}.py", str(i)) for i in range(30)))
    assert overlaps == 0
    assert edit_command._apply_locks == {}


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    uri = "file:///a.py"
    release = asyncio.Event()

    async def holder() -> None:
        async with edit_command._one_at_a_time(uri):
            await release.wait()

    async def waiter() -> None:
        async with edit_command._one_at_a_time(uri):
            pass

    first = asyncio.ensure_future(holder())
    await asyncio.sleep(0)
    second = asyncio.ensure_future(waiter())
    await asyncio.sleep(0.01)
    second.cancel()
    release.set()
    await first
    await asyncio.gather(second, return_exceptions=True)
    assert edit_command._apply_locks == {}
