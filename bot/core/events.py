"""Normalised events (pure). Every webhook source parses into these and nothing else.

Events are frozen dataclasses with primitive fields so they round-trip through JSON (Redis, rq
job arguments, ``manifest-bot parse-webhook``) without loss: ``event_to_dict`` / ``event_from_dict``.
The JSON form carries ``kind`` plus the fields below, under these exact names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

#: CI statuses we normalise to; anything else from a vendor maps onto the nearest of these
CI_STATUSES = (
    "success",
    "failure",
    "cancelled",
    "skipped",
    "timed_out",
    "neutral",
    "action_required",
    "stale",
)


@dataclass(frozen=True, slots=True)
class ImagePushed:
    """A registry stored ``image:tag`` (and/or a digest). ``image`` is the canonical name."""

    kind: ClassVar[str] = "image-pushed"
    image: str
    tag: str | None
    digest: str | None
    source: str
    pushed_at: str | None = None  # ISO 8601, UTC


@dataclass(frozen=True, slots=True)
class CiFinished:
    """A CI run/pipeline finished for ``repo`` at commit ``sha``."""

    kind: ClassVar[str] = "ci-finished"
    forge: str  # github | gitlab | cdevents
    repo: str  # GitHub owner/name, GitLab path_with_namespace, CDEvents source without customData
    sha: str | None  # None: a CDEvents pipelinerun.finished names no commit (spec) and had no customData
    branch: str | None
    status: str  # one of CI_STATUSES
    run_id: int | str | None = None
    run_number: int | None = None
    workflow: str | None = None
    link: str | None = None
    tag: str | None = None  # a tag ref built by the run (GitLab ``tag: true`` pipelines, tag pushes)
    finished_at: str | None = None
    #: names of the run's jobs that succeeded, when the sender lists them (GitLab pipelines)
    jobs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Push:
    """A branch moved (manifest-repo base branches re-trigger reconcile)."""

    kind: ClassVar[str] = "push"
    forge: str
    repo: str
    ref: str  # full ref, refs/heads/main
    before: str
    after: str

    @property
    def branch(self) -> str | None:
        prefix = "refs/heads/"
        return self.ref[len(prefix) :] if self.ref.startswith(prefix) else None


@dataclass(frozen=True, slots=True)
class PrComment:
    """A comment on a pull/merge request (GitLab: ``pr_number`` is the MR ``iid``)."""

    kind: ClassVar[str] = "pr-comment"
    forge: str
    repo: str
    pr_number: int
    author: str
    body: str
    comment_id: int | str
    author_is_bot: bool = False
    installation_id: int | None = None
    #: when the forge says the comment was written, as the vendor sent it (ISO 8601 or GitLab's
    #: ``2015-05-17 18:21:36 UTC``); the command job refuses comments older than its replay window
    created_at: str | None = None


@dataclass(frozen=True, slots=True)
class PrClosed:
    kind: ClassVar[str] = "pr-closed"
    forge: str
    repo: str
    pr_number: int
    merged: bool
    head_branch: str
    base_branch: str | None = None
    closed_by: str | None = None
    merge_sha: str | None = None


@dataclass(frozen=True, slots=True)
class PrQueued:
    """A PR entered or left the forge's merge queue (GitHub merge queue, GitLab merge train).
    ``head_branch`` when the forge names it; else the PR is found by number among the groups on
    ``base_branch``."""

    kind: ClassVar[str] = "pr-queued"
    forge: str
    repo: str
    pr_number: int
    queued: bool
    queue: str  # "merge queue" (GitHub) or "merge train" (GitLab), as people see it
    head_branch: str | None = None
    base_branch: str | None = None
    reason: str | None = None  # why it left (GitHub's dequeue reason; GitLab's pipeline status)


@dataclass(frozen=True, slots=True)
class Installation:
    """A GitHub App was installed/removed or its repository selection changed."""

    kind: ClassVar[str] = "installation"
    action: str
    installation_id: int
    repos: tuple[str, ...] = field(default_factory=tuple)


#: a deployment report's health, normalised from Flux severity/reason and Argo CD sync/health
HEALTH = ("healthy", "progressing", "failed")


@dataclass(frozen=True, slots=True)
class DeploymentReported:
    """Flux or Argo CD says what it applied to a cluster and how it went (bot.core.deployments)."""

    kind: ClassVar[str] = "deployment-reported"
    tool: str  # flux | argocd
    #: Flux ``Kind/namespace/name`` of the involved object; Argo CD the Application name
    object: str
    revision: str | None  # the commit sha (lower-case hex) the report names, when it names one
    revision_label: str | None  # the revision as sent (``main@sha1:<sha>``)
    health: str  # one of HEALTH
    reason: str
    message: str
    at: str  # when it happened, ISO 8601 UTC as the sender stamped it


Event = ImagePushed | CiFinished | Push | PrComment | PrClosed | PrQueued | Installation | DeploymentReported

EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        ImagePushed,
        CiFinished,
        Push,
        PrComment,
        PrClosed,
        PrQueued,
        Installation,
        DeploymentReported,
    )
}


def event_to_dict(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": event.kind}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        data[f.name] = list(value) if isinstance(value, tuple) else value
    return data


def event_from_dict(data: dict[str, Any]) -> Event:
    try:
        cls = EVENT_TYPES[data["kind"]]
    except KeyError as exc:
        raise ValueError(f"unknown event kind {data.get('kind')!r}") from exc
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    if cls is Installation:
        kwargs["repos"] = tuple(kwargs.get("repos", ()))
    if cls is CiFinished:
        kwargs["jobs"] = tuple(kwargs.get("jobs", ()))
    return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook delivery: its id (vendor id or body hash), source and the events it carried."""

    id: str
    source: str
    received_at: str
    events: tuple[Event, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "received_at": self.received_at,
            "events": [event_to_dict(e) for e in self.events],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        return cls(
            id=data["id"],
            source=data["source"],
            received_at=data["received_at"],
            events=tuple(event_from_dict(e) for e in data["events"]),
        )
