"""One HTTP exchange with a registry: a total deadline, no redirect off its origin, a bounded body,
a metric per request, the error table.

| status | error |
|---|---|
| 401 | AuthError (permanent): names the registry and where the credentials came from; with no
credentials, AnonymousDenied (Docker Hub answers so for a repository that does not exist yet) |
| 403 | PermissionDenied (permanent), likewise |
| 404 | NotFound (callers turn a missing manifest into "does not exist") |
| 429 | RateLimited, with ``Retry-After`` seconds when sent |
| 5xx, timeouts, dropped connections, the deadline | Transient |
| a redirect to another origin | ValidationFailed: never followed (a config blob's: see below) |
| other 4xx | ValidationFailed |

**Deadline.** ``timeout`` bounds the whole exchange (connect, headers, body, same-origin redirects),
not each read (``bot.deadline.within``), so a registry that trickles one header line a second
cannot hold a worker longer. The abandoned exchange stops reading its body at the deadline too,
and http.client's own header limits (100 lines) bound the rest.

**Redirects.** Manifests, tag lists and token answers are served by the registry itself, so a
redirect of theirs is followed only on the same origin (scheme, host and port: a path
normalisation), at most ``MAX_REDIRECTS`` times; one to another origin is refused, so no
credential or token travels there and no request is sent to a host the operator did not name.
Blobs are another matter: GHCR, Docker Hub, ECR and most hosted registries hand them to object
storage by a signed URL. The one blob the bot reads (an image's config, for the PR's release
notes: ``storage_redirects``) follows such a redirect with **no credentials at all** (no
``Authorization``, no parameters of ours), and only to an ``https`` URL naming a host by DNS name:
an IP literal or ``localhost`` is refused, so a registry cannot point the bot at a metadata
service or a loopback port by address (a DNS name a hostile registry controls may still resolve
to one; the answer is then read only as far as ``limit`` and kept only when its SHA-256 is the
config's digest).

**Error texts.** A registry's error body is reduced to its ``errors[].code`` identifiers
(``MANIFEST_UNKNOWN``, ``DENIED``); its free-text messages never reach a log, a PR or the page.
Nothing sleeps or retries here: the job layer decides when to try again.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from bot.deadline import within
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

log = logging.getLogger(__name__)

#: a manifest is at most 4 MiB by the distribution spec; a tags page or token answer is far smaller
MAX_BODY_BYTES = 4 * 1024 * 1024
#: an error answer is read this far for its codes, the rest dropped
MAX_ERROR_BODY_BYTES = 64 * 1024
MAX_REDIRECTS = 3
_CODE_RE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
_MAX_CODES = 3
_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class Answer:
    """A registry's answer, read whole: what callers look at, nothing left open."""

    method: str
    status_code: int
    headers: CaseInsensitiveDict[str]
    links: dict[str, dict[str, str]]
    body: bytes


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Transport:
    """Sends through one ``requests.Session`` (benchmarks count its responses)."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        self.session = session
        self.deadline_s = timeout
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
        limit: int = MAX_BODY_BYTES,
        storage_redirects: bool = False,
    ) -> Answer:
        """The answer whatever its status (callers map errors); Transient when none came in time.
        ``storage_redirects``: a blob download, which may follow a redirect to object storage
        (see the module docstring)."""
        deadline = time.monotonic() + self.deadline_s
        request = {"headers": dict(headers or {}), "params": params, "data": data, "auth": auth}
        if storage_redirects:
            request["storage"] = True

        def expired() -> Transient:
            REGISTRY_REQUESTS.labels(registry=host, kind=kind, status="deadline").inc()
            return Transient(
                f"{what}: {host} did not answer within {self.deadline_s:g} s "
                "(MANIFEST_BOT_REGISTRY_TIMEOUT_S bounds the whole request)"
            )

        return within(
            self.deadline_s,
            lambda: self._exchange(method, url, host, kind, what, deadline, limit, request),
            expired,
        )

    def _exchange(  # noqa: PLR0917 - one call's parts, passed once from send
        self,
        method: str,
        url: str,
        host: str,
        kind: str,
        what: str,
        deadline: float,
        limit: int,
        request: dict[str, Any],
    ) -> Answer:
        origin = origin_of(url)
        storage = bool(request.pop("storage", False))
        for _ in range(MAX_REDIRECTS + 1):
            try:
                resp = self.session.request(
                    method, url, **request, timeout=self.timeout, stream=True, allow_redirects=False
                )
            except requests.RequestException as exc:
                REGISTRY_REQUESTS.labels(registry=host, kind=kind, status="error").inc()
                raise Transient(f"{what}: {type(exc).__name__} talking to {host}") from None
            REGISTRY_REQUESTS.labels(registry=host, kind=kind, status=str(resp.status_code)).inc()
            location = resp.headers.get("Location") if resp.is_redirect else None
            if location is None:
                return _answer(resp, method, what, deadline, limit)
            resp.close()
            target = urljoin(url, location)
            if origin_of(target) != origin and storage and object_storage(target):
                url, origin = target, origin_of(target)  # its credentials stay behind, for good
                request = {"headers": {}, "params": None, "data": None, "auth": None}
                continue
            if origin_of(target) != origin:
                log.warning(
                    "registry redirect refused",
                    extra={"registry": host, "kind": kind, "to": urlsplit(target).netloc[:100]},
                )
                raise ValidationFailed(
                    f"{what}: {host} redirected to another host ({urlsplit(target).netloc[:100]}); "
                    "refused: manifests, tag lists and tokens are served by the registry itself"
                )
            url, request = target, {**request, "params": None}
        raise ValidationFailed(f"{what}: {host} redirected more than {MAX_REDIRECTS} times; refused")


def object_storage(url: str) -> bool:
    """May a blob download follow a redirect to ``url``? ``https``, and a host named by DNS name."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _answer(resp: requests.Response, method: str, what: str, deadline: float, limit: int) -> Answer:
    body = b""
    if method != "HEAD":
        failed = resp.status_code >= 400
        body = _read(resp, what, deadline, MAX_ERROR_BODY_BYTES if failed else limit, truncate=failed)
    resp.close()
    return Answer(method, resp.status_code, resp.headers, resp.links, body)


def _read(resp: requests.Response, what: str, deadline: float, limit: int, *, truncate: bool) -> bytes:
    """The body up to ``limit`` bytes (over it: refused, or cut for an error answer), read until
    the deadline at most."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in resp.iter_content(_CHUNK):
            if time.monotonic() > deadline:
                raise Transient(f"{what}: the answer did not arrive in time")
            size += len(chunk)
            if size > limit:
                if truncate:
                    break
                raise ValidationFailed(f"{what}: answer larger than {limit} bytes")
            chunks.append(chunk)
    except requests.RequestException as exc:
        raise Transient(f"{what}: {type(exc).__name__} while reading the answer") from None
    finally:
        resp.close()
    return b"".join(chunks)


def registry_codes(answer: Answer) -> str:
    """The registry's ``errors[].code`` identifiers, at most three (HEAD answers have no body);
    never its messages, which are the registry's free text."""
    try:
        data = json.loads(answer.body.decode("utf-8", "replace"))
    except ValueError:
        return ""
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return ""
    codes = [e.get("code") for e in errors if isinstance(e, dict)]
    valid = [c for c in codes if isinstance(c, str) and _CODE_RE.fullmatch(c)]
    return ", ".join(dict.fromkeys(valid[:_MAX_CODES]))


def retry_after(answer: Answer) -> float | None:
    raw = answer.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return min(3600.0, max(0.0, float(raw)))
    except ValueError:
        return None


def error_for(answer: Answer, what: str, host: str, credential_source: str) -> BotError:
    """The error for a failed answer; auth errors name the registry and the credential source."""
    status = answer.status_code
    codes = registry_codes(answer)
    text = f"{what}: HTTP {status}" + (f" ({codes})" if codes else "")
    if status == 429:
        return RateLimited(f"{text}: {host} is rate limiting us", retry_after=retry_after(answer))
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
