"""The sweep puts back lost work: deliveries whose job is gone, stale coalescing markers, waiters
of a dead lock holder, groups left dirty (with backoff)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from rq import Queue

from bot.core.events import Delivery, ImagePushed
from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.sweep import EVENT_FUNC, sweep
from tests.web.conftest import intent

GROUP = "local:shop-manifests:main:dev"


@pytest.fixture
def container(settings, redis_conn: redis.Redis) -> Iterator[Container]:  # type: ignore[no-untyped-def]
    now = [1000.0]
    built = Container(settings, clock=lambda: now[0])
    built.__dict__["redis"] = redis_conn
    built.now = now  # type: ignore[attr-defined]
    runtime.install(built)
    yield built
    runtime.install(None)


def reconcile_queue(c: Container) -> Queue:
    return Queue(c.settings.queue("reconcile"), connection=c.redis)


def test_a_delivery_whose_job_vanished_is_enqueued_again(container: Container) -> None:
    events = container.queue("events")
    delivery = Delivery("generic-7", "generic", "", (ImagePushed("ghcr.io/a/b", "1.0.0", None, "generic"),))
    ref = container.deliveries.admit(delivery, events, EVENT_FUNC).ref
    container.redis.lpop(events.key)  # what a worker killed right after BLPOP left behind
    container.now[0] += 60  # type: ignore[attr-defined]
    assert sweep()["deliveries_requeued"] == 1
    assert events.job_ids == [container.deliveries.job_id(ref)]
    assert sweep()["deliveries_requeued"] == 0  # it waits in the queue now


def test_a_marker_whose_job_is_gone_is_cleared_and_the_group_reconciled(container: Container) -> None:
    container.intents.merge([intent("ghcr.io/a/b", "9", 9, ("a.yaml",))])
    job_id = container.scheduler.request_reconcile(GROUP)
    assert job_id is not None
    reconcile_queue(container).empty()  # the job was lost; the marker stays and swallows events
    assert container.scheduler.request_reconcile(GROUP) is None
    counts = sweep()
    assert counts["markers_cleared"] == 1 and counts["groups_retried"] == 1
    assert container.scheduler.reconcile_state(GROUP) == "queued"
    assert reconcile_queue(container).count == 1


def test_waiters_of_a_lock_whose_holder_died_are_woken(container: Container) -> None:
    lock = container.repo_lock("local", "shop-manifests")
    lock.add_waiter(GROUP)  # the holder's lock expired (it was killed) without handing back
    assert sweep()["waiters_woken"] == 1
    assert reconcile_queue(container).count == 1
    assert not container.redis.exists(lock.waiters_key)


def test_a_group_left_dirty_is_retried_with_backoff(container: Container) -> None:
    container.intents.merge([intent("ghcr.io/a/b", "9", 9, ("a.yaml",))])  # dirty, never requested
    assert sweep()["groups_retried"] == 1
    reconcile_queue(container).empty()
    container.redis.delete(container.scheduler.marker_key(GROUP))  # that job failed for good
    assert sweep()["groups_retried"] == 0  # too soon: backoff
    container.now[0] += container.settings.dirty_retry_cap_s  # type: ignore[attr-defined]
    assert sweep()["groups_retried"] == 1
    container.intents.mark_applied(GROUP, 1)  # a reconcile got through
    assert sweep()["groups_retried"] == 0
    assert not container.redis.exists(container.settings.key("dirty-retry", GROUP))
