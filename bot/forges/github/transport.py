"""PyGithub's HTTP transport, made ours: request metrics, our timeouts, no retries, one origin.

PyGithub sends every request through a "connection class" (``github.Requester``); its public hook
``Requester.injectConnectionClasses`` swaps that class for all clients of the process. Ours:

- counts each request by forge and status and keeps the rate-limit headroom visible (the same
  metrics as ``bot.forges.http``);
- uses ``(connect, read)`` timeouts, a total deadline per request (``DEADLINE_S``) and a
  ``requests`` adapter without retries (jobs retry);
- keeps HTTP keep-alive: sessions are pooled per origin, since the injected class is built anew
  for every request;
- refuses any request to an origin other than the API's while a forge call is in ``scope``: a
  ``Link: next`` (or any URL from an answer) naming another host never receives the token.
  PyGithub's own check (``Requester.__assertUrlAllowed``) is an ``assert``, gone under ``python -O``,
  and it lets ``*.github.com`` / ``*.githubusercontent.com`` through for github.com.

Outside a ``scope`` (a script using PyGithub directly) requests go through unchecked, counted under
the forge label ``github``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
from github.Requester import Requester, RequestsResponse

from bot.deadline import within
from bot.metrics import FORGE_REQUESTS, RATE_LIMIT_REMAINING

#: (connect, read) seconds; a forge that does not answer in time is Transient, not a hung worker
TIMEOUT = (5.0, 30.0)
#: seconds one request may take in all (a peer trickling its answer is cut here: ``bot.deadline``)
DEADLINE_S = 60.0
_DEFAULT_PORTS = {"https": 443, "http": 80}

Origin = tuple[str, str, int]  # scheme, host, port


class ForeignOrigin(Exception):
    """A request to a host other than the forge's API was refused (nothing was sent)."""


@dataclass(frozen=True, slots=True)
class _Scope:
    forge: str
    origin: Origin


_SCOPE: ContextVar[_Scope | None] = ContextVar("github_transport_scope", default=None)


def origin_of(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


@contextmanager
def scope(forge: str, api_url: str) -> Iterator[None]:
    """Requests made inside are counted for ``forge`` and may only go to ``api_url``'s origin."""
    token = _SCOPE.set(_Scope(forge, origin_of(api_url)))
    try:
        yield
    finally:
        _SCOPE.reset(token)


class _Sessions:
    """One ``requests.Session`` per (origin, TLS verification), shared by every connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[tuple[Origin, Any], requests.Session] = {}

    def get(self, origin: Origin, verify: Any) -> requests.Session:
        key = (origin, verify)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = requests.Session()
                session.auth = Requester.noopAuth  # no .netrc fallback, as PyGithub does
                adapter = requests.adapters.HTTPAdapter(max_retries=0)
                session.mount(f"{origin[0]}://", adapter)
                self._sessions[key] = session
            return session


_SESSIONS = _Sessions()


class _Connection:
    """The interface PyGithub expects of a connection (``request`` then ``getresponse``)."""

    protocol = "https"

    def __init__(  # noqa: PLR0917 - PyGithub's connection signature
        self,
        host: str,
        port: int | None = None,
        strict: bool = False,
        timeout: int | None = None,
        retry: Any = None,
        pool_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.host = host
        self.port = port or _DEFAULT_PORTS[self.protocol]
        self.verify = kwargs.get("verify", True)
        self._request: tuple[str, str, Any, dict[str, str]] | None = None

    def request(self, verb: str, url: str, input: Any, headers: dict[str, str], stream: bool = False) -> None:
        self._request = (verb, url, input, headers)

    def _url(self, path: str) -> str:
        port = "" if self.port == _DEFAULT_PORTS[self.protocol] else f":{self.port}"
        return f"{self.protocol}://{self.host}{port}{path}"

    def getresponse(self) -> RequestsResponse:
        if self._request is None:
            raise RuntimeError("getresponse() before request()")
        verb, path, body, headers = self._request
        origin = (self.protocol, self.host.lower(), self.port)
        current = _SCOPE.get()
        if current is not None and origin != current.origin:
            raise ForeignOrigin(
                f"refused a request to {self.protocol}://{self.host}: not the forge's API host"
            )
        session = _SESSIONS.get(origin, self.verify)
        forge = current.forge if current is not None else "github"
        try:
            resp = within(
                DEADLINE_S,
                lambda: session.request(
                    verb, self._url(path), headers=headers, data=body, timeout=TIMEOUT, allow_redirects=False
                ),
                lambda: requests.Timeout(f"no whole answer from {self.host} within {DEADLINE_S:g} s"),
            )
        except requests.RequestException:
            FORGE_REQUESTS.labels(forge=forge, status="error").inc()
            raise
        _observe(forge, resp)
        return RequestsResponse(resp)

    def close(self) -> None:
        """Sessions are shared and kept for keep-alive; nothing to close per request."""


class _HttpsConnection(_Connection):
    protocol = "https"


class _HttpConnection(_Connection):
    protocol = "http"


def _observe(forge: str, resp: requests.Response) -> None:
    FORGE_REQUESTS.labels(forge=forge, status=str(resp.status_code)).inc()
    remaining = resp.headers.get("x-ratelimit-remaining")
    if remaining is not None and remaining.isdigit():
        resource = resp.headers.get("x-ratelimit-resource", "core")
        RATE_LIMIT_REMAINING.labels(forge=forge, scope=resource).set(int(remaining))


_installed: list[bool] = []
_install_lock = threading.Lock()


def install() -> None:
    """Make every PyGithub client of this process use our transport (idempotent). Must run before
    the clients are built: a ``Requester`` picks its connection class when it is created."""
    with _install_lock:
        if not _installed:
            Requester.injectConnectionClasses(_HttpConnection, _HttpsConnection)  # type: ignore[arg-type]
            _installed.append(True)
