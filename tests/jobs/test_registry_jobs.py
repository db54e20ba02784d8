"""The registry's jobs in-process (real Redis, rq queues, a real docker-registry): the event path's
gate schedules a retry, the retry admits the pushed version and asks for a reconcile, an overdue
retry is caught by the periodic safety net, and polled images become periodic jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from bot.core.config import load_config
from bot.core.events import ImagePushed
from bot.core.planning import plan
from bot.deps import Container
from bot.jobs import registry as registry_jobs
from bot.jobs import runtime
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


def scheduled(container: Container) -> list[tuple[str, datetime]]:
    queue = Queue(container.settings.queue("reconcile"), connection=container.redis)
    reg = ScheduledJobRegistry(queue=queue)
    return [(job_id, reg.get_scheduled_time(job_id)) for job_id in reg.get_job_ids()]


def test_a_version_waiting_for_its_push_is_retried_then_merged_and_reconciled(
    local_registry: LocalRegistry, build: Callable[..., Container]
) -> None:
    image = local_registry.image("acme/app")
    c = build(routing_text(image), registry_retry_s=3)

    ready, changed = c.admit(intents_for(c, image, "1.2.0"))  # what the event job does

    assert ready == [] and changed == [DEV]
    assert c.intents.dirty(DEV)  # its PR body or status will say what it waits for
    ((_, when),) = scheduled(c)  # asked again when the first backoff is over, not before
    assert when == datetime.fromtimestamp(NOW + 3, UTC)

    digest = local_registry.push("acme/app", "1.2.0")
    c.clock.now = NOW + 3  # type: ignore[attr-defined]
    result = registry_jobs.retry_waiting(DEV)  # what rq runs at that time

    assert result == {"group": DEV, "admitted": 1, "waiting": 0, "failed": 0, "registry_lookups": 1}
    (active,) = c.intents.snapshot(DEV).active.values()
    assert (active.tag, active.digest) == ("1.2.0", digest)
    assert c.waiting.entries(DEV) == []
    assert Queue(c.settings.queue("reconcile"), connection=c.redis).count == 1  # the group's reconcile


def test_an_overdue_retry_is_caught_by_the_periodic_safety_net(
    local_registry: LocalRegistry, build: Callable[..., Container]
) -> None:
    image = local_registry.image("acme/app")
    c = build(routing_text(image), registry_retry_s=3)
    c.admit(intents_for(c, image, "1.2.0"))
    local_registry.push("acme/app", "1.2.0")

    c.clock.now = NOW + 30  # type: ignore[attr-defined]  # late, but the job may still come
    assert registry_jobs.retry_overdue() == {"groups_retried": 0}
    c.clock.now = NOW + 3 + registry_jobs.OVERDUE_S + 1  # type: ignore[attr-defined]  # its job died
    assert registry_jobs.retry_overdue() == {"groups_retried": 1}
    assert [i.tag for i in c.intents.snapshot(DEV).active.values()] == ["1.2.0"]


def test_each_polled_image_is_one_periodic_job_and_the_interval_can_be_overridden(
    build: Callable[..., Container],
) -> None:
    c = build(routing_text("ghcr.io/acme/app", poll="poll: 2m"))
    jobs = {j.name: j for j in c.periodic_jobs()}
    assert {name for name in jobs if name.startswith("registry-")} == {
        "registry-wait",
        "registry-poll:ghcr.io/acme/app",
        "registry-poll:docker.io/library/nginx",
    }
    polled = jobs["registry-poll:ghcr.io/acme/app"]
    assert (polled.func, polled.every_s, polled.kwargs) == (
        registry_jobs.POLL_FUNC,
        120,
        {"image": "ghcr.io/acme/app"},
    )
    assert jobs["registry-poll:docker.io/library/nginx"].every_s == 600

    fast = build(routing_text("ghcr.io/acme/app", poll="poll: 2m"), poll_interval_s=1.5)
    assert {j.every_s for j in fast.periodic_jobs() if j.name.startswith("registry-poll:")} == {1.5}


def test_the_poll_job_merges_what_it_found_and_asks_for_a_reconcile(
    local_registry: LocalRegistry, build: Callable[..., Container]
) -> None:
    image = local_registry.image("acme/app")
    c = build(routing_text(image, poll="poll: 1m"))
    local_registry.push("acme/app", "1.0.0")
    local_registry.push("acme/app", "1.1.0")

    result = registry_jobs.poll_image(image)

    assert result["image"] == image and result["chosen"] == 1 and result["accepted"] == 1
    assert [i.tag for i in c.intents.snapshot(DEV).active.values()] == ["1.1.0"]
    assert Queue(c.settings.queue("reconcile"), connection=c.redis).count == 1


def test_the_example_config_polls_nothing_until_asked() -> None:
    text = (Path(__file__).resolve().parents[2] / "config" / "examples" / "routing.yaml").read_text()
    assert load_config(text, "routing.yaml").poll_intervals() == {}
