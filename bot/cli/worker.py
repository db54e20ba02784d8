"""``manifest-bot worker``: an rq worker with the scheduler on the bot's queues
(``bot.jobs.worker``). On start the worker queues a reconcile for every group a crashed worker
left with work to do.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable

import click

from bot import logs, metrics
from bot.core.ports import Forge
from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.worker import build_worker
from bot.settings import Settings

log = logging.getLogger(__name__)


def _load(path: str) -> Callable[[Forge], Forge]:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def warm(container: Container) -> None:
    """Load the config and build the forges once, in the worker process, so every forked job
    starts warm (a cold config load costs more than most jobs)."""
    for forge in container.config.forges:
        container.forge(forge.name)


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
    logs.configure_process(settings)  # JSON lines, redacted: the web's setup (rq logs through it too)
    container = Container(settings, forge_wrapper=_load(wrap_forge) if wrap_forge else None)
    runtime.install(container)
    if settings.worker_metrics_port:
        _serve_metrics(settings.worker_metrics_port, settings.worker_metrics_host, simple=simple)
    warm(container)
    found = container.scheduler.sweep(container.intents)
    if found:
        log.info("queued reconcile for %d group(s) left with work", len(found), extra={"groups": found})
    build_worker(container, simple=simple, name=name).work(
        burst=burst, with_scheduler=True, logging_level=settings.log_level
    )


commands: list[click.Command] = [worker]
