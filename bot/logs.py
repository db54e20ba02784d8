"""Structured logging: one JSON object per line, with context bound for a block of work.

    configure(level="INFO", json_lines=True, secrets=settings_secrets)
    log = logging.getLogger(__name__)
    with bind(delivery_id="github-…", source="github"):
        log.info("delivery accepted", extra={"events": 2})

Bound fields (``delivery_id``, ``source``, ``repo``, ``group``, ``job_id``, …) ride a context
variable, so they follow the work through helpers without being passed around. A redaction filter
masks registered secrets and anything shaped like a token (GitHub/GitLab tokens, Bearer/Basic
credentials, ``token=``/``secret=``/``password=`` pairs, URL user-info) in messages and fields.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import orjson

REDACTED = "[redacted]"
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_context", default=MappingProxyType({})
)
_TOKEN_PATTERNS = [
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,})"),
    re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)\b((?:access_|private_)?token|secret|password|passwd|api_key|apikey)([\"']?\s*[=:]\s*[\"']?)[^\s\"'&,;]+"
    ),
    re.compile(r"(?i)(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # https://user:password@host
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----"),
]
#: a superset of what the patterns above can match, to skip them on ordinary strings
_MAYBE_TOKEN = re.compile(
    r"gh[pousr]_|github_pat_|glpat-|(?i:bearer|basic|token|secret|passw|api_?key)|://[^/\s]*@|PRIVATE KEY"
)
#: record attributes every LogRecord has; anything else came from ``extra=`` and is emitted
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log record emitted inside the block (nesting merges)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class RedactFilter(logging.Filter):
    """Masks secrets in the message and in every extra field of a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._literals: list[str] = []
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        # longest first, so a secret containing another is masked whole; skip trivially short ones
        merged = set(self._literals) | {s for s in secrets if len(s) >= 4}
        self._literals = sorted(merged, key=len, reverse=True)

    def redact(self, value: str) -> str:
        for secret in self._literals:
            if secret in value:
                value = value.replace(secret, REDACTED)
        if _MAYBE_TOKEN.search(value):  # one cheap scan; the precise patterns only when needed
            for pattern in _TOKEN_PATTERNS:
                value = pattern.sub(_mask, value)
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


def _mask(match: re.Match[str]) -> str:
    groups = match.groups()
    if len(groups) == 2 and groups[1] is not None and groups[1].strip(" \"'") in ("=", ":"):
        return f"{groups[0]}{groups[1]}{REDACTED}"  # key=value: keep the key
    if groups and groups[0] and groups[0].lower() in ("bearer", "basic", "token"):
        return f"{groups[0]} {REDACTED}"
    return REDACTED


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


def configure(level: str = "INFO", json_lines: bool = True, secrets: Iterable[str] = ()) -> None:
    """Route the root logger to stderr, JSON (or text) lines, with redaction. Safe to call again."""
    _redactor.add_secrets(secrets)
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


def redact(value: str) -> str:
    """Mask secrets and token-shaped strings in ``value`` (also for error messages and PR text)."""
    return _redactor.redact(value)
