"""No work lost when workers die holding it, on real worker processes, real Redis and real git.

Workers SIGKILL themselves in the middle of reconciles (at the forge's first call: the repo lock
held, the deliveries acknowledged, the rq job started), six times across three groups; the
workers restarted after each death (as the orchestrator restarts pods) end with every delivery
processed and every version on its PR branch, within a bound after the last death.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bot.app import create_app
from bot.settings import Settings
from tests.integration.test_faults import WRAP, wrap_env
from tests.integration.test_race import assert_final, describe, settled, world_settings
from tests.integration.world import Post, Workers, make_world, post_all, wait_for

pytestmark = pytest.mark.slow
KILLS = 6
#: after the last death: the dead holder's lock expires (lock_timeout_s), the leader's safety
#: net asks for the group again (10 s after it was asked), a live worker reconciles it
RECOVERED_WITHIN_S = 40


def test_workers_killed_mid_reconcile_lose_nothing(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path, images=4)
    settings = world_settings(make_settings, world, lock_timeout_s=3)
    faults = {"observe": {str(n): "SIGKILL" for n in range(1, KILLS + 1)}}
    workers = Workers(wrap_env(settings, faults=faults), tmp_path, wrap=WRAP)
    posts = [Post(f"k{n:02d}", n % 4, f"1.{n}.0") for n in range(16)]
    post_all(create_app(settings=settings), posts)
    running = workers.start(2)
    faults_key = settings.key("forge", "faults")
    deadline = time.monotonic() + 120

    def a_death_or_the_last_kill() -> bool:
        return redis_conn.llen(faults_key) >= KILLS or any(p.poll() is not None for p in running)

    while redis_conn.llen(faults_key) < KILLS and time.monotonic() < deadline:
        for proc in [p for p in running if p.poll() is not None]:  # died: the pod is started again
            running.remove(proc)
            running += workers.start(1)
        wait_for(a_death_or_the_last_kill, 60, "a worker to die or the last kill", workers.logs)
    assert redis_conn.llen(faults_key) == KILLS, workers.logs()
    last_death = time.monotonic()
    try:
        for proc in running:
            if proc.poll() is not None:
                workers.start(1)
        wait_for(
            settled(redis_conn, settings, world, posts),
            RECOVERED_WITHIN_S,
            "every delivery processed after the kills",
            describe(redis_conn, settings, world, workers),
        )
        assert time.monotonic() - last_death < RECOVERED_WITHIN_S
    finally:
        workers.stop()
    assert_final(redis_conn, settings, world, posts)
