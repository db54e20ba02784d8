"""Which PRs chat-ops acts on: only those the forge says the bot opened, on their group's branch,
in the comment's repository — whatever the hidden marker in the body claims (issue #12).

The forged-marker attacks by people are end-to-end in tests/integration/test_chatops_attacks.py;
here each rule is checked on its own, also for PRs the bot account itself opened elsewhere."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.keys import GroupKey
from bot.core.ports import PullRequest
from bot.services.chatops.context import ChatopsDeps
from bot.services.chatops.provenance import provenance
from bot.services.reconcile import lock_for
from bot.settings import Settings
from tests.services.chatops_fixture import API, REPO, ChatWorld, make_world


@pytest.fixture
def world(tmp_path: Path, settings: Settings) -> Iterator[ChatWorld]:
    yield from make_world(tmp_path, settings)


def deps(world: ChatWorld) -> ChatopsDeps:
    lock = lock_for(world.container.reconcile_deps, GroupKey.parse(world.group_key("dev")))
    return world.container.chatops.for_comment(world.forge_name, lock)


def bot_pr(world: ChatWorld, branch: str, group_key: str, *, base: str = "main") -> PullRequest:
    """A PR the bot account opened on ``branch`` whose body names ``group_key``."""
    forge = world.forge
    head = forge.branch_head(REPO, base)
    assert head is not None
    if forge.branch_head(REPO, branch) is None:
        forge.set_branch(REPO, branch, head, expected_head=None)
    body = f'Bumps.\n\n<!-- manifest-bot:{{"group":"{group_key}"}} -->'
    return forge.open_pr(REPO, branch, base, "Bump", body)


def test_the_bots_own_pr_is_found_by_its_branch(world: ChatWorld) -> None:
    world.push(API, "1.1.0")
    assert provenance(deps(world), REPO, world.open_pr("dev")).group_key == world.group_key("dev")


def test_without_the_branch_index_the_marker_is_checked_not_trusted(world: ChatWorld) -> None:
    world.push(API, "1.1.0")
    pr = world.open_pr("dev")
    conn, groups = world.container.redis, world.container.intents.groups
    conn.delete(groups.branch_key(world.forge_name, REPO, pr.head_branch))  # an index lost
    assert provenance(deps(world), REPO, pr).group_key == world.group_key("dev")


def test_the_bot_login_is_compared_without_case(world: ChatWorld) -> None:
    world.push(API, "1.1.0")
    pr = dataclasses.replace(world.open_pr("dev"), author="Manifest-Bot[bot]")
    assert provenance(deps(world), REPO, pr).group_key == world.group_key("dev")


@pytest.mark.parametrize("author", [None, "manifest-bot", "alice"])
def test_a_pr_the_forge_does_not_say_the_bot_opened_is_not_the_bots(
    world: ChatWorld, author: str | None
) -> None:
    world.push(API, "1.1.0")
    pr = dataclasses.replace(world.open_pr("dev"), author=author)
    found = provenance(deps(world), REPO, pr)
    assert found.group_key is None
    assert found.reason is not None and "not by @manifest-bot[bot]" in found.reason


@pytest.mark.parametrize(
    ("branch", "group", "reason"),
    [
        ("bot/elsewhere", "local:acme/deploy:main:dev", "is not the branch of group `dev`"),
        ("manifest-bot/prod/prod", "local:acme/deploy:main:dev", "is not the branch of group `dev`"),
        ("bot/other-repo", "local:acme/other:main:dev", "names an update group of another repository"),
        ("bot/other-forge", "github:acme/deploy:main:dev", "names an update group of another repository"),
        ("bot/no-group", "not-a-group-key", "names no update group"),
    ],
)
def test_a_marker_is_never_an_authority(world: ChatWorld, branch: str, group: str, reason: str) -> None:
    world.push(API, "1.1.0")
    found = provenance(deps(world), REPO, bot_pr(world, branch, group))
    assert found.group_key is None
    assert found.reason is not None and reason in found.reason


def test_the_groups_branch_against_another_base_is_not_the_groups_pr(world: ChatWorld) -> None:
    world.push(API, "1.1.0")
    world.forge.set_branch(REPO, "release", world.forge.branch_head(REPO, "main") or "", expected_head=None)
    pr = dataclasses.replace(world.open_pr("dev"), base_branch="release")
    found = provenance(deps(world), REPO, pr)
    assert found.group_key is None
