"""Reliable dequeue over several queues: priority order, never outside a list, put back when stuck."""

from __future__ import annotations

import threading
import time

import redis
from rq import Queue

from bot.jobs.dequeue import ReliableQueue, recover_intermediate, take
from bot.settings import Settings


def queues(settings: Settings, conn: redis.Redis) -> list[ReliableQueue]:
    return [ReliableQueue(settings.queue(n), connection=conn) for n in ("commands", "events", "reconcile")]


def test_takes_in_priority_order_into_the_intermediate_list(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    commands, events, reconcile = queues(settings, redis_conn)
    reconcile.enqueue("builtins.len", "r", job_id=f"{settings.redis_prefix}-r")
    events.enqueue("builtins.len", "e", job_id=f"{settings.redis_prefix}-e")
    job, queue = ReliableQueue.dequeue_any([commands, events, reconcile], None, connection=redis_conn)
    assert (job.id, queue.name) == (f"{settings.redis_prefix}-e", events.name)
    assert events.count == 0
    assert events.intermediate_queue.get_job_ids() == [job.id]  # never outside a list


def test_blocking_take_picks_a_job_on_any_queue_within_the_slices(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    keys = [q.key for q in queues(settings, redis_conn)]
    later = threading.Timer(0.3, lambda: redis_conn.rpush(keys[2], "late-job"))
    later.start()
    started = time.monotonic()
    found = take(redis_conn, keys, timeout=5)
    assert found == (keys[2], "late-job")
    assert time.monotonic() - started < 2
    assert redis_conn.lrange(keys[2] + ":intermediate", 0, -1) == [b"late-job"]


def test_empty_queues_time_out(settings: Settings, redis_conn: redis.Redis) -> None:
    keys = [q.key for q in queues(settings, redis_conn)]
    assert take(redis_conn, keys, timeout=None) is None
    assert take(redis_conn, keys, timeout=0.2) is None


def test_a_job_taken_by_a_dead_worker_goes_back_to_the_front(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    _, events, _ = queues(settings, redis_conn)
    first = events.enqueue("builtins.len", "a", job_id=f"{settings.redis_prefix}-a")
    events.enqueue("builtins.len", "b", job_id=f"{settings.redis_prefix}-b")
    assert take(redis_conn, [events.key], None) == (events.key, first.id)  # ...and the worker died
    plain = Queue(events.name, connection=redis_conn)
    assert recover_intermediate(plain) == []  # first sighting: it may be starting right now
    assert recover_intermediate(plain, stuck_s=0) == [first.id]
    assert events.job_ids == [first.id, f"{settings.redis_prefix}-b"]
    assert events.intermediate_queue.get_job_ids() == []


def test_a_started_job_is_left_alone(settings: Settings, redis_conn: redis.Redis) -> None:
    _, events, _ = queues(settings, redis_conn)
    job = events.enqueue("builtins.len", "a", job_id=f"{settings.redis_prefix}-a")
    take(redis_conn, [events.key], None)
    # what rq's prepare_execution does when the worker starts it: an execution in the registry
    redis_conn.zadd(events.started_job_registry.key, {f"{job.id}:exec1": time.time() + 60})
    assert recover_intermediate(events, stuck_s=0) == []
    assert events.intermediate_queue.get_job_ids() == [job.id]
