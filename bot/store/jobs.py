"""Is an rq job still going to run? Read from rq's own lists and registries, never guessed.

A job record can outlive the place that would run it: a worker killed between taking a job and
registering it as started leaves a hash that says ``queued`` in no list at all. ``pending``
therefore checks where rq keeps a job of each status, not only the status:

| status | pending when the job id is in |
|---|---|
| queued | the queue's list, or its intermediate list (taken by a worker, not yet started: the
|        | worker's maintenance puts a stuck one back, ``bot.jobs.worker``) |
| started | the started-job registry (rq fails it there once its worker stops heartbeating) |
| scheduled | the scheduled-job registry |
| deferred | always (the bot queues no dependencies; a deferred job is someone's choice) |

Everything else (finished, failed, stopped, canceled, no hash) will not run again by itself.
"""

from __future__ import annotations

import redis
from rq import Queue
from rq.intermediate_queue import IntermediateQueue
from rq.job import JobStatus

#: LPOS scans at most this many entries of a list (a queue longer than that counts as pending)
LPOS_MAXLEN = 100_000


def status_of(conn: redis.Redis, job_id: str) -> str | None:
    """The job's rq status, or None when its hash is gone."""
    raw = conn.hget(f"rq:job:{job_id}", "status")
    if raw is None:
        return None
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def in_list(conn: redis.Redis, key: str, job_id: str) -> bool:
    return conn.execute_command("LPOS", key, job_id, "MAXLEN", LPOS_MAXLEN) is not None


def pending(queue: Queue, job_id: str) -> bool:
    """Whether rq will still run ``job_id`` of ``queue`` without anyone's help."""
    conn = queue.connection
    status = status_of(conn, job_id)
    if status == JobStatus.QUEUED:
        intermediate = IntermediateQueue.get_intermediate_queue_key(queue.key)
        return in_list(conn, queue.key, job_id) or in_list(conn, intermediate, job_id)
    if status == JobStatus.STARTED:
        return job_id in queue.started_job_registry
    if status == JobStatus.SCHEDULED:
        return conn.zscore(queue.scheduled_job_registry.key, job_id) is not None
    return status == JobStatus.DEFERRED
