"""HTTP status / transport exception / GraphQL error → ``bot.errors``: the one table for both forges.

| status | error |
|---|---|
| 401 | AuthError |
| 403 | RateLimited when ``Retry-After``, ``x-ratelimit-remaining: 0`` or "secondary rate limit";
|     | else PermissionDenied |
| 404 | NotFound |
| 405, 406, 409 | Conflict (GitHub "not mergeable" / head sha moved; GitLab "cannot be merged") |
| 400, 422 | Conflict when the message says a ref/branch moved or exists; else ValidationFailed |
| 429 | RateLimited(retry_after) |
| 5xx, timeouts, dropped connections | Transient |

Messages name the operation and the forge's own message, never a header or a token.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from bot.errors import (
    AuthError,
    Conflict,
    ForgeError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Transient,
    ValidationFailed,
)

#: secondary limits have no Retry-After sometimes; GitHub asks to wait at least a minute
SECONDARY_DEFAULT_S = 60.0

_CONFLICT_RE = re.compile(
    r"reference update failed|not a fast.?forward|reference already exists|already exists"
    r"|has changed since|expected branch to point to|sha does not match|head branch was modified"
    r"|stale",
    re.IGNORECASE,
)
_SECONDARY_RE = re.compile(r"secondary rate limit|abuse detection", re.IGNORECASE)
_MAX_MESSAGE = 300


def forge_message(resp: requests.Response) -> str:
    """The forge's own error text (GitHub ``message``, GitLab ``message``/``error``), trimmed."""
    try:
        data = resp.json()
    except ValueError:
        return (resp.text or resp.reason or "").strip()[:_MAX_MESSAGE]
    if not isinstance(data, Mapping):
        return str(data)[:_MAX_MESSAGE]
    parts: list[str] = []
    for key in ("message", "error"):
        value = data.get(key)
        if value:
            parts.append(value if isinstance(value, str) else _flatten(value))
    errors = data.get("errors")
    if isinstance(errors, list):
        parts.extend(_flatten(e) for e in errors)
    return "; ".join(parts)[:_MAX_MESSAGE] or (resp.reason or "")


def _flatten(value: Any) -> str:
    if isinstance(value, Mapping):
        if "message" in value:
            return str(value["message"])
        return ", ".join(f"{k}: {_flatten(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_flatten(v) for v in value)
    return str(value)


def retry_after_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds) or ``x-ratelimit-reset`` (epoch seconds,
    GitHub; GitLab sends ``RateLimit-Reset``) when the remaining budget is 0."""
    raw = headers.get("Retry-After")
    if raw is not None:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
    reset = headers.get("x-ratelimit-reset") or headers.get("RateLimit-Reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - (time.time() if now is None else now))
        except ValueError:
            return None
    return None


def _rate_limited(headers: Mapping[str, str]) -> bool:
    remaining = headers.get("x-ratelimit-remaining") or headers.get("RateLimit-Remaining")
    return "Retry-After" in headers or remaining == "0"


def error_for_response(resp: requests.Response, what: str, *, now: float | None = None) -> ForgeError:
    """Translate a failed response; ``what`` names the operation ("read file x at main")."""
    status = resp.status_code
    detail = forge_message(resp)
    text = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    headers = resp.headers
    if status == 429 or (status == 403 and (_rate_limited(headers) or _SECONDARY_RE.search(detail))):
        wait = retry_after_s(headers, now=now)
        if wait is None and _SECONDARY_RE.search(detail):
            wait = SECONDARY_DEFAULT_S
        return RateLimited(text, retry_after=wait)
    if status == 401:
        return AuthError(text)
    if status == 403:
        return PermissionDenied(text)
    if status == 404:
        return NotFound(text)
    if status in (405, 406, 409):
        return Conflict(text)
    if status in (400, 422):
        return Conflict(text) if _CONFLICT_RE.search(detail) else ValidationFailed(text)
    if status >= 500:
        return Transient(text)
    return ValidationFailed(text)


def error_for_exception(exc: requests.RequestException, what: str) -> ForgeError:
    """Timeouts and dropped connections are Transient; the URL (which may hold a token) is not
    repeated, only the exception's class."""
    return Transient(f"{what}: {type(exc).__name__} talking to the forge")


def error_for_graphql(
    errors: Sequence[Mapping[str, Any]], what: str, headers: Mapping[str, str], *, now: float | None = None
) -> ForgeError:
    """GitHub GraphQL answers 200 with ``errors``; their ``type`` decides the mapping."""
    types = {str(e.get("type", "")).upper() for e in errors}
    message = "; ".join(str(e.get("message", "")) for e in errors)[:_MAX_MESSAGE]
    text = f"{what}: {message}"
    if "RATE_LIMITED" in types or _SECONDARY_RE.search(message):
        return RateLimited(text, retry_after=retry_after_s(headers, now=now) or SECONDARY_DEFAULT_S)
    if "NOT_FOUND" in types:
        return NotFound(text)
    if "FORBIDDEN" in types:
        return PermissionDenied(text)
    if "STALE_DATA" in types or _CONFLICT_RE.search(message):
        return Conflict(text)
    return ValidationFailed(text)
