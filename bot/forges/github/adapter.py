"""GitHub (and GitHub Enterprise) behind the Forge Protocol, on PyGithub, in as few requests as the
API allows.

PyGithub does the HTTP, the App and installation auth (``clients``) and the REST objects, which are
lazy: ``github.get_repo(name)`` and ``repo.get_pull(n)`` cost nothing until data is read, so every
method here is one request unless its docstring says otherwise (docs/forges.md has the counts).
GraphQL goes through ``Requester.graphql_query`` (observe, batched reads, auto-merge, drafts) and
branch writes through ``commits`` (Verified commits, compare-and-swap, races decided by reading).
Every call passes ``calls.Calls.run``: PyGithub's and requests' exceptions never leave this package.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from github import Github
from github.GithubException import GithubException
from github.GithubObject import NotSet
from github.PullRequest import PullRequest as GhPull

from bot.core.ports import (
    Blob,
    CommitInfo,
    FileChange,
    ForgeInfo,
    MergeMethod,
    Observation,
    Permission,
    PrUpdate,
    PullRequest,
    Reaction,
    Release,
)
from bot.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from bot.forges.github.calls import Calls
from bot.forges.github.clients import PER_PAGE, Credentials, build_clients
from bot.forges.github.commits import CommitWriter
from bot.forges.github.graphql import (
    BRANCH_HEAD,
    DISABLE_AUTO_MERGE,
    ENABLE_AUTO_MERGE,
    OBSERVE,
    READ_CHUNK,
    READY,
    TO_DRAFT,
    blob_bytes,
    object_variables,
    read_files_query,
)
from bot.forges.github.mapping import commit_from_rest, permission_from_rest, pr_from_graphql
from bot.forges.github.nodes import NodeIds

_SHA = re.compile(r"[0-9a-f]{40}")
_COMPARE_CACHE = 64
#: GitHub lists at most this many commits in one compare answer
_COMPARE_COMMITS = 250
#: a list of open PRs from one branch longer than this many pages is a bug or an attack
_MAX_PAGES = 50
#: auto-merge refusals that mean "not here / not now", answered with False instead of an error
_AUTO_MERGE_REFUSALS = (
    "auto merge is not allowed",
    "not in the correct state",
    "protected branch rules not configured",
    "can't enable auto-merge for this pull request",
)
#: the refusals of a PR that can merge now (nothing required is pending): merged at once instead
_MERGEABLE_NOW = ("clean status", "unstable status")


def pr_from_object(pr: GhPull, *, detailed: bool) -> PullRequest:
    """Our PullRequest from PyGithub's. Only the single-PR answers (get, create, update) carry
    ``mergeable``; reading it on a list item would make PyGithub fetch the PR again, and the list
    (``pull-request-simple``) has no such field, so ``detailed=False`` leaves it unknown."""
    return PullRequest(
        number=pr.number,
        head_branch=pr.head.ref,
        base_branch=pr.base.ref,
        title=pr.title or "",
        body=pr.body or "",
        state="merged" if pr.merged_at else pr.state,  # type: ignore[arg-type]
        head_sha=pr.head.sha,
        url=pr.html_url,
        draft=bool(pr.draft),
        labels=tuple(label.name for label in pr.labels),
        author=pr.user.login if pr.user is not None else None,  # REST names an App "<slug>[bot]"
        mergeable=pr.mergeable if detailed else None,
    )


class GitHubForge:
    """``GitHubForge(info, TokenCredentials(...) | AppCredentials(...), api_url=...)``; ``api_url`` is
    ``https://<host>/api/v3`` on Enterprise (GraphQL then lives at ``https://<host>/api/graphql``)."""

    def __init__(
        self,
        info: ForgeInfo,
        credentials: Credentials,
        *,
        api_url: str = "https://api.github.com",
        web_url: str | None = None,
    ) -> None:
        self.info = info
        self.web_url = (web_url or web_url_of(api_url)).rstrip("/")
        self.clients = build_clients(credentials, api_url, info.name)
        self.calls = Calls(info.name, api_url, self.clients)
        self.ids = NodeIds(self.calls)
        self.writer = CommitWriter(self.calls, self.ids)
        self._compares: dict[tuple[str, str, str], dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"GitHubForge({self.info.name!r}, {self.clients!r})"

    def forget_installation(self, installation_id: int, repos: Sequence[str] = ()) -> None:
        """An ``installation`` / ``installation_repositories`` event: drop the cached clients."""
        self.clients.forget_installation(installation_id, repos)

    # --- reading -------------------------------------------------------------------------------
    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        """The contents API (base64 JSON, exact bytes); a file over 1 MB comes without content, and
        costs one more request to the blobs API."""

        def read(github: Github) -> bytes:
            found = github.get_repo(repo).get_contents(path, ref=ref)
            if isinstance(found, list) or found.type != "file":
                raise NotFound(f"read {path} at {ref} in {repo}: not a file")
            if found.encoding == "base64":
                return found.decoded_content
            return base64.b64decode(github.get_repo(repo).get_git_blob(found.sha).content)

        return self.calls.run(repo, f"read {path} at {ref} in {repo}", read)

    def read_files(self, repo: str, paths: Sequence[str], ref: str) -> dict[str, bytes | None]:
        """Optional Forge extra: one GraphQL query per ``READ_CHUNK`` paths (a single path is one
        REST read, same cost, exact bytes); a binary, truncated or non-UTF-8 file costs one more
        REST read. None for a path that does not exist at ``ref``."""
        wanted = list(dict.fromkeys(paths))
        if len(wanted) == 1:
            return {wanted[0]: self._read_or_none(repo, wanted[0], ref)}
        out: dict[str, bytes | None] = {}
        for start in range(0, len(wanted), READ_CHUNK):
            chunk = wanted[start : start + READ_CHUNK]
            data = self.calls.graphql(
                repo,
                read_files_query(len(chunk)),
                object_variables(repo, ref, chunk),
                f"read {len(chunk)} files at {ref}",
            )
            found = data.get("repository") or {}
            for i, path in enumerate(chunk):
                usable, content = blob_bytes(found.get(f"f{i}"))
                out[path] = content if usable else self._read_or_none(repo, path, ref)
        return {path: out[path] for path in wanted}

    def _read_or_none(self, repo: str, path: str, ref: str) -> bytes | None:
        try:
            return self.read_file(repo, path, ref)
        except NotFound:
            return None

    def list_tree(self, repo: str, ref: str) -> list[str]:
        return list(self.list_blobs(repo, ref))

    def list_blobs(self, repo: str, ref: str) -> dict[str, Blob]:
        """Optional Forge extra (``BlobLister``): the recursive git tree, blobs only, with their
        shas and sizes; the same one request as ``list_tree``."""

        def tree(github: Github) -> dict[str, Blob]:
            found = github.get_repo(repo).get_git_tree(ref, recursive=True)
            if found.raw_data.get("truncated"):
                raise ValidationFailed(f"{repo}@{ref}: tree too large to list in one request; name the files")
            return {e.path: Blob(e.sha, e.size) for e in found.tree if e.type == "blob"}

        return self.calls.run(repo, f"list tree at {ref} in {repo}", tree)

    def branch_head(self, repo: str, branch: str) -> str | None:
        """GraphQL, so the repository's node id comes along for the ref mutations of a commit."""
        owner, name = repo.split("/", 1)
        variables = {"owner": owner, "name": name, "ref": f"refs/heads/{branch}"}
        found = self.calls.graphql(repo, BRANCH_HEAD, variables, f"read {repo}@{branch}")["repository"]
        self.ids.remember_repo(repo, found["id"])
        return found["ref"]["target"]["oid"] if found.get("ref") else None

    def _compare(self, repo: str, base: str, head: str) -> dict[str, Any]:
        key = (repo, base, head)
        if key in self._compares:
            return self._compares[key]

        def compare(github: Github) -> dict[str, Any]:
            found = github.get_repo(repo).compare(base, head, comparison_commits_per_page=_COMPARE_COMMITS)
            return found.raw_data  # one request: the first page of commits and every file

        body = self.calls.run(repo, f"compare {base}...{head}", compare)
        if _SHA.fullmatch(base) and _SHA.fullmatch(head):  # immutable: safe to keep
            if len(self._compares) >= _COMPARE_CACHE:
                self._compares.pop(next(iter(self._compares)))
            self._compares[key] = body
        return body

    def commits_between(self, repo: str, base: str, head: str) -> list[CommitInfo]:
        """One request (shared with ``changed_files``); GitHub lists up to 250 commits."""
        return [commit_from_rest(c) for c in self._compare(repo, base, head)["commits"]]

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
        return self.writer.commit_files(
            repo, branch, parent=parent, changes=changes, message=message, expected_head=expected_head
        )

    def set_branch(self, repo: str, branch: str, sha: str, *, expected_head: str | None) -> None:
        self.writer.move_ref(repo, branch, before=expected_head, after=sha)

    def delete_branch(self, repo: str, branch: str) -> None:
        """``DELETE git/refs/heads/<branch>``; 404/422 (no such ref) is not an error."""

        def delete(github: Github) -> None:
            try:
                github.requester.requestJsonAndCheck(
                    "DELETE", f"/repos/{repo}/git/refs/heads/{quote(branch)}"
                )
            except GithubException as exc:
                if exc.status not in (404, 422):
                    raise

        self.calls.run(repo, f"delete {repo}@{branch}", delete)

    # --- pull requests -------------------------------------------------------------------------
    def _seen(self, repo: str, pr: GhPull, *, detailed: bool = True) -> PullRequest:
        self.ids.remember_pr(repo, pr.number, pr.node_id)
        self.ids.remember_repo(repo, pr.base.repo.node_id if pr.base.repo is not None else None)
        return pr_from_object(pr, detailed=detailed)

    def find_pr(self, repo: str, head_branch: str, marker: str | None = None) -> PullRequest | None:
        """The open PRs from ``owner:head_branch``, page by page until one matches (one request a page)."""
        owner = repo.split("/", 1)[0]

        def find(github: Github) -> PullRequest | None:
            pulls = github.get_repo(repo).get_pulls(state="open", head=f"{owner}:{head_branch}")
            for page in range(_MAX_PAGES):
                items = pulls.get_page(page)  # our first URL with ?page=, never the answer's Link
                for pr in items:
                    self.calls.own_origin(pr.url)
                    if pr.head.ref != head_branch:
                        continue
                    if marker is None or marker in (pr.body or ""):
                        return self._seen(repo, pr, detailed=False)
                if len(items) < PER_PAGE:
                    return None
            raise ValidationFailed(f"over {_MAX_PAGES} pages of open PRs from {head_branch}")

        return self.calls.run(repo, f"list PRs from {head_branch}", find)

    def last_pr(self, repo: str, head_branch: str, marker: str | None = None) -> PullRequest | None:
        """The newest PR from ``owner:head_branch`` in any state: the first page, newest first."""
        owner = repo.split("/", 1)[0]

        def find(github: Github) -> PullRequest | None:
            pulls = github.get_repo(repo).get_pulls(
                state="all", head=f"{owner}:{head_branch}", sort="created", direction="desc"
            )
            page = pulls.get_page(0)
            for pr in page:
                self.calls.own_origin(pr.url)
            found = [
                pr
                for pr in page
                if pr.head.ref == head_branch and (marker is None or marker in (pr.body or ""))
            ]
            newest = max(found, key=lambda pr: pr.number, default=None)
            return self._seen(repo, newest, detailed=False) if newest is not None else None

        return self.calls.run(repo, f"list every PR from {head_branch}", find)

    def observe(
        self, repo: str, base_branch: str, head_branch: str, marker: str | None = None
    ) -> Observation:
        """``branch_head`` of both branches, ``find_pr`` and ``last_pr`` in one GraphQL request
        (optional extra the PR lifecycle uses when a forge has it)."""
        owner, name = repo.split("/", 1)
        variables = {
            "owner": owner,
            "name": name,
            "base": f"refs/heads/{base_branch}",
            "headRef": f"refs/heads/{head_branch}",
            "head": head_branch,
        }
        data = self.calls.graphql(
            repo, OBSERVE, variables, f"observe {repo}@{base_branch} and PRs from {head_branch}"
        )
        found = data["repository"]
        self.ids.remember_repo(repo, found["id"])

        def tip(ref: dict[str, Any] | None) -> str | None:
            return ref["target"]["oid"] if ref else None

        def bots(connection: dict[str, Any] | None) -> list[PullRequest]:
            out = []
            for node in (connection or {}).get("nodes") or ():
                if (node.get("headRepository") or {}).get("nameWithOwner", "").lower() != repo.lower():
                    continue  # a fork's PR from a branch of the same name
                self.ids.remember_pr(repo, int(node["number"]), node["id"])
                if marker is None or marker in (node.get("body") or ""):
                    out.append(pr_from_graphql(node))
            return out

        pr = next(iter(bots(found.get("pullRequests"))), None)
        last = max(bots(found.get("last")), key=lambda p: p.number, default=None)
        return Observation(tip(found.get("ref")), pr, tip(found.get("head")), last)

    def get_pr(self, repo: str, number: int) -> PullRequest:
        return self.calls.run(
            repo,
            f"read PR #{number}",
            lambda github: self._seen(repo, github.get_repo(repo).get_pull(number)),
        )

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
        """1 request, plus 1 when labels or assignees are given, plus 1 for reviewers. A PR already
        open from ``head_branch`` is GitHub's 422 "A pull request already exists", a Conflict."""

        def create(github: Github) -> PullRequest:
            made = github.get_repo(repo).create_pull(
                base=base_branch, head=head_branch, title=title, body=body, draft=draft
            )
            return self._seen(repo, made)

        pr = self.calls.run(repo, f"open PR from {head_branch}", create)
        return self._apply_extras(repo, pr, labels or None, assignees or None, reviewers or None)

    def _apply_extras(
        self,
        repo: str,
        pr: PullRequest,
        labels: Sequence[str] | None,
        assignees: Sequence[str] | None,
        reviewers: Sequence[str] | None,
    ) -> PullRequest:
        fields: dict[str, Any] = {}
        if labels is not None:
            fields["labels"] = list(labels)
        if assignees is not None:
            fields["assignees"] = list(assignees)
        if fields:  # the issues endpoint sets labels and assignees of a PR in one request
            self.calls.run(
                repo,
                f"label PR #{pr.number}",
                lambda github: github.get_repo(repo).get_issue(pr.number).edit(**fields),
            )
            if labels is not None:
                pr = PullRequest(**{**_fields(pr), "labels": tuple(labels)})
        if reviewers:
            users = [r for r in reviewers if "/" not in r]
            teams = [r.split("/", 1)[1] for r in reviewers if "/" in r]

            def request_reviews(github: Github) -> None:
                github.get_repo(repo).get_pull(pr.number).create_review_request(
                    reviewers=users or NotSet, team_reviewers=teams or NotSet
                )

            self.calls.run(repo, f"request reviews on #{pr.number}", request_reviews)
        return pr

    def update_pr(self, repo: str, number: int, update: PrUpdate) -> PullRequest:
        """1 request for title/body (or a read when only other fields change), + extras."""
        fields = {k: v for k, v in (("title", update.title), ("body", update.body)) if v is not None}

        def edit(github: Github) -> PullRequest:
            pr = github.get_repo(repo).get_pull(number)
            if fields:
                pr.edit(**fields)
            return self._seen(repo, pr)

        pr = self.calls.run(repo, f"update PR #{number}", edit)
        if update.draft is not None and update.draft != pr.draft:
            self.set_draft(repo, number, update.draft)
            pr = PullRequest(**{**_fields(pr), "draft": update.draft})
        return self._apply_extras(repo, pr, update.labels, update.assignees, update.reviewers)

    def _set_state(self, repo: str, number: int, state: str, what: str) -> None:
        self.calls.run(repo, what, lambda github: github.get_repo(repo).get_pull(number).edit(state=state))

    def close_pr(self, repo: str, number: int, comment: str | None = None) -> None:
        if comment:
            self.comment(repo, number, comment)
        self._set_state(repo, number, "closed", f"close PR #{number}")

    def reopen_pr(self, repo: str, number: int) -> None:
        self._set_state(repo, number, "open", f"reopen PR #{number}")

    def merge_pr(self, repo: str, number: int, method: MergeMethod, expected_head: str | None) -> bool:
        """405 (not mergeable) and 409 (head moved) raise Conflict."""

        def merge(github: Github) -> bool:
            status = (
                github.get_repo(repo).get_pull(number).merge(merge_method=method, sha=expected_head or NotSet)
            )
            return bool(status.merged)

        return self.calls.run(repo, f"merge PR #{number}", merge)

    def enable_auto_merge(self, repo: str, number: int, method: MergeMethod) -> bool:
        """False when the repo does not allow auto-merge or the PR is not in a state for it. GitHub
        refuses auto-merge on a PR that can merge now ("clean status", "unstable status": nothing
        required is pending); that PR is merged at once at its head, as auto-merge would (two
        requests more), and the answer is whether it merged."""
        payload = {"pullRequestId": self.ids.pr_id(repo, number), "mergeMethod": method.upper()}
        try:
            self.calls.graphql(repo, ENABLE_AUTO_MERGE, {"input": payload}, f"enable auto-merge on #{number}")
        except ValidationFailed as exc:
            refusal = exc.message.lower()
            if any(r in refusal for r in _MERGEABLE_NOW):
                head = self.get_pr(repo, number).head_sha
                try:
                    return self.merge_pr(repo, number, method, head)
                except Conflict:  # the head moved, or checks came in meanwhile
                    return False
            if any(r in refusal for r in _AUTO_MERGE_REFUSALS):
                return False
            raise
        return True

    def disable_auto_merge(self, repo: str, number: int) -> None:
        payload = {"pullRequestId": self.ids.pr_id(repo, number)}
        self.calls.graphql(repo, DISABLE_AUTO_MERGE, {"input": payload}, f"disable auto-merge on #{number}")

    def set_draft(self, repo: str, number: int, draft: bool) -> None:
        payload = {"pullRequestId": self.ids.pr_id(repo, number)}
        self.calls.graphql(
            repo, TO_DRAFT if draft else READY, {"input": payload}, f"set draft={draft} on #{number}"
        )

    # --- conversation --------------------------------------------------------------------------
    def comment(self, repo: str, number: int, body: str) -> str:
        made = self.calls.run(
            repo,
            f"comment on #{number}",
            lambda github: github.get_repo(repo).get_issue(number).create_comment(body),
        )
        return str(made.id)

    def set_status(self, repo: str, sha: str, state: str, context: str, description: str) -> None:
        """``POST statuses/{sha}`` (optional Forge extra): one request; GitHub keeps 140 characters."""
        body = {"state": state, "context": context, "description": description[:140]}

        def post(github: Github) -> None:
            github.requester.requestJsonAndCheck("POST", f"/repos/{repo}/statuses/{sha}", input=body)

        self.calls.run(repo, f"commit status on {sha[:7]}", post)

    def react(self, repo: str, number: int, comment_id: int | str, reaction: Reaction) -> None:
        def react(github: Github) -> None:
            comment = github.get_repo(repo).get_issue(number).get_comment(int(comment_id))
            comment.create_reaction(reaction.value)

        self.calls.run(repo, f"react to comment {comment_id}", react)

    def permission(self, repo: str, user: str) -> Permission:
        """``GET collaborators/{user}/permission``: ``role_name`` when GitHub sends a known one,
        else ``permission``; an unknown user is NONE."""

        def read(github: Github) -> Permission:
            path = f"/repos/{repo}/collaborators/{quote(user, safe='')}/permission"
            try:
                _headers, body = github.requester.requestJsonAndCheck("GET", path)
            except GithubException as exc:
                if exc.status == 404:
                    return Permission.NONE
                raise
            return permission_from_rest(body)

        return self.calls.run(repo, f"read {user}'s permission", read)

    def release(self, repo: str, tags: Sequence[str]) -> Release | None:
        """Optional extra (``Releases``): ``GET /repos/{repo}/releases/tags/{tag}`` for each of
        ``tags`` in turn until one is found (one request each); a missing repository is None too.
        A GitHub App must be installed on ``repo`` (found once per process, like any repo's
        installation); when it is not, PermissionDenied says so instead of "no release"."""
        try:
            self.calls.run(repo, f"reach {repo}", lambda _github: None)  # its client: no request with a token
        except NotFound as exc:
            raise PermissionDenied(exc.message) from None
        for tag in tags:

            def read(github: Github, tag: str = tag) -> Release:
                found = github.get_repo(repo).get_release(tag)
                return Release(tag, found.name or "", found.body or "", found.html_url)

            try:
                return self.calls.run(repo, f"read the release {tag} of {repo}", read)
            except NotFound:
                continue
        return None

    def team_member(self, repo: str, team: str, user: str) -> bool:
        """Optional extra: ``team`` is ``org/slug`` or a bare slug of the repo owner's org.

        ``GET /orgs/{org}/teams/{team_slug}/memberships/{username}``: 200 with ``state: active`` is
        a member; ``pending`` (invited, not accepted) and 404 are not. Needs the App's organization
        permission "Members: read"; the installation token of ``repo`` is used (1 request)."""
        org, _, slug = team.strip().rpartition("/")
        org = org or repo.split("/", 1)[0]
        path = f"/orgs/{quote(org, safe='')}/teams/{quote(slug, safe='')}/memberships/{quote(user, safe='')}"

        def read(github: Github) -> bool:
            try:
                _headers, body = github.requester.requestJsonAndCheck("GET", path)
            except GithubException as exc:
                if exc.status == 404:
                    return False
                raise
            return isinstance(body, dict) and body.get("state") == "active"

        return self.calls.run(repo, f"read {user}'s membership of team {org}/{slug}", read)


def web_url_of(api_url: str) -> str:
    """The web root of a GitHub API root: ``api.github.com`` → ``https://github.com``, Enterprise
    ``https://HOST/api/v3`` → ``https://HOST``."""
    parts = urlsplit(api_url.rstrip("/"))
    if parts.netloc.lower() == "api.github.com":
        return "https://github.com"
    path = parts.path.removesuffix("/v3").removesuffix("/api")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _fields(pr: PullRequest) -> dict[str, Any]:
    return {name: getattr(pr, name) for name in PullRequest.__slots__}  # type: ignore[attr-defined]
