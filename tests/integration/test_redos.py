"""ReDoS through the running service (issue #12): a routing config whose ``allow`` pattern
backtracks catastrophically on Python's ``re``, a hostile 37-character tag posted as a signed
delivery, and a real ``manifest-bot worker`` process. The hostile event is refused by policy at
once and the next event goes through; before RE2, the first held the worker for the job timeout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bot.app import create_app
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore
from tests.integration.test_race import world_settings
from tests.integration.world import (
    Post,
    Workers,
    failed_jobs,
    make_world,
    post_all,
    queues_idle,
    tags_at,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.slow
HOSTILE = "1" * 36 + "a"  # a valid tag; ^(\d+\.?)+$ tries every split of the ones before failing


def test_a_backtracking_allow_pattern_never_stalls_a_worker(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path, images=2, envs=("dev",))
    config = json.loads(world.config_path.read_text())
    config["defaults"]["policy"]["allow"] = r"^(\d+\.?)+$"
    world.config_path.write_text(json.dumps(config))
    settings = world_settings(make_settings, world)
    workers = Workers(worker_env(settings), tmp_path)
    workers.start(1)  # one worker: a stalled job would hold up everything behind it
    posts = [Post("hostile", 0, HOSTILE), Post("ordinary", 1, "1.2.3")]
    store = DeliveryStore(redis_conn, settings)
    try:
        post_all(create_app(settings=settings), posts, threads=1)

        def done() -> bool:
            records = [store.record(p.delivery_id) for p in posts]
            return all(r is not None and r.status == "processed" for r in records)

        wait_for(done, 60, "both deliveries processed", workers.logs)
        branch = world.branch("dev")
        wait_for(lambda: tags_at(world, branch, "dev").get(1) == "1.2.3", 60, "the PR", workers.logs)
        # the branch is pushed before its PR opens: stopping the worker in between kills the job
        wait_for(lambda: queues_idle(redis_conn, settings), 60, "the jobs to finish", workers.logs)
    finally:
        workers.stop()
    assert tags_at(world, world.branch("dev"), "dev") == {0: "1.0.0", 1: "1.2.3"}  # hostile refused
    assert failed_jobs(redis_conn, settings) == []
