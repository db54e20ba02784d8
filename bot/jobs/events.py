"""The event job: ``handle_delivery(delivery_id)``.

Load the delivery, plan and merge its intents (or react to a push / closed PR), then ask each
touched group to reconcile and queue one command job per PR comment; the delivery is marked
processed only when all of that succeeded (failed, and re-raised for rq, otherwise).
"""

from __future__ import annotations

import logging
from typing import Any

from bot import deps
from bot.core.events import PrComment
from bot.errors import BotError
from bot.jobs.commands import enqueue_command
from bot.jobs.reconcile import request_reconcile
from bot.services.events import apply_delivery

log = logging.getLogger(__name__)


def handle_delivery(delivery_id: str) -> dict[str, Any]:
    container = deps.current()
    store = container.deliveries
    delivery = store.get(delivery_id)
    if delivery is None:
        log.warning("delivery %s is gone (expired?); nothing to do", delivery_id)
        return {"delivery": delivery_id, "missing": True}
    try:
        outcome = apply_delivery(
            container.intents, container.config, delivery, bot_login=container.settings.bot_login
        )
        for group_key in outcome.groups:
            request_reconcile(container, group_key)
        for event in delivery.events:  # chat-ops (issue 7): each comment is its own locked job
            if isinstance(event, PrComment):
                enqueue_command(container, event, delivery_id)
    except Exception as exc:
        store.mark_failed(delivery_id, str(exc) if isinstance(exc, BotError) else type(exc).__name__)
        raise
    store.mark_processed(delivery_id)
    return {
        "delivery": delivery_id,
        "intents": outcome.intents,
        "accepted": outcome.accepted,
        "superseded": outcome.superseded,
        "groups": outcome.groups,
    }
