"""Chat-ops commands against real git (local forge), real Redis, the real planner and reconcile:
each command runs through the command job (``bot.jobs.commands.handle_command``) in-process and
the tests look at what a reviewer sees: the branch, the PR state, reactions and reply text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.events import PrComment, event_to_dict
from bot.core.marker import parse_marker, render_marker
from bot.core.ports import PrUpdate
from bot.jobs.commands import handle_command
from bot.settings import Settings
from tests.forges.local_fixture import human_commit
from tests.services.chatops_fixture import API, REPO, WEB, ChatWorld, make_world

EYES, ROCKET, CONFUSED = "eyes", "rocket", "confused"


@pytest.fixture
def world(tmp_path: Path, settings: Settings) -> Iterator[ChatWorld]:
    yield from make_world(tmp_path, settings)


def run(world: ChatWorld, number: int, body: str, author: str = "alice") -> PrComment:
    event = world.say(number, body, author=author)
    result = handle_command(event_to_dict(event))
    assert not result.get("deferred"), result
    return event


def dev_pr_at(world: ChatWorld, tag: str) -> int:
    world.push(API, tag)
    pr = world.open_pr("dev")
    assert world.tag_on(pr.head_branch, "dev") == tag
    return pr.number


def test_help_for_anyone_with_eyes_then_rocket(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    event = run(world, number, "@manifest-bot help", author="rita")
    assert world.reactions(number, event.comment_id) == [EYES, ROCKET]
    (reply,) = world.replies(number)
    assert reply.startswith("✅ `@manifest-bot help`: here is what I understand:")
    assert "| `/manifest-bot promote [to] <env>` |" in reply


def test_a_refused_user_gets_the_reason_and_nothing_changes(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    event = run(world, number, "/manifest-bot hold", author="rita")
    assert world.reactions(number, event.comment_id) == [EYES, CONFUSED]
    assert world.replies(number) == [
        "❌ `/manifest-bot hold`: refused: `hold` in dev needs write permission on this repository; "
        "@rita has triage."
    ]
    assert not world.container.intents.groups.get(world.group_key("dev")).state.hold


def test_hold_stops_updates_until_unhold(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    event = run(world, number, "/manifest-bot hold")
    assert world.reactions(number, event.comment_id) == [EYES, ROCKET]
    assert world.replies(number) == []  # success speaks through the reaction
    world.push(API, "1.2.0")
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    run(world, number, "/manifest-bot unhold")
    assert world.tag_on(world.branch("dev"), "dev") == "1.2.0"
    assert world.open_pr("dev").number == number


def test_merge_refused_while_held(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    event = run(world, number, "/manifest-bot hold\n/manifest-bot squash and merge")
    assert world.reactions(number, event.comment_id) == [EYES, CONFUSED]
    assert world.replies(number) == [
        "✅ `/manifest-bot hold`: held: no automatic updates or merges until `unhold`\n"
        "❌ `/manifest-bot squash and merge`: this PR is held; `unhold` it first"
    ]
    assert world.open_pr("dev").number == number


def test_merge_merges_and_the_group_forgets_the_pr(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    event = run(world, number, "/manifest-bot merge")
    assert world.reactions(number, event.comment_id) == [EYES, ROCKET]
    assert world.forge.get_pr(REPO, number).state == "merged"
    assert world.tag_on("main", "dev") == "1.1.0"
    world.reconcile("dev")  # nothing left to do: no new PR
    assert world.forge.get_pr(REPO, number).state == "merged"
    assert [p.number for p in world.forge.list_prs(REPO)] == [number]


def test_ignore_this_version_closes_the_pr_until_a_newer_one(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    event = run(world, number, "/manifest-bot ignore this version")
    assert world.reactions(number, event.comment_id) == [EYES, ROCKET]
    assert world.replies(number)[-2:] == [  # the answer first, then why the PR closed
        "✅ `/manifest-bot ignore this version`: ignoring `ghcr.io/acme/api` 1.1.0 and below",
        "Every version in this PR is now ignored or pinned to what the base has, so I am closing it.",
    ]
    assert world.forge.get_pr(REPO, number).state == "closed"
    world.push(API, "1.1.0")
    assert world.pr("dev").state == "closed"
    world.push(API, "1.2.0")
    pr = world.open_pr("dev")
    assert world.tag_on(pr.head_branch, "dev") == "1.2.0"
    assert "ghcr.io/acme/api` 1.1.0 and below" in pr.body  # the PR body lists the ignore


def test_ignore_this_major_version_skips_the_line(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    run(world, number, "/manifest-bot ignore this major version")
    world.push(API, "1.9.0")
    assert world.pr("dev").state == "closed"
    world.push(API, "2.0.0")
    assert world.tag_on(world.open_pr("dev").head_branch, "dev") == "2.0.0"


def test_unignore_brings_the_version_back(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    run(world, number, "/manifest-bot ignore this image")
    assert world.forge.get_pr(REPO, number).state == "closed"
    run(world, number, "/manifest-bot unignore")
    pr = world.open_pr("dev")
    assert world.tag_on(pr.head_branch, "dev") == "1.1.0"


def test_pin_holds_the_image_and_unpin_releases_it(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    run(world, number, "/manifest-bot pin 1.0.5")
    assert world.replies(number)[-1] == "✅ `/manifest-bot pin 1.0.5`: pinned `ghcr.io/acme/api` to `1.0.5`"
    assert world.tag_on(world.branch("dev"), "dev") == "1.0.5"
    world.push(API, "1.2.0")
    assert world.tag_on(world.branch("dev"), "dev") == "1.0.5"
    run(world, number, "/manifest-bot unpin")
    assert world.tag_on(world.branch("dev"), "dev") == "1.2.0"


def test_pin_must_name_the_image_when_the_pr_has_several(world: ChatWorld) -> None:
    world.push(API, "1.1.0")
    world.push(WEB, "1.3.0")
    number = world.open_pr("dev").number
    event = run(world, number, "/manifest-bot pin 1.0.5")
    assert world.reactions(number, event.comment_id) == [EYES, CONFUSED]
    assert "say which: `pin <image>:1.0.5`" in world.replies(number)[-1]
    run(world, number, f"/manifest-bot pin {WEB}:1.0.7")
    assert world.tag_on(world.branch("dev"), "dev", "web") == "1.0.7"
    assert world.tag_on(world.branch("dev"), "dev", "api") == "1.1.0"


def test_rebase_unblocks_a_branch_a_person_edited(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    human_commit(world.forge, REPO, world.branch("dev"), {"NOTES.md": "hi\n"}, who="Alice")
    world.push(API, "1.2.0")
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"  # blocked: the bot keeps off
    assert world.container.intents.groups.get(world.group_key("dev")).blocked
    run(world, number, "/manifest-bot rebase")
    assert world.tag_on(world.branch("dev"), "dev") == "1.2.0"
    assert world.forge.read_file(REPO, "NOTES.md", world.branch("dev")) == b"hi\n"  # their commit kept
    assert world.container.intents.groups.get(world.group_key("dev")).blocked is None


def test_recreate_rebuilds_from_the_base(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    human_commit(world.forge, REPO, world.branch("dev"), {"envs/dev/api.yaml": "broken: [\n"}, who="Bob")
    run(world, number, "/manifest-bot recreate")
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    assert world.open_pr("dev").number == number


def test_close_and_reopen(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    run(world, number, "/manifest-bot close")
    assert world.forge.get_pr(REPO, number).state == "closed"
    world.push(API, "1.1.0")  # the same version again does not come back
    assert world.pr("dev").state == "closed"
    run(world, number, "/manifest-bot reopen")
    assert world.open_pr("dev").number == number
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"


def test_status_shows_wanted_branch_ignores_pins_and_next_env(world: ChatWorld) -> None:
    world.push(API, "1.1.0")
    world.push(WEB, "1.3.0")
    number = world.open_pr("dev").number
    run(world, number, f"/manifest-bot pin {WEB}:1.2.0\n/manifest-bot status", author="alice")
    reply = world.replies(number)[-1]
    assert "**Status of group `dev` (dev)**: active; queue: idle." in reply
    assert "| `ghcr.io/acme/api` | `1.1.0` | `1.1.0` | — |" in reply
    assert "| `ghcr.io/acme/web` | `1.2.0` | `1.2.0` | `1.2.0` |" in reply
    assert "Next environment: `staging`." in reply


def test_promote_along_the_chain_with_prod_needing_maintain(world: ChatWorld) -> None:
    dev = dev_pr_at(world, "1.1.0")
    run(world, dev, "/manifest-bot promote")
    staging = world.open_pr("staging")
    assert world.tag_on(staging.head_branch, "staging") == "1.1.0"
    assert staging.title == "chore(staging): promote api 1.1.0 from dev"
    assert f"from **dev** to **staging**, requested by @alice in #{dev}." in staging.body
    assert f"[source PR #{dev}](" in staging.body
    assert f"#{staging.number}" in world.replies(dev)[-1]
    # dev cannot skip staging
    event = run(world, dev, "/manifest-bot promote to prod", author="mona")
    assert world.reactions(dev, event.comment_id) == [EYES, CONFUSED]
    assert "`dev` promotes to `staging`, not `prod`" in world.replies(dev)[-1]
    # prod needs maintain
    event = run(world, staging.number, "/manifest-bot promote to prod", author="alice")
    assert world.reactions(staging.number, event.comment_id) == [EYES, CONFUSED]
    assert "`promote` in prod needs maintain permission" in world.replies(staging.number)[-1]
    assert world.pr("prod") is None
    run(world, staging.number, "/manifest-bot promote to prod", author="mona")
    assert world.tag_on(world.open_pr("prod").head_branch, "prod") == "1.1.0"


def test_rollback_after_merge_goes_back_to_the_previous_version(world: ChatWorld) -> None:
    first = dev_pr_at(world, "1.1.0")
    run(world, first, "/manifest-bot merge")
    second = dev_pr_at(world, "1.2.0")
    run(world, second, "/manifest-bot merge")
    assert world.tag_on("main", "dev") == "1.2.0"
    run(world, second, "/manifest-bot rollback")
    assert "rolling back `ghcr.io/acme/api` to `1.1.0`" in world.replies(second)[-1]
    rollback = world.open_pr("dev")
    assert world.tag_on(rollback.head_branch, "dev") == "1.1.0"
    assert rollback.title == "chore(dev): roll back api from 1.2.0 to 1.1.0"
    assert rollback.body.startswith(
        f"**Rollback** of `ghcr.io/acme/api` from `1.2.0` to `1.1.0`, requested by @alice in #{second}."
    )
    run(world, second, "/manifest-bot rollback 1.0.1")
    assert world.tag_on(world.open_pr("dev").head_branch, "dev") == "1.0.1"
    world.push(API, "1.1.5")  # a late old build stays superseded; a newer one moves forward
    assert world.tag_on(world.open_pr("dev").head_branch, "dev") == "1.0.1"
    world.push(API, "1.3.0")
    assert world.tag_on(world.open_pr("dev").head_branch, "dev") == "1.3.0"


def test_versions_come_from_the_marker_whatever_people_write_in_the_body(world: ChatWorld) -> None:
    """status, promote and rollback read the hidden marker: rewording the PR text breaks nothing."""
    first = dev_pr_at(world, "1.1.0")
    run(world, first, "/manifest-bot merge")
    second = dev_pr_at(world, "1.2.0")
    marker = render_marker(parse_marker(world.forge.get_pr(REPO, second).body))  # type: ignore[arg-type]
    world.forge.update_pr(REPO, second, PrUpdate(body=f"Reviewed, LGTM: api 9.9.9 | 8.8.8\n\n{marker}\n"))
    run(world, second, "/manifest-bot status")
    assert "| `ghcr.io/acme/api` | `1.2.0` | `1.2.0` | — |" in world.replies(second)[-1]
    run(world, second, "/manifest-bot merge")
    run(world, second, "/manifest-bot promote")  # merged: what it brought is in its marker only
    assert world.tag_on(world.open_pr("staging").head_branch, "staging") == "1.2.0"
    run(world, second, "/manifest-bot rollback")
    assert "rolling back `ghcr.io/acme/api` to `1.1.0`" in world.replies(second)[-1]


def test_comments_that_only_quote_a_command_do_nothing(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    event = run(world, number, "> /manifest-bot merge\n\nWhy would we?\n```\n/manifest-bot close\n```")
    assert world.reactions(number, event.comment_id) == []
    assert world.replies(number) == []
    assert world.open_pr("dev").number == number


def test_the_bots_own_comments_are_ignored(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    run(world, number, "/manifest-bot close", author="manifest-bot[bot]")
    assert world.open_pr("dev").number == number


def test_unknown_commands_get_help_and_do_not_stop_the_others(world: ChatWorld) -> None:
    number = dev_pr_at(world, "1.1.0")
    event = run(world, number, "/manifest-bot frobnicate\n/manifest-bot hold")
    assert world.reactions(number, event.comment_id) == [EYES, CONFUSED]
    (reply,) = world.replies(number)
    assert reply.startswith(
        "I did not understand:\n- `/manifest-bot frobnicate` — unknown command `frobnicate`"
    )
    assert world.container.intents.groups.get(world.group_key("dev")).state.hold


def test_promote_moves_an_image_two_overlapping_rules_reach_once(tmp_path: Path, settings: Settings) -> None:
    """A glob rule and a rule naming the file both reach the api in dev: the branch holds one
    version there, so promote moves it once (no "skipped: staging already has it" for the copy)."""

    def overlap(config: dict[str, Any]) -> None:
        exact = {"forge": "local", "repo": REPO, "environment": "dev", "files": ["envs/dev/api.yaml"]}
        config["rules"].append({"name": "api-file", "image": API, "targets": [exact]})

    worlds = make_world(tmp_path, settings, edit=overlap)  # kept: its end uninstalls the container
    world = next(worlds)
    try:
        dev = dev_pr_at(world, "1.1.0")
        record = world.container.intents.groups.get(world.group_key("dev"))
        assert len(record.holds) == 2 and {m.tag for m in record.holds.values()} == {"1.1.0"}
        run(world, dev, "/manifest-bot promote")
        reply = world.replies(dev)[-1]
        assert reply.count("1.1.0 → group `staging`") == 1 and "skipped" not in reply, reply
        assert world.tag_on(world.open_pr("staging").head_branch, "staging") == "1.1.0"
    finally:
        worlds.close()
