"""``manifest-bot worker``: an rq worker with the scheduler on the bot's queues.

Queues, in priority order: ``commands`` (people are waiting), ``events`` (cheap, and draining
them first lets a burst coalesce), ``reconcile``. Names come from ``Settings.queue`` (prefixed),
job timeouts and retry policy from settings. On start the worker queues a reconcile for every
group a crashed worker left with work to do.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable

import click
import redis
from rq import SimpleWorker, Worker
from rq.job import Job
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.utils import now, utcparse

import bot.jobs.automerge
import bot.jobs.commands
import bot.jobs.events
import bot.jobs.reconcile  # noqa: F401 - the job code, imported once so every forked job starts warm
from bot import metrics
from bot.core.ports import Forge
from bot.deps import Container
from bot.jobs import runtime
from bot.settings import Settings

log = logging.getLogger(__name__)

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


def _load(path: str) -> Callable[[Forge], Forge]:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def warm(container: Container) -> None:
    """Load the config and build the forges once, in the worker process, so every forked job
    starts warm (a cold config load costs more than most jobs)."""
    for forge in container.config.forges:
        container.forge(forge.name)


def _serve_metrics(port: int, *, simple: bool) -> None:
    if not simple and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        log.warning(
            "worker metrics on :%d will miss what jobs record: a forking worker runs each job in a "
            "child process; set PROMETHEUS_MULTIPROC_DIR to an empty writable directory",
            port,
        )
    metrics.serve(port)


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


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--simple", is_flag=True, help="Run jobs in the worker process (no fork per job).")
@click.option("--name", default=None, help="Worker name (default: rq's).")
@click.option(
    "--wrap-forge",
    "wrap_forge",
    default=None,
    hidden=True,
    help="module:callable wrapping every forge client (benchmarks and fault tests).",
)
def worker(burst: bool, simple: bool, name: str | None, wrap_forge: str | None) -> None:
    """Run an rq worker (with the scheduler) on the bot's queues."""
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level)
    container = Container(settings, forge_wrapper=_load(wrap_forge) if wrap_forge else None)
    runtime.install(container)
    if settings.worker_metrics_port:
        _serve_metrics(settings.worker_metrics_port, simple=simple)
    warm(container)
    found = container.scheduler.sweep(container.intents)
    if found:
        click.echo(f"queued reconcile for {len(found)} group(s) left with work", err=True)
    build_worker(container, simple=simple, name=name).work(
        burst=burst, with_scheduler=True, logging_level=settings.log_level
    )


commands: list[click.Command] = [worker]
