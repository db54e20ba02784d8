"""A delivery's outcomes in Redis: stored with it when the consumer records it processed, and
bounded."""

from __future__ import annotations

import redis

from bot.core.events import Delivery, ImagePushed
from bot.core.outcomes import MAX_PER_DELIVERY, TargetOutcome
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore, Outcome

GROUP = "local:deploy:main:dev"
API = "ghcr.io/acme/api"


def admitted(store: DeliveryStore, delivery_id: str) -> str:
    event = ImagePushed(API, "1.5.0", None, "generic")
    return store.admit(Delivery(delivery_id, "generic", "", (event,))).ref


def test_outcomes_are_kept_with_the_delivery(settings: Settings, redis_conn: redis.Redis) -> None:
    store = DeliveryStore(redis_conn, settings)
    ref = admitted(store, "d-1")
    accepted = TargetOutcome("accepted", "goes into the PR of group `dev`", API, "1.5.0", GROUP)
    store.record_outcomes([Outcome(ref, [accepted])], [])
    record = store.record("d-1")
    assert record is not None and record.status == "processed"
    assert (record.verdict, record.outcomes) == ("updated", (accepted,))
    assert record.reason == "ghcr.io/acme/api 1.5.0: goes into the PR of group `dev`"


def test_a_delivery_with_very_many_outcomes_keeps_a_bounded_number_and_says_how_many_more(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    store = DeliveryStore(redis_conn, settings)
    ref = admitted(store, "d-big")
    many = [
        TargetOutcome("skipped", f"no rule routes img{n}", f"img{n}", "1")
        for n in range(MAX_PER_DELIVERY + 30)
    ]
    store.record_outcomes([Outcome(ref, many)], [])
    record = store.record("d-big")
    assert record is not None
    assert len(record.outcomes) == MAX_PER_DELIVERY and record.left_out == 30
    assert record.verdict == "nothing to do" and record.reason.endswith("(+97 more)")
