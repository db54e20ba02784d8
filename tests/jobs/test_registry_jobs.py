"""The registry's jobs in-process (real Redis, the job queue, a real docker-registry): the event
path's gate makes a version wait, the leader asks again when it is due, the retry admits the pushed
version and asks for a reconcile, a retry lost with its worker comes back, and polled images are
polled on their own schedule."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.core.config import load_config
from bot.core.events import ImagePushed
from bot.core.planning import plan
from bot.deps import Container
from bot.jobs import registry as registry_jobs
from bot.jobs import runtime
from bot.jobs.leader import REARM_S
from bot.settings import Settings
from tests.registry.fixtures import local_registry
from tests.registry.support import LocalRegistry

__all__ = ["local_registry"]

DEV = "local:deploy:main:dev"
NOW = 1_700_000_000.0


class Clock:
    now = NOW

    def __call__(self) -> float:
        return self.now


def routing_text(image: str, poll: str = "") -> str:
    return f"""\
forges: [{{name: local, kind: local, path: /srv/git}}]
rules:
  - name: app
    image: {image}
    {poll}
    targets: [{{forge: local, repo: deploy, environment: dev, files: [dev.yaml]}}]
  - name: web
    image: nginx
    poll: 10m
    targets: [{{forge: local, repo: deploy, environment: dev, files: [web.yaml]}}]
"""


@pytest.fixture
def build(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[Callable[..., Container]]:
    def make(text: str, **overrides: object) -> Container:
        path = tmp_path / "routing.yaml"
        path.write_text(text)
        container = Container(make_settings(config_path=path, **overrides), clock=Clock())
        container.__dict__["redis"] = redis_conn
        runtime.install(container)
        return container

    yield make
    runtime.install(None)


def intents_for(container: Container, image: str, tag: str) -> list:
    event = ImagePushed(image=image, tag=tag, digest=None, source="generic")
    return list(plan(event, container.config).intents)


def queued(container: Container, func: str) -> list[dict[str, object]]:
    q = container.dispatch.queue
    jobs = [q.fetch_job(i) for i in q.job_ids]
    return [j.kwargs for j in jobs if j is not None and j.func_name.endswith(func)]


def test_a_version_waiting_for_its_push_is_retried_then_merged_and_reconciled(
    local_registry: LocalRegistry, build: Callable[..., Container]
) -> None:
    image = local_registry.image("acme/app")
    c = build(routing_text(image), registry_retry_s=3)
    leader = c.engine("w").leader

    ready, changed = c.admit(intents_for(c, image, "1.2.0"))  # what the consumer does

    assert ready == [] and changed == [DEV]
    assert c.intents.dirty(DEV)  # its PR body or status will say what it waits for
    assert c.waiting.groups() == [(DEV, NOW + 3)]  # asked again when the first backoff is over
    leader.tick()
    assert queued(c, "retry_waiting") == []  # not before

    digest = local_registry.push("acme/app", "1.2.0")
    c.clock.now = NOW + 3  # type: ignore[attr-defined]
    leader.tick()
    assert queued(c, "retry_waiting") == [{"group_key": DEV}]
    result = registry_jobs.retry_waiting(DEV)  # what the worker runs

    assert result == {"group": DEV, "admitted": 1, "waiting": 0, "failed": 0, "registry_lookups": 1}
    (active,) = c.intents.snapshot(DEV).active.values()
    assert (active.tag, active.digest) == ("1.2.0", digest)
    assert c.waiting.entries(DEV) == [] and c.waiting.groups() == []
    assert len(queued(c, "reconcile_group")) == 1  # the group's reconcile


def test_a_retry_lost_with_its_worker_is_asked_for_again(
    local_registry: LocalRegistry, build: Callable[..., Container]
) -> None:
    image = local_registry.image("acme/app")
    c = build(routing_text(image), registry_retry_s=3)
    leader = c.engine("w").leader
    c.admit(intents_for(c, image, "1.2.0"))
    local_registry.push("acme/app", "1.2.0")
    c.clock.now = NOW + 3  # type: ignore[attr-defined]
    leader.tick()
    c.dispatch.queue.empty()  # the retry job died with its worker
    c.clock.now = NOW + 3 + REARM_S  # type: ignore[attr-defined]
    leader.tick()
    assert queued(c, "retry_waiting") == [{"group_key": DEV}]
    registry_jobs.retry_waiting(DEV)
    assert [i.tag for i in c.intents.snapshot(DEV).active.values()] == ["1.2.0"]


def test_polled_images_follow_the_config_and_the_interval_can_be_overridden(
    build: Callable[..., Container],
) -> None:
    c = build(routing_text("ghcr.io/acme/app", poll="poll: 2m"))
    assert c.sync_polls() == 2
    due = dict(c.poll_schedule.members())
    assert due == {"ghcr.io/acme/app": NOW, "docker.io/library/nginx": NOW}  # polled at once
    assert sorted(c.take_polls(NOW, 100)) == ["docker.io/library/nginx", "ghcr.io/acme/app"]
    next_polls = {"ghcr.io/acme/app": NOW + 120, "docker.io/library/nginx": NOW + 600}
    assert dict(c.poll_schedule.members()) == next_polls
    assert c.take_polls(NOW + 119, 100) == []

    fast = build(routing_text("ghcr.io/acme/app", poll="poll: 2m"), poll_interval_s=1.5)
    fast.take_polls(NOW + 120, 100)
    assert {t for _, t in fast.poll_schedule.members()} == {NOW + 121.5, NOW + 600}

    c.__dict__.pop("config_source")
    (c.settings.config_path).write_text(routing_text("ghcr.io/acme/app"))  # type: ignore[union-attr]
    assert c.sync_polls() == 1
    assert [i for i, _ in c.poll_schedule.members()] == ["docker.io/library/nginx"]


def test_the_poll_job_merges_what_it_found_and_asks_for_a_reconcile(
    local_registry: LocalRegistry, build: Callable[..., Container]
) -> None:
    image = local_registry.image("acme/app")
    c = build(routing_text(image, poll="poll: 1m"))
    local_registry.push("acme/app", "1.0.0")
    local_registry.push("acme/app", "1.1.0")

    result = registry_jobs.poll_images([image])

    assert result["images"] == 1 and result["chosen"] == 1 and result["accepted"] == 1
    assert [i.tag for i in c.intents.snapshot(DEV).active.values()] == ["1.1.0"]
    assert len(queued(c, "reconcile_group")) == 1


def test_the_example_config_polls_nothing_until_asked() -> None:
    text = (Path(__file__).resolve().parents[2] / "config" / "examples" / "routing.yaml").read_text()
    assert load_config(text, "routing.yaml").poll_intervals() == {}
