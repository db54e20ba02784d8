"""The one place both remote adapters send HTTP through: timeouts and a total deadline per request,
error mapping, Link pagination.

Pagination follows a ``Link: <…>; rel="next"`` URL only when it has the API's own origin (scheme,
host and port): the request carries the forge token, and a response must never be able to send
it anywhere else.

No retries and no sleeping here: a rate limit or a 5xx becomes ``RateLimited``/``Transient`` and the
job layer decides when to try again (ARCHITECTURE: no sleeping inside a job).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from bot.deadline import within
from bot.errors import ForgeError
from bot.forges.errors_map import error_for_exception, error_for_response
from bot.metrics import FORGE_REQUESTS, RATE_LIMIT_REMAINING

#: (connect, read) seconds; a forge that does not answer in time is Transient, not a hung worker
DEFAULT_TIMEOUT = (5.0, 30.0)
#: seconds one request may take in all: a forge trickling its answer is cut here (``bot.deadline``)
DEFAULT_DEADLINE_S = 60.0
#: a list longer than this many pages is a bug or an attack, not a PR list we should walk
MAX_PAGES = 50

HeadersFor = Callable[[str | None], Mapping[str, str]]


class HttpClient:
    """Sends requests under ``base_url`` with auth headers from ``headers_for(repo)``.

    ``headers_for`` is called per request so App installation tokens can be refreshed; ``repo``
    lets it pick the installation. ``on_auth_failure(repo)`` (optional) drops a cached credential
    after a 401 so the next attempt fetches a fresh one.
    """

    def __init__(
        self,
        base_url: str,
        headers_for: HeadersFor,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        deadline_s: float = DEFAULT_DEADLINE_S,
        on_auth_failure: Callable[[str | None], None] | None = None,
        forge: str = "forge",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.forge = forge  # metrics label: the config's name for this forge
        self.session = session or requests.Session()
        self.timeout = timeout
        self.deadline_s = deadline_s
        self._headers_for = headers_for
        self._on_auth_failure = on_auth_failure

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        repo: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (),
    ) -> requests.Response:
        """Send one request; a status >= 400 not listed in ``ok`` raises the mapped ForgeError."""
        merged = dict(self._headers_for(repo))
        if headers:
            merged.update(headers)
        try:
            resp = within(
                self.deadline_s,
                lambda: self.session.request(
                    method, self.url(path), params=params, json=json, headers=merged, timeout=self.timeout
                ),
                lambda: requests.Timeout(f"no whole answer within {self.deadline_s:g} s"),
            )
        except requests.RequestException as exc:
            FORGE_REQUESTS.labels(forge=self.forge, status="error").inc()
            raise error_for_exception(exc, what) from None
        self._observe(resp)
        if resp.status_code >= 400 and resp.status_code not in ok:
            if resp.status_code == 401 and self._on_auth_failure is not None:
                self._on_auth_failure(repo)
            raise error_for_response(resp, what)
        return resp

    def _observe(self, resp: requests.Response) -> None:
        """Count the request and keep the forge's rate-limit headroom (GitHub ``x-ratelimit-*``,
        GitLab ``ratelimit-*``) visible in metrics."""
        FORGE_REQUESTS.labels(forge=self.forge, status=str(resp.status_code)).inc()
        headers = resp.headers
        remaining = headers.get("x-ratelimit-remaining") or headers.get("ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            scope = headers.get("x-ratelimit-resource", "core")
            RATE_LIMIT_REMAINING.labels(forge=self.forge, scope=scope).set(int(remaining))

    def paginate(
        self, path: str, what: str, *, repo: str | None = None, params: Mapping[str, Any] | None = None
    ) -> Iterator[Any]:
        """Yield the items of a JSON-array endpoint, following ``Link: <…>; rel="next"``."""
        url: str | None = path
        query: Mapping[str, Any] | None = params
        for _ in range(MAX_PAGES):
            if url is None:
                return
            resp = self.request("GET", url, what, repo=repo, params=query)
            yield from resp.json()
            url = resp.links.get("next", {}).get("url")
            query = None  # the next link already carries the query
            if url is not None and _origin(url) != _origin(self.base_url):
                raise ForgeError(
                    f"{what}: the next page is on {_origin(url)}, not {_origin(self.base_url)}; "
                    "it is not followed with our credentials"
                )


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (default ports filled in), for same-origin checks."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number: an origin nothing else has
        return f"invalid:{parts.netloc}"
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"
