"""Driving the bot's engine in the test's own process: the deliveries consumer, the periodic
leader and a real rq burst worker on the test's Redis prefix, each the product's own code."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.consumer import BatchReport
from bot.jobs.worker import build_worker


def consume(container: Container, *, claim_idle_ms: int | None = None) -> BatchReport:
    """Handle every delivery on the stream now (as a worker's engine does) and tick the leader."""
    engine = container.engine("test-consumer")
    try:
        return engine.drain(claim_idle_ms=claim_idle_ms)
    finally:
        engine.leader.release()


def _installed() -> Container | None:
    try:
        return runtime.current()
    except RuntimeError:
        return None


def run_jobs(container: Container) -> bool:
    """One burst of the bot's rq worker in this process (the container installed meanwhile)."""
    before = _installed()
    runtime.install(container)
    try:
        return bool(build_worker(container, name=f"{container.settings.redis_prefix}-test").work(burst=True))
    finally:
        runtime.install(before)


def settle(
    container: Container, *, deadline_s: float = 30.0, until: Callable[[], bool] | None = None
) -> None:
    """Consume and run jobs until nothing is left (and ``until`` holds, when given), or fail at
    the deadline saying what was still going on."""
    deadline = time.monotonic() + deadline_s
    before = _installed()
    runtime.install(container)
    engine = container.engine("test-settle")
    worker = build_worker(container, name=f"{container.settings.redis_prefix}-settle")
    try:
        while time.monotonic() < deadline:
            report = engine.drain()
            ran = worker.work(burst=True)
            busy = container.deliveries.backlog() or any(container.dispatch.backlog().values())
            if not (report.read or ran or busy) and (until is None or until()):
                return
            if not (report.read or ran):
                time.sleep(0.02)  # only what is due later is left: pace the loop, the work is elsewhere
        raise AssertionError(
            f"not settled after {deadline_s}s: deliveries={container.deliveries.backlog()} "
            f"jobs={container.dispatch.backlog()}"
        )
    finally:
        engine.leader.release()
        runtime.install(before)
