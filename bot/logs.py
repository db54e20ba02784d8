"""Structured logging, and the one redaction every outward text passes through.

    configure(level="INFO", json_lines=True, secrets=secret_values(settings))
    log = logging.getLogger(__name__)
    with bind(delivery_id="github-…", source="github"):
        log.info("delivery accepted", extra={"events": 2})

Bound fields (``delivery_id``, ``source``, ``repo``, ``group``, ``job_id``, …) ride a context
variable, so they follow the work through helpers without being passed around.

``redact(text)`` is the one redaction: the log handler of the web and worker processes applies it
to every record (message, extra fields, traceback), and the shell applies it to every error it
stores in Redis, every PR comment and every status-page field. It

- masks every secret the process registered (``add_secrets``: the settings' secret values, the
  secrets the routing config references, ``push_remote`` credentials, each line of a PEM key);
- masks anything shaped like a credential whether registered or not: GitHub and GitLab tokens,
  JWTs (App JWTs, OIDC tokens), AWS access key ids, PEM private keys, ``Bearer``/``Basic``/``token``
  credentials, ``token=``/``secret=``/``password=`` pairs, Docker ``config.json`` ``auth`` and
  ``identitytoken`` values;
- reduces a URL carrying credentials to its scheme, host and path (user-info, query and fragment
  dropped: ``https://user:tok@git.example.com/a.git?x=1`` → ``https://git.example.com/a.git``);
- makes registered server directories (``add_paths``: local forge roots, the config's directory,
  the temporary directory) relative, so messages show repository paths, not the server's layout.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

REDACTED = "[redacted]"
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({})
)
_GITLAB_TOKEN_KINDS = "glpat|gldt|glrt|glrtr|glcbt|glptt|glft|glimt|glagent|glsoat|gloas|glffct|glwt"
_TOKEN_PATTERNS = [
    re.compile(
        rf"\b(?:gh[pousr]_[A-Za-z0-9]{{20,}}|github_pat_[A-Za-z0-9_]{{20,}}|(?:{_GITLAB_TOKEN_KINDS})-[A-Za-z0-9_.-]{{16,}})"
    ),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # a JWT
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # an AWS access key id (ECR credentials)
    re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)\b((?:access_|private_|refresh_|id_|identity|registry)?token|secret|client_secret|password|"
        r"passwd|api_key|apikey)([\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;]+"
    ),
    re.compile(r'(?i)("auth"\s*:\s*")[^"]*(?=")'),  # Docker config.json: base64 of user:password
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"),
]
#: a superset of what the patterns above can match, to skip them on ordinary strings
_MAYBE_TOKEN = re.compile(
    rf"gh[pousr]_|github_pat_|(?:{_GITLAB_TOKEN_KINDS})-|eyJ|AKIA|ASIA|"
    r"(?i:bearer|basic|token|secret|passw|api_?key|\"auth\")|PRIVATE KEY"
)
#: a URL with user-info: everything but scheme, host and path goes
_CREDENTIAL_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"<>]+@(?P<where>[^\s?#'\"<>]*)(?:[?#][^\s'\"<>]*)?"
)
#: record attributes every LogRecord has; anything else came from ``extra=`` and is emitted
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
#: a registered secret shorter than this is not masked (it would mask ordinary words)
_MIN_SECRET = 6


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log record emitted inside the block (nesting merges)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class RedactFilter(logging.Filter):
    """Masks secrets in the message and in every extra field of a record (see the module doc)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._literals: list[str] = []
        self._paths: list[str] = []
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        # longest first, so a secret containing another is masked whole; skip trivially short ones
        merged = set(self._literals) | {p for s in secrets for p in _secret_parts(s) if len(p) >= _MIN_SECRET}
        self._literals = sorted(merged, key=len, reverse=True)

    def add_paths(self, paths: Iterable[str]) -> None:
        """Directories to make relative in every text: ``/srv/git/acme/deploy`` → ``acme/deploy``."""
        merged = set(self._paths) | {p.rstrip("/") + "/" for p in paths if p and p.strip("/")}
        self._paths = sorted(merged, key=len, reverse=True)

    def redact(self, value: str) -> str:
        for secret in self._literals:
            if secret in value:
                value = value.replace(secret, REDACTED)
        if "@" in value:
            value = _CREDENTIAL_URL.sub(r"\g<scheme>\g<where>", value)
        if _MAYBE_TOKEN.search(value):  # one cheap scan; the precise patterns only when needed
            for pattern in _TOKEN_PATTERNS:
                value = pattern.sub(_mask, value)
        for path in self._paths:
            if path in value:
                value = value.replace(path, "")
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = self.redact(message), None
        for name in record.__dict__.keys() - _STANDARD:
            value = record.__dict__[name]
            if isinstance(value, str):
                record.__dict__[name] = self.redact(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def _secret_parts(secret: str) -> list[str]:
    """A secret and the pieces of it that may show up alone: each line of a PEM key's body."""
    parts = [secret.strip()]
    if "PRIVATE KEY-----" in secret:
        lines = (line.strip() for line in secret.splitlines() if "-----" not in line)
        parts += [line for line in lines if len(line) >= 16]
    return parts


def _mask(match: re.Match[str]) -> str:
    groups = match.groups()
    if len(groups) == 2 and groups[1] is not None and groups[1].strip(" \"'") in ("=", ":"):
        return f"{groups[0]}{groups[1]}{REDACTED}"  # key=value: keep the key
    if len(groups) == 1 and groups[0] is not None and groups[0].startswith('"'):
        return f"{groups[0]}{REDACTED}"  # "auth": "…"
    if groups and groups[0] and groups[0].lower() in ("bearer", "basic", "token"):
        return f"{groups[0]} {REDACTED}"
    return REDACTED


def url_credentials(url: str) -> list[str]:
    """The secrets a URL carries in its user-info: the password, or a lone user name that is a
    token (``https://<token>@host``); empty for a URL or path without user-info."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    if parts.password:
        return [parts.password, unquote(parts.password)]
    if parts.username and "://" in url:
        return [parts.username, unquote(parts.username)]
    return []


def secret_values(model: Any) -> list[str]:
    """Every secret value (pydantic ``SecretStr``/``SecretBytes``) held by a settings model,
    including those in dicts and tuples (per-source webhook secrets)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if hasattr(value, "get_secret_value"):
            secret = value.get_secret_value()
            found.append(secret.decode() if isinstance(secret, bytes) else str(secret))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                walk(item)

    for name in getattr(type(model), "model_fields", {}):
        walk(getattr(model, name))
    return found


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", <bound context>, <extra fields>, "exc"}`` per line."""

    _second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if self._second[0] != second:  # strftime once per second, not once per line
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        out: dict[str, Any] = {
            "ts": f"{self._second[1]}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in _context.get().items():
            out[name] = _redactor.redact(value) if isinstance(value, str) else value
        for name in record.__dict__.keys() - _STANDARD:
            if not name.startswith("_"):
                out[name] = record.__dict__[name]
        if record.exc_text:
            out["exc"] = record.exc_text
        return orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(f"{k}={v}" for k, v in _context.get().items())
        base = super().format(record)
        return f"{base} {context}" if context else base


_redactor = RedactFilter()


def configure(
    level: str = "INFO", json_lines: bool = True, secrets: Iterable[str] = (), paths: Iterable[str] = ()
) -> None:
    """Route the root logger to stderr, JSON (or text) lines, with redaction. Safe to call again.
    The web and worker processes both call it (rq's own loggers then log through it too)."""
    add_secrets(secrets)
    add_paths([tempfile.gettempdir(), *paths])
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_redactor)
    handler.setFormatter(
        JsonFormatter() if json_lines else TextFormatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_manifest_bot", False)]:
        root.removeHandler(old)
    handler._manifest_bot = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())


def configure_process(settings: Any) -> None:
    """``configure`` for a web or worker process from its ``bot.settings.Settings``: its level and
    format, every secret value it holds, and the routing config's directory as a server path."""
    config = getattr(settings, "config_path", None)
    configure(
        settings.log_level,
        settings.log_json,
        secrets=secret_values(settings),
        paths=[str(config.parent)] if config is not None else [],
    )


def add_secrets(secrets: Iterable[str]) -> None:
    """Register secrets this process holds (a resolved token, a remote's password) for redaction."""
    _redactor.add_secrets(secrets)


def add_paths(paths: Iterable[str]) -> None:
    """Register server directories to make relative in every redacted text."""
    _redactor.add_paths(paths)


def redact(value: str) -> str:
    """The one redaction (see the module docstring): for log records, errors stored in Redis, PR
    comments and the status page."""
    return _redactor.redact(value)
