"""Major updates apart through the running service (issue 25 item 4): with
``pr.separate_major: true``, a major bump opens its own PR on ``<prefix>/<env>/<env>-major`` while
minor updates keep going to the environment's PR, and once the major PR is merged the minor PR
follows the new major — each delivery through the web app, a real worker, Redis and git."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bot.app import create_app
from bot.forges.local.adapter import LocalGitForge
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore
from tests.integration.test_race import world_settings
from tests.integration.world import (
    REPO,
    Post,
    Workers,
    make_world,
    open_prs,
    queues_idle,
    signed,
    tags_at,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.slow
MAJOR_BRANCH = "manifest-bot/dev/dev-major"


def test_a_major_bump_gets_its_own_pr_and_minors_keep_flowing(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    world = make_world(tmp_path, images=1, envs=("dev",))  # the manifest runs 1.0.0
    config = json.loads(world.config_path.read_text())
    config["environments"] = {"dev": {"pr": {"separate_major": True}}}
    world.config_path.write_text(json.dumps(config))
    settings = world_settings(make_settings, world)
    client = create_app(settings=settings).test_client()
    store = DeliveryStore(redis_conn, settings)
    workers = Workers(worker_env(settings), tmp_path)

    def deliver(post: Post) -> None:
        body, headers = signed(post)
        assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 202
        wait_for(
            lambda: (
                (r := store.record(post.delivery_id)) is not None
                and r.status == "processed"
                and queues_idle(redis_conn, settings)
            ),
            60,
            f"{post.tag} handled",
            workers.logs,
        )

    workers.start(1)
    try:
        deliver(Post("m1", 0, "1.1.0"))
        assert tags_at(world, world.branch("dev"), "dev") == {0: "1.1.0"}
        assert MAJOR_BRANCH not in open_prs(world)  # a minor bump opens no major PR
        deliver(Post("m2", 0, "2.0.0"))
        deliver(Post("m3", 0, "1.2.0"))  # a minor of the running major, after the major
        assert tags_at(world, world.branch("dev"), "dev") == {0: "1.2.0"}
        assert tags_at(world, MAJOR_BRANCH, "dev") == {0: "2.0.0"}
        prs = open_prs(world)
        assert set(prs) == {world.branch("dev"), MAJOR_BRANCH}
        # the major PR is merged: the minor lane follows 2.x, the minor PR (1.2.0) has nothing left
        forge = LocalGitForge(world.root)
        assert forge.merge_pr(REPO, prs[MAJOR_BRANCH][0], "squash", None)
        deliver(Post("m4", 0, "2.1.0"))
        assert tags_at(world, world.branch("dev"), "dev") == {0: "2.1.0"}
        assert tags_at(world, "main", "dev") == {0: "2.0.0"}
        assert MAJOR_BRANCH not in open_prs(world)
    finally:
        workers.stop()
