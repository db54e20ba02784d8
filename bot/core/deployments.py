"""Deployment reports (pure): what Flux or Argo CD says it applied, and what the bot says about it.

A ``DeploymentReported`` event names a cluster object, a revision (a commit of a manifest repo)
and a health. The routing config says which environment the object deploys
(``environments.<env>.deployments``); the deployments service finds the bot's merged PRs that
revision contains and tells each of them once per state change. This module holds the parts that
decide: reading a revision, ordering reports, the environment's recorded state, the PR comment.

Ordering: reports arrive late, twice and out of order. A report older (by the sender's own
timestamp) than the one recorded never moves the recorded state back; one at the same revision
and health only keeps its ``since``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.core.events import DeploymentReported

#: the longest message text a comment or the status page carries from a report
MAX_MESSAGE = 300
_SHA = r"[0-9a-fA-F]{40}"
#: ``main@sha1:<sha>`` (Flux ≥ 2.0), ``main/<sha>`` (older), ``sha1:<sha>`` or a bare sha
_REVISION = re.compile(rf"^(?:(?P<branch>.+?)(?:@sha1:|/))?(?:sha1:)?(?P<sha>{_SHA})$")


def revision_sha(label: str | None) -> str | None:
    """The commit sha a revision names (lower case); None when it names none (an OCI digest, a
    Helm chart version, nothing)."""
    match = _REVISION.match(label.strip()) if label else None
    return match.group("sha").lower() if match else None


def short_revision(label: str | None, sha: str | None) -> str:
    """``main@1a2b3c4`` for ``main@sha1:1a2b3c4…``; the short sha when no branch is named."""
    match = _REVISION.match(label.strip()) if label else None
    if match is None:
        return (sha or "?")[:7] if sha else (label or "an unknown revision")
    branch = match.group("branch")
    short = match.group("sha")[:7].lower()
    return f"{branch}@{short}" if branch else short


def parse_time(value: str) -> datetime:
    """An ISO 8601 timestamp (``Z`` or an offset) as an aware UTC datetime; ValueError otherwise."""
    stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).astimezone(UTC)


def iso(stamp: datetime) -> str:
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """A report's message on one line, at most ``limit`` characters (it reaches a PR comment)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_object(tool: str, obj: str) -> str:
    """``Kustomization flux-system/apps-dev`` or ``Application shop-dev``."""
    if tool == "flux":
        kind, _, rest = obj.partition("/")
        return f"{kind} {rest}"
    return f"Application {obj}"


# --- the environment's recorded state ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EnvState:
    """What the last report says an environment runs (status page, ``/api/groups``, promotion)."""

    environment: str
    tool: str
    object: str
    revision: str | None
    revision_label: str | None
    health: str
    reason: str
    message: str
    at: str  # the report's own timestamp
    since: str  # when this revision first had this health
    #: ``image:tag`` (or ``image@digest``) the environment runs, from the bot's PRs its revision
    #: contains (one per image)
    versions: tuple[str, ...] = ()
    #: the versions it last ran while reported healthy (a rollback goes back to these)
    healthy_versions: tuple[str, ...] = ()
    #: what automatic promotion from this environment does or waits for
    promotion: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["versions"] = list(self.versions)
        data["healthy_versions"] = list(self.healthy_versions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvState:
        names = set(cls.__dataclass_fields__)
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["versions"] = tuple(kwargs.get("versions", ()))
        kwargs["healthy_versions"] = tuple(kwargs.get("healthy_versions", ()))
        return cls(**kwargs)


def older(report: DeploymentReported, recorded_at: str | None) -> bool:
    """The report happened before the one recorded (so it must not move anything back)."""
    return recorded_at is not None and parse_time(report.at) < parse_time(recorded_at)


def next_state(environment: str, report: DeploymentReported, previous: EnvState | None) -> EnvState | None:
    """The environment's state after ``report``; None when the report is older than the recorded
    one (nothing changes)."""
    if previous is not None and older(report, previous.at):
        return None
    same = previous is not None and (previous.revision, previous.health) == (report.revision, report.health)
    carried = previous.versions if previous is not None else ()
    healthy = previous.healthy_versions if previous is not None else ()
    return EnvState(
        environment,
        report.tool,
        report.object,
        report.revision,
        report.revision_label,
        report.health,
        report.reason,
        one_line(report.message),
        report.at,
        previous.since if same and previous is not None else report.at,
        carried,
        carried if report.health == "healthy" else healthy,
        previous.promotion if previous is not None else None,
    )


def _image_of(version: str) -> str:
    """``registry:5000/shop/web`` of ``registry:5000/shop/web:1.2.0`` (or ``…@sha256:…``)."""
    name = version.partition("@")[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def with_versions(state: EnvState, versions: tuple[str, ...]) -> EnvState:
    """The state carrying ``versions`` too: one per image, the later one winning."""
    by_image = {_image_of(v): v for v in (*state.versions, *versions)}
    now = tuple(sorted(by_image.values()))
    return replace(
        state, versions=now, healthy_versions=now if state.health == "healthy" else state.healthy_versions
    )


def split_version(version: str) -> tuple[str, str | None, str | None]:
    """(image, tag, digest) of ``image:tag`` or ``image@digest``."""
    image = _image_of(version)
    rest = version[len(image) :]
    if rest.startswith("@"):
        return image, None, rest[1:]
    return image, rest[1:] or None, None


def rollback_to(state: EnvState) -> tuple[str, ...]:
    """The healthy versions of images the environment now runs at another version."""
    now = {_image_of(v): v for v in state.versions}
    return tuple(v for v in state.healthy_versions if now.get(_image_of(v), v) != v)


# --- what a PR is told ---------------------------------------------------------------------------
#: report healths a PR is told about (``progressing`` is only recorded: it would be noise)
TOLD = ("healthy", "failed")


def comment(environment: str, report: DeploymentReported, prefix: str) -> str:
    """The PR comment for a report of ``TOLD`` health."""
    what = describe_object(report.tool, report.object)
    at = short_revision(report.revision_label, report.revision)
    if report.health == "healthy":
        return f"✅ deployed to {environment} — {what} is healthy at {at}"
    message = one_line(report.message)
    why = f"{report.reason}: {message}" if message else report.reason
    return f"❌ {environment} failed — {why}; comment `{prefix} rollback` to go back ({what} at {at})"


def health_note(environment: str, state: EnvState | None) -> str | None:
    """What a person promoting from ``environment`` should know about its health (None: it is
    reported healthy)."""
    if state is None:
        return f"`{environment}` is not reported healthy yet (no deployment report)"
    if state.health == "healthy":
        return None
    at = short_revision(state.revision_label, state.revision)
    why = f"{state.health} at {at} since {state.since} ({state.reason})"
    return f"`{environment}` is not reported healthy: {why}"
