"""Stopping a worker: SIGTERM while it runs a reconcile ends the process within 5 s (rolling
updates do not wait on it), and the work it held is done by the worker that takes over; a
worker's command channel never holds a burst (rq/rq#1613: a 60 s join with redis-py 8)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import redis

from bot.app import create_app
from bot.deps import Container
from bot.jobs.worker import build_worker
from bot.settings import Settings
from tests.integration.test_faults import WRAP, wrap_env
from tests.integration.test_race import describe, settled, world_settings
from tests.integration.world import Post, Workers, make_world, post_all, wait_for

#: issue 20: "SIGTERM: the worker finishes or hands back its current work and exits within 5 s"
EXIT_WITHIN_S = 5.0


def test_sigterm_on_a_busy_worker_exits_within_5_s_and_the_work_is_done_by_the_next(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path, images=2)
    settings = world_settings(make_settings, world, lock_timeout_s=3)
    # every forge call takes 2 s: a reconcile is still running when the signal comes
    workers = Workers(wrap_env(settings, latency_ms=2000), tmp_path, wrap=WRAP)
    posts = [Post("stop1", 0, "1.1.0"), Post("stop2", 1, "1.2.0")]
    (busy,) = workers.start(1)
    try:
        post_all(create_app(settings=settings), posts)
        wait_for(
            lambda: bool(redis_conn.hget(settings.key("forge", "calls"), "observe")),
            60,
            "a reconcile in progress",
            workers.logs,
        )
        signalled = time.monotonic()
        os.killpg(busy.pid, signal.SIGTERM)
        busy.wait(timeout=30)
        took = time.monotonic() - signalled
        assert took <= EXIT_WITHIN_S, f"the worker took {took:.1f} s to exit\n{workers.logs()}"
        workers.env["MB_TEST_WRAP"] = wrap_env(settings, latency_ms=0)["MB_TEST_WRAP"]
        workers.start(1)  # the pod that replaces it
        wait_for(
            settled(redis_conn, settings, world, posts),
            90,
            "the next worker to finish",
            describe(redis_conn, settings, world, workers),
        )
    finally:
        workers.stop()


def test_a_worker_bursts_again_at_once(settings: Settings, redis_conn: redis.Redis) -> None:
    """The second and third ``work(burst=True)`` of one worker (what every drain loop does) do
    not wait on the previous burst's command-channel thread."""
    container = Container(settings)
    container.__dict__["redis"] = redis_conn
    worker = build_worker(container, name=f"{settings.redis_prefix}-bursts")
    started = time.monotonic()
    for _ in range(3):
        worker.work(burst=True)
    assert time.monotonic() - started < 10, "a burst waited on the command channel's teardown"
