from __future__ import annotations

import time

import pytest
import redis

from bot.settings import Settings
from bot.store.locks import LockHeld, RepoLock, turn


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_one_holder_at_a_time(redis_conn: redis.Redis, settings: Settings) -> None:
    key = settings.key("lock", "local:manifests")
    a = RepoLock(redis_conn, key, timeout_s=5)
    b = RepoLock(redis_conn, key, timeout_s=5)
    assert a.acquire()
    assert not b.acquire()
    with pytest.raises(LockHeld):
        b.__enter__()
    a.release()
    assert b.acquire()
    b.release()
    assert redis_conn.get(key) is None


def test_release_never_deletes_someone_elses_lock(redis_conn: redis.Redis, settings: Settings) -> None:
    key = settings.key("lock", "r")
    stale = RepoLock(redis_conn, key, timeout_s=0.2, heartbeat_s=60)
    assert stale.acquire()
    assert wait_for(lambda: redis_conn.get(key) is None), "lock should expire without a heartbeat"
    fresh = RepoLock(redis_conn, key, timeout_s=5)
    assert fresh.acquire()
    assert stale.release() == []  # it expired: the compare-and-delete leaves the new holder alone
    assert redis_conn.get(key) == fresh.token.encode()
    fresh.release()


def test_heartbeat_keeps_a_long_holder(redis_conn: redis.Redis, settings: Settings) -> None:
    key = settings.key("lock", "r")
    lock = RepoLock(redis_conn, key, timeout_s=0.3, heartbeat_s=0.05)
    assert lock.acquire()
    start = time.monotonic()
    # well past the timeout, the lock is still ours because the heartbeat extends it
    assert not wait_for(lambda: redis_conn.get(key) != lock.token.encode(), timeout=1.0)
    assert time.monotonic() - start >= 0.9
    assert not lock.lost.is_set()
    lock.release()


def test_heartbeat_notices_a_lost_lock(redis_conn: redis.Redis, settings: Settings) -> None:
    key = settings.key("lock", "r")
    lock = RepoLock(redis_conn, key, timeout_s=5, heartbeat_s=0.02)
    assert lock.acquire()
    redis_conn.set(key, "someone-else")
    assert wait_for(lock.lost.is_set)
    assert lock.release() == []
    assert redis_conn.get(key) == b"someone-else"


def test_release_hands_back_waiters_once(redis_conn: redis.Redis, settings: Settings) -> None:
    key = settings.key("lock", "r")
    holder = RepoLock(redis_conn, key, timeout_s=5)
    assert holder.acquire()
    waiter = RepoLock(redis_conn, key, timeout_s=5)
    waiter.add_waiter("group-b")
    waiter.add_waiter("group-c")
    assert not waiter.acquire()
    assert holder.release() == ["group-b", "group-c"]
    assert redis_conn.scard(holder.waiters_key) == 0
    assert waiter.held_ms() == 0


def test_a_job_of_the_holders_own_group_queued_behind_it_is_handed_back(
    redis_conn: redis.Redis, settings: Settings
) -> None:
    """A second reconcile of the same group arrives while the first holds the lock: it defers, and
    the first's release must wake the group again (what it was queued for may have come after the
    holder read its intents). Dropping the holder's own name here left the work to the 10 s
    safety net."""
    key = settings.key("lock", "r")
    woken: list[list[str]] = []
    with turn(RepoLock(redis_conn, key, timeout_s=5), "group-a", woken.append) as held:
        assert held
        with turn(RepoLock(redis_conn, key, timeout_s=5), "group-a", woken.append) as second:
            assert not second
    assert woken == [["group-a"]]
