"""Manual ``promote`` keeps working when its source environment lists deployments, and its reply
says when that environment is not (yet) reported healthy (issue #26, item 5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.deployments import next_state
from bot.core.events import DeploymentReported, event_to_dict
from bot.jobs.commands import handle_command
from bot.settings import Settings
from tests.services.chatops_fixture import API, ChatWorld, make_world


def with_deployments(config: dict[str, Any]) -> None:
    config["environments"]["dev"] = {"deployments": [{"flux": "Kustomization/flux-system/apps-dev"}]}


@pytest.fixture
def world(tmp_path: Path, settings: Settings) -> Iterator[ChatWorld]:
    yield from make_world(tmp_path, settings, edit=with_deployments)


def promote(world: ChatWorld, number: int) -> str:
    event = world.say(number, "/manifest-bot promote")
    assert not handle_command(event_to_dict(event)).get("deferred")
    return world.replies(number)[-1]


def reported(world: ChatWorld, health: str, at: str) -> None:
    reason = "ReconciliationSucceeded" if health == "healthy" else "HealthCheckFailed"
    sha = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
    event = DeploymentReported(
        "flux", "Kustomization/flux-system/apps-dev", sha, f"main@sha1:{sha}", health, reason, "", at
    )
    world.container.deployments.update_state("dev", lambda previous: next_state("dev", event, previous))


def test_promote_says_when_its_source_is_not_reported_healthy(world: ChatWorld) -> None:
    world.push(API, "1.1.0")
    dev = world.open_pr("dev").number

    reply = promote(world, dev)
    assert "promoting `ghcr.io/acme/api` 1.1.0 to `staging`" in reply
    assert "note: `dev` is not reported healthy yet (no deployment report)" in reply
    assert world.tag_on(world.open_pr("staging").head_branch, "staging") == "1.1.0"

    reported(world, "failed", "2026-12-07T10:00:00Z")
    world.push(API, "1.2.0")
    reply = promote(world, dev)
    assert "note: `dev` is not reported healthy: failed at main@1a2b3c4 since 2026-12-07T10:00:00Z" in reply

    reported(world, "healthy", "2026-12-07T10:05:00Z")
    world.push(API, "1.3.0")
    assert "note:" not in promote(world, dev)
