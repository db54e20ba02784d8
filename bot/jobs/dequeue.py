"""Reliable dequeue over several queues in priority order: no job is lost between queue and start.

rq takes a job with ``BLMOVE`` into the queue's *intermediate* list only when a worker listens on
one queue; a worker on several queues pops with ``BLPOP``, so a worker killed (or a Redis reply
lost) between the pop and registering the job as started leaves a job hash in no list at all,
which nothing recovers (rq/rq#1716). The bot's workers listen on three queues, so
:class:`ReliableQueue` (the worker's ``queue_class``) takes jobs the way rq does for one queue,
for all of them:

- one round trip runs ``LMOVE queue → queue:intermediate`` over the queues in priority order and
  stops at the first job (``_TAKE``);
- when all are empty it blocks with ``BLMOVE`` on one queue at a time for ``BLOCK_SLICE_S``, in
  turn, so a job on any queue is taken within that slice and never outside a list;
- the worker removes the job from the intermediate list when it starts it (rq does this only for
  single-queue workers, ``BotWorkerMixin.prepare_job_execution``);
- :func:`recover_intermediate` puts a job back at the front of its queue once it has sat in the
  intermediate list, not started, for ``STUCK_S`` (its worker died). Workers run it at start-up and
  in their maintenance, before rq's own clean-up, which would instead fail such a job after a
  minute;
- :func:`recover_started` puts back a started job whose worker is registered dead (rq quits a
  worker that loses Redis mid-job; its replacement finds the job at once instead of after the
  job's heartbeat expires, up to the job timeout). The bot's jobs are idempotent, so running one
  again is safe.

The lists and keys are rq's own (``IntermediateQueue``), so rq's tools and dashboards see them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import redis
from rq import Queue
from rq.exceptions import DequeueTimeout
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.utils import as_text, now

#: how long one BLMOVE waits on one queue before the next queue's turn (the worst-case pick-up
#: delay of a job arriving on a queue the idle worker is not blocked on)
BLOCK_SLICE_S = 0.1
#: a job this long in an intermediate list without being started lost its worker
STUCK_S = 5.0

# KEYS: queue 1, its intermediate list, queue 2, its intermediate list, ...
_TAKE = """
for i = 1, #KEYS, 2 do
  local id = redis.call('LMOVE', KEYS[i], KEYS[i + 1], 'LEFT', 'RIGHT')
  if id then return {KEYS[i], id} end
end
return false
"""

# KEYS: intermediate list, queue. ARGV: job id. Back to the front of the queue, once.
_PUT_BACK = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


# KEYS: started registry, queue, job hash. ARGV: job id. Drop its executions, queue it again.
_RESTART = """
local prefix = ARGV[1] .. ':'
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #prefix) == prefix then redis.call('ZREM', KEYS[1], member) end
end
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
redis.call('HSET', KEYS[3], 'status', 'queued')
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
"""


def _intermediate(queue_key: str) -> str:
    return IntermediateQueue.get_intermediate_queue_key(queue_key)


def take(conn: redis.Redis, queue_keys: list[str], timeout: float | None) -> tuple[str, str] | None:
    """Move the first job of the first non-empty queue into its intermediate list; wait up to
    ``timeout`` seconds for one (None: do not wait). Returns (queue key, job id) or None."""
    keys = [k for q in queue_keys for k in (q, _intermediate(q))]
    script = conn.register_script(_TAKE)
    deadline = None if timeout is None else time.monotonic() + timeout
    turn = 0
    while True:
        found = script(keys=keys)
        if found:
            return as_text(found[0]), as_text(found[1])
        if deadline is None or time.monotonic() >= deadline:
            return None
        queue_key = queue_keys[turn % len(queue_keys)]
        turn += 1
        job_id = conn.blmove(queue_key, _intermediate(queue_key), BLOCK_SLICE_S, "LEFT", "RIGHT")
        if job_id is not None:
            return queue_key, as_text(job_id)


class ReliableQueue(Queue):
    """rq's Queue, dequeued through the intermediate lists whatever the number of queues."""

    @classmethod
    def dequeue_any(  # type: ignore[override]  # noqa: PLR0917 - rq's signature
        cls,
        queues: Iterable[Queue],
        timeout: int | None,
        connection: redis.Redis,
        job_class: type[Job] | None = None,
        serializer: Any = None,
        death_penalty_class: Any = None,
    ) -> tuple[Job, Queue] | None:
        queue_keys = [q.key for q in queues]
        while True:
            found = take(connection, queue_keys, timeout)
            if found is None:
                if timeout is not None:
                    raise DequeueTimeout(timeout, queue_keys)
                return None
            fetched = cls._fetch_dequeued_job(
                connection,
                found[0],
                found[1],
                job_class=job_class,
                serializer=serializer,
                death_penalty_class=death_penalty_class,
            )
            if fetched is not None:
                return fetched
            connection.lrem(_intermediate(found[0]), 1, found[1])  # its hash is gone: drop the id


def recover_intermediate(queue: Queue, *, stuck_s: float = STUCK_S) -> list[str]:
    """Put back every job of ``queue``'s intermediate list that has not started ``stuck_s``
    seconds after it was first seen there; returns their ids."""
    conn = queue.connection
    iq = queue.intermediate_queue
    started = set(queue.started_job_registry.get_job_ids())
    put_back = conn.register_script(_PUT_BACK)
    recovered = []
    for job_id in reversed(iq.get_job_ids()):  # newest first: each goes to the front, order kept
        if job_id in started:
            continue
        iq.set_first_seen(job_id)
        first = iq.get_first_seen(job_id)
        if first is None or (now() - first).total_seconds() < stuck_s:
            continue
        if put_back(keys=[iq.key, queue.key], args=[job_id]):
            conn.delete(iq.get_first_seen_key(job_id))
            recovered.append(job_id)
    return recovered


def _worker_alive(conn: redis.Redis, name: str | None) -> bool:
    if not name:
        return True  # not ours to judge: rq's own clean-up handles it
    key = f"rq:worker:{name}"
    return bool(conn.sismember("rq:workers", key)) and conn.hget(key, "death") is None


def recover_started(queue: Queue) -> list[str]:
    """Queue again every started job of ``queue`` whose worker is registered dead; their ids."""
    conn = queue.connection
    restart = conn.register_script(_RESTART)
    recovered = []
    for job_id in queue.started_job_registry.get_job_ids():
        worker = as_text(conn.hget(f"rq:job:{job_id}", "worker_name"))
        if _worker_alive(conn, worker):
            continue
        if restart(keys=[queue.started_job_registry.key, queue.key, f"rq:job:{job_id}"], args=[job_id]):
            recovered.append(job_id)
    return recovered
