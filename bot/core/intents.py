"""Update intents: "image X should be at tag T (ordering key K) in repo R, branch B, group G" (pure).

The planner produces them, the intent store merges them per group (highest ordering key wins per
target), and the PR lifecycle service applies them to the base files. They round-trip through JSON.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.core.keys import GroupKey, TargetKey

PinMode = Literal["tag", "digest", "tag+digest"]

#: An ordering key compares only with keys of the same scheme for the same target.
#: Parts are ints or strings; see bot.core.versions for how each scheme builds one.
OrderingKey = tuple[int | str, ...]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an intent came from, for PR text and audit."""

    delivery_id: str | None = None
    source: str | None = None
    link: str | None = None  # CI run URL; for a promotion, the source PR's URL
    commit: str | None = None  # app-repo commit that was built
    app_repo: str | None = None  # app repo (owner/name, or its web URL) for a compare link
    received_at: str | None = None
    #: chat-ops: who asked (promote, rollback), from which PR, and (promote) from which environment
    actor: str | None = None
    from_pr: int | None = None
    from_environment: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateIntent:
    forge: str  # name of a forge in the config (e.g. "github", "gitlab", "local")
    repo: str  # manifest repo: owner/name, GitLab path_with_namespace, or local repo name
    base_branch: str
    group: str  # PR group name, unique within repo+base branch
    environment: str | None
    files: tuple[str, ...]  # paths or globs, relative to the repo root; () = auto-discovery
    image: str  # canonical image name, also the default selector in files
    tag: str | None
    digest: str | None
    ordering_scheme: str  # semver | numeric | lexical | run-number | push-time
    ordering_key: OrderingKey
    pin: PinMode = "tag"
    marker: str | None = None  # select by Flux/own setter marker instead of by image name
    path: str | None = None  # select one scalar by dotted path (with doc) instead of by image
    doc: int | None = None
    rollback: bool = False  # set only by chat-ops rollback: the one path allowed to go backwards
    #: may replace a version of another ordering scheme (policy ``allow_scheme_change``, or an
    #: explicit ``ordering``); keys of one scheme still never go down (``bot.core.merge``)
    allow_scheme_change: bool = False
    #: a marker/path value naming another image gets this image's name (promotion across registries)
    rename: bool = False
    #: auto-discovery (no ``files``) searches files matching these globs (() = every YAML file) ...
    discover_include: tuple[str, ...] = ()
    #: ... and never files matching these (applies to ``files`` globs too)
    exclude: tuple[str, ...] = ()
    #: ask the image's registry before merging: the tag must exist (policy ``verify``;
    #: ``bot.services.registry_gate``, which also fills a digest the pin mode needs)
    verify: bool = False
    origin: Origin = field(default_factory=Origin)
    #: the Docker variant of the tag (``alpine`` for 7.4.2-alpine, "" for a plain version; None:
    #: not a version, or variants off): intents of different variants are different targets, and
    #: each is written only where the manifest has a tag of its variant
    variant: str | None = None
    #: ``pr.separate_major``: the version's major, and its lane. "minor" (the target's own group):
    #: each major is its own target, written only where the reference's tag has that major;
    #: "major" (the group ``<group>-major``): written only where the reference's major is lower
    major: int | None = None
    lane: Literal["minor", "major"] | None = None
    #: ``policy.min_release_age`` in seconds (0: none): the registry gate holds a younger tag back
    min_age_s: float = 0.0
    #: ``policy.platforms``: the registry gate admits the tag only when its image lists them all
    platforms: tuple[str, ...] = ()

    @property
    def group_key(self) -> str:
        """Identifies one PR: forge, repo, base branch, group (``bot.core.keys.GroupKey``)."""
        return str(GroupKey(self.forge, self.repo, self.base_branch, self.group))

    @property
    def target_key(self) -> str:
        """Identifies one target within a group; intents for the same target compete."""
        selector = self.marker or (f"{self.doc or 0}:{self.path}" if self.path else "")
        major = self.major if self.lane == "minor" else None
        return str(TargetKey(self.image, selector, self.files, self.variant or "", major))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("files", "discover_include", "exclude", "platforms"):
            data[key] = list(getattr(self, key))
        data["ordering_key"] = list(self.ordering_key)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UpdateIntent:
        data = {k: v for k, v in data.items() if k in _FIELDS}  # "pr": intents stored before 17
        for key in ("files", "discover_include", "exclude", "platforms"):
            data[key] = tuple(data.get(key, ()))
        data["ordering_key"] = tuple(data.get("ordering_key", ()))
        origin = data.get("origin") or {}
        data["origin"] = Origin(**{k: v for k, v in origin.items() if k in _ORIGIN_FIELDS})
        return cls(**data)


_FIELDS = frozenset(f.name for f in dataclasses.fields(UpdateIntent))
_ORIGIN_FIELDS = frozenset(f.name for f in dataclasses.fields(Origin))


@dataclass(frozen=True, slots=True)
class Skip:
    """Why an event produced no intent for a rule/target (shown by ``explain`` and in logs)."""

    reason: str
    rule: str | None = None
    target: str | None = None
    #: the image and tag the event offered, when the skip is about one (status page, outcomes)
    image: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class PlanResult:
    intents: tuple[UpdateIntent, ...] = ()
    skips: tuple[Skip, ...] = ()
