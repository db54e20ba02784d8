"""The rq worker of the bot's queues: priority order, reliable dequeue, maintenance, periodic jobs.

Queues, in priority order: ``commands`` (people are waiting), ``events`` (cheap, and draining them
first lets a burst coalesce), ``reconcile``. Names come from ``Settings.queue`` (prefixed).
``manifest-bot worker`` runs one; the demo runs one in-process.

- Jobs are taken through the queues' intermediate lists (``bot.jobs.dequeue``), so a worker killed
  right after taking a job loses nothing; maintenance puts such a job back.
- Maintenance (every ``MAINTENANCE_INTERVAL_S``) also frees scheduler locks of dead workers and
  ticks the periodic jobs (``bot.jobs.periodic``): Redis decides which worker enqueues each run.
- Before each job the worker looks at the routing config file (one ``stat``) and takes it when it
  changed and is valid (``Container.refresh_config``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.utils import now, utcparse

# the job code, imported with the worker so every forked job starts warm
import bot.jobs.automerge
import bot.jobs.commands
import bot.jobs.events
import bot.jobs.reconcile  # noqa: F401
from bot import metrics
from bot.jobs.dequeue import ReliableQueue, recover_intermediate, recover_started

if TYPE_CHECKING:
    from bot.deps import Container

QUEUES = ("commands", "events", "reconcile")
#: rq runs maintenance (abandoned-job cleanup, taking over the scheduler) only between jobs or
#: after an idle BLPOP of ``worker_ttl - 15`` s; rq's defaults (600 s, 420 s) would leave retries
#: and delayed runs stalled for minutes after the worker holding the scheduler died.
MAINTENANCE_INTERVAL_S = 10
WORKER_TTL_S = 30
#: a scheduler heartbeats every second; one silent this long is dead
STALE_SCHEDULER_S = 5

_DELETE_IF = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def reclaim_scheduler_locks(conn: redis.Redis, queue_names: list[str]) -> list[str]:
    """Free scheduler locks whose scheduler stopped heartbeating (its worker was killed), so a
    live worker's scheduler takes over now instead of after the lock's 61 s expiry."""
    freed = []
    delete_if = conn.register_script(_DELETE_IF)
    for name in queue_names:
        key = RQScheduler.get_locking_key(name)
        owner = conn.get(key)
        if owner is None:
            continue
        beat = conn.hget(SCHEDULER_KEY_TEMPLATE % owner.decode(), "last_heartbeat")
        if beat is not None and (now() - utcparse(beat.decode())).total_seconds() < STALE_SCHEDULER_S:
            continue
        if delete_if(keys=[key], args=[owner]):
            freed.append(name)
    return freed


def refuses_writes(exc: redis.ResponseError) -> bool:
    """Redis at maxmemory with noeviction (OOM) or a read-only replica (READONLY)."""
    return isinstance(exc, redis.exceptions.OutOfMemoryError | redis.exceptions.ReadOnlyError)


def recover(worker: Worker) -> list[str]:
    """Put back the jobs dead workers took but never started, or started and died with (every
    queue of ``worker``)."""
    found = [job_id for queue in worker.queues for job_id in recover_intermediate(queue)]
    return found + [job_id for queue in worker.queues for job_id in recover_started(queue)]


class _BotWorker:
    """What the bot adds to rq's worker classes (see the module docstring)."""

    queue_class = ReliableQueue
    #: called with each job right after it was taken (fault tests: ``--after-dequeue``)
    after_dequeue: Callable[[Job], None] | None = None
    #: called in every maintenance run (the periodic jobs' tick)
    on_maintenance: Callable[[], object] | None = None
    #: called before each job runs, in the worker process (a changed routing config is taken)
    before_job: Callable[[], object] | None = None

    def run_maintenance_tasks(self) -> None:
        reclaim_scheduler_locks(self.connection, self.queue_names())  # type: ignore[attr-defined]
        recover(self)  # type: ignore[arg-type]
        super().run_maintenance_tasks()  # type: ignore[misc]
        if self.on_maintenance is not None:
            self.on_maintenance()

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
        wait = 1.0
        while True:
            try:
                result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)  # type: ignore[misc]
                break
            except redis.ResponseError as exc:
                if not refuses_writes(exc):
                    raise
                # full (noeviction) or read-only: rq would quit; wait for Redis like rq does for
                # a lost connection, taking nothing meanwhile
                self.log.error("Redis refuses writes (%s); retrying in %.0f s", exc, wait)  # type: ignore[attr-defined]
                time.sleep(wait)
                wait = min(wait * 2, 30.0)
        if result is not None and self.after_dequeue is not None:
            self.after_dequeue(result[0])
        if result is not None and self.before_job is not None:
            self.before_job()  # here, not in the work horse: a forked job inherits what it took
        return result

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        # rq removes a started job from its intermediate list only for single-queue workers
        super().prepare_job_execution(job, remove_from_intermediate_queue=True)  # type: ignore[misc]


class BotWorker(_BotWorker, Worker):
    pass


class BotSimpleWorker(_BotWorker, SimpleWorker):
    pass


def count_failure(job: Job, exc_type: type[BaseException], *_: object) -> bool:
    """rq exception handler: count the failure in metrics, then let rq's handling go on."""
    metrics.FAILED_JOBS.labels(job=job.func_name.rsplit(".", 1)[-1]).inc()
    return True


def build_worker(
    container: Container,
    *,
    simple: bool = True,
    name: str | None = None,
    after_dequeue: Callable[[Job], None] | None = None,
    on_maintenance: Callable[[], object] | None = None,
) -> Worker:
    """The bot's worker on its queues. ``simple`` (the default) runs jobs in the worker process;
    ``simple=False`` forks a work horse per job (isolation at ~15 ms a job: docs/reconcile.md)."""
    queues = [
        ReliableQueue(q.name, connection=q.connection, default_timeout=q._default_timeout)
        for q in (container.queue(name) for name in QUEUES)
    ]
    cls = BotSimpleWorker if simple else BotWorker
    worker = cls(
        queues,
        connection=container.redis,
        name=name,
        queue_class=ReliableQueue,
        maintenance_interval=MAINTENANCE_INTERVAL_S,
        worker_ttl=WORKER_TTL_S,
        exception_handlers=[count_failure],
    )
    worker.after_dequeue = after_dequeue
    worker.on_maintenance = on_maintenance
    worker.before_job = container.refresh_config
    reclaim_scheduler_locks(container.redis, worker.queue_names())
    recover(worker)
    return worker
