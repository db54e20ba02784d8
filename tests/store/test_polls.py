"""The poll schedule on real Redis: it follows the config it is given (images added at once,
dropped ones forgotten with their signatures, a shorter interval brings the next poll forward),
``take_due`` re-arms every image it takes at its own interval, and two callers taking at the
same moment never get the same image."""

from __future__ import annotations

import threading

import pytest
import redis

from bot.settings import Settings
from bot.store.polls import PollStore, Synced
from tests.conftest import TEST_REDIS_URL
from tests.redis_counting import counting_redis

NOW = 1_700_000_000.0
A, B, C = "ghcr.io/acme/a", "ghcr.io/acme/b", "ghcr.io/acme/c"


@pytest.fixture
def store(settings: Settings, redis_conn: redis.Redis) -> PollStore:
    return PollStore(redis_conn, settings)


def test_sync_adds_new_images_due_at_once_and_forgets_dropped_ones(store: PollStore) -> None:
    assert store.sync({A: 60, B: 300}, NOW) == Synced(added=2, removed=0, changed=0, total=2)
    assert store.schedule() == {A: NOW, B: NOW} and store.intervals() == {A: 60, B: 300}
    store.remember({A: "sig-a", B: "sig-b"})
    store.take_due(NOW, 10)

    assert store.sync({B: 300, C: 120}, NOW + 10) == Synced(added=1, removed=1, changed=0, total=2)
    assert store.schedule() == {C: NOW + 10, B: NOW + 300}  # B keeps its time
    assert store.signatures([A, B]) == {A: None, B: "sig-b"}  # a dropped image starts afresh

    assert store.sync({}, NOW + 20) == Synced(added=0, removed=2, changed=0, total=0)
    assert store.schedule() == {} and store.intervals() == {} and store.next_due() is None


def test_a_shorter_interval_brings_the_next_poll_forward_a_longer_one_does_not_delay_it(
    store: PollStore,
) -> None:
    store.sync({A: 3600, B: 60}, NOW)
    store.take_due(NOW, 10)  # A next at NOW + 3600, B at NOW + 60
    assert store.sync({A: 120, B: 600}, NOW + 30) == Synced(added=0, removed=0, changed=2, total=2)
    assert store.schedule() == {B: NOW + 60, A: NOW + 150}
    assert store.intervals() == {A: 120, B: 600}
    assert store.sync({A: 120, B: 600}, NOW + 40).changed == 0  # the same config changes nothing


def test_take_due_returns_the_due_images_soonest_first_and_re_arms_each_at_its_interval(
    store: PollStore,
) -> None:
    store.sync({A: 60, B: 300, C: 120}, NOW)
    store.take_due(NOW, 10)
    assert store.next_due() == NOW + 60
    assert store.take_due(NOW + 59, 10) == []
    assert store.take_due(NOW + 130, 10) == [A, C]
    assert store.schedule() == {A: NOW + 190, C: NOW + 250, B: NOW + 300}
    assert store.take_due(NOW + 400, 1) == [A]  # the limit holds; the others stay due
    assert store.take_due(NOW + 400, 10) == [C, B]


def test_an_image_without_an_interval_is_dropped_when_taken(
    store: PollStore, redis_conn: redis.Redis
) -> None:
    store.sync({A: 60}, NOW)
    redis_conn.zadd(store.due_key, {B: NOW})  # left behind by an older schedule
    assert store.take_due(NOW, 10) == [A]
    assert store.schedule() == {A: NOW + 60}


def test_two_callers_taking_at_once_never_take_one_image_twice(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    images = {f"ghcr.io/acme/app{n}": 60.0 for n in range(2000)}
    PollStore(redis_conn, settings).sync(images, NOW)
    stores = [PollStore(redis.Redis.from_url(TEST_REDIS_URL), settings) for _ in range(2)]
    taken: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def take(n: int) -> None:
        start.wait(timeout=10)
        while True:
            found = stores[n].take_due(NOW, 50)
            if not found:
                return
            taken[n].extend(found)

    threads = [threading.Thread(target=take, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert not set(taken[0]) & set(taken[1])
    assert sorted(taken[0] + taken[1]) == sorted(images)
    assert set(PollStore(redis_conn, settings).schedule().values()) == {NOW + 60}


def test_signatures_are_read_and_written_for_a_whole_batch_in_one_command_each(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    conn, commands = counting_redis(TEST_REDIS_URL)
    store = PollStore(conn, settings)
    store.remember({A: "1", B: "2"})
    assert store.signatures([A, B, C]) == {A: "1", B: "2", C: None}
    store.sync({A: 60}, NOW)
    mark = len(commands)
    assert store.take_due(NOW - 1, 100) == []  # nothing due: one command
    assert commands.since(0)[:2] == ["HSET", "HMGET"] and commands.since(mark) == ["EVALSHA"]
