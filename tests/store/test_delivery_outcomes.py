"""A delivery's outcomes in Redis: stored with it when the event job marks it processed, bounded,
and amended by a later step (the hook registry verification uses: ``waiting`` for the tag)."""

from __future__ import annotations

import redis
from rq import Queue

from bot.core.events import Delivery, ImagePushed
from bot.core.outcomes import MAX_PER_DELIVERY, WAITING_FOR_TAG, TargetOutcome
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore

GROUP = "local:deploy:main:dev"
API = "ghcr.io/acme/api"


def admitted(store: DeliveryStore, settings: Settings, conn: redis.Redis, delivery_id: str) -> str:
    event = ImagePushed(API, "1.5.0", None, "generic")
    queue = Queue(settings.queue("events"), connection=conn)
    return store.admit(
        Delivery(delivery_id, "generic", "", (event,)), queue, "tests.web.conftest.noop_job"
    ).ref


def test_outcomes_are_kept_with_the_delivery_and_amended_by_a_later_step(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    store = DeliveryStore(redis_conn, settings)
    ref = admitted(store, settings, redis_conn, "d-1")
    accepted = TargetOutcome("accepted", "goes into the PR of group `dev`", API, "1.5.0", GROUP)
    store.mark_processed_many([ref], {ref: [accepted]})
    record = store.record("d-1")
    assert record is not None and record.status == "processed"
    assert (record.verdict, record.outcomes) == ("updated", (accepted,))
    assert record.reason == "ghcr.io/acme/api 1.5.0: goes into the PR of group `dev`"

    assert store.amend_outcomes("d-1", group=GROUP, image=API, status="waiting", reason=WAITING_FOR_TAG)
    record = store.record("d-1")
    assert record is not None and record.verdict == "waiting"
    assert [(o.status, o.reason) for o in record.outcomes] == [("waiting", WAITING_FOR_TAG)]
    assert record.status == "processed"  # still a duplicate for the sender: nothing to run again
    assert not store.amend_outcomes("d-1", group=GROUP, image=API, status="waiting", reason=WAITING_FOR_TAG)
    assert not store.amend_outcomes(
        "d-1", group=GROUP, image="ghcr.io/acme/web", status="waiting", reason="x"
    )
    assert not store.amend_outcomes("d-unknown", group=GROUP, image=API, status="waiting", reason="x")


def test_a_delivery_with_very_many_outcomes_keeps_a_bounded_number_and_says_how_many_more(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    store = DeliveryStore(redis_conn, settings)
    ref = admitted(store, settings, redis_conn, "d-big")
    many = [
        TargetOutcome("skipped", f"no rule routes img{n}", f"img{n}", "1")
        for n in range(MAX_PER_DELIVERY + 30)
    ]
    store.mark_processed_many([ref], {ref: many})
    record = store.record("d-big")
    assert record is not None
    assert len(record.outcomes) == MAX_PER_DELIVERY and record.left_out == 30
    assert record.verdict == "nothing to do" and record.reason.endswith("(+97 more)")
