"""``RegistryClient``: the ``bot.core.ports.Registry`` port over the OCI Distribution HTTP API.

- **resolve** ``image:tag`` → digest: ``HEAD /v2/<path>/manifests/<tag>`` with an ``Accept`` for
  the OCI index and manifest and the Docker manifest list and v2 manifest; the digest from
  ``Docker-Content-Digest``. When the HEAD answer has no (valid) digest, or the registry does not
  answer HEAD, a GET of the same URL, whose digest is the header or else the SHA-256 of the body.
  404 means the tag (or the repository) does not exist: ``None``. A found digest is cached per
  (image, tag) for ``cache_ttl`` seconds; an absent tag is never cached (a push may land any time).
- **released** ``image@digest`` → when it was built: ``GET /v2/<path>/manifests/<digest>``; its
  ``org.opencontainers.image.created`` annotation, else (an index: its linux/amd64 manifest, else
  its first, one more GET) the config blob's ``created`` (``GET /v2/<path>/blobs/<digest>``, at
  most ``MAX_CONFIG_BYTES``). A blob the registry redirects to another host (object storage, a
  CDN) is not followed (see ``transport``): then the answer is None and the caller falls back to
  when it first saw the tag. Answers are cached per digest (they never change).
- **platforms** ``image@digest`` → the platforms it is built for: the same manifest GET (an
  index lists them; one request), or a single image's config blob. Cached per digest; the parsed
  manifest is kept (at most ``_MAX_DOCUMENTS``) so ``released`` and ``platforms`` of one digest
  cost one manifest request between them.
- **list_tags**: ``GET /v2/<path>/tags/list?n=1000``, following ``Link: <…>; rel="next"`` on the
  same registry only, refusing more than ``max_tags`` tags.
- Every request goes through one ``requests.Session``, is counted in
  ``manifest_bot_registry_requests``, and never sleeps; see ``transport`` for the error table and
  ``auth`` for the token flow.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from bot.core.images import MANIFEST_MEDIA_TYPES, validate_digest, validate_tag
from bot.core.platforms import platform_of
from bot.core.ports import ResolvedImage
from bot.core.release_age import annotated_created, config_created
from bot.errors import BotError, InvalidReference, NotFound, Transient, ValidationFailed
from bot.registry.auth import Authenticator
from bot.registry.credentials import DockerConfig
from bot.registry.names import Repository, locate
from bot.registry.transport import MAX_BODY_BYTES, Answer, Transport, error_for, origin_of

ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
TAGS_PAGE = 1000
_MAX_CACHED = 10_000
#: an image config is a few KiB; more is not read for its ``created``
MAX_CONFIG_BYTES = 1024 * 1024
_INDEX_TYPES = frozenset(MANIFEST_MEDIA_TYPES[0::2])  # the OCI index, the Docker manifest list
_MAX_DOCUMENTS = 1_000
T = TypeVar("T")
USER_AGENT = "manifest-bot (+https://github.com/manifest-bot)"


class RegistryClient:
    def __init__(
        self,
        *,
        docker_config: Path | None = None,
        insecure: frozenset[str] = frozenset(),
        endpoints: Mapping[str, str] | None = None,
        token_realms: Mapping[str, str] | None = None,
        cache_ttl: float = 30.0,
        timeout: float = 15.0,
        max_tags: int = 10_000,
        page_size: int = TAGS_PAGE,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ) -> None:
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.insecure = frozenset(h.lower() for h in insecure)
        self.endpoints = {h.lower(): e for h, e in (endpoints or {}).items()}
        self.cache_ttl = cache_ttl
        self.max_tags = max_tags
        self.page_size = page_size
        self._clock = clock
        self._transport = Transport(self.session, timeout)
        self._auth = Authenticator(
            self._transport, DockerConfig(docker_config).for_host, clock, token_realms=token_realms
        )
        self._cache: OrderedDict[tuple[str, str], tuple[ResolvedImage, float]] = OrderedDict()
        self._released: OrderedDict[tuple[str, str], float | None] = OrderedDict()
        self._platforms: OrderedDict[tuple[str, str], tuple[str, ...] | None] = OrderedDict()
        self._documents: OrderedDict[tuple[str, str], dict[str, object] | None] = OrderedDict()
        self._lock = threading.Lock()

    # --- the port ----------------------------------------------------------------------------
    def resolve(self, image: str, tag: str, *, fresh: bool = False) -> ResolvedImage | None:
        repo = locate(image, self.insecure, self.endpoints)
        validate_tag(tag)
        if not fresh:
            cached = self._cached(repo.image, tag)
            if cached is not None:
                return cached
        found = self._resolve(repo, tag)
        if found is not None and self.cache_ttl > 0:
            self._remember(found)
        return found

    def exists(self, image: str, tag: str) -> bool:
        return self.resolve(image, tag) is not None

    def list_tags(self, image: str) -> tuple[str, ...]:
        repo = locate(image, self.insecure, self.endpoints)
        what = f"list tags of {repo.image}"
        url: str | None = f"{repo.api}/tags/list"
        params: dict[str, int] | None = {"n": self.page_size}
        tags: list[str] = []
        while url is not None:
            resp = self._send(repo, "GET", url, kind="tags", what=what, params=params)
            if resp.status_code == 404:
                raise NotFound(f"{what}: repository {repo.path} not found in {repo.host}")
            if resp.status_code != 200:
                raise error_for(resp, what, repo.host, self._auth.credential(repo).source)
            tags.extend(_tags_of(resp.body, what))
            if len(tags) > self.max_tags:
                raise ValidationFailed(
                    f"{what}: more than {self.max_tags} tags (MANIFEST_BOT_REGISTRY_MAX_TAGS)"
                )
            url, params = _next_page(repo, resp, what), None
        return tuple(tags)

    def released(self, image: str, digest: str) -> float | None:
        repo = locate(image, self.insecure, self.endpoints)
        validate_digest(digest)
        return _memo(
            self._lock,
            self._released,
            (repo.image, digest),
            _MAX_CACHED,
            lambda: self._released_of(repo, digest),
        )

    def platforms(self, image: str, digest: str) -> tuple[str, ...] | None:
        repo = locate(image, self.insecure, self.endpoints)
        validate_digest(digest)
        return _memo(
            self._lock,
            self._platforms,
            (repo.image, digest),
            _MAX_CACHED,
            lambda: self._platforms_of(repo, digest),
        )

    def _platforms_of(self, repo: Repository, digest: str) -> tuple[str, ...] | None:
        document = self._manifest(repo, digest)
        if document is None:
            return None
        if _is_index(document):
            entries = document.get("manifests")
            described = (
                [e.get("platform") for e in entries if isinstance(e, dict)]
                if isinstance(entries, list)
                else []
            )
            found = (platform_of(p) for p in described if isinstance(p, dict))
            return tuple(dict.fromkeys(p for p in found if p is not None))
        config = document.get("config")
        blob = _valid_digest(config.get("digest")) if isinstance(config, dict) else None
        body = self._config(repo, blob) if blob is not None else None
        one = platform_of(_json_object(body)) if body is not None else None
        return (one,) if one is not None else ()

    # --- release times -------------------------------------------------------------------------
    def _released_of(self, repo: Repository, digest: str) -> float | None:
        document = self._manifest(repo, digest)
        if document is None:
            return None
        found = annotated_created(document)
        if found is None and _is_index(document):
            child = _image_of(document)
            document = self._manifest(repo, child) if child is not None else None
            found = annotated_created(document) if document is not None else None
        if found is not None or document is None:
            return found
        config = document.get("config")
        blob = _valid_digest(config.get("digest")) if isinstance(config, dict) else None
        body = self._config(repo, blob) if blob is not None else None
        return config_created(body) if body is not None else None

    def _manifest(self, repo: Repository, digest: str) -> dict[str, object] | None:
        """The manifest or index at ``digest``, parsed (kept: a digest's content never changes)."""
        return _memo(
            self._lock,
            self._documents,
            (repo.image, digest),
            _MAX_DOCUMENTS,
            lambda: self._get_manifest(repo, digest),
        )

    def _get_manifest(self, repo: Repository, digest: str) -> dict[str, object] | None:
        what = f"read {repo.image}@{digest}"
        url = f"{repo.api}/manifests/{digest}"
        resp = self._send(repo, "GET", url, kind="manifest", what=what, headers={"Accept": ACCEPT})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise error_for(resp, what, repo.host, self._auth.credential(repo).source)
        try:
            document = json.loads(resp.body)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    def _config(self, repo: Repository, blob: str) -> bytes | None:
        """An image config blob, if the registry serves it itself (None: redirected elsewhere,
        too large, or gone: it says nothing usable)."""
        what = f"read the config {blob} of {repo.image}"
        try:
            resp = self._send(
                repo, "GET", f"{repo.api}/blobs/{blob}", kind="blob", what=what, limit=MAX_CONFIG_BYTES
            )
        except Transient:
            raise
        except BotError:  # redirected to another host, or too large: the registry says nothing usable
            return None
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise error_for(resp, what, repo.host, self._auth.credential(repo).source)
        return resp.body

    # --- resolving -----------------------------------------------------------------------------
    def _resolve(self, repo: Repository, tag: str) -> ResolvedImage | None:
        what = f"resolve {repo.image}:{tag}"
        url = f"{repo.api}/manifests/{tag}"
        head = self._send(repo, "HEAD", url, kind="manifest", what=what, headers={"Accept": ACCEPT})
        if head.status_code == 404:
            return None
        if head.status_code == 200:
            digest = _valid_digest(head.headers.get("Docker-Content-Digest"))
            if digest is not None:
                return ResolvedImage(repo.image, tag, digest, _media_type(head))
        elif head.status_code not in (400, 405, 501):  # registries that do not answer HEAD get a GET
            raise error_for(head, what, repo.host, self._auth.credential(repo).source)
        return self._resolve_by_get(repo, tag, url, what)

    def _resolve_by_get(self, repo: Repository, tag: str, url: str, what: str) -> ResolvedImage | None:
        resp = self._send(repo, "GET", url, kind="manifest", what=what, headers={"Accept": ACCEPT})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise error_for(resp, what, repo.host, self._auth.credential(repo).source)
        media_type = _media_type(resp)
        header = _valid_digest(resp.headers.get("Docker-Content-Digest"))
        digest = header or f"sha256:{hashlib.sha256(resp.body).hexdigest()}"
        return ResolvedImage(repo.image, tag, digest, media_type)

    # --- sending with authentication ------------------------------------------------------------
    def _send(
        self,
        repo: Repository,
        method: str,
        url: str,
        *,
        kind: str,
        what: str,
        headers: dict[str, str] | None = None,
        params: dict[str, int] | None = None,
        limit: int = MAX_BODY_BYTES,
    ) -> Answer:
        """One request, authorized as the registry wants; after a 401 it learns the challenge and
        tries once more with fresh credentials (a second 401 is the caller's AuthError)."""
        base = dict(headers or {})
        known = self._auth.known(repo)
        auth = self._auth.headers(repo)
        resp = self._transport.send(
            method, url, host=repo.api_host, kind=kind, what=what, headers={**base, **auth}, params=params,
            limit=limit,
        )  # fmt: skip
        if resp.status_code != 401:
            if not known and resp.status_code < 400:
                self._auth.open(repo)
            return resp
        auth = self._auth.challenged(repo, resp.headers.get("WWW-Authenticate"), what)
        return self._transport.send(
            method, url, host=repo.api_host, kind=kind, what=what, headers={**base, **auth}, params=params,
            limit=limit,
        )  # fmt: skip

    # --- cache -------------------------------------------------------------------------------
    def _cached(self, image: str, tag: str) -> ResolvedImage | None:
        with self._lock:
            hit = self._cache.get((image, tag))
            if hit is None:
                return None
            if hit[1] <= self._clock():
                del self._cache[(image, tag)]
                return None
            return hit[0]

    def _remember(self, found: ResolvedImage) -> None:
        with self._lock:
            self._cache[(found.image, found.tag)] = (found, self._clock() + self.cache_ttl)
            self._cache.move_to_end((found.image, found.tag))
            while len(self._cache) > _MAX_CACHED:
                self._cache.popitem(last=False)


def _valid_digest(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return validate_digest(value.strip())
    except InvalidReference:
        return None


def _memo(
    lock: threading.Lock,
    cache: OrderedDict[tuple[str, str], T],
    key: tuple[str, str],
    limit: int,
    make: Callable[[], T],
) -> T:
    """``cache[key]``, made by ``make`` (outside the lock) when absent; the oldest go past ``limit``.
    What ``make`` raises is not kept."""
    with lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = make()
    with lock:
        cache[key] = value
        while len(cache) > limit:
            cache.popitem(last=False)
    return value


def _is_index(document: dict[str, object]) -> bool:
    return document.get("mediaType") in _INDEX_TYPES or "manifests" in document


def _json_object(body: bytes) -> dict[str, object]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _image_of(index: dict[str, object]) -> str | None:
    """The digest of an index's linux/amd64 image, else of its first image (attestation
    manifests, platform ``unknown/unknown``, are no image)."""
    entries = index.get("manifests")
    images: list[tuple[str, str]] = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or _valid_digest(entry.get("digest")) is None:
            continue
        platform = entry.get("platform") if isinstance(entry.get("platform"), dict) else {}
        os_arch = f"{platform.get('os', '')}/{platform.get('architecture', '')}"
        if os_arch != "unknown/unknown":
            images.append((os_arch, str(entry["digest"])))
    preferred = [d for p, d in images if p == "linux/amd64"]
    return (preferred or [d for _, d in images] or [None])[0]


def _media_type(resp: Answer) -> str | None:
    value = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
    return value or None


def _tags_of(body: bytes, what: str) -> list[str]:
    try:
        data = json.loads(body)
    except ValueError:
        raise ValidationFailed(f"{what}: the registry answered something that is not JSON") from None
    tags = data.get("tags") if isinstance(data, dict) else None
    if tags is None:
        return []
    if not isinstance(tags, list):
        raise ValidationFailed(f"{what}: 'tags' is not a list")
    return [t for t in tags if isinstance(t, str) and t]


def _next_page(repo: Repository, resp: Answer, what: str) -> str | None:
    """The ``Link: <…>; rel="next"`` URL, resolved against the registry; only on the same origin."""
    link = resp.links.get("next", {}).get("url")
    if not link:
        return None
    url = urljoin(repo.origin + "/", link)
    if origin_of(url) != repo.origin.lower():
        netloc = urlsplit(url).netloc[:100]
        raise ValidationFailed(f"{what}: the next page is on another host ({netloc}); refused")
    return url
