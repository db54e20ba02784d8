"""``manifest-bot worker``: an rq worker with the scheduler on the bot's queues
(``bot.jobs.worker``). On start the worker puts back what a crashed worker left (jobs taken but
never started, deliveries whose job is gone, stale markers) and queues a reconcile for every group
with work to do; then it ticks the periodic jobs from its maintenance loop. It takes a changed
routing config before each job and at once on SIGHUP (``Container.refresh_config``).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import click

from bot import logs, metrics
from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.sweep import sweep
from bot.jobs.worker import build_worker
from bot.settings import Settings
from bot.store.redis_health import problems

log = logging.getLogger(__name__)


def _load(path: str) -> Callable[..., Any]:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def warm(container: Container) -> None:
    """Load the config and build the forges once, in the worker process, so every forked job
    starts warm (a cold config load costs more than most jobs)."""
    container.refresh_config()
    for forge in container.config.forges:
        container.forge(forge.name)


def reload_on_sighup(container: Container) -> None:
    """SIGHUP: read the routing config file now (even when its size and mtime look unchanged).
    The reload runs on a thread: the handler may interrupt a job, and a job holds the config's
    lock for a moment at most."""

    def handler(_signum: int, _frame: object) -> None:
        threading.Thread(
            target=container.refresh_config, kwargs={"force": True}, name="config-reload", daemon=True
        ).start()

    signal.signal(signal.SIGHUP, handler)


def _serve_metrics(port: int, host: str, *, simple: bool) -> None:
    if not simple and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        log.warning(
            "worker metrics on :%d will miss what jobs record: a forking worker runs each job in a "
            "child process; set PROMETHEUS_MULTIPROC_DIR to an empty writable directory",
            port,
        )
    metrics.serve(port, host)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--fork", is_flag=True, help="Fork a process per job (isolation; slower: docs/reconcile.md).")
@click.option("--simple", is_flag=True, hidden=True, help="Run jobs in the worker process (the default).")
@click.option("--name", default=None, help="Worker name (default: rq's).")
@click.option(
    "--wrap-forge",
    "wrap_forge",
    default=None,
    hidden=True,
    help="module:callable wrapping every forge client (benchmarks and fault tests).",
)
@click.option(
    "--after-dequeue",
    "after_dequeue",
    default=None,
    hidden=True,
    help="module:callable called with each job right after it is taken (fault tests).",
)
def worker(
    *,
    burst: bool,
    fork: bool,
    simple: bool,
    name: str | None,
    wrap_forge: str | None,
    after_dequeue: str | None,
) -> None:
    """Run an rq worker (with the scheduler) on the bot's queues."""
    settings = Settings.from_env()
    logs.configure_process(settings)  # JSON lines, redacted: the web's setup (rq logs through it too)
    container = Container(settings, forge_wrapper=_load(wrap_forge) if wrap_forge else None)
    runtime.install(container)
    if settings.worker_metrics_port:
        _serve_metrics(settings.worker_metrics_port, settings.worker_metrics_host, simple=not fork)
    warm(container)
    reload_on_sighup(container)
    for problem in problems(container.redis, require_aof=settings.redis_require_aof):
        log.error("Redis is not ready for manifest-bot: %s", problem)
    rq_worker = build_worker(
        container,
        simple=not fork,
        name=name,
        after_dequeue=_load(after_dequeue) if after_dequeue else None,
        on_maintenance=container.periodic.tick,
    )
    repaired = {k: n for k, n in sweep().items() if n}
    found = container.scheduler.sweep(container.intents)
    if repaired or found:
        log.info("start-up sweep", extra={"repaired": repaired, "reconcile_queued": found})
    rq_worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)


commands: list[click.Command] = [worker]
