"""The PR lifecycle through the Forge protocol, every branch of it, on all three forges: local git
(real repositories on disk), GitHub and GitLab (the real adapters over the stateful fakes in
``tests/fakes``). The same test bodies assert the same user-visible outcomes everywhere."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.group_state import GroupState, IgnoreMark, Pin
from bot.core.kept import Decisions, Ran
from bot.core.marker import parse_marker, without_marker
from bot.core.ports import Forge, PrUpdate
from bot.core.pr_options import PrOptions
from bot.errors import Conflict, ManifestError, Transient
from bot.services.lifecycle import kept_decisions, sync_group
from tests.fakes.github_api import GitHubFake
from tests.fakes.gitlab_api import GitLabFake
from tests.services.lifecycle_fixture import API, REPO, options
from tests.services.lifecycle_worlds import KINDS, FakeWorld, World, make_world

BRANCH = "manifest-bot/dev/apps"


@pytest.fixture(params=KINDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with make_world(request.param, tmp_path) as w:
        yield w


@pytest.fixture
def forge(world: World) -> Forge:
    return world.forge


def api_at(forge: Forge, ref: str) -> str:
    return forge.read_file(REPO, "envs/dev/api.yaml", ref).decode()


def test_opens_one_pr_with_a_single_commit_on_the_base(world: World, forge: Forge) -> None:
    base = forge.branch_head(REPO, "main")
    result = sync_group(forge, [world.intent()], pr_config=options(labels=("dependencies",)))
    assert result.action == "opened"
    assert PrOptions().branch("dev", "apps") == BRANCH
    assert result.base_sha == base
    assert forge.branch_head(REPO, "main") == base  # the base is never written in PR mode
    [commit] = forge.commits_between(REPO, base or "", BRANCH)
    assert commit.parents == (base,) and commit.sha == result.commit
    assert "image: ghcr.io/acme/api:1.1.0\n" in api_at(forge, BRANCH)
    assert api_at(forge, BRANCH) == API.replace("1.0.0", "1.1.0")  # nothing else moved
    pr = result.pr
    assert pr is not None and pr.title == "chore(dev): bump api to 1.1.0"
    assert "| `envs/dev/api.yaml` | `ghcr.io/acme/api` | `1.0.0` → `1.1.0` |  |" in pr.body
    assert pr.labels == ("dependencies",)
    marker = parse_marker(pr.body)
    assert marker is not None and marker.group == f"{world.kind}:acme/deploy:main:apps"
    assert (marker.base, marker.head, marker.files) == (base, result.commit, ("envs/dev/api.yaml",))
    assert [c.path for c in result.changes] == ["spec.template.spec.containers[0].image"]


def test_second_run_writes_nothing(world: World, forge: Forge) -> None:
    sync_group(forge, [world.intent()])
    before = world.snapshot(BRANCH)
    again = sync_group(forge, [world.intent()])
    assert again.action == "noop" and again.changes == ()
    assert world.snapshot(BRANCH) == before
    # a re-delivery of the same version (new delivery id) is still a no-op
    redelivered = dataclasses.replace(
        world.intent(), origin=dataclasses.replace(world.intent().origin, delivery_id="d2")
    )
    assert sync_group(forge, [redelivered]).action == "noop"
    assert world.snapshot(BRANCH) == before


def test_newer_version_updates_branch_and_text_in_the_same_pr(world: World, forge: Forge) -> None:
    first = sync_group(forge, [world.intent()])
    result = sync_group(forge, [world.intent(tag="1.2.0")])
    assert result.action == "updated"
    assert result.pr is not None and first.pr is not None and result.pr.number == first.pr.number
    assert result.pr.title.endswith("to 1.2.0")
    assert "ghcr.io/acme/api:1.2.0" in api_at(forge, BRANCH)
    base = forge.branch_head(REPO, "main") or ""
    # the base did not move: one commit on top of the bot's head (no force-push, approvals stay)
    commits = forge.commits_between(REPO, base, BRANCH)
    assert [c.sha for c in commits] == [first.commit, result.commit]
    assert commits[1].parents == (first.commit,)
    assert forge.changed_files(REPO, base, BRANCH) == ["envs/dev/api.yaml"]  # type: ignore[attr-defined]
    assert api_at(forge, BRANCH) == API.replace("1.0.0", "1.2.0")
    assert len(world.prs()) == 1
    assert sync_group(forge, [world.intent(tag="1.2.0")]).action == "noop"


@pytest.mark.parametrize("rebase", ["conflicted", "auto"])  # auto: conflicted unless it auto-merges
def test_an_update_after_the_base_moved_beside_the_prs_files_appends_a_commit(
    world: World, forge: Forge, rebase: str
) -> None:
    pr_config = options(rebase=rebase)
    first = sync_group(forge, [world.intent()], pr_config=pr_config)
    old_base = first.base_sha
    world.human_commit("main", {"README.md": "the base moved\n"})  # a file the bot does not touch
    new_base = forge.branch_head(REPO, "main") or ""
    result = sync_group(forge, [world.intent(tag="1.2.0")], pr_config=pr_config)
    assert result.action == "updated"
    commits = forge.commits_between(REPO, old_base, BRANCH)  # still on the old base, one commit more
    assert [c.sha for c in commits] == [first.commit, result.commit]
    assert commits[0].parents == (old_base,) and commits[1].parents == (first.commit,)
    assert api_at(forge, BRANCH) == API.replace("1.0.0", "1.2.0")
    pr = world.pr(1)
    marker = parse_marker(pr.body)
    assert marker is not None and (marker.base, marker.checked, marker.update) == (
        old_base,
        new_base,
        "appended",
    )
    assert "added a commit to the branch" in pr.body and "has moved on since the branch was built" in pr.body
    # the next run on the same base is the fast no-op: nothing read back, nothing written
    before = world.snapshot(BRANCH)
    assert sync_group(forge, [world.intent(tag="1.2.0")], pr_config=pr_config).action == "noop"
    assert world.snapshot(BRANCH) == before


def test_rebase_auto_rebuilds_an_auto_merging_pr_whenever_the_base_moved(world: World, forge: Forge) -> None:
    pr_config = options(rebase="auto", auto_merge=True)
    first = sync_group(forge, [world.intent()], pr_config=pr_config)
    world.human_commit("main", {"README.md": "the base moved\n"})
    new_base = forge.branch_head(REPO, "main") or ""
    result = sync_group(forge, [world.intent(tag="1.2.0")], pr_config=pr_config)
    assert result.action == "regenerated" and result.base_sha == new_base
    [commit] = forge.commits_between(REPO, new_base, BRANCH)  # first.commit is gone from the branch
    assert commit.parents == (new_base,) and commit.sha != first.commit
    assert api_at(forge, BRANCH) == API.replace("1.0.0", "1.2.0")
    assert f"rebuilt the branch on `main` (`{new_base[:12]}`)" in world.pr(1).body


def test_rebase_never_leaves_a_branch_the_base_conflicts_with_and_says_so_once(
    world: World, forge: Forge
) -> None:
    pr_config = options(rebase="never")
    first = sync_group(forge, [world.intent()], pr_config=pr_config)
    world.human_commit("main", {"envs/dev/api.yaml": API.replace("2\n", "3\n")})  # under the PR's file
    result = sync_group(forge, [world.intent(tag="1.2.0")], pr_config=pr_config)
    assert result.action == "blocked" and result.why is not None and "never" in result.why
    assert forge.branch_head(REPO, BRANCH) == first.commit  # nothing written to the branch
    [said] = world.comments(1)
    assert "`envs/dev/api.yaml`" in said and "`never`" in said and "rebase` to rebuild" in said
    before = world.snapshot(BRANCH)
    assert sync_group(forge, [world.intent(tag="1.2.0")], pr_config=pr_config).action == "blocked"
    assert world.snapshot(BRANCH) == before  # told once per base head
    # the rebase command (force) rebuilds it on the current base
    rebuilt = sync_group(forge, [world.intent(tag="1.2.0")], pr_config=pr_config, force=True)
    assert rebuilt.action == "regenerated"
    text = api_at(forge, BRANCH)
    assert "ghcr.io/acme/api:1.2.0" in text and "replicas: 3" in text


def test_rebase_never_still_appends_when_the_base_moved_beside_the_prs_files(
    world: World, forge: Forge
) -> None:
    pr_config = options(rebase="never")
    first = sync_group(forge, [world.intent()], pr_config=pr_config)
    world.human_commit("main", {"README.md": "the base moved\n"})
    result = sync_group(forge, [world.intent(tag="1.2.0")], pr_config=pr_config)
    assert result.action == "updated"
    assert [c.sha for c in forge.commits_between(REPO, first.base_sha, BRANCH)] == [
        first.commit,
        result.commit,
    ]


def test_an_update_that_stops_editing_a_file_regenerates(world: World, forge: Forge) -> None:
    both = [world.intent(), world.intent(image="ghcr.io/acme/web", tag="2.1.0")]
    first = sync_group(forge, both)
    base = forge.branch_head(REPO, "main") or ""
    web = forge.read_file(REPO, "envs/dev/web-values.yaml", "main")
    # web's intent now wants what the base has: the branch must give the file back unchanged
    result = sync_group(
        forge, [world.intent(tag="1.2.0"), world.intent(image="ghcr.io/acme/web", tag="2.0.0")]
    )
    [commit] = forge.commits_between(REPO, base, BRANCH)
    assert commit.parents == (base,) and commit.sha == result.commit != first.commit
    assert forge.read_file(REPO, "envs/dev/web-values.yaml", BRANCH) == web
    assert "ghcr.io/acme/api:1.2.0" in api_at(forge, BRANCH)


def test_second_image_joins_the_pr_and_the_title_summarises(world: World, forge: Forge) -> None:
    sync_group(forge, [world.intent()])
    both = [world.intent(), world.intent(image="ghcr.io/acme/web", tag="2.1.0")]
    result = sync_group(forge, both)
    assert result.action == "updated" and result.pr is not None
    assert result.pr.title == "chore(dev): bump api to 1.1.0 and web to 2.1.0"
    web = forge.read_file(REPO, "envs/dev/web-values.yaml", BRANCH).decode()
    assert 'tag: "2.1.0"' in web and "# web chart values" in web


def test_regenerates_from_the_new_base_after_a_conflicting_change(world: World, forge: Forge) -> None:
    sync_group(forge, [world.intent()])
    # someone changes the same line (and another one) on main: a textual rebase would conflict
    world.human_commit("main", {"envs/dev/api.yaml": API.replace("1.0.0", "1.0.5").replace("2\n", "3\n")})
    new_base = forge.branch_head(REPO, "main")
    assert forge.get_pr(REPO, 1).mergeable is False
    result = sync_group(forge, [world.intent()])
    assert result.action == "regenerated" and result.base_sha == new_base
    [commit] = forge.commits_between(REPO, new_base or "", BRANCH)
    assert commit.parents == (new_base,)
    text = api_at(forge, BRANCH)
    assert "ghcr.io/acme/api:1.1.0" in text and "replicas: 3" in text
    assert forge.get_pr(REPO, 1).mergeable is True
    assert f"rebuilt the branch on `main` (`{(new_base or '')[:12]}`)" in world.pr(1).body
    assert [c.old for c in result.changes] == ["ghcr.io/acme/api:1.0.5"]
    assert sync_group(forge, [world.intent()]).action == "noop"


def test_human_commit_blocks_once_then_rebase_keeps_it_on_top(world: World, forge: Forge) -> None:
    sync_group(forge, [world.intent()])
    world.human_commit(BRANCH, {"README.md": "edited by a person\n"}, who="Alice")
    head = forge.branch_head(REPO, BRANCH)

    blocked = sync_group(forge, [world.intent(tag="1.2.0")])
    assert blocked.action == "blocked" and blocked.commit == head
    comments = world.comments(1)
    assert len(comments) == 1 and "Alice" in comments[0] and "rebase" in comments[0]
    before = world.snapshot(BRANCH)
    assert sync_group(forge, [world.intent(tag="1.2.0")]).action == "blocked"
    assert world.snapshot(BRANCH) == before  # said once; nothing rewritten

    forced = sync_group(forge, [world.intent(tag="1.2.0")], force=True)
    assert forced.action == "regenerated" and forced.kept == ("README.md",)
    base = forge.branch_head(REPO, "main") or ""
    authors = [c.author_login or c.author_name for c in forge.commits_between(REPO, base, BRANCH)]
    assert authors == [world.bot, world.bot]  # edit, then their files on top
    assert forge.read_file(REPO, "README.md", BRANCH) == b"edited by a person\n"
    assert "ghcr.io/acme/api:1.2.0" in api_at(forge, BRANCH)
    assert "Kept on top" in world.comments(1)[-1]
    assert sync_group(forge, [world.intent(tag="1.2.0")]).action == "noop"

    # their file survives the next regeneration too, as long as the base leaves it alone
    world.human_commit("main", {"envs/dev/api.yaml": API.replace("2\n", "3\n")}, who="Bob")
    again = sync_group(forge, [world.intent(tag="1.2.0")])
    assert again.action == "regenerated" and again.kept == ("README.md",)
    assert forge.read_file(REPO, "README.md", BRANCH) == b"edited by a person\n"


def test_rebase_drops_human_changes_that_overlap_the_bots_edits(world: World, forge: Forge) -> None:
    sync_group(forge, [world.intent()])
    world.human_commit(BRANCH, {"envs/dev/api.yaml": API.replace("1.0.0", "9.9.9")}, who="Carol")
    earlier = world.human_commit(BRANCH, {"README.md": "carol\n"}, who="Carol")
    assert sync_group(forge, [world.intent()]).action == "blocked"
    forced = sync_group(forge, [world.intent()], force=True)
    assert forced.dropped == ("envs/dev/api.yaml",) and forced.kept == ("README.md",)
    assert "ghcr.io/acme/api:1.1.0" in api_at(forge, BRANCH)
    assert forge.branch_head(REPO, BRANCH) != earlier
    last = world.comments(1)[-1]
    assert "Dropped" in last and "envs/dev/api.yaml" in last


def test_recreate_discards_everything(world: World, forge: Forge) -> None:
    sync_group(forge, [world.intent()])
    world.human_commit(BRANCH, {"README.md": "mine\n"})
    result = sync_group(forge, [world.intent()], recreate=True)
    assert result.action == "regenerated"
    assert forge.read_file(REPO, "README.md", BRANCH) == b"manifests\n"
    base = forge.branch_head(REPO, "main") or ""
    assert len(forge.commits_between(REPO, base, BRANCH)) == 1


def test_closes_when_the_base_already_has_the_versions(world: World, forge: Forge) -> None:
    sync_group(forge, [world.intent()])
    world.human_commit("main", {"envs/dev/api.yaml": API.replace("1.0.0", "1.1.0")})
    result = sync_group(forge, [world.intent()])
    assert result.action == "closed"
    assert world.pr(1).state == "closed"
    assert "already has every version" in world.comments(1)[-1]
    assert forge.branch_head(REPO, BRANCH) is None
    before = world.snapshot(BRANCH)
    assert sync_group(forge, [world.intent()]).action == "noop"  # and it does not come back
    assert world.snapshot(BRANCH) == before


def test_push_mode_commits_to_the_base_with_cas(world: World, forge: Forge) -> None:
    push = world.intent()
    base = forge.branch_head(REPO, "main")
    result = sync_group(forge, [push], pr_config=options(mode="push"))
    assert result.action == "pushed" and result.pr is None
    assert forge.branch_head(REPO, "main") == result.commit
    [commit] = forge.commits_between(REPO, base or "", "main")
    assert commit.message.startswith("chore(dev): bump api to 1.1.0")
    assert world.prs() == [] and forge.branch_head(REPO, BRANCH) is None
    assert sync_group(forge, [push], pr_config=options(mode="push")).action == "noop"


def test_hold_freezes_the_pr(world: World, forge: Forge) -> None:
    opened = sync_group(forge, [world.intent()]).pr
    assert opened is not None
    held = sync_group(forge, [world.intent(tag="1.2.0")], state=GroupState(hold=True))
    assert held.action == "held" and held.pr is not None
    # the branch and the text stay; only the marker changes, to keep the hold where Redis is not
    assert forge.branch_head(REPO, BRANCH) == opened.head_sha and held.pr.title == opened.title
    assert without_marker(held.pr.body) == without_marker(opened.body)
    assert parse_marker(held.pr.body).decisions == Decisions(hold=True)  # type: ignore[union-attr]
    before = world.snapshot(BRANCH)
    assert sync_group(forge, [world.intent(tag="1.3.0")], state=GroupState(hold=True)).action == "held"
    assert world.snapshot(BRANCH) == before  # recorded already: nothing is written


PINNED = GroupState(pinned=(Pin("ghcr.io/acme/api", "1.0.5", None, "alice", "2024-05-01T10:00:00Z"),))


def test_decisions_ride_in_the_marker_and_cost_a_write_only_when_they_change(
    world: World, forge: Forge
) -> None:
    opened = sync_group(forge, [world.intent()], state=PINNED).pr
    assert opened is not None
    assert parse_marker(opened.body).decisions == Decisions.of(PINNED)  # type: ignore[union-attr]
    before = world.snapshot(BRANCH)
    assert sync_group(forge, [world.intent()], state=PINNED).action == "noop"
    assert world.snapshot(BRANCH) == before  # nothing changed: not one write
    ran = Decisions.of(PINNED, ran=Ran().add(42))
    noted = sync_group(forge, [world.intent()], state=PINNED, decisions=ran).pr
    assert noted is not None and world.commit_count() == before[2]  # only the marker moved
    assert without_marker(noted.body) == without_marker(opened.body)
    assert parse_marker(noted.body).decisions == ran  # type: ignore[union-attr]
    again = world.snapshot(BRANCH)
    later = sync_group(forge, [world.intent()], state=PINNED)  # a caller that does not know 42
    assert world.snapshot(BRANCH) == again and parse_marker(later.pr.body).decisions == ran  # type: ignore[union-attr]


def test_a_caller_that_lost_the_group_gets_its_decisions_back_before_anything_is_written(
    world: World, forge: Forge
) -> None:
    if world.kind == "gitlab":  # the fake's MRs are by the token user, not by the world's bot_login
        pytest.skip("the GitLab world's bot_login names commits, not MR authors")
    sync_group(forge, [world.intent()], state=PINNED)
    before = world.snapshot(BRANCH)
    result = sync_group(forge, [world.intent(tag="1.2.0")], rebuild=True)
    assert result.action == "rebuild" and result.found == Decisions.of(PINNED)
    assert world.snapshot(BRANCH) == before
    assert (
        sync_group(forge, [world.intent(tag="1.3.0")], state=GroupState(), rebuild=False).action == "updated"
    )
    fresh = sync_group(forge, [world.intent(tag="1.3.0")], rebuild=True)  # nothing kept: on as usual
    assert fresh.action == "noop"


def test_decisions_a_person_rewrote_are_refused_and_rewritten(world: World, forge: Forge) -> None:
    opened = sync_group(forge, [world.intent()], state=PINNED).pr
    assert opened is not None
    world.edit_pr_body(opened.number, opened.body.replace('"v":1', '"v":1,"admin":true'))
    result = sync_group(forge, [world.intent()], rebuild=True)
    assert result.action != "rebuild"  # nothing is rebuilt from it
    marker = parse_marker(result.pr.body if result.pr else "")
    assert marker is not None and marker.refused is None and marker.decisions is None  # the bot's again


def test_only_the_bots_own_pr_is_read(world: World, forge: Forge) -> None:
    opened = sync_group(forge, [world.intent()], state=PINNED).pr
    assert opened is not None
    opened = dataclasses.replace(opened, author=forge.info.bot_login)  # GitLab: the token's user
    group = world.intent().group_key
    assert kept_decisions(forge, opened, group) == Decisions.of(PINNED)
    copied = dataclasses.replace(opened, author="mallory")
    assert kept_decisions(forge, copied, group) is None
    assert kept_decisions(forge, opened, group.replace(":apps", ":other")) is None


def test_a_known_digest_is_shown_but_written_only_when_pinned(world: World, forge: Forge) -> None:
    digest = "sha256:" + "5e" * 32
    result = sync_group(forge, [world.intent(digest=digest, pin="tag")])
    assert api_at(forge, BRANCH) == API.replace("1.0.0", "1.1.0")  # pin: tag writes the tag only
    assert result.pr is not None
    assert "| `1.0.0` → `1.1.0` | `sha256:5e5e5e5e5e5e…` |" in result.pr.body
    result = sync_group(forge, [world.intent(digest=digest, pin="tag+digest")])
    assert f"image: ghcr.io/acme/api:1.1.0@{digest}\n" in api_at(forge, BRANCH)


def test_ignored_and_pinned_versions_shape_the_pr(world: World, forge: Forge) -> None:
    state = GroupState(pinned=(Pin("ghcr.io/acme/web", "2.0.5"),))
    result = sync_group(
        forge, [world.intent(), world.intent(image="ghcr.io/acme/web", tag="2.3.0")], state=state
    )
    assert result.pr is not None and "**Pinned:**" in result.pr.body
    assert 'tag: "2.0.5"' in forge.read_file(REPO, "envs/dev/web-values.yaml", BRANCH).decode()
    ignore_all = GroupState(ignored=(IgnoreMark("ghcr.io/acme/api", None, None, "every api version"),))
    closed = sync_group(forge, [world.intent()], state=ignore_all)
    assert closed.action == "closed"
    assert "ignored" in world.comments(1)[-1]


def test_auto_discovery_finds_files_by_image(world: World, forge: Forge) -> None:
    result = sync_group(forge, [world.intent(image="ghcr.io/acme/web", tag="2.1.0", files=())])
    assert result.action == "opened"
    marker = parse_marker(result.pr.body if result.pr else "")
    assert marker is not None and marker.files == ("envs/dev/web-values.yaml",)


def test_missing_explicit_file_is_a_clear_error(world: World, forge: Forge) -> None:
    with pytest.raises(ManifestError, match=r"envs/prod/api\.yaml"):
        sync_group(forge, [world.intent(files=("envs/prod/api.yaml",))])
    assert world.prs() == []


def test_a_lost_compare_and_swap_surfaces_as_conflict(world: World, forge: Forge) -> None:
    sync_group(forge, [world.intent()])
    with pytest.raises(Conflict):
        sync_group(world.racing(), [world.intent(tag="1.2.0")])
    assert forge.read_file(REPO, "race", BRANCH) == b"1\n"  # the racer's push is never lost
    if world.kind == "gitlab":
        # GitLab has no ref compare-and-swap: an appended commit whose files the racer did not
        # touch (last_commit_id holds) lands on top of theirs; its parent says so (Conflict), and
        # the next reconcile sees the racer's commit and leaves the branch to them
        assert sync_group(forge, [world.intent(tag="1.2.0")]).action == "blocked"
        return
    assert "ghcr.io/acme/api:1.1.0" in api_at(forge, BRANCH)  # our stale write did not land


def test_a_lost_compare_and_swap_of_a_regeneration_surfaces_as_conflict(world: World, forge: Forge) -> None:
    sync_group(forge, [world.intent()])
    world.human_commit("main", {"envs/dev/api.yaml": API.replace("2\n", "3\n")})  # under the PR's file
    with pytest.raises(Conflict):
        sync_group(world.racing(), [world.intent(tag="1.2.0")])
    assert "ghcr.io/acme/api:1.1.0" in api_at(forge, BRANCH)  # our stale write did not land


def test_rebase_keeps_files_a_person_added_and_deleted(world: World, forge: Forge) -> None:
    sync_group(forge, [world.intent()])
    world.human_commit(BRANCH, {"docs/rollout.md": "canary first\n", "README.md": None}, who="Dana")
    assert sync_group(forge, [world.intent(tag="1.2.0")]).action == "blocked"
    forced = sync_group(forge, [world.intent(tag="1.2.0")], force=True)
    assert forced.action == "regenerated" and forced.kept == ("README.md", "docs/rollout.md")
    assert forge.read_file(REPO, "docs/rollout.md", BRANCH) == b"canary first\n"
    assert "README.md" not in forge.list_tree(REPO, BRANCH)
    assert "ghcr.io/acme/api:1.2.0" in api_at(forge, BRANCH)
    assert sync_group(forge, [world.intent(tag="1.2.0")]).action == "noop"


def test_the_open_pr_follows_the_configs_title_and_labels_and_keeps_a_persons_label(
    world: World, forge: Forge
) -> None:
    opened = sync_group(forge, [world.intent()], pr_config=options(labels=("deps",)))
    assert opened.pr is not None
    forge.update_pr(REPO, opened.pr.number, PrUpdate(labels=("deps", "qa-first")))  # a person's
    changed = options(labels=("deploy",), title_template="deploy {short_image} {old}→{tag}")
    result = sync_group(forge, [world.intent()], pr_config=changed)  # same versions, new config
    assert result.action == "updated"
    pr = world.pr(opened.pr.number)
    assert (pr.title, set(pr.labels)) == ("deploy api 1.0.0→1.1.0", {"qa-first", "deploy"})
    before = world.snapshot(BRANCH)
    assert sync_group(forge, [world.intent()], pr_config=changed).action == "noop"
    assert world.snapshot(BRANCH) == before


def test_a_draft_pr_stays_a_draft_when_updated(world: World, forge: Forge) -> None:
    draft = options(labels=("dependencies",), draft=True)
    opened = sync_group(forge, [world.intent()], pr_config=draft)
    assert opened.pr is not None and opened.pr.draft
    assert opened.pr.title == "chore(dev): bump api to 1.1.0"
    updated = sync_group(forge, [world.intent(tag="1.2.0")], pr_config=draft)
    assert updated.action == "updated"
    pr = forge.get_pr(REPO, 1)
    assert pr.draft and pr.title == "chore(dev): bump api to 1.2.0"
    before = world.snapshot(BRANCH)
    assert sync_group(forge, [world.intent(tag="1.2.0")], pr_config=draft).action == "noop"
    assert world.snapshot(BRANCH) == before


def test_an_open_pr_that_lost_its_marker_is_adopted_not_duplicated(world: World, forge: Forge) -> None:
    """The forge refuses a second PR from the branch (GitHub 422 "A pull request already exists",
    GitLab 409): the bot takes the open one over instead of failing on every reconcile."""
    opened = sync_group(forge, [world.intent()])
    assert opened.pr is not None
    world.edit_pr_body(opened.pr.number, "a person rewrote the description")
    result = sync_group(forge, [world.intent(tag="1.2.0")])
    assert [p.number for p in world.prs()] == [opened.pr.number]
    assert result.pr is not None and result.pr.number == opened.pr.number
    marker = parse_marker(world.pr(opened.pr.number).body)
    assert marker is not None and marker.head == forge.branch_head(REPO, BRANCH)
    assert "ghcr.io/acme/api:1.2.0" in api_at(forge, BRANCH)
    assert sync_group(forge, [world.intent(tag="1.2.0")]).action == "noop"


def test_a_branch_left_on_the_base_without_the_bots_commit_is_repaired(world: World, forge: Forge) -> None:
    """What a half-done regeneration leaves (the ref moved, the commit did not land): the next
    reconcile commits on the bare branch, no comment, no block, and the PR says so."""
    opened = sync_group(forge, [world.intent()])
    assert opened.pr is not None
    world.reset_branch(BRANCH, "main")
    base = forge.branch_head(REPO, "main") or ""
    result = sync_group(forge, [world.intent()])
    assert result.action in ("updated", "regenerated")
    [commit] = forge.commits_between(REPO, base, BRANCH)
    assert commit.parents == (base,) and (commit.author_login or commit.author_name) == world.bot
    assert "ghcr.io/acme/api:1.1.0" in api_at(forge, BRANCH)
    assert world.comments(opened.pr.number) == []
    marker = parse_marker(world.pr(opened.pr.number).body)
    assert marker is not None and marker.head == commit.sha
    assert sync_group(forge, [world.intent()]).action == "noop"


def test_a_carried_file_the_person_deleted_again_is_not_deleted_from_a_base_without_it(
    world: World, forge: Forge
) -> None:
    """Regeneration may carry a deletion of a path the new parent does not have; GitHub refuses the
    whole commit for that ("A path was requested for deletion which does not exist")."""
    sync_group(forge, [world.intent()])
    world.human_commit(BRANCH, {"docs/rollout.md": "canary first\n"}, who="Dana")
    kept = sync_group(forge, [world.intent(tag="1.2.0")], force=True)
    assert kept.kept == ("docs/rollout.md",)
    world.human_commit(BRANCH, {"docs/rollout.md": None}, who="Dana")
    again = sync_group(forge, [world.intent(tag="1.3.0")], force=True)
    assert again.action == "regenerated"
    assert "docs/rollout.md" not in forge.list_tree(REPO, BRANCH)
    assert "ghcr.io/acme/api:1.3.0" in api_at(forge, BRANCH)


# --- faults the vendors' definitions allow, on the fakes that enforce them -------------------------
@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeWorld]:
    with make_world("github", tmp_path) as w:
        assert isinstance(w, FakeWorld)
        yield w


@pytest.fixture
def gitlab(tmp_path: Path) -> Iterator[FakeWorld]:
    with make_world("gitlab", tmp_path) as w:
        assert isinstance(w, FakeWorld)
        yield w


def test_github_ref_moved_but_commit_failed_is_retried_and_repaired(github: FakeWorld) -> None:
    """updateRefs and createCommitOnBranch travel in one document but are not a transaction: the
    branch lands on the base with no commit. That is Transient (the job retries), and the next
    reconcile commits on the bare branch."""
    assert isinstance(github.fake, GitHubFake)
    sync_group(github.forge, [github.intent()])
    github.human_commit("main", {"envs/dev/api.yaml": API.replace("2\n", "3\n")})  # an update regenerates
    github.fake.fail("createCommitOnBranch", "skip")
    with pytest.raises(Transient, match="did not land"):
        sync_group(github.forge, [github.intent(tag="1.2.0")])
    base = github.forge.branch_head(REPO, "main")
    assert github.forge.branch_head(REPO, BRANCH) == base  # the half-done state
    repaired = sync_group(github.forge, [github.intent(tag="1.2.0")])
    assert repaired.action in ("updated", "regenerated")
    assert "ghcr.io/acme/api:1.2.0" in api_at(github.forge, BRANCH)
    assert len(github.prs()) == 1 and github.comments(1) == []


def test_github_untyped_200_error_is_transient_and_the_retry_succeeds(github: FakeWorld) -> None:
    assert isinstance(github.fake, GitHubFake)
    sync_group(github.forge, [github.intent()])
    github.human_commit("main", {"envs/dev/api.yaml": API.replace("2\n", "3\n")})  # an update regenerates
    before = github.forge.branch_head(REPO, BRANCH)
    github.fake.fail("updateRefs", "untyped")
    with pytest.raises(Transient, match="nothing was written"):
        sync_group(github.forge, [github.intent(tag="1.2.0")])
    assert github.forge.branch_head(REPO, BRANCH) == before
    assert sync_group(github.forge, [github.intent(tag="1.2.0")]).action == "regenerated"


def test_github_a_write_whose_answer_was_lost_is_recognised_as_ours(github: FakeWorld) -> None:
    assert isinstance(github.fake, GitHubFake)
    sync_group(github.forge, [github.intent()])
    github.fake.fail("createCommitOnBranch", "after")  # applied, then answered 502
    result = sync_group(github.forge, [github.intent(tag="1.2.0")])
    assert result.action == "updated" and result.commit == github.forge.branch_head(REPO, BRANCH)
    assert parse_marker(github.pr(1).body).head == result.commit  # type: ignore[union-attr]


def test_gitlab_a_concurrent_push_to_the_same_file_refuses_our_commit(gitlab: FakeWorld) -> None:
    """Push mode commits on the base in place: each update carries ``last_commit_id``, so a person's
    push to that file between our read and our write makes GitLab refuse ours (Conflict), and
    theirs stays."""
    assert isinstance(gitlab.fake, GitLabFake)
    push, mode = gitlab.intent(), options(mode="push")
    theirs = API.replace("replicas: 2", "replicas: 5")
    gitlab.fake.before_commit = lambda: gitlab.human_commit("main", {"envs/dev/api.yaml": theirs})
    with pytest.raises(Conflict, match="has changed since"):
        sync_group(gitlab.forge, [push], pr_config=mode)
    assert api_at(gitlab.forge, "main") == theirs
    # observed again: their change and ours together
    result = sync_group(gitlab.forge, [push], pr_config=mode)
    assert result.action == "pushed"
    assert "replicas: 5" in api_at(gitlab.forge, "main") and "api:1.1.0" in api_at(gitlab.forge, "main")


def test_gitlab_a_concurrent_push_to_another_file_is_kept(gitlab: FakeWorld) -> None:
    assert isinstance(gitlab.fake, GitLabFake)
    push = gitlab.intent()
    gitlab.fake.before_commit = lambda: gitlab.human_commit("main", {"README.md": "theirs\n"})
    with pytest.raises(Conflict, match="moved"):  # ours landed on top of theirs; nothing overwritten
        sync_group(gitlab.forge, [push], pr_config=options(mode="push"))
    assert gitlab.forge.read_file(REPO, "README.md", "main") == b"theirs\n"
    assert "api:1.1.0" in api_at(gitlab.forge, "main")


@pytest.mark.parametrize("kind", ["merge", "train"])
def test_gitlab_auto_merge_starts_on_a_merged_results_pipeline(gitlab: FakeWorld, kind: str) -> None:
    assert isinstance(gitlab.fake, GitLabFake)
    opened = sync_group(gitlab.forge, [gitlab.intent()])
    assert opened.pr is not None
    assert gitlab.forge.enable_auto_merge(REPO, opened.pr.number, "merge") is False  # no pipeline yet
    gitlab.fake.merged_results_pipeline(opened.pr.number, kind=kind)
    assert gitlab.forge.enable_auto_merge(REPO, opened.pr.number, "merge") is True
    assert opened.pr.number in gitlab.fake.auto_merge


def test_gitlab_a_merged_results_pipeline_of_an_older_head_waits(gitlab: FakeWorld) -> None:
    assert isinstance(gitlab.fake, GitLabFake)
    opened = sync_group(gitlab.forge, [gitlab.intent()])
    assert opened.pr is not None
    old_head = gitlab.forge.branch_head(REPO, BRANCH)
    gitlab.fake.merged_results_pipeline(opened.pr.number, head=old_head)
    sync_group(gitlab.forge, [gitlab.intent(tag="1.2.0")])  # a new head, no pipeline for it yet
    assert gitlab.forge.enable_auto_merge(REPO, opened.pr.number, "merge") is False


def _what(call: Any) -> str:
    """A GitHub request named by what it does."""
    url = call.request.url
    if url.endswith("/graphql"):
        query = json.loads(call.request.body)["query"]
        for name in ("createCommitOnBranch", "pullRequests(", "object(expression:"):
            if name in query:
                return {"pullRequests(": "observe", "object(expression:": "read"}.get(name, name)
        return "graphql"
    return f"{call.request.method} {url.split('/repos/acme/deploy', 1)[-1].split('?')[0]}"


def test_a_new_group_reads_everything_it_decides_on_in_one_github_request(tmp_path: Path) -> None:
    """A group Redis does not know yet (``rebuild=True``): the base, its branch, its open PR and
    the newest PR it ever had come in one GraphQL query, never a branch read or a PR list of
    their own; then discovery's tree listing, the read of its files, the commit and the PR. A
    second sync with nothing new is that one query."""
    with make_world("github", tmp_path) as world:
        assert isinstance(world, FakeWorld)
        result = sync_group(world.forge, [world.intent()], rebuild=True)
        assert result.action == "opened"
        sent = [_what(c) for c in world.rsps.calls]
        assert sent[0] == "observe" and sent[-1] == "POST /pulls", sent
        assert sent[1:-1] == [f"GET /git/trees/{result.base_sha}", "read", "createCommitOnBranch"], sent
        before = len(world.rsps.calls)
        again = sync_group(world.forge, [world.intent()], state=GroupState())
        assert again.action == "noop" and [_what(c) for c in world.rsps.calls[before:]] == ["observe"]
