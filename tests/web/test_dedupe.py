"""Dedupe, record and enqueue on the real Redis, run by a real rq worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker, get_current_job

from bot.core.events import CiFinished, Delivery, ImagePushed
from bot.errors import StoreUnavailable
from bot.settings import Settings
from bot.store.deliveries import STALE_CLAIM_S, DeliveryStore
from tests.conftest import TEST_REDIS_URL

PUSH = ImagePushed("ghcr.io/acme/api", "1.4.2", None, "generic")
CI = CiFinished("github", "acme/api", "a" * 40, "main", "success", run_id=9, run_number=45)


def _store_for_current_job() -> DeliveryStore:
    job = get_current_job()
    assert job is not None
    prefix = job.id.split("-delivery-")[0]
    return DeliveryStore(redis.Redis.from_url(TEST_REDIS_URL), Settings(redis_prefix=prefix))


def processing_job(delivery_id: str) -> None:
    """Stands in for bot.jobs.events.handle_delivery: reads the delivery, marks it processed."""
    store = _store_for_current_job()
    assert store.get(delivery_id) is not None
    store.mark_processed(delivery_id)


def failing_job(delivery_id: str) -> None:
    _store_for_current_job().mark_failed(delivery_id, "config invalid")
    raise RuntimeError("planning failed")


def crashing_job(delivery_id: str) -> None:
    raise RuntimeError("died before recording an outcome")  # the record stays "queued"


OK = f"{__name__}.processing_job"
FAIL = f"{__name__}.failing_job"
CRASH = f"{__name__}.crashing_job"


@pytest.fixture
def store(settings: Settings, redis_conn: redis.Redis) -> DeliveryStore:
    return DeliveryStore(redis_conn, settings)


@pytest.fixture
def queue(settings: Settings, redis_conn: redis.Redis) -> Queue:
    return Queue(settings.queue("events"), connection=redis_conn)


def work(queue: Queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def delivery(ident: str = "github-d1", *events: object) -> Delivery:
    return Delivery(ident, ident.split("-", maxsplit=1)[0], "", tuple(events) or (CI,))  # type: ignore[arg-type]


def test_processed_delivery_is_a_duplicate_and_queues_nothing(store: DeliveryStore, queue: Queue) -> None:
    assert store.admit(delivery(), queue, OK).outcome == "new"
    work(queue)
    assert store.record("github-d1").status == "processed"  # type: ignore[union-attr]
    again = store.admit(delivery(), queue, OK)
    assert (again.outcome, again.status, again.enqueued) == ("duplicate", "processed", False)
    assert queue.count == 0
    assert store.record("github-d1").attempts == 1  # type: ignore[union-attr]


def test_redelivery_while_still_queued_is_a_duplicate(store: DeliveryStore, queue: Queue) -> None:
    store.admit(delivery(), queue, OK)
    again = store.admit(delivery(), queue, OK)
    assert (again.outcome, again.status) == ("duplicate", "queued")
    assert queue.job_ids == [store.job_id("github-d1")]


def test_failed_delivery_is_processed_again(store: DeliveryStore, queue: Queue) -> None:
    store.admit(delivery(), queue, FAIL)
    work(queue)
    record = store.record("github-d1")
    assert record is not None and (record.status, record.reason) == ("failed", "config invalid")
    assert queue.failed_job_registry.get_job_ids() == [store.job_id("github-d1")]

    again = store.admit(delivery(), queue, OK)
    assert (again.outcome, again.attempts) == ("retry", 2)
    assert queue.job_ids == [store.job_id("github-d1")]
    assert queue.failed_job_registry.get_job_ids() == []
    work(queue)
    assert store.record("github-d1").status == "processed"  # type: ignore[union-attr]


def test_stale_claim_without_a_job_is_enqueued_again_on_redelivery(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, queue: Queue
) -> None:
    now = [1000.0]
    store = DeliveryStore(redis_conn, make_settings(), clock=lambda: now[0])
    store.admit(delivery(), queue, OK)
    queue.empty()  # the job is gone (deleted by hand, lost enqueue), the record still says queued
    now[0] += STALE_CLAIM_S
    again = store.admit(delivery(), queue, OK)
    assert (again.outcome, again.attempts) == ("retry", 2)
    assert queue.job_ids == [store.job_id("github-d1")]
    work(queue)
    assert store.record("github-d1").status == "processed"  # type: ignore[union-attr]


def test_job_that_died_without_an_outcome_is_enqueued_again_after_the_stale_window(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, queue: Queue
) -> None:
    now = [1000.0]
    store = DeliveryStore(redis_conn, make_settings(), clock=lambda: now[0])
    store.admit(delivery(), queue, CRASH)
    work(queue)
    assert store.record("github-d1").status == "queued"  # type: ignore[union-attr]
    assert queue.failed_job_registry.get_job_ids() == [store.job_id("github-d1")]
    now[0] += STALE_CLAIM_S
    assert store.admit(delivery(), queue, OK).outcome == "retry"
    assert queue.failed_job_registry.get_job_ids() == []
    work(queue)
    assert store.record("github-d1").status == "processed"  # type: ignore[union-attr]


def test_fresh_claim_without_a_job_is_a_duplicate(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, queue: Queue
) -> None:
    """Another request claimed it moments ago and is still enqueueing: do not enqueue twice."""
    now = [1000.0]
    store = DeliveryStore(redis_conn, make_settings(), clock=lambda: now[0])
    store.admit(delivery(), queue, OK)
    queue.empty()
    now[0] += STALE_CLAIM_S - 1
    again = store.admit(delivery(), queue, OK)
    assert (again.outcome, again.status) == ("duplicate", "queued")
    assert queue.count == 0 and store.record("github-d1").attempts == 1  # type: ignore[union-attr]


def test_stale_claim_whose_job_still_waits_is_a_duplicate(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, queue: Queue
) -> None:
    """A long queue backlog: the old claim is stale but its job will still run."""
    now = [1000.0]
    store = DeliveryStore(redis_conn, make_settings(), clock=lambda: now[0])
    store.admit(delivery(), queue, OK)
    now[0] += 10 * STALE_CLAIM_S
    assert store.admit(delivery(), queue, OK).outcome == "duplicate"
    assert queue.job_ids == [store.job_id("github-d1")]
    assert store.record("github-d1").attempts == 1  # type: ignore[union-attr]


class _EnqueueFails(Queue):
    """The enqueue step after a successful claim hits a Redis error (connection lost mid-request)."""

    def enqueue_call(self, *args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("connection lost")


def test_enqueue_failing_after_the_claim_answers_unavailable_and_loses_nothing(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, queue: Queue
) -> None:
    settings = make_settings()
    store = DeliveryStore(redis_conn, settings, clock=lambda: 1000.0)
    broken = _EnqueueFails(settings.queue("events"), connection=redis_conn)
    with pytest.raises(StoreUnavailable, match="ConnectionError"):
        store.admit(delivery(), broken, OK)
    assert store.record("github-d1").status == "queued" and queue.count == 0  # type: ignore[union-attr]
    # the claim was released, so the sender's immediate retry is claimed and enqueued
    again = store.admit(delivery(), queue, OK)
    assert (again.outcome, again.attempts) == ("retry", 2)
    assert queue.job_ids == [store.job_id("github-d1")]


def test_redelivery_keeps_first_reception_time_and_counts_attempts(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, queue: Queue
) -> None:
    now = [1000.0]
    store = DeliveryStore(redis_conn, make_settings(), clock=lambda: now[0])
    store.admit(delivery(), queue, FAIL)
    work(queue)
    now[0] = 2000.0
    assert store.admit(delivery(), queue, OK).attempts == 2
    record = store.record("github-d1")
    assert record is not None
    assert (record.received_at, record.updated_at) == ("1970-01-01T00:16:40.000Z", "1970-01-01T00:33:20.000Z")
    assert (record.status, record.reason, record.attempts) == ("queued", "", 2)


def test_delivery_round_trips_its_events(store: DeliveryStore, queue: Queue) -> None:
    store.admit(delivery("generic-x", PUSH, CI), queue, OK)
    got = store.get("generic-x")
    assert got is not None
    assert (got.id, got.source, got.events) == ("generic-x", "generic", (PUSH, CI))
    assert got.received_at.endswith("Z")


def test_recent_lists_newest_first_with_outcome_and_reason(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, queue: Queue
) -> None:
    now = [1000.0]
    store = DeliveryStore(redis_conn, make_settings(), clock=lambda: now[0])
    for i, ident in enumerate(["github-a", "github-b", "github-c"]):
        now[0] = 1000.0 + i
        store.admit(delivery(ident), queue, OK)
    now[0] = 2000.0
    store.record_ignored("github-ping", "github", "ping")
    store.mark_failed("github-b", "boom")
    recent = store.recent(3)
    assert [(r.id, r.status, r.reason) for r in recent] == [
        ("github-ping", "ignored", "ping"),
        ("github-c", "queued", ""),
        ("github-b", "failed", "boom"),
    ]


def test_marking_an_unknown_delivery_reports_false_and_creates_nothing(
    store: DeliveryStore, redis_conn: redis.Redis
) -> None:
    assert store.mark_processed("github-nope") is False
    assert store.mark_failed("github-nope", "x") is False
    assert not redis_conn.exists(store.key("github-nope"))


def test_duplicate_admitted_just_before_us_makes_ours_a_duplicate(
    settings: Settings, redis_conn: redis.Redis, queue: Queue
) -> None:
    """A second delivery with the same id claims it right before our claim: we see its claim."""
    rival = DeliveryStore(redis.Redis.from_url(TEST_REDIS_URL), settings)
    interfered: list[object] = []

    def clock() -> float:  # called just before our claim
        if not interfered:
            interfered.append(rival.admit(delivery(), queue, OK))
        return 1000.0

    again = DeliveryStore(redis_conn, settings, clock=clock).admit(delivery(), queue, OK)
    assert [a.outcome for a in interfered] == ["new"]  # type: ignore[attr-defined]
    assert (again.outcome, again.status) == ("duplicate", "queued")
    assert queue.job_ids == [rival.job_id("github-d1")]
    assert rival.record("github-d1").attempts == 1  # type: ignore[union-attr]
    work(queue)
    assert rival.record("github-d1").status == "processed"  # type: ignore[union-attr]


@pytest.mark.parametrize("previous", ["new", "stale"])
def test_concurrent_admissions_of_one_id_enqueue_exactly_one_job(
    previous: str, settings: Settings, redis_conn: redis.Redis, queue: Queue
) -> None:
    """Eight threads, each with its own connection, admit the same delivery at the same moment."""
    now = [1000.0]
    if previous == "stale":  # a queued record whose job was lost long ago: exactly one re-claims
        DeliveryStore(redis_conn, settings, clock=lambda: now[0]).admit(delivery(), queue, OK)
        queue.empty()
        now[0] += STALE_CLAIM_S
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def admit() -> None:
        store = DeliveryStore(redis.Redis.from_url(TEST_REDIS_URL), settings, clock=lambda: now[0])
        start.wait(timeout=10)
        outcomes.append(store.admit(delivery(), queue, OK).outcome)

    threads = [threading.Thread(target=admit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    enqueued = "new" if previous == "new" else "retry"
    assert sorted(outcomes) == ["duplicate"] * 7 + [enqueued]
    store = DeliveryStore(redis_conn, settings)
    assert queue.job_ids == [store.job_id("github-d1")]
    assert [r.id for r in store.recent(5)] == ["github-d1"]
    assert store.record("github-d1").attempts == (1 if previous == "new" else 2)  # type: ignore[union-attr]


def test_job_is_a_plain_rq_job_with_the_documented_id(
    settings: Settings, store: DeliveryStore, queue: Queue
) -> None:
    store.admit(delivery("gitlab-uuid-1"), queue, OK)
    job = queue.fetch_job(f"{settings.redis_prefix}-delivery-gitlab-uuid-1")
    assert job is not None
    assert (job.func_name, job.args, job.kwargs) == (OK, (), {"delivery_id": "gitlab-uuid-1"})
    assert job.get_status() == "queued" and queue.job_ids == [job.id]


def test_redis_down_raises_store_unavailable(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:1/0")
    conn = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1)
    store = DeliveryStore(conn, settings)
    with pytest.raises(StoreUnavailable):
        store.admit(delivery(), Queue(settings.queue("events"), connection=conn), OK)
    with pytest.raises(StoreUnavailable):
        store.record_ignored("github-ping", "github", "ping")
