"""Promotion moves what the source ran, through the service (signed deliveries → Flask app →
Redis → the bot's rq worker → a local git forge as GitHub; issue 21, item 2): a version the dev
group wants but its branch does not hold (held back by ``hold``) is never promoted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_chatops_e2e import ROCKET, Chat, e2e_settings
from tests.services.chatops_fixture import ChatWorld, make_world


@pytest.fixture
def world(tmp_path: Path, make_settings, redis_conn) -> Iterator[ChatWorld]:
    yield from make_world(tmp_path, e2e_settings(make_settings), forge_name="github")


def test_promote_takes_what_the_source_branch_holds(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    dev = world.open_pr("dev").number
    chat.say(dev, "/manifest-bot hold")
    chat.push("1.2.0")  # wanted in dev, never written to its branch
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    cid = chat.say(dev, "/manifest-bot promote to staging")
    assert world.reactions(dev, cid)[-1] == ROCKET
    assert world.tag_on(world.branch("staging"), "staging") == "1.1.0"
    assert "1.1.0" in world.replies(dev)[-1] and "1.2.0" not in world.replies(dev)[-1]
