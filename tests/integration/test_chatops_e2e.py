"""Chat-ops through the full path: a signed GitHub ``issue_comment`` / GitLab ``Note Hook``
delivery → Flask app → Redis queue → real rq worker → forge (a local git forge registered under
the vendor's name, so its branches and PR records are real), asserting branch, PR state,
reactions and reply text. The GitHub and GitLab adapters themselves are exercised with
``responses`` at the end: permission read, reactions and reply, request by request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.app import create_app
from bot.core.keys import GroupKey
from bot.services.reconcile import lock_for
from bot.settings import Settings
from tests.integration.chatops_e2e_fixture import (
    SECRET,
    comment_as,
    drain,
    failed,
    github_comment,
    gitlab_note,
    image_pushed,
)
from tests.services.chatops_fixture import API, ChatWorld, make_world

EYES, ROCKET, CONFUSED = "eyes", "rocket", "confused"


def e2e_settings(make_settings: Callable[..., Settings]) -> Settings:
    secrets = {"github": (SECRET,), "gitlab": (SECRET,), "generic": (SECRET,)}
    return make_settings(webhook_secrets=secrets, bot_login="manifest-bot[bot]", lock_timeout_s=30)


@pytest.fixture(params=["github", "gitlab"])
def world(request: pytest.FixtureRequest, tmp_path: Path, make_settings, redis_conn) -> Iterator[ChatWorld]:
    yield from make_world(tmp_path, e2e_settings(make_settings), forge_name=request.param)


@pytest.fixture
def github_world(tmp_path: Path, make_settings, redis_conn) -> Iterator[ChatWorld]:
    yield from make_world(tmp_path, e2e_settings(make_settings), forge_name="github")


class Chat:
    """Talks to the bot the way the world's forge would deliver it."""

    def __init__(self, world: ChatWorld) -> None:
        self.world = world
        self.app = create_app(container=world.container)

    def say(self, number: int, body: str, author: str = "alice", *, run: bool = True) -> str:
        cid = comment_as(self.world, number, body, author)
        if self.world.forge_name == "github":
            github_comment(self.app, number, body, author=author, comment_id=cid)
        else:
            gitlab_note(self.app, number, body, author=author, note_id=cid)
        if run:
            self.drain()
        return str(cid)

    def push(self, tag: str, image: str = API, *, run: bool = True) -> None:
        image_pushed(self.app, image, tag)
        if run:
            self.drain()

    def drain(self) -> None:
        drain(self.world.container)
        assert failed(self.world.container) == []


def test_permitted_and_refused_users(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    cid = chat.say(number, "/manifest-bot pin 1.0.5", author="rita")
    assert world.reactions(number, cid) == [EYES, CONFUSED]
    assert world.replies(number) == [
        "❌ `/manifest-bot pin 1.0.5`: refused: `pin` in dev needs write permission on this repository; "
        "@rita has triage."
    ]
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    cid = chat.say(number, "/manifest-bot pin 1.0.5", author="alice")
    assert world.reactions(number, cid) == [EYES, ROCKET]
    assert world.replies(number)[-1] == "✅ `/manifest-bot pin 1.0.5`: pinned `ghcr.io/acme/api` to `1.0.5`"
    assert world.tag_on(world.branch("dev"), "dev") == "1.0.5"
    assert "**Pinned:**" in world.open_pr("dev").body


def test_hold_stops_an_update(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    chat.say(number, "/manifest-bot hold")
    chat.push("1.2.0")
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    cid = chat.say(number, "/manifest-bot unhold")
    assert world.reactions(number, cid) == [EYES, ROCKET]
    assert world.tag_on(world.branch("dev"), "dev") == "1.2.0"


def test_comments_that_merely_quote_a_command(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    body = "> /manifest-bot close\n\nI would rather not:\n\n    /manifest-bot merge\n"
    cid = chat.say(number, body)
    assert world.reactions(number, cid) == []
    assert world.replies(number) == []
    assert world.open_pr("dev").number == number


def test_a_command_racing_a_ci_burst_waits_for_the_lock_and_wins(github_world: ChatWorld) -> None:
    world, chat = github_world, Chat(github_world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    # another worker is mid-reconcile on this repo
    held = lock_for(world.container.reconcile_deps, GroupKey.parse(world.group_key("dev")))
    assert held.acquire(heartbeat=False)
    now = [1_000.0]
    world.container.clock = lambda: now[0]  # the reply says how long the command waited
    cid = chat.say(number, "/manifest-bot pin 1.0.5")
    assert world.reactions(number, cid) == [EYES]  # heard at once, but it waits
    for tag in ("1.4.0", "1.2.0", "1.9.0", "1.3.0"):  # a CI burst lands meanwhile
        chat.push(tag, run=False)
    chat.drain()
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"  # nobody wrote while the lock was held
    now[0] += 2.5
    # the holder finishes: its release hands back everyone queued behind it
    world.container.dispatch.wake(held.release())
    chat.drain()
    assert world.reactions(number, cid) == [EYES, ROCKET]
    (reply,) = world.replies(number)
    assert reply.startswith(
        "✅ `/manifest-bot pin 1.0.5`: pinned `ghcr.io/acme/api` to `1.0.5`\n\n"
        "(These commands waited 2.5s for another"
    )
    assert world.tag_on(world.branch("dev"), "dev") == "1.0.5"
    chat.say(number, "/manifest-bot unpin")
    assert world.tag_on(world.branch("dev"), "dev") == "1.9.0"  # the burst's newest, not a late one


def test_promote_and_rollback_across_dev_staging_prod(world: ChatWorld) -> None:
    chat = Chat(world)

    def release(tag: str) -> dict[str, int]:
        chat.push(tag)
        prs = {"dev": world.open_pr("dev").number}
        chat.say(prs["dev"], "/manifest-bot merge")
        chat.say(prs["dev"], "/manifest-bot promote")
        prs["staging"] = world.open_pr("staging").number
        assert world.tag_on(world.branch("staging"), "staging") == tag
        chat.say(prs["staging"], "/manifest-bot merge")
        cid = chat.say(prs["staging"], "/manifest-bot promote to prod", author="alice")
        assert world.reactions(prs["staging"], cid) == [EYES, CONFUSED]  # prod needs maintain
        chat.say(prs["staging"], "/manifest-bot promote to prod", author="mona")
        prs["prod"] = world.open_pr("prod").number
        chat.say(prs["prod"], "/manifest-bot merge", author="mona")
        assert world.tag_on("main", "prod") == tag
        return prs

    release("1.1.0")
    second = release("1.2.0")
    cid = chat.say(second["prod"], "/manifest-bot rollback", author="alice")
    assert world.reactions(second["prod"], cid) == [EYES, CONFUSED]
    cid = chat.say(second["prod"], "/manifest-bot rollback", author="mona")
    assert world.reactions(second["prod"], cid) == [EYES, ROCKET]
    assert "rolling back `ghcr.io/acme/api` to `1.1.0`" in world.replies(second["prod"])[-1]
    back = world.open_pr("prod")
    assert world.tag_on(back.head_branch, "prod") == "1.1.0"
    chat.say(back.number, "/manifest-bot merge", author="mona")
    assert world.tag_on("main", "prod") == "1.1.0"
    assert world.tag_on("main", "staging") == "1.2.0"  # only prod went back
