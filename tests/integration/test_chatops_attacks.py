"""Issue #12's chat-ops attacks, made the way an attacker would: signed GitHub/GitLab comment
deliveries posted through the Flask app, queued on Redis, run by an rq worker against a local git
forge registered under the vendor's name. Each asserts what a reviewer would see: reactions, the
reply, and that no branch, PR or group state moved.

- a person's PR carrying a copied hidden marker (naming this repository's group, another
  repository's, another forge's) is not the bot's: nothing runs on it;
- ``promote`` with no environment is authorised against the environment it promotes *to*;
- a comment delivered again under a new delivery id does not run again, nor does a comment
  written longer ago than the bot remembers runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.core.ports import FileChange, Permission, PullRequest
from bot.settings import Settings
from tests.integration.chatops_e2e_fixture import github_comment, gitlab_note
from tests.integration.test_chatops_e2e import Chat, e2e_settings
from tests.services.chatops_fixture import API, REPO, ChatWorld, make_world, manifest

EYES, CONFUSED, ROCKET = "eyes", "confused", "rocket"
OTHER = "acme/other"
EVIL = "6.6.6"


@pytest.fixture(params=["github", "gitlab"])
def world(
    request: pytest.FixtureRequest, tmp_path: Path, make_settings: Callable[..., Settings], redis_conn
) -> Iterator[ChatWorld]:
    for built in make_world(tmp_path, e2e_settings(make_settings), request.param, other_repo=OTHER):
        # mallory may write to acme/deploy but only read acme/other
        built.forge.permissions["mallory"] = Permission.WRITE
        path = built.forge.repo_path(OTHER)
        records = {"next_number": 1, "next_comment": 1, "prs": {}, "permissions": {"mallory": "read"}}
        path.with_name(path.name + ".prs.json").write_text(json.dumps(records))
        yield built


def marker(group_key: str) -> str:
    return f'<!-- manifest-bot:{{"group":"{group_key}"}} -->'


def persons_pr(world: ChatWorld, branch: str, group_key: str) -> PullRequest:
    """Mallory's own PR: prod's api set to an image nobody released, body ending in a copied marker."""
    forge = world.forge
    base = forge.branch_head(REPO, "main")
    assert base is not None
    change = FileChange("envs/prod/api.yaml", manifest("api", API, EVIL).encode())
    forge.commit_files(REPO, branch, parent=base, changes=[change], message="tweak\n", expected_head=None)
    body = f"Small tweak.\n\n{marker(group_key)}"
    return forge.open_pr(REPO, branch, "main", "Tweak prod", body, author="mallory")


def other_group(world: ChatWorld) -> str:
    return f"{world.forge_name}:{OTHER}:main:dev"


@pytest.mark.parametrize(
    ("branch", "names"),
    [
        ("mallory/tweak", "this repository's dev group"),
        ("manifest-bot/dev/dev-2", "this repository's dev group, on a look-alike branch"),
    ],
)
def test_a_forged_marker_naming_this_repositorys_group_does_not_make_a_pr_the_bots(
    world: ChatWorld, branch: str, names: str
) -> None:
    chat = Chat(world)
    chat.push("1.1.0")  # the bot's dev PR exists: the group is real
    pr = persons_pr(world, branch, world.group_key("dev"))
    cid = chat.say(pr.number, "/manifest-bot merge", author="mallory")
    assert world.reactions(pr.number, cid) == [EYES, CONFUSED], names
    assert world.replies(pr.number) == [
        "❌ `/manifest-bot merge`: `/manifest-bot merge` only works on a pull request opened by "
        "manifest-bot (this pull request was opened by @mallory, not by @manifest-bot[bot]); "
        "`help` works anywhere."
    ]
    assert world.forge.get_pr(REPO, pr.number).state == "open"
    assert world.tag_on("main", "prod") == "1.0.0"  # prod never got the unreleased image


def test_a_forged_marker_naming_another_repositorys_group_cannot_pin_it(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")  # both repositories get a dev PR
    other = world.container.intents.groups.get(other_group(world))
    assert other.pr_number is not None
    # the same command on that repository directly is refused: mallory only reads it
    cid = str(world.forge.comment(OTHER, other.pr_number, "/manifest-bot pin 1.0.5", author="mallory"))
    _deliver(chat, other.pr_number, "/manifest-bot pin 1.0.5", "mallory", int(cid), repo=OTHER)
    assert [r["content"] for r in _comment(world, OTHER, other.pr_number, cid)["reactions"]] == [
        EYES,
        CONFUSED,
    ]
    # … and so is the detour through a PR of acme/deploy carrying that group's marker
    pr = persons_pr(world, "mallory/detour", other_group(world))
    cid = chat.say(pr.number, "/manifest-bot pin 1.0.5", author="mallory")
    assert world.reactions(pr.number, cid) == [EYES, CONFUSED]
    assert "only works on a pull request opened by manifest-bot" in world.replies(pr.number)[-1]
    assert world.container.intents.groups.get(other_group(world)).state.pinned == ()
    assert _tag(world, OTHER, world.branch("dev")) == "1.1.0"


def test_a_forged_marker_naming_another_forges_group_is_refused(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    elsewhere = "gitlab" if world.forge_name == "github" else "github"
    pr = persons_pr(world, "mallory/elsewhere", f"{elsewhere}:{REPO}:main:dev")
    cid = chat.say(pr.number, "/manifest-bot hold", author="mallory")
    assert world.reactions(pr.number, cid) == [EYES, CONFUSED]
    assert not world.container.intents.groups.get(world.group_key("dev")).state.hold


def test_a_bare_promote_is_authorised_against_the_environment_it_promotes_to(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    dev = world.open_pr("dev").number
    chat.say(dev, "/manifest-bot merge")
    chat.say(dev, "/manifest-bot promote")  # dev -> staging: alice (write) may
    staging = world.open_pr("staging").number
    chat.say(staging, "/manifest-bot merge")
    # staging -> prod, and prod needs maintain: the bare form must not slip past that rule
    cid = chat.say(staging, "/manifest-bot promote", author="alice")
    assert world.reactions(staging, cid) == [EYES, CONFUSED]
    assert world.replies(staging)[-1] == (
        "❌ `/manifest-bot promote`: refused: `promote` in prod needs maintain permission; "
        "@alice has write permission."
    )
    assert world.pr("prod") is None
    cid = chat.say(staging, "/manifest-bot promote", author="mona")
    assert world.reactions(staging, cid) == [EYES, ROCKET]
    assert world.tag_on(world.open_pr("prod").head_branch, "prod") == "1.1.0"


def test_a_comment_delivered_again_under_a_new_delivery_id_does_not_run_again(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    pin = chat.say(number, "/manifest-bot pin 1.0.5")
    assert world.tag_on(world.branch("dev"), "dev") == "1.0.5"
    chat.say(number, "/manifest-bot unpin")
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    replies = world.replies(number)
    _deliver(chat, number, "/manifest-bot pin 1.0.5", "alice", int(pin))  # the replay
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
    assert world.reactions(number, pin) == [EYES, ROCKET]  # not heard twice
    assert world.replies(number) == replies
    assert world.container.intents.groups.get(world.group_key("dev")).state.pinned == ()


def test_a_comment_older_than_the_bots_memory_never_runs(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    body = "/manifest-bot pin 1.0.5"
    cid = int(world.forge.comment(REPO, number, body, author="alice"))
    written = time.time() - world.settings.delivery_ttl_s - 3600
    _deliver(chat, number, body, "alice", cid, created_at=written)
    assert world.reactions(number, str(cid)) == []
    assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"


# --- helpers -------------------------------------------------------------------------------------
def _deliver(
    chat: Chat,
    number: int,
    body: str,
    author: str,
    comment_id: int,
    *,
    repo: str = REPO,
    created_at: float | None = None,
) -> None:
    """A delivery of an existing comment, under a fresh delivery id."""
    if chat.world.forge_name == "github":
        github_comment(
            chat.app, number, body, author=author, comment_id=comment_id, repo=repo, created_at=created_at
        )
    else:
        gitlab_note(
            chat.app, number, body, author=author, note_id=comment_id, repo=repo, created_at=created_at
        )
    chat.drain()


def _comment(world: ChatWorld, repo: str, number: int, cid: str) -> dict:
    return next(c for c in world.forge.pr_record(repo, number)["comments"] if c["id"] == cid)


def _tag(world: ChatWorld, repo: str, ref: str) -> str:
    text = world.forge.read_file(repo, "envs/dev/api.yaml", ref).decode()
    return text.rsplit(":", 1)[1].strip()
