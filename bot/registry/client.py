"""``RegistryClient``: the ``bot.core.ports.Registry`` port over the OCI Distribution HTTP API.

- **resolve** ``image:tag`` → digest: ``HEAD /v2/<path>/manifests/<tag>`` with an ``Accept`` for
  the OCI index and manifest and the Docker manifest list and v2 manifest; the digest from
  ``Docker-Content-Digest``. When the HEAD answer has no (valid) digest, or the registry does not
  answer HEAD, a GET of the same URL, whose digest is the header or else the SHA-256 of the body.
  404 means the tag (or the repository) does not exist: ``None``. A found digest is cached per
  (image, tag) for ``cache_ttl`` seconds; an absent tag is never cached (a push may land any time).
- **config_media_type** of ``image@digest``: a ``GET`` of the manifest, its ``config.mediaType``
  (what tells a Helm chart from an image), remembered per digest.
- **released** ``image@digest`` → when it was built: ``GET /v2/<path>/manifests/<digest>``; its
  ``org.opencontainers.image.created`` annotation, else (an index: its linux/amd64 manifest, else
  its first, one more GET) the config blob's ``created`` (``GET /v2/<path>/blobs/<digest>``, at
  most ``configs.MAX_CONFIG_BYTES``, followed to object storage as ``image_config`` does, its
  SHA-256 checked); without one the caller falls back to when it first saw the tag. Answers
  are cached per digest (they never change).
- **platforms** ``image@digest`` → the platforms it is built for: the same manifest GET (an
  index lists them; one request), or a single image's config blob. Cached per digest; the parsed
  manifest is kept (at most ``_MAX_DOCUMENTS``) so ``released`` and ``platforms`` of one digest
  cost one manifest request between them.
- **list_tags**: ``GET /v2/<path>/tags/list?n=1000``, following ``Link: <…>; rel="next"`` on the
  same registry only, refusing more than ``max_tags`` tags.
- **image_config** ``image:tag`` → its config's labels: ``GET`` of the manifest (for an index,
  then of one platform's manifest: ``configs.pick_platform``), then ``GET /v2/<path>/blobs/<digest>``
  of its config (at most ``configs.MAX_CONFIG_BYTES``, its SHA-256 checked). A redirect of that
  blob to object storage (GHCR, Docker Hub) is followed without credentials, to ``https`` DNS
  names only (``transport``); not cached here (its caller caches).
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
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from bot.core.images import DIGEST_RE, MANIFEST_MEDIA_TYPES, validate_digest, validate_tag
from bot.core.platforms import platform_of
from bot.core.ports import ImageConfig, ResolvedImage
from bot.core.release_age import annotated_created, config_created
from bot.errors import BotError, InvalidReference, NotFound, Transient, ValidationFailed
from bot.registry import configs
from bot.registry.auth import Authenticator
from bot.registry.credentials import DockerConfig
from bot.registry.names import Repository, locate
from bot.registry.transport import MAX_BODY_BYTES, Answer, Transport, error_for, origin_of

ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
TAGS_PAGE = 1000
_MAX_CACHED = 10_000
#: an image config is a few KiB; more is not read for its ``created``
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
        self._configs: dict[str, str | None] = {}
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

    def config_media_type(self, image: str, digest: str) -> str | None:
        """The ``config.mediaType`` of the manifest ``image@digest`` (a Helm chart's is
        ``application/vnd.cncf.helm.config.v1+json``); None for an index, which has no config.
        Remembered per digest (a digest's manifest never changes)."""
        repo = locate(image, self.insecure, self.endpoints)
        validate_digest(digest)
        with self._lock:
            if digest in self._configs:
                return self._configs[digest]
        what = f"read the manifest of {repo.image}@{digest}"
        resp = self._manifest_answer(repo, digest, what)
        if resp.status_code != 200:
            raise self._error(resp, repo, what)
        media_type = _config_media_type(resp.body, what)
        with self._lock:
            self._configs[digest] = media_type
            while len(self._configs) > _MAX_CACHED:
                self._configs.pop(next(iter(self._configs)))
        return media_type

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
                raise self._error(resp, repo, what)
            tags.extend(_tags_of(resp.body, what))
            if len(tags) > self.max_tags:
                raise ValidationFailed(
                    f"{what}: more than {self.max_tags} tags (MANIFEST_BOT_REGISTRY_MAX_TAGS)"
                )
            url, params = _next_page(repo, resp, what), None
        return tuple(tags)

    def image_config(self, image: str, reference: str) -> ImageConfig | None:
        repo = locate(image, self.insecure, self.endpoints)
        if not DIGEST_RE.fullmatch(reference):
            validate_tag(reference)
        what = f"read the config of {repo.image}:{reference}"
        found = self._manifest(repo, reference, what)
        if found is None:
            return None
        media_type, manifest = found
        platform = None
        if configs.is_index(media_type, manifest):
            entry = configs.pick_platform(manifest, what)
            platform = entry.platform
            found = self._manifest(repo, entry.digest, what)
            if found is None:
                raise ValidationFailed(f"{what}: the index names {entry.digest}, which the registry lacks")
            media_type, manifest = found
        config = configs.config_of(manifest, what)
        resp = self._config_answer(repo, config.digest, what)
        if resp.status_code != 200:
            raise self._error(resp, repo, what)
        if not _hashes_to(resp.body, config.digest):
            raise ValidationFailed(f"{what}: the config blob does not match its digest")
        labels = configs.labels_of(config.media_type, configs.parse_json(resp.body, what))
        return ImageConfig(repo.image, reference, labels, platform)

    def _manifest(
        self, repo: Repository, reference: str, what: str
    ) -> tuple[str | None, dict[str, Any]] | None:
        resp = self._manifest_answer(repo, reference, what)
        if resp.status_code == 404:
            return None
        return _media_type(resp), configs.parse_json(resp.body, what)

    def _manifest_answer(self, repo: Repository, reference: str, what: str) -> Answer:
        """``GET`` of the manifest or index at ``reference``: its answer, 200 or 404 (any other is
        raised as its error)."""
        url = f"{repo.api}/manifests/{reference}"
        resp = self._send(repo, "GET", url, kind="manifest", what=what, headers={"Accept": ACCEPT})
        if resp.status_code not in (200, 404):
            raise self._error(resp, repo, what)
        return resp

    def _config_answer(self, repo: Repository, blob: str, what: str) -> Answer:
        """``GET`` of a config blob (at most ``configs.MAX_CONFIG_BYTES``), followed to the object
        storage the registry redirects blobs to, without credentials (``transport``)."""
        url = f"{repo.api}/blobs/{blob}"
        return self._send(
            repo, "GET", url, kind="blob", what=what, limit=configs.MAX_CONFIG_BYTES, storage_redirects=True
        )

    def _error(self, resp: Answer, repo: Repository, what: str) -> BotError:
        return error_for(resp, what, repo.host, self._auth.credential(repo).source)

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
        document = self._document(repo, digest)
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
        document = self._document(repo, digest)
        if document is None:
            return None
        found = annotated_created(document)
        if found is None and _is_index(document):
            child = _image_of(document)
            document = self._document(repo, child) if child is not None else None
            found = annotated_created(document) if document is not None else None
        if found is not None or document is None:
            return found
        config = document.get("config")
        blob = _valid_digest(config.get("digest")) if isinstance(config, dict) else None
        body = self._config(repo, blob) if blob is not None else None
        return config_created(body) if body is not None else None

    def _document(self, repo: Repository, digest: str) -> dict[str, object] | None:
        """The manifest or index at ``digest``, parsed (kept: a digest's content never changes)."""
        return _memo(
            self._lock,
            self._documents,
            (repo.image, digest),
            _MAX_DOCUMENTS,
            lambda: self._get_manifest(repo, digest),
        )

    def _get_manifest(self, repo: Repository, digest: str) -> dict[str, object] | None:
        resp = self._manifest_answer(repo, digest, f"read {repo.image}@{digest}")
        if resp.status_code == 404:
            return None
        try:
            document = json.loads(resp.body)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    def _config(self, repo: Repository, blob: str) -> bytes | None:
        """An image config blob, from the registry or the object storage it redirects blobs to
        (as ``image_config``: no credentials there, the bytes kept only when they hash to the
        digest); None: too large, gone or not what the digest names: it says nothing usable."""
        what = f"read the config {blob} of {repo.image}"
        try:
            resp = self._config_answer(repo, blob, what)
        except Transient:
            raise
        except BotError:  # a redirect it may not follow, or too large: nothing usable
            return None
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._error(resp, repo, what)
        return resp.body if _hashes_to(resp.body, blob) else None

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
            raise self._error(head, repo, what)
        return self._resolve_by_get(repo, tag, url, what)

    def _resolve_by_get(self, repo: Repository, tag: str, url: str, what: str) -> ResolvedImage | None:
        resp = self._send(repo, "GET", url, kind="manifest", what=what, headers={"Accept": ACCEPT})
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._error(resp, repo, what)
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
        storage_redirects: bool = False,
    ) -> Answer:
        """One request, authorized as the registry wants; after a 401 it learns the challenge and
        tries once more with fresh credentials (a second 401 is the caller's AuthError)."""
        base = dict(headers or {})
        known = self._auth.known(repo)
        auth = self._auth.headers(repo)
        resp = self._transport.send(
            method,
            url,
            host=repo.api_host,
            kind=kind,
            what=what,
            headers={**base, **auth},
            params=params,
            limit=limit,
            storage_redirects=storage_redirects,
        )
        if resp.status_code != 401:
            if not known and resp.status_code < 400:
                self._auth.open(repo)
            return resp
        auth = self._auth.challenged(repo, resp.headers.get("WWW-Authenticate"), what)
        return self._transport.send(
            method,
            url,
            host=repo.api_host,
            kind=kind,
            what=what,
            headers={**base, **auth},
            params=params,
            limit=limit,
            storage_redirects=storage_redirects,
        )

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


def _hashes_to(body: bytes, digest: str) -> bool:
    return f"sha256:{hashlib.sha256(body).hexdigest()}" == digest


def _media_type(resp: Answer) -> str | None:
    value = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
    return value or None


def _config_media_type(body: bytes, what: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        raise ValidationFailed(f"{what}: the registry answered something that is not JSON") from None
    config = data.get("config") if isinstance(data, dict) else None
    media_type = config.get("mediaType") if isinstance(config, dict) else None
    return media_type if isinstance(media_type, str) else None


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
