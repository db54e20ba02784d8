"""Chat-ops replies that say what is true (issue #17, item 4), through the running service: a
signed comment delivery → Flask app → Redis queue → rq worker → a local git forge registered as
the vendor, asserting the exact reply, the branch and the merge commit a reviewer would see."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from tests.integration.chatops_e2e_fixture import SECRET
from tests.integration.test_chatops_e2e import CONFUSED, EYES, ROCKET, Chat
from tests.services.chatops_fixture import REPO, WEB, ChatWorld, make_world


def _settings(make_settings: Callable[..., Settings]) -> Settings:
    secrets = {"github": (SECRET,), "gitlab": (SECRET,), "generic": (SECRET,)}
    return make_settings(webhook_secrets=secrets, bot_login="manifest-bot[bot]", lock_timeout_s=30)


def prod_takes_api_below_1_2_and_not_web(config: dict[str, Any]) -> None:
    """prod routes only the api image, and only below 1.2.0; staging takes both."""
    rules = {r["name"]: r for r in config["rules"]}
    rules["web-promoted"]["targets"] = [
        t for t in rules["web-promoted"]["targets"] if t["environment"] != "prod"
    ]
    for target in rules["api-promoted"]["targets"]:
        if target["environment"] == "prod":
            target["policy"] = {"semver": "<1.2.0"}


@pytest.fixture
def world(tmp_path: Path, make_settings, redis_conn) -> Iterator[ChatWorld]:
    yield from make_world(
        tmp_path, _settings(make_settings), forge_name="github", edit=prod_takes_api_below_1_2_and_not_web
    )


def test_promote_lists_what_it_moved_and_what_it_skipped_with_the_reason(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    chat.push("1.3.0", image=WEB)
    dev = world.open_pr("dev").number
    chat.say(dev, "/manifest-bot promote")
    staging = world.open_pr("staging").number
    assert world.tag_on(world.branch("staging"), "staging", "web") == "1.3.0"

    cid = chat.say(staging, "/manifest-bot promote to prod", author="mona")
    prod = world.open_pr("prod").number
    assert world.reactions(staging, cid) == [EYES, ROCKET]
    assert world.replies(staging)[-1] == (
        "✅ `/manifest-bot promote to prod`: promoting `ghcr.io/acme/api` 1.1.0 to `prod`\n"
        f"  - `ghcr.io/acme/api` 1.1.0 → group `prod` in `{REPO}`: #{prod}\n"
        "  - skipped `ghcr.io/acme/web` 1.3.0: `prod` does not route `ghcr.io/acme/web`"
    )
    assert world.tag_on(world.branch("prod"), "prod") == "1.1.0"
    assert world.tag_on(world.branch("prod"), "prod", "web") == "1.0.0"  # untouched, as the reply says

    # again: prod has api 1.1.0 (in its open PR) and still does not route web — said as such
    cid = chat.say(staging, "/manifest-bot promote to prod", author="mona")
    assert world.reactions(staging, cid) == [EYES, CONFUSED]
    assert world.replies(staging)[-1] == (
        "❌ `/manifest-bot promote to prod`: nothing promoted to `prod`\n"
        f"  - skipped `ghcr.io/acme/api` 1.1.0: `prod` already has `ghcr.io/acme/api` 1.1.0, in PR #{prod}\n"
        "  - skipped `ghcr.io/acme/web` 1.3.0: `prod` does not route `ghcr.io/acme/web`"
    )


def test_promote_says_when_the_target_policy_refuses_every_version(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.2.0")
    chat.push("1.3.0", image=WEB)
    chat.say(world.open_pr("dev").number, "/manifest-bot promote")
    staging = world.open_pr("staging").number
    cid = chat.say(staging, "/manifest-bot promote to prod", author="mona")
    assert world.reactions(staging, cid) == [EYES, CONFUSED]
    assert world.replies(staging)[-1] == (
        "❌ `/manifest-bot promote to prod`: nothing to promote to `prod`: "
        "`ghcr.io/acme/api` 1.2.0: `prod`'s policy refuses it: tag '1.2.0' is outside the semver range "
        "'<1.2.0'; `ghcr.io/acme/web` 1.3.0: `prod` does not route `ghcr.io/acme/web`"
    )
    assert world.pr("prod") is None


def test_promote_of_an_older_version_names_the_newer_one_the_environment_has(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.3.0")
    dev = world.open_pr("dev").number
    chat.say(dev, "/manifest-bot promote")
    staging = world.open_pr("staging").number
    chat.say(dev, "/manifest-bot rollback 1.1.0")  # dev goes back; staging keeps 1.3.0
    cid = chat.say(dev, "/manifest-bot promote")
    assert world.reactions(dev, cid) == [EYES, ROCKET]  # nothing left to do is no failure
    assert world.replies(dev)[-1] == (
        "✅ `/manifest-bot promote`: nothing promoted to `staging`\n"
        "  - skipped `ghcr.io/acme/api` 1.1.0: `staging` already has `ghcr.io/acme/api` 1.3.0 (newer), "
        f"in PR #{staging}"
    )


def test_pin_resolves_a_short_name_and_refuses_one_the_pr_does_not_update(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    cid = chat.say(number, "/manifest-bot pin frontend:v0.10.6")
    assert world.reactions(number, cid) == [EYES, CONFUSED]
    assert world.replies(number)[-1] == (
        "❌ `/manifest-bot pin frontend:v0.10.6`: this PR does not update `frontend` "
        "(its images: `ghcr.io/acme/api`)"
    )
    assert world.container.intents.groups.get(world.group_key("dev")).state.pinned == ()
    cid = chat.say(number, "/manifest-bot pin api:1.0.5")
    assert world.reactions(number, cid) == [EYES, ROCKET]
    assert (
        world.replies(number)[-1] == "✅ `/manifest-bot pin api:1.0.5`: pinned `ghcr.io/acme/api` to `1.0.5`"
    )
    assert world.tag_on(world.branch("dev"), "dev") == "1.0.5"
    chat.say(number, "/manifest-bot unpin api")  # the short name again
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"


def _parents(world: ChatWorld, ref: str) -> int:
    repo = world.root / f"{REPO}.git"  # the local forge keeps bare repositories
    out = subprocess.run(
        ["git", "rev-list", "--parents", "-n", "1", ref], cwd=repo, capture_output=True, text=True, check=True
    )
    return len(out.stdout.split()) - 1


def merges_with(method: str) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["defaults"]["pr"] = {"merge_method": method}

    return edit


@pytest.mark.parametrize(("method", "parents"), [("merge", 2), ("squash", 1)])
def test_merge_uses_the_configured_merge_method(
    tmp_path: Path, make_settings, redis_conn, method: str, parents: int
) -> None:
    for world in make_world(
        tmp_path, _settings(make_settings), forge_name="github", edit=merges_with(method)
    ):
        chat = Chat(world)
        chat.push("1.1.0")
        number = world.open_pr("dev").number
        chat.say(number, "/manifest-bot merge")
        assert world.pr("dev").state == "merged"  # type: ignore[union-attr]
        assert world.tag_on("main", "dev") == "1.1.0"
        assert _parents(world, "main") == parents


def test_squash_and_merge_squashes_whatever_the_config_says(
    tmp_path: Path, make_settings, redis_conn
) -> None:
    for world in make_world(
        tmp_path, _settings(make_settings), forge_name="github", edit=merges_with("merge")
    ):
        chat = Chat(world)
        chat.push("1.1.0")
        chat.say(world.open_pr("dev").number, "/manifest-bot squash and merge")
        assert world.tag_on("main", "dev") == "1.1.0"
        assert _parents(world, "main") == 1


def test_ignore_of_an_image_the_pr_does_not_update_is_refused(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    cid = chat.say(number, "/manifest-bot ignore this version of frontend")
    assert world.reactions(number, cid) == [EYES, CONFUSED]
    assert "this PR does not update `frontend` (its images: `ghcr.io/acme/api`)" in world.replies(number)[-1]
    assert world.container.intents.groups.get(world.group_key("dev")).state.ignored == ()
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"


def test_rollback_of_a_promotion_pr_replies_before_the_pr_closes(world: ChatWorld) -> None:
    """Rolling a promotion PR back to what its base has leaves it nothing to change, so it closes;
    the bot answers the command first, then says why the PR closed (the order people acted in)."""
    chat = Chat(world)
    chat.push("1.1.0")
    chat.say(world.open_pr("dev").number, "/manifest-bot promote")
    staging = world.open_pr("staging").number

    cid = chat.say(staging, "/manifest-bot rollback")
    assert world.reactions(staging, cid) == [EYES, ROCKET]
    assert world.pr("staging") is not None and world.pr("staging").state == "closed"  # type: ignore[union-attr]
    bodies = [c["body"] for c in world.comments(staging)]
    ran = bodies.index("/manifest-bot rollback")
    replies = bodies[ran + 1 :]
    assert len(replies) == 2, bodies
    assert replies[0].startswith("✅ `/manifest-bot rollback`: rolling back `ghcr.io/acme/api` to `1.0.0`")
    assert "already" in replies[1], replies  # then why the PR closed: the base has every version
