"""The no-coalescing baseline of ``bench/race.py``, built from the bench's own job.

``event_then_reconcile(delivery)`` plans one delivery as the product's consumer does and then,
instead of asking for one coalesced reconcile per group, reconciles every group it touched at
once, inside the same job: one sync per event and group, FIFO with the events. A group whose repo
lock is held gets its own ``reconcile_now`` job at the front of the queue, so it runs before the
next event rather than coalescing with it.

``enqueue_all`` parses each body as the generic source's intake does and queues this job on the
bot's rq queue (rq's public ``enqueue``); the deliveries stream is not used, so the product's
consumer never sees these events.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bot import sources
from bot.core.events import Delivery
from bot.jobs import runtime
from bot.jobs.dispatch import Dispatch
from bot.services.reconcile import reconcile
from bot.web.intake import delivery_id

JOB = "bench.race_baseline.event_then_reconcile"
AGAIN = "bench.race_baseline.reconcile_now"


def event_then_reconcile(delivery: Delivery) -> dict[str, Any]:
    container = runtime.current()
    outcome = container.pipeline.apply([delivery])
    for group_key in outcome.groups:
        reconcile_now(group_key)
    return {"delivery": delivery.id, "groups": outcome.groups}


def reconcile_now(group_key: str) -> dict[str, Any]:
    container = runtime.current()
    report = reconcile(container.reconcile_deps, group_key, wake=lambda _waiters: None)
    if report.deferred:  # another worker holds the repo: run right after it, before the next event
        _enqueue(container.dispatch, AGAIN, {"group_key": group_key}, front=True)
    return {"group": group_key, "deferred": report.deferred}


def _enqueue(dispatch: Dispatch, func: str, kwargs: dict[str, Any], *, front: bool = False) -> None:
    job_id = f"{dispatch.settings.redis_prefix}-baseline-{uuid.uuid4().hex[:12]}"
    dispatch.enqueue(func, kwargs, job_id=job_id, front=front)


def enqueue_all(dispatch: Dispatch, bodies: list[tuple[bytes, dict[str, str]]]) -> list[float]:
    """Parse each (body, headers) as the generic source's intake would and queue the baseline's
    job for it; the time each was queued."""
    source = sources.get("generic")
    times = []
    for body, headers in bodies:
        result = source.parse({k.lower(): v for k, v in headers.items()}, body)
        ident = delivery_id("generic", result.delivery_id, body)
        times.append(time.time())
        _enqueue(dispatch, JOB, {"delivery": Delivery(ident, "generic", "", result.events)})
    return times
