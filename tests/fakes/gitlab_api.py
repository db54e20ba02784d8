"""A small stateful GitLab (API v4) behind ``responses``: the calls ``GitLabForge`` makes, answered
from a ``Git`` model with bodies shaped as GitLab's docs show (the same shapes as
``tests/fixtures/api/gitlab``).

Commits made through the API are authored by the token's bot user (``bot_name``; GitLab commits
carry a name and email, no account). The commits API is as strict as GitLab's: ``update``/``delete``
of a missing file and ``create`` of an existing one are 400s, an existing branch with ``start_sha``
needs ``force``, and an action's ``last_commit_id`` must be the last commit that touched the file.
No pagination: every list fits one page.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import responses

from tests.fakes.git_model import Commit, Git, Person, PrRecord

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
            "head_pipeline": None,
            "web_url": f"{self.url}/{self.repo}/-/merge_requests/{mr.number}",
        }

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
        q = parse_qs(urlparse(req.url).query)
        name, ref = q["branch"][0], q["ref"][0]
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
        entries += [
            {"id": "b", "name": f.rsplit("/", 1)[-1], "type": "blob", "path": f, "mode": "100644"}
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

    def commits(self, req: Any) -> Reply:
        b = json.loads(req.body)
        name = b["branch"]
        start = b.get("start_sha") or b.get("start_branch")
        if start and name in self.git.refs and not b.get("force"):
            msg = f"A branch called '{name}' already exists. Switch to that branch in order to make changes"
            return reply(400, {"message": msg})
        parent = self.git.resolve(start) if start else self.git.refs.get(name)
        if parent is None:
            return reply(400, {"message": "You can only create or edit files when you are on a branch"})
        tree = self.git.commits[parent].tree
        changes: dict[str, bytes | None] = {}
        for a in b["actions"]:
            path, action = a["file_path"], a["action"]
            if action in ("update", "delete") and path not in tree:
                return reply(400, {"message": "A file with this name doesn't exist"})
            if action == "create" and path in tree:
                return reply(400, {"message": "A file with this name already exists"})
            last = a.get("last_commit_id")
            if last and last != self._last_touch(parent, path):
                msg = "You are attempting to update a file that has changed since you started editing it."
                return reply(400, {"message": msg})
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

    def install(self, rsps: responses.RequestsMock) -> None:
        esc = re.escape(self.base)
        routes = (
            ("GET", re.compile(rf"{esc}/repository/branches/.+"), self.branch),
            ("DELETE", re.compile(rf"{esc}/repository/branches/.+"), self.branch),
            ("POST", re.compile(rf"{esc}/repository/branches(\?.*)?$"), self.create_branch),
            ("GET", re.compile(rf"{esc}/repository/files/.+/raw.*"), self.raw),
            ("GET", re.compile(rf"{esc}/repository/tree.*"), self.tree),
            ("POST", re.compile(rf"{esc}/repository/commits$"), self.commits),
            ("GET", re.compile(rf"{esc}/repository/compare.*"), self.compare),
            ("GET", re.compile(rf"{esc}/merge_requests(\?.*)?$"), self.mrs),
            ("POST", re.compile(rf"{esc}/merge_requests$"), self.mrs),
            ("GET", re.compile(rf"{esc}/merge_requests/\d+$"), self.mr),
            ("PUT", re.compile(rf"{esc}/merge_requests/\d+$"), self.mr),
            ("POST", re.compile(rf"{esc}/merge_requests/\d+/notes$"), self.note),
            ("POST", re.compile(rf"{esc}/merge_requests/\d+/notes/\d+/award_emoji$"), self.award),
        )
        for method, url, handler in routes:
            rsps.add_callback(method, url, callback=handler)


def gitlab_routes(git: Git, rsps: responses.RequestsMock) -> GitLabFake:
    fake = GitLabFake(git)
    fake.install(rsps)
    return fake
