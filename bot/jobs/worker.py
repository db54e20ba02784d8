"""The rq worker of the bot's queues: priority order, maintenance timing, scheduler take-over.

Queues, in priority order: ``commands`` (people are waiting), ``events`` (cheap, and draining them
first lets a burst coalesce), ``reconcile``. Names come from ``Settings.queue`` (prefixed).
``manifest-bot worker`` runs one; the demo runs one in-process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


class _Reclaiming:
    """Before rq's maintenance tries to (re)start the scheduler, free locks of dead schedulers."""

    def run_maintenance_tasks(self) -> None:
        reclaim_scheduler_locks(self.connection, self.queue_names())  # type: ignore[attr-defined]
        super().run_maintenance_tasks()  # type: ignore[misc]


class BotWorker(_Reclaiming, Worker):
    pass


class BotSimpleWorker(_Reclaiming, SimpleWorker):
    pass


def count_failure(job: Job, exc_type: type[BaseException], *_: object) -> bool:
    """rq exception handler: count the failure in metrics, then let rq's handling go on."""
    metrics.FAILED_JOBS.labels(job=job.func_name.rsplit(".", 1)[-1]).inc()
    return True


def build_worker(container: Container, *, simple: bool = False, name: str | None = None) -> Worker:
    queues = [container.queue(q) for q in QUEUES]
    cls = BotSimpleWorker if simple else BotWorker
    worker = cls(
        queues,
        connection=container.redis,
        name=name,
        maintenance_interval=MAINTENANCE_INTERVAL_S,
        worker_ttl=WORKER_TTL_S,
        exception_handlers=[count_failure],
    )
    reclaim_scheduler_locks(container.redis, worker.queue_names())
    return worker
