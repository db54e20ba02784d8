"""The periodic resync job (``bot.jobs.periodic``, every ``MANIFEST_BOT_RESYNC_INTERVAL_S``).

Each run takes the next ``MANIFEST_BOT_RESYNC_BATCH`` groups (in key order, going on where the
last run stopped, wrapping round) and, for those groups:

1. observes each again on the forge (``bot.services.resync``): base moved without a push → bump
   and reconcile; PR merged or closed without an event → handled as the event would be;
2. reconciles again those left dirty with no job (``Scheduler.retry_dirty``: the sweep's step,
   with the same per-group backoff, so the two never ask twice);

and, over all repositories, frees locks held longer than any job may run (a stuck holder whose
heartbeat kept the lock alive), waking what waited behind them. Bounded: at most two forge
requests per group, one base read per repository and branch.
"""

from __future__ import annotations

from typing import Any

from bot.jobs import runtime
from bot.services.reconcile import lock_for
from bot.services.resync import ResyncDeps, resync_groups
from bot.store.locks import free_stale
from bot.store.recovery import RecoveryStore, next_batch


def resync() -> dict[str, Any]:
    container = runtime.current()
    settings = container.settings
    scheduler = container.scheduler
    store = RecoveryStore(container.redis, settings)
    batch = next_batch(container.intents.groups.all_keys(), store.cursor("resync"), settings.resync_batch)
    store.set_cursor("resync", batch[-1] if batch else None)
    deps = ResyncDeps(
        intents=container.intents,
        forge_for=container.forge,
        lock_for=lambda group_key: lock_for(container.reconcile_deps, group_key),
        request_reconcile=scheduler.request_reconcile,
        wake=scheduler.wake,
        bot_login=settings.bot_login,
    )
    counts: dict[str, Any] = {"groups": len(batch), **resync_groups(deps, batch)}
    counts["dirty_requeued"] = len(scheduler.retry_dirty(container.intents, limit=len(batch), groups=batch))
    max_held = settings.job_timeout_s + settings.lock_timeout_s
    freed = {}
    for pattern in (settings.key("lock", "*"), settings.key("periodic", "running", "*")):
        freed.update(free_stale(container.redis, pattern, max_held, container.clock()))
    for waiters in freed.values():
        scheduler.wake(waiters)
    counts["locks_freed"] = len(freed)
    return counts
