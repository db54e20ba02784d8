"""One HTTP request to a registry: timeouts, a metric per request, bounded bodies, error mapping.

| status | error |
|---|---|
| 401 | AuthError (permanent): names the registry and where the credentials came from; with no
credentials, AnonymousDenied (Docker Hub answers so for a repository that does not exist yet) |
| 403 | PermissionDenied (permanent), likewise |
| 404 | NotFound (callers turn a missing manifest into "does not exist") |
| 429 | RateLimited, with ``Retry-After`` seconds when sent |
| 5xx, timeouts, dropped connections | Transient |
| other 4xx | ValidationFailed |

Nothing sleeps or retries here: the job layer decides when to try again. Messages carry the
registry's own error codes (``MANIFEST_UNKNOWN``, ``DENIED``…), never a header or a secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests

from bot.errors import (
    AnonymousDenied,
    AuthError,
    BotError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Transient,
    ValidationFailed,
)
from bot.metrics import REGISTRY_REQUESTS

#: a manifest is at most 4 MiB by the distribution spec; a tags page or token answer is far smaller
MAX_BODY_BYTES = 4 * 1024 * 1024
_MAX_DETAIL = 300


class Transport:
    """Sends through one ``requests.Session`` (benchmarks count its responses)."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        self.session = session
        self.timeout = (min(5.0, timeout), timeout)

    def send(
        self,
        method: str,
        url: str,
        *,
        host: str,
        kind: str,
        what: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        """The response whatever its status (callers map errors); Transient when none came."""
        try:
            resp = self.session.request(
                method,
                url,
                headers=dict(headers or {}),
                params=params,
                data=data,
                auth=auth,
                timeout=self.timeout,
                stream=True,
            )
        except requests.RequestException as exc:
            REGISTRY_REQUESTS.labels(registry=host, kind=kind, status="error").inc()
            raise Transient(f"{what}: {type(exc).__name__} talking to {host}") from None
        REGISTRY_REQUESTS.labels(registry=host, kind=kind, status=str(resp.status_code)).inc()
        return resp


def read_body(resp: requests.Response, what: str, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, refusing one over ``limit`` bytes (a registry cannot make us buffer more)."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in resp.iter_content(65536):
            size += len(chunk)
            if size > limit:
                raise ValidationFailed(f"{what}: answer larger than {limit} bytes")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise Transient(f"{what}: {type(exc).__name__} while reading the answer") from None
    finally:
        resp.close()
    return b"".join(chunks)


def registry_detail(resp: requests.Response) -> str:
    """The registry's ``errors[].code: message`` (HEAD answers have no body)."""
    if resp.request is not None and resp.request.method == "HEAD":
        resp.close()
        return ""
    try:
        body = read_body(resp, "error body", limit=64 * 1024)
        data = json.loads(body.decode("utf-8", "replace"))
    except (BotError, ValueError):
        return ""
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return ""
    parts = [
        f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors if isinstance(e, dict)
    ]
    return "; ".join(p for p in parts if p)[:_MAX_DETAIL]


def retry_after(resp: requests.Response) -> float | None:
    raw = resp.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def error_for(resp: requests.Response, what: str, host: str, credential_source: str) -> BotError:
    """The error for a failed answer; auth errors name the registry and the credential source."""
    status = resp.status_code
    detail = registry_detail(resp)
    text = f"{what}: HTTP {status}" + (f" ({detail})" if detail else "")
    if status == 429:
        return RateLimited(f"{text}: {host} is rate limiting us", retry_after=retry_after(resp))
    if status == 401:
        kind = AnonymousDenied if credential_source.startswith("anonymous") else AuthError
        return kind(f"{text}: {host} did not accept {credential_source}")
    if status == 403:
        return PermissionDenied(f"{text}: {host} denied access with {credential_source}")
    if status == 404:
        return NotFound(text)
    if status >= 500:
        return Transient(f"{text}: {host} failed")
    return ValidationFailed(text)
