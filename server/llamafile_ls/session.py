"""The language server's core: what one editor session has — the config, the model each
request goes to, the providers, the launcher, the secrets — and the LSP lifecycle.

pygls allows one handler per LSP method, so the core owns initialize, the document
notifications, watched files and shutdown, and hands each event to the features that
subscribed to it (esbonio's pattern). A feature is one module under
:mod:`llamafile_ls.features`; features never import each other, only this core.
"""

from __future__ import annotations

import asyncio
import enum
import importlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer

from llamafile_ls import __version__, contract
from llamafile_ls.config import Config, ModelConfig, default_config
from llamafile_ls.config_file import ENV_VAR
from llamafile_ls.config_store import ConfigState, ConfigStore
from llamafile_ls.contract import Role
from llamafile_ls.errors import ConfigError
from llamafile_ls.launcher import Launcher, StatusCallback
from llamafile_ls.protocol import INTERNAL_ERROR, LlamafileProtocol
from llamafile_ls.provider_pool import ProviderPool
from llamafile_ls.providers.base import Provider
from llamafile_ls.redaction import SECRETS, remember

logger = logging.getLogger(__name__)
_WATCHER_ID = "llamafile-ls-config-watcher"


class Event(enum.Enum):
    """What features can subscribe to; each handler gets the event's one argument."""

    INITIALIZED = "initialized"  # None
    CONFIG = "config"  # ConfigState: the config was (re)loaded, or a reload failed
    OPENED = "opened"  # str: the uri of a document the editor opened
    CHANGED = "changed"  # str: a uri whose text changed
    SAVED = "saved"  # str
    CLOSED = "closed"  # str


Handler = Callable[[Any], None]


class Session(LanguageServer):
    def __init__(self, config_path: str | None = None) -> None:
        super().__init__("llamafile-ls", __version__, protocol_cls=LlamafileProtocol)
        self.configs = ConfigStore(config_path)
        self.providers = ProviderPool()
        self.launcher = Launcher(die_with_parent=True)  # what it starts ends with the session
        self.selected_model: str | None = None  # a title for every role but autocomplete; None: the config's
        self.selected_roles: dict[Role, str] = {}  # a title chosen for one role (llamafile.selectModel's role)
        self.options = contract.InitializationOptions()
        self._config_state: ConfigState | None = None  # loaded at initialize, reported at initialized
        self._subscribers: dict[Event, list[Handler]] = {event: [] for event in Event}
        self._reporting = False  # reporting an error, which must not report errors of its own
        self._lifecycle()

    # --- events -----------------------------------------------------------------------------------

    def subscribe(self, event: Event, handler: Handler) -> None:
        self._subscribers[event].append(handler)

    def _emit(self, event: Event, argument: Any) -> None:
        for handler in self._subscribers[event]:
            handler(argument)

    # --- services for features --------------------------------------------------------------------

    def config(self) -> Config:
        """The config in force, after a cheap check that the file has not changed."""
        state = self.configs.refresh()
        if state.changed:
            self._loaded(state)
        return state.config

    def model(self, title: str | None = None, role: Role = "edit") -> ModelConfig:
        """The model a request names, else the one selected for its role, else the one
        selected, else the config's model for the role (its first model when it gives none)."""
        config = self.config()
        if title:
            return config.model(title)
        chosen = self._selected(config, role)
        if chosen is not None:
            return chosen
        found = config.model_for(role)
        return found if found is not None else config.model()

    def autocomplete_model(self) -> ModelConfig | None:
        """The model for inline completion: selected for it, else the config's (a
        tabAutocompleteModel, or a model with the role); None when there is none."""
        config = self.config()
        return self._selected(config, "autocomplete") or config.model_for("autocomplete")

    def _selected(self, config: Config, role: Role) -> ModelConfig | None:
        """The model selected for ``role`` (a selection without a role is not for autocomplete)."""
        title = self.selected_roles.get(role)
        if title is None and role != "autocomplete":
            title = self.selected_model
        if title is None:
            return None
        try:
            return config.model(title)
        except ConfigError:
            self.log(f"the model {title!r} selected for {role} is gone from the config; the config's is used")
            self.selected_roles.pop(role, None)
            if title == self.selected_model:
                self.selected_model = None
            return None

    def select(self, title: str, role: Role | None = None) -> None:
        """Send later requests of ``role`` (every role but autocomplete when None) to ``title``."""
        if role is None:
            self.selected_model = title
            self.selected_roles = {r: t for r, t in self.selected_roles.items() if r == "autocomplete"}
        else:
            self.selected_roles[role] = title

    async def ensure_model_server(self, model: ModelConfig, provider: Provider, on_status: StatusCallback) -> None:
        """Start ``llamafile_command`` when nothing answers — if the user's own config says so."""
        if not model.llamafile_command or not self.may_launch(model):
            return
        launched = await self.launcher.ensure_running(model, provider, on_status)
        if launched is not None:
            pid = launched.process.pid
            self.log(f"started {launched.command[0]} (pid {pid}) for {model.title!r}; log: {launched.log}")

    def may_launch(self, model: ModelConfig) -> bool:
        """A command runs only from the user's own config: not from a file in an opened folder
        that the client named (a workspace could point its settings at a file of its own).
        When the client names no folder at all, only the user's own config locations may."""
        if not model.llamafile_command or not self.configs.from_client:
            return True
        from pygls.uris import to_fs_path

        config = self.configs.path.resolve()
        roots = [folder.uri for folder in self.workspace.folders.values()]
        if self.workspace.root_uri:
            roots.append(self.workspace.root_uri)
        paths = [Path(root).resolve() for root in (to_fs_path(uri) for uri in roots) if root]
        inside = next((root for root in paths if config.is_relative_to(root)), None)
        if inside is not None:
            reason = f"the config {config} lies in the workspace {inside}"
        elif not paths and not any(config.is_relative_to(own) for own in own_config_locations()):
            reason = (
                f"the editor named no workspace folder, so the config {config} may belong to a project; put it in "
                f"{own_config_locations()[0]} or name it in ${ENV_VAR} to let it start servers"
            )
        else:
            return True
        self.log(
            f"llamafile_command of model {model.title!r} is ignored: {reason}, and commands run only from your own "
            "config",
            types.MessageType.Warning,
        )
        return False

    def redact(self, text: str) -> str:
        return SECRETS.redact(text)

    def log(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))  # redacted in notify

    def show(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"llamafile: {message}"))
        self.log(message, kind)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """An error in a notification handler (a request's is in its response): one line to
        the user, the traceback (redacted, by the log's formatter) to the log. An error in
        sending is only logged: reporting it would send again, and fail again."""
        from pygls.exceptions import FeatureNotificationError

        if isinstance(error, JsonRpcException) and error.code != INTERNAL_ERROR:
            logger.info("answered an error: %s", error)  # the client's mistake, told in the answer
            return
        logger.error("internal error: %s", error, exc_info=error)
        if source is not FeatureNotificationError or self._reporting:
            return
        self._reporting = True
        try:
            summary = " ".join(str(error).split())[:200]
            self.show(f"internal error ({type(error).__name__}: {summary}); details in the server's log")
        finally:
            self._reporting = False

    def shutdown(self) -> None:
        """Also on an exit without ``shutdown`` (the editor crashed): stop what we started."""
        self.launcher.kill_all_now()
        super().shutdown()  # type: ignore[no-untyped-call]

    # --- the lifecycle ------------------------------------------------------------------------------

    def _loaded(self, state: ConfigState) -> None:
        remember(state.config)  # before anything about it is said
        self.providers.keep_only({model.title for model in state.config.models})
        self._emit(Event.CONFIG, state)

    def _lifecycle(self) -> None:
        @self.feature(types.INITIALIZE)
        def on_initialize(ls: Session, params: types.InitializeParams) -> None:
            ls.options = _initialization_options(ls, params.initialization_options)
            if ls.options.model:
                ls.selected_model = ls.options.model
            folders = params.workspace_folders or []
            root = params.root_uri or params.root_path or (folders[0].uri if folders else None)
            try:  # a relative configPath is relative to the workspace root
                ls._config_state = ls.configs.configure(ls.options.configPath, root)
            except Exception as error:  # never fail initialize: the editor could not start the server
                logger.error("could not load the config: %s", error, exc_info=error)
                failed = ConfigError(f"the config could not be loaded: {error}")
                ls._config_state = ConfigState(default_config(), failed, True)

        @self.feature(types.INITIALIZED)
        async def on_initialized(ls: Session, _params: types.InitializedParams) -> None:
            if ls._config_state is not None:
                ls._loaded(ls._config_state)
            workspace = ls.client_capabilities.workspace
            if not (workspace and workspace.workspace_edit and workspace.workspace_edit.document_changes):
                ls.log(
                    "this editor takes no versioned edits (workspace.workspaceEdit.documentChanges): an edit "
                    "cannot be checked against what was typed in the last moments before it arrives",
                    types.MessageType.Warning,
                )
            ls._emit(Event.INITIALIZED, None)
            await ls._watch_config_file()
            # Load the HTTP stack now, off the event loop, so the first edit does not wait for it.
            await asyncio.to_thread(importlib.import_module, "llamafile_ls.providers.http")

        @self.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
        def on_watched_files(ls: Session, params: types.DidChangeWatchedFilesParams) -> None:
            if any(ls.is_config_uri(change.uri) for change in params.changes):
                ls.config()

        @self.feature(types.TEXT_DOCUMENT_DID_OPEN)
        def on_open(ls: Session, params: types.DidOpenTextDocumentParams) -> None:
            ls._emit(Event.OPENED, params.text_document.uri)

        @self.feature(types.TEXT_DOCUMENT_DID_CHANGE)
        def on_change(ls: Session, params: types.DidChangeTextDocumentParams) -> None:
            ls._emit(Event.CHANGED, params.text_document.uri)

        @self.feature(types.TEXT_DOCUMENT_DID_SAVE)
        def on_save(ls: Session, params: types.DidSaveTextDocumentParams) -> None:
            if ls.is_config_uri(params.text_document.uri):
                ls.config()
            ls._emit(Event.SAVED, params.text_document.uri)

        @self.feature(types.TEXT_DOCUMENT_DID_CLOSE)
        def on_close(ls: Session, params: types.DidCloseTextDocumentParams) -> None:
            ls._emit(Event.CLOSED, params.text_document.uri)

        @self.feature(types.SHUTDOWN)
        async def on_shutdown(ls: Session, *_args: object) -> None:
            await ls.launcher.stop_all()
            await ls.providers.aclose()

    def is_config_uri(self, uri: str) -> bool:
        from pygls.uris import to_fs_path

        path = to_fs_path(uri)
        return path is not None and self.configs.is_config_file(path)

    async def _watch_config_file(self) -> None:
        """Ask the client to watch the config file, where it can; else each request stats it."""
        workspace = self.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace else None
        if not (watched and watched.dynamic_registration):
            return
        watchers: list[types.FileSystemWatcher] = []
        for path in self.configs.watched_paths():  # config.yaml and config.json when none was named
            pattern: types.GlobPattern = str(path)
            if watched.relative_pattern_support:
                pattern = types.RelativePattern(base_uri=path.parent.as_uri(), pattern=path.name)
            watchers.append(types.FileSystemWatcher(glob_pattern=pattern))
        options = types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers)
        path = self.configs.path
        registration = types.Registration(
            id=_WATCHER_ID, method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
        )
        try:
            await self.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
        except Exception as error:  # the stat before each request still catches changes
            self.log(f"the editor cannot watch {path} ({error}); it is checked before each request")


def own_config_locations() -> list[Path]:
    """Where a user's own configuration lives (never inside a project they open)."""
    home = Path.home()
    places = [home / ".continue", Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")]
    configured = os.environ.get(ENV_VAR)
    if configured:
        places.append(Path(configured).expanduser())
    return [place.resolve() for place in places]


def _initialization_options(session: Session, raw: Any) -> contract.InitializationOptions:
    """The client's options, each checked on its own: a wrong one is named (once, as a
    warning) and ignored; the others still count."""

    def ignored(name: str, value: Any, wanted: str) -> None:  # said, not silently dropped
        shown = json.dumps(value, default=str)
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        session.show(f"{name} must be {wanted}, not {shown}; it is ignored", types.MessageType.Warning)

    if raw is not None and not isinstance(raw, dict):
        ignored("initializationOptions", raw, "an object")
    options: dict[str, Any] = raw if isinstance(raw, dict) else {}
    good: dict[str, Any] = {}
    config_path = options.get("configPath")
    if isinstance(config_path, str) and config_path:
        good["configPath"] = config_path
    elif config_path is not None and not isinstance(config_path, str):
        ignored("initializationOptions.configPath", config_path, "a path (a string)")
    model = options.get("model")
    if isinstance(model, str) and model:
        good["model"] = model
    elif model is not None and not isinstance(model, str):
        ignored("initializationOptions.model", model, "a model title (a string)")
    timeout = options.get("applyEditTimeout")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 < timeout < 1e6:
        good["applyEditTimeout"] = float(timeout)
    elif timeout is not None:
        ignored("initializationOptions.applyEditTimeout", timeout, "a number of seconds above 0")
    for flag in ("showsResults", "status"):
        value = options.get(flag)
        if isinstance(value, bool):
            good[flag] = value
        elif value is not None:
            ignored(f"initializationOptions.{flag}", value, "true or false")
    return contract.InitializationOptions(**good)
