"""Remove everything one key prefix owns from a shared Redis (the demo on a shared Redis, the
tests and benchmarks): our own keys, rq's keys that carry the prefix in a queue name or job id,
and the prefix's entries in rq's shared sets (``rq:queues``, and ``rq:workers`` entries whose
worker is gone), which pattern deletes cannot reach."""

from __future__ import annotations

import redis

_BATCH = 1000


def drop(conn: redis.Redis, prefix: str) -> int:
    """Delete the prefix's keys; returns how many keys were deleted."""
    removed = 0
    for pattern in (f"{prefix}:*", f"rq:*{prefix}*"):
        batch: list[bytes] = []
        for key in conn.scan_iter(match=pattern, count=_BATCH):
            batch.append(key)
            if len(batch) >= _BATCH:
                removed += int(conn.delete(*batch))
                batch = []
        if batch:
            removed += int(conn.delete(*batch))
    queues = [m for m in conn.smembers("rq:queues") if prefix in m.decode(errors="replace")]
    if queues:
        conn.srem("rq:queues", *queues)
    workers = list(conn.smembers("rq:workers"))
    if workers:
        with conn.pipeline(transaction=False) as pipe:
            for worker in workers:
                pipe.exists(worker)
            alive = pipe.execute()
        dead = [w for w, exists in zip(workers, alive, strict=True) if not exists]
        if dead:
            conn.srem("rq:workers", *dead)
    return removed
