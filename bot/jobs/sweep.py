"""The sweep: housekeeping that keeps Redis bounded and its records true (a periodic task,
``MANIFEST_BOT_SWEEP_INTERVAL_S``). Each step is bounded and idempotent:

1. deliveries still ``queued`` whose stream entry Redis lost (a restart from an older snapshot)
   are queued again (``DeliveryStore.requeue_lost``);
2. the deliveries stream is trimmed below what the consumer group has acknowledged, and
   consumers gone for an hour with nothing pending are forgotten (``bot.store.stream``);
3. the poll schedule follows the routing config (images added, dropped, their intervals);
4. locks held longer than any job may run (a holder stuck while its heartbeat kept the lock alive)
   are freed, and what waited behind them is woken.

Lost jobs need nothing here: their due entries bring them back (``bot.jobs.leader``).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.jobs import runtime
from bot.metrics import RECOVERED
from bot.store.locks import free_stale

log = logging.getLogger(__name__)

#: deliveries looked at per run, oldest first (a record younger than GRACE_S is left alone)
MAX_DELIVERIES = 500
GRACE_S = 30.0
#: a consumer that has read nothing for this long, with nothing pending, is gone
CONSUMER_GONE_MS = 3600 * 1000


def sweep() -> dict[str, Any]:
    container = runtime.current()
    settings = container.settings
    store = container.deliveries
    requeued = store.requeue_lost(GRACE_S, MAX_DELIVERIES)
    trimmed = store.stream.trim()
    forgotten = store.stream.forget_idle_consumers(CONSUMER_GONE_MS)
    synced = container.poll_schedule.sync()
    max_held = settings.job_timeout_s + settings.lock_timeout_s
    freed = {}
    for pattern in (settings.key("lock", "*"), settings.key("periodic", "running", "*")):
        freed.update(free_stale(container.redis, pattern, max_held, container.clock()))
    for waiters in freed.values():
        container.dispatch.wake(waiters)
    counts = {
        "deliveries_requeued": len(requeued),
        "stream_trimmed": trimmed,
        "consumers_forgotten": len(forgotten),
        "images_polled": synced.total if synced is not None else 0,
        "locks_freed": len(freed),
    }
    RECOVERED.labels(kind="deliveries_requeued").inc(len(requeued))
    RECOVERED.labels(kind="locks_freed").inc(len(freed))
    if requeued or freed:
        log.warning("sweep put back lost work: %s", counts)
    return counts
