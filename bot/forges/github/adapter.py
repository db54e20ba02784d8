"""GitHub (and GitHub Enterprise) behind the Forge Protocol, in as few requests as the API allows.

Why plain ``requests`` and not PyGithub objects: PyGithub's retry policy sleeps on secondary rate
limits inside the call, and its lazy objects make the number of requests hard to predict. Every
method here is one request unless its docstring says otherwise (see docs/forges.md for counts).

Commits never carry a custom author, so GitHub signs them and shows them Verified for the App:
- append to an existing branch: ``createCommitOnBranch`` with ``expectedHeadOid`` (1 request);
- new branch: ``POST git/refs`` at the parent, then ``createCommitOnBranch`` (2 requests);
- regenerate from a new parent: ``updateRefs`` moves the branch to the parent only if it still
  points at ``expected_head`` (atomic compare-and-swap), then ``createCommitOnBranch`` (2 requests).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import requests

from bot.core.ports import (
    CommitInfo,
    FileChange,
    ForgeInfo,
    MergeMethod,
    Permission,
    PrUpdate,
    PullRequest,
    Reaction,
)
from bot.errors import NotFound, ValidationFailed
from bot.forges.github.auth import GitHubAuth
from bot.forges.github.graphql import READ_CHUNK, GitHubGraphQL, graphql_url
from bot.forges.http import HttpClient

RAW = {"Accept": "application/vnd.github.raw+json"}
_SHA = re.compile(r"[0-9a-f]{40}")
_COMPARE_CACHE = 64
_PERMISSIONS = {
    "admin": Permission.ADMIN,
    "maintain": Permission.MAINTAIN,
    "write": Permission.WRITE,
    "triage": Permission.TRIAGE,
    "read": Permission.READ,
    "none": Permission.NONE,
}


def _q(value: str) -> str:
    return quote(value, safe="/")


def pr_from_json(data: Mapping[str, Any]) -> PullRequest:
    state = "merged" if data.get("merged_at") else data["state"]
    return PullRequest(
        number=int(data["number"]),
        head_branch=data["head"]["ref"],
        base_branch=data["base"]["ref"],
        title=data.get("title") or "",
        body=data.get("body") or "",
        state=state,
        head_sha=data["head"].get("sha"),
        url=data.get("html_url"),
        draft=bool(data.get("draft", False)),
        labels=tuple(label["name"] for label in data.get("labels") or ()),
        author=(data.get("user") or {}).get("login"),
        mergeable=data.get("mergeable"),
    )


_MERGEABLE = {"MERGEABLE": True, "CONFLICTING": False}


def pr_from_graphql(node: Mapping[str, Any]) -> PullRequest:
    """A GraphQL ``PullRequest`` node (as queried by ``OBSERVE``), always open."""
    return PullRequest(
        number=int(node["number"]),
        head_branch=node["headRefName"],
        base_branch=node["baseRefName"],
        title=node.get("title") or "",
        body=node.get("body") or "",
        state="open",
        head_sha=node.get("headRefOid"),
        url=node.get("url"),
        draft=bool(node.get("isDraft", False)),
        labels=tuple(label["name"] for label in (node.get("labels") or {}).get("nodes") or ()),
        author=(node.get("author") or {}).get("login"),
        mergeable=_MERGEABLE.get(node.get("mergeable") or ""),
    )


def commit_from_json(data: Mapping[str, Any]) -> CommitInfo:
    git = data.get("commit") or {}
    return CommitInfo(
        sha=data["sha"],
        parents=tuple(p["sha"] for p in data.get("parents") or ()),
        author_name=(git.get("author") or {}).get("name"),
        author_email=(git.get("author") or {}).get("email"),
        author_login=(data.get("author") or {}).get("login"),
        committer_login=(data.get("committer") or {}).get("login"),
        message=git.get("message", ""),
    )


class GitHubForge:
    """``GitHubForge(info, auth, api_url=...)``; ``api_url`` is ``https://<host>/api/v3`` on Enterprise."""

    def __init__(
        self,
        info: ForgeInfo,
        auth: GitHubAuth,
        *,
        api_url: str = "https://api.github.com",
        session: requests.Session | None = None,
    ) -> None:
        self.info = info
        self.http = HttpClient(
            api_url, auth.headers_for, session=session, on_auth_failure=auth.invalidate, forge=info.name
        )
        self.gql = GitHubGraphQL(self.http, graphql_url(api_url))
        self._compares: dict[tuple[str, str, str], dict[str, Any]] = {}

    # --- reading -------------------------------------------------------------------------------
    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        resp = self.http.request(
            "GET",
            f"/repos/{repo}/contents/{_q(path)}",
            f"read {path} at {ref} in {repo}",
            repo=repo,
            params={"ref": ref},
            headers=RAW,
        )
        return resp.content

    def read_files(self, repo: str, paths: Sequence[str], ref: str) -> dict[str, bytes | None]:
        """Optional Forge extra: one GraphQL query per ``READ_CHUNK`` paths (a single path is one
        REST raw read, same cost, exact bytes); a binary, truncated or non-UTF-8 file costs one
        more REST raw read. None for a path that does not exist at ``ref``."""
        wanted = list(dict.fromkeys(paths))
        if len(wanted) == 1:
            return {wanted[0]: self._read_or_none(repo, wanted[0], ref)}
        out: dict[str, bytes | None] = {}
        for start in range(0, len(wanted), READ_CHUNK):
            found, raw = self.gql.read_blobs(repo, ref, wanted[start : start + READ_CHUNK])
            out.update(found)
            out.update((path, self._read_or_none(repo, path, ref)) for path in raw)
        return {path: out[path] for path in wanted}

    def _read_or_none(self, repo: str, path: str, ref: str) -> bytes | None:
        try:
            return self.read_file(repo, path, ref)
        except NotFound:
            return None

    def list_tree(self, repo: str, ref: str) -> list[str]:
        resp = self.http.request(
            "GET",
            f"/repos/{repo}/git/trees/{quote(ref, safe='')}",
            f"list tree at {ref} in {repo}",
            repo=repo,
            params={"recursive": "1"},
        )
        body = resp.json()
        if body.get("truncated"):
            raise ValidationFailed(f"{repo}@{ref}: tree too large to list in one request; name the files")
        return [e["path"] for e in body["tree"] if e["type"] == "blob"]

    def branch_head(self, repo: str, branch: str) -> str | None:
        """GraphQL, so the repository's node id comes along for the ref mutations of a commit."""
        return self.gql.branch_head(repo, branch)

    def _compare(self, repo: str, base: str, head: str) -> dict[str, Any]:
        key = (repo, base, head)
        if key in self._compares:
            return self._compares[key]
        resp = self.http.request(
            "GET", f"/repos/{repo}/compare/{_q(base)}...{_q(head)}", f"compare {base}...{head}", repo=repo
        )
        body = resp.json()
        if _SHA.fullmatch(base) and _SHA.fullmatch(head):  # immutable: safe to keep
            if len(self._compares) >= _COMPARE_CACHE:
                self._compares.pop(next(iter(self._compares)))
            self._compares[key] = body
        return body

    def commits_between(self, repo: str, base: str, head: str) -> list[CommitInfo]:
        """One request (shared with ``changed_files``); GitHub lists up to 250 commits."""
        return [commit_from_json(c) for c in self._compare(repo, base, head)["commits"]]

    def changed_files(self, repo: str, base: str, head: str) -> list[str]:
        """Paths that differ between ``base`` and ``head`` (optional Forge extra, used by the lifecycle)."""
        paths: list[str] = []
        for f in self._compare(repo, base, head).get("files") or ():
            paths.append(f["filename"])
            if f.get("previous_filename"):
                paths.append(f["previous_filename"])
        return paths

    # --- writing -------------------------------------------------------------------------------
    def commit_files(
        self,
        repo: str,
        branch: str,
        *,
        parent: str,
        changes: Sequence[FileChange],
        message: str,
        expected_head: str | None,
    ) -> str:
        if not changes:
            raise ValidationFailed(f"commit on {repo}@{branch}: no changes (refusing an empty commit)")
        if expected_head == parent:
            return self.gql.commit_on_branch(repo, branch, parent, changes, message)
        return self.gql.move_and_commit(
            repo, branch, before=expected_head, parent=parent, changes=changes, message=message
        )

    def _create_ref(self, repo: str, branch: str, sha: str) -> None:
        """422 "Reference already exists" maps to Conflict: the compare-and-swap on absence lost."""
        body = {"ref": f"refs/heads/{branch}", "sha": sha}
        self.http.request("POST", f"/repos/{repo}/git/refs", f"create {repo}@{branch}", repo=repo, json=body)

    def set_branch(self, repo: str, branch: str, sha: str, *, expected_head: str | None) -> None:
        if expected_head is None:
            self._create_ref(repo, branch, sha)
        else:
            self.gql.move_ref(repo, branch, before=expected_head, after=sha)

    def delete_branch(self, repo: str, branch: str) -> None:
        path = f"/repos/{repo}/git/refs/heads/{_q(branch)}"
        self.http.request("DELETE", path, f"delete {repo}@{branch}", repo=repo, ok=(404, 422))

    # --- pull requests -------------------------------------------------------------------------
    def _remember(self, repo: str, data: Mapping[str, Any]) -> PullRequest:
        self.gql.remember_pr(repo, data)
        return pr_from_json(data)

    def find_pr(self, repo: str, head_branch: str, marker: str | None = None) -> PullRequest | None:
        owner = repo.split("/", 1)[0]
        params = {"head": f"{owner}:{head_branch}", "state": "open", "per_page": 100}
        for data in self.http.paginate(
            f"/repos/{repo}/pulls", f"list PRs from {head_branch}", repo=repo, params=params
        ):
            if data["head"]["ref"] != head_branch:
                continue
            if marker is None or marker in (data.get("body") or ""):
                return self._remember(repo, data)
        return None

    def observe(
        self, repo: str, base_branch: str, head_branch: str, marker: str | None = None
    ) -> tuple[str | None, PullRequest | None]:
        """``branch_head(base_branch)`` and ``find_pr(head_branch, marker)`` in one GraphQL request
        (optional extra the PR lifecycle uses when a forge has it)."""
        base_sha, nodes = self.gql.observe(repo, base_branch, head_branch)
        for node in nodes:
            if marker is None or marker in (node.get("body") or ""):
                return base_sha, pr_from_graphql(node)
        return base_sha, None

    def get_pr(self, repo: str, number: int) -> PullRequest:
        resp = self.http.request("GET", f"/repos/{repo}/pulls/{number}", f"read PR #{number}", repo=repo)
        return self._remember(repo, resp.json())

    def open_pr(
        self,
        repo: str,
        head_branch: str,
        base_branch: str,
        title: str,
        body: str,
        *,
        labels: Sequence[str] = (),
        reviewers: Sequence[str] = (),
        assignees: Sequence[str] = (),
        draft: bool = False,
    ) -> PullRequest:
        """1 request, plus 1 when labels or assignees are given, plus 1 for reviewers."""
        payload = {"title": title, "head": head_branch, "base": base_branch, "body": body, "draft": draft}
        resp = self.http.request(
            "POST", f"/repos/{repo}/pulls", f"open PR from {head_branch}", repo=repo, json=payload
        )
        pr = self._remember(repo, resp.json())
        return self._apply_extras(repo, pr, labels or None, assignees or None, reviewers or None)

    def _apply_extras(
        self,
        repo: str,
        pr: PullRequest,
        labels: Sequence[str] | None,
        assignees: Sequence[str] | None,
        reviewers: Sequence[str] | None,
    ) -> PullRequest:
        issue: dict[str, list[str]] = {}
        if labels is not None:
            issue["labels"] = list(labels)
        if assignees is not None:
            issue["assignees"] = list(assignees)
        if issue:  # the issues endpoint sets labels and assignees of a PR in one request
            path = f"/repos/{repo}/issues/{pr.number}"
            self.http.request("PATCH", path, f"label PR #{pr.number}", repo=repo, json=issue)
            if labels is not None:
                pr = replace(pr, labels=tuple(labels))
        if reviewers:
            users = [r for r in reviewers if "/" not in r]
            teams = [r.split("/", 1)[1] for r in reviewers if "/" in r]
            path = f"/repos/{repo}/pulls/{pr.number}/requested_reviewers"
            body = {"reviewers": users, "team_reviewers": teams}
            self.http.request("POST", path, f"request reviews on #{pr.number}", repo=repo, json=body)
        return pr

    def update_pr(self, repo: str, number: int, update: PrUpdate) -> PullRequest:
        """1 request for title/body (or a read when only other fields change), + extras."""
        fields = {k: v for k, v in (("title", update.title), ("body", update.body)) if v is not None}
        if fields:
            resp = self.http.request(
                "PATCH", f"/repos/{repo}/pulls/{number}", f"update PR #{number}", repo=repo, json=fields
            )
            pr = self._remember(repo, resp.json())
        else:
            pr = self.get_pr(repo, number)
        if update.draft is not None and update.draft != pr.draft:
            self.gql.set_draft(repo, number, update.draft)
            pr = replace(pr, draft=update.draft)
        return self._apply_extras(repo, pr, update.labels, update.assignees, update.reviewers)

    def close_pr(self, repo: str, number: int, comment: str | None = None) -> None:
        if comment:
            self.comment(repo, number, comment)
        self.http.request(
            "PATCH",
            f"/repos/{repo}/pulls/{number}",
            f"close PR #{number}",
            repo=repo,
            json={"state": "closed"},
        )

    def reopen_pr(self, repo: str, number: int) -> None:
        self.http.request(
            "PATCH",
            f"/repos/{repo}/pulls/{number}",
            f"reopen PR #{number}",
            repo=repo,
            json={"state": "open"},
        )

    def merge_pr(self, repo: str, number: int, method: MergeMethod, expected_head: str | None) -> bool:
        """405 (not mergeable) and 409 (head moved) raise Conflict."""
        payload: dict[str, str] = {"merge_method": method}
        if expected_head:
            payload["sha"] = expected_head
        resp = self.http.request(
            "PUT", f"/repos/{repo}/pulls/{number}/merge", f"merge PR #{number}", repo=repo, json=payload
        )
        return bool(resp.json().get("merged"))

    def enable_auto_merge(self, repo: str, number: int, method: MergeMethod) -> bool:
        """False when the repo does not allow auto-merge or the PR is not in a state that needs it
        (e.g. already mergeable: GitHub answers "clean status"; the caller may merge now)."""
        return self.gql.enable_auto_merge(repo, number, method)

    def disable_auto_merge(self, repo: str, number: int) -> None:
        self.gql.disable_auto_merge(repo, number)

    # --- conversation --------------------------------------------------------------------------
    def comment(self, repo: str, number: int, body: str) -> str:
        resp = self.http.request(
            "POST",
            f"/repos/{repo}/issues/{number}/comments",
            f"comment on #{number}",
            repo=repo,
            json={"body": body},
        )
        return str(resp.json()["id"])

    def react(self, repo: str, number: int, comment_id: int | str, reaction: Reaction) -> None:
        path = f"/repos/{repo}/issues/comments/{comment_id}/reactions"
        self.http.request(
            "POST", path, f"react to comment {comment_id}", repo=repo, json={"content": reaction.value}
        )

    def permission(self, repo: str, user: str) -> Permission:
        """``role_name`` (admin/maintain/write/triage/read) when GitHub sends it, else ``permission``;
        an unknown user is NONE."""
        path = f"/repos/{repo}/collaborators/{quote(user, safe='')}/permission"
        resp = self.http.request("GET", path, f"read {user}'s permission", repo=repo, ok=(404,))
        if resp.status_code == 404:
            return Permission.NONE
        body = resp.json()
        role = _PERMISSIONS.get(str(body.get("role_name", "")).lower())
        return role if role is not None else _PERMISSIONS.get(body.get("permission", "none"), Permission.NONE)

    def team_member(self, repo: str, team: str, user: str) -> bool:
        """Optional extra: ``team`` is ``org/slug`` or a bare slug of the repo owner's org.

        ``GET /orgs/{org}/teams/{team_slug}/memberships/{username}``: 200 with ``state: active`` is
        a member; ``pending`` (invited, not accepted) and 404 are not. Needs the App's organization
        permission "Members: read"; the installation token of ``repo`` is used (1 request)."""
        org, _, slug = team.strip().rpartition("/")
        org = org or repo.split("/", 1)[0]
        path = f"/orgs/{quote(org, safe='')}/teams/{quote(slug, safe='')}/memberships/{quote(user, safe='')}"
        what = f"read {user}'s membership of team {org}/{slug}"
        resp = self.http.request("GET", path, what, repo=repo, ok=(404,))
        return resp.status_code == 200 and resp.json().get("state") == "active"
