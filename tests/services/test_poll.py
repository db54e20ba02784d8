"""Polling a real registry (docker-registry, pushes by skopeo) into real Redis: the highest tag each
target's policy allows is planned and merged as a push would be, a poll that finds nothing new
merges nothing, a followed tag's new digest is news, and a missing repository is an error."""

from __future__ import annotations

import pytest
import redis
import requests

from bot.core.config import Config, load_config
from bot.core.ports import ResolvedImage
from bot.demo.registry import free_port
from bot.errors import NotFound, Transient
from bot.registry import RegistryClient
from bot.services.poll import PollBatch, PollOutcome, poll_images
from bot.services.registry_gate import RegistryGate
from bot.settings import Settings
from bot.store.intents import IntentStore
from bot.store.polls import PollStore
from bot.store.waiting import WaitingStore
from tests.conftest import TEST_REDIS_URL
from tests.doubles import CountedSession
from tests.redis_counting import counting_redis
from tests.registry.fixtures import local_registry
from tests.registry.support import LocalRegistry

__all__ = ["local_registry"]

DEV = "local:deploy:main:dev"
PROD = "local:deploy:main:prod"


def routing(
    image: str, dev_policy: str = "{prereleases: true}", prod_policy: str = "{semver: '^1'}"
) -> Config:
    text = f"""\
forges: [{{name: local, kind: local, path: /srv/git}}]
defaults: {{policy: {{deny: '-debug$'}}}}
rules:
  - name: app
    image: {image}
    poll: 5m
    targets:
      - {{forge: local, repo: deploy, environment: dev, files: [dev.yaml], policy: {dev_policy}}}
      - {{forge: local, repo: deploy, environment: prod, files: [prod.yaml], policy: {prod_policy}}}
"""
    return load_config(text, "bot.yaml")


class Poller:
    def __init__(self, settings: Settings, conn: redis.Redis) -> None:
        self.client = RegistryClient(cache_ttl=0)
        self.intents = IntentStore(conn, settings)
        self.polls = PollStore(conn, settings)
        self.gate = RegistryGate(self.client, WaitingStore(conn, settings), wait_s=60, retry_s=5)

    def batch(self, images: list[str], config: Config, now: float = 1_700_000_000.0) -> PollBatch:
        return poll_images(
            images,
            config=config,
            registry=self.client,
            gate=self.gate,
            intents=self.intents,
            polls=self.polls,
            now=now,
        )

    def __call__(self, image: str, config: Config) -> PollOutcome:
        self.last = self.batch([image], config)
        return self.last.get(image)

    def wanted(self, group: str) -> list[tuple[str | None, str | None]]:
        return [(i.tag, i.digest) for i in self.intents.snapshot(group).active.values()]


@pytest.fixture
def poller(settings: Settings, redis_conn: redis.Redis) -> Poller:
    return Poller(settings, redis_conn)


def test_a_poll_plans_the_highest_allowed_tag_per_target_and_merges_it_like_a_push(
    local_registry: LocalRegistry, poller: Poller
) -> None:
    image = local_registry.image("acme/app")
    for tag in ("1.0.0", "1.4.2", "1.5.0-debug", "2.0.0-rc.1", "latest"):
        local_registry.push("acme/app", tag)

    out = poller(image, routing(image))

    assert out.chosen == ("2.0.0-rc.1", "1.4.2") and out.tags == 5
    assert sorted(out.groups) == [DEV, PROD] and poller.last.accepted == 2
    assert [t for t, _ in poller.wanted(DEV)] == ["2.0.0-rc.1"]
    assert [t for t, _ in poller.wanted(PROD)] == ["1.4.2"]
    assert out.gate.asked == 0  # listed tags exist and a tag pin needs no digest: one request in all


def test_a_poll_that_finds_what_the_last_one_found_merges_nothing(
    local_registry: LocalRegistry, poller: Poller, settings: Settings
) -> None:
    image = local_registry.image("acme/app")
    local_registry.push("acme/app", "1.0.0")
    config = routing(image)
    poller(image, config)
    generation = poller.intents.snapshot(PROD).generation

    again = poller(image, config)

    assert again.unchanged and again.groups == [] and poller.last.accepted == 0
    assert poller.intents.snapshot(PROD).generation == generation
    assert poller.intents.superseded(PROD) == []  # not one "duplicate" entry per poll

    local_registry.push("acme/app", "1.1.0")  # the webhook of this push was lost
    caught = poller(image, config)
    assert not caught.unchanged and caught.chosen == ("1.1.0",) and sorted(caught.groups) == [DEV, PROD]


def test_a_followed_tag_is_resolved_without_listing_and_a_new_digest_is_news(
    local_registry: LocalRegistry, poller: Poller
) -> None:
    image = local_registry.image("acme/app")
    first = local_registry.push("acme/app", "latest")
    config = routing(image, "{digest: latest}", "{digest: latest, pin: digest}")

    out = poller(image, config)
    assert (out.tags, out.chosen, out.gate.asked) == (0, ("latest",), 1)
    assert poller.wanted(DEV) == [("latest", first)] and poller.wanted(PROD) == [("latest", first)]

    second = local_registry.push("acme/app", "latest")
    moved = poller(image, config)
    assert poller.last.accepted == 2 and poller.wanted(PROD) == [("latest", second)]
    assert moved.groups == [DEV, PROD]


def test_a_followed_tag_missing_from_the_registry_is_dropped_not_waited_for(
    local_registry: LocalRegistry, poller: Poller
) -> None:
    image = local_registry.image("acme/app")
    local_registry.push("acme/app", "1.0.0")
    out = poller(image, routing(image, "{digest: stable}", "{digest: stable}"))
    assert out.gate.dropped == 2 and out.groups == [] and out.gate.waiting == 0


def test_polling_a_repository_that_does_not_exist_is_an_error_not_silence(
    local_registry: LocalRegistry, poller: Poller, caplog: pytest.LogCaptureFixture
) -> None:
    image = local_registry.image("acme/nothing")
    out = poller(image, routing(image))
    assert isinstance(out.error, NotFound) and "repository acme/nothing not found" in out.error.message
    assert poller.last.counts()["failed"] == 1 and out.groups == []
    assert f"poll of {image} failed" in caplog.text


# --- a batch: many images in one job ---------------------------------------------------------------
def many(images: list[str]) -> Config:
    rules = "".join(
        f"  - {{name: app{n}, image: {image}, poll: 1m, policy: {{semver: '^1'}}, targets: "
        f"[{{forge: local, repo: deploy, environment: dev, files: [apps/{n}.yaml]}}]}}\n"
        for n, image in enumerate(images)
    )
    return load_config("forges: [{name: local, kind: local, path: /srv/git}]\nrules:\n" + rules, "bot.yaml")


def test_a_batch_costs_one_registry_request_per_image_and_a_few_redis_commands(
    local_registry: LocalRegistry, settings: Settings, redis_conn: redis.Redis
) -> None:
    pusher = requests.Session()
    images = [local_registry.image(f"fleet/app{n}") for n in range(30)]
    for n in range(30):
        local_registry.put(f"fleet/app{n}", ["1.0.0", "1.1.0", "2.0.0"], session=pusher)
    config = many(images)
    conn, commands = counting_redis(TEST_REDIS_URL)
    poller = Poller(settings, conn)
    sent = CountedSession()
    poller.client = RegistryClient(cache_ttl=0, session=sent.session)
    poller.gate.registry = poller.client

    first = poller.batch(images, config)

    assert first.counts()["failed"] == 0 and first.accepted == 30 and first.groups == [DEV]
    assert sent.count == 30  # one tags list per image
    assert len(commands) <= 12, commands.by_name()  # signatures, one merge, signatures
    assert [t for t, _ in poller.wanted(DEV)] == ["1.1.0"] * 30

    mark, before = len(commands), sent.count
    again = poller.batch(images, config)  # nothing new: one read of the signatures, no write

    assert again.counts()["unchanged"] == 30 and again.groups == []
    assert sent.count - before == 30
    assert commands.since(mark) == ["HMGET"]

    local_registry.put("fleet/app7", ["1.2.0"], session=pusher)
    mark = len(commands)
    caught = poller.batch(images, config)
    assert caught.groups == [DEV] and caught.get(images[7]).chosen == ("1.2.0",)
    assert caught.counts()["unchanged"] == 29
    assert len(commands.since(mark)) <= 12, commands.by_name(mark)


def test_an_image_that_fails_does_not_stop_the_others(local_registry: LocalRegistry, poller: Poller) -> None:
    pusher = requests.Session()
    images = [local_registry.image(f"fleet/app{n}") for n in range(3)]
    local_registry.put("fleet/app0", ["1.0.0"], session=pusher)
    local_registry.put("fleet/app2", ["1.3.0"], session=pusher)  # fleet/app1 was never pushed

    batch = poller.batch(images, many(images))

    assert isinstance(batch.get(images[1]).error, NotFound)
    assert batch.get(images[0]).chosen == ("1.0.0",) and batch.get(images[2]).chosen == ("1.3.0",)
    assert batch.accepted == 2 and batch.counts()["failed"] == 1


class CountingRegistry:
    """The real client, counting the tag lists asked of it."""

    def __init__(self, inner: RegistryClient) -> None:
        self.inner = inner
        self.listed: list[str] = []

    def list_tags(self, image: str) -> tuple[str, ...]:
        self.listed.append(image)
        return self.inner.list_tags(image)

    def resolve(self, image: str, tag: str, *, fresh: bool = False) -> ResolvedImage | None:
        return self.inner.resolve(image, tag, fresh=fresh)

    def exists(self, image: str, tag: str) -> bool:
        return self.inner.exists(image, tag)

    def released(self, image: str, digest: str) -> float | None:
        return self.inner.released(image, digest)

    def platforms(self, image: str, digest: str) -> tuple[str, ...] | None:
        return self.inner.platforms(image, digest)


def test_a_registry_that_does_not_answer_is_asked_once_per_batch(
    local_registry: LocalRegistry, poller: Poller
) -> None:
    gone = f"127.0.0.1:{free_port()}"  # nothing listens there
    images = [f"{gone}/acme/a", f"{gone}/acme/b", local_registry.image("acme/c")]
    local_registry.put("acme/c", ["1.0.0"], session=requests.Session())
    counting = CountingRegistry(RegistryClient(cache_ttl=0, timeout=2))
    batch = poll_images(
        images,
        config=many(images),
        registry=counting,
        gate=poller.gate,
        intents=poller.intents,
        polls=poller.polls,
        now=1_700_000_000.0,
    )
    assert counting.listed == [images[0], images[2]]
    assert all(isinstance(batch.get(i).error, Transient) for i in images[:2])
    assert batch.get(images[2]).chosen == ("1.0.0",)
