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
from bot.jobs.leader import POLL_BATCH, REARM_S
from bot.settings import Settings
from tests.conftest import TEST_REDIS_URL
from tests.doubles import Clock
from tests.redis_counting import counting_redis
from tests.registry.fixtures import local_registry
from tests.registry.support import LocalRegistry

__all__ = ["local_registry"]

DEV = "local:deploy:main:dev"
NOW = 1_700_000_000.0


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
        container = Container(make_settings(config_path=path, **overrides), clock=Clock(NOW))
        container.__dict__["redis"] = redis_conn
        runtime.install(container)
        return container

    yield make
    runtime.install(None)


def fleet(images: list[str]) -> str:
    rules = "".join(
        f"  - {{name: app{n}, image: {image}, poll: 1m, targets: "
        f"[{{forge: local, repo: deploy, environment: dev, files: [apps/{n}.yaml]}}]}}\n"
        for n, image in enumerate(images)
    )
    return "forges: [{name: local, kind: local, path: /srv/git}]\nrules:\n" + rules


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

    ready, changed = c.admission(intents_for(c, image, "1.2.0"))  # what the consumer does

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
    c.admission(intents_for(c, image, "1.2.0"))
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
    app, nginx = "ghcr.io/acme/app", "docker.io/library/nginx"
    c = build(routing_text(app, poll="poll: 2m"))
    synced = c.poll_schedule.sync()
    assert synced is not None and (synced.total, synced.added) == (2, 2)
    assert c.polls.schedule() == {app: NOW, nginx: NOW}  # polled at once
    assert sorted(c.poll_schedule.take(NOW, 100)) == [nginx, app]
    assert c.polls.schedule() == {app: NOW + 120, nginx: NOW + 600}
    assert c.poll_schedule.take(NOW + 119, 100) == []

    fast = build(routing_text(app, poll="poll: 2m"), poll_interval_s=1.5)
    assert fast.poll_schedule.take(NOW + 120, 100) == [app]  # its config is followed first
    assert c.polls.schedule() == {app: NOW + 121.5, nginx: NOW + 121.5}  # a shorter interval: sooner

    c.__dict__.pop("config_source")
    (c.settings.config_path).write_text(routing_text(app))  # type: ignore[union-attr]
    synced = c.poll_schedule.sync()
    assert synced is not None and (synced.total, synced.removed) == (1, 1)
    assert list(c.polls.schedule()) == [nginx]


def test_the_leader_takes_a_new_config_s_polls_at_its_next_tick_in_batches(
    build: Callable[..., Container],
) -> None:
    images = [f"ghcr.io/acme/app{n}" for n in range(POLL_BATCH + 20)]
    c = build(fleet(images))
    leader = c.engine("w").leader
    assert leader.tick()["polls"] == len(images)  # type: ignore[index]
    batches = [kw["images"] for kw in queued(c, "poll_images")]
    assert [len(b) for b in batches] == [POLL_BATCH, 20]
    assert sorted(i for b in batches for i in b) == sorted(images)
    assert leader.tick()["polls"] == 0  # type: ignore[index]
    c.clock.now = NOW + 60  # type: ignore[attr-defined]
    assert leader.tick()["polls"] == len(images)  # type: ignore[index]

    c.settings.config_path.write_text(fleet([*images[:10], "ghcr.io/acme/new"]))  # type: ignore[union-attr]
    c.config_reloads.refresh(force=True)  # what a worker does before each batch (a stat, then the new file)
    c.clock.now = NOW + 61  # type: ignore[attr-defined]
    assert leader.tick()["polls"] == 1  # type: ignore[index]  # the new image, at once
    assert sorted(c.polls.schedule()) == sorted([*images[:10], "ghcr.io/acme/new"])


def test_an_idle_tick_costs_the_same_whatever_the_number_of_polled_images(
    build: Callable[..., Container],
) -> None:
    costs = []
    for size in (10, 1000):
        c = build(fleet([f"ghcr.io/acme/app{n}" for n in range(size)]))
        conn, commands = counting_redis(TEST_REDIS_URL)
        c.__dict__["redis"] = conn
        leader = c.engine("w").leader
        leader.tick()  # takes the tasks and every image (all due at once)
        c.clock.now = NOW + 30  # type: ignore[attr-defined]
        mark = len(commands)
        assert leader.tick() == dict.fromkeys(
            ("tasks", "reconciles", "commands", "auto_merges", "registry_waits", "polls"), 0
        )
        costs.append(commands.since(mark))
        leader.release()
        conn.delete(c.settings.key("due", "tasks"), c.polls.due_key, c.polls.every_key)
    assert costs[0] == costs[1] == ["EVALSHA", "EVALSHA"]  # the leader's script, the polls' take


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
