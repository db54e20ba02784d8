"""``manifest-bot worker``: an rq worker with the scheduler on the bot's queues.

Queues, in priority order: ``commands`` (people are waiting), ``events`` (cheap, and draining
them first lets a burst coalesce), ``reconcile``. Names come from ``Settings.queue`` (prefixed),
job timeouts and retry policy from settings. On start the worker queues a reconcile for every
group a crashed worker left with work to do.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

import click
from rq import SimpleWorker, Worker

from bot import deps
from bot.deps import Container
from bot.forges.base import Forge
from bot.settings import Settings

QUEUES = ("commands", "events", "reconcile")


def _load(path: str) -> Callable[[Forge], Forge]:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def warm(container: Container) -> None:
    """Load the config, build the forges and import the job code once, in the worker process,
    so every forked job starts warm (a cold config load costs more than most jobs)."""
    import bot.core.planning
    import bot.jobs
    import bot.services.pr_lifecycle  # noqa: F401

    for forge in container.config.forges:
        container.forge(forge.name)


def build_worker(container: Container, *, simple: bool = False, name: str | None = None) -> Worker:
    queues = [container.queue(q) for q in QUEUES]
    cls = SimpleWorker if simple else Worker
    return cls(queues, connection=container.redis, name=name)


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
    from bot.jobs import sweep

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level)
    container = Container(settings, forge_wrapper=_load(wrap_forge) if wrap_forge else None)
    deps.install(container)
    warm(container)
    found = sweep(container)
    if found:
        click.echo(f"queued reconcile for {len(found)} group(s) left with work", err=True)
    build_worker(container, simple=simple, name=name).work(
        burst=burst, with_scheduler=True, logging_level=settings.log_level
    )


commands: list[click.Command] = [worker]
