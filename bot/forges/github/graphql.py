"""The GitHub GraphQL calls PyGithub does not wrap: verified commits with compare-and-swap
(``createCommitOnBranch``), atomic ref moves (``updateRefs``), auto-merge and draft toggles.

GraphQL answers HTTP 200 with an ``errors`` array; those are mapped by ``error_for_graphql``.
Node ids (repository, pull request) are cached from REST answers so a mutation costs one request.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from bot.core.ports import FileChange, MergeMethod
from bot.errors import Conflict, NotFound, ValidationFailed
from bot.forges.errors_map import error_for_graphql
from bot.forges.http import HttpClient

COMMIT_ON_BRANCH = (
    "mutation($input: CreateCommitOnBranchInput!) { createCommitOnBranch(input: $input) { commit { oid } } }"
)
#: one document, two mutations run in order: move/create the ref (compare-and-swap), then commit
#: with ``expectedHeadOid`` = the parent, so a lost race fails the commit too
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
#: the lifecycle's observe step in one request: base head, repository id and the open PRs from
#: the bot's branch (``headRefName`` also matches forks, so the head repository is checked too)
OBSERVE = (
    "query($owner: String!, $name: String!, $base: String!, $head: String!) "
    "{ repository(owner: $owner, name: $name) { id ref(qualifiedName: $base) { target { oid } } "
    "pullRequests(headRefName: $head, states: OPEN, first: 20) { nodes { id number title body url "
    "isDraft headRefName headRefOid baseRefName mergeable author { login } "
    "headRepository { nameWithOwner } labels(first: 50) { nodes { name } } } } } }"
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


def read_files_query(count: int) -> str:
    """One query reading ``count`` blobs: aliases ``f0…`` for expressions passed as ``$e0…``
    (variables, so no path is ever spliced into the query text)."""
    params = "".join(f", $e{i}: String!" for i in range(count))
    fields = " ".join(f"f{i}: object(expression: $e{i}) {{ {_BLOB_FIELDS} }}" for i in range(count))
    repository = f"repository(owner: $owner, name: $name) {{ {fields} }}"
    return f"query($owner: String!, $name: String!{params}) {{ {repository} }}"


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


#: auto-merge refusals that mean "not here / not now", answered with False instead of an error
_AUTO_MERGE_REFUSALS = (
    "auto merge is not allowed",
    "not in the correct state",
    "clean status",
    "unstable status",
    "protected branch rules not configured",
)
_ZERO_OID = "0" * 40


def graphql_url(api_url: str) -> str:
    """``https://api.github.com`` → ``…/graphql``; Enterprise ``https://h/api/v3`` → ``https://h/api/graphql``."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


def split_message(message: str) -> dict[str, str]:
    headline, _, body = message.strip().partition("\n")
    out = {"headline": headline.strip()}
    if body.strip():
        out["body"] = body.strip()
    return out


def file_changes(changes: Sequence[FileChange]) -> dict[str, list[dict[str, str]]]:
    additions = [
        {"path": c.path, "contents": base64.b64encode(c.content).decode("ascii")}
        for c in changes
        if c.content is not None
    ]
    deletions = [{"path": c.path} for c in changes if c.content is None]
    return {"additions": additions, "deletions": deletions}


class GitHubGraphQL:
    def __init__(self, http: HttpClient, url: str) -> None:
        self._http = http
        self._url = url
        self._repo_ids: dict[str, str] = {}
        self._pr_ids: dict[tuple[str, int], str] = {}

    # --- plumbing ------------------------------------------------------------------------------
    def _post(self, repo: str, query: str, variables: Mapping[str, Any], what: str) -> requests.Response:
        body = {"query": query, "variables": dict(variables)}
        return self._http.request("POST", self._url, what, repo=repo, json=body)

    def call(self, repo: str, query: str, variables: Mapping[str, Any], what: str) -> dict[str, Any]:
        resp = self._post(repo, query, variables, what)
        body = resp.json()
        if body.get("errors"):
            raise error_for_graphql(body["errors"], what, resp.headers)
        return body.get("data") or {}

    def remember_pr(self, repo: str, pr: Mapping[str, Any]) -> None:
        """Cache node ids from a REST pull request object."""
        if pr.get("node_id"):
            self._pr_ids[(repo, int(pr["number"]))] = pr["node_id"]
        base_repo = (pr.get("base") or {}).get("repo") or {}
        if base_repo.get("node_id"):
            self._repo_ids[repo] = base_repo["node_id"]

    def repo_id(self, repo: str) -> str:
        if repo not in self._repo_ids:
            owner, name = repo.split("/", 1)
            data = self.call(repo, REPO_ID, {"owner": owner, "name": name}, f"look up {repo}")
            self._repo_ids[repo] = data["repository"]["id"]
        return self._repo_ids[repo]

    def pr_id(self, repo: str, number: int) -> str:
        key = (repo, number)
        if key not in self._pr_ids:
            owner, name = repo.split("/", 1)
            variables = {"owner": owner, "name": name, "number": number}
            data = self.call(repo, PR_ID, variables, f"look up PR #{number} in {repo}")
            self._pr_ids[key] = data["repository"]["pullRequest"]["id"]
        return self._pr_ids[key]

    # --- operations ----------------------------------------------------------------------------
    def branch_head(self, repo: str, branch: str) -> str | None:
        """One query that also caches the repository's node id for later ref mutations."""
        owner, name = repo.split("/", 1)
        variables = {"owner": owner, "name": name, "ref": f"refs/heads/{branch}"}
        data = self.call(repo, BRANCH_HEAD, variables, f"read {repo}@{branch}")
        found = data["repository"]
        self._repo_ids[repo] = found["id"]
        return found["ref"]["target"]["oid"] if found.get("ref") else None

    def observe(self, repo: str, base: str, head: str) -> tuple[str | None, list[dict[str, Any]]]:
        """Base head sha and the open PR nodes from ``head`` in this repository (one request)."""
        owner, name = repo.split("/", 1)
        variables = {"owner": owner, "name": name, "base": f"refs/heads/{base}", "head": head}
        data = self.call(repo, OBSERVE, variables, f"observe {repo}@{base} and PRs from {head}")
        found = data["repository"]
        self._repo_ids[repo] = found["id"]
        prs = [
            node
            for node in (found.get("pullRequests") or {}).get("nodes") or ()
            if (node.get("headRepository") or {}).get("nameWithOwner", "").lower() == repo.lower()
        ]
        for node in prs:
            self._pr_ids[(repo, int(node["number"]))] = node["id"]
        return (found["ref"]["target"]["oid"] if found.get("ref") else None), prs

    def read_blobs(
        self, repo: str, ref: str, paths: Sequence[str]
    ) -> tuple[dict[str, bytes | None], list[str]]:
        """Up to ``READ_CHUNK`` files at ``ref`` in one query: (path → bytes or None when absent,
        paths that must be read raw because GitHub gave no exact text for them)."""
        owner, name = repo.split("/", 1)
        variables: dict[str, Any] = {"owner": owner, "name": name}
        variables.update({f"e{i}": f"{ref}:{path}" for i, path in enumerate(paths)})
        data = self.call(repo, read_files_query(len(paths)), variables, f"read {len(paths)} files at {ref}")
        found = data.get("repository") or {}
        out: dict[str, bytes | None] = {}
        raw: list[str] = []
        for i, path in enumerate(paths):
            usable, content = blob_bytes(found.get(f"f{i}"))
            if usable:
                out[path] = content
            else:
                raw.append(path)
        return out, raw

    def commit_on_branch(
        self, repo: str, branch: str, expected_head: str, changes: Sequence[FileChange], message: str
    ) -> str:
        """One commit on ``branch`` whose parent must be ``expected_head`` (else Conflict)."""
        payload = self._commit_input(repo, branch, expected_head, changes, message)
        data = self.call(repo, COMMIT_ON_BRANCH, {"input": payload}, f"commit on {repo}@{branch}")
        return data["createCommitOnBranch"]["commit"]["oid"]

    @staticmethod
    def _commit_input(
        repo: str, branch: str, expected_head: str, changes: Sequence[FileChange], message: str
    ) -> dict[str, Any]:
        return {
            "branch": {"repositoryNameWithOwner": repo, "branchName": branch},
            "message": split_message(message),
            "expectedHeadOid": expected_head,
            "fileChanges": file_changes(changes),
        }

    def _ref_update(self, repo: str, branch: str, before: str | None, after: str) -> dict[str, Any]:
        update = {
            "name": f"refs/heads/{branch}",
            "beforeOid": before or _ZERO_OID,
            "afterOid": after,
            "force": True,
        }
        return {"repositoryId": self.repo_id(repo), "refUpdates": [update]}

    def move_and_commit(
        self,
        repo: str,
        branch: str,
        *,
        before: str | None,
        parent: str,
        changes: Sequence[FileChange],
        message: str,
    ) -> str:
        """One request: point the branch at ``parent`` if it is at ``before`` (None = absent), then
        commit on it expecting ``parent``. If the ref step is refused but the commit lands, the
        branch already was at ``parent``: nothing was overwritten and the commit stands."""
        what = f"commit on {repo}@{branch}"
        variables = {
            "refs": self._ref_update(repo, branch, before, parent),
            "commit": self._commit_input(repo, branch, parent, changes, message),
        }
        resp = self._post(repo, REF_THEN_COMMIT, variables, what)
        body = resp.json()
        commit = ((body.get("data") or {}).get("createCommitOnBranch") or {}).get("commit") or {}
        if commit.get("oid"):
            return commit["oid"]
        errors = body.get("errors") or [{"message": "no commit in the answer"}]
        err = error_for_graphql(errors, what, resp.headers)
        if isinstance(err, ValidationFailed | NotFound) and any(
            (e.get("path") or [""])[0] == "updateRefs" for e in errors
        ):
            raise Conflict(err.message) from None  # the ref compare-and-swap lost
        raise err

    def move_ref(self, repo: str, branch: str, *, before: str | None, after: str) -> None:
        """Point ``refs/heads/<branch>`` at ``after`` only if it points at ``before`` now
        (None = must not exist): one atomic ``updateRefs``."""
        payload = self._ref_update(repo, branch, before, after)
        try:
            self.call(repo, UPDATE_REFS, {"input": payload}, f"move {repo}@{branch}")
        except ValidationFailed as exc:
            # the only way a well-formed ref update is refused is a lost compare-and-swap
            raise Conflict(exc.message) from None

    def enable_auto_merge(self, repo: str, number: int, method: MergeMethod) -> bool:
        payload = {"pullRequestId": self.pr_id(repo, number), "mergeMethod": method.upper()}
        try:
            self.call(repo, ENABLE_AUTO_MERGE, {"input": payload}, f"enable auto-merge on #{number}")
        except ValidationFailed as exc:
            if any(r in exc.message.lower() for r in _AUTO_MERGE_REFUSALS):
                return False
            raise
        return True

    def disable_auto_merge(self, repo: str, number: int) -> None:
        payload = {"pullRequestId": self.pr_id(repo, number)}
        self.call(repo, DISABLE_AUTO_MERGE, {"input": payload}, f"disable auto-merge on #{number}")

    def set_draft(self, repo: str, number: int, draft: bool) -> None:
        query = TO_DRAFT if draft else READY
        payload = {"pullRequestId": self.pr_id(repo, number)}
        self.call(repo, query, {"input": payload}, f"set draft={draft} on #{number}")
