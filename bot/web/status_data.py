"""What the status page shows, read from Redis into plain dataclasses (no Flask here).

One ``collect`` call builds a :class:`StatusView`: recent deliveries with outcome and reason, every
known group with its PR, the versions it wants next to the versions its PR applies, its ignores,
pins, hold/blocked flags and last error, the rq queue depths and the failed jobs with their reason.
Every section is bounded so the page stays cheap however much history Redis holds, and every text
field passes the one redaction (``bot.logs.redact``) before the page shows it: what the worker
stored is already redacted, and what rq stored (a failed job's exception) is redacted here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, TypeVar

import redis
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from bot.core.events import Event
from bot.core.group_state import IgnoreMark
from bot.core.images import canonical_name
from bot.core.keys import TargetKey
from bot.logs import redact
from bot.settings import Settings
from bot.store.config_state import ConfigStateStore
from bot.store.deliveries import DeliveryRecord, DeliveryStore
from bot.store.groups import GroupRecord, GroupStore
from bot.store.intents import IntentStore

#: the rq queues the bot uses (``Settings.queue`` adds the prefix)
QUEUE_NAMES = ("events", "reconcile", "commands")
MAX_GROUPS = 200
MAX_FAILED = 50
MAX_DELIVERIES = 50
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: str
    source: str
    received_at: str
    outcome: str
    reason: str
    events: str  # "image-pushed ×1, ci-finished ×2"


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
    #: what the manifest repo's own config file asks for and cannot have
    repo_file_problems: tuple[str, ...] = ()


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
    queue: str
    function: str
    ended_at: str
    reason: str


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
class StatusView:
    deliveries: tuple[DeliveryRow, ...] = ()
    groups: tuple[GroupRow, ...] = ()
    queues: tuple[QueueRow, ...] = ()
    failed: tuple[FailedRow, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)  # sections that could not be read
    config: ConfigRow = field(default_factory=ConfigRow)  # the routing config in use

    @property
    def queue_depth(self) -> int:
        return sum(q.queued + q.scheduled for q in self.queues)


def version(tag: str | None, digest: str | None) -> str:
    if tag and digest:
        return f"{tag}@{digest}"
    return tag or digest or ""


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


def _ignore_label(mark: IgnoreMark) -> str:
    if mark.label:
        return mark.label
    return "every version" if mark.up_to is None else "up to " + ".".join(map(str, mark.up_to))


def group_row(intents: IntentStore, record: GroupRecord) -> GroupRow:
    snapshot = intents.snapshot(record.group_key)
    state = record.state
    rows = []
    environment = ""
    for target in sorted(set(snapshot.active) | set(record.applied)):
        intent = snapshot.active.get(target)
        applied = record.applied.get(target)
        if intent is not None:
            environment = environment or (intent.environment or "")
        key = TargetKey.parse(target)
        image = intent.image if intent else key.image
        pin = state.pin_for(image)
        rows.append(
            TargetRow(
                image=image,
                files=", ".join(intent.files if intent else key.files),
                wanted=version(intent.tag, intent.digest) if intent else "",
                current=version(applied.tag, applied.digest) if applied else "",
                ignored="; ".join(
                    _ignore_label(m)
                    for m in state.ignored
                    if canonical_name(m.image) == canonical_name(image)
                ),
                pinned=version(pin.tag, pin.digest) if pin else "",
            )
        )
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
        ignores=tuple(f"{m.image}: {_ignore_label(m)}" for m in state.ignored),
        pins=tuple(f"{p.image}: {version(p.tag, p.digest)}" for p in state.pinned),
        repo_file_problems=record.repo_file_problems,
    )


def groups(conn: redis.Redis, settings: Settings) -> tuple[GroupRow, ...]:
    intents = IntentStore(conn, settings)
    store = GroupStore(conn, settings)
    return tuple(group_row(intents, store.get(key)) for key in group_keys(conn, settings))


def queues(conn: redis.Redis, settings: Settings) -> tuple[QueueRow, ...]:
    rows = []
    for name in QUEUE_NAMES:
        queue = Queue(settings.queue(name), connection=conn)
        rows.append(
            QueueRow(
                name=name,
                queued=queue.count,
                started=StartedJobRegistry(queue=queue).count,
                scheduled=ScheduledJobRegistry(queue=queue).count,
                failed=FailedJobRegistry(queue=queue).count,
            )
        )
    return tuple(rows)


def _exc_string(job: Job) -> str | None:
    result = job.latest_result()
    return result.exc_string if result is not None else None


def failed_jobs(conn: redis.Redis, settings: Settings, limit: int = MAX_FAILED) -> tuple[FailedRow, ...]:
    rows: list[FailedRow] = []
    for name in QUEUE_NAMES:
        queue = Queue(settings.queue(name), connection=conn)
        ids = FailedJobRegistry(queue=queue).get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids, connection=conn):
            if job is None:
                continue
            ended = job.ended_at.strftime("%Y-%m-%d %H:%M:%S") if job.ended_at else ""
            rows.append(FailedRow(job.id, name, job.func_name or "", ended, reason_of(_exc_string(job))))
    rows.sort(key=lambda r: r.ended_at, reverse=True)
    return tuple(rows[:limit])


def _event_summary(events: tuple[Event, ...]) -> str:
    counts: dict[str, int] = {}
    for event in events:
        counts[event.kind] = counts.get(event.kind, 0) + 1
    return ", ".join(f"{kind} ×{n}" for kind, n in counts.items())


def delivery_row(record: DeliveryRecord) -> DeliveryRow:
    return DeliveryRow(
        id=record.id,
        source=record.source,
        received_at=record.received_at,
        outcome=record.status,
        reason=record.reason,
        events=_event_summary(record.events),
    )


def deliveries(conn: redis.Redis, settings: Settings, limit: int = MAX_DELIVERIES) -> tuple[DeliveryRow, ...]:
    return tuple(delivery_row(r) for r in DeliveryStore(conn, settings).recent(limit))


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp)) + " UTC" if stamp is not None else ""


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


def collect(conn: redis.Redis, settings: Settings) -> StatusView:
    """Every section; one that cannot be read is reported on the page instead of failing it."""
    sections: dict[str, Any] = {}
    errors: list[str] = []
    for name, read in (
        ("deliveries", deliveries),
        ("groups", groups),
        ("queues", queues),
        ("failed", failed_jobs),
        ("config", config),
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
