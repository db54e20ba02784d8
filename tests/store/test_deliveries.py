"""Dedupe, record and queue on the real Redis: what intake's one script decides, what the stream
holds, what a consumer's outcome does, and the bound that keeps Redis flat."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from bot.core.events import CiFinished, Delivery, ImagePushed
from bot.core.outcomes import TargetOutcome
from bot.errors import StoreUnavailable
from bot.settings import Settings
from bot.store import deliveries as deliveries_module
from bot.store.deliveries import DeliveryStore, Outcome, delivery_ref, events_digest
from bot.store.stream import GROUP
from tests.conftest import TEST_REDIS_URL
from tests.doubles import Clock

PUSH = ImagePushed("ghcr.io/acme/api", "1.4.2", None, "generic")
CI = CiFinished("github", "acme/api", "a" * 40, "main", "success", run_id=9, run_number=45)


@pytest.fixture
def clock() -> Clock:
    return Clock(time.time())


@pytest.fixture
def store(settings: Settings, redis_conn: redis.Redis, clock: Clock) -> DeliveryStore:
    return DeliveryStore(redis_conn, settings, clock)


def delivery(ident: str = "github-d1", *events: object) -> Delivery:
    return Delivery(ident, ident.split("-", maxsplit=1)[0], "", tuple(events) or (CI,))  # type: ignore[arg-type]


def ref(d: Delivery) -> str:
    return delivery_ref(d.id, events_digest(d.events))


def process(store: DeliveryStore, *, fail: str | None = None) -> list[str]:
    """What a consumer does: take every new entry, record an outcome, acknowledge. The refs."""
    entries = store.stream.read("test-consumer", 1000, None)
    done = [Outcome(e.ref, failed="config invalid" if e.ref == fail else None) for e in entries]
    store.record_outcomes(done, [e.id for e in entries])
    return [e.ref for e in entries]


def entries(store: DeliveryStore) -> int:
    return int(store.stream.conn.xlen(store.stream.key))


def pending(store: DeliveryStore) -> int:
    return int(store.stream.conn.xpending(store.stream.key, GROUP)["pending"])


def test_an_admitted_delivery_is_recorded_and_queued_in_one_step(store: DeliveryStore) -> None:
    admission = store.admit(delivery())
    assert (admission.outcome, admission.enqueued) == ("new", True)
    assert store.record("github-d1").status == "queued"  # type: ignore[union-attr]
    assert process(store) == [ref(delivery())]
    record = store.record("github-d1")
    assert record is not None and record.status == "processed"
    assert pending(store) == 0  # the outcome acknowledged the entry


def test_processed_delivery_is_a_duplicate_and_queues_nothing(store: DeliveryStore) -> None:
    store.admit(delivery())
    process(store)
    again = store.admit(delivery())
    assert (again.outcome, again.status, again.enqueued) == ("duplicate", "processed", False)
    assert entries(store) == 1
    assert store.record("github-d1").attempts == 1  # type: ignore[union-attr]


def test_redelivery_while_still_queued_is_a_duplicate(store: DeliveryStore) -> None:
    store.admit(delivery())
    again = store.admit(delivery())
    assert (again.outcome, again.status) == ("duplicate", "queued")
    assert entries(store) == 1


def test_same_id_with_other_events_is_processed_too(store: DeliveryStore) -> None:
    """The docs' own `X-Manifest-Bot-Delivery: $CI_PIPELINE_ID` for a pipeline pushing two images."""
    first = delivery("generic-4711", PUSH)
    second = delivery("generic-4711", ImagePushed("ghcr.io/acme/worker", "1.4.2", None, "generic"))
    assert store.admit(first).outcome == "new"
    again = store.admit(second)
    assert (again.outcome, again.reused) == ("new", True)
    assert sorted(process(store)) == sorted([ref(first), ref(second)])
    assert store.by_ref(ref(first)).status == store.by_ref(ref(second)).status == "processed"  # type: ignore[union-attr]
    assert store.admit(first).outcome == store.admit(second).outcome == "duplicate"


def test_an_ignored_delivery_never_overwrites_a_queued_one(store: DeliveryStore) -> None:
    store.admit(delivery("generic-4711", PUSH))
    store.record_ignored("generic-4711", "generic", "no image in the body")
    assert store.by_ref(ref(delivery("generic-4711", PUSH))).status == "queued"  # type: ignore[union-attr]
    assert store.record("generic-4711").status == "queued"  # type: ignore[union-attr]
    process(store)
    assert store.record("generic-4711").status == "processed"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "ident", ["github-a.b.c", "generic-api/1", "generic-api_1", "generic-" + "x" * 5000, "generic-ü:{}*?\n"]
)
def test_any_id_is_accepted_and_processed(ident: str, store: DeliveryStore) -> None:
    assert store.admit(delivery(ident)).outcome == "new"
    process(store)
    record = store.record(ident)
    assert record is not None and (record.id, record.status) == (ident, "processed")


def test_ids_that_sanitising_would_merge_stay_apart(store: DeliveryStore) -> None:
    for ident in ("generic-api/1", "generic-api_1", "generic-api.1"):
        assert store.admit(delivery(ident)).outcome == "new"
    assert entries(store) == 3


def test_failed_delivery_is_processed_again_on_redelivery(store: DeliveryStore) -> None:
    store.admit(delivery())
    process(store, fail=ref(delivery()))
    record = store.record("github-d1")
    assert record is not None and (record.status, record.reason) == ("failed", "config invalid")
    again = store.admit(delivery())
    assert (again.outcome, again.attempts) == ("retry", 2)
    assert process(store) == [ref(delivery())]
    assert store.record("github-d1").status == "processed"  # type: ignore[union-attr]


def test_a_person_retries_a_failed_delivery(store: DeliveryStore) -> None:
    store.admit(delivery())
    assert store.retry(ref(delivery())) is False  # not failed: nothing to retry
    process(store, fail=ref(delivery()))
    assert store.retry(ref(delivery())) is True
    assert store.record("github-d1").status == "queued"  # type: ignore[union-attr]
    assert process(store) == [ref(delivery())]
    assert store.record("github-d1").status == "processed"  # type: ignore[union-attr]


def test_a_queued_record_whose_entry_redis_lost_is_queued_again(store: DeliveryStore, clock: Clock) -> None:
    d = delivery()
    store.admit(d)
    clock.now += 60
    assert store.requeue_lost(older_than_s=30, limit=10) == []  # its entry is there
    record_entry = store.stream.conn.hget(store.key(ref(d)), "entry")
    store.stream.conn.xdel(store.stream.key, record_entry)  # a restart from an older snapshot
    clock.now += 60
    assert store.requeue_lost(older_than_s=30, limit=10) == [ref(d)]
    assert process(store) == [ref(d)]
    clock.now += 60
    assert store.requeue_lost(older_than_s=30, limit=10) == []  # processed
    assert store.backlog() == 0


def test_redelivery_keeps_first_reception_time_and_counts_attempts(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    now = [1000.0]
    store = DeliveryStore(redis_conn, make_settings(), clock=lambda: now[0])
    store.admit(delivery())
    process(store, fail=ref(delivery()))
    now[0] = 2000.0
    assert store.admit(delivery()).attempts == 2
    record = store.record("github-d1")
    assert record is not None
    assert (record.received_at, record.updated_at) == ("1970-01-01T00:16:40.000Z", "1970-01-01T00:33:20.000Z")
    assert (record.status, record.reason, record.attempts) == ("queued", "", 2)


def test_delivery_round_trips_its_events(store: DeliveryStore) -> None:
    d = delivery("generic-x", PUSH, CI)
    store.admit(d)
    got = store.get(ref(d))
    assert got is not None
    assert (got.id, got.source, got.events) == ("generic-x", "generic", (PUSH, CI))
    assert got.received_at.endswith("Z")


def test_recent_lists_newest_first_with_outcome_and_reason(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    now = [1000.0]
    store = DeliveryStore(redis_conn, make_settings(), clock=lambda: now[0])
    for i, ident in enumerate(["github-a", "github-b", "github-c"]):
        now[0] = 1000.0 + i
        store.admit(delivery(ident))
    now[0] = 2000.0
    store.record_ignored("github-ping", "github", "ping")
    skipped = TargetOutcome("skipped", "no rule routes it", "ghcr.io/acme/api", "1.0.0")
    store.record_outcomes([Outcome(ref(delivery("github-b")), failed="boom")], [])
    store.record_outcomes([Outcome(ref(delivery("github-a")), [skipped])], [])
    assert [(r.id, r.status, r.reason) for r in store.recent(4)] == [
        ("github-ping", "ignored", "ping"),
        ("github-c", "queued", ""),
        ("github-b", "failed", "boom"),
        ("github-a", "processed", "ghcr.io/acme/api 1.0.0: no rule routes it"),
    ]


def test_an_outcome_for_an_unknown_delivery_creates_nothing(
    store: DeliveryStore, redis_conn: redis.Redis
) -> None:
    store.record_outcomes([Outcome("0" * 32), Outcome("1" * 32, failed="x")], [])
    assert not redis_conn.exists(store.key("0" * 32)) and not redis_conn.exists(store.key("1" * 32))


def test_records_are_bounded_and_never_drop_a_delivery_on_its_way(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    store = DeliveryStore(redis_conn, make_settings(), keep=20)
    for i in range(30):  # a backlog: none processed yet, so none may go
        store.admit(delivery(f"generic-q{i}", PUSH))
    assert store.backlog() == 30 and all(store.record(f"generic-q{i}") for i in range(30))
    process(store)
    for i in range(200):  # a steady stream, each processed as it comes
        store.admit(delivery(f"generic-s{i}", PUSH))
        process(store)
    records = list(redis_conn.scan_iter(match=store.key("*"), count=1000))
    assert len(records) <= 20 + 4  # the bound, give or take one call's evictions
    assert redis_conn.hlen(store.ids_key) == len(records)
    assert store.record("generic-s199") is not None and store.record("generic-q0") is None
    assert store.admit(delivery("generic-q0", PUSH)).outcome == "new"  # forgotten: handled again


def test_ignored_deliveries_are_kept_briefly_and_bounded_on_their_own(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deliveries_module, "IGNORED_KEEP", 10)
    store = DeliveryStore(redis_conn, make_settings(), keep=20)
    store.admit(delivery("github-work"))
    for i in range(100):
        store.record_ignored(f"github-ping{i}", "github", "ping")
    ignored = [r for r in store.recent(200) if r.status == "ignored"]
    assert len(ignored) <= 10 + 4
    assert store.record("github-work") is not None  # pings never push work out
    ttl = redis_conn.ttl(store.key(ignored[0].ref))
    assert 0 < ttl <= deliveries_module.IGNORED_TTL_S


def test_concurrent_admissions_of_one_id_queue_it_once(settings: Settings, redis_conn: redis.Redis) -> None:
    """Eight threads, each with its own connection, admit the same delivery at the same moment."""
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def admit() -> None:
        store = DeliveryStore(redis.Redis.from_url(TEST_REDIS_URL), settings)
        start.wait(timeout=10)
        outcomes.append(store.admit(delivery()).outcome)

    threads = [threading.Thread(target=admit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["duplicate"] * 7 + ["new"]
    store = DeliveryStore(redis_conn, settings)
    assert entries(store) == 1
    assert [r.id for r in store.recent(5)] == ["github-d1"]


def test_redis_down_raises_store_unavailable(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:1/0")
    conn = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1)
    store = DeliveryStore(conn, settings)
    with pytest.raises(StoreUnavailable):
        store.admit(delivery())
    with pytest.raises(StoreUnavailable):
        store.record_ignored("github-ping", "github", "ping")
