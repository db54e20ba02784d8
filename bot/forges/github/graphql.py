"""Every GraphQL document the GitHub adapter can send, and the small pure helpers around them.

Paths, refs and names always travel as variables, never spliced into a document, so the documents
are a closed set: ``documents()`` lists them all (with example variables) for the contract test that
validates each one against GitHub's published schema (``tests/contracts``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.ports import FileChange

COMMIT_ON_BRANCH = (
    "mutation($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }"
)
#: one document, two mutations run in order: move/create the ref (compare-and-swap), then commit
#: with ``expectedHeadOid`` = the parent. Not a transaction: the first can succeed and the second fail.
REF_THEN_COMMIT = (
    "mutation($refs: UpdateRefsInput!, $commit: CreateCommitOnBranchInput!) "
    "{ updateRefs(input: $refs) { clientMutationId } "
    "createCommitOnBranch(input: $commit) { commit { oid } } }"
)
UPDATE_REFS = "mutation($input: UpdateRefsInput!) { updateRefs(input: $input) { clientMutationId } }"
BRANCH_HEAD = (
    "query($owner: String!, $name: String!, $ref: String!) "
    "{ repository(owner: $owner, name: $name) { id ref(qualifiedName: $ref) { target { oid } } } }"
)
#: what a race decision reads after a failed write: the head, its parents and its message
HEAD_COMMIT = (
    "query($owner: String!, $name: String!, $ref: String!) "
    "{ repository(owner: $owner, name: $name) { id ref(qualifiedName: $ref) { target { oid "
    "... on Commit { message parents(first: 2) { nodes { oid } } } } } } }"
)
#: the lifecycle's observe step in one request: base head, repository id and the open PRs from
#: the bot's branch (``headRefName`` also matches forks, so the head repository is checked too)
_PR_FIELDS = (
    "id number title body url state isDraft headRefName headRefOid baseRefName mergeable "
    "author { __typename login } headRepository { nameWithOwner } labels(first: 50) { nodes { name } }"
)
#: a sync's reads in one request: both branches' tips, the open PRs from the head branch and its
#: newest PRs in any state (the newest kept the group's decisions when Redis lost them)
OBSERVE = (
    "query($owner: String!, $name: String!, $base: String!, $headRef: String!, $head: String!) "
    "{ repository(owner: $owner, name: $name) { id ref(qualifiedName: $base) { target { oid } } "
    "head: ref(qualifiedName: $headRef) { target { oid } } "
    f"pullRequests(headRefName: $head, states: OPEN, first: 20) {{ nodes {{ {_PR_FIELDS} }} }} "
    "last: pullRequests(headRefName: $head, first: 20, orderBy: {field: CREATED_AT, direction: DESC}) "
    f"{{ nodes {{ {_PR_FIELDS} }} }} }} }}"
)
REPO_ID = "query($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { id } }"
PR_ID = (
    "query($owner: String!, $name: String!, $number: Int!) "
    "{ repository(owner: $owner, name: $name) { pullRequest(number: $number) { id } } }"
)
ENABLE_AUTO_MERGE = (
    "mutation($input: EnablePullRequestAutoMergeInput!) "
    "{ enablePullRequestAutoMerge(input: $input) { pullRequest { number } } }"
)
DISABLE_AUTO_MERGE = (
    "mutation($input: DisablePullRequestAutoMergeInput!) "
    "{ disablePullRequestAutoMerge(input: $input) { pullRequest { number } } }"
)
TO_DRAFT = (
    "mutation($input: ConvertPullRequestToDraftInput!) "
    "{ convertPullRequestToDraft(input: $input) { pullRequest { number } } }"
)
READY = (
    "mutation($input: MarkPullRequestReadyForReviewInput!) "
    "{ markPullRequestReadyForReview(input: $input) { pullRequest { number } } }"
)

#: at most this many ``object(expression:)`` fields per query (GitHub limits a query's node count)
READ_CHUNK = 50
_BLOB_FIELDS = "... on Blob { text isBinary isTruncated byteSize }"
ZERO_OID = "0" * 40


def objects_query(count: int, fields: str) -> str:
    """One query asking ``count`` objects: aliases ``f0…`` for expressions passed as ``$e0…``
    (variables, so no path is ever spliced into the query text)."""
    params = "".join(f", $e{i}: String!" for i in range(count))
    selected = " ".join(f"f{i}: object(expression: $e{i}) {{ {fields} }}" for i in range(count))
    repository = f"repository(owner: $owner, name: $name) {{ {selected} }}"
    return f"query($owner: String!, $name: String!{params}) {{ {repository} }}"


def read_files_query(count: int) -> str:
    return objects_query(count, _BLOB_FIELDS)


def exists_query(count: int) -> str:
    """Which of ``count`` paths exist at a commit (``object`` is null for a missing path)."""
    return objects_query(count, "__typename")


def object_variables(repo: str, ref: str, paths: Sequence[str]) -> dict[str, Any]:
    owner, name = repo.split("/", 1)
    variables: dict[str, Any] = {"owner": owner, "name": name}
    variables.update({f"e{i}": f"{ref}:{path}" for i, path in enumerate(paths)})
    return variables


def blob_bytes(node: Mapping[str, Any] | None) -> tuple[bool, bytes | None]:
    """(usable, bytes) from one ``object`` answer: null or not a Blob → (True, None); binary,
    truncated or not round-tripping to ``byteSize`` bytes → (False, None): read it raw instead."""
    if not node or "isBinary" not in node:
        return True, None
    text = node.get("text")
    if text is None or node["isBinary"] or node.get("isTruncated"):
        return False, None
    data = text.encode("utf-8")
    if len(data) != node.get("byteSize"):
        return False, None  # not UTF-8 on disk: GitHub's text is not the file's bytes
    return True, data


def split_message(message: str) -> dict[str, str]:
    headline, _, body = message.strip().partition("\n")
    out = {"headline": headline.strip()}
    if body.strip():
        out["body"] = body.strip()
    return out


def joined_message(parts: Mapping[str, str]) -> str:
    """The commit message GitHub writes for a ``CommitMessage`` input."""
    return parts["headline"] + (f"\n\n{parts['body']}" if parts.get("body") else "")


def file_changes(changes: Sequence[FileChange]) -> dict[str, list[dict[str, str]]]:
    additions = [
        {"path": c.path, "contents": base64.b64encode(c.content).decode("ascii")}
        for c in changes
        if c.content is not None
    ]
    deletions = [{"path": c.path} for c in changes if c.content is None]
    return {"additions": additions, "deletions": deletions}


def commit_input(
    repo: str, branch: str, expected_head: str, changes: Sequence[FileChange], message: str
) -> dict[str, Any]:
    return {
        "branch": {"repositoryNameWithOwner": repo, "branchName": branch},
        "message": split_message(message),
        "expectedHeadOid": expected_head,
        "fileChanges": file_changes(changes),
    }


def ref_update(repo_id: str, branch: str, before: str | None, after: str) -> dict[str, Any]:
    """``updateRefs`` input: ``before`` None means the ref must not exist yet."""
    update = {
        "name": f"refs/heads/{branch}",
        "beforeOid": before or ZERO_OID,
        "afterOid": after,
        "force": True,
    }
    return {"repositoryId": repo_id, "refUpdates": [update]}


def documents() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every document the adapter can send, with variables shaped as the adapter builds them."""
    repo, branch, sha = "acme/deploy", "manifest-bot/dev/apps", "1" * 40
    owner_name = {"owner": "acme", "name": "deploy"}
    change = [FileChange("a.yaml", b"x: 1\n"), FileChange("b.yaml", None)]
    commit = commit_input(repo, branch, sha, change, "chore: bump\n\nbody")
    refs = ref_update("R_1", branch, None, sha)
    pr_input = {"pullRequestId": "PR_1"}
    return {
        "commit_on_branch": (COMMIT_ON_BRANCH, {"input": commit}),
        "ref_then_commit": (REF_THEN_COMMIT, {"refs": refs, "commit": commit}),
        "update_refs": (UPDATE_REFS, {"input": refs}),
        "branch_head": (BRANCH_HEAD, {**owner_name, "ref": f"refs/heads/{branch}"}),
        "head_commit": (HEAD_COMMIT, {**owner_name, "ref": f"refs/heads/{branch}"}),
        "observe": (
            OBSERVE,
            {**owner_name, "base": "refs/heads/main", "headRef": f"refs/heads/{branch}", "head": branch},
        ),
        "repo_id": (REPO_ID, owner_name),
        "pr_id": (PR_ID, {**owner_name, "number": 7}),
        "enable_auto_merge": (ENABLE_AUTO_MERGE, {"input": {**pr_input, "mergeMethod": "SQUASH"}}),
        "disable_auto_merge": (DISABLE_AUTO_MERGE, {"input": pr_input}),
        "to_draft": (TO_DRAFT, {"input": pr_input}),
        "ready": (READY, {"input": pr_input}),
        "read_files_1": (read_files_query(1), object_variables(repo, sha, ["a.yaml"])),
        "read_files_max": (
            read_files_query(READ_CHUNK),
            object_variables(repo, sha, [f"f{i}.yaml" for i in range(READ_CHUNK)]),
        ),
        "exists_max": (
            exists_query(READ_CHUNK),
            object_variables(repo, sha, [f"f{i}.yaml" for i in range(READ_CHUNK)]),
        ),
    }
