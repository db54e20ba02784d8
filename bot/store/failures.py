"""Failed rq jobs: which failures a later success resolved, and retrying or dismissing one.

A failed job stays in its queue's failed-job registry with its exception. It is **resolved** when
what it worked on succeeded afterwards:

- a reconcile job (``group_key``): the group reconciled successfully after the failure
  (``<prefix>:reconciled-at:<group>``, written by the reconcile job when it succeeds).

A command job is never resolved by itself (a comment's commands run once): retry or dismiss it.
``retry`` puts the job back on its queue (for a command, the once-per-comment memory is forgotten
first, so it really runs again); ``dismiss`` deletes it. Both only touch failed jobs of this
deployment's queue (``Settings.queue``): any other id is "not found". (A delivery that failed is
no job: its record says so, and the sender's redelivery runs it again.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from bot.settings import Settings

#: the bot's one rq queue (``Settings.queue`` adds the prefix)
QUEUE = "jobs"
#: a job id longer than this is no job of ours (bounds the lookups an id from a URL can cause)
MAX_ID = 200


@dataclass(frozen=True, slots=True)
class FailedJob:
    id: str
    function: str
    ended_at: datetime | None
    exc: str | None  # the exception rq recorded (not redacted: callers show it through redact)
    group: str | None = None  # a reconcile job's group
    resolved: str = ""  # why the failure no longer matters, "" while it does

    @property
    def kind(self) -> str:
        """What the job did, for people: ``reconcile``, ``commands``, ``periodic``, …"""
        module = self.function.rpartition(".")[0]
        return module.rpartition(".")[2] or self.function


def command_done_key(settings: Settings, token: str) -> str:
    """The once-per-comment memory of a command job (``bot.jobs.dispatch.Dispatch.run_once``),
    forgotten here when a person retries the failed job."""
    return settings.key("command-done", token)


def _reconciled_key(settings: Settings, group_key: str) -> str:
    return settings.key("reconciled-at", group_key)


def mark_reconciled(conn: redis.Redis, settings: Settings, group_key: str, when: float | None = None) -> None:
    """Record that the group reconciled successfully now (resolves its earlier failed jobs)."""
    conn.set(_reconciled_key(settings, group_key), repr(time.time() if when is None else when))


def _registry(conn: redis.Redis, settings: Settings) -> FailedJobRegistry:
    return FailedJobRegistry(queue=Queue(settings.queue(QUEUE), connection=conn))


def _kwargs(job: Job) -> dict[str, Any]:
    try:
        return dict(job.kwargs or {})
    except DeserializationError:  # a payload this version cannot read: no arguments
        return {}


def _exc(job: Job) -> str | None:
    result = job.latest_result()
    return result.exc_string if result is not None else None


def _when(value: bytes | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), tz=UTC) if value else None


def _aware(moment: datetime | None) -> datetime | None:
    """rq's times are UTC; older rq wrote them without a zone."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _resolution(conn: redis.Redis, settings: Settings, job: FailedJob) -> str:
    if job.group is not None:
        done = _when(conn.get(_reconciled_key(settings, job.group)))
        ended = _aware(job.ended_at)
        if done is not None and (ended is None or done > ended):
            return f"group reconciled successfully at {done:%Y-%m-%d %H:%M:%S} UTC"
    return ""


def _describe(conn: redis.Redis, settings: Settings, job: Job) -> FailedJob:
    kwargs = _kwargs(job)
    group = kwargs.get("group_key") if (job.func_name or "").endswith(".reconcile_group") else None
    found = FailedJob(
        job.id, job.func_name or "", job.ended_at, _exc(job), group if isinstance(group, str) else None
    )
    return replace(found, resolved=_resolution(conn, settings, found))


def failed(conn: redis.Redis, settings: Settings, limit: int = 50) -> list[FailedJob]:
    """The newest failed jobs (at most ``limit``), newest first."""
    ids = _registry(conn, settings).get_job_ids(0, limit - 1, desc=True)
    out = [_describe(conn, settings, job) for job in Job.fetch_many(ids, connection=conn) if job is not None]
    out.sort(key=lambda j: _aware(j.ended_at) or datetime.min.replace(tzinfo=UTC), reverse=True)
    return out


def find(conn: redis.Redis, settings: Settings, job_id: str) -> FailedJob | None:
    """The failed job ``job_id`` of our queue, or None."""
    if not job_id or len(job_id) > MAX_ID or not job_id.startswith(f"{settings.redis_prefix}-"):
        return None
    if job_id not in _registry(conn, settings):
        return None
    try:
        return _describe(conn, settings, Job.fetch(job_id, connection=conn))
    except NoSuchJobError:
        return None


def retry(conn: redis.Redis, settings: Settings, job_id: str) -> FailedJob | None:
    """Put the failed job back on its queue; None when there is no such failed job of ours."""
    job = find(conn, settings, job_id)
    if job is None:
        return None
    if job.function.endswith(
        ".handle_command"
    ):  # a comment runs once: forget that this one ran, or it would not
        token = _kwargs(Job.fetch(job_id, connection=conn)).get("token")
        if isinstance(token, str):
            conn.delete(command_done_key(settings, token))
    _registry(conn, settings).requeue(job_id)
    return job


def dismiss(conn: redis.Redis, settings: Settings, job_id: str) -> FailedJob | None:
    """Delete the failed job; None when there is no such failed job of ours."""
    job = find(conn, settings, job_id)
    if job is None:
        return None
    _registry(conn, settings).remove(job_id, delete_job=True)
    return job
