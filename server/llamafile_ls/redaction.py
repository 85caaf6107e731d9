"""The one place that keeps secrets out of what llamafile-ls prints, logs and sends. Pure.

Every secret the process ever used (api keys, credential-bearing headers, user:password and
query tokens in URLs) is remembered for the life of the process, so a key that changed in the
config while a request was in flight is still scrubbed from that request's error. Besides
the exact value, the forms a secret takes in the wild are scrubbed too: trimmed of
whitespace, JSON- or URL-escaped, and cut (an error body clipped in the middle of a key
shows its start; a clipped message may show its end).
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

if TYPE_CHECKING:
    from llamafile_ls.config import Config, ModelConfig

MASK = "***"
# A piece of a cut secret must be at least this long to be recognised as one: shorter
# pieces say nothing about the key and would mask ordinary words.
_MIN_FRAGMENT = 4
# How many of the newest secrets get every form and cut pieces masked (a config rarely has
# more than a few keys; thousands would make each message cost thousands of checks).
_FULL = 256
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
    """Remembers secrets and masks them in text. Thread-safe; secrets are never forgotten.

    Linear in the text whatever the number of secrets: the exact forms are found by one
    compiled pattern, cut pieces by set lookups on each run of key characters. The newest
    ``_FULL`` secrets get every form; older ones (a config of thousands of keys) are still
    masked whole.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, bool] = {}  # secret → whether cut pieces of it are masked too
        self._whole: set[str] = set()  # every secret and its key-character forms
        self._pattern: re.Pattern[str] | None = None
        self._starts: set[str] = set()  # starts of secrets (≥ _MIN_FRAGMENT): a key cut at its end
        self._ends: set[str] = set()  # ends of secrets: a key cut at its start
        self._longest = 0
        self._stale = False

    def add(self, *values: str | None, fragments: bool = True) -> None:
        with self._lock:
            for value in values:
                if not value or value.strip().lower() in _PLACEHOLDERS:
                    continue
                for part in [*_parts(value), value.strip()]:
                    if part and part not in self._secrets:
                        self._secrets[part] = fragments
                        self._stale = True

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def _build(self) -> None:
        recent = list(self._secrets.items())[-_FULL:]
        forms: set[str] = set()
        starts: set[str] = set()
        ends: set[str] = set()
        for secret, fragments in recent:
            forms.update(_forms(secret))
            if fragments:
                starts.update(secret[:n] for n in range(_MIN_FRAGMENT, len(secret)))
                ends.update(secret[-n:] for n in range(_MIN_FRAGMENT, len(secret)))
        long_forms = sorted((form for form in forms if len(form) >= 3), key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, long_forms))) if long_forms else None
        self._whole = set(self._secrets) | {form for form in forms if _KEYISH.fullmatch(form)}
        self._starts, self._ends = starts, ends
        self._longest = max((len(secret) for secret, _ in recent), default=0)
        self._stale = False

    def redact(self, text: str) -> str:
        if not self._secrets or not text:
            return text
        if self._stale:
            with self._lock:
                if self._stale:
                    self._build()
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _KEYISH.sub(self._mask_run, text)

    def _mask_run(self, match: re.Match[str]) -> str:
        """A run of key characters that is a secret, or ends in the start of one (a key cut
        at its end, after ``api_key=`` say), or starts with the end of one."""
        run = match.group(0)
        if len(run) < _MIN_FRAGMENT:
            return run
        core = run.strip(".")
        if core in self._whole:
            return run.replace(core, MASK)
        limit = min(len(run), self._longest)
        for size in range(limit, _MIN_FRAGMENT - 1, -1):  # the longest piece first
            if run[-size:] in self._starts:
                return run[:-size] + MASK
            if run[:size] in self._ends:
                return MASK + run[size:]
        # A cut key shown with "..." after it: the dots are not part of the key.
        stripped = run.rstrip(".")
        if stripped != run and len(stripped) >= _MIN_FRAGMENT:
            for size in range(min(len(stripped), self._longest), _MIN_FRAGMENT - 1, -1):
                if stripped[-size:] in self._starts:
                    return stripped[:-size] + MASK + run[len(stripped) :]
        return run

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
    """The ways a secret shows up in text: as is, escaped for JSON, URLs, HTML, base64."""
    forms = {value}
    encoded = value.encode("utf-8", "surrogatepass")
    for b64 in (base64.b64encode(encoded), base64.urlsafe_b64encode(encoded)):
        text = b64.decode("ascii")
        forms.update({text, text.rstrip("=")})
    escaped = json.dumps(value)[1:-1]
    quoted = quote(value, safe="")
    forms.update({escaped, escaped.replace("/", "\\/"), quoted, quote(value), html.escape(value)})
    forms.add(re.sub("%[0-9A-F]{2}", lambda match: match.group(0).lower(), quoted))
    forms.add(repr(value)[1:-1])
    return [form for form in forms if form.strip()]


def _parts(value: str) -> list[str]:
    """The secret words of a value: ``"Bearer sk-1"`` → ``["sk-1"]``."""
    words = value.split()
    if len(words) <= 1:
        return [value.strip()] if value.strip() else []
    return [word for word in words if word.lower().rstrip(":") not in _SCHEMES]


def url_secrets(url: str | None) -> list[str]:
    """The password and query values of a URL (``http://u:p@h/?token=t`` → p, t), and the
    Basic credentials httpx sends for ``u:p`` (base64 of it). The user is :func:`url_user`."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        user, password = parts.username or "", parts.password or ""
        found = [password, *(value for _key, value in parse_qsl(parts.query, keep_blank_values=False))]
    except ValueError:
        return []
    if user or password:
        found.append(base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii"))
    return [item for item in found if item]


def url_user(url: str | None) -> str:
    """The user of a URL: masked where it appears whole, but its pieces are ordinary words."""
    try:
        return (urlsplit(url).username or "") if url else ""
    except ValueError:
        return ""


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


# The process's one redactor: every output path (CLI streams, LSP messages, JSON-RPC errors,
# logs) goes through it.
SECRETS = Redactor()


def remember_model(model: ModelConfig) -> None:
    SECRETS.add(*model_secrets(model))
    SECRETS.add(url_user(model.api_base), url_user(model.request_options.proxy), fragments=False)


def remember(config: Config) -> None:
    for model in config.models:
        remember_model(model)


def redact(text: str) -> str:
    return SECRETS.redact(text)
