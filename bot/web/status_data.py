"""What the status page shows, read from Redis into plain dataclasses (no Flask here).

One ``collect`` call builds a :class:`StatusView`: recent deliveries with outcome and reason (and
what became of each image and target, with a link to the PR that carries it), every
known group with its PR, the versions it wants next to the versions its PR applies, its ignores,
pins, hold/blocked flags and last error, the rq queue depths and the failed jobs with their reason
(and, once their group later succeeded, why they are resolved).
Every section is bounded so the page stays cheap however much history Redis holds, and every text
field passes the one redaction (``bot.logs.redact``) before the page shows it: what the worker
stored is already redacted, and what rq stored (a failed job's exception) is redacted here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry

from bot.core.deployments import describe_object
from bot.core.events import Event
from bot.core.merge import Superseded
from bot.core.outcomes import TargetOutcome, summary
from bot.core.wanted import ignore_label, shown, standings
from bot.logs import redact
from bot.settings import Settings
from bot.store import failures
from bot.store.config_state import ConfigStateStore
from bot.store.deliveries import DeliveryRecord, DeliveryStore
from bot.store.deployments import DeploymentStore
from bot.store.due import DueSet
from bot.store.failures import FailedJob
from bot.store.groups import GroupRecord, GroupStore
from bot.store.intents import SUPERSEDED_KEEP, IntentStore
from bot.store.recovery import RecoveryStore
from bot.store.stream import DeliveryStream
from bot.store.waiting import WaitEntry, WaitingStore

MAX_GROUPS = 200
MAX_FAILED = 50
MAX_DELIVERIES = 50
_REF = re.compile(r"[0-9a-f]{32}")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """What became of one image and target of a delivery, and why (``bot.core.outcomes``)."""

    status: str  # accepted | held | pinned | superseded | skipped | waiting | done
    reason: str
    image: str = ""
    tag: str = ""
    group: str = ""  # group key
    group_name: str = ""
    target: str = ""  # the target's label (``forge:repo@branch/group``) when no group was reached
    pr_number: int | None = None  # the group's open PR now
    pr_url: str = ""  # its web page (http(s) only)


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: str
    source: str
    received_at: str
    outcome: str  # the record's status: queued | processed | failed | ignored
    reason: str
    events: str  # "image-pushed ×1, ci-finished ×2"
    ref: str = ""
    verdict: str = ""  # updated | nothing to do | held | … (empty until processed)
    outcomes: tuple[OutcomeRow, ...] = ()
    left_out: int = 0  # outcomes beyond the stored bound


@dataclass(frozen=True, slots=True)
class TargetRow:
    image: str
    files: str
    wanted: str  # tag[@digest] the group wants, "" when nothing is pending
    current: str  # tag[@digest] the open PR's branch applies, "" when none
    ignored: str  # the ignores that apply to this image, "" when none
    pinned: str  # pinned tag, "" when none


@dataclass(frozen=True, slots=True)
class GroupRow:
    key: str
    forge: str
    repo: str
    base_branch: str
    group: str
    environment: str
    pr_number: int | None
    head_branch: str
    hold: bool
    blocked: str
    last_error: str
    dirty: bool  # intents changed since the last reconcile
    targets: tuple[TargetRow, ...]
    ignores: tuple[str, ...] = ()  # every ignore of the group, "image: label"
    pins: tuple[str, ...] = ()  # every pin of the group, "image: tag[@digest]"
    #: versions not in their registry yet: "waiting for image:tag in registry until …: reason"
    waiting: tuple[str, ...] = ()
    #: what the manifest repo's own config file asks for and cannot have
    repo_file_problems: tuple[str, ...] = ()
    #: why images of its PR have no (or only part of their) release notes
    notes_left_out: tuple[str, ...] = ()
    #: its environment's schedule is closed: "waits for the schedule until <UTC time>", else ""
    schedule: str = ""
    #: the same instant, ISO 8601 UTC ("" when not waiting), for API clients
    waits_until: str = ""
    #: ``pr.limits`` keeps it from opening its PR: why and its place in line ("" when not)
    limited: str = ""


@dataclass(frozen=True, slots=True)
class QueueRow:
    name: str
    queued: int
    started: int
    scheduled: int
    failed: int


@dataclass(frozen=True, slots=True)
class FailedRow:
    id: str
    kind: str  # reconcile, commands, periodic, …
    function: str
    ended_at: str
    reason: str
    resolved: str = ""  # why it no longer matters (its group later succeeded), "" while it does


@dataclass(frozen=True, slots=True)
class PeriodicRow:
    """The last run of one periodic job (``bot.jobs.periodic``)."""

    name: str
    at: str
    outcome: str  # ok | error
    seconds: float
    result: str  # "key=n, …" of its counts
    error: str


@dataclass(frozen=True, slots=True)
class WebhookRow:
    """Is a forge's webhook reaching us? GitHub: the App's last recovery run; GitLab: one project's
    hook (``bot.services.recovery``)."""

    forge: str
    scope: str  # "App deliveries" or the GitLab project
    state: str  # ok | redelivered | error | failing | disabled | missing | unknown
    detail: str
    checked_at: str


@dataclass(frozen=True, slots=True)
class ConfigRow:
    """The routing config the workers run with, and the newest file when it was refused."""

    path: str = ""
    digest: str = ""  # "" until a worker reported one
    loaded_at: str = ""
    refused_digest: str = ""
    refused_at: str = ""
    problems: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.problems)


@dataclass(frozen=True, slots=True)
class EnvironmentRow:
    """What an environment runs, as its last deployment report says (``bot.core.deployments``)."""

    environment: str
    deployed_by: str  # ``Kustomization flux-system/apps-dev``, ``Application shop-dev``
    revision: str | None
    revision_label: str | None
    health: str
    reason: str
    message: str
    at: str
    since: str
    versions: tuple[str, ...] = ()
    promotion: str | None = None  # what automatic promotion from here does or waits for


@dataclass(frozen=True, slots=True)
class StatusView:
    deliveries: tuple[DeliveryRow, ...] = ()
    groups: tuple[GroupRow, ...] = ()
    queues: tuple[QueueRow, ...] = ()
    failed: tuple[FailedRow, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)  # sections that could not be read
    periodic: tuple[PeriodicRow, ...] = ()
    webhooks: tuple[WebhookRow, ...] = ()
    config: ConfigRow = field(default_factory=ConfigRow)  # the routing config in use
    environments: tuple[EnvironmentRow, ...] = ()

    @property
    def queue_depth(self) -> int:
        return sum(q.queued + q.scheduled for q in self.queues)

    @property
    def failed_open(self) -> int:
        """Failed jobs nothing has resolved yet."""
        return sum(1 for f in self.failed if not f.resolved)


def reason_of(exc_info: str | None) -> str:
    """The last line of a traceback: ``bot.errors.ConfigError: rules[0]: ...``."""
    lines = [line.strip() for line in (exc_info or "").splitlines() if line.strip()]
    return lines[-1] if lines else "unknown (no exception recorded)"


# --- sections ------------------------------------------------------------------------------------
def group_keys(conn: redis.Redis, settings: Settings, limit: int = MAX_GROUPS) -> list[str]:
    """Every group the store knows, over all repos (the per-repo indexes), sorted."""
    keys: set[str] = set()
    for index in conn.scan_iter(match=settings.key("repo-groups", "*"), count=500):
        keys.update(m.decode() for m in conn.smembers(index))
    return sorted(keys)[:limit]


def _waiting_line(entry: WaitEntry) -> str:
    shown = entry.shown()
    if shown.eligible:
        return f"waiting for {shown.image}:{shown.tag} until {shown.eligible}: {entry.reason}"
    return f"waiting for {shown.image}:{shown.tag} in {shown.registry} until {shown.until}: {entry.reason}"


def group_row(intents: IntentStore, record: GroupRecord, waiting: Sequence[WaitEntry] = ()) -> GroupRow:
    """One group as every status view shows it: per target, the version wanted next to the one the
    PR's branch holds (``bot.core.wanted.standings``, as chat-ops ``status`` does)."""
    snapshot = intents.snapshot(record.group_key)
    state = record.state
    found = standings(snapshot.active, record.holds, state)
    rows = [
        TargetRow(
            image=s.image,
            files=", ".join(s.files),
            wanted=s.wanted,
            current=s.in_branch,
            ignored="; ".join(s.ignored),
            pinned=s.pinned,
        )
        for s in found
    ]
    environment = next((s.environment for s in found if s.environment), "") or ""
    return GroupRow(
        key=record.group_key,
        forge=record.forge,
        repo=record.repo,
        base_branch=record.base_branch,
        group=record.group,
        environment=environment,
        pr_number=record.pr_number,
        head_branch=record.head_branch or "",
        hold=state.hold,
        blocked=record.blocked or "",
        last_error=state.last_error or "",
        dirty=snapshot.dirty,
        targets=tuple(rows),
        ignores=tuple(f"{m.image}: {ignore_label(m)}" for m in state.ignored),
        pins=tuple(f"{p.image}: {shown(p.tag, p.digest)}" for p in state.pinned),
        waiting=tuple(_waiting_line(e) for e in waiting),
        repo_file_problems=record.repo_file_problems,
        notes_left_out=record.notes_left_out,
        schedule=f"waits for the schedule until {_utc(record.waits_until)}" if record.waits_until else "",
        waits_until=_utc(record.waits_until) if record.waits_until else "",
        limited=record.limited or "",
    )


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def groups(conn: redis.Redis, settings: Settings) -> tuple[GroupRow, ...]:
    intents = IntentStore(conn, settings)
    store = GroupStore(conn, settings)
    waiting = WaitingStore(conn, settings)
    return tuple(
        group_row(intents, store.get(key), waiting.entries(key)) for key in group_keys(conn, settings)
    )


def queues(conn: redis.Redis, settings: Settings) -> tuple[QueueRow, ...]:
    """The deliveries stream (not handed out yet, handed to a worker) and the job queue (queued,
    running, waiting for their time, failed)."""
    stream = DeliveryStream(conn, settings).stats()
    queue = Queue(settings.queue("jobs"), connection=conn)
    later = sum(DueSet(conn, settings.key(*k)).count() for k in (("waiting-groups",), ("due", "auto-merge")))
    return (
        QueueRow("deliveries", queued=stream.lag, started=stream.pending, scheduled=0, failed=0),
        QueueRow(
            "jobs",
            queued=queue.count,
            started=StartedJobRegistry(queue=queue).count,
            scheduled=later,
            failed=FailedJobRegistry(queue=queue).count,
        ),
    )


def failed_row(job: FailedJob) -> FailedRow:
    ended = job.ended_at.strftime("%Y-%m-%d %H:%M:%S") if job.ended_at else ""
    return FailedRow(job.id, job.kind, job.function, ended, reason_of(job.exc), job.resolved)


def failed_jobs(conn: redis.Redis, settings: Settings, limit: int = MAX_FAILED) -> tuple[FailedRow, ...]:
    """The newest failed jobs, each with what resolved it (``bot.store.failures``)."""
    return tuple(failed_row(job) for job in failures.failed(conn, settings, limit))


def _event_summary(events: tuple[Event, ...]) -> str:
    counts: dict[str, int] = {}
    for event in events:
        counts[event.kind] = counts.get(event.kind, 0) + 1
    return ", ".join(f"{kind} ×{n}" for kind, n in counts.items())


class GroupLinks:
    """Each group's open PR (number and web page), record and superseded log, read once per
    group per view."""

    def __init__(self, store: GroupStore) -> None:
        self._store = store
        self._seen: dict[str, GroupRecord] = {}
        self._superseded: dict[str, list[dict[str, Any]]] = {}

    def outcome_row(self, outcome: TargetOutcome) -> OutcomeRow:
        record = self._record(outcome.group) if outcome.group else None
        url = record.pr_url if record is not None and record.pr_number is not None else None
        return OutcomeRow(
            status=outcome.status,
            reason=outcome.reason,
            image=outcome.image or "",
            tag=outcome.tag or "",
            group=outcome.group or "",
            group_name=record.group if record is not None else "",
            target=outcome.target or "",
            pr_number=record.pr_number if record is not None else None,
            pr_url=url if url and url.startswith(("https://", "http://")) else "",
        )

    def failed_update(self, outcomes: Sequence[TargetOutcome]) -> str | None:
        """Why the versions a delivery put into PRs are not there: a group it was accepted into
        whose last reconcile failed and whose branch does not hold the version (None otherwise)."""
        for outcome in outcomes:
            if outcome.status != "accepted" or not outcome.group:
                continue
            record = self._record(outcome.group)
            if record is None or not record.state.last_error:
                continue
            if outcome.tag is not None and any(mark.tag == outcome.tag for mark in record.held.values()):
                continue  # the branch holds it: the failure is about something else
            return f"{record.group or outcome.group}: {record.state.last_error}"
        return None

    def since(
        self, delivery_id: str, outcomes: Sequence[TargetOutcome]
    ) -> tuple[tuple[TargetOutcome, ...], bool]:
        """The outcomes as the reconciles since made them: a version accepted into a group whose
        reconcile found every reference it reaches already at a higher version (another rule's,
        that landed: ``bot.core.floors``) reads ``superseded``, saying which file has what; one
        the branch holds, but whose edit failed in some file, names each file and why. Also
        whether any was such a partial edit."""
        now = tuple(self._since(delivery_id, o) for o in outcomes)
        partly = any(a.status == "accepted" and a != b for a, b in zip(now, outcomes, strict=True))
        return now, partly

    def _since(self, delivery_id: str, outcome: TargetOutcome) -> TargetOutcome:
        if outcome.status != "accepted" or not outcome.group:
            return outcome
        for entry in self._superseded_log(outcome.group):
            if (entry.get("delivery_id"), entry.get("image"), entry.get("tag")) == (
                delivery_id,
                outcome.image,
                outcome.tag,
            ) and entry.get("where"):
                return replace(outcome, status="superseded", reason=_lost(entry))
        record = self._record(outcome.group)
        if record is None or not record.state.last_error or outcome.image is None:
            return outcome
        if not any(mark.tag == outcome.tag for mark in record.held.values()):
            return outcome  # not on the branch: ``failed_update`` says why
        said = f"{outcome.image} not updated: "
        bad = [line[len(said) :] for line in record.state.last_error.splitlines() if line.startswith(said)]
        if not bad:
            return outcome
        return replace(outcome, reason=f"{outcome.reason}, but not in {'; '.join(bad)}")

    def _superseded_log(self, group_key: str) -> list[dict[str, Any]]:
        if group_key not in self._superseded:
            self._superseded[group_key] = IntentStore(self._store.conn, self._store.settings).superseded(
                group_key, SUPERSEDED_KEEP
            )
        return self._superseded[group_key]

    def _record(self, group_key: str) -> GroupRecord | None:
        if group_key not in self._seen:
            try:
                self._seen[group_key] = self._store.get(group_key)
            except ValueError:  # not a group key: an outcome written by another version
                return None
        return self._seen[group_key]


def _lost(entry: dict[str, Any]) -> str:
    """The words of a superseded log entry (``bot.core.merge.Superseded.describe``)."""
    lost = Superseded(
        target=str(entry.get("target", "")),
        image=str(entry.get("image", "")),
        tag=entry.get("tag"),
        key=tuple(entry.get("key") or ()),
        reason=entry.get("reason", "older"),
        winner_tag=entry.get("winner_tag"),
        where=entry.get("where"),
    )
    return lost.describe()


def delivery_row(record: DeliveryRecord, links: GroupLinks | None = None) -> DeliveryRow:
    verdict, reason, outcomes = record.verdict, record.reason, record.outcomes
    if links is not None and verdict == "updated":
        outcomes, partly = links.since(record.id, outcomes)
        if outcomes != record.outcomes:
            verdict, reason = summary(outcomes)
            verdict = "partly updated" if partly and verdict == "updated" else verdict
    failed = links.failed_update(outcomes) if links is not None and verdict == "updated" else None
    if failed is not None:  # accepted, but the update that was to carry it failed since
        verdict, reason = "update failed", f"{failed} (accepted: {reason})" if reason else failed
    return DeliveryRow(
        id=record.id,
        source=record.source,
        received_at=record.received_at,
        outcome=record.status,
        reason=reason,
        events=_event_summary(record.events),
        ref=record.ref,
        verdict=verdict,
        outcomes=tuple(links.outcome_row(o) for o in outcomes) if links is not None else (),
        left_out=record.left_out,
    )


def deliveries(conn: redis.Redis, settings: Settings, limit: int = MAX_DELIVERIES) -> tuple[DeliveryRow, ...]:
    links = GroupLinks(GroupStore(conn, settings))
    return tuple(delivery_row(r, links) for r in DeliveryStore(conn, settings).recent(limit))


def delivery(conn: redis.Redis, settings: Settings, delivery_id: str) -> DeliveryRow | None:
    """One delivery by the sender's id (its latest), or by its ref; redacted."""
    store = DeliveryStore(conn, settings)
    record = store.record(delivery_id)
    if record is None and _REF.fullmatch(delivery_id):
        record = store.by_ref(delivery_id)
    return redacted(delivery_row(record, GroupLinks(GroupStore(conn, settings)))) if record else None


def _when(stamp: float | None) -> str:
    """A Unix time as the page shows it (UTC), or "" when there is none."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp)) + " UTC" if stamp is not None else ""


def periodic_runs(conn: redis.Redis, settings: Settings) -> tuple[PeriodicRow, ...]:
    """The last run of every periodic job that ran (at most 50)."""
    prefix = settings.key("periodic", "last", "")
    rows = []
    for key in sorted(conn.scan_iter(match=f"{prefix}*", count=200))[:50]:
        raw = conn.get(key)
        if raw is None:
            continue
        last = json.loads(raw)
        counts = ", ".join(f"{k}={v}" for k, v in sorted((last.get("result") or {}).items()))
        rows.append(
            PeriodicRow(
                name=key.decode()[len(prefix) :],
                at=_when(last.get("at")),
                outcome=str(last.get("outcome", "")),
                seconds=float(last.get("seconds") or 0),
                result=counts,
                error=str(last.get("error") or ""),
            )
        )
    return tuple(rows)


def webhooks(conn: redis.Redis, settings: Settings) -> tuple[WebhookRow, ...]:
    """GitHub App recovery runs (redelivered / failed counts) and GitLab hooks' health."""
    store = RecoveryStore(conn, settings)
    rows = []
    for forge, run in store.github_runs().items():
        state = "error" if run.get("error") else ("redelivered" if run.get("redelivered") else "ok")
        detail = (
            f"failed deliveries seen {run.get('failed', 0)}, redelivered {run.get('redelivered', 0)}, "
            f"already received {run.get('known', 0)}, given up {run.get('gave_up', 0)}, "
            f"refused {run.get('errors', 0)}"
        )
        if run.get("error"):
            detail += f"; {run['error']}"
        rows.append(WebhookRow(forge, "App deliveries", state, detail, _when(run.get("at"))))
    for health in store.gitlab_health()[:MAX_GROUPS]:
        rows.append(
            WebhookRow(health.forge, health.project, health.state, health.detail, _when(health.checked_at))
        )
    return tuple(rows)


def config(conn: redis.Redis, settings: Settings) -> ConfigRow:
    status = ConfigStateStore(conn, settings).get()
    return ConfigRow(
        path=status.path,
        digest=status.digest,
        loaded_at=_when(status.loaded_at),
        refused_digest=status.refused_digest,
        refused_at=_when(status.refused_at),
        problems=status.problems,
    )


def environments(
    conn: redis.Redis, settings: Settings, limit: int = MAX_GROUPS
) -> tuple[EnvironmentRow, ...]:
    """Every environment a deployment report reached, by name."""
    prefix = settings.key("deploy", "env", "")
    names = sorted(k.decode()[len(prefix) :] for k in conn.scan_iter(match=prefix + "*", count=500))[:limit]
    rows = []
    for s in DeploymentStore(conn, settings).states(names).values():
        row = EnvironmentRow(
            s.environment,
            describe_object(s.tool, s.object),
            s.revision,
            s.revision_label,
            s.health,
            s.reason,
            s.message,
            s.at,
            s.since,
            s.versions,
            s.promotion,
        )
        rows.append(row)
    return tuple(rows)


def collect(conn: redis.Redis, settings: Settings) -> StatusView:
    """Every section; one that cannot be read is reported on the page instead of failing it."""
    sections: dict[str, Any] = {}
    errors: list[str] = []
    for name, read in (
        ("deliveries", deliveries),
        ("groups", groups),
        ("queues", queues),
        ("failed", failed_jobs),
        ("periodic", periodic_runs),
        ("webhooks", webhooks),
        ("config", config),
        ("environments", environments),
    ):
        try:
            sections[name] = read(conn, settings)
        except redis.RedisError as exc:
            errors.append(f"{name}: Redis unavailable ({type(exc).__name__})")
            sections[name] = ConfigRow() if name == "config" else ()
    return redacted(StatusView(errors=tuple(errors), **sections))


def redacted(value: T) -> T:
    """``value`` with every string in it (rows, nested rows, tuples) redacted."""
    if isinstance(value, str):
        return redact(value)  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(redacted(v) for v in value)  # type: ignore[return-value]
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: redacted(getattr(value, f.name)) for f in fields(value)})  # type: ignore[return-value]
    return value
