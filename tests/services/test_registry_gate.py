"""The registry gate against a real CNCF Distribution registry (docker-registry, pushes by skopeo) and
real Redis, on intents the real planner made: a verified tag is admitted with its registry's digest,
a tag not pushed yet waits and is admitted once pushed, backoff and giving up, an unreachable
registry, wrong credentials, Docker Hub's 401 for a repository that does not exist yet, a followed
tag's digest asked fresh, and the bounds."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import redis
import responses

from bot.core.config import Config, load_config
from bot.core.events import CiFinished, ImagePushed
from bot.core.intents import UpdateIntent
from bot.core.planning import plan
from bot.errors import AuthError, NotFound
from bot.registry import RegistryClient
from bot.services.reconcile import ReconcileDeps
from bot.services.registry_gate import ANONYMOUS, NOT_THERE, RegistryGate, settle
from bot.settings import Settings
from bot.store import waiting as waiting_store
from bot.store.intents import IntentStore
from bot.store.waiting import WaitingStore
from tests.doubles import Clock
from tests.registry.fixtures import basic_auth, local_registry, token_registry, write_docker_config
from tests.registry.support import LocalRegistry, free_port

__all__ = ["local_registry", "token_registry"]

DEV = "local:deploy:main:dev"


def routing(image: str, policy: str = "{}", targets: int = 1) -> Config:
    envs = ", ".join(
        f"{{forge: local, repo: deploy, environment: dev, files: [f{n}.yaml]}}" for n in range(targets)
    )
    text = (
        "forges: [{name: local, kind: local, path: /srv/git}]\n"
        f"rules:\n  - name: app\n    image: {image}\n    policy: {policy}\n    targets: [{envs}]\n"
        "  - name: app-ci\n"
        f"    ci: {{repo: acme/app, image: {image}, tag: 'sha-{{short_sha}}'}}\n"
        f"    policy: {policy}\n"
        "    targets: [{forge: local, repo: deploy, environment: ci, files: [ci.yaml]}]\n"
    )
    return load_config(text, "bot.yaml")


def pushed(config: Config, image: str, tag: str | None, digest: str | None = None) -> list[UpdateIntent]:
    event = ImagePushed(image=image, tag=tag, digest=digest, source="generic")
    return list(plan(event, config, received_at="2024-05-02T10:00:00Z").intents)


def ci_finished(config: Config, sha: str) -> list[UpdateIntent]:
    event = CiFinished(
        forge="github", repo="acme/app", sha=sha, branch="main", status="success", run_number=7
    )
    return list(plan(event, config).intents)


@pytest.fixture
def store(settings: Settings, redis_conn: redis.Redis) -> WaitingStore:
    return WaitingStore(redis_conn, settings)


def gate(
    store: WaitingStore, clock: Clock, client: RegistryClient | None = None, wait_s: float = 60
) -> RegistryGate:
    return RegistryGate(client or RegistryClient(cache_ttl=0), store, wait_s=wait_s, retry_s=5, clock=clock)


def test_a_verified_tag_is_admitted_with_the_digest_its_registry_answered(
    local_registry: LocalRegistry, store: WaitingStore
) -> None:
    image = local_registry.image("acme/app")
    digest = local_registry.push("acme/app", "1.4.0")

    out = gate(store, Clock()).admit(pushed(routing(image), image, "1.4.0"))

    assert [(i.tag, i.digest) for i in out.ready] == [("1.4.0", digest)]
    assert (out.asked, out.waiting, out.failures) == (1, 0, [])


def test_a_ci_tag_not_pushed_yet_waits_and_is_admitted_once_pushed(
    local_registry: LocalRegistry, store: WaitingStore
) -> None:
    image, clock = local_registry.image("acme/app"), Clock()
    config = routing(image, "{pin: tag+digest}")
    g = gate(store, clock)

    first = g.admit(ci_finished(config, "0123456789abcdef"))  # CI announced before its push finished
    assert first.ready == [] and first.waiting == 1
    (entry,) = store.entries("local:deploy:main:ci")
    assert (entry.intent.tag, entry.registry, entry.reason) == ("sha-0123456", image.split("/")[0], NOT_THERE)
    assert first.retry_at == {"local:deploy:main:ci": clock.now + 5}
    assert g.retry("local:deploy:main:ci").asked == 0  # not due yet: nothing asked

    digest = local_registry.push("acme/app", "sha-0123456")
    clock.now += 5
    later = g.retry("local:deploy:main:ci")

    assert [(i.tag, i.digest, i.pin) for i in later.ready] == [("sha-0123456", digest, "tag+digest")]
    assert later.changed == {"local:deploy:main:ci"} and store.entries("local:deploy:main:ci") == []
    assert store.groups() == []


def test_asked_again_with_doubling_backoff_then_given_up_at_the_deadline(
    local_registry: LocalRegistry, store: WaitingStore
) -> None:
    image, clock = local_registry.image("acme/app"), Clock()
    g = gate(store, clock, wait_s=60)
    g.admit(pushed(routing(image), image, "9.9.9"))
    asked_at = []
    for _ in range(10):
        due = store.entries(DEV)
        if not due:
            break
        clock.now = due[0].next_at
        asked_at.append(clock.now - 1_000_000.0)
        out = g.retry(DEV)
    assert asked_at == [5, 15, 35, 60]  # 5 s, then twice as long each time, the last at the deadline
    (failure,) = out.failures
    assert isinstance(failure.error, NotFound) and failure.group_key == DEV
    assert (
        failure.error.message
        == f"gave up waiting for {image}:9.9.9 in {image.split('/')[0]} after 1 minute: {NOT_THERE}"
    )
    assert failure.comment.startswith(
        f"I waited 1 minute for `{image}:9.9.9` in `{image.split('/')[0]}`, but"
    )
    assert out.changed == {DEV} and store.entries(DEV) == []


def test_an_unreachable_registry_waits_with_the_reason_and_is_asked_once_per_batch(
    store: WaitingStore,
) -> None:
    image = f"127.0.0.1:{free_port()}/acme/app"  # nothing listens there
    config = routing(image, targets=3)

    out = gate(store, Clock()).admit(pushed(config, image, "1.0.0") + pushed(config, image, "1.1.0"))

    assert out.ready == [] and out.waiting == 6 and out.asked == 1  # the host failed once: not asked again
    reasons = {e.reason for e in store.entries(DEV)}
    assert len(reasons) == 1 and next(iter(reasons)).startswith("the registry did not answer (resolve ")


def test_wrong_credentials_fail_at_once_naming_registry_and_source_never_the_secret(
    token_registry: LocalRegistry, store: WaitingStore, tmp_path: Path
) -> None:
    token_registry.push("acme/app", "1.0.0")
    image = token_registry.image("acme/app")
    config_path = write_docker_config(
        tmp_path / "config.json", {token_registry.host: basic_auth("ci-bot", "wrong-pass")}
    )

    out = gate(store, Clock(), RegistryClient(docker_config=config_path)).admit(
        pushed(routing(image), image, "1.0.0")
    )

    (failure,) = out.failures
    assert out.ready == [] and out.waiting == 0 and store.entries(DEV) == []
    assert isinstance(failure.error, AuthError) and failure.group_key == DEV
    message = failure.error.message
    assert message.startswith(f"cannot verify {image}:1.0.0 in {token_registry.host}: ")
    assert f'auths["{token_registry.host}"] in {config_path}' in message and "wrong-pass" not in message
    assert "wrong-pass" not in failure.comment and "MANIFEST_BOT_DOCKER_CONFIG" in failure.comment


HUB = "https://registry-1.docker.io/v2/acme/brand-new/manifests/1.0.0"
HUB_TOKEN = "https://auth.docker.io/token"
CHALLENGE = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:acme/brand-new:pull"'


def docker_hub_for_a_repository_that_does_not_exist() -> None:
    """Docker Hub: the anonymous token is issued, the manifest still answers 401 (not 404)."""
    responses.add(responses.HEAD, HUB, status=401, headers={"WWW-Authenticate": CHALLENGE})
    responses.add(responses.GET, HUB_TOKEN, json={"token": "t", "access_token": "t", "expires_in": 300})
    scoped = CHALLENGE + ',error="insufficient_scope"'
    responses.add(responses.HEAD, HUB, status=401, headers={"WWW-Authenticate": scoped})


@responses.activate
def test_docker_hub_401_to_anonymous_access_waits_as_a_repository_not_pushed_yet(store: WaitingStore) -> None:
    docker_hub_for_a_repository_that_does_not_exist()
    config = routing("acme/brand-new")

    out = gate(store, Clock()).admit(pushed(config, "docker.io/acme/brand-new", "1.0.0"))

    assert out.failures == [] and out.waiting == 1
    (entry,) = store.entries(DEV)
    assert (entry.registry, entry.reason) == ("docker.io", ANONYMOUS)


@responses.activate
def test_docker_hub_401_with_credentials_is_an_error_at_once(store: WaitingStore, tmp_path: Path) -> None:
    docker_hub_for_a_repository_that_does_not_exist()
    auth = {"auth": base64.b64encode(b"acme-bot:dckr_pat_secret").decode()}
    path = write_docker_config(tmp_path / "config.json", {"https://index.docker.io/v1/": auth})

    out = gate(store, Clock(), RegistryClient(docker_config=path)).admit(
        pushed(routing("acme/brand-new"), "docker.io/acme/brand-new", "1.0.0")
    )

    assert out.waiting == 0 and len(out.failures) == 1
    assert (
        "did not accept auths" in out.failures[0].error.message and "dckr_pat" not in out.failures[0].comment
    )


def test_a_followed_tag_is_asked_fresh_and_the_registrys_digest_beats_a_late_webhooks(
    local_registry: LocalRegistry, store: WaitingStore
) -> None:
    image = local_registry.image("acme/app")
    old = local_registry.push("acme/app", "latest")
    client = RegistryClient(cache_ttl=300)
    assert client.resolve(image, "latest").digest == old  # cached now
    new = local_registry.push("acme/app", "latest")

    late = pushed(routing(image, "{digest: latest}"), image, "latest", digest=old)  # the first push's webhook
    out = gate(store, Clock(), client).admit(late)

    assert [(i.tag, i.digest, i.pin) for i in out.ready] == [("latest", new, "tag+digest")]


def test_verify_off_asks_no_registry_for_a_tag_pin(store: WaitingStore) -> None:
    image = f"127.0.0.1:{free_port()}/acme/app"
    intents = pushed(routing(image, "{verify: false}"), image, "1.0.0")

    out = gate(store, Clock()).admit(intents)

    assert out.ready == intents and out.asked == 0


def test_a_poll_drops_what_the_registry_lacks_instead_of_waiting(
    local_registry: LocalRegistry, store: WaitingStore
) -> None:
    image = local_registry.image("acme/app")
    out = gate(store, Clock()).admit(pushed(routing(image, "{digest: latest}"), image, "latest"), wait=False)
    assert (out.ready, out.dropped, out.waiting) == ([], 1, 0) and store.entries(DEV) == []


def test_a_group_waits_for_a_bounded_number_of_versions(
    store: WaitingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waiting_store, "MAX_PER_GROUP", 2)
    image = f"127.0.0.1:{free_port()}/acme/app"
    config = routing(image)
    intents = [i for tag in ("1.0.0", "1.0.1", "1.0.2") for i in pushed(config, image, tag)]

    out = gate(store, Clock()).admit(intents)

    assert (out.waiting, out.refused) == (2, 1)
    assert [e.intent.tag for e in store.entries(DEV)] == ["1.0.0", "1.0.1"]
    again = gate(store, Clock()).admit(pushed(config, image, "1.0.0"))  # announced again: kept as it was
    assert (again.waiting, again.refused) == (0, 0)


def test_settle_records_failures_on_the_group_and_marks_changed_groups_dirty(
    token_registry: LocalRegistry, store: WaitingStore, tmp_path: Path
) -> None:
    settings, redis_conn = store.settings, store.conn
    deps = ReconcileDeps(
        settings, redis_conn, forge_for=lambda name: pytest.fail("no PR: nothing to comment")
    )
    image = token_registry.image("acme/app")
    waits = gate(store, Clock(), RegistryClient()).admit(pushed(routing(image), image, "1.0.0"))  # not pushed
    assert waits.waiting == 1
    assert settle(deps, waits) == [DEV]
    intents = IntentStore(redis_conn, settings)
    assert intents.dirty(DEV) and DEV in intents.groups.groups_of("local", "deploy")

    config_path = write_docker_config(
        tmp_path / "c.json", {token_registry.host: basic_auth("ci-bot", "nope")}
    )
    refused = gate(store, Clock(), RegistryClient(docker_config=config_path)).admit(
        pushed(routing(image), image, "2.0.0")
    )
    settle(deps, refused)
    last = intents.groups.get(DEV).state.last_error or ""
    assert last.startswith(f"cannot verify {image}:2.0.0 in {token_registry.host}: ") and "nope" not in last


def test_confirm_answers_a_person_at_once_and_never_waits(
    local_registry: LocalRegistry, store: WaitingStore
) -> None:
    """Chat-ops ``rollback``/``promote``: what the registry has comes back with its digest, what it
    does not is refused with why, and nothing is left waiting."""
    image = local_registry.image("acme/app")
    digest = local_registry.push("acme/app", "1.4.0")
    config = routing(image, "{pin: tag+digest}")
    have, missing = pushed(config, image, "1.4.0")[0], pushed(config, image, "0.9.0")[0]

    found = gate(store, Clock()).confirm([have, missing])

    assert [(i.tag, i.digest) for i in found.ready] == [("1.4.0", digest)]
    assert found.refused == [(missing, f"not in {local_registry.host}: {NOT_THERE}")]
    assert store.entries(DEV) == []
    unverified = routing(image, "{verify: false}")
    assert gate(store, Clock()).confirm(pushed(unverified, image, "0.9.0")).refused == []
