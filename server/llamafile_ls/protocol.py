"""The JSON-RPC edge: how llamafile-ls reads and answers messages, where pygls' defaults would
hang a client or show it a traceback. Thin; knows nothing of features.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol.language_server import lsp_method

from llamafile_ls.document import DocumentsProtocol
from llamafile_ls.redaction import SECRETS

logger = logging.getLogger(__name__)

# What the server says to the user: scrubbed of secrets on the way out. Other messages carry
# the user's own text (edits, documents) and are sent as they are.
_MESSAGES = frozenset(
    {
        types.WINDOW_LOG_MESSAGE,
        types.WINDOW_SHOW_MESSAGE,
        types.WINDOW_SHOW_MESSAGE_REQUEST,
        types.PROGRESS,
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
        "llamafile/status",
    }
)
INTERNAL_ERROR = -32603

# The client's progress token for the command being run (each request runs in its own task).
work_done_token: contextvars.ContextVar[types.ProgressToken | None] = contextvars.ContextVar(
    "work_done_token", default=None
)


class LlamafileProtocol(DocumentsProtocol):  # documents split and addressed as LSP says
    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Any:  # type: ignore[override]
        """Run a command as the request's own task.

        pygls runs command handlers as a separate task that ``$/cancelRequest`` does not
        reach: the request is answered "cancelled" while the handler goes on (and would
        still apply its edit). Awaiting the handler here makes a cancel cancel it.
        """
        handler = self.fm.commands.get(params.command)
        if handler is None:
            raise JsonRpcInvalidParams.of(ValueError(f"unknown command {params.command!r}"))
        work_done_token.set(params.work_done_token)
        return await handler(*(params.arguments or []))

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any, args: Any = None, kwargs: Any = None) -> None:
        """pygls files the future of every handler it runs under its message id, and only a
        request's answer takes it out again: a notification's (didOpen, didChange, didClose,
        under a made-up id) stayed for good, about 1 KB for each. Out once done, whatever ran."""
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def forget(done: Any) -> None:
            # On the loop, after this callback: it may run in a worker thread, or while pygls
            # walks the futures to cancel them at shutdown.
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is kept anyway
                loop.call_soon_threadsafe(self._forget_future, msg_id, done)

        future.add_done_callback(forget)

    def _forget_future(self, msg_id: Any, future: Any) -> None:
        if self._request_futures.get(msg_id) is future:  # not a later request that reused the id
            del self._request_futures[msg_id]

    def structure_message(self, data: dict[str, Any]) -> Any:
        """A request whose params do not parse is answered InvalidParams; pygls only logged
        it, and the client waited for an answer for ever."""
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if isinstance(data, dict) and "id" in data and "method" in data:
                reason = f"the params of {data['method']!r} are not as the protocol defines them"
                self._send_response(data["id"], error=types.ResponseError(code=error.code, message=reason))
                return _Answered()
            raise

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Answered):
            return
        method = getattr(message, "method", None)
        if method == types.INITIALIZE:
            self._initialize_seen = True
        elif not getattr(self, "_initialize_seen", False) and method not in (None, types.EXIT):
            # The spec: before initialize a request is answered ServerNotInitialized, and a
            # notification dropped (a command would run on a config never read).
            if hasattr(message, "id"):
                error = types.ResponseError(code=types.ErrorCodes.ServerNotInitialized, message="send initialize first")
                self._send_response(message.id, error=error)
            return
        if self._shutdown and method is not None and method != types.EXIT and hasattr(message, "id"):
            # The spec: after shutdown a request is answered InvalidRequest, not left hanging.
            error = types.ResponseError(code=types.ErrorCodes.InvalidRequest, message="the server is shutting down")
            self._send_response(message.id, error=error)
            return
        super().handle_message(message)

    def notify(self, method: str, params: Any | None = None) -> None:
        """Every message to the user passes the redactor here, whatever sent it."""
        if method in _MESSAGES and params is not None and SECRETS:
            try:
                kind = type(params)
                params = SECRETS.redact_value(self._converter.unstructure(params))
                if kind is not dict:
                    params = self._converter.structure(params, kind)
            except Exception:  # a message that cannot be checked is not sent
                logger.exception("could not check a %s message for secrets; it was dropped", method)
                return
        super().notify(method, params)

    def _send_response(self, msg_id: Any, result: Any | None = None, error: Any | None = None) -> None:
        """Errors leave as one redacted line; a traceback goes to the log, never to the client."""
        if isinstance(error, types.ResponseError):
            message = SECRETS.redact(" ".join(str(error.message).split()))
            if error.code == INTERNAL_ERROR:
                if error.data is not None:
                    trace = "".join(error.data.get("traceback", [])) if isinstance(error.data, dict) else error.data
                    logger.error("internal error answering request %s: %s\n%s", msg_id, message, trace)
                message = f"llamafile-ls internal error ({message}); details in the server's log"
            error = types.ResponseError(code=error.code, message=message)
        super()._send_response(msg_id, result, error)


class _Answered:
    """A message already answered while it was read (its params did not parse)."""
