"""The event job: ``handle_delivery(delivery_id)``.

Loads the delivery, plans and merges its intents (or reacts to a push / closed PR), then asks each
touched group to reconcile and queues one command job per PR comment. The delivery is marked
processed only when all of that succeeded (failed, and re-raised for rq, otherwise).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.core.events import Installation, PrComment
from bot.errors import BotError
from bot.jobs import runtime
from bot.jobs.schedule import PendingCommand, command_token
from bot.logs import redact
from bot.services.events import apply_delivery

log = logging.getLogger(__name__)


def handle_delivery(delivery_id: str) -> dict[str, Any]:
    container = runtime.current()
    store = container.deliveries
    delivery = store.get(delivery_id)
    if delivery is None:
        log.warning("delivery %s is gone (expired?); nothing to do", delivery_id)
        return {"delivery": delivery_id, "missing": True}
    scheduler = container.scheduler
    try:
        for event in delivery.events:  # the App's installations changed: cached clients are stale
            if isinstance(event, Installation):
                container.installation_changed(event.installation_id, event.repos)
        outcome = apply_delivery(
            container.intents, container.config, delivery, bot_login=container.settings.bot_login
        )
        for group_key in outcome.groups:
            scheduler.request_reconcile(group_key)
        for event in delivery.events:  # chat-ops: each comment is its own job, run under the lock
            if isinstance(event, PrComment):
                token = command_token(event)
                scheduler.enqueue_command(PendingCommand(event, delivery_id, None, token))
    except Exception as exc:
        store.mark_failed(delivery_id, redact(str(exc)) if isinstance(exc, BotError) else type(exc).__name__)
        raise
    store.mark_processed(delivery_id)
    return {
        "delivery": delivery_id,
        "intents": outcome.intents,
        "accepted": outcome.accepted,
        "superseded": outcome.superseded,
        "groups": outcome.groups,
    }
