"""Chat-ops rules that list teams: ``promote to prod`` needs maintain *or* the release team. Real
git (local forge with a teams map), real Redis, the real planner, reconcile and command job."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.events import PrComment, event_to_dict
from bot.core.ports import Permission
from bot.errors import PermissionDenied
from bot.jobs.commands import handle_command
from bot.settings import Settings
from tests.services.chatops_fixture import API, ChatWorld, make_world

EYES, ROCKET, CONFUSED = "eyes", "rocket", "confused"
CHATOPS = {
    "default_permission": "write",
    "overrides": [
        {
            "commands": ["promote"],
            "environments": ["prod"],
            "permission": "maintain",
            "teams": ["acme/release"],
        }
    ],
}


@pytest.fixture
def world(tmp_path: Path, settings: Settings) -> Iterator[ChatWorld]:
    # alice and bob both have write; only alice is in acme/release
    for w in make_world(tmp_path, settings, chatops=CHATOPS, teams={"acme/release": ["alice"]}):
        w.forge.permissions["bob"] = Permission.WRITE
        yield w


@pytest.fixture
def asked(world: ChatWorld, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every (team, user) the service asks the forge about."""
    calls: list[tuple[str, str]] = []
    real = world.forge.team_member

    def recording(repo: str, team: str, user: str) -> bool:
        calls.append((team, user))
        return real(repo, team, user)

    monkeypatch.setattr(world.forge, "team_member", recording)
    return calls


def run(world: ChatWorld, number: int, body: str, author: str) -> PrComment:
    event = world.say(number, body, author=author)
    result = handle_command(event_to_dict(event))
    assert not result.get("deferred"), result
    return event


def staging_pr(world: ChatWorld) -> int:
    world.push(API, "1.1.0")
    run(world, world.open_pr("dev").number, "/manifest-bot promote", author="bob")
    staging = world.open_pr("staging")
    assert world.tag_on(staging.head_branch, "staging") == "1.1.0"
    return staging.number


def test_a_release_team_member_with_write_may_promote_to_prod(
    world: ChatWorld, asked: list[tuple[str, str]]
) -> None:
    number = staging_pr(world)
    assert asked == []  # promote to staging: the write permission decides, no lookup
    event = run(world, number, "/manifest-bot promote to prod", author="alice")
    assert world.reactions(number, event.comment_id) == [EYES, ROCKET]
    assert world.tag_on(world.open_pr("prod").head_branch, "prod") == "1.1.0"
    assert asked == [("acme/release", "alice")]  # only the rule's team, once


def test_a_non_member_with_write_is_refused_with_the_reason(
    world: ChatWorld, asked: list[tuple[str, str]]
) -> None:
    number = staging_pr(world)
    event = run(world, number, "/manifest-bot promote to prod", author="bob")
    assert world.reactions(number, event.comment_id) == [EYES, CONFUSED]
    assert world.replies(number)[-1] == (
        "❌ `/manifest-bot promote to prod`: refused: `promote` in prod needs maintain permission "
        "or membership of acme/release; @bob has write permission."
    )
    assert world.pr("prod") is None
    assert asked == [("acme/release", "bob")]


def test_maintain_needs_no_team_lookup(world: ChatWorld, asked: list[tuple[str, str]]) -> None:
    number = staging_pr(world)
    run(world, number, "/manifest-bot promote to prod", author="mona")
    assert world.tag_on(world.open_pr("prod").head_branch, "prod") == "1.1.0"
    assert asked == []


def test_a_failed_lookup_is_a_refusal_with_the_reason(
    world: ChatWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = staging_pr(world)

    def refused(repo: str, team: str, user: str) -> bool:
        raise PermissionDenied(
            f"read {user}'s membership of team {team}: 403 Resource not accessible by integration"
        )

    monkeypatch.setattr(world.forge, "team_member", refused)
    event = run(world, number, "/manifest-bot promote to prod\n/manifest-bot status", author="alice")
    assert world.reactions(number, event.comment_id) == [EYES, CONFUSED]
    reply = world.replies(number)[-1]
    assert (
        "❌ `/manifest-bot promote to prod`: refused: cannot check @alice's permission or team membership: "
        "read alice's "
        "membership of team acme/release: 403 Resource not accessible by integration" in reply
    )
    assert "`/manifest-bot status`" in reply  # the next command still ran
    assert world.pr("prod") is None
