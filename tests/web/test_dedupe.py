"""Dedupe, record and enqueue on the real Redis, run by a real rq worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker, get_current_job

from bot.core.events import CiFinished, Delivery, ImagePushed
from bot.errors import StoreUnavailable
from bot.settings import Settings
from bot.store.deliveries import STALE_CLAIM_S, DeliveryStore, delivery_ref, events_digest
from tests.conftest import TEST_REDIS_URL

PUSH = ImagePushed("ghcr.io/acme/api", "1.4.2", None, "generic")
CI = CiFinished("github", "acme/api", "a" * 40, "main", "success", run_id=9, run_number=45)


def _store_for_current_job() -> DeliveryStore:
    job = get_current_job()
    assert job is not None
    prefix = job.id.split("-delivery-")[0]
    return DeliveryStore(redis.Redis.from_url(TEST_REDIS_URL), Settings(redis_prefix=prefix))


def processing_job(ref: str) -> None:
    """Stands in for bot.jobs.events.handle_delivery: reads the delivery, marks it processed."""
    store = _store_for_current_job()
    assert store.get(ref) is not None
    store.mark_processed(ref)


def failing_job(ref: str) -> None:
    _store_for_current_job().mark_failed(ref, "config invalid")
    raise RuntimeError("planning failed")


def crashing_job(ref: str) -> None:
    raise RuntimeError("died before recording an outcome")  # the record stays "queued"


OK = f"{__name__}.processing_job"
FAIL = f"{__name__}.failing_job"
CRASH = f"{__name__}.crashing_job"


class Clock:
    """The store's clock, moved by the test (claims age without waiting)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(settings: Settings, redis_conn: redis.Redis, clock: Clock) -> DeliveryStore:
    return DeliveryStore(redis_conn, settings, clock)


@pytest.fixture
def queue(settings: Settings, redis_conn: redis.Redis) -> Queue:
    return Queue(settings.queue("events"), connection=redis_conn)


def work(queue: Queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def delivery(ident: str = "github-d1", *events: object) -> Delivery:
    return Delivery(ident, ident.split("-", maxsplit=1)[0], "", tuple(events) or (CI,))  # type: ignore[arg-type]


def ref(d: Delivery) -> str:
    return delivery_ref(d.id, events_digest(d.events))


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
    assert queue.job_ids == [store.job_id(ref(delivery()))]


def test_same_id_with_other_events_is_processed_too(store: DeliveryStore, queue: Queue) -> None:
    """The docs' own `X-Manifest-Bot-Delivery: $CI_PIPELINE_ID` for a pipeline pushing two images."""
    first = delivery("generic-4711", PUSH)
    second = delivery("generic-4711", ImagePushed("ghcr.io/acme/worker", "1.4.2", None, "generic"))
    assert store.admit(first, queue, OK).outcome == "new"
    again = store.admit(second, queue, OK)
    assert (again.outcome, again.reused) == ("new", True)
    assert sorted(queue.job_ids) == sorted([store.job_id(ref(first)), store.job_id(ref(second))])
    work(queue)
    assert store.by_ref(ref(first)).status == store.by_ref(ref(second)).status == "processed"  # type: ignore[union-attr]
    assert store.admit(first, queue, OK).outcome == store.admit(second, queue, OK).outcome == "duplicate"


def test_an_ignored_delivery_never_overwrites_a_queued_one(store: DeliveryStore, queue: Queue) -> None:
    store.admit(delivery("generic-4711", PUSH), queue, OK)
    store.record_ignored("generic-4711", "generic", "no image in the body")
    assert store.by_ref(ref(delivery("generic-4711", PUSH))).status == "queued"  # type: ignore[union-attr]
    assert store.record("generic-4711").status == "queued"  # type: ignore[union-attr]
    work(queue)
    assert store.record("generic-4711").status == "processed"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "ident", ["github-a.b.c", "generic-api/1", "generic-api_1", "generic-" + "x" * 5000, "generic-ü:{}*?\n"]
)
def test_any_id_is_accepted_and_processed(ident: str, store: DeliveryStore, queue: Queue) -> None:
    assert store.admit(delivery(ident), queue, OK).outcome == "new"
    work(queue)
    record = store.record(ident)
    assert record is not None and (record.id, record.status) == (ident, "processed")


def test_ids_that_sanitising_would_merge_stay_apart(store: DeliveryStore, queue: Queue) -> None:
    for ident in ("generic-api/1", "generic-api_1", "generic-api.1"):
        assert store.admit(delivery(ident), queue, OK).outcome == "new"
    assert queue.count == 3


def test_failed_delivery_is_processed_again(store: DeliveryStore, queue: Queue) -> None:
    store.admit(delivery(), queue, FAIL)
    work(queue)
    record = store.record("github-d1")
    job_id = store.job_id(ref(delivery()))
    assert record is not None and (record.status, record.reason) == ("failed", "config invalid")
    assert queue.failed_job_registry.get_job_ids() == [job_id]

    again = store.admit(delivery(), queue, OK)
    assert (again.outcome, again.attempts) == ("retry", 2)
    assert queue.job_ids == [job_id]
    assert queue.failed_job_registry.get_job_ids() == []
    work(queue)
    assert store.record("github-d1").status == "processed"  # type: ignore[union-attr]


def test_queued_record_whose_job_is_gone_is_enqueued_again_on_redelivery(
    store: DeliveryStore, queue: Queue, clock: Clock
) -> None:
    store.admit(delivery(), queue, OK)
    queue.empty()  # the job is gone (a worker died after taking it, deleted by hand)
    assert store.admit(delivery(), queue, OK).outcome == "duplicate"  # its claim is fresh: in flight?
    clock.now += STALE_CLAIM_S  # no enqueue takes this long: it was lost
    again = store.admit(delivery(), queue, OK)
    assert (again.outcome, again.attempts) == ("retry", 2)
    assert queue.job_ids == [store.job_id(ref(delivery()))]
    work(queue)
    assert store.record("github-d1").status == "processed"  # type: ignore[union-attr]


def test_job_that_died_without_an_outcome_is_enqueued_again(
    store: DeliveryStore, queue: Queue, clock: Clock
) -> None:
    store.admit(delivery(), queue, CRASH)
    work(queue)
    clock.now += STALE_CLAIM_S
    job_id = store.job_id(ref(delivery()))
    assert store.record("github-d1").status == "queued"  # type: ignore[union-attr]
    assert queue.failed_job_registry.get_job_ids() == [job_id]
    assert store.admit(delivery(), queue, OK).outcome == "retry"
    assert queue.failed_job_registry.get_job_ids() == []
    work(queue)
    assert store.record("github-d1").status == "processed"  # type: ignore[union-attr]


def test_requeue_enqueues_only_a_lost_job(store: DeliveryStore, queue: Queue) -> None:
    d = delivery()
    store.admit(d, queue, OK)
    assert store.requeue(ref(d), queue, OK) is False  # its job still waits
    queue.empty()
    assert store.requeue(ref(d), queue, OK) is True
    assert queue.job_ids == [store.job_id(ref(d))]
    work(queue)
    assert store.requeue(ref(d), queue, OK) is False  # processed
    assert store.queued_refs(older_than_s=0, limit=10) == []


class _EnqueueFails(Queue):
    """The enqueue hits a Redis error (connection lost mid-request)."""

    def enqueue_call(self, *args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("connection lost")


def test_enqueue_failing_answers_unavailable_and_leaves_no_claim(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, queue: Queue
) -> None:
    settings = make_settings()
    store = DeliveryStore(redis_conn, settings, clock=lambda: 1000.0)
    broken = _EnqueueFails(settings.queue("events"), connection=redis_conn)
    with pytest.raises(StoreUnavailable, match="ConnectionError"):
        store.admit(delivery(), broken, OK)
    assert store.record("github-d1") is None and queue.count == 0
    again = store.admit(delivery(), queue, OK)  # the sender's immediate retry
    assert (again.outcome, again.attempts) == ("new", 1)
    assert queue.job_ids == [store.job_id(ref(delivery()))]


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
    d = delivery("generic-x", PUSH, CI)
    store.admit(d, queue, OK)
    got = store.get(ref(d))
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
    store.mark_failed(ref(delivery("github-b")), "boom")
    recent = store.recent(3)
    assert [(r.id, r.status, r.reason) for r in recent] == [
        ("github-ping", "ignored", "ping"),
        ("github-c", "queued", ""),
        ("github-b", "failed", "boom"),
    ]


def test_marking_an_unknown_delivery_reports_false_and_creates_nothing(
    store: DeliveryStore, redis_conn: redis.Redis
) -> None:
    assert store.mark_processed("0" * 32) is False
    assert store.mark_failed("0" * 32, "x") is False
    assert not redis_conn.exists(store.key("0" * 32))


@pytest.mark.parametrize("previous", ["new", "lost"])
def test_concurrent_admissions_of_one_id_enqueue_exactly_one_job(
    previous: str, settings: Settings, redis_conn: redis.Redis, queue: Queue
) -> None:
    """Eight threads, each with its own connection, admit the same delivery at the same moment."""
    if previous == "lost":  # a queued record whose job was lost: exactly one redelivery enqueues it
        long_ago = time.time() - STALE_CLAIM_S - 1
        DeliveryStore(redis_conn, settings, lambda: long_ago).admit(delivery(), queue, OK)
        queue.empty()
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def admit() -> None:
        store = DeliveryStore(redis.Redis.from_url(TEST_REDIS_URL), settings)
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
    assert queue.job_ids == [store.job_id(ref(delivery()))]
    assert [r.id for r in store.recent(5)] == ["github-d1"]
    assert store.record("github-d1").attempts == (1 if previous == "new" else 2)  # type: ignore[union-attr]


def test_job_is_a_plain_rq_job_with_a_hashed_id(
    settings: Settings, store: DeliveryStore, queue: Queue
) -> None:
    d = delivery("gitlab-uuid.1/x")
    store.admit(d, queue, OK)
    job = queue.fetch_job(f"{settings.redis_prefix}-delivery-{ref(d)}")
    assert job is not None
    assert (job.func_name, job.args, job.kwargs) == (OK, (), {"ref": ref(d)})
    assert job.get_status() == "queued" and queue.job_ids == [job.id]


def test_redis_down_raises_store_unavailable(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:1/0")
    conn = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1)
    store = DeliveryStore(conn, settings)
    with pytest.raises(StoreUnavailable):
        store.admit(delivery(), Queue(settings.queue("events"), connection=conn), OK)
    with pytest.raises(StoreUnavailable):
        store.record_ignored("github-ping", "github", "ping")
