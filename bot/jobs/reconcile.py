"""The reconcile job: ``reconcile_group(group_key, force=False, recreate=False)``.

Reconciles one group under its repo's lock (``bot.services.reconcile``). Lock held → the group is
handed back by the holder on release and a fallback run is scheduled; no worker ever blocks.
Transient errors (``bot.services.reconcile.is_transient``: the one place that decides) retry
through rq's ``Retry`` with the scheduler's backoff (``Retry-After`` wins when longer), bounded by
``retry_max``, and show on the group meanwhile; once retries run out the group stays dirty and the
sweep retries it with backoff. A permanent error is recorded on the group, commented once on the
PR, and the job fails with no retries left (it stays in the failed-job registry). Coalescing and
job ids: ``bot.jobs.schedule``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from rq import get_current_job

from bot.errors import Transient
from bot.jobs import runtime
from bot.jobs.schedule import Scheduler, retry_delay
from bot.services.reconcile import is_transient, reconcile, record_transient
from bot.store.failures import mark_reconciled

log = logging.getLogger(__name__)


def reconcile_group(group_key: str, force: bool = False, recreate: bool = False) -> dict[str, Any]:
    container = runtime.current()
    scheduler = container.scheduler
    try:
        report = reconcile(
            container.reconcile_deps,
            group_key,
            force=force,
            recreate=recreate,
            on_locked=scheduler.clear_marker,
            wake=scheduler.wake,
        )
    except Exception as exc:
        if not is_transient(exc):
            _no_more_retries()
            raise
        job = get_current_job()
        retrying = job is not None and bool(job.retries_left)
        if isinstance(exc, Transient):
            _set_retry_delay(scheduler, exc)
        record_transient(container.reconcile_deps, group_key, exc, retrying=retrying)
        raise
    if report.deferred:
        scheduler.reconcile_fallback(group_key, report.lock_ttl_s, force=force, recreate=recreate)
    else:
        mark_reconciled(container.redis, container.settings, group_key)  # resolves its failed jobs
        if container.intents.dirty(group_key):
            scheduler.request_reconcile(group_key)  # still moving after MAX_ROUNDS
    return {
        "group": group_key,
        "deferred": report.deferred,
        "rounds": report.rounds,
        "generation": report.generation,
        "pr": report.pr_number,
    }


def _set_retry_delay(scheduler: Scheduler, error: Transient) -> None:
    job = get_current_job()
    if job is None or not job.retries_left:
        return
    s = scheduler.settings
    attempt = max(s.retry_max - job.retries_left, 0)
    job.retry_intervals = [max(1, math.ceil(retry_delay(s.retry_base_s, s.retry_cap_s, attempt, error)))]
    log.info(
        "transient error on %s (%s); retry %d in %ss", job.id, error, attempt + 1, job.retry_intervals[0]
    )


def _no_more_retries() -> None:
    job = get_current_job()
    if job is not None:
        job.retries_left = 0
