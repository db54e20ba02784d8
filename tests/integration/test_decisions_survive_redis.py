"""What people decided survives Redis (issue 20, item 6), through the running service: signed
deliveries → Flask app → Redis → the bot's engine → a local git forge registered as the vendor.
Each test decides something by chat-ops, then deletes every key of the test's Redis prefix (what
a FLUSHALL or a new Redis does to the bot), and shows the decision still holds: the next push
does not overwrite it, the same comment delivered again does not run again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.core.marker import parse_marker
from bot.core.ports import PrUpdate, PullRequest
from bot.jobs.resync import resync
from bot.store import namespace
from tests.engine_support import consume
from tests.integration.chatops_e2e_fixture import github_comment, gitlab_note
from tests.integration.test_chatops_e2e import EYES, ROCKET, Chat, e2e_settings
from tests.services.chatops_fixture import API, REPO, WEB, ChatWorld, make_world


@pytest.fixture(params=["github", "gitlab"])
def world(
    request: pytest.FixtureRequest, tmp_path: Path, make_settings: Callable, redis_conn
) -> Iterator[ChatWorld]:
    yield from make_world(tmp_path, e2e_settings(make_settings), forge_name=request.param)


def forget(world: ChatWorld) -> None:
    """Everything the bot had in Redis is gone (as after a FLUSHALL, for this test's prefix)."""
    assert namespace.drop(world.container.redis, world.settings.redis_prefix) > 0
    assert world.container.intents.groups.all_keys() == []


def redeliver(chat: Chat, number: int, comment_id: str, body: str, author: str = "alice") -> None:
    """The forge sends the same comment again (a redelivery, a replayed webhook)."""
    if chat.world.forge_name == "github":
        github_comment(chat.app, number, body, author=author, comment_id=int(comment_id))
    else:
        gitlab_note(chat.app, number, body, author=author, note_id=int(comment_id))
    chat.drain()


def test_a_pin_survives_and_the_next_push_keeps_it(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    chat.say(number, "/manifest-bot pin 1.0.5")
    assert world.tag_on(world.branch("dev"), "dev") == "1.0.5"

    forget(world)
    chat.push("1.2.0")

    pr = world.open_pr("dev")
    assert pr.number == number and world.tag_on(pr.head_branch, "dev") == "1.0.5"
    assert "**Pinned:**" in pr.body
    (pin,) = world.container.intents.groups.get(world.group_key("dev")).state.pinned
    assert (pin.image, pin.tag, pin.by) == (API, "1.0.5", "alice") and pin.at  # who and when, too
    chat.say(number, "/manifest-bot unpin")
    assert world.tag_on(pr.head_branch, "dev") == "1.2.0"  # and it is still the person's to lift


def test_a_comment_delivered_again_does_not_run_again(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    pin = chat.say(number, "/manifest-bot pin 1.0.5")
    chat.say(number, "/manifest-bot unpin")
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    replies = world.replies(number)

    forget(world)
    redeliver(chat, number, pin, "/manifest-bot pin 1.0.5")

    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"  # not pinned again
    assert world.replies(number) == replies  # no second reply
    assert world.reactions(number, pin) == [EYES, ROCKET]
    marker = parse_marker(world.open_pr("dev").body)
    assert marker is not None and marker.decisions is not None and marker.decisions.ran.has(pin)


def test_a_hold_survives(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    chat.say(number, "/manifest-bot hold")

    forget(world)
    chat.push("1.2.0")

    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    assert world.container.intents.groups.get(world.group_key("dev")).state.hold
    chat.say(number, "/manifest-bot unhold")
    assert world.tag_on(world.branch("dev"), "dev") == "1.2.0"


def test_an_ignore_survives(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    chat.push("1.3.0", image=WEB)
    number = world.open_pr("dev").number
    chat.say(number, "/manifest-bot ignore this version of api")
    assert world.tag_on(world.branch("dev"), "dev") == "1.0.0"

    forget(world)
    chat.push("1.4.0", image=WEB)
    chat.push("1.1.0")  # the ignored version, delivered again

    pr = world.open_pr("dev")
    assert pr.number == number
    assert world.tag_on(pr.head_branch, "dev") == "1.0.0"
    assert world.tag_on(pr.head_branch, "dev", "web") == "1.4.0"
    assert "**Ignored:**" in pr.body
    chat.push("1.1.1")  # a newer one passes, as it would have
    assert world.tag_on(pr.head_branch, "dev") == "1.1.1"


def test_a_rollback_survives(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    chat.push("1.2.0")
    number = world.open_pr("dev").number
    chat.say(number, "/manifest-bot rollback 1.1.0")
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"

    forget(world)
    chat.push("1.3.0", image=WEB)  # another image of the group moves
    chat.push("1.2.0")  # the build rolled back from, delivered again

    pr = world.open_pr("dev")
    assert world.tag_on(pr.head_branch, "dev") == "1.1.0"
    assert world.tag_on(pr.head_branch, "dev", "web") == "1.3.0"
    chat.push("1.2.1")  # a genuinely newer build moves forward again
    assert world.tag_on(pr.head_branch, "dev") == "1.2.1"


def test_a_pin_survives_after_its_pr_merged(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    chat.say(number, "/manifest-bot pin 1.0.5")
    chat.say(number, "/manifest-bot merge")
    assert world.tag_on("main", "dev") == "1.0.5"

    forget(world)
    chat.push("1.2.0")  # no open PR: the merged one kept the pin

    assert world.pr("dev").number == number  # type: ignore[union-attr]  # no new PR to 1.2.0
    assert world.container.intents.groups.get(world.group_key("dev")).state.pinned[0].tag == "1.0.5"


def test_the_versions_a_close_turned_down_stay_ignored(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    chat.say(number, "/manifest-bot close")
    assert world.pr("dev").state == "closed"  # type: ignore[union-attr]

    forget(world)
    chat.push("1.1.0")  # the version turned down, delivered again

    assert world.pr("dev").number == number  # type: ignore[union-attr]  # no PR reopened for it
    chat.push("1.2.0")
    assert world.open_pr("dev").number != number


def test_the_resync_rebuilds_a_group_nothing_happens_to(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    chat.say(number, "/manifest-bot pin 1.0.5")
    chat.say(number, "/manifest-bot hold")

    forget(world)
    counts = resync()

    assert counts["rebuilt"] == 1  # dev; the other groups the config names have no PR
    record = world.container.intents.groups.get(world.group_key("dev"))
    assert record.pr_number == number and record.state.hold
    assert [p.tag for p in record.state.pinned] == ["1.0.5"]
    assert resync()["rebuilt"] == 0  # looked for once


def test_the_resync_leaves_a_forgotten_group_with_work_waiting_to_its_reconcile(world: ChatWorld) -> None:
    """The reconcile looks for the PR and rebuilds the group itself, under the repo lock: the
    resync neither looks too (a request) nor holds that lock meanwhile."""
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    chat.say(number, "/manifest-bot pin 1.0.5")

    forget(world)
    chat.push("1.2.0", run=False)
    consume(world.container)  # the push is recorded and its reconciles queued, not run yet
    counts = resync()

    dev = world.group_key("dev")
    assert counts["pending"] >= 1 and counts["rebuilt"] == 0
    assert not world.container.intents.groups.get(dev).known
    chat.drain()
    pr = world.open_pr("dev")
    assert pr.number == number and world.tag_on(pr.head_branch, "dev") == "1.0.5"  # the pin held


def test_each_command_writes_the_marker_once_and_a_noop_not_at_all(
    world: ChatWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    bodies: list[str] = []
    update = world.forge.update_pr

    def counted(repo: str, pr: int, change: PrUpdate) -> PullRequest:
        if change.body is not None:
            bodies.append(change.body)
        return update(repo, pr, change)

    monkeypatch.setattr(world.forge, "update_pr", counted)
    for command in ("pin 1.0.5", "hold", "status"):  # a reconcile, a held one, none
        before = len(bodies)
        cid = chat.say(number, f"/manifest-bot {command}")
        assert len(bodies) == before + 1, command
        kept = parse_marker(bodies[-1])
        assert kept is not None and kept.decisions is not None and kept.decisions.ran.has(cid)
    chat.push("1.2.0")  # held: nothing to write, the marker already says so
    world.reconcile("dev")
    assert len(bodies) == 3


def test_a_marker_a_person_damaged_rebuilds_nothing_and_says_so(
    world: ChatWorld, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    pr = world.open_pr("dev")
    chat.say(pr.number, "/manifest-bot pin 1.0.5")
    body = world.open_pr("dev").body
    world.forge.update_pr(REPO, pr.number, PrUpdate(body=body.replace('"v":1', '"v":1,"admin":true')))

    forget(world)
    chat.push("1.2.0")

    assert "its decisions were refused: unknown keys ['admin']; nothing is rebuilt" in caplog.text
    assert world.tag_on(pr.head_branch, "dev") == "1.2.0"  # the pin it claimed is not taken
    marker = parse_marker(world.open_pr("dev").body)
    assert marker is not None and marker.refused is None  # the bot's own again
