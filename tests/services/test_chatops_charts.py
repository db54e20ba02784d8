"""Chat-ops on chart rows (issue 24 item 2): ``pin podinfo 6.5.1``, ``ignore``, ``rollback`` and
``promote`` act on a chart's version as on an image's tag, through the command job, real git
(local forge), real Redis, the real planner and reconcile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.events import PrComment, event_to_dict
from bot.jobs.commands import handle_command
from bot.settings import Settings
from tests.forges.local_fixture import human_commit
from tests.services.chatops_fixture import ENVS, REPO, ChatWorld, make_world

CHART = "oci://ghcr.io/stefanprodan/charts/podinfo"


def helmrelease(version: str) -> str:
    return (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\n"
        "spec:\n  chart:\n    spec:\n      chart: podinfo\n"
        f"      version: {version}  # the chart\n"
        "      sourceRef: {kind: HelmRepository, name: podinfo}\n"
    )


def chart_rules(config: dict[str, Any]) -> None:
    """Pushes of the chart reach dev; staging and prod take it by promotion."""

    def target(env: str) -> dict[str, Any]:
        return {"forge": "local", "repo": REPO, "environment": env, "files": [f"charts/{env}/*.yaml"]}

    config["rules"] = [
        {"name": "podinfo", "chart": CHART, "targets": [target("dev")]},
        {"name": "podinfo-promoted", "chart": CHART, "targets": [target(e) for e in ENVS[1:]]},
    ]
    config["environments"] = {"dev": {}, "staging": {"promote_only": True}, "prod": {"promote_only": True}}


@pytest.fixture
def world(tmp_path: Path, settings: Settings) -> Iterator[ChatWorld]:
    for made in make_world(tmp_path, settings, edit=chart_rules):
        files = {f"charts/{env}/podinfo.yaml": helmrelease("6.5.0") for env in ENVS}
        human_commit(made.forge, REPO, "main", files)
        yield made


def run(world: ChatWorld, number: int, body: str) -> PrComment:
    event = world.say(number, body, author="mona")
    result = handle_command(event_to_dict(event))
    assert not result.get("deferred"), result
    return event


def version_on(world: ChatWorld, ref: str, env: str) -> str:
    text = world.forge.read_file(REPO, f"charts/{env}/podinfo.yaml", ref).decode()
    assert text == helmrelease(text.split("version: ", 1)[1].split()[0])  # nothing else moved
    return text.split("version: ", 1)[1].split()[0]


def dev_pr_at(world: ChatWorld, version: str) -> int:
    world.push(CHART, version)
    pr = world.open_pr("dev")
    assert version_on(world, pr.head_branch, "dev") == version
    return pr.number


def test_pin_names_the_chart_by_its_short_name(world: ChatWorld) -> None:
    number = dev_pr_at(world, "6.6.0")
    run(world, number, "/manifest-bot pin podinfo 6.5.1")
    assert world.replies(number)[-1] == f"✅ `/manifest-bot pin podinfo 6.5.1`: pinned `{CHART}` to `6.5.1`"
    assert version_on(world, world.branch("dev"), "dev") == "6.5.1"
    world.push(CHART, "6.7.0")
    assert version_on(world, world.branch("dev"), "dev") == "6.5.1"
    run(world, number, "/manifest-bot unpin podinfo")
    assert version_on(world, world.branch("dev"), "dev") == "6.7.0"


def test_ignore_this_version_of_a_chart_closes_the_pr_until_a_newer_one(world: ChatWorld) -> None:
    number = dev_pr_at(world, "6.6.0")
    run(world, number, "/manifest-bot ignore this version")
    closed = world.pr("dev")
    assert closed is not None and closed.state == "closed"
    world.push(CHART, "6.6.0")  # pushed again: still ignored
    again = world.pr("dev")
    assert again is not None and again.state == "closed"
    world.push(CHART, "6.6.1")
    assert version_on(world, world.open_pr("dev").head_branch, "dev") == "6.6.1"


def test_promote_and_rollback_move_the_chart_version(world: ChatWorld) -> None:
    first = dev_pr_at(world, "6.6.0")
    run(world, first, "/manifest-bot promote")
    staging = world.open_pr("staging")
    assert version_on(world, staging.head_branch, "staging") == "6.6.0"
    run(world, first, "/manifest-bot merge")
    second = dev_pr_at(world, "6.7.0")
    run(world, second, "/manifest-bot merge")
    assert version_on(world, "main", "dev") == "6.7.0"
    run(world, second, "/manifest-bot rollback")
    assert f"rolling back `{CHART}` to `6.6.0`" in world.replies(second)[-1]
    assert version_on(world, world.open_pr("dev").head_branch, "dev") == "6.6.0"
