"""What a person sees while a version waits for its registry, on real pieces (Redis, a local git
forge, the real reconcile): the rest of the group goes on, the PR body and the status page say
what is waited for, and giving up is one clear comment on the PR."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.core.events import Delivery, ImagePushed
from bot.core.planning import plan
from bot.deps import Container
from bot.forges.local.adapter import LocalGitForge
from bot.jobs import runtime
from bot.services.events import apply_delivery
from bot.services.reconcile import reconcile
from bot.settings import Settings
from bot.web.status_data import groups
from tests.doubles import Clock
from tests.integration.world import REPO, World, image_name, make_world, tags_at
from tests.registry.support import free_port

DEV = "local:manifests:main:dev"
NOW = 1_700_000_000.0


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path, images=2, envs=("dev",))


@pytest.fixture
def container(
    world: World, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[Container]:
    closed = f"127.0.0.1:{free_port()}"  # registry.example.com does not answer
    settings = make_settings(
        config_path=world.config_path,
        registry_endpoints={"registry.example.com": closed},
        registry_wait_s=600,
    )
    c = Container(settings, clock=Clock(NOW))
    c.__dict__["redis"] = redis_conn
    runtime.install(c)
    yield c
    runtime.install(None)


def pr_body(world: World) -> str:
    (pr,) = LocalGitForge(world.root).list_prs(REPO)
    return pr.body


def test_a_waiting_version_shows_on_the_pr_and_the_status_page_then_is_given_up_with_a_comment(
    container: Container, world: World
) -> None:
    c = container
    event = ImagePushed(image_name(0), "1.2.0", None, "generic")  # the world's rules trust events
    apply_delivery(
        c.intents, c.config, Delivery("d0", "generic", "2024-01-01T00:00:00Z", (event,)), bot_login="x"
    )
    reconcile(c.reconcile_deps, DEV)
    assert tags_at(world, "manifest-bot/dev/dev", "dev") == {0: "1.2.0", 1: "1.0.0"}

    planned = plan(ImagePushed(image_name(1), "1.5.0", None, "generic"), c.config).intents
    ready, changed = c.admission([dataclasses.replace(i, verify=True) for i in planned])
    assert ready == [] and changed == [DEV]
    report = reconcile(c.reconcile_deps, DEV)

    assert report.rounds == 1
    waiting = f"- waiting for `{image_name(1)}:1.5.0` in `registry.example.com` until 2023-11-14 22:23:20 UTC"
    assert waiting in pr_body(world)
    assert tags_at(world, "manifest-bot/dev/dev", "dev") == {0: "1.2.0", 1: "1.0.0"}  # the rest goes on
    (row,) = groups(c.redis, c.settings)
    (line,) = row.waiting
    assert line.startswith(
        f"waiting for {image_name(1)}:1.5.0 in registry.example.com until 2023-11-14 22:23:20 UTC: "
    )
    assert "the registry did not answer" in line

    c.clock.now = NOW + 600  # type: ignore[attr-defined]
    outcome = c.registry_gate.retry(DEV)
    assert len(outcome.failures) == 1
    c.admission.settle(outcome)
    reconcile(c.reconcile_deps, DEV)

    body = pr_body(world)
    assert "Not in the registry yet" not in body and waiting not in body
    assert "[!WARNING]" not in body  # the comment says it was given up; the body tells only this update
    comments = [item["body"] for item in LocalGitForge(world.root).pr_record(REPO, 1)["comments"]]
    why = outcome.failures[0].error.message.split("(", 1)[1]  # the registry's last answer
    assert comments == [
        f"I waited 10 minutes for `{image_name(1)}:1.5.0` in `registry.example.com`, but the registry "
        f"did not answer ({why}, so I did not write it. Push the image and announce it again (re-run the "
        "CI job or the webhook) to try once more."
    ]
    assert c.registry_gate.retry(DEV).failures == []  # given up once: never again, never commented twice
