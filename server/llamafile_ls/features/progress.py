"""Work-done progress for one request, with the client's cancel button wired to a task."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from llamafile_ls.server import LlamafileLanguageServer

_REPORT_EVERY = 0.1  # seconds: enough for a live counter, few enough messages


class RequestProgress:
    def __init__(self, server: LlamafileLanguageServer, token: types.ProgressToken | None, title: str) -> None:
        self.server = server
        self.token = token
        self.title = title
        self.cancelled_by_user = False
        self._target: asyncio.Task[object] | None = None  # what the cancel button cancels
        self._last_report = 0.0

    async def begin(self, message: str, on_cancel: asyncio.Task[object] | None = None) -> None:
        """Start the progress (creating a token if the client gave none and can show one)."""
        progress = self.server.work_done_progress
        if self.token is None:
            window = self.server.client_capabilities.window
            if not (window and window.work_done_progress):
                return
            token = f"llamafile-{uuid.uuid4()}"
            try:
                await progress.create_async(token)
            except Exception:  # the client refused; go on without progress
                return
            self.token = token
        progress.begin(self.token, types.WorkDoneProgressBegin(title=self.title, message=message, cancellable=True))
        if on_cancel is not None:
            self._target = on_cancel
            cancel = progress.tokens.get(self.token)
            if cancel is not None:
                cancel.add_done_callback(lambda future: self._cancel(future.cancelled()))

    def watch(self, task: asyncio.Task[object]) -> None:
        """From now on the cancel button cancels ``task``: the request's next step (applying
        the edit), so that a cancel while the editor holds the edit still withdraws it."""
        self._target = task
        cancel = self.server.work_done_progress.tokens.get(self.token) if self.token is not None else None
        if cancel is not None and cancel.cancelled():  # pressed between the two steps
            self._cancel(True)

    def _cancel(self, cancelled: bool) -> None:
        task = self._target
        if cancelled and task is not None and not task.done():
            self.cancelled_by_user = True
            task.cancel()

    def report(self, message: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.token is None or (not force and now - self._last_report < _REPORT_EVERY):
            return
        self._last_report = now
        self.server.work_done_progress.report(self.token, types.WorkDoneProgressReport(message=message))

    def end(self, message: str) -> None:
        if self.token is None:
            return
        self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        self.server.work_done_progress.tokens.pop(self.token, None)
