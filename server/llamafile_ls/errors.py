"""The errors llamafile-ls reports to a user: every one says what went wrong and what to do.

Each message is one line, fit for a CLI's stderr or an editor's notification.
"""

from __future__ import annotations


class LlamafileLsError(Exception):
    """Base of every error meant for the user; ``str(error)`` is the message."""


class ConfigError(LlamafileLsError):
    """The config file cannot be used. Carries where, so an editor can point at it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.reason = message
        self.file = file
        self.line = line  # 1-based, like an editor's status bar
        self.column = column  # 1-based
        where = ":".join(str(part) for part in (file, line, column) if part is not None)
        super().__init__(f"{where}: {message}" if where else message)


class TemplateError(LlamafileLsError):
    """A prompt template does not parse or uses a variable that does not exist."""


class ContextTooSmall(LlamafileLsError):
    """The prompt for the selection cannot fit the model's context window."""


class EditRejected(LlamafileLsError):
    """The model answered, but the answer cannot safely become an edit."""


class ProviderError(LlamafileLsError):
    """Talking to the model server failed."""


class LaunchFailed(ProviderError):
    """llamafile_command could not start a model server that answers."""


class ServerUnreachable(ProviderError):
    """Nothing answers at the model's api_base."""


class AuthenticationFailed(ProviderError):
    """The model server refused the api_key (HTTP 401/403)."""


class ModelServerError(ProviderError):
    """The model server answered with an error (an HTTP error or an error in the stream)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class StreamBroken(ProviderError):
    """The answer stream ended early or could not be parsed."""


class RequestTimedOut(ProviderError):
    """The model server did not answer within request_options.timeout."""
