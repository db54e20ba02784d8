"""The reconcile job: ``reconcile_group(group_key, force=False, recreate=False)``.

Reconciles one group under its repo's lock (``bot.services.reconcile``). Lock held → the group is
handed back by the holder on release (and, should the holder die, the leader asks again: the
group's entry in ``due:reconcile``); no worker ever blocks. Afterwards the dispatch keeps the
books (``bot.jobs.dispatch``): a clean run forgets the group's failures; a failed one is asked
again after the one backoff — transient errors (``bot.services.reconcile.is_transient``, the one
place that decides) shown on the group meanwhile, a permanent error recorded on the group and
commented once on the PR, and the job fails (rq's failed-job registry keeps it for the status
page). Coalescing and job ids: ``bot.jobs.dispatch``.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.errors import BotError
from bot.jobs import runtime
from bot.logs import redact
from bot.services.reconcile import is_transient, reconcile, record_transient
from bot.store.failures import mark_reconciled

log = logging.getLogger(__name__)


def reconcile_group(group_key: str, force: bool = False, recreate: bool = False) -> dict[str, Any]:
    container = runtime.current()
    container.config_reloads.refresh()
    dispatch = container.dispatch
    started = container.clock()
    try:
        report = reconcile(
            container.reconcile_deps,
            group_key,
            force=force,
            recreate=recreate,
            on_locked=dispatch.clear_marker,
            wake=dispatch.wake,
        )
    except Exception as exc:
        transient = is_transient(exc)
        delay = dispatch.reconcile_failed(group_key, exc, permanent=not transient)
        if not transient:
            raise  # recorded on the group by the service; rq keeps the failed job
        record_transient(container.reconcile_deps, group_key, exc, retry_in_s=delay)
        what = redact(exc.message) if isinstance(exc, BotError) else type(exc).__name__
        log.info("transient error on %s (%s); again in %.0f s", group_key, what, delay)
        return {"group": group_key, "transient": type(exc).__name__, "retry_in_s": round(delay, 1)}
    if report.deferred:  # nothing done: the holder's release hands the group back (a new job)
        dispatch.clear_marker(group_key)
    elif report.waits_until is not None:  # the schedule is closed: the leader asks again then
        dispatch.reconciles.at({group_key: report.waits_until})
    else:
        mark_reconciled(container.redis, container.settings, group_key)  # resolves its failed jobs
        if container.intents.dirty(group_key):
            dispatch.request_reconcile(group_key)  # still moving after MAX_ROUNDS
        else:
            dispatch.reconciled(group_key, started_at=started)
    return {
        "group": group_key,
        "deferred": report.deferred,
        "rounds": report.rounds,
        "generation": report.generation,
        "pr": report.pr_number,
        "waits_until": report.waits_until,
        "auto_merge": report.auto_merge,
    }
