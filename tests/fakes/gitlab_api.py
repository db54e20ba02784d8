"""A small stateful GitLab (API v4) behind ``responses``: the calls ``GitLabForge`` makes, answered
from a ``Git`` model with bodies shaped as GitLab's docs show (the same shapes as
``tests/fixtures/api/gitlab``).

Commits made through the API are authored by the token's bot user (``bot_name``; GitLab commits
carry a name and email, no account). As strict as GitLab, each rule from its docs or its source:
- commits API (docs: api/commits "Create a commit with multiple files and actions"): ``update``/
  ``delete`` of a missing file and ``create`` of an existing one are 400s; an existing branch with
  ``start_sha`` needs ``force``; an action's ``last_commit_id`` is checked as GitLab's
  ``Files::BaseService#file_has_changed?`` does: the file's last commit on the start branch against
  its last commit as of that id, and without a start branch (``start_sha`` given) the default branch;
- ``POST merge_requests`` for a source branch with an open MR is 409 "Another open merge request
  already exists for this source branch" (docs: api/merge_requests "Create MR");
- ``head_pipeline`` (docs: api/merge_requests "Get single MR") can be a merged results or merge
  train pipeline: its ``sha`` is a merge commit of the target and the head
  (docs: ci/pipelines/merged_results_pipelines), readable through ``GET repository/commits/:sha``;
- ``before_commit`` runs inside the commits call before it applies: a person's concurrent push.
No pagination: every list fits one page.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import responses

from tests.fakes.git_model import Commit, Git, Person, PrRecord
from tests.fakes.github_shapes import blob_sha

GL = "https://gitlab.example.com"
REPO = "acme/deploy"
BOT_NAME = "manifest-bot"
BOT_USERNAME = "project_42_bot_1234"
Reply = tuple[int, dict[str, str], str | bytes]
_STATES = {"open": "opened", "closed": "closed", "merged": "merged"}


def reply(status: int, body: Any) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


class GitLabFake:
    """State plus handlers; ``install(rsps)`` registers the routes."""

    def __init__(
        self,
        git: Git,
        *,
        repo: str = REPO,
        url: str = GL,
        bot_name: str = BOT_NAME,
        bot_username: str = BOT_USERNAME,
    ) -> None:
        self.git, self.repo, self.url = git, repo, url
        self.bot = Person(bot_name, f"{bot_username}@noreply.gitlab.example.com")
        self.bot_username = bot_username
        self.base = f"{url}/api/v4/projects/{quote(repo, safe='')}"
        self.default_branch = "main"
        #: MR iid -> its head pipeline (``{"sha", "ref", "status"}``), as ``head_pipeline`` shows it
        self.pipelines: dict[int, dict[str, Any]] = {}
        #: merge commits GitLab made for merged results / merge train pipelines: sha -> parents
        self.merge_commits: dict[str, list[str]] = {}
        self.auto_merge: dict[int, dict[str, Any]] = {}
        #: commit sha -> status name -> the status GitLab keeps (``POST statuses/:sha``)
        self.statuses: dict[str, dict[str, dict[str, Any]]] = {}
        self.before_commit: Callable[[], None] | None = None

    # --- shapes ------------------------------------------------------------------------------------
    def _user(self, username: str) -> dict[str, Any]:
        return {"id": 99, "username": username, "name": self.bot.name, "state": "active"}

    def mr_json(self, mr: PrRecord) -> dict[str, Any]:
        mergeable = self.git.mergeable(mr)
        status = {None: "checking", True: "mergeable", False: "conflict"}[mergeable]
        return {
            "id": 1000 + mr.number,
            "iid": mr.number,
            "project_id": 42,
            "title": mr.title,
            "description": mr.body,
            "state": _STATES[mr.state],
            "source_branch": mr.head,
            "target_branch": mr.base,
            "sha": self.git.refs.get(mr.head),
            "labels": list(mr.labels),
            "draft": mr.title.startswith("Draft: "),
            "work_in_progress": mr.title.startswith("Draft: "),
            "author": self._user(mr.author),
            "has_conflicts": mergeable is False,
            "detailed_merge_status": status,
            "head_pipeline": self._pipeline_json(mr.number),
            "web_url": f"{self.url}/{self.repo}/-/merge_requests/{mr.number}",
        }

    def _pipeline_json(self, iid: int) -> dict[str, Any] | None:
        found = self.pipelines.get(iid)
        if found is None:
            return None
        pid = 500 + iid
        return {
            "id": pid,
            "iid": iid,
            "project_id": 42,
            "sha": found["sha"],
            "ref": found["ref"],
            "status": found.get("status", "running"),
            "source": "merge_request_event",
            "web_url": f"{self.url}/{self.repo}/-/pipelines/{pid}",
        }

    def merged_results_pipeline(self, iid: int, *, kind: str = "merge", head: str | None = None) -> str:
        """GitLab runs the MR's pipeline on a merge commit of the target and ``head`` (the MR's
        head by default): that commit's sha is the pipeline's ``sha``."""
        mr = self.git.prs[iid]
        source = head or self.git.refs[mr.head]
        sha = f"{0xC0FFEE + len(self.merge_commits):040x}"
        self.merge_commits[sha] = [self.git.refs[mr.base], source]
        self.pipelines[iid] = {"sha": sha, "ref": f"refs/merge-requests/{iid}/{kind}"}
        return sha

    def single_commit(self, req: Any) -> Reply:
        sha = unquote(urlparse(req.url).path.rsplit("/", 1)[1])
        if sha in self.merge_commits:
            who = {"author_name": "GitLab", "author_email": "noreply@gitlab.example.com"}
            return reply(
                200,
                {
                    "id": sha,
                    "short_id": sha[:8],
                    "parent_ids": self.merge_commits[sha],
                    "title": "merge",
                    "message": "merge",
                    **who,
                },
            )
        resolved = self.git.resolve(sha)
        if resolved is None:
            return reply(404, {"message": "404 Commit Not Found"})
        return reply(200, self.commit_json(self.git.commits[resolved]))

    def status(self, req: Any) -> Reply:
        sha = unquote(urlparse(req.url).path.rsplit("/", 1)[1])
        if self.git.resolve(sha) is None:
            return reply(404, {"message": "404 Commit Not Found"})
        body = json.loads(req.body or b"{}")
        if body.get("state") not in ("pending", "running", "success", "failed", "canceled", "skipped"):
            return reply(400, {"error": "state does not have a valid value"})
        name = str(body.get("name") or "default")
        made = {"id": sum(len(v) for v in self.statuses.values()) + 1, "sha": sha, "status": body["state"],
                "name": name, "description": body.get("description")}  # fmt: skip
        self.statuses.setdefault(sha, {})[name] = made
        return reply(201, made)

    def merge(self, req: Any) -> Reply:
        mr = self._mr(req)
        if mr is None:
            return reply(404, {"message": "404 Not found"})
        b = json.loads(req.body)
        if b.get("sha") and b["sha"] != self.git.refs.get(mr.head):
            return reply(409, {"message": "SHA does not match HEAD of source branch"})
        if b.get("auto_merge") or b.get("merge_when_pipeline_succeeds"):
            self.auto_merge[mr.number] = b
        else:
            mr.state = "merged"
        return reply(200, self.mr_json(mr))

    @staticmethod
    def commit_json(c: Commit) -> dict[str, Any]:
        return {
            "id": c.sha,
            "short_id": c.sha[:8],
            "parent_ids": [c.parent] if c.parent else [],
            "title": c.message.split("\n", 1)[0],
            "message": c.message,
            "author_name": c.author.name,
            "author_email": c.author.email,
            "committer_name": c.author.name,
            "committer_email": c.author.email,
        }

    # --- repository ------------------------------------------------------------------------------------
    def branch(self, req: Any) -> Reply:
        name = unquote(urlparse(req.url).path.split("/repository/branches/", 1)[1])
        sha = self.git.refs.get(name)
        if req.method == "DELETE":
            if sha is None:
                return reply(404, {"message": "404 Branch Not Found"})
            del self.git.refs[name]
            return 204, {}, ""
        if sha is None:
            return reply(404, {"message": "404 Branch Not Found"})
        return reply(
            200, {"name": name, "commit": self.commit_json(self.git.commits[sha]), "protected": False}
        )

    def create_branch(self, req: Any) -> Reply:
        """``branch`` and ``ref`` as query parameters or in a JSON body: GitLab reads both (docs:
        https://docs.gitlab.com/api/rest/#request-payload, "API requests can use parameters sent
        as query strings or as a payload body"); python-gitlab sends the body."""
        q = {k: v[0] for k, v in parse_qs(urlparse(req.url).query).items()}
        if req.body:
            q.update(json.loads(req.body))
        if "branch" not in q or "ref" not in q:
            return reply(400, {"error": "branch is missing, ref is missing"})
        name, ref = q["branch"], q["ref"]
        if name in self.git.refs:
            return reply(400, {"message": "Branch already exists"})
        sha = self.git.resolve(ref)
        if sha is None:
            return reply(400, {"message": "Invalid reference name"})
        self.git.refs[name] = sha
        return reply(201, {"name": name, "commit": self.commit_json(self.git.commits[sha])})

    def raw(self, req: Any) -> Reply:
        url = urlparse(req.url)
        path = unquote(url.path.split("/files/", 1)[1].removesuffix("/raw"))
        tree = self.git.tree(parse_qs(url.query)["ref"][0])
        if tree is None or path not in tree:
            return reply(404, {"message": "404 File Not Found"})
        return 200, {"Content-Type": "text/plain"}, tree[path]

    def tree(self, req: Any) -> Reply:
        q = parse_qs(urlparse(req.url).query)
        sha = self.git.resolve(q["ref"][0])
        if sha is None:
            return reply(404, {"message": "404 Tree Not Found"})
        files = sorted(self.git.commits[sha].tree)
        dirs = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p})
        entries = [
            {"id": "t", "name": d.rsplit("/", 1)[-1], "type": "tree", "path": d, "mode": "040000"}
            for d in dirs
        ]
        tree = self.git.commits[sha].tree
        entries += [
            {"id": blob_sha(tree[f]), "name": f.rsplit("/", 1)[-1], "type": "blob", "path": f}
            | {"mode": "100644"}
            for f in files
        ]
        return reply(200, entries)

    def compare(self, req: Any) -> Reply:
        q = parse_qs(urlparse(req.url).query)
        base, head = self.git.resolve(q["from"][0]), self.git.resolve(q["to"][0])
        if base is None or head is None:
            return reply(404, {"message": "404 Ref Not Found"})
        commits = [self.commit_json(c) for c in self.git.between(base, head)]
        diffs = [{"old_path": f, "new_path": f, "diff": ""} for f in self.git.three_dot(base, head)]
        return reply(200, {"commit": commits[-1] if commits else None, "commits": commits, "diffs": diffs})

    def _last_touch(self, sha: str, path: str) -> str | None:
        """The last commit (from ``sha`` back) that changed ``path``."""
        for cur in self.git.ancestors(sha):
            parent = self.git.commits[cur].parent
            before = self.git.commits[parent].tree.get(path) if parent else None
            if self.git.commits[cur].tree.get(path) != before:
                return cur
        return None

    def _file_has_changed(self, start_branch: str | None, path: str, commit_id: str) -> bool:
        """GitLab's check of ``last_commit_id``: the file's last commit on the start branch (the
        default branch when there is none, which is what ``start_sha`` leaves) differs from its
        last commit as of ``commit_id``. Unknown ids and files without history are no evidence."""
        branch_head = self.git.refs.get(start_branch or self.default_branch)
        if branch_head is None or commit_id not in self.git.commits:
            return False
        on_branch, as_of = self._last_touch(branch_head, path), self._last_touch(commit_id, path)
        return on_branch is not None and as_of is not None and on_branch != as_of

    def commits(self, req: Any) -> Reply:
        if self.before_commit is not None:
            hook, self.before_commit = self.before_commit, None
            hook()
        b = json.loads(req.body)
        name = b["branch"]
        start = b.get("start_sha") or b.get("start_branch")
        if start and start != name and name in self.git.refs and not b.get("force"):
            msg = f"A branch called '{name}' already exists. Switch to that branch in order to make changes"
            return reply(400, {"message": msg})
        parent = self.git.resolve(start) if start else self.git.refs.get(name)
        if parent is None:
            return reply(400, {"message": "You can only create or edit files when you are on a branch"})
        start_branch = b.get("start_branch") or (None if b.get("start_sha") else name)
        tree = self.git.commits[parent].tree
        changes: dict[str, bytes | None] = {}
        for a in b["actions"]:
            path, action = a["file_path"], a["action"]
            if action in ("update", "delete") and path not in tree:
                return reply(400, {"message": "A file with this name doesn't exist"})
            if action == "create" and path in tree:
                return reply(400, {"message": "A file with this name already exists"})
            last = a.get("last_commit_id")
            if last and action != "create" and self._file_has_changed(start_branch, path, last):
                return reply(400, {"message": f"The file has changed since you started editing it: {path}"})
            data = (
                base64.b64decode(a["content"])
                if a.get("encoding") == "base64"
                else a.get("content", "").encode()
            )
            changes[path] = None if action == "delete" else data
        sha = self.git.commit(parent, changes, author=self.bot, message=b["commit_message"])
        self.git.refs[name] = sha
        return reply(201, self.commit_json(self.git.commits[sha]))

    # --- merge requests --------------------------------------------------------------------------------
    def mrs(self, req: Any) -> Reply:
        if req.method == "POST":
            b = json.loads(req.body)
            if b["source_branch"] not in self.git.refs:
                return reply(400, {"message": {"source_branch": ["is invalid"]}})
            taken = [m for m in self.git.prs.values() if m.head == b["source_branch"] and m.state == "open"]
            if taken:
                msg = f"Another open merge request already exists for this source branch: !{taken[0].number}"
                return reply(409, {"message": [msg]})
            mr = self.git.open_pr(
                b["source_branch"],
                b["target_branch"],
                b["title"],
                b.get("description") or "",
                self.bot_username,
            )
            mr.labels = [x for x in (b.get("labels") or "").split(",") if x]
            return reply(201, self.mr_json(mr))
        q = parse_qs(urlparse(req.url).query)
        src = q.get("source_branch", [None])[0]
        state = q.get("state", ["all"])[0]
        found = [
            m for m in self.git.prs.values() if src in (None, m.head) and state in ("all", _STATES[m.state])
        ]
        return reply(200, [self.mr_json(m) for m in found])

    def _mr(self, req: Any) -> PrRecord | None:
        return self.git.prs.get(int(urlparse(req.url).path.split("/merge_requests/", 1)[1].split("/")[0]))

    def mr(self, req: Any) -> Reply:
        mr = self._mr(req)
        if mr is None:
            return reply(404, {"message": "404 Not found"})
        if req.method == "PUT":
            b = json.loads(req.body)
            mr.title = b.get("title", mr.title)
            mr.body = b.get("description", mr.body)
            if "labels" in b:
                mr.labels = [x for x in b["labels"].split(",") if x]
            event = b.get("state_event")
            if event == "close" and mr.state == "open":
                mr.state = "closed"
            elif event == "reopen" and mr.state == "closed":
                mr.state = "open"
        return reply(200, self.mr_json(mr))

    def note(self, req: Any) -> Reply:
        mr = self._mr(req)
        if mr is None:
            return reply(404, {"message": "404 Not found"})
        c = self.git.add_comment(mr.number, self.bot_username, json.loads(req.body)["body"])
        return reply(
            201,
            {
                "id": c.id,
                "body": c.body,
                "author": self._user(self.bot_username),
                "system": False,
                "noteable_type": "MergeRequest",
                "noteable_iid": mr.number,
            },
        )

    def award(self, req: Any) -> Reply:
        note_id = int(urlparse(req.url).path.split("/notes/", 1)[1].split("/")[0])
        c = self.git.find_comment(note_id)
        if c is None:
            return reply(404, {"message": "404 Not found"})
        name = json.loads(req.body)["name"]
        c.reactions.append(name)
        return reply(
            201,
            {
                "id": len(c.reactions),
                "name": name,
                "user": self._user(self.bot_username),
                "awardable_id": note_id,
                "awardable_type": "Note",
            },
        )

    def routes(self) -> tuple[tuple[str, re.Pattern[str], Any, str], ...]:
        """(method, URL pattern, handler, the GitLab docs page its request and answer follow).
        GitLab publishes no complete machine-readable API schema, so each shape is cited."""
        esc = re.escape(self.base)
        api = "https://docs.gitlab.com/api"
        return (
            (
                "GET",
                re.compile(rf"{esc}/repository/branches/.+"),
                self.branch,
                f"{api}/branches/#get-single-repository-branch",
            ),
            (
                "DELETE",
                re.compile(rf"{esc}/repository/branches/.+"),
                self.branch,
                f"{api}/branches/#delete-repository-branch",
            ),
            (
                "POST",
                re.compile(rf"{esc}/repository/branches(\?.*)?$"),
                self.create_branch,
                f"{api}/branches/#create-repository-branch",
            ),
            (
                "GET",
                re.compile(rf"{esc}/repository/files/.+/raw.*"),
                self.raw,
                f"{api}/repository_files/#get-raw-file-from-repository",
            ),
            (
                "GET",
                re.compile(rf"{esc}/repository/tree.*"),
                self.tree,
                f"{api}/repositories/#list-repository-tree",
            ),
            (
                "POST",
                re.compile(rf"{esc}/repository/commits$"),
                self.commits,
                f"{api}/commits/#create-a-commit-with-multiple-files-and-actions",
            ),
            (
                "GET",
                re.compile(rf"{esc}/repository/compare.*"),
                self.compare,
                f"{api}/repositories/#compare-branches-tags-or-commits",
            ),
            (
                "GET",
                re.compile(rf"{esc}/repository/commits/[^/?]+(\?.*)?$"),
                self.single_commit,
                f"{api}/commits/#get-a-single-commit",
            ),
            (
                "POST",
                re.compile(rf"{esc}/statuses/[0-9a-f]+$"),
                self.status,
                f"{api}/commits/#set-the-pipeline-status-of-a-commit",
            ),
            (
                "PUT",
                re.compile(rf"{esc}/merge_requests/\d+/merge$"),
                self.merge,
                f"{api}/merge_requests/#merge-a-merge-request",
            ),
            (
                "GET",
                re.compile(rf"{esc}/merge_requests(\?.*)?$"),
                self.mrs,
                f"{api}/merge_requests/#list-project-merge-requests",
            ),
            ("POST", re.compile(rf"{esc}/merge_requests$"), self.mrs, f"{api}/merge_requests/#create-mr"),
            (
                "GET",
                re.compile(rf"{esc}/merge_requests/\d+$"),
                self.mr,
                f"{api}/merge_requests/#get-single-mr",
            ),
            ("PUT", re.compile(rf"{esc}/merge_requests/\d+$"), self.mr, f"{api}/merge_requests/#update-mr"),
            (
                "POST",
                re.compile(rf"{esc}/merge_requests/\d+/notes$"),
                self.note,
                f"{api}/notes/#create-new-merge-request-note",
            ),
            (
                "POST",
                re.compile(rf"{esc}/merge_requests/\d+/notes/\d+/award_emoji$"),
                self.award,
                f"{api}/emoji_reactions/#add-a-new-emoji-reaction-to-a-comment",
            ),
        )

    def install(self, rsps: responses.RequestsMock) -> None:
        for method, url, handler, _docs in self.routes():
            rsps.add_callback(method, url, callback=handler)


def gitlab_routes(git: Git, rsps: responses.RequestsMock) -> GitLabFake:
    fake = GitLabFake(git)
    fake.install(rsps)
    return fake
