"""GitLabForge against `responses`: exact requests, their count, and the mapping of GitLab answers."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import responses

from bot.core.ports import Blob, BlobLister, FileChange, Forge, ForgeInfo, Permission, PrUpdate, Reaction
from bot.errors import Conflict, NotFound, PermissionDenied, RateLimited, Transient, ValidationFailed
from bot.forges.gitlab.adapter import GitLabForge, access_to_permission
from tests.forges.api import gitlab_json as fx
from tests.forges.api import sent

GL = "https://gitlab.example.com/api/v4"
REPO = "acme/deploy"
P = f"{GL}/projects/acme%2Fdeploy"
BRANCH = "manifest-bot/prod/web"
EB = "manifest-bot%2Fprod%2Fweb"
BASE = "1" * 40
HEAD = "2" * 40
NEW = "5" * 40


@pytest.fixture
def gl() -> GitLabForge:
    return GitLabForge(ForgeInfo(name="gl", kind="gitlab"), "glpat-secret", url="https://gitlab.example.com")


def test_is_a_forge_and_hides_token(gl: GitLabForge) -> None:
    assert isinstance(gl, Forge)
    assert "glpat-secret" not in repr(gl)


def test_read_file_raw_with_project_token(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{P}/repository/files/apps%2Fweb.yaml/raw", body=b"image: web:1.0\n")
    assert gl.read_file(REPO, "apps/web.yaml", "main") == b"image: web:1.0\n"
    (call,) = rsps.calls
    assert call.request.params == {"ref": "main"}
    assert call.request.headers["PRIVATE-TOKEN"] == "glpat-secret"


def test_list_tree_follows_pages(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    nxt = f"{P}/repository/tree?ref=main&recursive=true&per_page=100&page=2"
    rsps.get(f"{P}/repository/tree", json=fx("tree_page1"), headers={"Link": f'<{nxt}>; rel="next"'})
    rsps.get(f"{P}/repository/tree", json=fx("tree_page2"))
    assert gl.list_tree(REPO, "main") == ["apps/web.yaml", "README.md"]
    assert len(rsps.calls) == 2
    assert rsps.calls[0].request.params == {"ref": "main", "recursive": "true", "per_page": "100"}


def test_list_blobs_gives_the_tree_ids_without_sizes(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{P}/repository/tree", json=fx("tree_page1"))
    assert isinstance(gl, BlobLister)
    assert gl.list_blobs(REPO, BASE) == {"apps/web.yaml": Blob("b" * 40)}


def test_branch_head_and_missing(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{P}/repository/branches/main", json=fx("branch"))
    rsps.get(f"{P}/repository/branches/{EB}", json={"message": "404 Branch Not Found"}, status=404)
    assert gl.branch_head(REPO, "main") == BASE
    assert gl.branch_head(REPO, BRANCH) is None


def test_commits_between(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{P}/repository/compare", json=fx("compare"))
    commits = gl.commits_between(REPO, BASE, HEAD)
    assert [c.author_email for c in commits] == [
        "project_42_bot@noreply.gitlab.example.com",
        "mona@example.com",
    ]
    assert rsps.calls[0].request.params == {"from": BASE, "to": HEAD}


def test_commit_on_new_branch_is_one_request_from_start_sha(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.post(f"{P}/repository/commits", json={**fx("commit_created"), "parent_ids": [BASE]}, status=201)
    sha = gl.commit_files(
        REPO,
        BRANCH,
        parent=BASE,
        message="chore: bump",
        changes=[FileChange("apps/web.yaml", b"image: web:1.2.3\n"), FileChange("old.yaml", None)],
        expected_head=None,
    )
    assert sha == NEW
    assert len(rsps.calls) == 1
    assert sent(rsps.calls[0]) == {
        "branch": BRANCH,
        "commit_message": "chore: bump",
        "start_sha": BASE,
        "actions": [
            {
                "action": "update",
                "file_path": "apps/web.yaml",
                "content": base64.b64encode(b"image: web:1.2.3\n").decode(),
                "encoding": "base64",
            },
            {"action": "delete", "file_path": "old.yaml"},
        ],
    }


def test_new_branch_that_exists_is_conflict(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.post(f"{P}/repository/commits", json=fx("branch_exists"), status=400)
    with pytest.raises(Conflict, match="already exists"):
        gl.commit_files(
            REPO, BRANCH, parent=BASE, changes=[FileChange("a", b"x")], message="m", expected_head=None
        )


def test_a_new_file_is_created_after_gitlab_says_it_does_not_exist(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    """A person's new file carried over a regeneration: the first commit (all ``update``) is refused
    without side effects; one tree listing at the parent, then ``create`` for the new path."""
    rsps.post(f"{P}/repository/commits", json=fx("file_missing"), status=400)
    rsps.get(f"{P}/repository/tree", json=fx("tree_page1"))
    rsps.post(f"{P}/repository/commits", json={**fx("commit_created"), "parent_ids": [BASE]}, status=201)
    changes = [
        FileChange("apps/web.yaml", b"v2\n"),
        FileChange("docs/new.md", b"hi\n"),
        FileChange("gone.md", None),  # already absent at the parent: nothing to delete
    ]
    sha = gl.commit_files(REPO, BRANCH, parent=BASE, changes=changes, message="m", expected_head=None)
    assert sha == NEW
    assert [c.request.method for c in rsps.calls] == ["POST", "GET", "POST"]
    assert rsps.calls[1].request.params == {"ref": BASE, "recursive": "true", "per_page": "100"}
    assert [a["action"] for a in sent(rsps.calls[0])["actions"]] == ["update", "update", "delete"]
    retry = sent(rsps.calls[2])
    assert retry["start_sha"] == BASE
    assert [(a["action"], a["file_path"]) for a in retry["actions"]] == [
        ("update", "apps/web.yaml"),
        ("create", "docs/new.md"),
    ]
    assert retry["actions"][1]["content"] == base64.b64encode(b"hi\n").decode()


def test_other_validation_errors_are_not_retried(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.post(f"{P}/repository/commits", json=fx("validation_error"), status=400)
    with pytest.raises(ValidationFailed):
        gl.commit_files(
            REPO, BRANCH, parent=BASE, changes=[FileChange("a", b"x")], message="m", expected_head=None
        )
    assert len(rsps.calls) == 1


def test_append_never_forces_and_detects_a_moved_branch(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.post(f"{P}/repository/commits", json=fx("commit_created"), status=201)  # parent_ids == [HEAD]
    rsps.post(f"{P}/repository/commits", json={**fx("commit_created"), "parent_ids": ["9" * 40]}, status=201)
    assert (
        gl.commit_files(
            REPO, BRANCH, parent=HEAD, changes=[FileChange("a", b"x")], message="m", expected_head=HEAD
        )
        == NEW
    )
    body = sent(rsps.calls[0])
    assert "force" not in body and "start_sha" not in body
    assert body["actions"][0]["last_commit_id"] == HEAD  # GitLab refuses if the file changed since
    with pytest.raises(Conflict, match="moved"):
        gl.commit_files(
            REPO, BRANCH, parent=HEAD, changes=[FileChange("a", b"x")], message="m", expected_head=HEAD
        )


def test_regenerate_checks_head_then_forces_from_new_base(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.get(f"{P}/repository/branches/{EB}", json={**fx("branch"), "commit": {"id": HEAD}})
    rsps.post(f"{P}/repository/commits", json={**fx("commit_created"), "parent_ids": [BASE]}, status=201)
    gl.commit_files(
        REPO, BRANCH, parent=BASE, changes=[FileChange("a", b"x")], message="m", expected_head=HEAD
    )
    body = sent(rsps.calls[1])
    assert (body["start_sha"], body["force"]) == (BASE, True)
    # with start_sha GitLab checks last_commit_id against the default branch, not this one
    assert all("last_commit_id" not in a for a in body["actions"])


def test_regenerate_refuses_when_someone_pushed(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{P}/repository/branches/{EB}", json={**fx("branch"), "commit": {"id": "9" * 40}})
    with pytest.raises(Conflict):
        gl.commit_files(
            REPO, BRANCH, parent=BASE, changes=[FileChange("a", b"x")], message="m", expected_head=HEAD
        )
    assert len(rsps.calls) == 1  # nothing forced


def test_a_file_changed_on_the_branch_since_our_read_refuses_the_append(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    """GitLab's per-file guard: a concurrent push to a file we update or delete → Conflict."""
    refusal = {"message": "The file has changed since you started editing it: envs/dev/api.yaml"}
    rsps.post(f"{P}/repository/commits", json=refusal, status=400)
    changes = [FileChange("envs/dev/api.yaml", b"x"), FileChange("old.yaml", None)]
    with pytest.raises(Conflict, match="has changed since"):
        gl.commit_files(REPO, BRANCH, parent=HEAD, changes=changes, message="m", expected_head=HEAD)
    assert [a.get("last_commit_id") for a in sent(rsps.calls[0])["actions"]] == [HEAD, HEAD]


def test_deleting_only_paths_the_branch_lacks_writes_nothing(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.post(f"{P}/repository/commits", json={"message": "A file with this name doesn't exist"}, status=400)
    rsps.get(f"{P}/repository/tree", json=[])
    done = gl.commit_files(
        REPO, BRANCH, parent=HEAD, changes=[FileChange("gone.yaml", None)], message="m", expected_head=HEAD
    )
    assert done == HEAD and len(rsps.calls) == 2


def test_a_second_mr_from_the_branch_is_a_conflict(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    """GitLab 409 "Another open merge request already exists for this source branch"."""
    body = {"message": ["Another open merge request already exists for this source branch: !4"]}
    rsps.post(f"{P}/merge_requests", json=body, status=409)
    with pytest.raises(Conflict, match="Another open merge request"):
        gl.open_pr(REPO, BRANCH, "main", "t", "b")


def test_find_mr_pages_and_checks_marker(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    nxt = f"{P}/merge_requests?source_branch={EB}&state=opened&per_page=100&page=2"
    rsps.get(f"{P}/merge_requests", json=fx("mrs_page1"), headers={"Link": f'<{nxt}>; rel="next"'})
    rsps.get(f"{P}/merge_requests", json=fx("mrs_page2"))
    mr = gl.find_pr(REPO, BRANCH, marker="manifest-bot:group=prod/web")
    assert mr is not None
    assert (mr.number, mr.state, mr.head_sha, mr.labels, mr.mergeable) == (
        4,
        "open",
        HEAD,
        ("dependencies",),
        True,
    )
    assert rsps.calls[0].request.params == {"source_branch": BRANCH, "state": "opened", "per_page": "100"}


def test_last_mr_reads_one_page_of_every_state_and_takes_the_newest(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    newer = fx("mrs_page2")[0]
    older = {**fx("mrs_page1")[0], "description": newer["description"], "state": "closed"}
    merged = {**newer, "state": "merged"}
    rsps.get(f"{P}/merge_requests", json=[older, merged])
    mr = gl.last_pr(REPO, BRANCH, marker="manifest-bot:group=prod/web")
    assert mr is not None and (mr.number, mr.state) == (merged["iid"], "merged")
    assert rsps.calls[0].request.params == {
        "source_branch": BRANCH,
        "state": "all",
        "order_by": "created_at",
        "sort": "desc",
        "per_page": "100",
    }
    rsps.get(f"{P}/merge_requests", json=[older])
    assert gl.last_pr(REPO, BRANCH, marker="not in any body") is None


def test_open_mr_resolves_users_once(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{GL}/users", json=fx("users_mona"))
    rsps.post(f"{P}/merge_requests", json=fx("mr"), status=201)
    rsps.post(f"{P}/merge_requests", json=fx("mr"), status=201)
    gl.open_pr(
        REPO,
        BRANCH,
        "main",
        "t",
        "b",
        labels=["deps", "prod"],
        reviewers=["mona"],
        assignees=["mona"],
        draft=True,
    )
    assert sent(rsps.calls[1]) == {
        "source_branch": BRANCH,
        "target_branch": "main",
        "title": "Draft: t",
        "description": "b",
        "labels": "deps,prod",
        "assignee_ids": [1],
        "reviewer_ids": [1],
    }
    gl.open_pr(REPO, BRANCH, "main", "t", "b", reviewers=["mona"])
    assert len(rsps.calls) == 3  # the second MR did not look mona up again


def test_update_mr_in_one_request(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.put(f"{GL}/projects/acme%2Fdeploy/merge_requests/4", json=fx("mr"))
    pr = gl.update_pr(REPO, 4, PrUpdate(title="new", body="desc", labels=["a"], draft=False))
    assert pr.number == 4
    assert sent(rsps.calls[0]) == {"title": "new", "description": "desc", "labels": "a"}


def test_draft_toggle_keeps_the_title(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{P}/merge_requests/4", json=fx("mr"))
    rsps.put(f"{P}/merge_requests/4", json=fx("mr"))
    gl.update_pr(REPO, 4, PrUpdate(draft=True))
    assert sent(rsps.calls[1]) == {"title": "Draft: chore(prod): bump web to 1.2.3"}


def draft_mr() -> dict[str, Any]:
    return {**fx("mr"), "title": "Draft: chore(prod): bump web to 1.2.3", "draft": True}


def test_a_draft_mr_reads_with_a_bare_title_and_the_draft_flag(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.get(f"{P}/merge_requests/4", json={**draft_mr(), "title": "[Draft] chore(prod): bump web to 1.2.3"})
    pr = gl.get_pr(REPO, 4)
    assert pr.draft and pr.title == "chore(prod): bump web to 1.2.3"


def test_a_new_title_keeps_a_draft_mr_a_draft(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    """GitLab reads "draft" from the title: sending a bare title would mark the MR ready."""
    rsps.get(f"{P}/merge_requests", json=[draft_mr()])
    rsps.put(f"{P}/merge_requests/4", json={**draft_mr(), "title": "Draft: new"})
    assert gl.find_pr(REPO, BRANCH) is not None  # the lifecycle always reads the MR first
    pr = gl.update_pr(REPO, 4, PrUpdate(title="new", body="desc"))
    assert sent(rsps.calls[1]) == {"title": "Draft: new", "description": "desc"}
    assert len(rsps.calls) == 2  # the draft state just read is reused
    assert pr.draft and pr.title == "new"


def test_a_new_title_on_an_mr_not_read_lately_reads_its_draft_state(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.get(f"{P}/merge_requests/4", json=draft_mr())
    rsps.put(f"{P}/merge_requests/4", json=draft_mr())
    gl.update_pr(REPO, 4, PrUpdate(title="new"))
    assert [c.request.method for c in rsps.calls] == ["GET", "PUT"]
    assert sent(rsps.calls[1]) == {"title": "Draft: new"}


def test_close_with_note(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.post(f"{P}/merge_requests/4/notes", json=fx("note"), status=201)
    rsps.put(f"{P}/merge_requests/4", json={**fx("mr"), "state": "closed"})
    gl.close_pr(REPO, 4, "closed: already applied")
    assert sent(rsps.calls[0]) == {"body": "closed: already applied"}
    assert sent(rsps.calls[1]) == {"state_event": "close"}


def test_merge_with_sha_and_mismatch(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.put(f"{P}/merge_requests/4/merge", json=fx("mr_merged"))
    rsps.put(f"{P}/merge_requests/5/merge", json=fx("sha_mismatch"), status=409)
    assert gl.merge_pr(REPO, 4, "squash", HEAD) is True
    assert sent(rsps.calls[0]) == {"squash": True, "sha": HEAD}
    with pytest.raises(Conflict, match="SHA does not match"):
        gl.merge_pr(REPO, 5, "merge", BASE)


@pytest.mark.parametrize("fixture", ["mr", "mr_with_old_pipeline"])
def test_no_auto_merge_before_a_pipeline_for_the_head(
    rsps: responses.RequestsMock, gl: GitLabForge, fixture: str
) -> None:
    rsps.get(f"{P}/merge_requests/4", json=fx(fixture))
    assert gl.enable_auto_merge(REPO, 4, "merge") is False
    assert len(rsps.calls) == 1  # no merge request sent


def test_auto_merge_once_the_head_pipeline_exists(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{P}/merge_requests/4", json=fx("mr_with_pipeline"))
    rsps.put(f"{P}/merge_requests/4/merge", json=fx("mr_auto_merge"))
    assert gl.enable_auto_merge(REPO, 4, "squash") is True
    assert sent(rsps.calls[1]) == {
        "sha": HEAD,
        "squash": True,
        "auto_merge": True,
        "merge_when_pipeline_succeeds": True,
    }


@pytest.mark.parametrize("kind", ["merge", "train"])
def test_a_merged_results_or_merge_train_pipeline_counts_for_the_head(
    rsps: responses.RequestsMock, gl: GitLabForge, kind: str
) -> None:
    """Such pipelines run on a merge commit (its sha is never the MR head); GitLab counts them when
    their source sha, the merge commit's last parent, is the head."""
    merge_sha = "7" * 40
    pipeline = {
        **fx("mr_with_pipeline")["head_pipeline"],
        "sha": merge_sha,
        "ref": f"refs/merge-requests/4/{kind}",
    }
    rsps.get(f"{P}/merge_requests/4", json={**fx("mr_with_pipeline"), "head_pipeline": pipeline})
    commit = {**fx("commit_created"), "id": merge_sha, "parent_ids": [BASE, HEAD]}
    rsps.get(f"{P}/repository/commits/{merge_sha}", json=commit)
    rsps.put(f"{P}/merge_requests/4/merge", json=fx("mr_auto_merge"))
    assert gl.enable_auto_merge(REPO, 4, "merge") is True
    assert len(rsps.calls) == 3


def test_a_merged_results_pipeline_of_an_older_head_does_not_count(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    merge_sha = "7" * 40
    pipeline = {
        **fx("mr_with_pipeline")["head_pipeline"],
        "sha": merge_sha,
        "ref": "refs/merge-requests/4/merge",
    }
    rsps.get(f"{P}/merge_requests/4", json={**fx("mr_with_pipeline"), "head_pipeline": pipeline})
    commit = {**fx("commit_created"), "id": merge_sha, "parent_ids": [BASE, "8" * 40]}
    rsps.get(f"{P}/repository/commits/{merge_sha}", json=commit)
    assert gl.enable_auto_merge(REPO, 4, "merge") is False
    assert len(rsps.calls) == 2  # no merge request sent


def test_note_and_award_emoji(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.post(f"{P}/merge_requests/4/notes", json=fx("note"), status=201)
    rsps.post(f"{P}/merge_requests/4/notes/302/award_emoji", json=fx("award_emoji"), status=201)
    assert gl.comment(REPO, 4, "hi") == "302"
    gl.react(REPO, 4, 302, Reaction.DONE)
    assert sent(rsps.calls[1]) == {"name": "rocket"}


def test_permission_from_effective_membership(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{GL}/users", json=fx("users_mona"))
    rsps.get(f"{P}/members/all/1", json=fx("member_maintainer"))
    assert gl.permission(REPO, "mona") is Permission.MAINTAIN
    assert rsps.calls[0].request.params == {"username": "mona"}


def test_permission_of_unknown_user_or_non_member(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{GL}/users", json=[])
    assert gl.permission(REPO, "ghost") is Permission.NONE
    rsps.get(f"{GL}/users", json=fx("users_mona"))
    rsps.get(f"{P}/members/all/1", json={"message": "404 Not found"}, status=404)
    gl._user_ids.clear()
    assert gl.permission(REPO, "mona") is Permission.NONE


@pytest.mark.parametrize(
    ("level", "perm"),
    [
        (50, Permission.ADMIN),
        (40, Permission.MAINTAIN),
        (30, Permission.WRITE),
        (20, Permission.TRIAGE),
        (15, Permission.READ),
        (10, Permission.READ),
        (5, Permission.NONE),
        (0, Permission.NONE),
    ],
)
def test_access_levels(level: int, perm: Permission) -> None:
    assert access_to_permission(level) is perm


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, {"message": "404 Project Not Found"}, NotFound),
        (403, {"message": "403 Forbidden"}, PermissionDenied),
        (400, {"message": {"labels": ["is invalid"]}}, ValidationFailed),
        (
            400,
            {"message": "You are attempting to update a file that has changed since you started editing it."},
            Conflict,
        ),
        (500, {"message": "500 Internal Server Error"}, Transient),
    ],
)
def test_error_mapping(
    rsps: responses.RequestsMock, gl: GitLabForge, status: int, body: Any, kind: type[Exception]
) -> None:
    rsps.get(f"{P}/repository/branches/main", json=body, status=status)
    with pytest.raises(kind):
        gl.branch_head(REPO, "main")


def test_429_carries_retry_after_and_does_not_sleep(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(
        f"{P}/repository/branches/main",
        body="Retry later\n",
        status=429,
        headers={"Retry-After": "42", "RateLimit-Remaining": "0"},
    )
    with pytest.raises(RateLimited) as err:
        gl.branch_head(REPO, "main")
    assert err.value.retry_after == 42.0
    assert len(rsps.calls) == 1  # python-gitlab's built-in sleep-and-retry is not on our path


def test_commits_and_changed_files_share_one_compare(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    diffs = [
        {
            "old_path": "apps/web.yaml",
            "new_path": "apps/web.yaml",
            "a_mode": "100644",
            "b_mode": "100644",
            "new_file": False,
            "renamed_file": False,
            "deleted_file": False,
            "diff": "@@ -1 +1 @@",
        },
        {
            "old_path": "apps/old.yaml",
            "new_path": "apps/new.yaml",
            "a_mode": "100644",
            "b_mode": "100644",
            "new_file": False,
            "renamed_file": True,
            "deleted_file": False,
            "diff": "",
        },
    ]
    rsps.get(f"{P}/repository/compare", json={**fx("compare"), "diffs": diffs})
    assert len(gl.commits_between(REPO, BASE, HEAD)) == 2
    assert gl.changed_files(REPO, BASE, HEAD) == ["apps/web.yaml", "apps/new.yaml", "apps/old.yaml"]
    assert len(rsps.calls) == 1


# --- python-gitlab underneath: no sleeping, no retrying, its user agent -------------------------
CALLS: dict[str, Any] = {
    "read_file": lambda gl: gl.read_file(REPO, "a.yaml", "main"),
    "list_tree": lambda gl: gl.list_tree(REPO, "main"),
    "branch_head": lambda gl: gl.branch_head(REPO, "main"),
    "commits_between": lambda gl: gl.commits_between(REPO, BASE, HEAD),
    "release": lambda gl: gl.release(REPO, ("v1",)),
    "commit_files": lambda gl: gl.commit_files(
        REPO, BRANCH, parent=BASE, changes=[FileChange("a", b"x")], message="m", expected_head=None
    ),
    "set_branch": lambda gl: gl.set_branch(REPO, BRANCH, BASE, expected_head=None),
    "delete_branch": lambda gl: gl.delete_branch(REPO, BRANCH),
    "find_pr": lambda gl: gl.find_pr(REPO, BRANCH),
    "last_pr": lambda gl: gl.last_pr(REPO, BRANCH),
    "get_pr": lambda gl: gl.get_pr(REPO, 4),
    "open_pr": lambda gl: gl.open_pr(REPO, BRANCH, "main", "t", "b"),
    "update_pr": lambda gl: gl.update_pr(REPO, 4, PrUpdate(body="b")),
    "close_pr": lambda gl: gl.close_pr(REPO, 4),
    "reopen_pr": lambda gl: gl.reopen_pr(REPO, 4),
    "merge_pr": lambda gl: gl.merge_pr(REPO, 4, "merge", HEAD),
    "enable_auto_merge": lambda gl: gl.enable_auto_merge(REPO, 4, "merge"),
    "disable_auto_merge": lambda gl: gl.disable_auto_merge(REPO, 4),
    "comment": lambda gl: gl.comment(REPO, 4, "hi"),
    "set_status": lambda gl: gl.set_status(REPO, HEAD, "success", "ctx", "d"),
    "react": lambda gl: gl.react(REPO, 4, 302, Reaction.DONE),
    "permission": lambda gl: gl.permission(REPO, "mona"),
    "team_member": lambda gl: gl.team_member(REPO, "acme/ops", "mona"),
}


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-gitlab sleeps through ``time.sleep`` in ``gitlab.utils``: any sleep fails the test."""
    import gitlab.utils

    def refuse(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s inside a forge call")

    monkeypatch.setattr(gitlab.utils.time, "sleep", refuse)


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.usefixtures("no_sleep")
def test_every_call_gives_a_429_back_with_its_retry_after_at_once(
    rsps: responses.RequestsMock, gl: GitLabForge, name: str
) -> None:
    """python-gitlab's default sleeps ``Retry-After`` and retries up to 10 times inside the call; on
    every path of ours a 429 is one request and a RateLimited carrying GitLab's wait."""
    headers = {"Retry-After": "42", "RateLimit-Remaining": "0"}
    for method in ("GET", "POST", "PUT", "DELETE"):
        rsps.add(
            method, re.compile(rf"{re.escape(GL)}/.*"), status=429, body="Retry later\n", headers=headers
        )
    with pytest.raises(RateLimited) as err:
        CALLS[name](gl)
    assert err.value.retry_after == 42.0
    assert len(rsps.calls) == 1
    for method in ("GET", "POST", "PUT", "DELETE"):  # the strict mock: unused methods are fine here
        rsps.remove(method, re.compile(rf"{re.escape(GL)}/.*"))


@pytest.mark.usefixtures("no_sleep")
def test_a_5xx_is_transient_and_not_retried(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.post(f"{P}/merge_requests", status=503, json={"message": "503 Service Unavailable"})
    with pytest.raises(Transient, match="HTTP 503"):
        gl.open_pr(REPO, BRANCH, "main", "t", "b")
    assert len(rsps.calls) == 1


def test_requests_are_python_gitlabs(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    """Sent by python-gitlab's session (its user agent and token header), not by a client of ours."""
    import gitlab

    rsps.get(f"{P}/repository/branches/main", json=fx("branch"))
    gl.branch_head(REPO, "main")
    (call,) = rsps.calls
    assert call.request.headers["User-Agent"] == f"python-gitlab/{gitlab.__version__}"
    assert call.request.headers["PRIVATE-TOKEN"] == "glpat-secret"


def test_a_python_gitlab_error_without_its_answer_still_maps_by_status() -> None:
    """The table's fallback when no failed answer was kept: python-gitlab's status and message, or
    Transient for an error with no status (an answer that is not JSON)."""
    import gitlab

    from bot.forges.errors_map import error_for_gitlab

    conflict = gitlab.exceptions.GitlabHttpError(b"Branch already exists", response_code=400)
    assert isinstance(error_for_gitlab(conflict, "create b", None), Conflict)
    parsing = gitlab.exceptions.GitlabParsingError("Failed to parse the server message")
    assert isinstance(error_for_gitlab(parsing, "read b", None), Transient)
