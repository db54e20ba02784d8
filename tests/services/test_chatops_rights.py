"""Authorisation on the effect (issue #12): a command is authorised against every group it will
change, with the commenter's permission on *that* group's repository — a promotion that reaches
another repository needs rights there too, whatever PR the comment was written on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.events import event_to_dict
from bot.jobs.commands import handle_command
from bot.settings import Settings
from tests.services.chatops_fixture import API, ChatWorld, make_world

OTHER = "acme/other"
EYES, ROCKET, CONFUSED = "eyes", "rocket", "confused"


@pytest.fixture
def world(tmp_path: Path, settings: Settings) -> Iterator[ChatWorld]:
    for built in make_world(tmp_path, settings, other_repo=OTHER):
        # acme/other has a staging too, promoted to from acme/deploy's dev
        config = json.loads(built.container.settings.config_path.read_text())  # type: ignore[union-attr]
        promoted = next(r for r in config["rules"] if r["name"] == "api-promoted")
        promoted["targets"].append(
            {"forge": "local", "repo": OTHER, "environment": "staging", "files": ["envs/staging/*.yaml"]}
        )
        built.container.settings.config_path.write_text(json.dumps(config))  # type: ignore[union-attr]
        path = built.forge.repo_path(OTHER)
        records = {"next_number": 1, "next_comment": 1, "prs": {}, "permissions": {"alice": "read"}}
        path.with_name(path.name + ".prs.json").write_text(json.dumps(records))
        yield built


def run(world: ChatWorld, number: int, body: str, author: str) -> str:
    event = world.say(number, body, author=author)
    assert not handle_command(event_to_dict(event)).get("deferred")
    return str(event.comment_id)


def other_prs(world: ChatWorld) -> list[str]:
    return [p.head_branch for p in world.forge.list_prs(OTHER) if p.state == "open"]


def test_a_promotion_into_another_repository_needs_rights_there(world: ChatWorld) -> None:
    world.push(API, "1.1.0", envs=("dev",))
    dev = world.open_pr("dev").number
    run(world, dev, "/manifest-bot merge", "alice")
    before = other_prs(world)
    cid = run(world, dev, "/manifest-bot promote", "alice")  # write on acme/deploy, read on acme/other
    assert world.reactions(dev, cid) == [EYES, CONFUSED]
    assert world.replies(dev)[-1] == (
        "❌ `/manifest-bot promote`: refused: `promote` in staging needs write permission on "
        "`acme/other`; @alice has read."
    )
    assert world.pr("staging") is None  # all or nothing: acme/deploy's staging did not move either
    assert other_prs(world) == before
    assert not world.container.intents.snapshot(f"local:{OTHER}:main:staging").active
    cid = run(world, dev, "/manifest-bot promote", "mona")
    assert world.reactions(dev, cid) == [EYES, ROCKET]
    assert world.tag_on(world.open_pr("staging").head_branch, "staging") == "1.1.0"
    other = f"local:{OTHER}:main:staging"  # another repository: its reconcile is queued, not run here
    assert world.container.dispatch.reconcile_state(other) == "queued"
    assert [i.tag for i in world.container.intents.snapshot(other).active.values()] == ["1.1.0"]
