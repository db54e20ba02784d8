"""200 signed deliveries posted concurrently through the Flask app, 2 real rq worker processes,
the real Redis and a real git repository: every target ends at its highest version in exactly
one PR per group, no commit or branch move ever goes backwards, nothing is lost or failed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bot.app import create_app
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore
from tests.integration.world import (
    SECRET,
    Post,
    Workers,
    World,
    downgrades,
    expected,
    failed_jobs,
    make_world,
    open_prs,
    post_all,
    queue_report,
    queues_idle,
    race_posts,
    tags_at,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.slow


def world_settings(make_settings: Callable[..., Settings], world: World, **extra: object) -> Settings:
    values: dict[str, object] = {
        "config_path": world.config_path,
        "webhook_secrets": {"generic": (SECRET,)},
        "lock_timeout_s": 10,
        "retry_base_s": 1.0,
        "log_level": "WARNING",
    }
    values.update(extra)
    return make_settings(**values)


def settled(conn: redis.Redis, settings: Settings, world: World, posts: list[Post]) -> Callable[[], bool]:
    store = DeliveryStore(conn, settings)
    want = expected(posts)
    ids = sorted({p.delivery_id for p in posts})

    def check() -> bool:
        if not queues_idle(conn, settings):
            return False
        if any((r := store.record(i)) is None or r.status != "processed" for i in ids):
            return False
        heads = open_prs(world)
        for env in world.envs:
            if world.branch(env) not in heads:
                return False
            if tags_at(world, world.branch(env), env) != want:
                return False
        return True

    return check


def assert_final(conn: redis.Redis, settings: Settings, world: World, posts: list[Post]) -> None:
    want = expected(posts)
    for env in world.envs:
        assert tags_at(world, world.branch(env), env) == want, f"{env} is not at the highest versions"
        assert tags_at(world, "main", env) == dict.fromkeys(want, "1.0.0"), "the base must be untouched"
    prs = open_prs(world)
    assert {b: len(n) for b, n in prs.items()} == {world.branch(e): 1 for e in world.envs}
    assert downgrades(world) == []
    assert failed_jobs(conn, settings) == []
    store = DeliveryStore(conn, settings)
    assert {store.record(p.delivery_id).status for p in posts} == {"processed"}  # type: ignore[union-attr]


def describe(conn: redis.Redis, settings: Settings, world: World, workers: Workers) -> Callable[[], str]:
    def text() -> str:
        return (
            f"queues={queue_report(conn, settings)} failed={failed_jobs(conn, settings)}"
            f" prs={open_prs(world)}\n" + workers.logs()
        )

    return text


def test_burst_ends_at_highest_versions_in_one_pr_per_group(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path)
    settings = world_settings(make_settings, world)
    app = create_app(settings=settings)
    workers = Workers(worker_env(settings), tmp_path)
    workers.start(2)
    try:
        posts = race_posts(world, n=200)
        assert len({p.delivery for p in posts}) < len(posts), "the scenario must hold duplicate deliveries"
        post_all(app, posts)
        wait_for(
            settled(redis_conn, settings, world, posts),
            90,
            "every delivery processed and every group's PR at its highest version",
            describe(redis_conn, settings, world, workers),
        )
    finally:
        workers.stop()
    assert_final(redis_conn, settings, world, posts)
