"""``policy.platforms`` at the registry gate, against a real CNCF Distribution registry and real
Redis (issue 25 item 6): an index listing every required platform is admitted, one that lacks
one is refused with what it has and what is missing (on the group, and as its PR comment), a
single image is judged by its config; the check costs one manifest request per new digest,
shared with ``policy.min_release_age``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis
import requests

from bot.core.config import Config, load_config
from bot.core.events import ImagePushed
from bot.core.intents import UpdateIntent
from bot.core.planning import plan
from bot.registry import RegistryClient
from bot.services.registry_gate import RegistryGate
from bot.settings import Settings
from bot.store.waiting import WaitingStore
from tests.doubles import Clock, CountedSession
from tests.registry.fixtures import local_registry
from tests.registry.support import LocalRegistry

__all__ = ["local_registry"]
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()


def routing(image: str, policy: str) -> Config:
    text = (
        "forges: [{name: local, kind: local, path: /srv/git}]\n"
        f"rules:\n  - name: app\n    image: {image}\n    policy: {policy}\n"
        "    targets: [{forge: local, repo: deploy, environment: dev, files: [app.yaml]}]\n"
    )
    return load_config(text, "bot.yaml")


def pushed(config: Config, image: str, tag: str) -> list[UpdateIntent]:
    return list(plan(ImagePushed(image=image, tag=tag, digest=None, source="generic"), config).intents)


@pytest.fixture
def store(settings: Settings, redis_conn: redis.Redis) -> WaitingStore:
    return WaitingStore(redis_conn, settings)


@pytest.fixture
def session() -> requests.Session:
    return requests.Session()


def index(
    registry: LocalRegistry, session: requests.Session, tag: str, *platforms: str, created: str | None = None
) -> str:
    images = {}
    for platform in platforms:
        os_name, arch = platform.split("/")[:2]
        images[platform] = registry.put(
            "acme/app", [], session=session, platform=(os_name, arch), created=created
        )
    return registry.put_index("acme/app", tag, images, session=session)


def test_an_index_listing_every_platform_is_admitted(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image = local_registry.image("acme/app")
    digest = index(local_registry, session, "1.4.0", "linux/amd64", "linux/arm64", "linux/s390x")
    gate = RegistryGate(RegistryClient(cache_ttl=0), store, wait_s=60, retry_s=5, clock=Clock(NOW))

    out = gate.admit(pushed(routing(image, "{platforms: [linux/amd64, linux/arm64]}"), image, "1.4.0"))

    assert [(i.tag, i.digest) for i in out.ready] == [("1.4.0", digest)] and out.failures == []


def test_an_index_lacking_a_platform_is_refused_with_what_it_has(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image = local_registry.image("acme/app")
    index(local_registry, session, "1.4.0", "linux/amd64")
    gate = RegistryGate(RegistryClient(cache_ttl=0), store, wait_s=60, retry_s=5, clock=Clock(NOW))

    out = gate.admit(pushed(routing(image, "{platforms: [linux/amd64, linux/arm64]}"), image, "1.4.0"))

    assert out.ready == [] and out.waiting == 0 and store.entries("local:deploy:main:dev") == []
    (failure,) = out.failures
    assert failure.error.message == (
        f"{image}:1.4.0 is built for linux/amd64: policy.platforms also needs linux/arm64; not written"
    )
    assert "`policy.platforms` also needs `linux/arm64`" in failure.comment


def test_a_single_image_is_judged_by_its_config(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image = local_registry.image("acme/app")
    local_registry.put("acme/app", ["1.4.0"], session=session, platform=("linux", "arm64"))
    gate = RegistryGate(RegistryClient(cache_ttl=0), store, wait_s=60, retry_s=5, clock=Clock(NOW))

    arm = gate.admit(pushed(routing(image, "{platforms: [linux/arm64]}"), image, "1.4.0"))
    both = gate.admit(pushed(routing(image, "{platforms: [linux/arm64, linux/amd64]}"), image, "1.4.0"))

    assert [i.tag for i in arm.ready] == ["1.4.0"]
    assert both.ready == [] and "is built for linux/arm64" in both.failures[0].error.message


def test_one_manifest_request_per_new_digest_shared_with_the_release_age(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image = local_registry.image("acme/app")
    built = datetime.fromtimestamp(NOW - 7 * 86_400, UTC).isoformat()
    index(local_registry, session, "1.4.0", "linux/amd64", "linux/arm64", created=built)
    counted = CountedSession()
    gate = RegistryGate(
        RegistryClient(cache_ttl=0, session=counted.session), store, wait_s=60, retry_s=5, clock=Clock(NOW)
    )
    platforms = pushed(routing(image, "{platforms: [linux/amd64, linux/arm64]}"), image, "1.4.0")
    both = pushed(routing(image, "{platforms: [linux/arm64], min_release_age: 3d}"), image, "1.4.0")

    first = gate.admit(platforms)
    after_first = counted.count
    again = gate.admit(platforms)
    after_again = counted.count
    aged = gate.admit(both)

    assert [i.tag for i in first.ready + again.ready + aged.ready] == ["1.4.0"] * 3
    assert after_first == 2  # the tag (HEAD) and the index, once
    assert after_again - after_first == 1  # the tag again (a tag may move); its digest's index is known
    # the age reads the same index (kept), its amd64 image's manifest and that one's config
    assert counted.count - after_again == 1 + 2
