"""GitHubForge (on PyGithub) against `responses`: the exact requests we send, their count, what we
return, and how every failed write is decided by reading the branch afterwards."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import responses
import responses.matchers

from bot.core.ports import (
    Blob,
    BlobLister,
    FileChange,
    Forge,
    ForgeInfo,
    Observation,
    Permission,
    PrUpdate,
    Reaction,
)
from bot.errors import Conflict, NotFound, Transient, ValidationFailed
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import TokenCredentials
from tests.fakes.github_shapes import content_file
from tests.forges.api import github_json as fx
from tests.forges.api import sent

CONFIGURED = "https://api.github.com"  # what a user writes
API = "https://api.github.com:443"  # PyGithub names the port in every URL it requests
GQL = f"{API}/graphql"
REPO = "acme/deploy"
BRANCH = "manifest-bot/prod/web"
BASE = "1" * 40
HEAD = "2" * 40
NEW = "5" * 40


@pytest.fixture
def gh() -> GitHubForge:
    return GitHubForge(
        ForgeInfo(name="gh", kind="github"), TokenCredentials("ghp_secret"), api_url=CONFIGURED
    )


def test_is_a_forge(gh: GitHubForge) -> None:
    assert isinstance(gh, Forge)


def test_read_file_is_one_contents_request_with_exact_bytes(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    data = b"\xef\xbb\xbfimage: web:1.0\r\n"  # BOM and CRLF survive: base64, not text
    rsps.get(
        f"{API}/repos/{REPO}/contents/apps/web%20app.yaml",
        json=content_file(API, REPO, "apps/web app.yaml", data, "main"),
    )
    assert gh.read_file(REPO, "apps/web app.yaml", "main") == data
    (call,) = rsps.calls
    assert call.request.params == {"ref": "main"}
    assert call.request.headers["Authorization"] == "token ghp_secret"


def test_a_file_over_one_megabyte_is_read_from_the_blobs_api(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    data = b"x: 1\n" * 300_000
    big = {**content_file(API, REPO, "big.yaml", data, "main"), "content": "", "encoding": "none"}
    rsps.get(f"{API}/repos/{REPO}/contents/big.yaml", json=big)
    rsps.get(
        f"{API}/repos/{REPO}/git/blobs/{big['sha']}",
        json={
            "sha": big["sha"],
            "node_id": "B_1",
            "url": f"{API}/repos/{REPO}/git/blobs/{big['sha']}",
            "size": len(data),
            "content": base64.b64encode(data).decode(),
            "encoding": "base64",
        },
    )
    assert gh.read_file(REPO, "big.yaml", "main") == data
    assert len(rsps.calls) == 2


def test_a_directory_is_not_a_file(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    entry = {**content_file(API, REPO, "apps/web.yaml", b"x", "main"), "type": "file"}
    rsps.get(f"{API}/repos/{REPO}/contents/apps", json=[entry])
    with pytest.raises(NotFound, match="not a file"):
        gh.read_file(REPO, "apps", "main")


def test_read_missing_file_is_not_found(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(f"{API}/repos/{REPO}/contents/nope.yaml", json=fx("not_found"), status=404)
    with pytest.raises(NotFound, match=r"nope\.yaml"):
        gh.read_file(REPO, "nope.yaml", "main")


def test_list_tree_returns_blobs_only(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(f"{API}/repos/{REPO}/git/trees/main", json=fx("tree"))
    assert gh.list_tree(REPO, "main") == ["apps/web.yaml", "apps/api/values.yaml", "README.md"]
    assert rsps.calls[0].request.params == {"recursive": "1"}


def test_list_blobs_gives_blob_shas_and_sizes_in_the_same_one_request(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.get(f"{API}/repos/{REPO}/git/trees/{BASE}", json=fx("tree"))
    assert isinstance(gh, BlobLister)
    assert gh.list_blobs(REPO, BASE) == {
        "apps/web.yaml": Blob("b" * 40, 230),
        "apps/api/values.yaml": Blob("c" * 40, 120),
        "README.md": Blob("d" * 40, 30),
    }
    assert len(rsps.calls) == 1


def test_truncated_tree_is_refused_not_silently_partial(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.get(f"{API}/repos/{REPO}/git/trees/main", json={**fx("tree"), "truncated": True})
    with pytest.raises(ValidationFailed, match="too large"):
        gh.list_tree(REPO, "main")


def _head(oid: str | None) -> dict[str, Any]:
    ref = {"target": {"oid": oid}} if oid else None
    return {"data": {"repository": {"id": "R_kgDOABCDEF", "ref": ref}}}


def test_branch_head_and_missing_branch(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(GQL, json=_head(BASE))
    rsps.post(GQL, json=_head(None))
    assert gh.branch_head(REPO, "main") == BASE
    assert gh.branch_head(REPO, BRANCH) is None
    assert len(rsps.calls) == 2
    assert sent(rsps.calls[0])["variables"] == {"owner": "acme", "name": "deploy", "ref": "refs/heads/main"}


def test_branch_head_of_missing_repo_is_not_found(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(
        GQL,
        json={
            "data": {"repository": None},
            "errors": [
                {
                    "type": "NOT_FOUND",
                    "path": ["repository"],
                    "message": "Could not resolve to a Repository with the name 'acme/deploy'.",
                }
            ],
        },
    )
    with pytest.raises(NotFound):
        gh.branch_head(REPO, "main")


def test_commits_between_keeps_every_author(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(f"{API}/repos/{REPO}/compare/{BASE}...{HEAD}", json=fx("compare"))
    commits = gh.commits_between(REPO, BASE, HEAD)
    assert [c.author_login for c in commits] == ["manifest-bot[bot]", "octocat"]
    assert commits[1].parents == ("4" * 40,)
    assert commits[1].author_email == "mona@example.com"


def _commit_input(call: Any) -> dict[str, Any]:
    body = sent(call)
    assert "createCommitOnBranch" in body["query"]
    return body["variables"]["input"]


CHANGES = [FileChange("apps/web.yaml", b"image: web:1.2.3\n"), FileChange("old.yaml", None)]
COMMITTED = {
    "data": {"updateRefs": {"clientMutationId": None}, "createCommitOnBranch": {"commit": {"oid": NEW}}}
}
OTHER = "9" * 40


def _exists(*present: bool) -> dict[str, Any]:
    """The answer to the deleted-paths check: ``object`` is null for a path the parent lacks."""
    return {
        "data": {
            "repository": {f"f{i}": {"__typename": "Blob"} if p else None for i, p in enumerate(present)}
        }
    }


def _at(oid: str | None, parent: str = BASE, message: str = "m") -> dict[str, Any]:
    """The branch as the race decision reads it (``HEAD_COMMIT``)."""
    target = {"oid": oid, "message": message, "parents": {"nodes": [{"oid": parent}]}} if oid else None
    return {"data": {"repository": {"id": "R_kgDOABCDEF", "ref": {"target": target} if target else None}}}


UNTYPED = {
    "data": {"createCommitOnBranch": None},
    "errors": [
        {
            "path": ["createCommitOnBranch"],
            "locations": [{"line": 1, "column": 60}],
            "message": "Something went wrong while executing your query. Please include `AB12` in any email.",
        }
    ],
}


def _commit(gh: GitHubForge, *, expected: str | None, parent: str = BASE, changes: Any = None) -> str:
    return gh.commit_files(
        REPO,
        BRANCH,
        parent=parent,
        changes=changes or [FileChange("a", b"x")],
        message="m",
        expected_head=expected,
    )


def test_commit_on_new_branch_is_one_request_after_reading_base(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.post(GQL, json=_head(BASE))
    rsps.post(GQL, json=_exists(True))
    rsps.post(GQL, json=COMMITTED)
    assert gh.branch_head(REPO, "main") == BASE  # caches the repository node id
    sha = gh.commit_files(
        REPO,
        BRANCH,
        parent=BASE,
        changes=CHANGES,
        message="chore(prod): bump web to 1.2.3\n\nfrom CI run 42",
        expected_head=None,
    )
    assert sha == NEW
    assert len(rsps.calls) == 3  # base head, the deleted path's check, the commit
    assert sent(rsps.calls[1])["variables"] == {"owner": "acme", "name": "deploy", "e0": f"{BASE}:old.yaml"}
    body = sent(rsps.calls[2])
    assert body["query"].index("updateRefs") < body["query"].index("createCommitOnBranch")
    assert body["variables"] == {
        "refs": {
            "repositoryId": "R_kgDOABCDEF",
            "refUpdates": [
                {"name": f"refs/heads/{BRANCH}", "beforeOid": "0" * 40, "afterOid": BASE, "force": True}
            ],
        },
        "commit": {
            "branch": {"repositoryNameWithOwner": REPO, "branchName": BRANCH},
            "message": {"headline": "chore(prod): bump web to 1.2.3", "body": "from CI run 42"},
            "expectedHeadOid": BASE,
            "fileChanges": {
                "additions": [
                    {"path": "apps/web.yaml", "contents": base64.b64encode(b"image: web:1.2.3\n").decode()}
                ],
                "deletions": [{"path": "old.yaml"}],
            },
        },
    }


def test_a_deletion_of_a_path_the_parent_lacks_is_left_out(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    """createCommitOnBranch refuses the whole commit ("A path was requested for deletion which does
    not exist as of commit oid …"): such deletions are filtered against the parent first."""
    rsps.post(GQL, json=_exists(True, False))
    rsps.post(GQL, json=fx("create_commit_on_branch"))
    changes = [FileChange("a", b"x"), FileChange("kept-gone.yaml", None), FileChange("never.yaml", None)]
    assert _commit(gh, expected=HEAD, parent=HEAD, changes=changes) == NEW
    assert _commit_input(rsps.calls[1])["fileChanges"]["deletions"] == [{"path": "kept-gone.yaml"}]


def test_only_deletions_of_missing_paths_write_nothing(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(GQL, json=_exists(False))
    assert _commit(gh, expected=HEAD, parent=HEAD, changes=[FileChange("never.yaml", None)]) == HEAD
    assert len(rsps.calls) == 1


def test_commit_when_branch_already_exists_elsewhere_is_conflict(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.post(GQL, json=fx("repo_id"))
    rsps.post(
        GQL,
        json={
            "data": {"updateRefs": None, "createCommitOnBranch": None},
            "errors": [
                {"type": "UNPROCESSABLE", "path": ["updateRefs"], "message": "Reference already exists"},
                {
                    "type": "STALE_DATA",
                    "path": ["createCommitOnBranch"],
                    "message": f'Expected branch to point to "{BASE}" but it did not.  Pull and try again.',
                },
            ],
        },
    )
    rsps.post(GQL, json=_at(OTHER, parent=OTHER))  # someone else's branch of that name
    with pytest.raises(Conflict, match="moved meanwhile"):
        _commit(gh, expected=None)
    assert len(rsps.calls) == 3  # repository id, the mutation, the branch read that decides


def test_refused_ref_step_with_landed_commit_is_success(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    """The branch already pointed at the parent (an earlier attempt created it): nothing lost."""
    rsps.post(GQL, json=fx("repo_id"))
    rsps.post(
        GQL,
        json={
            "data": {"updateRefs": None, "createCommitOnBranch": {"commit": {"oid": NEW}}},
            "errors": [{"type": "UNPROCESSABLE", "path": ["updateRefs"], "message": "already exists"}],
        },
    )
    rsps.post(GQL, json=_at(NEW))
    assert _commit(gh, expected=None) == NEW


def test_append_commit_is_one_request_with_expected_head(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.post(GQL, json=fx("create_commit_on_branch"))
    assert _commit(gh, expected=HEAD, parent=HEAD) == NEW
    assert len(rsps.calls) == 1
    assert _commit_input(rsps.calls[0])["expectedHeadOid"] == HEAD


def test_branch_moved_under_us_is_conflict(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(GQL, json=fx("create_commit_stale"))
    rsps.post(GQL, json=_at(OTHER, parent=HEAD, message="a person's commit"))
    with pytest.raises(Conflict, match="moved meanwhile"):
        _commit(gh, expected=HEAD, parent=HEAD)


def test_an_untyped_200_error_with_the_branch_unchanged_is_transient(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    """GitHub answers some server faults with HTTP 200 and an untyped error: retry, not give up."""
    rsps.post(GQL, json=UNTYPED)
    rsps.post(GQL, json=_at(HEAD, parent=BASE, message="the bot's earlier commit"))
    with pytest.raises(Transient, match="nothing was written"):
        _commit(gh, expected=HEAD, parent=HEAD)


def test_a_typed_refusal_with_the_branch_unchanged_is_not_taken_as_a_race(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.post(GQL, json=fx("create_commit_stale"))  # STALE_DATA, yet the branch did not move
    rsps.post(GQL, json=_at(HEAD, parent=BASE, message="the bot's earlier commit"))
    with pytest.raises(Transient):
        _commit(gh, expected=HEAD, parent=HEAD)


def test_a_lost_answer_whose_commit_landed_is_success(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(GQL, status=502, json={"message": "Server Error"})
    rsps.post(GQL, json=_at(NEW, parent=HEAD, message="m"))  # our commit, on our parent, our message
    assert _commit(gh, expected=HEAD, parent=HEAD) == NEW


def test_ref_moved_but_commit_failed_is_transient_not_conflict(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    """``updateRefs`` and ``createCommitOnBranch`` are not a transaction: the branch now sits on the
    parent without our commit. The next reconcile commits on it (tests/services: repaired)."""
    rsps.post(GQL, json=fx("repo_id"))
    rsps.post(
        GQL,
        json={**UNTYPED, "data": {"updateRefs": {"clientMutationId": None}, "createCommitOnBranch": None}},
    )
    rsps.post(GQL, json=_at(BASE, parent="0" * 40, message="base"))
    with pytest.raises(Transient, match="did not land"):
        _commit(gh, expected=HEAD, parent=BASE)


def test_when_the_branch_cannot_be_read_the_original_error_stands(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.post(GQL, json=fx("create_commit_stale"))
    rsps.post(GQL, status=502, json={"message": "Server Error"})
    with pytest.raises(Transient, match="Expected branch to point to"):
        _commit(gh, expected=HEAD, parent=HEAD)


def test_regenerate_moves_ref_and_commits_in_one_request(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.get(f"{API}/repos/{REPO}/pulls/7", json=fx("pull"))
    rsps.post(GQL, json=COMMITTED)
    gh.get_pr(REPO, 7)  # the PR answer carries the repository node id
    _commit(gh, expected=HEAD)
    assert len(rsps.calls) == 2
    variables = sent(rsps.calls[1])["variables"]
    assert variables["refs"] == {
        "repositoryId": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "refUpdates": [{"name": f"refs/heads/{BRANCH}", "beforeOid": HEAD, "afterOid": BASE, "force": True}],
    }
    assert variables["commit"]["expectedHeadOid"] == BASE


def test_repo_node_id_comes_from_a_pr_already_read(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(f"{API}/repos/{REPO}/pulls/7", json=fx("pull"))
    rsps.post(GQL, json=fx("update_refs"))
    gh.get_pr(REPO, 7)
    gh.set_branch(REPO, BRANCH, BASE, expected_head=HEAD)
    assert len(rsps.calls) == 2  # no repository id lookup
    assert sent(rsps.calls[1])["variables"]["input"]["repositoryId"] == "MDEwOlJlcG9zaXRvcnkxMjk2MjY5"


def test_refused_ref_update_is_decided_by_the_branch(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    refused = {"data": {"updateRefs": None}, "errors": [{"message": "Reference cannot be updated"}]}
    rsps.post(GQL, json=fx("repo_id"))
    rsps.post(GQL, json=refused)
    rsps.post(GQL, json=_at(OTHER))
    with pytest.raises(Conflict):
        gh.set_branch(REPO, BRANCH, BASE, expected_head=HEAD)
    rsps.post(GQL, json=refused)
    rsps.post(GQL, json=_at(BASE))  # already where we wanted it: done
    gh.set_branch(REPO, BRANCH, BASE, expected_head=HEAD)


def test_empty_commit_is_refused_without_a_request(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    with pytest.raises(ValidationFailed, match="empty commit"):
        gh.commit_files(REPO, BRANCH, parent=BASE, changes=[], message="m", expected_head=BASE)
    assert len(rsps.calls) == 0


def test_delete_branch_tolerates_missing(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.delete(
        f"{API}/repos/{REPO}/git/refs/heads/{BRANCH}",
        status=422,
        json={"message": "Reference does not exist"},
    )
    gh.delete_branch(REPO, BRANCH)
    assert len(rsps.calls) == 1


def test_find_pr_pages_through_and_checks_marker(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    page2 = f"{API}/repos/{REPO}/pulls?head=acme%3A{BRANCH}&state=open&per_page=100&page=2"
    first = fx("pulls_page1")
    first += [{**first[-1], "number": 1000 + n} for n in range(100 - len(first))]  # a full page
    rsps.get(
        f"{API}/repos/{REPO}/pulls",
        json=first,
        headers={"Link": f'<{page2}>; rel="next", <{page2}>; rel="last"'},
    )
    rsps.get(f"{API}/repos/{REPO}/pulls", json=fx("pulls_page2"))
    pr = gh.find_pr(REPO, BRANCH, marker="manifest-bot:group=prod/web")
    assert pr is not None
    assert (pr.number, pr.head_sha, pr.state, pr.labels) == (7, HEAD, "open", ("dependencies",))
    assert len(rsps.calls) == 2
    assert rsps.calls[0].request.params == {"head": f"acme:{BRANCH}", "state": "open", "per_page": "100"}
    assert rsps.calls[1].request.params["page"] == "2"


def test_last_pr_reads_one_page_of_every_state_and_takes_the_newest(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    newer = fx("pulls_page2")[0]
    older = {**fx("pulls_page1")[0], "body": newer["body"], "state": "closed"}  # both the group's
    merged = {**newer, "state": "closed", "merged_at": "2024-05-01T10:00:00Z"}
    rsps.get(f"{API}/repos/{REPO}/pulls", json=[older, merged])  # whatever order the page comes in
    pr = gh.last_pr(REPO, BRANCH, marker="manifest-bot:group=prod/web")
    assert pr is not None and (pr.number, pr.state) == (merged["number"], "merged")
    assert rsps.calls[0].request.params == {
        "head": f"acme:{BRANCH}",
        "state": "all",
        "sort": "created",
        "direction": "desc",
        "per_page": "100",
    }
    rsps.get(f"{API}/repos/{REPO}/pulls", json=[older])
    assert gh.last_pr(REPO, BRANCH, marker="not in any body") is None


def test_find_pr_none_when_no_open_pr(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(f"{API}/repos/{REPO}/pulls", json=[])
    assert gh.find_pr(REPO, BRANCH, marker="x") is None


def test_open_pr_with_labels_assignees_reviewers(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(f"{API}/repos/{REPO}/pulls", json=fx("pull"), status=201)
    rsps.patch(f"{API}/repos/{REPO}/issues/7", json={"number": 7})
    rsps.post(f"{API}/repos/{REPO}/pulls/7/requested_reviewers", json=fx("pull"), status=201)
    pr = gh.open_pr(
        REPO,
        BRANCH,
        "main",
        "t",
        "b",
        labels=["deps", "prod"],
        reviewers=["mona", "acme/sre"],
        assignees=["hubot"],
    )
    assert pr.number == 7 and pr.labels == ("deps", "prod")
    assert len(rsps.calls) == 3
    assert sent(rsps.calls[0]) == {"title": "t", "head": BRANCH, "base": "main", "body": "b", "draft": False}
    assert sent(rsps.calls[1]) == {"labels": ["deps", "prod"], "assignees": ["hubot"]}
    assert sent(rsps.calls[2]) == {"reviewers": ["mona"], "team_reviewers": ["sre"]}


def test_open_plain_pr_is_one_request(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(f"{API}/repos/{REPO}/pulls", json=fx("pull"), status=201)
    gh.open_pr(REPO, BRANCH, "main", "t", "b")
    assert len(rsps.calls) == 1


def test_update_pr_title_body_and_draft(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.patch(f"{API}/repos/{REPO}/pulls/7", json=fx("pull"))
    rsps.post(GQL, json={"data": {"convertPullRequestToDraft": {"pullRequest": {"number": 7}}}})
    pr = gh.update_pr(REPO, 7, PrUpdate(title="new", body="body", draft=True))
    assert pr.draft is True
    assert sent(rsps.calls[0]) == {"title": "new", "body": "body"}
    # the PR's node id came from the PATCH answer: no lookup before the mutation
    assert sent(rsps.calls[1])["variables"] == {"input": {"pullRequestId": "PR_kwDOABCD0007"}}
    assert len(rsps.calls) == 2


def test_close_with_comment(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(f"{API}/repos/{REPO}/issues/7/comments", json=fx("comment"), status=201)
    rsps.patch(f"{API}/repos/{REPO}/pulls/7", json={**fx("pull"), "state": "closed"})
    gh.close_pr(REPO, 7, "Already applied on main.")
    assert sent(rsps.calls[0]) == {"body": "Already applied on main."}
    assert sent(rsps.calls[1]) == {"state": "closed"}


def test_merge_checks_head_and_maps_conflict(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.put(f"{API}/repos/{REPO}/pulls/7/merge", json=fx("merged"))
    rsps.put(f"{API}/repos/{REPO}/pulls/8/merge", json=fx("merge_conflict"), status=409)
    assert gh.merge_pr(REPO, 7, "squash", HEAD) is True
    assert sent(rsps.calls[0]) == {"merge_method": "squash", "sha": HEAD}
    with pytest.raises(Conflict, match="Head branch was modified"):
        gh.merge_pr(REPO, 8, "merge", HEAD)


def test_auto_merge_enabled_and_not_allowed(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(f"{API}/repos/{REPO}/pulls/7", json=fx("pull"))
    rsps.post(GQL, json=fx("auto_merge_enabled"))
    rsps.post(GQL, json=fx("auto_merge_not_allowed"))
    gh.get_pr(REPO, 7)
    assert gh.enable_auto_merge(REPO, 7, "squash") is True
    assert sent(rsps.calls[1])["variables"]["input"] == {
        "pullRequestId": "PR_kwDOABCD0007",
        "mergeMethod": "SQUASH",
    }
    assert gh.enable_auto_merge(REPO, 7, "squash") is False


def test_auto_merge_looks_up_unknown_pr_id(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(GQL, json={"data": {"repository": {"pullRequest": {"id": "PR_x"}}}})
    rsps.post(GQL, json=fx("auto_merge_enabled"))
    assert gh.enable_auto_merge(REPO, 9, "merge") is True
    assert sent(rsps.calls[0])["variables"] == {"owner": "acme", "name": "deploy", "number": 9}
    assert sent(rsps.calls[1])["variables"]["input"]["pullRequestId"] == "PR_x"


def test_comment_and_react(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(f"{API}/repos/{REPO}/issues/7/comments", json=fx("comment"), status=201)
    rsps.post(f"{API}/repos/{REPO}/issues/comments/1/reactions", json=fx("reaction"), status=201)
    assert gh.comment(REPO, 7, "hello") == "1"
    gh.react(REPO, 7, 1, Reaction.SEEN)
    assert sent(rsps.calls[1]) == {"content": "eyes"}


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({"permission": "write", "role_name": "maintain"}, 200, Permission.MAINTAIN),
        ({"permission": "write", "role_name": "write"}, 200, Permission.WRITE),
        ({"permission": "read", "role_name": "triage"}, 200, Permission.TRIAGE),
        ({"permission": "admin", "role_name": "custom-deployer"}, 200, Permission.ADMIN),
        ({"permission": "none", "role_name": "none"}, 200, Permission.NONE),
        ({"message": "Not Found"}, 404, Permission.NONE),
    ],
)
def test_permission(
    rsps: responses.RequestsMock, gh: GitHubForge, body: dict[str, str], status: int, expected: Permission
) -> None:
    rsps.get(f"{API}/repos/{REPO}/collaborators/octocat/permission", json=body, status=status)
    assert gh.permission(REPO, "octocat") is expected


def test_enterprise_base_url_for_rest_and_graphql(rsps: responses.RequestsMock) -> None:
    ghe = GitHubForge(
        ForgeInfo(name="ghe", kind="github"), TokenCredentials("t"), api_url="https://ghe.corp/api/v3"
    )
    rsps.post("https://ghe.corp:443/api/graphql", json=_head(BASE))  # PyGithub names the port
    rsps.post("https://ghe.corp:443/api/graphql", json=fx("create_commit_on_branch"))
    assert ghe.branch_head(REPO, "main") == BASE
    ghe.commit_files(
        REPO, "main", parent=BASE, changes=[FileChange("a", b"x")], message="m", expected_head=BASE
    )
    assert len(rsps.calls) == 2


def test_commits_and_changed_files_share_one_compare(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    files = [
        {"sha": "b" * 40, "filename": "apps/web.yaml", "status": "modified", "additions": 1, "deletions": 1},
        {
            "sha": "c" * 40,
            "filename": "apps/new.yaml",
            "status": "renamed",
            "previous_filename": "apps/old.yaml",
        },
    ]
    rsps.get(f"{API}/repos/{REPO}/compare/{BASE}...{HEAD}", json={**fx("compare"), "files": files})
    assert len(gh.commits_between(REPO, BASE, HEAD)) == 2
    assert gh.changed_files(REPO, BASE, HEAD) == ["apps/web.yaml", "apps/new.yaml", "apps/old.yaml"]
    assert len(rsps.calls) == 1


def _pr_node(number: int, body: str, owner_repo: str) -> dict[str, Any]:
    """A PullRequest node as GitHub's GraphQL API returns it for the observe query."""
    return {
        "id": f"PR_kwDOAbc{number}",
        "number": number,
        "title": "chore(prod): bump web to 1.1.0",
        "body": body,
        "url": f"https://github.com/{REPO}/pull/{number}",
        "state": "OPEN",
        "isDraft": False,
        "headRefName": BRANCH,
        "headRefOid": HEAD,
        "baseRefName": "main",
        "mergeable": "CONFLICTING",
        "author": {"login": "manifest-bot[bot]"},
        "headRepository": {"nameWithOwner": owner_repo},
        "labels": {"nodes": [{"name": "dependencies"}]},
    }


def test_observe_reads_base_head_and_our_pr_in_one_request(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    marker = '<!-- manifest-bot:{"group":"gh:acme/deploy:main:web"'
    nodes = [
        _pr_node(3, marker + "} -->", "someone/deploy"),  # a fork's PR from a same-named branch
        _pr_node(4, "no marker here", REPO),
        _pr_node(5, "body\n" + marker + ',"state":"open"} -->', REPO),
    ]
    merged = {**_pr_node(6, "body\n" + marker + "} -->", REPO), "state": "MERGED"}
    repo = {
        "id": "R_kgDOAbc",
        "ref": {"target": {"oid": BASE}},
        "head": {"target": {"oid": HEAD}},
        "pullRequests": {"nodes": nodes},
        "last": {"nodes": [merged, *nodes]},
    }
    rsps.post(GQL, json={"data": {"repository": repo}})
    rsps.post(GQL, json={"data": {"enablePullRequestAutoMerge": {"pullRequest": {"number": 5}}}})

    seen = gh.observe(REPO, "main", BRANCH, marker)

    assert (seen.base_sha, seen.head_sha) == (BASE, HEAD)
    # the newest of the branch's PRs with the marker, whatever its state; never a fork's
    assert seen.last_pr is not None and (seen.last_pr.number, seen.last_pr.state) == (6, "merged")
    pr = seen.pr
    assert pr is not None
    assert (pr.number, pr.head_sha, pr.state, pr.mergeable, pr.labels) == (
        5,
        HEAD,
        "open",
        False,
        ("dependencies",),
    )
    variables = sent(rsps.calls[0])["variables"]
    assert variables == {
        "owner": "acme",
        "name": "deploy",
        "base": "refs/heads/main",
        "headRef": f"refs/heads/{BRANCH}",
        "head": BRANCH,
    }
    # the PR's node id came with the answer: enabling auto-merge needs no lookup request
    assert gh.enable_auto_merge(REPO, 5, "squash") is True
    assert sent(rsps.calls[1])["variables"]["input"] == {
        "pullRequestId": "PR_kwDOAbc5",
        "mergeMethod": "SQUASH",
    }
    assert len(rsps.calls) == 2


def test_observe_without_base_branch_or_pr(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    empty = {"id": "R_1", "ref": None, "head": None, "pullRequests": {"nodes": []}, "last": {"nodes": []}}
    rsps.post(GQL, json={"data": {"repository": empty}})
    assert gh.observe(REPO, "main", BRANCH, "x") == Observation(None, None, None, None)


def test_find_pr_never_reads_mergeable_from_the_list(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    """The list endpoint (``pull-request-simple``) has no ``mergeable``: a stale one in an item is not
    believed, and PyGithub is never asked for it (it would fetch each PR again)."""
    item = {**fx("pulls_page2")[0], "mergeable": True}
    rsps.get(f"{API}/repos/{REPO}/pulls", json=[item])
    pr = gh.find_pr(REPO, BRANCH)
    assert pr is not None and pr.mergeable is None
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    "foreign",
    [
        "https://evil.example/repos/acme/deploy/pulls?page=2",  # PyGithub's own assert refuses this one
        "https://objects.githubusercontent.com/pulls?page=2",  # PyGithub would send the token here
    ],
)
def test_a_next_page_on_another_host_is_never_requested(
    rsps: responses.RequestsMock, gh: GitHubForge, foreign: str
) -> None:
    """Pages are asked of our own list URL (``?page=``), whatever ``Link: next`` names."""
    page1 = [{**fx("pulls_page2")[0], "body": "no marker"}]
    rsps.get(f"{API}/repos/{REPO}/pulls", json=page1, headers={"Link": f'<{foreign}>; rel="next"'})
    assert gh.find_pr(REPO, BRANCH, marker="manifest-bot:") is None
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [f"{API}/repos/{REPO}/pulls"]


@pytest.mark.parametrize(
    "foreign", ["https://evil.example/repos/acme/deploy/pulls/7", "https://objects.githubusercontent.com/p/7"]
)
def test_a_listed_pr_naming_another_host_is_refused_before_it_is_read(
    rsps: responses.RequestsMock, gh: GitHubForge, foreign: str
) -> None:
    """A list item PyGithub would complete from its ``url`` (here: ``draft`` missing) never sends the
    token elsewhere: the item is refused before any field is read."""
    item = {k: v for k, v in fx("pulls_page2")[0].items() if k != "draft"} | {"url": foreign}
    rsps.get(f"{API}/repos/{REPO}/pulls", json=[item])
    with pytest.raises(ValidationFailed, match="another host"):
        gh.find_pr(REPO, item["head"]["ref"])
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [f"{API}/repos/{REPO}/pulls"]


def test_open_prs_are_walked_page_by_page_from_our_own_url(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    other = fx("pulls_page2")[0]
    full = [{**other, "number": n, "body": "someone else's"} for n in range(100)]
    wanted = {**other, "number": 500, "body": "<!-- manifest-bot: x -->"}
    rsps.get(
        f"{API}/repos/{REPO}/pulls",
        json=full,
        match=[
            responses.matchers.query_param_matcher(
                {"state": "open", "head": f"acme:{other['head']['ref']}", "per_page": "100"}
            )
        ],
    )
    rsps.get(
        f"{API}/repos/{REPO}/pulls",
        json=[wanted],
        match=[
            responses.matchers.query_param_matcher(
                {"state": "open", "head": f"acme:{other['head']['ref']}", "per_page": "100", "page": "2"}
            )
        ],
    )
    found = gh.find_pr(REPO, other["head"]["ref"], marker="manifest-bot:")
    assert found is not None and found.number == 500
    assert len(rsps.calls) == 2


def test_observe_names_an_app_author_as_rest_does(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    """GraphQL gives a Bot's slug (``manifest-bot``); everywhere else it is ``manifest-bot[bot]``."""
    node = {**_pr_node(5, "marker", REPO), "author": {"__typename": "Bot", "login": "manifest-bot"}}
    repo = {"id": "R_1", "ref": {"target": {"oid": BASE}}, "pullRequests": {"nodes": [node]}}
    rsps.post(GQL, json={"data": {"repository": repo}})
    pr = gh.observe(REPO, "main", BRANCH, "marker").pr
    assert pr is not None and pr.author == "manifest-bot[bot]"


def test_no_retry_and_no_sleep_inside_a_call(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    """Retries and throttling are off: a 502 is one request and a Transient at once (the job retries)."""
    rsps.get(f"{API}/repos/{REPO}/contents/a.yaml", status=502, json={"message": "Server Error"})
    rsps.get(f"{API}/repos/{REPO}/contents/b.yaml", status=502, json={"message": "Server Error"})
    with pytest.raises(Transient):
        gh.read_file(REPO, "a.yaml", "main")
    with pytest.raises(Transient):
        gh.read_file(REPO, "b.yaml", "main")
    assert len(rsps.calls) == 2
