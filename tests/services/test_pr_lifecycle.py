"""The PR lifecycle against real git repositories through the local forge: every branch of it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.core.group_state import GroupState, IgnoreMark, Pin
from bot.core.intents import PrOptions
from bot.core.render import parse_marker
from bot.errors import Conflict, ManifestError
from bot.forges.base import FileChange
from bot.forges.local import LocalGitForge
from bot.services.pr_lifecycle import branch_name, sync_group
from tests.forges.local_fixture import commit_count, human_commit
from tests.services.lifecycle_fixture import API, REPO, intent, make_forge

BRANCH = "manifest-bot/dev/apps"


@pytest.fixture
def forge(tmp_path: Path) -> LocalGitForge:
    return make_forge(tmp_path)


def api_at(forge: LocalGitForge, ref: str) -> str:
    return forge.read_file(REPO, "envs/dev/api.yaml", ref).decode()


def snapshot(forge: LocalGitForge) -> tuple[object, ...]:
    """Everything a write would change: refs, PR records (with updated_at), commit counts."""
    prs = [forge.pr_record(REPO, p.number) for p in forge.list_prs(REPO)]
    return (
        forge.branch_head(REPO, "main"),
        forge.branch_head(REPO, BRANCH),
        commit_count(forge, REPO, "--all"),
        repr(prs),
    )


def test_opens_one_pr_with_a_single_commit_on_the_base(forge: LocalGitForge) -> None:
    base = forge.branch_head(REPO, "main")
    result = sync_group(forge, [intent()])
    assert result.action == "opened"
    assert branch_name(intent()) == BRANCH
    assert result.base_sha == base
    assert forge.branch_head(REPO, "main") == base  # the base is never written in PR mode
    [commit] = forge.commits_between(REPO, base or "", BRANCH)
    assert commit.parents == (base,) and commit.sha == result.commit
    assert "image: ghcr.io/acme/api:1.1.0\n" in api_at(forge, BRANCH)
    assert api_at(forge, BRANCH) == API.replace("1.0.0", "1.1.0")  # nothing else moved
    pr = result.pr
    assert pr is not None and pr.title == "chore(dev): bump ghcr.io/acme/api to 1.1.0"
    assert (
        "| `envs/dev/api.yaml` | `ghcr.io/acme/api` | `ghcr.io/acme/api:1.0.0` → `ghcr.io/acme/api:1.1.0` |"
        in pr.body
    )
    assert pr.labels == ("dependencies",)
    marker = parse_marker(pr.body)
    assert marker is not None and marker.group == "local:acme/deploy:main:apps"
    assert (marker.base, marker.head, marker.files) == (base, result.commit, ("envs/dev/api.yaml",))
    assert [c.path for c in result.changes] == ["spec.template.spec.containers[0].image"]


def test_second_run_writes_nothing(forge: LocalGitForge) -> None:
    sync_group(forge, [intent()])
    before = snapshot(forge)
    again = sync_group(forge, [intent()])
    assert again.action == "noop" and again.changes == ()
    assert snapshot(forge) == before
    # a re-delivery of the same version (new delivery id) is still a no-op
    redelivered = dataclasses.replace(intent(), origin=dataclasses.replace(intent().origin, delivery_id="d2"))
    assert sync_group(forge, [redelivered]).action == "noop"
    assert snapshot(forge) == before


def test_newer_version_updates_branch_and_text_in_the_same_pr(forge: LocalGitForge) -> None:
    first = sync_group(forge, [intent()])
    result = sync_group(forge, [intent(tag="1.2.0")])
    assert result.action == "updated"
    assert result.pr is not None and first.pr is not None and result.pr.number == first.pr.number
    assert result.pr.title.endswith("to 1.2.0")
    assert "ghcr.io/acme/api:1.2.0" in api_at(forge, BRANCH)
    base = forge.branch_head(REPO, "main") or ""
    assert len(forge.commits_between(REPO, base, BRANCH)) == 1  # a fresh commit, no pile-up
    assert len(forge.list_prs(REPO)) == 1


def test_second_image_joins_the_pr_and_the_title_summarises(forge: LocalGitForge) -> None:
    sync_group(forge, [intent()])
    both = [intent(), intent(image="ghcr.io/acme/web", tag="2.1.0")]
    result = sync_group(forge, both)
    assert result.action == "updated" and result.pr is not None
    assert result.pr.title == "chore(dev): bump ghcr.io/acme/api to 1.1.0 and ghcr.io/acme/web to 2.1.0"
    web = forge.read_file(REPO, "envs/dev/web-values.yaml", BRANCH).decode()
    assert 'tag: "2.1.0"' in web and "# web chart values" in web


def test_regenerates_from_the_new_base_after_a_conflicting_change(forge: LocalGitForge) -> None:
    sync_group(forge, [intent()])
    # someone changes the same line (and another one) on main: a textual rebase would conflict
    human_commit(
        forge, REPO, "main", {"envs/dev/api.yaml": API.replace("1.0.0", "1.0.5").replace("2\n", "3\n")}
    )
    new_base = forge.branch_head(REPO, "main")
    assert forge.get_pr(REPO, 1).mergeable is False
    result = sync_group(forge, [intent()])
    assert result.action == "regenerated" and result.base_sha == new_base
    [commit] = forge.commits_between(REPO, new_base or "", BRANCH)
    assert commit.parents == (new_base,)
    text = api_at(forge, BRANCH)
    assert "ghcr.io/acme/api:1.1.0" in text and "replicas: 3" in text
    assert forge.get_pr(REPO, 1).mergeable is True
    assert [c.old for c in result.changes] == ["ghcr.io/acme/api:1.0.5"]
    assert sync_group(forge, [intent()]).action == "noop"


def test_human_commit_blocks_once_then_rebase_keeps_it_on_top(forge: LocalGitForge) -> None:
    sync_group(forge, [intent()])
    human_commit(forge, REPO, BRANCH, {"README.md": "edited by a person\n"}, who="Alice")
    head = forge.branch_head(REPO, BRANCH)

    blocked = sync_group(forge, [intent(tag="1.2.0")])
    assert blocked.action == "blocked" and blocked.commit == head
    comments = forge.pr_record(REPO, 1)["comments"]
    assert len(comments) == 1 and "Alice" in comments[0]["body"] and "rebase" in comments[0]["body"]
    before = snapshot(forge)
    assert sync_group(forge, [intent(tag="1.2.0")]).action == "blocked"
    assert snapshot(forge) == before  # said once; nothing rewritten

    forced = sync_group(forge, [intent(tag="1.2.0")], force=True)
    assert forced.action == "regenerated" and forced.kept == ("README.md",)
    base = forge.branch_head(REPO, "main") or ""
    authors = [c.author_login for c in forge.commits_between(REPO, base, BRANCH)]
    assert authors == ["manifest-bot[bot]", "manifest-bot[bot]"]  # edit, then their files on top
    assert forge.read_file(REPO, "README.md", BRANCH) == b"edited by a person\n"
    assert "ghcr.io/acme/api:1.2.0" in api_at(forge, BRANCH)
    assert "Kept on top" in forge.pr_record(REPO, 1)["comments"][-1]["body"]
    assert sync_group(forge, [intent(tag="1.2.0")]).action == "noop"

    # their file survives the next regeneration too, as long as the base leaves it alone
    human_commit(forge, REPO, "main", {"envs/dev/other.yaml": "x: 1\n"}, who="Bob")
    again = sync_group(forge, [intent(tag="1.2.0")])
    assert again.action == "regenerated" and again.kept == ("README.md",)
    assert forge.read_file(REPO, "README.md", BRANCH) == b"edited by a person\n"


def test_rebase_drops_human_changes_that_overlap_the_bots_edits(forge: LocalGitForge) -> None:
    sync_group(forge, [intent()])
    human_commit(forge, REPO, BRANCH, {"envs/dev/api.yaml": API.replace("1.0.0", "9.9.9")}, who="Carol")
    earlier = human_commit(forge, REPO, BRANCH, {"README.md": "carol\n"}, who="Carol")
    assert sync_group(forge, [intent()]).action == "blocked"
    forced = sync_group(forge, [intent()], force=True)
    assert forced.dropped == ("envs/dev/api.yaml",) and forced.kept == ("README.md",)
    assert "ghcr.io/acme/api:1.1.0" in api_at(forge, BRANCH)
    assert forge.branch_head(REPO, BRANCH) != earlier
    last = forge.pr_record(REPO, 1)["comments"][-1]["body"]
    assert "Dropped" in last and "envs/dev/api.yaml" in last


def test_recreate_discards_everything(forge: LocalGitForge) -> None:
    sync_group(forge, [intent()])
    human_commit(forge, REPO, BRANCH, {"README.md": "mine\n"})
    result = sync_group(forge, [intent()], recreate=True)
    assert result.action == "regenerated"
    assert forge.read_file(REPO, "README.md", BRANCH) == b"manifests\n"
    base = forge.branch_head(REPO, "main") or ""
    assert len(forge.commits_between(REPO, base, BRANCH)) == 1


def test_closes_when_the_base_already_has_the_versions(forge: LocalGitForge) -> None:
    sync_group(forge, [intent()])
    human_commit(forge, REPO, "main", {"envs/dev/api.yaml": API.replace("1.0.0", "1.1.0")})
    result = sync_group(forge, [intent()])
    assert result.action == "closed"
    record = forge.pr_record(REPO, 1)
    assert record["state"] == "closed"
    assert "already has every version" in record["comments"][-1]["body"]
    assert forge.branch_head(REPO, BRANCH) is None
    before = snapshot(forge)
    assert sync_group(forge, [intent()]).action == "noop"  # and it does not come back
    assert snapshot(forge) == before


def test_push_mode_commits_to_the_base_with_cas(forge: LocalGitForge) -> None:
    push = intent(pr=PrOptions(mode="push"))
    base = forge.branch_head(REPO, "main")
    result = sync_group(forge, [push])
    assert result.action == "pushed" and result.pr is None
    assert forge.branch_head(REPO, "main") == result.commit
    [commit] = forge.commits_between(REPO, base or "", "main")
    assert commit.message.startswith("chore(dev): bump ghcr.io/acme/api to 1.1.0")
    assert forge.list_prs(REPO) == [] and forge.branch_head(REPO, BRANCH) is None
    assert sync_group(forge, [push]).action == "noop"


def test_hold_freezes_the_pr(forge: LocalGitForge) -> None:
    sync_group(forge, [intent()])
    before = snapshot(forge)
    held = sync_group(forge, [intent(tag="1.2.0")], state=GroupState(hold=True))
    assert held.action == "held" and held.pr is not None
    assert snapshot(forge) == before


def test_ignored_and_pinned_versions_shape_the_pr(forge: LocalGitForge) -> None:
    state = GroupState(pinned=(Pin("ghcr.io/acme/web", "2.0.5"),))
    result = sync_group(forge, [intent(), intent(image="ghcr.io/acme/web", tag="2.3.0")], state=state)
    assert result.pr is not None and "**Pinned:**" in result.pr.body
    assert 'tag: "2.0.5"' in forge.read_file(REPO, "envs/dev/web-values.yaml", BRANCH).decode()
    ignore_all = GroupState(ignored=(IgnoreMark("ghcr.io/acme/api", None, None, "every api version"),))
    closed = sync_group(forge, [intent()], state=ignore_all)
    assert closed.action == "closed"
    assert "ignored" in forge.pr_record(REPO, 1)["comments"][-1]["body"]


def test_auto_discovery_finds_files_by_image(forge: LocalGitForge) -> None:
    result = sync_group(forge, [intent(image="ghcr.io/acme/web", tag="2.1.0", files=())])
    assert result.action == "opened"
    marker = parse_marker(result.pr.body if result.pr else "")
    assert marker is not None and marker.files == ("envs/dev/web-values.yaml",)


def test_missing_explicit_file_is_a_clear_error(forge: LocalGitForge) -> None:
    with pytest.raises(ManifestError, match=r"envs/prod/api\.yaml"):
        sync_group(forge, [intent(files=("envs/prod/api.yaml",))])
    assert forge.list_prs(REPO) == []


class RacingForge(LocalGitForge):
    """Someone moves the branch between our read and our write."""

    def commit_files(self, repo: str, branch: str, **kw: object) -> str:  # type: ignore[override]
        head = self.branch_head(repo, branch)
        if head is not None:
            LocalGitForge.commit_files(
                self,
                repo,
                branch,
                parent=head,
                changes=[FileChange("race", b"1")],
                message="racer",
                expected_head=head,
            )
        return super().commit_files(repo, branch, **kw)  # type: ignore[arg-type]


def test_a_lost_compare_and_swap_surfaces_as_conflict(forge: LocalGitForge) -> None:
    sync_group(forge, [intent()])
    racing = RacingForge(forge.root)
    with pytest.raises(Conflict):
        sync_group(racing, [intent(tag="1.2.0")])
    assert "ghcr.io/acme/api:1.1.0" in api_at(forge, BRANCH)  # our stale write did not land
