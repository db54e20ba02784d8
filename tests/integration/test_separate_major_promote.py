"""A major group is promoted like any other (issue 25 item 4): the ``dev-major`` PR's
``/manifest-bot promote`` opens ``staging-major`` when staging separates majors too — a signed
GitHub comment through the Flask app, a real rq worker, Redis and a local git forge."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.ports import PullRequest
from tests.integration.test_chatops_e2e import ROCKET, Chat, e2e_settings
from tests.services.chatops_fixture import REPO, ChatWorld, make_world


def separate(config: dict[str, Any]) -> None:
    for env in ("dev", "staging"):
        config["environments"][env] = {"pr": {"separate_major": True}}


@pytest.fixture
def world(tmp_path: Path, make_settings: Callable[..., Any], redis_conn: Any) -> Iterator[ChatWorld]:
    yield from make_world(tmp_path, e2e_settings(make_settings), forge_name="github", edit=separate)


def on(world: ChatWorld, branch: str) -> PullRequest | None:
    found = [p for p in world.forge.list_prs(REPO) if p.head_branch == branch and p.state == "open"]
    return found[-1] if found else None


def test_the_major_pr_is_promoted_to_the_next_stages_major_group(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("2.0.0")  # dev runs 1.0.0: a major bump
    major = on(world, "manifest-bot/dev/dev-major")
    assert major is not None and world.tag_on(major.head_branch, "dev") == "2.0.0"
    assert on(world, world.branch("dev")) is None  # nothing for the minor PR to change
    cid = chat.say(major.number, "/manifest-bot promote")
    assert world.reactions(major.number, cid)[-1] == ROCKET
    promoted = on(world, "manifest-bot/staging/staging-major")
    assert promoted is not None and world.tag_on(promoted.head_branch, "staging") == "2.0.0"
    assert on(world, world.branch("staging")) is None
    chat.push("1.1.0")  # a minor of the running major still has its own PR
    minor = on(world, world.branch("dev"))
    assert minor is not None and world.tag_on(minor.head_branch, "dev") == "1.1.0"
    assert world.tag_on(major.head_branch, "dev") == "2.0.0"
    assert "2.0.0" not in minor.title and "1.1.0" in minor.title, minor.title
    body = world.forge.pr_record(REPO, minor.number)["body"]
    assert "not found" not in body.lower() and "2.0.0" not in body.split("<!--")[0], body
