"""Fault tests on real worker processes: a worker SIGKILLed mid-reconcile, a forge raising
Conflict / Transient / RateLimited at chosen calls, and Redis restarted between enqueue and
processing. Each ends in the same state as a run without the fault."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.registry import StartedJobRegistry

from bot.app import create_app
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore
from tests.integration.test_race import assert_final, describe, settled, world_settings
from tests.integration.world import Workers, make_world, post_all, race_posts, wait_for, worker_env

pytestmark = pytest.mark.slow
WRAP = "tests.integration.instrumented:wrap"


def wrap_env(settings: Settings, **conf: object) -> dict[str, str]:
    data = {"redis_url": settings.redis_url, "key": settings.key("forge"), **conf}
    return worker_env(settings, {"MB_TEST_WRAP": json.dumps(data)})


def test_worker_killed_mid_reconcile_loses_nothing(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path, images=6)
    settings = world_settings(make_settings, world, lock_timeout_s=3)
    workers = Workers(wrap_env(settings, latency_ms=150), tmp_path, wrap=WRAP)
    (victim,) = workers.start(1)
    lock_key = settings.key("lock", "local", "manifests")
    try:
        posts = race_posts(world, n=40, seed=11)
        post_all(create_app(settings=settings), posts)
        # mid-reconcile: the repo lock is held and the forge has been called
        wait_for(
            lambda: (
                redis_conn.exists(lock_key) and redis_conn.hget(settings.key("forge", "calls"), "observe")
            ),
            60,
            "a reconcile in progress",
            workers.logs,
        )
        workers.kill(victim)
        assert redis_conn.exists(lock_key), "the dead worker's lock is still there until it expires"
        # what rq's maintenance does once the dead worker's heartbeat expires: its running job is
        # abandoned (failed); the bot asks for the group again itself (the leader's safety net)
        StartedJobRegistry(queue=Queue(settings.queue("jobs"), connection=redis_conn)).cleanup(
            time.time() + 3600
        )
        workers.start(1)  # the restarted pod
        wait_for(
            settled(redis_conn, settings, world, posts),
            90,
            "recovery",
            describe(redis_conn, settings, world, workers),
        )
    finally:
        workers.stop()
    assert_final(redis_conn, settings, world, posts)


def test_forge_conflict_transient_and_rate_limit_at_chosen_calls(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path, images=8)
    settings = world_settings(make_settings, world, retry_base_s=0.5, retry_max=5)
    faults = {
        "commit_files": {"1": "Conflict", "3": "Transient"},
        "open_pr": {"1": "RateLimited"},
        "observe": {"2": "Transient"},
    }
    workers = Workers(wrap_env(settings, latency_ms=20, faults=faults), tmp_path, wrap=WRAP)
    workers.start(2)
    try:
        posts = race_posts(world, n=80, seed=5)
        post_all(create_app(settings=settings), posts)
        wait_for(
            settled(redis_conn, settings, world, posts),
            90,
            "settled",
            describe(redis_conn, settings, world, workers),
        )
    finally:
        workers.stop()
    injected = sorted(x.decode() for x in redis_conn.lrange(settings.key("forge", "faults"), 0, -1))
    assert injected == [
        "commit_files#1:Conflict",
        "commit_files#3:Transient",
        "observe#2:Transient",
        "open_pr#1:RateLimited",
    ]
    assert_final(redis_conn, settings, world, posts)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[], None]]:
    """A redis-server of our own (AOF, appendfsync everysec, as production needs), so the test can
    restart it without touching the shared one. Yields a function that restarts it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed: cannot restart a private Redis")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "redis"
    data.mkdir()
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
    ]
    procs: list[subprocess.Popen] = []

    def start() -> None:
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        conn = redis.Redis(port=port)
        wait_for(lambda: _pings(conn), 10, "the private redis-server to accept connections")

    def restart() -> None:
        redis.Redis(port=port).shutdown(nosave=False)  # graceful: the AOF is flushed
        procs[-1].wait(timeout=10)
        start()

    start()
    restart.port = port  # type: ignore[attr-defined]
    yield restart
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=10)


def _pings(conn: redis.Redis) -> bool:
    try:
        return bool(conn.ping())
    except redis.ConnectionError:
        return False


def test_redis_restart_between_enqueue_and_processing(
    tmp_path: Path, make_settings: Callable[..., Settings], private_redis: Callable[[], None]
) -> None:
    url = f"redis://127.0.0.1:{private_redis.port}/0"  # type: ignore[attr-defined]
    world = make_world(tmp_path, images=5)
    settings = world_settings(make_settings, world, redis_url=url)
    conn = redis.Redis.from_url(url)
    posts = race_posts(world, n=40, seed=3)
    post_all(create_app(settings=settings), posts)  # recorded and queued; no worker yet
    assert DeliveryStore(conn, settings).backlog() > 0
    private_redis()
    workers = Workers(worker_env(settings), tmp_path)
    workers.start(2)
    try:
        wait_for(
            settled(conn, settings, world, posts),
            90,
            "settled after restart",
            describe(conn, settings, world, workers),
        )
    finally:
        workers.stop()
    assert_final(conn, settings, world, posts)
