"""Ordering by part of a tag through the running service (issue 25 item 5): with
``extract: '^main-(?P<ts>[0-9]+)-[0-9a-f]+$'`` and ``order: numerical``, a late build with an older
timestamp never replaces a newer one, and a tag the pattern does not match is not written — each
delivery through the web app, a real worker, Redis and git."""

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


def test_the_extracted_timestamp_orders_builds_whatever_order_they_arrive_in(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path, images=1, envs=("dev",))
    config = json.loads(world.config_path.read_text())
    config["defaults"]["policy"] = {
        "verify": False,
        "extract": "^main-(?P<ts>[0-9]+)-[0-9a-f]+$",
        "order": "numerical",
    }
    world.config_path.write_text(json.dumps(config))
    settings = world_settings(make_settings, world)
    client = create_app(settings=settings).test_client()
    store = DeliveryStore(redis_conn, settings)
    workers = Workers(worker_env(settings), tmp_path)
    workers.start(1)
    posts = (
        Post("t1", 0, "main-1712345999-0c1d2e3"),  # the newest build arrives first
        Post("t2", 0, "main-1712345678-fff0000"),  # an older build, late (higher sha, as text)
        Post("t3", 0, "feature-1712349999-aaaaaaa"),  # another branch: not eligible
    )
    try:
        for post in posts:
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
    assert tags_at(world, world.branch("dev"), "dev") == {0: "main-1712345999-0c1d2e3"}
    late, other = store.record("generic-t2"), store.record("generic-t3")
    assert late is not None and [o.status for o in late.outcomes] == ["superseded"]
    assert other is not None and all(o.status == "skipped" for o in other.outcomes)
    assert any("does not match the extract pattern" in (o.reason or "") for o in other.outcomes)
