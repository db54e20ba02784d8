"""``manifest-bot worker``: rq's worker on the bot's job queue (``bot.jobs.worker``) and, in a
second thread, the engine that consumes deliveries and leads the periodic work
(``bot.jobs.engine``), each on its own composition. It takes a changed routing config before each
job and batch, and at once on SIGHUP (``Container.config_reloads``). SIGTERM: the engine stops
after its batch and the job in hand finishes or is interrupted within ``SHUTDOWN_GRACE_S``; what
was interrupted is handed back (``bot.jobs.worker``).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

import click

from bot import logs, metrics
from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.worker import SHUTDOWN_GRACE_S, build_worker
from bot.settings import Settings
from bot.store.redis_health import problems

log = logging.getLogger(__name__)


def _load(path: str) -> Callable[..., Any]:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def warm(container: Container) -> None:
    """Load the config and build the forges once, before the first job."""
    container.config_reloads.refresh()
    for forge in container.config.forges:
        container.forge(forge.name)


def reload_on_sighup(*containers: Container) -> None:
    """SIGHUP: read the routing config file now (even when its size and mtime look unchanged).
    The reload runs on a thread: the handler may interrupt a job, and a job holds the config's
    lock for a moment at most."""

    def handler(_signum: int, _frame: object) -> None:
        for container in containers:
            threading.Thread(
                target=container.config_reloads.refresh,
                kwargs={"force": True},
                name="config-reload",
                daemon=True,
            ).start()

    signal.signal(signal.SIGHUP, handler)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit once nothing is queued and no delivery is waiting.")
@click.option("--name", default=None, help="Worker name (default: host and process id).")
@click.option(
    "--wrap-forge",
    "wrap_forge",
    default=None,
    hidden=True,
    help="module:callable wrapping every forge client (benchmarks and fault tests).",
)
def worker(*, burst: bool, name: str | None, wrap_forge: str | None) -> None:
    """Run the bot's worker: jobs, deliveries and the periodic leader."""
    settings = Settings.from_env()
    logs.configure_process(settings)  # JSON lines, redacted: the web's setup (rq logs through it too)
    wrapper = _load(wrap_forge) if wrap_forge else None
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    container = Container(settings, forge_wrapper=wrapper)
    runtime.install(container)
    if settings.worker_metrics_port:
        where = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
        try:
            metrics.serve(settings.worker_metrics_port, settings.worker_metrics_host)
        except OSError as exc:
            raise click.ClickException(
                f"cannot serve the worker's metrics on {where}: {exc.strerror or exc}; set "
                "MANIFEST_BOT_WORKER_METRICS_PORT to a free port (each worker on a host needs its own) "
                "or unset it"
            ) from None
    warm(container)
    for problem in problems(container.redis, require_aof=settings.redis_require_aof):
        log.error("Redis is not ready for manifest-bot: %s", problem)
    container.deliveries.stream.ensure_group()
    engine = Container(settings, forge_wrapper=wrapper).engine(name)
    reload_on_sighup(container)
    rq_worker = build_worker(container, name=name, on_shutdown=engine.stop)
    if burst:
        _burst(container, engine, rq_worker)
        return
    engine.start()
    try:
        rq_worker.work(logging_level=settings.log_level)
    finally:
        engine.stop()
        if not engine.join(SHUTDOWN_GRACE_S):
            log.warning("the engine did not stop in time; its batch is taken over by another worker")


def _burst(container: Container, engine: Any, rq_worker: Any) -> None:
    """Until nothing is left: every delivery, every job, every due entry that is due now."""
    while True:
        report = engine.drain()
        ran = rq_worker.work(burst=True, logging_level=container.settings.log_level)
        if not report.read and not ran and not container.dispatch.queue.count:
            break
    engine.leader.release()


commands: list[click.Command] = [worker]
