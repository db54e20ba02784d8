"""Pins, holds and ignores as one model, through the service (signed deliveries → Flask app →
Redis → the bot's rq worker → a local git forge as GitHub), and every status view reading the
branch (issue 21, item 4): while a hold keeps the branch at 1.1.0 the page, ``/api/groups``,
``manifest-bot status`` and chat-ops ``status`` say so; a pin is written; ``ignore`` covering the
pin says the pin stays, and the PR keeps the pinned version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.settings import Settings
from tests.integration.test_chatops_e2e import ROCKET, Chat, e2e_settings
from tests.services.chatops_fixture import API, ChatWorld, make_world


@pytest.fixture
def world(tmp_path: Path, make_settings, redis_conn) -> Iterator[ChatWorld]:
    yield from make_world(tmp_path, e2e_settings(make_settings), forge_name="github")


def standing(chat: Chat) -> dict[str, tuple[str, str]]:
    """(wanted, in branch) of the dev group's api target in every view that shows it."""
    settings: Settings = chat.world.settings
    [api] = [g for g in chat.app.test_client().get("/api/groups").get_json()["groups"] if g["group"] == "dev"]
    cli = CliRunner().invoke(
        main, ["status", "--json", "--redis", settings.redis_url, "--prefix", settings.redis_prefix]
    )
    [row] = [g for g in json.loads(cli.output)["groups"] if g["group"] == "dev"]
    views = {"api": api["targets"][0], "cli": row["targets"][0]}
    return {name: (t["wanted"], t["current"]) for name, t in views.items()}


def chat_status(chat: Chat, number: int) -> str:
    chat.say(number, "/manifest-bot status")
    return chat.world.replies(number)[-1]


def test_status_views_read_the_branch_through_hold_pin_and_ignore(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    chat.say(number, "/manifest-bot hold")
    chat.push("1.2.0")
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    assert standing(chat) == {"api": ("1.2.0", "1.1.0"), "cli": ("1.2.0", "1.1.0")}
    assert f"| `{API}` | `1.2.0` | `1.1.0` ⚠️ | — |" in chat_status(chat, number)

    chat.say(number, "/manifest-bot unhold")
    chat.say(number, "/manifest-bot pin 1.0.5")
    assert world.tag_on(world.branch("dev"), "dev") == "1.0.5"
    assert standing(chat) == {"api": ("1.0.5", "1.0.5"), "cli": ("1.0.5", "1.0.5")}

    cid = chat.say(number, "/manifest-bot ignore this version")
    assert world.reactions(number, cid)[-1] == ROCKET
    assert world.replies(number)[-1].endswith(
        f"; `{API}` stays pinned to `1.0.5`: a pin wins over ignores (`unpin` to let the ignore apply)"
    )
    pr = world.open_pr("dev")  # still open: the pin is what it carries
    assert pr.number == number and "**Pinned:**" in pr.body
    assert world.tag_on(world.branch("dev"), "dev") == "1.0.5"
    assert standing(chat) == {"api": ("1.0.5", "1.0.5"), "cli": ("1.0.5", "1.0.5")}
    assert f"| `{API}` | `1.0.5` | `1.0.5` | `1.0.5` |" in chat_status(chat, number)
