"""The event job: ``handle_delivery(ref)``.

Loads the delivery, plans and merges its intents (or reacts to a push / closed PR), then asks each
touched group to reconcile and queues one command job per PR comment. The delivery is marked
processed only when all of that succeeded; a failure of ours marks it failed (a redelivery runs it
again). A Redis failure marks nothing: the record stays ``queued`` and the sweep
(``bot.services.sweep``) enqueues the job again once Redis takes writes, so a delivery that could
not record its outcome is retried, never abandoned.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from bot.core.events import PrComment
from bot.errors import BotError
from bot.jobs import runtime
from bot.jobs.schedule import PendingCommand, command_token
from bot.services.events import apply_delivery

log = logging.getLogger(__name__)


def handle_delivery(ref: str) -> dict[str, Any]:
    container = runtime.current()
    store = container.deliveries
    delivery = store.get(ref)
    if delivery is None:
        log.warning("delivery %s is gone (expired?); nothing to do", ref)
        return {"delivery": ref, "missing": True}
    scheduler = container.scheduler
    try:
        outcome = apply_delivery(
            container.intents, container.config, delivery, bot_login=container.settings.bot_login
        )
        for group_key in outcome.groups:
            scheduler.request_reconcile(group_key)
        for event in delivery.events:  # chat-ops: each comment is its own job, run under the lock
            if isinstance(event, PrComment):
                token = command_token(event, delivery.id)
                scheduler.enqueue_command(PendingCommand(event, delivery.id, None, token))
    except redis.RedisError:
        raise  # left "queued": the sweep runs it again once Redis takes writes
    except Exception as exc:
        store.mark_failed(ref, str(exc) if isinstance(exc, BotError) else type(exc).__name__)
        raise
    store.mark_processed(ref)
    return {
        "delivery": delivery.id,
        "intents": outcome.intents,
        "accepted": outcome.accepted,
        "superseded": outcome.superseded,
        "groups": outcome.groups,
    }
