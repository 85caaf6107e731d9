"""The one place that keeps secrets out of what llamafile-ls prints, logs and sends. Pure.

Every secret the process ever used (api keys, credential-bearing headers, user:password and
query tokens in URLs) is remembered for the life of the process, so a key that changed in the
config while a request was in flight is still scrubbed from that request's error. Besides
the exact value, the forms a secret takes in the wild are scrubbed too: trimmed of
whitespace, JSON- or URL-escaped, and cut (an error body clipped in the middle of a key
shows its start; a clipped message may show its end).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

if TYPE_CHECKING:
    from llamafile_ls.config import Config, ModelConfig

MASK = "***"
# A piece of a cut secret must be at least this long to be recognised as one: shorter
# pieces say nothing about the key and would mask ordinary words.
_MIN_FRAGMENT = 4
# Runs of the characters keys are made of; a clipped key is such a run in a message.
_KEYISH = re.compile(r"[A-Za-z0-9_\-+/=~.%]+")
# Words of an Authorization header that are not secret.
_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "apikey", "key"})
# Keys that local servers ask for only as a formality (Ollama, LM Studio, vLLM's examples):
# masking them would only garble messages that name the provider.
_PLACEHOLDERS = frozenset(
    {"ollama", "lm-studio", "lmstudio", "empty", "none", "null", "dummy", "sk-no-key-required", "no-key", "not-needed"}
)
# Header names whose values are credentials.
_SECRET_HEADER = re.compile(r"auth|key|token|secret|cookie|session|password|credential", re.IGNORECASE)


class Redactor:
    """Remembers secrets and masks them in text. Thread-safe; secrets are never forgotten."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exact: list[str] = []  # longest first, so a longer form is masked whole
        self._whole: set[str] = set()  # the secrets themselves, for fragment matching

    def add(self, *values: str | None) -> None:
        with self._lock:
            for value in values:
                if not value or value.strip().lower() in _PLACEHOLDERS:
                    continue
                for form in _forms(value):
                    if form not in self._exact:
                        self._exact.append(form)
                for part in _parts(value):
                    self._whole.add(part)
            self._exact.sort(key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._exact)

    def redact(self, text: str) -> str:
        if not self._exact or not text:
            return text
        exact, whole = self._exact, self._whole
        for form in exact:
            if len(form) >= 3:
                text = text.replace(form, MASK)
        return _KEYISH.sub(lambda match: _mask_fragment(match.group(0), whole), text)

    def redact_value(self, value: Any) -> Any:
        """Every string in a JSON-like value (dicts, lists), masked."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(item) for item in value]
        return value


def _forms(value: str) -> Iterable[str]:
    """The ways a secret shows up in text: as is, trimmed, escaped, and its parts."""
    forms = {value, value.strip()}
    for part in _parts(value):
        forms.add(part)
    for form in list(forms):
        escaped = json.dumps(form)[1:-1]
        forms.update({escaped, escaped.replace("/", "\\/"), quote(form, safe=""), quote(form)})
        forms.add(repr(form)[1:-1])
    return [form for form in forms if form.strip()]


def _parts(value: str) -> list[str]:
    """The secret words of a value: ``"Bearer sk-1"`` → ``["sk-1"]``."""
    words = value.split()
    if len(words) <= 1:
        return [value.strip()] if value.strip() else []
    return [word for word in words if word.lower().rstrip(":") not in _SCHEMES]


def _mask_fragment(run: str, secrets: set[str]) -> str:
    """Mask a run of key characters that is the start or the end of a secret (a cut key)."""
    core = run.strip(".")
    if len(core) < _MIN_FRAGMENT:
        return run
    for secret in secrets:
        if core != secret and len(core) < len(secret) and (secret.startswith(core) or secret.endswith(core)):
            lead = run[: len(run) - len(run.lstrip("."))]
            trail = run[len(lead) + len(core) :]
            return f"{lead}{MASK}{trail}"
    return run


def url_secrets(url: str | None) -> list[str]:
    """The user, password and query values of a URL: ``http://u:p@h/?token=t`` → u, p, t."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        found = [parts.password or "", parts.username or ""]
        found += [value for _key, value in parse_qsl(parts.query, keep_blank_values=False)]
    except ValueError:
        return []
    return [item for item in found if item]


def public_url(url: str) -> str:
    """A URL fit for a message: no user, password, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "(an invalid URL)"
    if ":" in host:
        host = f"[{host}]"
    if not parts.scheme:
        return MASK if "@" in url or "?" in url else url
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


def model_secrets(model: ModelConfig) -> list[str]:
    found: list[str] = []
    if model.api_key:
        found.append(model.api_key)
    for name, value in model.request_options.headers.items():
        if _SECRET_HEADER.search(name):
            found.append(value)
    found += url_secrets(model.api_base)
    found += url_secrets(model.request_options.proxy)
    return found


def config_secrets(config: Config) -> list[str]:
    return [secret for model in config.models for secret in model_secrets(model)]


# The process's one redactor: every output path (CLI streams, LSP messages, JSON-RPC errors,
# logs) goes through it.
SECRETS = Redactor()


def remember(config: Config) -> None:
    SECRETS.add(*config_secrets(config))


def redact(text: str) -> str:
    return SECRETS.redact(text)
