"""Promotion gated on health (issue #26, item 5), on the real Redis: a stage reported healthy for
``after_healthy`` gets its versions promoted to the next one; a failure meanwhile stops it and
says why; ``on_failure: rollback`` puts the failing stage back at what it last ran healthy."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bot.core.config import Config, load_config
from bot.core.deployments import EnvState, iso, next_state, parse_time, with_versions
from bot.core.events import DeploymentReported
from bot.forges.local.adapter import LocalGitForge
from bot.registry import RegistryClient
from bot.services.promotion import Promoter
from bot.services.reconcile import ReconcileDeps
from bot.services.registry_gate import Admission, RegistryGate
from bot.settings import Settings
from bot.store.deployments import DeploymentStore
from bot.store.due import DueSet
from bot.store.intents import IntentStore
from bot.store.waiting import WaitingStore
from tests.registry.fixtures import local_registry
from tests.registry.support import LocalRegistry

__all__ = ["local_registry"]

APP = "registry.example.com/team/app00"
REV1, REV2 = "1" * 40, "2" * 40
T0 = parse_time("2026-12-07T10:00:00Z").timestamp()


def config(on_failure: str = "stop", image: str = APP, policy: str = "{verify: false}") -> Config:
    text = f"""\
    forges: [{{name: local, kind: local, path: /tmp/repos}}]
    environments:
      dev: {{deployments: [{{flux: Kustomization/flux-system/apps-dev}}]}}
      staging: {{promote_only: true}}
    promotion:
      - {{name: shop, environments: [dev, staging], auto: {{after_healthy: 10m}}, on_failure: {on_failure}}}
    rules:
      - name: app
        image: {image}
        policy: {policy}
        targets:
          - {{forge: local, repo: manifests, environment: dev, files: [dev.yaml]}}
          - {{forge: local, repo: manifests, environment: staging, files: [staging.yaml]}}
    """
    return load_config(textwrap.dedent(text), "bot.yaml")


@pytest.fixture
def world(make_settings: Callable[..., Settings], redis_conn: redis.Redis):  # type: ignore[no-untyped-def]
    settings = make_settings()
    store = DeploymentStore(redis_conn, settings)
    intents = IntentStore(redis_conn, settings)
    asked: list[str] = []

    def build(on_failure: str = "stop") -> Promoter:
        cfg = config(on_failure)
        due = DueSet(redis_conn, settings.key("due", "promote"))
        return Promoter(store, intents, due, lambda: cfg, asked.append)

    return build, store, intents, asked


def report(
    revision: str, health: str, at: float, reason: str = "ReconciliationSucceeded"
) -> DeploymentReported:
    obj = "Kustomization/flux-system/apps-dev"
    return DeploymentReported("flux", obj, revision, f"main@sha1:{revision}", health, reason, "", iso_at(at))


def iso_at(at: float) -> str:
    from datetime import UTC, datetime

    return iso(datetime.fromtimestamp(at, tz=UTC))


def reported(store: DeploymentStore, event: DeploymentReported, versions: tuple[str, ...] = ()) -> EnvState:
    """What the consumer and the deployment job record for a report (the versions its PRs carry)."""
    store.update_state("dev", lambda previous: next_state("dev", event, previous))
    state = store.update_state("dev", lambda s: with_versions(s, versions) if s else None)
    assert state is not None
    return state


def staged(intents: IntentStore) -> dict[str, str | None]:
    key = "local:manifests:main:staging"
    return {i.image: i.tag for i in intents.snapshot(key).active.values()}


def test_a_healthy_stage_promotes_exactly_what_it_runs_once_its_wait_is_over(world) -> None:  # type: ignore[no-untyped-def]
    build, store, intents, asked = world
    promoter = build()
    state = reported(store, report(REV1, "healthy", T0), (f"{APP}:1.5.0",))
    promoter.schedule("dev", state)
    assert "staging gets registry.example.com/team/app00:1.5.0 once healthy here for 10m00s" in (
        store.state("dev").promotion or ""  # type: ignore[union-attr]
    )

    assert promoter.promote_due(T0 + 599) == 0  # healthy for 9m59s: not yet
    assert staged(intents) == {}
    reported(store, report(REV1, "healthy", T0 + 300))  # reported healthy again: the same wait
    promoter.schedule("dev", store.state("dev"))  # type: ignore[arg-type]
    assert promoter.promote_due(T0 + 600) == 1
    assert staged(intents) == {APP: "1.5.0"}
    assert asked == ["local:manifests:main:staging"]
    assert (store.state("dev").promotion or "").startswith("promoted to staging")  # type: ignore[union-attr]
    assert promoter.promote_due(T0 + 3600) == 0  # once


def test_a_failure_within_the_wait_stops_the_chain_and_says_why(world) -> None:  # type: ignore[no-untyped-def]
    build, store, intents, _asked = world
    promoter = build()
    promoter.schedule("dev", reported(store, report(REV1, "healthy", T0), (f"{APP}:1.5.0",)))
    failed = reported(store, report(REV1, "failed", T0 + 120, "HealthCheckFailed"))
    promoter.stopped("dev", failed)
    assert promoter.promote_due(T0 + 3600) == 0
    assert staged(intents) == {}
    assert store.state("dev").promotion == "staging waits: dev failed — HealthCheckFailed"  # type: ignore[union-attr]

    # healthy again: a new wait from the new since
    again = reported(store, report(REV1, "healthy", T0 + 4000))
    promoter.schedule("dev", again)
    assert promoter.promote_due(T0 + 4000 + 599) == 0
    assert promoter.promote_due(T0 + 4000 + 600) == 1


def test_a_newer_revision_that_fails_stops_the_older_one_from_promoting(world) -> None:  # type: ignore[no-untyped-def]
    build, store, intents, _asked = world
    promoter = build()
    promoter.schedule("dev", reported(store, report(REV1, "healthy", T0), (f"{APP}:1.5.0",)))
    reported(store, report(REV2, "failed", T0 + 60, "HealthCheckFailed"), (f"{APP}:1.6.0",))
    assert promoter.promote_due(T0 + 3600) == 0
    assert staged(intents) == {}


def test_on_failure_rollback_goes_back_to_the_last_healthy_versions(world) -> None:  # type: ignore[no-untyped-def]
    build, store, intents, asked = world
    reported(store, report(REV1, "healthy", T0), (f"{APP}:1.5.0",))
    failed = reported(store, report(REV2, "failed", T0 + 60, "HealthCheckFailed"), (f"{APP}:1.6.0",))
    assert failed.healthy_versions == (f"{APP}:1.5.0",)
    assert build("stop").rollback("dev", failed) == []  # not asked for
    assert build("rollback").rollback("dev", failed) == ["local:manifests:main:dev"]
    (intent,) = intents.snapshot("local:manifests:main:dev").active.values()
    assert (intent.tag, intent.rollback) == ("1.5.0", True)
    assert asked == ["local:manifests:main:dev"]


def test_automatic_promotion_and_rollback_pass_the_registry_gate(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, local_registry: LocalRegistry
) -> None:
    """As an event's versions do: what the registry has is merged with its digest where a target
    pins one; a tag it lacks is not merged but waits for it (the group shows what it waits for)."""
    settings = make_settings()
    image = local_registry.image("team/app00")
    digest = local_registry.push("team/app00", "1.5.0")
    cfg = config("rollback", image, "{pin: tag+digest}")  # verify: on, the default
    store, intents = DeploymentStore(redis_conn, settings), IntentStore(redis_conn, settings)
    waiting = WaitingStore(redis_conn, settings)
    gate = RegistryGate(RegistryClient(cache_ttl=0), waiting, wait_s=60, retry_s=5)
    deps = ReconcileDeps(settings, redis_conn, forge_for=lambda _name: LocalGitForge(Path("/nonexistent")))
    due = DueSet(redis_conn, settings.key("due", "promote"))
    promoter = Promoter(store, intents, due, lambda: cfg, lambda _key: None, admit=Admission(gate, deps))

    state = reported(store, report(REV1, "healthy", T0), (f"{image}:1.5.0",))
    promoter.schedule("dev", state)
    assert promoter.promote_due(T0 + 600) == 1
    (promoted,) = intents.snapshot("local:manifests:main:staging").active.values()
    assert (promoted.tag, promoted.digest) == ("1.5.0", digest)

    # dev fails at 1.6.0 and goes back to 1.4.0, which the registry does not have: it waits
    reported(store, report(REV1, "healthy", T0 + 700), (f"{image}:1.4.0",))
    failed = reported(store, report(REV2, "failed", T0 + 760, "HealthCheckFailed"), (f"{image}:1.6.0",))
    assert promoter.rollback("dev", failed) == []
    assert intents.snapshot("local:manifests:main:dev").active == {}
    assert [e.intent.tag for e in waiting.entries("local:manifests:main:dev")] == ["1.4.0"]
