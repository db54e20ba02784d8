"""The sweep: put back what a dying worker, a lost reply or a full Redis left behind.

``sweep()`` runs at worker start-up and as a periodic job (``bot.jobs.periodic``, every
``MANIFEST_BOT_SWEEP_INTERVAL_S``). Each step is bounded and idempotent:

1. deliveries still ``queued`` whose job is in no queue or registry (taken by a worker that died,
   failed before it could record an outcome) are enqueued again (``DeliveryStore.requeue``);
2. coalescing markers whose job is gone are cleared, so the next event queues a reconcile;
3. waiters of a repo lock whose holder died without handing them back are woken;
4. groups left dirty with no reconcile job (retries exhausted, job lost) are reconciled again,
   with backoff per group.

Jobs taken but never started are put back by the workers' maintenance (``bot.jobs.dequeue``).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.jobs import runtime
from bot.metrics import RECOVERED

log = logging.getLogger(__name__)

EVENT_FUNC = "bot.jobs.events.handle_delivery"
#: deliveries looked at per run, oldest first (a record younger than GRACE_S is left alone)
MAX_DELIVERIES = 500
GRACE_S = 5.0
#: groups requested per run
MAX_GROUPS = 100


def sweep() -> dict[str, Any]:
    container = runtime.current()
    scheduler = container.scheduler
    store = container.deliveries
    events = container.queue("events")
    requeued = [
        ref for ref in store.queued_refs(GRACE_S, MAX_DELIVERIES) if store.requeue(ref, events, EVENT_FUNC)
    ]
    markers = scheduler.clear_stale_markers()
    woken = scheduler.wake_orphans()
    retried = scheduler.retry_dirty(container.intents, limit=MAX_GROUPS)
    counts = {
        "deliveries_requeued": len(requeued),
        "markers_cleared": len(markers),
        "waiters_woken": len(woken),
        "groups_retried": len(retried),
    }
    for kind, n in counts.items():
        RECOVERED.labels(kind=kind).inc(n)
    if any(counts.values()):
        log.warning("sweep put back lost work: %s", counts)
    return counts
