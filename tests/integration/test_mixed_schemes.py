"""Never backwards across ordering schemes, through the running service: under ``ordering: auto`` a
semver release, then ``latest`` (ordered by push time), then a late older release must leave the
target at the release — each delivery through the web app, a real worker, Redis and git."""

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
    make_world,
    queues_idle,
    signed,
    tags_at,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.slow


def test_a_push_time_tag_between_releases_never_lets_an_older_release_win(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path, images=1, envs=("dev",))
    config = json.loads(world.config_path.read_text())
    config["defaults"]["policy"]["ordering"] = "auto"  # semver tags by semver, others by push time
    world.config_path.write_text(json.dumps(config))
    settings = world_settings(make_settings, world)
    client = create_app(settings=settings).test_client()
    store = DeliveryStore(redis_conn, settings)
    workers = Workers(worker_env(settings), tmp_path)
    workers.start(1)
    try:
        for post in (Post("r1", 0, "2.0.0"), Post("r2", 0, "latest"), Post("r3", 0, "1.9.0")):
            body, headers = signed(post)
            assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 202
            wait_for(
                lambda p=post: (
                    (r := store.record(p.delivery_id)) is not None  # type: ignore[misc]
                    and r.status == "processed"
                    and queues_idle(redis_conn, settings)
                ),
                60,
                f"{post.tag} handled",
                workers.logs,
            )
    finally:
        workers.stop()
    assert tags_at(world, world.branch("dev"), "dev") == {0: "2.0.0"}
    latest = store.record("generic-r2")
    assert latest is not None and any(o.status == "superseded" for o in latest.outcomes)
