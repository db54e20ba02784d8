"""The hidden marker at the end of every bot PR body: ``<!-- manifest-bot:{json} -->``.

It carries the group key and the state the bot last wrote: base and head sha, a fingerprint of the
desired state, the files it edited and those it carries for people, whether it is blocked, a digest
of the file contents, the versions the PR applies (image, target, old → new, digest), and the
labels, reviewers and assignees the bot gave it from the config (so a config change moves only
those, never a person's), and the group's people's decisions (``bot.core.kept``: pins, ignores,
hold, the versions chat-ops asked for, the comments whose commands ran). The bot
finds its PR again by it, tells "nothing changed" without reading a file, and chat-ops ``status``,
``promote`` and ``rollback`` read the versions here, never from the Markdown a person may reword.

Anyone who can edit the PR body can edit the marker, so most of it is a hint the bot checks
against the forge; the decisions block is read strictly (``bot.core.kept.read_decisions``) and,
when it is not exactly what the bot writes, refused whole: ``Marker.decisions`` is then None and
``Marker.refused`` says why. A marker longer than ``MAX_MARKER_CHARS`` is not read at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.images import DIGEST_RE, TAG_RE, canonical_name
from bot.core.intents import UpdateIntent
from bot.core.kept import Decisions, Refused, read_decisions

MARKER_NAME = "manifest-bot"
#: far above what the bot writes (its decisions block is bounded, its versions are the group's)
MAX_MARKER_CHARS = 256_000
_MARKER_RE = re.compile(r"<!-- manifest-bot:(\{.*?\}) -->", re.DOTALL)
_VERSION_FIELDS = ("image", "target", "old", "new", "digest")


@dataclass(frozen=True, slots=True)
class MarkedVersion:
    """One image version a PR applies."""

    image: str  # canonical name
    target: str  # the target key (``bot.core.keys.TargetKey``)
    old: str | None  # the tag the base had, when the edit replaced one
    new: str | None  # the tag the PR sets (None: a digest-only pin)
    digest: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {f: getattr(self, f) for f in _VERSION_FIELDS}

    @classmethod
    def from_dict(cls, data: object) -> MarkedVersion | None:
        """None for anything that is not a version (the body is text a person may edit)."""
        if not isinstance(data, dict) or not isinstance(data.get("image"), str):
            return None
        text = {f: v if isinstance(v := data.get(f), str) else None for f in _VERSION_FIELDS}
        return cls(data["image"], text["target"] or "", text["old"], text["new"], text["digest"])


@dataclass(frozen=True, slots=True)
class Marker:
    group: str
    state: str = "open"  # open | blocked
    base: str | None = None
    head: str | None = None
    fingerprint: str = ""
    files: tuple[str, ...] = ()
    carried: tuple[str, ...] = ()
    #: digest of the file contents the bot wrote (lets an update skip reading the branch back)
    content: str = ""
    versions: tuple[MarkedVersion, ...] = ()
    #: what the bot set from the config; None: not recorded (a PR opened before it was)
    labels: tuple[str, ...] | None = None
    reviewers: tuple[str, ...] | None = None
    assignees: tuple[str, ...] | None = None
    #: what people decided (None: no block, or a refused one)
    decisions: Decisions | None = None
    #: why the decisions block was refused (None: there was none, or it read as the bot wrote it)
    refused: str | None = None
    #: the base head the branch was last checked against, when the base moved on since ``base``
    #: and the branch was not rebuilt (``pr.rebase``); None: ``base`` is the base head
    checked: str | None = None
    #: how the last write reached the branch: "appended" (a commit on its head) or "regenerated"
    #: (rebuilt on the base); None: the PR was opened with it
    update: str | None = None
    #: files the base changed under the PR that ``pr.rebase: never`` left as they are
    conflicts: tuple[str, ...] = ()

    def tags(self) -> dict[str, tuple[str | None, str | None]]:
        """canonical image → (old tag, new tag) of the versions this PR applies."""
        out: dict[str, tuple[str | None, str | None]] = {}
        for version in self.versions:
            out.setdefault(version.image, (version.old, version.new))
        return out


def tag_of(value: str) -> str | None:
    """The tag of a scalar the engine replaced: a whole reference (``repo:tag[@digest]``) or a bare
    tag; None when it holds no tag (a digest only, a name, a placeholder)."""
    if DIGEST_RE.fullmatch(value):
        return None
    candidate = value.split("@", 1)[0].rsplit(":", 1)[-1] if ":" in value else value.split("@", 1)[0]
    return candidate if TAG_RE.fullmatch(candidate) else None


def versions_of(intents: Sequence[UpdateIntent], old_values: dict[str, str]) -> tuple[MarkedVersion, ...]:
    """What a PR applies: one entry per (image, target) of ``intents`` (ignores and pins already
    applied) whose image the diff changes. ``old_values`` maps each changed image to the first
    value the edit replaced for it ("" where a key was inserted)."""
    out: dict[tuple[str, str], MarkedVersion] = {}
    for intent in intents:
        if intent.image not in old_values:
            continue  # nothing of this image changes (the base already has it)
        image = canonical_name(intent.image)
        old = old_values[intent.image]
        out.setdefault(
            (image, intent.target_key),
            MarkedVersion(image, intent.target_key, tag_of(old) if old else None, intent.tag, intent.digest),
        )
    return tuple(out[k] for k in sorted(out))


def _json(data: object) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")  # never closes the comment early


def marker_prefix(group: str) -> str:
    """The stable start of a group's marker (what ``Forge.find_pr(marker=...)`` looks for)."""
    return f'<!-- {MARKER_NAME}:{{"group":{_json(group)}'


def render_marker(marker: Marker) -> str:
    data: dict[str, object] = {
        "group": marker.group,
        "state": marker.state,
        "base": marker.base,
        "head": marker.head,
        "fp": marker.fingerprint,
        "files": list(marker.files),
        "carried": list(marker.carried),
    }
    if marker.content:
        data["content"] = marker.content
    if marker.versions:
        data["versions"] = [v.to_dict() for v in marker.versions]
    for name in _PR_FIELDS:
        value = getattr(marker, name)
        if value is not None:
            data[name] = list(value)
    if marker.checked is not None and marker.checked != marker.base:
        data["checked"] = marker.checked
    if marker.update is not None:
        data["update"] = marker.update
    if marker.conflicts:
        data["conflicts"] = list(marker.conflicts)
    if marker.decisions is not None and not marker.decisions.empty:
        data["decisions"] = marker.decisions.fitted().to_dict()
    return f"<!-- {MARKER_NAME}:{_json(data)} -->"


_PR_FIELDS = ("labels", "reviewers", "assignees")


def _names(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(v for v in value if isinstance(v, str))


def parse_marker(body: str | None) -> Marker | None:
    """The marker in a PR body, or None when there is none or it is unreadable."""
    for match in _MARKER_RE.finditer(body or ""):
        if len(match.group(1)) > MAX_MARKER_CHARS:
            continue
        try:
            data = json.loads(match.group(1))
        except (ValueError, RecursionError):  # not JSON, an int too long to read, nested too deep
            continue
        if not isinstance(data, dict) or not isinstance(data.get("group"), str):
            continue
        versions = data.get("versions") if isinstance(data.get("versions"), list) else []
        decisions, refused = _decisions(data.get("decisions"), data["group"])
        return Marker(
            group=data["group"],
            state=str(data.get("state", "open")),
            base=data.get("base"),
            head=data.get("head"),
            fingerprint=str(data.get("fp", "")),
            files=tuple(data.get("files") or ()),
            carried=tuple(data.get("carried") or ()),
            content=str(data.get("content", "")),
            versions=tuple(v for raw in versions if (v := MarkedVersion.from_dict(raw)) is not None),
            labels=_names(data.get("labels")),
            reviewers=_names(data.get("reviewers")),
            assignees=_names(data.get("assignees")),
            decisions=decisions,
            refused=refused,
            checked=data["checked"] if isinstance(data.get("checked"), str) else None,
            update=data["update"] if data.get("update") in _UPDATES else None,
            conflicts=_names(data.get("conflicts")) or (),
        )
    return None


_UPDATES = ("appended", "regenerated")


def _decisions(raw: object, group: str) -> tuple[Decisions | None, str | None]:
    if raw is None:
        return None, None
    try:
        return read_decisions(raw, group), None
    except Refused as exc:
        return None, str(exc)


def marker_problem(body: str | None) -> str | None:
    """Why the bot reads no marker, or no decisions, from ``body`` that seems to carry one (for
    the log of whoever relies on it); None when it reads one as written, or there is none."""
    marker = parse_marker(body)
    if marker is not None:
        return f"its decisions were refused: {marker.refused}" if marker.refused else None
    if f"<!-- {MARKER_NAME}:{{" not in (body or ""):
        return None
    return f"its marker is unreadable or longer than {MAX_MARKER_CHARS} characters"


def without_marker(body: str) -> str:
    """``body`` as people read it: the hidden marker (JSON for the bot) taken out."""
    return _MARKER_RE.sub("", body)


def replace_marker(body: str, marker: Marker) -> str:
    """``body`` with its marker replaced by ``marker`` (appended when it has none)."""
    new = render_marker(marker)
    if _MARKER_RE.search(body):
        return _MARKER_RE.sub(lambda _m: new, body, count=1)
    return body.rstrip("\n") + "\n\n" + new + "\n"
