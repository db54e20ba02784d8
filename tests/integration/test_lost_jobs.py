"""No job lost between queue and start, on real worker processes, real Redis and real git.

Workers are SIGKILLed right after taking a job (before rq registers it as started: the window in
which a multi-queue ``BLPOP`` worker used to lose it), 25 times; a healthy worker started
afterwards ends with every delivery processed and every version on its PR branch.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bot.app import create_app
from bot.settings import Settings
from tests.integration.test_race import assert_final, describe, settled, world_settings
from tests.integration.world import Post, Workers, make_world, post_all, wait_for, worker_env

pytestmark = pytest.mark.slow
DIE = ["--after-dequeue", "tests.integration.instrumented:die_after_dequeue"]
TRIES = 25
AT_ONCE = 5  # dying workers started together (each takes one job, then dies)


def test_workers_killed_right_after_dequeue_lose_nothing(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path, images=5, envs=("dev",))
    settings = world_settings(make_settings, world)
    posts = [Post(f"k{n:02d}", n % 5, f"1.{n}.0") for n in range(TRIES)]
    post_all(create_app(settings=settings), posts)
    taken_key = settings.key("test", "taken")
    env = worker_env(settings, {"MB_TEST_TAKEN_KEY": taken_key})
    dying = Workers(env, tmp_path, args=DIE)
    for _ in range(TRIES // AT_ONCE):
        for proc in dying.start(AT_ONCE):
            assert proc.wait(timeout=60) == -signal.SIGKILL, dying.logs()
    assert redis_conn.llen(taken_key) == TRIES  # every one of them took a job and died with it

    workers = dying
    workers.args = []  # a healthy worker, as the restarted pod would be
    workers.start(1)
    try:
        wait_for(
            settled(redis_conn, settings, world, posts),
            90,
            "every delivery processed after the kills",
            describe(redis_conn, settings, world, workers),
        )
    finally:
        workers.stop()
    assert_final(redis_conn, settings, world, posts)
