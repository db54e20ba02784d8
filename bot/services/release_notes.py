"""Release notes for the PR body: for each image the PR changes, where it was built from, the
compare link between its old and new revisions and the release of its new version.

For each changed image (at most ``MAX_IMAGES`` per PR):

1. its new and old versions' config labels (``org.opencontainers.image.source``, ``.revision``,
   ``.version``), through the registry client (``ConfigReader``);
2. the source's forge: a configured GitHub or GitLab forge whose web root is the label's origin
   (``Releases.web_url``). A source on any other host is never asked, so no credential travels
   there and no request goes to a host the operator did not configure;
3. that forge's release of the new version (``org.opencontainers.image.version``, else the tag),
   by tag: ``1.4.0`` then ``v1.4.0``, so at most two forge requests per image version.

Both are cached in Redis per (image, version) (``bot.store.release_notes``): a cached version
costs no request. Nothing here fails a PR: a missing label, a config or a repository that cannot
be read, or a source on a foreign host leaves that image's notes out, and ``Collected.left_out``
says why (the reconcile records it on the group: status page, API, ``manifest-bot status``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.core.images import DIGEST_RE
from bot.core.intents import UpdateIntent
from bot.core.marker import tag_of
from bot.core.ports import ConfigReader, Forge, ImageConfig, Registry, Release, Releases
from bot.core.release_notes import (
    MAX_RELEASE_CHARS,
    ImageNotes,
    SourceRepo,
    revision,
    source_repo,
    tag_candidates,
)
from bot.core.render import Row, short_image
from bot.errors import BotError
from bot.store.release_notes import NotesCache

log = logging.getLogger(__name__)

MAX_IMAGES = 20
#: how long a config the registry would not give, or a release a forge could not answer for
#: (timeouts, 5xx, rate limits), is not asked for again
ERROR_TTL_S = 300
#: release text kept in the cache: what the body shows, and a little more to say it was cut
MAX_STORED_CHARS = MAX_RELEASE_CHARS + 200
SOURCE_LABEL = "org.opencontainers.image.source"


@dataclass(frozen=True, slots=True)
class Collected:
    notes: tuple[ImageNotes, ...] = ()
    #: why an image has no notes, or only part of them (one line per image)
    left_out: tuple[str, ...] = ()


#: what the PR lifecycle asks: the written intents and the diff's rows → the notes
NotesSource = Callable[[Sequence[UpdateIntent], Sequence[Row]], Collected]


def no_notes(_intents: Sequence[UpdateIntent], _rows: Sequence[Row]) -> Collected:
    return Collected()


@dataclass(frozen=True, slots=True)
class _Change:
    image: str
    new: str  # tag (or digest) the PR writes
    old: str | None  # what the base had


class _Skip(Exception):
    """This image gets no notes; the message says why."""


class ReleaseNotes:
    """``ReleaseNotes(registry, forges, cache)`` is a ``NotesSource``. ``forges`` gives the
    configured forges now (the routing config may change)."""

    def __init__(self, registry: Registry, forges: Callable[[], Iterable[Forge]], cache: NotesCache) -> None:
        self.registry = registry
        self.forges = forges
        self.cache = cache

    def __call__(self, intents: Sequence[UpdateIntent], rows: Sequence[Row]) -> Collected:
        forges = [f for f in self.forges() if f.info.kind in ("github", "gitlab") and isinstance(f, Releases)]
        if not forges:  # no forge to read releases from: nothing to look up, nothing to say
            return Collected()
        changes = _changes(intents, rows)
        notes: list[ImageNotes] = []
        left_out: list[str] = []
        for change in changes[:MAX_IMAGES]:
            what = f"{short_image(change.image)} {_shown(change.new)}"
            try:
                note, problem = self._notes(change, forges)
            except _Skip as skip:
                left_out.append(f"{what}: {skip}")
                continue
            notes.append(note)
            if problem:
                left_out.append(f"{what}: {problem}")
        left_out += [
            f"{short_image(c.image)} {_shown(c.new)}: not looked up (more than {MAX_IMAGES} images in one PR)"
            for c in changes[MAX_IMAGES:]
        ]
        return Collected(tuple(notes), tuple(left_out))

    # --- one image ---------------------------------------------------------------------------------
    def _notes(self, change: _Change, forges: Sequence[Forge]) -> tuple[ImageNotes, str | None]:
        config = self._config(change.image, change.new)
        source = config.source
        if not source:
            raise _Skip(f"its config has no {SOURCE_LABEL} label")
        repo, forge = _forge_for(source, forges)
        old = self._old_revision(change, repo)
        version = config.version or change.new
        release, problem = self._release(change.image, version, repo, forge)
        note = ImageNotes(change.image, _shown(change.new), repo, old, revision(config.revision), release)
        if note.new_revision is None:
            problem = "; ".join(p for p in (problem, "no revision label: no compare link") if p)
        elif old is None and change.old is not None:
            problem = "; ".join(
                p for p in (problem, "the old version's revision is unknown: no compare link") if p
            )
        return note, problem

    def _config(self, image: str, reference: str) -> ImageConfig:
        if not isinstance(self.registry, ConfigReader):
            raise _Skip("the registry client cannot read image configs")
        cached = self.cache.get("config", image, reference)
        if cached is not None and isinstance(cached.get("problem"), str):
            raise _Skip(cached["problem"])
        if cached is not None and isinstance(cached.get("labels"), dict):
            return ImageConfig(image, reference, {str(k): str(v) for k, v in cached["labels"].items()})
        try:
            found = self.registry.image_config(image, reference)
        except BotError as exc:  # remembered a few minutes: an unreachable registry is not asked every sync
            problem = f"could not read its config ({exc.message})"
            self.cache.put("config", (image, reference), {"problem": problem}, ttl_s=ERROR_TTL_S)
            raise _Skip(problem) from None
        if found is None:
            raise _Skip("the registry does not have it")
        self.cache.put("config", (image, reference), {"labels": dict(found.labels)})
        return found

    def _old_revision(self, change: _Change, repo: SourceRepo) -> str | None:
        if change.old is None:
            return None
        try:
            config = self._config(change.image, change.old)
        except _Skip:
            return None
        same = config.source and source_repo(config.source, repo.kind, repo.origin) == repo
        return revision(config.revision) if same else None

    def _release(
        self, image: str, version: str, repo: SourceRepo, forge: Releases
    ) -> tuple[Release | None, str | None]:
        tags = tag_candidates(version)
        if not tags:
            return None, f"its version {version!r} names no git tag"
        cached = self.cache.get("release", image, version)
        if cached is not None and cached.get("repo") == repo.web:
            return _release_of(cached), cached.get("problem")
        try:
            found = forge.release(repo.path, tags)
        except BotError as exc:  # unreadable: asked again in an hour; unreachable: in five minutes
            problem = f"could not read the releases of {repo.path} ({exc.message})"
            ttl = None if exc.permanent else ERROR_TTL_S
            self.cache.put(
                "release", (image, version), {"repo": repo.web, "problem": problem}, miss=True, ttl_s=ttl
            )
            return None, problem
        if found is None:
            problem = f"{repo.path} has no release {' or '.join(tags)}"
            self.cache.put("release", (image, version), {"repo": repo.web, "problem": problem}, miss=True)
            return None, problem
        found = Release(found.tag, found.name[:200], found.body[:MAX_STORED_CHARS], found.url)
        stored = {"repo": repo.web, "release": [found.tag, found.name, found.body, found.url]}
        self.cache.put("release", (image, version), stored)
        return found, None


def _forge_for(source: str, forges: Sequence[Forge]) -> tuple[SourceRepo, Releases]:
    """The configured forge whose web root holds the repository ``source`` names."""
    for forge in forges:
        kind = forge.info.kind
        if kind in ("github", "gitlab") and isinstance(forge, Releases):
            repo = source_repo(source, kind, forge.web_url)
            if repo is not None:
                return repo, forge
    host = urlsplit(source.strip()[:300]).netloc[:100] or "no host"
    raise _Skip(f"its source ({host}) is no repository on a GitHub or GitLab forge the bot is configured for")


def _release_of(cached: dict[str, Any]) -> Release | None:
    raw = cached.get("release")
    if not isinstance(raw, list) or len(raw) != 4 or not all(isinstance(v, str) for v in raw):
        return None
    return Release(*raw)


def _shown(reference: str) -> str:
    return reference[:19] + "…" if DIGEST_RE.fullmatch(reference) else reference


def _reference(value: str) -> str | None:
    """The tag (else the digest) of a replaced scalar."""
    tag = tag_of(value)
    if tag is not None:
        return tag
    digest = value.rsplit("@", 1)[-1]
    return digest if DIGEST_RE.fullmatch(digest) else None


def _changes(intents: Sequence[UpdateIntent], rows: Sequence[Row]) -> list[_Change]:
    """Each (image, new version) the diff writes, once, with the version the base had."""
    changed = {r.image for r in rows}
    out: dict[tuple[str, str], _Change] = {}
    for intent in intents:
        new = intent.tag or intent.digest
        if intent.image not in changed or not new:
            continue
        old_value = next((r.old for r in rows if r.image == intent.image and r.old), None)
        old = _reference(old_value) if old_value else None
        out.setdefault((intent.image, new), _Change(intent.image, new, old if old != new else None))
    return sorted(out.values(), key=lambda c: (c.image, c.new))
