"""Dropping a prefix leaves nothing of it in a shared Redis, rq's shared sets included, and
touches nothing of anyone else's."""

from __future__ import annotations

import uuid

import redis
from rq import Queue

from bot.store import namespace


def test_drop_removes_our_keys_and_our_entries_in_rqs_shared_sets(redis_conn: redis.Redis) -> None:
    ours, theirs = f"mbt{uuid.uuid4().hex[:10]}", f"mbt{uuid.uuid4().hex[:10]}"
    try:
        for prefix in (ours, theirs):
            redis_conn.set(f"{prefix}:delivery:1", "x")
            Queue(f"{prefix}-events", connection=redis_conn).enqueue("builtins.print", job_id=f"{prefix}-job")
        dead, alive = f"rq:worker:{ours}-dead", f"rq:worker:{theirs}-alive"
        redis_conn.sadd("rq:workers", dead, alive)
        redis_conn.hset(alive, "birth", "now")  # a live worker has its hash
        namespace.drop(redis_conn, ours)
        assert not list(redis_conn.scan_iter(match=f"*{ours}*"))
        queues = {m.decode() for m in redis_conn.smembers("rq:queues")}
        assert f"rq:queue:{ours}-events" not in queues and f"rq:queue:{theirs}-events" in queues
        workers = {m.decode() for m in redis_conn.smembers("rq:workers")}
        assert dead not in workers and alive in workers
        assert redis_conn.exists(f"{theirs}:delivery:1")
    finally:
        namespace.drop(redis_conn, theirs)
        redis_conn.delete(f"rq:worker:{theirs}-alive")
        redis_conn.srem("rq:workers", f"rq:worker:{theirs}-alive")
