"""What one request is doing, told to the editor twice over: work-done progress (a title,
a message, a cancel button: every editor shows it) and, for clients that ask for it, a
typed ``llamafile/status`` notification (the state and token count as data, for a status
bar that must not parse messages)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

from llamafile_ls import contract

if TYPE_CHECKING:
    from llamafile_ls.session import Session

_REPORT_EVERY = 0.1  # seconds: enough for a live counter, few enough messages


class RequestProgress:
    def __init__(self, server: Session, token: types.ProgressToken | None, model: str) -> None:
        self.server = server
        self.token = token
        self.model = model
        self.title = f"llamafile: {model}"
        self.cancelled_by_user = False
        self._request = str(token) if token is not None else f"llamafile-{uuid.uuid4()}"
        self._target: asyncio.Task[object] | None = None  # what the cancel button cancels
        self._last_report = 0.0
        self._status("waiting")

    async def begin(self, message: str, on_cancel: asyncio.Task[object] | None = None) -> None:
        """Start the progress (creating a token if the client gave none and can show one)."""
        progress = self.server.work_done_progress
        if self.token is None:
            window = self.server.client_capabilities.window
            if not (window and window.work_done_progress):
                return
            token = self._request
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

    # --- what the request is doing ----------------------------------------------------------------

    def starting(self, detail: str) -> None:
        """The model server is being started (llamafile_command)."""
        self._report(f"Starting llamafile… {detail}", force=True)
        self._status("starting", detail=detail)

    def tokens(self, count: int) -> None:
        """``count`` tokens of the answer have come."""
        if self._report(f"{count} token{'s' if count != 1 else ''}"):
            self._status("generating", tokens=count)

    def applying(self, message: str | None = None) -> None:
        if message:
            self._report(message, force=True)
        self._status("applying", detail=message)

    def end(self, outcome: str) -> None:
        self._status("done", outcome=outcome)
        if self.token is None:
            return
        self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=outcome))
        self.server.work_done_progress.tokens.pop(self.token, None)

    def _report(self, message: str, *, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self._last_report < _REPORT_EVERY:
            return False
        self._last_report = now
        if self.token is not None:
            self.server.work_done_progress.report(self.token, types.WorkDoneProgressReport(message=message))
        return True

    def _status(self, state: contract.State, **fields: object) -> None:
        if not self.server.options.status:
            return
        status = contract.Status(request=self._request, state=state, model=self.model, **fields)  # type: ignore[arg-type]
        self.server.protocol.notify(contract.STATUS, contract.write(status))
