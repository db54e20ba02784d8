"""Attack 9 of the second round: Redis loses everything while the service runs. On a private
``redis-server`` (never the shared one), through the service — signed deliveries → Flask app →
Redis → the bot's jobs → a local git forge under the vendor's name — a maintainer pins, holds and
ignores; then ``FLUSHALL``. The next push keeps every decision, and the old pin comment delivered
again under a new delivery id does not run again (the bot's 👀/🚀 and the PR's marker say it ran)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.integration.test_chatops_e2e import EYES, ROCKET, Chat, e2e_settings
from tests.integration.test_decisions_survive_redis import redeliver
from tests.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture
from tests.services.chatops_fixture import API, WEB, ChatWorld, make_world


@pytest.fixture(params=["github", "gitlab"])
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    redis_server: RedisServer,  # noqa: F811
) -> Iterator[ChatWorld]:
    redis_server.start()
    settings = e2e_settings(lambda **kw: make_settings(redis_url=redis_server.url, **kw))
    for built in make_world(tmp_path, settings, forge_name=request.param):
        built.flushall = redis_server.conn().flushall  # type: ignore[attr-defined]
        yield built


def flushall(world: ChatWorld) -> None:
    assert world.flushall()  # type: ignore[attr-defined]
    assert world.container.intents.groups.all_keys() == []


def test_after_a_flushall_no_pin_hold_or_ignore_is_lost(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    chat.push("1.3.0", image=WEB)
    number = world.open_pr("dev").number
    chat.say(number, f"/manifest-bot pin {API}:1.0.5", author="alice")
    chat.say(number, "/manifest-bot ignore this version of web", author="alice")
    assert (world.tag_on(world.branch("dev"), "dev"), world.tag_on(world.branch("dev"), "dev", "web")) == (
        "1.0.5",
        "1.0.0",
    )

    flushall(world)
    chat.push("1.2.0")  # would overwrite the pin
    chat.push("1.3.0", image=WEB)  # the ignored version, delivered again

    pr = world.open_pr("dev")
    assert pr.number == number
    assert world.tag_on(pr.head_branch, "dev") == "1.0.5"
    assert world.tag_on(pr.head_branch, "dev", "web") == "1.0.0"
    (pin,) = world.container.intents.groups.get(world.group_key("dev")).state.pinned
    assert (pin.image, pin.tag, pin.by) == (API, "1.0.5", "alice")

    chat.say(number, "/manifest-bot hold", author="alice")
    flushall(world)
    chat.push("1.4.0", image=WEB)
    assert world.container.intents.groups.get(world.group_key("dev")).state.hold
    assert world.tag_on(world.open_pr("dev").head_branch, "dev", "web") == "1.0.0"


def test_after_a_flushall_an_old_command_delivered_again_does_not_run(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    pin = chat.say(number, "/manifest-bot pin 1.0.5", author="alice")
    chat.say(number, "/manifest-bot unpin", author="alice")
    replies = world.replies(number)

    flushall(world)
    redeliver(chat, number, pin, "/manifest-bot pin 1.0.5", author="alice")

    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    assert world.replies(number) == replies
    assert world.reactions(number, pin) == [EYES, ROCKET]
