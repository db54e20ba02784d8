"""GitLab (gitlab.com or self-managed) behind the Forge Protocol, through python-gitlab's objects.

Every request is a python-gitlab call on lazy objects (``gl.projects.get(repo, lazy=True)``,
``project.mergerequests.get(iid, lazy=True)``, …: a lazy object costs no request, so each method's
count is what it sends), through one door (``calls.GitLabCalls``): no sleeping or retrying on 429
and 5xx, the answer's headers (``Retry-After``) kept for the error table, a total deadline per call,
pagination by ``page=`` on the API's own origin only. Project, group and personal access tokens all
authenticate with ``PRIVATE-TOKEN``.

One request python-gitlab has no method for as GitLab documents it: ``ProjectMergeRequest.merge``
sends only its three named options in the body and everything else (``sha``, ``squash``,
``auto_merge``) as query parameters, so ``_put_merge`` PUTs our body to the same path through
python-gitlab's ``Gitlab.http_put``.

Commits (``POST /projects/:id/repository/commits``, several ``actions`` in one call; docs:
https://docs.gitlab.com/api/commits/#create-a-commit-with-multiple-files-and-actions):
- new branch: ``start_sha`` = parent; GitLab refuses when the branch exists → Conflict;
- every content change is an ``update`` (one request); when GitLab answers that a file does not
  exist (a person's new file carried over a regeneration), the tree at the parent is listed and
  the commit retried with ``create`` for new paths and without deletions of absent ones (two more
  requests, only then);
- append (parent == expected head): no ``start_sha``, so the commit goes on the branch as it is,
  and every ``update``/``delete`` carries ``last_commit_id`` = the expected head: GitLab refuses
  the commit when someone changed one of those files on the branch since (its ``file_has_changed?``
  compares the file's last commit on the branch with its last commit as of that id) → Conflict;
  a push to other files leaves the commit on top of theirs, nothing lost, and the answer's
  ``parent_ids`` not being the expected head → Conflict;
- regenerate (new parent): the head is read and compared first, then ``start_sha`` + ``force``.
  ``last_commit_id`` cannot guard this one: with ``start_sha`` GitLab has no start branch to
  compare against (``lib/api/commits.rb`` sets ``start_branch`` only without ``start_sha``; the
  check then reads the default branch), and GitLab has no ref compare-and-swap, so a push in the
  gap between the two calls can be lost (docs/forges.md).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import requests
from gitlab.v4.objects import Project, ProjectMergeRequest

from bot.core.ports import (
    Blob,
    CommitInfo,
    FileChange,
    ForgeInfo,
    MergeMethod,
    Permission,
    PrUpdate,
    PullRequest,
    Reaction,
    Release,
)
from bot.errors import Conflict, ValidationFailed
from bot.forges.errors_map import error_for_response, forge_message
from bot.forges.gitlab.calls import NO_RETRY, GitLabCalls, Refused
from bot.forges.gitlab.mapping import (
    access_to_permission,
    commit_from_json,
    file_actions,
    mr_from_json,
    titled,
)

#: how long a draft state read from GitLab is trusted when a title update must keep it
_DRAFT_TTL_S = 60.0
_SHA = re.compile(r"[0-9a-f]{40}")
#: GitLab's 400 for an ``update``/``delete`` of a path the start commit lacks ("A file with this name
#: doesn't exist", newer releases "File to be updated `path` does not exist")
_MISSING_FILE = re.compile(r"does(n't| not) exist", re.IGNORECASE)


class GitLabForge:
    """``GitLabForge(info, token, url="https://gitlab.example.com")``."""

    def __init__(
        self,
        info: ForgeInfo,
        token: str,
        *,
        url: str = "https://gitlab.com",
        session: requests.Session | None = None,
        ssl_verify: bool | str = True,
    ) -> None:
        if not token:
            raise ValidationFailed("GitLab token is empty")
        self.info = info
        self.web_url = url.rstrip("/")
        self.http = GitLabCalls(url, token, forge=info.name, session=session, ssl_verify=ssl_verify)
        self.gl = self.http.gl
        self._user_ids: dict[str, int | None] = {}
        self._drafts: dict[tuple[str, int], tuple[bool, float]] = {}  # (repo, iid) -> (draft, seen at)
        self._compares: dict[tuple[str, str, str], dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"GitLabForge({self.info.name!r}, url={self.http.base_url!r}, token=***)"

    def _p(self, repo: str) -> Project:
        return self.gl.projects.get(repo, lazy=True)

    def _mr(self, repo: str, number: int) -> ProjectMergeRequest:
        return self._p(repo).mergerequests.get(number, lazy=True)

    # --- reading -------------------------------------------------------------------------------
    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        return self.http.call(
            f"read {path} at {ref} in {repo}",
            lambda: self._p(repo).files.raw(file_path=path, ref=ref, **NO_RETRY),
        )

    def list_tree(self, repo: str, ref: str) -> list[str]:
        return list(self.list_blobs(repo, ref))

    def list_blobs(self, repo: str, ref: str) -> dict[str, Blob]:
        """Optional Forge extra (``BlobLister``): the recursive tree's blobs with their shas (the
        tree API gives no sizes); the same requests as ``list_tree``."""
        project = self._p(repo)
        # "true" as GitLab's docs write it: requests would send the bool True as "True"
        items = self.http.pages(
            f"list tree at {ref}",
            lambda **kw: project.repository_tree(ref=ref, recursive="true", **kw),  # type: ignore[arg-type]
        )
        return {e["path"]: Blob(e["id"]) for e in items if e["type"] == "blob"}

    def branch_head(self, repo: str, branch: str) -> str | None:
        what = f"read {repo}@{branch}"
        found = self.http.run(what, lambda: self._p(repo).branches.get(branch, **NO_RETRY), ok=(404,))
        if isinstance(found, Refused):
            if "branch" in forge_message(found.response).lower():
                return None
            raise error_for_response(found.response, what)  # the project itself is missing or hidden
        return str(found.commit["id"])

    def _compare(self, repo: str, base: str, head: str) -> dict[str, Any]:
        key = (repo, base, head)
        if key not in self._compares:
            data: dict[str, Any] = self.http.call(
                f"compare {base}...{head}",
                lambda: self._p(repo).repository_compare(base, head, **NO_RETRY),
            )
            if not (_SHA.fullmatch(base) and _SHA.fullmatch(head)):
                return data  # branch names move: never cached
            if len(self._compares) >= 64:
                self._compares.pop(next(iter(self._compares)))
            self._compares[key] = data
        return self._compares[key]

    def commits_between(self, repo: str, base: str, head: str) -> list[CommitInfo]:
        """One request, shared with ``changed_files`` for the same two shas."""
        return [commit_from_json(c) for c in self._compare(repo, base, head)["commits"]]

    def changed_files(self, repo: str, base: str, head: str) -> list[str]:
        """Paths that differ between ``base`` and ``head`` (optional Forge extra, used by the lifecycle)."""
        paths: list[str] = []
        for d in self._compare(repo, base, head).get("diffs") or ():
            paths.append(d["new_path"])
            if d.get("old_path") and d["old_path"] != d["new_path"]:
                paths.append(d["old_path"])
        return paths

    def release(self, repo: str, tags: Sequence[str]) -> Release | None:
        """Optional extra (``Releases``): ``GET /projects/:id/releases/:tag_name`` for each of
        ``tags`` in turn until one is found (one request each); a missing project is None too."""
        project = self._p(repo)
        for tag in tags:
            what = f"read the release {tag} of {repo}"
            got = self.http.run(what, lambda tag=tag: project.releases.get(tag, **NO_RETRY), ok=(404,))
            if isinstance(got, Refused):
                continue
            found = got.asdict()
            links = found.get("_links") or {}
            url = links.get("self") or f"{self.web_url}/{repo}/-/releases/{quote(tag, safe='')}"
            return Release(tag, str(found.get("name") or ""), str(found.get("description") or ""), str(url))
        return None

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
        guard = expected_head if expected_head == parent else None  # see the module docstring
        body: dict[str, Any] = {
            "branch": branch,
            "commit_message": message,
            "actions": file_actions(changes, last_commit_id=guard),
        }
        if expected_head is None:
            body["start_sha"] = parent
        elif expected_head != parent:
            self._check_head(repo, branch, expected_head)
            body.update(start_sha=parent, force=True)
        what = f"commit on {repo}@{branch}"
        commits = self._p(repo).commits
        try:
            made = self.http.call(what, lambda: commits.create(dict(body), **NO_RETRY))
        except ValidationFailed as exc:
            if not _MISSING_FILE.search(exc.message):
                raise
            # a file someone added (kept over a regeneration) is new on this parent: one tree
            # listing says which paths exist, then the same commit with create actions
            body["actions"] = file_actions(changes, set(self.list_tree(repo, parent)), last_commit_id=guard)
            if not body["actions"]:
                if expected_head == parent:
                    return parent  # every change deleted a path the branch does not have: nothing to do
                raise ValidationFailed(f"{what}: every change deletes a file that does not exist") from None
            made = self.http.call(what, lambda: commits.create(dict(body), **NO_RETRY))
        data = made.asdict()
        if expected_head == parent and list(data.get("parent_ids") or ()) != [expected_head]:
            raise Conflict(f"commit on {repo}@{branch}: the branch moved before our commit landed")
        return str(data["id"])

    def _check_head(self, repo: str, branch: str, expected: str) -> None:
        head = self.branch_head(repo, branch)
        if head != expected:
            raise Conflict(f"{repo}@{branch} is at {head}, expected {expected}")

    def set_branch(self, repo: str, branch: str, sha: str, *, expected_head: str | None) -> None:
        """Create, or (GitLab cannot move a ref) check, delete and re-create at ``sha``."""
        if expected_head is not None:
            self._check_head(repo, branch, expected_head)
            self.delete_branch(repo, branch)
        self.http.call(
            f"create {repo}@{branch}",
            lambda: self._p(repo).branches.create({"branch": branch, "ref": sha}, **NO_RETRY),
        )

    def delete_branch(self, repo: str, branch: str) -> None:
        self.http.run(
            f"delete {repo}@{branch}", lambda: self._p(repo).branches.delete(branch, **NO_RETRY), ok=(404,)
        )

    # --- merge requests ------------------------------------------------------------------------
    def find_pr(self, repo: str, head_branch: str, marker: str | None = None) -> PullRequest | None:
        mrs = self._p(repo).mergerequests
        for mr in self.http.pages(
            f"list MRs from {head_branch}",
            lambda **kw: mrs.list(source_branch=head_branch, state="opened", **kw),
        ):
            data = mr.asdict()
            if marker is None or marker in (data.get("description") or ""):
                return self._seen(repo, data)
        return None

    def last_pr(self, repo: str, head_branch: str, marker: str | None = None) -> PullRequest | None:
        """The newest MR from ``head_branch`` in any state: the first page, newest first."""
        mrs = self._p(repo).mergerequests
        page = self.http.call(
            f"list every MR from {head_branch}",
            lambda: mrs.list(
                source_branch=head_branch,
                state="all",
                order_by="created_at",
                sort="desc",
                per_page=100,
                get_all=False,
                **NO_RETRY,
            ),
        )
        datas = [m.asdict() for m in page]
        found = [d for d in datas if marker is None or marker in (d.get("description") or "")]
        newest = max(found, key=lambda d: int(d["iid"]), default=None)
        return self._seen(repo, newest) if newest is not None else None

    def get_pr(self, repo: str, number: int) -> PullRequest:
        return self._seen(repo, self._get_mr(repo, number))

    def _seen(self, repo: str, data: Mapping[str, Any]) -> PullRequest:
        """An MR read from GitLab; its draft state is kept for a short while (``_is_draft``)."""
        pr = mr_from_json(data)
        if len(self._drafts) >= 256:
            self._drafts.pop(next(iter(self._drafts)))
        self._drafts[(repo, pr.number)] = (pr.draft, time.monotonic())
        return pr

    def _is_draft(self, repo: str, number: int) -> bool:
        """GitLab keeps "draft" in the title: a new title must carry the prefix the MR has now (a
        bare title would mark it ready). A state read in the last minute is used, else one read."""
        seen = self._drafts.get((repo, number))
        if seen is not None and time.monotonic() - seen[1] < _DRAFT_TTL_S:
            return seen[0]
        return self.get_pr(repo, number).draft

    def _get_mr(self, repo: str, number: int) -> dict[str, Any]:
        mrs = self._p(repo).mergerequests
        return self.http.call(f"read MR !{number}", lambda: mrs.get(number, **NO_RETRY)).asdict()

    def _update_mr(self, repo: str, number: int, what: str, payload: dict[str, Any]) -> dict[str, Any]:
        mrs = self._p(repo).mergerequests
        return self.http.call(what, lambda: mrs.update(number, payload, **NO_RETRY))

    def _user_id(self, username: str) -> int | None:
        if username not in self._user_ids:
            found = self.http.call(
                f"look up user {username}",
                lambda: self.gl.users.list(username=username, get_all=False, **NO_RETRY),
            )
            self._user_ids[username] = int(found[0].id) if found else None
        return self._user_ids[username]

    def _ids(self, usernames: Sequence[str]) -> list[int]:
        ids = [self._user_id(u) for u in usernames]
        return [i for i in ids if i is not None]

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
        """1 request, plus one user lookup per reviewer/assignee not seen before."""
        payload: dict[str, Any] = {
            "source_branch": head_branch,
            "target_branch": base_branch,
            "title": titled(title, draft),
            "description": body,
        }
        if labels:
            payload["labels"] = ",".join(labels)
        if assignees:
            payload["assignee_ids"] = self._ids(assignees)
        if reviewers:
            payload["reviewer_ids"] = self._ids(reviewers)
        mrs = self._p(repo).mergerequests
        made = self.http.call(f"open MR from {head_branch}", lambda: mrs.create(payload, **NO_RETRY))
        return self._seen(repo, made.asdict())

    def update_pr(self, repo: str, number: int, update: PrUpdate) -> PullRequest:
        """1 request; a title change keeps the MR's draft state (one more read unless it was seen
        in the last minute), a draft toggle alone reads the title first."""
        payload: dict[str, Any] = {}
        title = update.title
        if update.draft is not None:
            title = titled(title if title is not None else self.get_pr(repo, number).title, update.draft)
        elif title is not None:
            title = titled(title, self._is_draft(repo, number))
        if title is not None:
            payload["title"] = title
        if update.body is not None:
            payload["description"] = update.body
        if update.labels is not None:
            payload["labels"] = ",".join(update.labels)
        if update.assignees is not None:
            payload["assignee_ids"] = self._ids(update.assignees)
        if update.reviewers is not None:
            payload["reviewer_ids"] = self._ids(update.reviewers)
        if not payload:
            return self.get_pr(repo, number)
        return self._seen(repo, self._update_mr(repo, number, f"update MR !{number}", payload))

    def close_pr(self, repo: str, number: int, comment: str | None = None) -> None:
        if comment:
            self.comment(repo, number, comment)
        self._update_mr(repo, number, f"close MR !{number}", {"state_event": "close"})

    def reopen_pr(self, repo: str, number: int) -> None:
        self._update_mr(repo, number, f"reopen MR !{number}", {"state_event": "reopen"})

    def _put_merge(self, repo: str, number: int, payload: dict[str, Any]) -> Any:
        """``PUT …/merge_requests/:iid/merge`` with ``payload`` as its body (see the module
        docstring: ``ProjectMergeRequest.merge`` would send these as query parameters)."""
        mr = self._mr(repo, number)
        return self.gl.http_put(f"{mr.manager.path}/{mr.encoded_id}/merge", post_data=payload, **NO_RETRY)

    def merge_pr(self, repo: str, number: int, method: MergeMethod, expected_head: str | None) -> bool:
        """``rebase``/``merge`` follow the project's merge method; ``squash`` squashes. 405/406 (cannot
        be merged) and 409 (head moved) raise Conflict."""
        payload: dict[str, Any] = {"squash": method == "squash"}
        if expected_head:
            payload["sha"] = expected_head
        data = self.http.call(f"merge MR !{number}", lambda: self._put_merge(repo, number, payload))
        return isinstance(data, Mapping) and data.get("state") == "merged"

    def enable_auto_merge(self, repo: str, number: int, method: MergeMethod) -> bool:
        """Only once GitLab has a pipeline for the MR's current head (earlier, GitLab would merge the
        new commit without validating it): False otherwise, so the caller tries again later."""
        mr = self._get_mr(repo, number)
        if not self._head_pipeline_current(repo, number, mr):
            return False
        payload = {
            "sha": mr["sha"],
            "squash": method == "squash",
            "auto_merge": True,  # GitLab >= 17.11
            "merge_when_pipeline_succeeds": True,  # the same, for older self-managed GitLab
        }
        try:
            self.http.call(f"auto-merge MR !{number}", lambda: self._put_merge(repo, number, payload))
        except Conflict:
            return False
        return True

    def _head_pipeline_current(self, repo: str, number: int, mr: Mapping[str, Any]) -> bool:
        """GitLab's own rule (``MergeRequest#diff_head_pipeline``: the head pipeline counts when its
        ``sha`` or its ``source_sha`` is the MR's head). A merged results pipeline or a merge train
        pipeline runs on a merge commit of the target and the head (ref
        ``refs/merge-requests/<iid>/merge`` or ``…/train``), so its ``sha`` is never the head; the
        API does not show ``source_sha``, which is that merge commit's last parent: one more read
        (``GET /repository/commits/:sha``), only for such pipelines."""
        pipeline = mr.get("head_pipeline") or {}
        head = mr.get("sha")
        if not pipeline or not head:
            return False
        if pipeline.get("sha") == head:
            return True
        if not re.fullmatch(rf"refs/merge-requests/{number}/(merge|train)", str(pipeline.get("ref") or "")):
            return False
        what = f"read the merge commit of MR !{number}'s pipeline"
        sha = str(pipeline.get("sha"))
        commits = self._p(repo).commits
        commit = self.http.call(what, lambda: commits.get(sha, stats="false", **NO_RETRY)).asdict()
        return head in (commit.get("parent_ids") or ())[1:]

    def disable_auto_merge(self, repo: str, number: int) -> None:
        mr = self._mr(repo, number)
        self.http.run(
            f"cancel auto-merge on MR !{number}",
            lambda: mr.cancel_merge_when_pipeline_succeeds(**NO_RETRY),
            ok=(406,),
        )

    # --- conversation --------------------------------------------------------------------------
    def comment(self, repo: str, number: int, body: str) -> str:
        notes = self._mr(repo, number).notes
        note = self.http.call(f"comment on MR !{number}", lambda: notes.create({"body": body}, **NO_RETRY))
        return str(note.id)

    def set_status(self, repo: str, sha: str, state: str, context: str, description: str) -> None:
        """``POST /projects/:id/statuses/:sha`` (the ``CommitStatuses`` extra): one request; the
        status named ``context`` is replaced. GitLab says ``failed`` where GitHub says ``failure``."""
        gitlab_state = {"success": "success", "failure": "failed", "pending": "pending"}[state]
        body = {"state": gitlab_state, "name": context, "description": description[:255]}
        statuses = self._p(repo).commits.get(sha, lazy=True).statuses
        self.http.call(f"set status {context} on {sha[:12]}", lambda: statuses.create(body, **NO_RETRY))

    def react(self, repo: str, number: int, comment_id: int | str, reaction: Reaction) -> None:
        emoji = self._mr(repo, number).notes.get(comment_id, lazy=True).awardemojis
        self.http.call(
            f"award emoji on note {comment_id}", lambda: emoji.create({"name": reaction.value}, **NO_RETRY)
        )

    def permission(self, repo: str, user: str) -> Permission:
        """Effective access (inherited from groups too) via ``members/all/:user_id``."""
        user_id = self._user_id(user)
        if user_id is None:
            return Permission.NONE
        members = self._p(repo).members_all
        found = self.http.run(f"read {user}'s access", lambda: members.get(user_id, **NO_RETRY), ok=(404,))
        if isinstance(found, Refused):
            return Permission.NONE
        return access_to_permission(int(found.asdict().get("access_level", 0)))

    def team_member(self, repo: str, team: str, user: str) -> bool:
        """Optional extra: ``team`` is a group path; effective membership (1 request + user lookup).

        ``GET /groups/:id/members/all/:user_id`` (``:id`` the URL-encoded group path; ``all`` counts
        members inherited from parent groups): 200 is a member, 404 is not. An unknown user is not
        a member of anything and costs no membership request."""
        user_id = self._user_id(user)
        if user_id is None:
            return False
        members = self.gl.groups.get(team.strip().strip("/"), lazy=True).members_all
        found = self.http.run(
            f"read membership of group {team}", lambda: members.get(user_id, **NO_RETRY), ok=(404,)
        )
        return not isinstance(found, Refused)
