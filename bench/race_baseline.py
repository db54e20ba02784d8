"""The no-coalescing baseline of ``bench/race.py``, built from the bench's own job.

``event_then_reconcile(ref)`` does what the product's event job does and then, instead of
asking for one coalesced reconcile per group, reconciles every group it touched at once, inside
the same job: one sync per event and group, FIFO with the events. A group whose repo lock is held
gets its own ``reconcile_now`` job at the front of the events queue, so it runs before the next
event rather than coalescing with it.

``admit_all`` records and queues the deliveries with this job instead of the product's, through the
same parsing and the same delivery store the intake uses.
"""

from __future__ import annotations

import time
from typing import Any

from rq import Queue

from bot import sources
from bot.core.events import Delivery
from bot.jobs import runtime
from bot.services.events import apply_delivery
from bot.services.reconcile import reconcile
from bot.store.deliveries import DeliveryStore
from bot.web.intake import delivery_id

JOB = "bench.race_baseline.event_then_reconcile"
AGAIN = "bench.race_baseline.reconcile_now"


def event_then_reconcile(ref: str) -> dict[str, Any]:
    container = runtime.current()
    delivery = container.deliveries.get(ref)
    assert delivery is not None, ref
    outcome = apply_delivery(
        container.intents, container.config, delivery, bot_login=container.settings.bot_login
    )
    for group_key in outcome.groups:
        reconcile_now(group_key)
    container.deliveries.mark_processed(ref)
    return {"delivery": delivery.id, "groups": outcome.groups}


def reconcile_now(group_key: str) -> dict[str, Any]:
    container = runtime.current()
    report = reconcile(container.reconcile_deps, group_key, wake=container.scheduler.wake)
    if report.deferred:  # another worker holds the repo: run right after it, before the next event
        container.queue("events").enqueue(AGAIN, group_key, at_front=True)
    return {"group": group_key, "deferred": report.deferred}


def admit_all(
    store: DeliveryStore, queue: Queue, bodies: list[tuple[bytes, dict[str, str]]]
) -> list[float]:
    """Record and queue each (body, headers) as the generic source's intake would; post times."""
    source = sources.get("generic")
    times = []
    for body, headers in bodies:
        result = source.parse({k.lower(): v for k, v in headers.items()}, body)
        ident = delivery_id("generic", result.delivery_id, body)
        times.append(time.time())
        store.admit(Delivery(ident, "generic", "", result.events), queue, JOB)
    return times
