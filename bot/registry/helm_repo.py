"""``HelmRepositories``: what a classic Helm repository publishes, from its ``index.yaml``.

- ``GET <repository>/index.yaml`` through the registry ``Transport`` (a total deadline, no redirect
  off the repository's origin, the error table), at most ``max_bytes`` (an index over it is refused
  with the limit named: ``MANIFEST_BOT_HELM_INDEX_MAX_BYTES``); parsed by ``helm_index``.
- Cached per repository with its ``ETag``/``Last-Modified``: within ``cache_ttl`` seconds the cached
  versions answer; after it, or when asked ``fresh``, a conditional GET (``If-None-Match``,
  ``If-Modified-Since``) costs a ``304`` and no parsing when nothing was published.
- No credentials are sent (public repositories; a private one answers 401/403, a clear error).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from bot.core.ports import ResolvedImage
from bot.errors import NotFound, ValidationFailed
from bot.registry.helm_index import parse_index
from bot.registry.transport import Transport, error_for

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
_MAX_REPOSITORIES = 256


@dataclass(frozen=True, slots=True)
class _Cached:
    charts: dict[str, dict[str, str]]
    sources: dict[str, dict[str, str]]  # chart → version → its first sources URL
    etag: str | None
    modified: str | None
    checked: float  # when the repository last confirmed it


class HelmRepositories:
    def __init__(
        self,
        session: requests.Session,
        *,
        timeout: float = 15.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        cache_ttl: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._transport = Transport(session, timeout)
        self.max_bytes = max_bytes
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()
        self.fetches = 0  # full downloads parsed (benchmarks and tests read it)

    def versions(self, repository: str, chart: str, *, fresh: bool = False) -> dict[str, str]:
        """``chart``'s published versions → digests; NotFound when the index does not list it."""
        charts = self._index(repository.rstrip("/"), fresh=fresh)
        if chart not in charts:
            raise NotFound(f"{repository} lists no chart {chart!r} in its index.yaml")
        return charts[chart]

    def resolve(self, repository: str, chart: str, version: str, *, fresh: bool) -> ResolvedImage | None:
        try:
            found = self.versions(repository, chart, fresh=fresh)
        except NotFound:
            return None  # not published (yet): waited for like an image tag
        if version not in found:
            return None
        return ResolvedImage(f"{repository.rstrip('/')}/{chart}", version, found[version], None)

    def _index(self, repository: str, *, fresh: bool) -> dict[str, dict[str, str]]:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(repository)
        if cached is not None and not fresh and now - cached.checked < self.cache_ttl:
            return cached.charts
        url = f"{repository}/index.yaml"
        host = urlsplit(url).netloc.lower()
        what = f"read {url}"
        headers = {"Accept": "application/x-yaml, application/yaml, text/yaml, */*"}
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.modified:
            headers["If-Modified-Since"] = cached.modified
        try:
            answer = self._transport.send(
                "GET", url, host=host, kind="helm-index", what=what, headers=headers, limit=self.max_bytes
            )
        except ValidationFailed as exc:
            if exc.message.endswith(f"larger than {self.max_bytes} bytes"):  # the bound: say which
                raise ValidationFailed(f"{exc.message} (MANIFEST_BOT_HELM_INDEX_MAX_BYTES)") from None
            raise
        if answer.status_code == 304 and cached is not None:
            fresh_entry = _Cached(cached.charts, cached.sources, cached.etag, cached.modified, now)
        elif answer.status_code == 200:
            self.fetches += 1
            sources: dict[str, dict[str, str]] = {}
            charts = parse_index(answer.body, what, sources=sources)
            fresh_entry = _Cached(
                charts, sources, answer.headers.get("ETag"), answer.headers.get("Last-Modified"), now
            )
        elif answer.status_code == 404:
            raise NotFound(f"{what}: HTTP 404: no Helm repository there")
        else:
            raise error_for(answer, what, host, "no credentials (anonymous)")
        with self._lock:
            self._cache[repository] = fresh_entry
            self._cache.move_to_end(repository)
            while len(self._cache) > _MAX_REPOSITORIES:
                self._cache.popitem(last=False)
        return fresh_entry.charts

    def source(self, repository: str, chart: str, version: str) -> str | None:
        """The first ``sources`` URL the index gives ``chart`` at ``version`` (None: none given);
        NotFound when the index does not list the chart."""
        self.versions(repository, chart)  # the index, read or cached, and the chart listed
        with self._lock:
            cached = self._cache.get(repository.rstrip("/"))
        return cached.sources.get(chart, {}).get(version) if cached is not None else None
