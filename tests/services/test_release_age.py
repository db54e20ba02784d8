"""``policy.min_release_age`` at the registry gate, against a real CNCF Distribution registry
(docker-registry) and real Redis, on intents the real planner made: a tag younger than the minimum
age waits with the instant it becomes eligible and is admitted then; its age is the registry's
(the ``org.opencontainers.image.created`` annotation, else the config's ``created``; an index's
linux/amd64 image) or, when the registry says nothing usable, the first time the bot saw it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis
import requests

from bot.core.config import Config, load_config
from bot.core.events import ImagePushed
from bot.core.intents import Origin, UpdateIntent
from bot.core.planning import plan, plan_for_environment
from bot.core.release_age import shown
from bot.registry import RegistryClient
from bot.services.registry_gate import RegistryGate, needs_registry
from bot.settings import Settings
from bot.store.waiting import WaitingStore
from tests.doubles import Clock, CountedSession
from tests.registry.fixtures import local_registry
from tests.registry.support import LocalRegistry

__all__ = ["local_registry"]

DEV = "local:deploy:main:dev"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()
DAY = 86_400.0


def routing(image: str, policy: str) -> Config:
    text = (
        "forges: [{name: local, kind: local, path: /srv/git}]\n"
        f"rules:\n  - name: app\n    image: {image}\n    policy: {policy}\n"
        "    targets: [{forge: local, repo: deploy, environment: dev, files: [app.yaml]}]\n"
    )
    return load_config(text, "bot.yaml")


def pushed(config: Config, image: str, tag: str) -> list[UpdateIntent]:
    event = ImagePushed(image=image, tag=tag, digest=None, source="generic")
    return list(plan(event, config).intents)


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


@pytest.fixture
def store(settings: Settings, redis_conn: redis.Redis) -> WaitingStore:
    return WaitingStore(redis_conn, settings)


@pytest.fixture
def session() -> requests.Session:
    return requests.Session()


def gate(store: WaitingStore, clock: Clock, client: RegistryClient | None = None) -> RegistryGate:
    return RegistryGate(client or RegistryClient(cache_ttl=0), store, wait_s=60, retry_s=5, clock=clock)


def test_a_tag_built_an_hour_ago_waits_three_days_from_its_build_then_is_admitted(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image, clock = local_registry.image("acme/app"), Clock(NOW)
    built = NOW - 3600
    digest = local_registry.put("acme/app", ["1.4.0"], session=session, created=iso(built))
    g = gate(store, clock)

    first = g.admit(pushed(routing(image, "{min_release_age: 3d}"), image, "1.4.0"))

    assert first.ready == [] and first.waiting == 1 and first.changed == {DEV}
    (entry,) = store.entries(DEV)
    assert entry.eligible_at == built + 3 * DAY and entry.intent.digest is None  # asked again then
    assert entry.shown().eligible == shown(built + 3 * DAY)
    assert entry.reason == f"built {shown(built)}, younger than policy.min_release_age 3d"
    assert first.retry_at == {DEV: built + 3 * DAY}  # asked next when it becomes eligible
    clock.now = built + 3 * DAY - 1
    assert g.retry(DEV).ready == [] and len(store.entries(DEV)) == 1  # not due: kept, nothing asked

    clock.now = built + 3 * DAY
    later = g.retry(DEV)

    assert [(i.tag, i.digest) for i in later.ready] == [("1.4.0", digest)]
    assert store.entries(DEV) == [] and store.groups() == []


def test_a_tag_older_than_the_minimum_age_is_admitted_at_once(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image = local_registry.image("acme/app")
    local_registry.put("acme/app", ["1.4.0"], session=session, created=iso(NOW - 4 * DAY))

    out = gate(store, Clock(NOW)).admit(pushed(routing(image, "{min_release_age: 3d}"), image, "1.4.0"))

    assert [i.tag for i in out.ready] == ["1.4.0"] and out.waiting == 0


def test_the_created_annotation_is_read_before_the_config(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image = local_registry.image("acme/app")
    annotated = NOW - 600  # the build's own stamp: ten minutes ago (the config says four days)
    local_registry.put(
        "acme/app",
        ["1.4.0"],
        session=session,
        created=iso(NOW - 4 * DAY),
        annotations={"org.opencontainers.image.created": iso(annotated)},
    )

    out = gate(store, Clock(NOW)).admit(pushed(routing(image, "{min_release_age: 1h}"), image, "1.4.0"))

    assert out.ready == []
    assert store.entries(DEV)[0].eligible_at == annotated + 3600


def test_an_index_is_aged_by_its_linux_amd64_image_in_one_pass_per_digest(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image = local_registry.image("acme/app")
    arm = local_registry.put(
        "acme/app", [], session=session, created=iso(NOW - 9 * DAY), platform=("linux", "arm64")
    )
    amd = local_registry.put("acme/app", [], session=session, created=iso(NOW - 7200))
    local_registry.put_index("acme/app", "1.4.0", {"linux/arm64": arm, "linux/amd64": amd}, session=session)
    counted = CountedSession()
    client = RegistryClient(cache_ttl=0, session=counted.session)
    g = gate(store, Clock(NOW), client)
    config = routing(image, "{min_release_age: 1d}")

    g.admit(pushed(config, image, "1.4.0"))
    asked = counted.count
    store.update(DEV, [], store.entries(DEV))  # forget the wait: the same digest asked again
    g.admit(pushed(config, image, "1.4.0"))

    assert store.entries(DEV)[0].eligible_at == NOW - 7200 + DAY
    # the tag, the index, its amd64 manifest, that manifest's config; then the tag alone
    assert (asked, counted.count - asked) == (4, 1)


def test_without_a_usable_release_time_the_age_counts_from_the_bots_first_sight(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image, clock = local_registry.image("acme/app"), Clock(NOW)
    local_registry.put(
        "acme/app", ["1.4.0"], session=session, created="1980-01-01T00:00:01Z"
    )  # a build stamp
    g = gate(store, clock)
    config = routing(image, "{min_release_age: 2h}")

    g.admit(pushed(config, image, "1.4.0"))
    store.update(DEV, [], store.entries(DEV))
    clock.now += 3000  # announced again later: still counted from the first sight
    again = g.admit(pushed(config, image, "1.4.0"))

    (entry,) = store.entries(DEV)
    assert again.ready == [] and entry.eligible_at == NOW + 7200
    assert entry.reason.startswith(f"first seen {shown(NOW)}")
    clock.now = NOW + 7200
    assert [i.tag for i in g.retry(DEV).ready] == ["1.4.0"]


def test_a_tag_pushed_again_while_it_waits_counts_from_its_new_build(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image, clock = local_registry.image("acme/app"), Clock(NOW)
    local_registry.put("acme/app", ["1.4.0"], session=session, created=iso(NOW - 600))
    g = gate(store, clock)
    g.admit(pushed(routing(image, "{min_release_age: 1h}"), image, "1.4.0"))

    rebuilt = NOW + 1200
    digest = local_registry.put("acme/app", ["1.4.0"], session=session, created=iso(rebuilt))
    clock.now = NOW + 3000  # the first build's hour is up; the rebuild's is not
    out = g.retry(DEV)

    (entry,) = store.entries(DEV)
    assert out.ready == [] and entry.eligible_at == rebuilt + 3600
    assert entry.since == NOW  # it has waited since the first announcement
    clock.now = rebuilt + 3600
    assert [(i.tag, i.digest) for i in g.retry(DEV).ready] == [("1.4.0", digest)]


def test_a_poll_waits_for_a_listed_tag_that_is_too_new(
    local_registry: LocalRegistry, store: WaitingStore, session: requests.Session
) -> None:
    image = local_registry.image("acme/app")
    local_registry.put("acme/app", ["1.4.0"], session=session, created=iso(NOW - 60))
    g = gate(store, Clock(NOW))

    intents = pushed(routing(image, "{min_release_age: 1h}"), image, "1.4.0")
    out = g.admit(intents, wait=False, listed=["1.4.0"])

    assert out.ready == [] and out.dropped == 0 and store.entries(DEV)[0].eligible_at == NOW - 60 + 3600


def test_a_persons_promote_or_rollback_is_not_held_back(local_registry: LocalRegistry) -> None:
    image = local_registry.image("acme/app")
    config = routing(image, "{min_release_age: 3d}")
    assert [i.min_age_s for i in pushed(config, image, "1.4.0")] == [3 * DAY]

    by_hand = plan_for_environment(config, image, "1.4.0", None, "dev", origin=Origin())

    assert [(i.tag, i.min_age_s) for i in by_hand.intents] == [("1.4.0", 0.0)]
    # the registry still confirms the version (issue 21: a person's rollback is checked at once),
    # only the age does not hold it back
    assert needs_registry(by_hand.intents[0]) and by_hand.intents[0].platforms == ()
