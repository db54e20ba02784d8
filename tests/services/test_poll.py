"""Polling a real registry (docker-registry, pushes by skopeo) into real Redis: the highest tag each
target's policy allows is planned and merged as a push would be, a poll that finds nothing new
merges nothing, a followed tag's new digest is news, and a missing repository is an error."""

from __future__ import annotations

import pytest
import redis

from bot.core.config import Config, load_config
from bot.errors import NotFound
from bot.registry import RegistryClient
from bot.services.poll import PollOutcome, poll_image
from bot.services.registry_gate import RegistryGate
from bot.settings import Settings
from bot.store.intents import IntentStore
from bot.store.polls import PollStore
from bot.store.waiting import WaitingStore
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

    def __call__(self, image: str, config: Config, now: float = 1_700_000_000.0) -> PollOutcome:
        return poll_image(
            image,
            config=config,
            registry=self.client,
            gate=self.gate,
            intents=self.intents,
            polls=self.polls,
            now=now,
        )

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
    assert sorted(out.groups) == [DEV, PROD] and out.accepted == 2
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

    assert again.unchanged and again.groups == [] and again.accepted == 0
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
    assert moved.accepted == 2 and poller.wanted(PROD) == [("latest", second)]


def test_a_followed_tag_missing_from_the_registry_is_dropped_not_waited_for(
    local_registry: LocalRegistry, poller: Poller
) -> None:
    image = local_registry.image("acme/app")
    local_registry.push("acme/app", "1.0.0")
    out = poller(image, routing(image, "{digest: stable}", "{digest: stable}"))
    assert out.gate.dropped == 2 and out.groups == [] and out.gate.waiting == 0


def test_polling_a_repository_that_does_not_exist_is_an_error_not_silence(
    local_registry: LocalRegistry, poller: Poller
) -> None:
    image = local_registry.image("acme/nothing")
    with pytest.raises(NotFound, match="repository acme/nothing not found"):
        poller(image, routing(image))
