"""rq entry points (thin; primitive keyword arguments) and the helpers that enqueue them.

``handle_delivery(delivery_id)`` — load the delivery, plan and merge its intents (or react to a
push / closed PR), then ask each touched group to reconcile; the delivery is marked processed
only when all of that succeeded (failed, and re-raised for rq, otherwise).

``reconcile_group(group_key)`` — reconcile one group under its repo's lock (see
``bot.services.reconcile``). Lock held → the group is handed back by the holder on release and a
fallback run is scheduled with ``enqueue_in``; no worker ever blocks. Transient and rate-limit
errors retry through rq's ``Retry`` with exponential backoff and jitter (``Retry-After`` wins when
longer), bounded by ``retry_max``; a permanent error is recorded on the group, commented once on
the PR, and the job fails with no retries left (it stays in the failed-job registry).

Coalescing: a per-group marker ``reconcile-queued:<group>`` holds the id of the group's queued,
not yet started job, so a burst of events queues one job. The job deletes the marker only once it
holds the lock, right before it reads the intents, so an intent merged after that read always
finds no marker and queues a new run. Job ids are ``<prefix>-reconcile-<group hash>-<sequence>``:
derived from the group, never reused (rq overwrites the hash of a running job whose id is reused).
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from datetime import timedelta
from typing import Any

from rq import Retry, get_current_job

from bot import deps
from bot.deps import Container
from bot.errors import BotError, RateLimited, Transient
from bot.jobs.commands import wake as wake_command
from bot.services.reconcile import Report, reconcile

log = logging.getLogger(__name__)

RECONCILE_FUNC = "bot.jobs.reconcile.reconcile_group"
#: fallback run of a deferred group: at least this long, at most FALLBACK_MAX_S
FALLBACK_MIN_S = 1
FALLBACK_MAX_S = 5


# --- entry points ------------------------------------------------------------------------------
def reconcile_group(group_key: str, force: bool = False, recreate: bool = False) -> dict[str, Any]:
    container = deps.current()
    try:
        report = reconcile(
            container.reconcile_deps,
            group_key,
            force=force,
            recreate=recreate,
            on_locked=_clear_marker,
            on_release=lambda waiters: wake(container, waiters),
            always=not container.settings.reconcile_coalesce,
        )
    except Transient as exc:
        _set_retry_delay(container, exc)
        raise
    except BotError as exc:
        if exc.permanent:
            _no_more_retries()
        raise
    return _after(container, report, force=force, recreate=recreate)


def wake(container: Container, waiters: list[str]) -> None:
    """Re-queue whatever waited behind a released lock: groups, and chat-ops commands."""
    for waiter in waiters:
        if not wake_command(container, waiter):  # a chat-ops command queued behind the lock
            request_reconcile(container, waiter, coalesce=False)


def _after(container: Container, report: Report, *, force: bool, recreate: bool) -> dict[str, Any]:
    wake(container, report.waiters)
    if report.deferred and not container.settings.reconcile_coalesce:
        request_reconcile(container, report.group_key, coalesce=False)  # baseline: every run happens
    elif report.deferred:
        _schedule_fallback(container, report, force=force, recreate=recreate)
    elif container.intents.dirty(report.group_key):
        request_reconcile(container, report.group_key)  # still moving after MAX_ROUNDS
    return {
        "group": report.group_key,
        "deferred": report.deferred,
        "rounds": report.rounds,
        "generation": report.generation,
        "pr": report.pr_number,
    }


# --- enqueue helpers -----------------------------------------------------------------------------
def marker_key(container: Container, group_key: str) -> str:
    return container.settings.key("reconcile-queued", group_key)


def _clear_marker(group_key: str) -> None:
    container = deps.current()
    container.redis.delete(marker_key(container, group_key))


def _job_id(container: Container, group_key: str) -> str:
    digest = hashlib.sha1(group_key.encode(), usedforsecurity=False).hexdigest()[:16]
    seq = container.redis.incr(container.settings.key("reconcile-seq", group_key))
    return f"{container.settings.redis_prefix}-reconcile-{digest}-{seq}"


def retry_policy(container: Container) -> Retry:
    s = container.settings
    return Retry(max=s.retry_max, interval=[math.ceil(backoff(s.retry_base_s, s.retry_cap_s, 0))])


def request_reconcile(
    container: Container,
    group_key: str,
    *,
    coalesce: bool = True,
    force: bool = False,
    recreate: bool = False,
    delay_s: float = 0,
) -> str | None:
    """Queue a reconcile for the group; returns the job id, or None when one is already queued."""
    coalesce = coalesce and container.settings.reconcile_coalesce and not (force or recreate)
    job_id = _job_id(container, group_key)
    marker = marker_key(container, group_key)
    ttl = container.settings.job_timeout_s * 2
    if coalesce and not container.redis.set(marker, job_id, nx=True, ex=ttl):
        return None
    if not coalesce:
        container.redis.set(marker, job_id, ex=ttl)
    # coalescing off (benchmark baseline): on the events queue, one reconcile right after each event
    queue = container.queue("reconcile" if container.settings.reconcile_coalesce else "events")
    kwargs = {"group_key": group_key, "force": force, "recreate": recreate}
    options: dict[str, Any] = {"job_id": job_id, "retry": retry_policy(container), "description": group_key}
    if delay_s > 0:
        queue.enqueue_in(timedelta(seconds=delay_s), RECONCILE_FUNC, kwargs=kwargs, **options)
    else:
        # baseline: at the front, so each event's reconcile runs before the next event
        queue.enqueue(
            RECONCILE_FUNC, kwargs=kwargs, at_front=not container.settings.reconcile_coalesce, **options
        )
    return job_id


def _schedule_fallback(container: Container, report: Report, *, force: bool, recreate: bool) -> None:
    """One delayed run per deferred group, in case the holder dies before handing it back."""
    delay = min(max(report.lock_ttl_s, FALLBACK_MIN_S), FALLBACK_MAX_S) * random.uniform(1.0, 1.5)
    key = container.settings.key("reconcile-fallback", report.group_key)
    if container.redis.set(key, "1", nx=True, px=int(delay * 1000)):
        request_reconcile(
            container, report.group_key, coalesce=False, force=force, recreate=recreate, delay_s=delay
        )


def sweep(container: Container) -> list[str]:
    """Queue a reconcile for every group with work left (a worker starting after a crash)."""
    prefix = container.settings.key("repo-groups", "")
    found = []
    for key in container.redis.scan_iter(match=prefix + "*", count=500):
        for member in container.redis.smembers(key):
            group_key = member.decode()
            if container.intents.dirty(group_key):
                request_reconcile(container, group_key)
                found.append(group_key)
    return sorted(found)


# --- retries -----------------------------------------------------------------------------------
def backoff(base_s: float, cap_s: float, attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter over the upper half: ``[d/2, d]``, d = base·2^attempt."""
    ceiling = min(cap_s, base_s * (2**attempt))
    return (rng or random).uniform(ceiling / 2, ceiling)


def retry_delay(base_s: float, cap_s: float, attempt: int, error: Transient) -> float:
    delay = backoff(base_s, cap_s, attempt)
    if isinstance(error, RateLimited) and error.retry_after:
        delay = max(delay, error.retry_after)  # the forge said when; never earlier
    return min(delay, max(cap_s, error.retry_after or 0) if isinstance(error, RateLimited) else cap_s)


def _set_retry_delay(container: Container, error: Transient) -> None:
    job = get_current_job()
    if job is None or not job.retries_left:
        return
    s = container.settings
    attempt = max(s.retry_max - job.retries_left, 0)
    job.retry_intervals = [max(1, math.ceil(retry_delay(s.retry_base_s, s.retry_cap_s, attempt, error)))]
    log.info(
        "transient error on %s (%s); retry %d in %ss", job.id, error, attempt + 1, job.retry_intervals[0]
    )


def _no_more_retries() -> None:
    job = get_current_job()
    if job is not None:
        job.retries_left = 0
