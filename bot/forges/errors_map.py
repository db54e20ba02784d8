"""Forge failures → ``bot.errors``: ONE table for both forges and every client.

``error_for_status`` is the table; the rest feed it. GitLab's ``requests`` responses come through
``error_for_response`` (python-gitlab's exceptions through ``error_for_gitlab``, with the failed
answer its session hook kept), PyGithub's ``GithubException`` (status, headers, decoded data) through
``error_for_github``, GitHub GraphQL ``errors`` arrays through ``error_for_graphql``.

| status | error |
|---|---|
| 401 | AuthError |
| 403 | RateLimited when ``Retry-After``, ``x-ratelimit-remaining: 0`` or "secondary rate limit";
|     | else PermissionDenied |
| 404 | NotFound |
| 405, 406, 409 | Conflict (GitHub "not mergeable" / head sha moved; GitLab "cannot be merged", an
|     | open MR already exists for the branch) |
| 400, 422 | Conflict when the message says a ref/branch moved or something already exists (a pull
|     | request, a reference, a file); else ValidationFailed |
| 429 | RateLimited(retry_after) |
| 5xx, timeouts, dropped connections | Transient |

GraphQL answers (HTTP 200 with ``errors``): ``RATE_LIMITED`` → RateLimited, ``NOT_FOUND`` → NotFound,
``FORBIDDEN``/``INSUFFICIENT_SCOPES`` → PermissionDenied, ``UNPROCESSABLE``/``BAD_USER_INPUT`` →
ValidationFailed, and every other answer — untyped ("Something went wrong while executing your
query"), ``INTERNAL``, ``STALE_DATA`` or a type we do not know — Transient: GitHub's schema does not
say how a lost race is reported, so races are decided by reading the branch afterwards
(``bot.forges.github.commits``), never from an error's shape.

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
    r"reference update failed|not a fast.?forward|already exists|has changed since"
    r"|expected branch to point to|sha does not match|head branch was modified",
    re.IGNORECASE,
)
_SECONDARY_RE = re.compile(r"secondary rate limit|abuse detection", re.IGNORECASE)
_MAX_MESSAGE = 300
_PERMANENT_GRAPHQL = {
    "NOT_FOUND": NotFound,
    "FORBIDDEN": PermissionDenied,
    "INSUFFICIENT_SCOPES": PermissionDenied,
    "UNPROCESSABLE": ValidationFailed,
    "BAD_USER_INPUT": ValidationFailed,
}


def message_of(data: Any, fallback: str = "") -> str:
    """The forge's own error text from a decoded body (``message``/``error``/``errors``), trimmed."""
    if not isinstance(data, Mapping):
        return (str(data) if data else fallback).strip()[:_MAX_MESSAGE]
    parts: list[str] = []
    for key in ("message", "error"):
        value = data.get(key)
        if value:
            parts.append(value if isinstance(value, str) else _flatten(value))
    errors = data.get("errors")
    if isinstance(errors, list):
        parts.extend(_flatten(e) for e in errors)
    return "; ".join(parts)[:_MAX_MESSAGE] or fallback


def forge_message(resp: requests.Response) -> str:
    """``message_of`` a ``requests`` response (its text when the body is not JSON)."""
    try:
        data = resp.json()
    except ValueError:
        return (resp.text or resp.reason or "").strip()[:_MAX_MESSAGE]
    return message_of(data, resp.reason or "")


def _flatten(value: Any) -> str:
    if isinstance(value, Mapping):
        if "message" in value:
            return str(value["message"])
        return ", ".join(f"{k}: {_flatten(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_flatten(v) for v in value)
    return str(value)


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def retry_after_s(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds) or ``x-ratelimit-reset`` (epoch seconds,
    GitHub; GitLab sends ``RateLimit-Reset``) when the remaining budget is 0."""
    low = _lower(headers)
    raw = low.get("retry-after")
    if raw is not None:
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
    reset = low.get("x-ratelimit-reset") or low.get("ratelimit-reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - (time.time() if now is None else now))
        except ValueError:
            return None
    return None


def _rate_limited(headers: Mapping[str, str]) -> bool:
    remaining = headers.get("x-ratelimit-remaining") or headers.get("ratelimit-remaining")
    return "retry-after" in headers or remaining == "0"


def error_for_status(
    status: int, headers: Mapping[str, str] | None, detail: str, what: str, *, now: float | None = None
) -> ForgeError:
    """THE table: an HTTP status, its headers and the forge's message → our error."""
    text = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    low = _lower(headers)
    if status == 429 or (status == 403 and (_rate_limited(low) or _SECONDARY_RE.search(detail))):
        wait = retry_after_s(low, now=now)
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


def error_for_response(resp: requests.Response, what: str, *, now: float | None = None) -> ForgeError:
    """Translate a failed ``requests`` response; ``what`` names the operation ("read file x at main")."""
    return error_for_status(resp.status_code, resp.headers, forge_message(resp), what, now=now)


def error_for_exception(exc: requests.RequestException, what: str) -> ForgeError:
    """Timeouts and dropped connections are Transient; the URL (which may hold a token) is not
    repeated, only the exception's class."""
    return Transient(f"{what}: {type(exc).__name__} talking to the forge")


def error_for_gitlab(
    exc: Any, what: str, response: requests.Response | None, *, now: float | None = None
) -> ForgeError:
    """A python-gitlab ``GitlabError`` → our error. Its exceptions keep the status and the body, not
    the headers: ``response`` is the failed answer itself (``bot.forges.gitlab.calls`` keeps it), so
    ``Retry-After`` and the forge's whole message count. Without one, the status and message it
    kept; an error with no status (an answer that is not JSON, a refused redirect of a write) is
    Transient."""
    if response is not None:
        return error_for_response(response, what, now=now)
    status = getattr(exc, "response_code", None)
    if isinstance(status, int) and status >= 400:
        detail = getattr(exc, "error_message", "")
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return error_for_status(status, None, message_of(detail), what, now=now)
    return Transient(f"{what}: {type(exc).__name__} from the forge's answer")


def graphql_errors(data: Any) -> list[Mapping[str, Any]] | None:
    """The ``errors`` array of a GraphQL answer, or None when ``data`` is not one."""
    errors = data.get("errors") if isinstance(data, Mapping) else None
    if isinstance(errors, list) and errors and all(isinstance(e, Mapping) for e in errors):
        return errors
    return None


def error_for_graphql(
    errors: Sequence[Mapping[str, Any]],
    what: str,
    headers: Mapping[str, str] | None,
    *,
    now: float | None = None,
) -> ForgeError:
    """GitHub GraphQL answers 200 with ``errors``; their ``type`` decides, and only a type we know to
    be permanent is permanent (see the module docstring)."""
    types = {str(e.get("type") or "").upper() for e in errors}
    message = "; ".join(str(e.get("message", "")) for e in errors)[:_MAX_MESSAGE]
    text = f"{what}: {message}"
    if "RATE_LIMITED" in types or _SECONDARY_RE.search(message):
        return RateLimited(text, retry_after=retry_after_s(headers, now=now) or SECONDARY_DEFAULT_S)
    known = [_PERMANENT_GRAPHQL[t] for t in sorted(types) if t in _PERMANENT_GRAPHQL]
    if known and len(known) == len(types):
        return known[0](text)
    return Transient(text)


def error_for_github(exc: Any, what: str, *, graphql: bool = False, now: float | None = None) -> ForgeError:
    """A PyGithub ``GithubException`` (``status``, ``headers``, decoded ``data``) → our error.

    ``Requester.graphql_query`` raises that exception for an answer carrying GraphQL ``errors`` too
    (status 400, or 404 for a lone ``NOT_FOUND``, whatever the HTTP status was): with ``graphql``
    those go through the GraphQL table; real HTTP failures (401, 403, 5xx…) through the status table."""
    errors = graphql_errors(exc.data) if graphql else None
    if errors is not None and exc.status in (400, 404):
        return error_for_graphql(errors, what, exc.headers, now=now)
    return error_for_status(exc.status, exc.headers, message_of(exc.data), what, now=now)
