"""A small stateful GitHub behind ``responses``: the REST and GraphQL calls ``GitHubForge`` makes,
answered from a ``Git`` model, with bodies shaped as GitHub's docs show (the same shapes as
``tests/fixtures/api/github``).

Writes made through the API are authored by the App's bot user (``bot``); a person's push is
``git.push(branch, changes, author=Person(...))``. No pagination: every list fits one page.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import responses

from tests.fakes.git_model import Commit, Git, Person, PrRecord

GH = "https://api.github.com"
REPO = "acme/deploy"
BOT = "manifest-bot[bot]"
ZERO = "0" * 40
Reply = tuple[int, dict[str, str], str | bytes]


def reply(status: int, body: Any) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def bot_person(login: str = BOT) -> Person:
    return Person(login, f"41898282+{login}@users.noreply.github.com", login)


def gql_error(kind: str, path: str, message: str) -> dict[str, Any]:
    return {"type": kind, "path": [path], "locations": [{"line": 1, "column": 1}], "message": message}


class GitHubFake:
    """State plus handlers; ``install(rsps)`` registers the routes."""

    def __init__(self, git: Git, *, repo: str = REPO, api: str = GH, bot: str = BOT) -> None:
        self.git, self.repo, self.api, self.bot = git, repo, api, bot
        self.base = f"{api}/repos/{repo}"

    # --- shapes ------------------------------------------------------------------------------------
    def _repo(self) -> dict[str, Any]:
        owner, name = self.repo.split("/")
        return {"id": 1, "node_id": "R_1", "name": name, "full_name": self.repo, "owner": {"login": owner}}

    def pr_json(self, pr: PrRecord) -> dict[str, Any]:
        git = self.git
        return {
            "number": pr.number,
            "node_id": f"PR_{pr.number}",
            "html_url": f"https://github.com/{self.repo}/pull/{pr.number}",
            "state": "closed" if pr.state == "merged" else pr.state,
            "title": pr.title,
            "body": pr.body,
            "draft": pr.draft,
            "labels": [{"name": label} for label in pr.labels],
            "user": {"login": pr.author, "type": "Bot"},
            "merged_at": "2024-05-01T10:00:00Z" if pr.state == "merged" else None,
            "mergeable": git.mergeable(pr),
            "head": {"ref": pr.head, "sha": git.refs.get(pr.head), "repo": self._repo()},
            "base": {"ref": pr.base, "sha": git.refs.get(pr.base), "repo": self._repo()},
        }

    def pr_node(self, pr: PrRecord) -> dict[str, Any]:
        """A GraphQL PullRequest node as the observe query asks for it."""
        mergeable = self.git.mergeable(pr)
        return {
            "id": f"PR_{pr.number}",
            "number": pr.number,
            "title": pr.title,
            "body": pr.body,
            "url": f"https://github.com/{self.repo}/pull/{pr.number}",
            "isDraft": pr.draft,
            "headRefName": pr.head,
            "headRefOid": self.git.refs.get(pr.head),
            "baseRefName": pr.base,
            "mergeable": {None: "UNKNOWN", True: "MERGEABLE", False: "CONFLICTING"}[mergeable],
            "author": {"login": pr.author},
            "headRepository": {"nameWithOwner": self.repo},
            "labels": {"nodes": [{"name": label} for label in pr.labels]},
        }

    @staticmethod
    def commit_json(c: Commit) -> dict[str, Any]:
        who = {"name": c.author.name, "email": c.author.email, "date": "2024-05-01T10:00:00Z"}
        return {
            "sha": c.sha,
            "commit": {"author": who, "committer": who, "message": c.message},
            "author": {"login": c.author.login, "type": "User"} if c.author.login else None,
            "committer": {"login": "web-flow", "type": "User"},
            "parents": [{"sha": c.parent}] if c.parent else [],
        }

    # --- GraphQL -----------------------------------------------------------------------------------
    def graphql(self, req: Any) -> Reply:
        body = json.loads(req.body)
        q, v = body["query"], body["variables"]
        if q.lstrip().startswith("mutation"):
            return self._mutation(q, v)
        repo: dict[str, Any] = {"id": "R_1"}
        if "pullRequests(" in q:  # observe: base head + open PRs from the bot's branch
            repo["ref"] = self._ref(v["base"])
            prs = [p for p in self.git.prs.values() if p.head == v["head"] and p.state == "open"]
            repo["pullRequests"] = {"nodes": [self.pr_node(p) for p in prs]}
        elif "qualifiedName" in q:
            repo["ref"] = self._ref(v["ref"])
        elif "object(expression:" in q:
            repo = self._blobs(v)
        elif "pullRequest(number:" in q:
            repo = {"pullRequest": {"id": f"PR_{v['number']}"}}
        return reply(200, {"data": {"repository": repo}})

    def _ref(self, name: str) -> dict[str, Any] | None:
        sha = self.git.refs.get(name.removeprefix("refs/heads/"))
        return {"target": {"oid": sha}} if sha else None

    def _blobs(self, variables: dict[str, Any]) -> dict[str, Any]:
        """The read_files query: aliased blobs ``f0…`` for the expressions ``$e0…`` (null when absent)."""
        out: dict[str, Any] = {}
        for key in sorted(k for k in variables if re.fullmatch(r"e\d+", k)):
            ref, _, path = variables[key].partition(":")
            data = (self.git.tree(ref) or {}).get(path)
            out["f" + key[1:]] = None if data is None else blob_node(data)
        return out

    def _mutation(self, q: str, v: dict[str, Any]) -> Reply:
        """Mutations in one document run in order; each failure adds an error and a null field."""
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        if "updateRefs" in q:
            ok = self._update_refs(v.get("refs") or v["input"], errors)
            data["updateRefs"] = {"clientMutationId": None} if ok else None
        if "createCommitOnBranch" in q:
            oid = self._commit(v.get("commit") or v["input"], errors)
            data["createCommitOnBranch"] = {"commit": {"oid": oid}} if oid else None
        body: dict[str, Any] = {"data": data}
        if errors:
            body["errors"] = errors
        return reply(200, body)

    def _update_refs(self, payload: dict[str, Any], errors: list[dict[str, Any]]) -> bool:
        (upd,) = payload["refUpdates"]
        name = upd["name"].removeprefix("refs/heads/")
        if self.git.refs.get(name, ZERO) != upd["beforeOid"]:
            errors.append(
                gql_error("UNPROCESSABLE", "updateRefs", f"A ref named {name!r} is not at beforeOid")
            )
            return False
        if upd["afterOid"] == ZERO:
            self.git.refs.pop(name, None)
        else:
            self.git.refs[name] = upd["afterOid"]
        return True

    def _commit(self, payload: dict[str, Any], errors: list[dict[str, Any]]) -> str | None:
        branch = payload["branch"]["branchName"]
        head = self.git.refs.get(branch)
        if head is None:
            errors.append(gql_error("NOT_FOUND", "createCommitOnBranch", f"No branch {branch!r}"))
            return None
        if head != payload["expectedHeadOid"]:
            expected = payload["expectedHeadOid"]
            msg = f'Expected branch to point to "{expected}" but it did not.  Pull and try again.'
            errors.append(gql_error("STALE_DATA", "createCommitOnBranch", msg))
            return None
        fc = payload["fileChanges"]
        changes: dict[str, bytes | None] = {
            a["path"]: base64.b64decode(a["contents"]) for a in fc.get("additions") or ()
        }
        changes.update({d["path"]: None for d in fc.get("deletions") or ()})
        message = payload["message"]["headline"] + (
            "\n\n" + payload["message"]["body"] if payload["message"].get("body") else ""
        )
        return self.git.push(branch, changes, author=bot_person(self.bot), message=message)

    # --- REST ----------------------------------------------------------------------------------------
    def contents(self, req: Any) -> Reply:
        url = urlparse(req.url)
        path = unquote(url.path.split("/contents/", 1)[1])
        tree = self.git.tree(parse_qs(url.query)["ref"][0])
        if tree is None or path not in tree:
            return reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        return 200, {"Content-Type": "application/vnd.github.raw+json"}, tree[path]

    def trees(self, req: Any) -> Reply:
        ref = unquote(urlparse(req.url).path.split("/git/trees/", 1)[1])
        sha = self.git.resolve(ref)
        if sha is None:
            return reply(404, {"message": "Not Found"})
        files = self.git.commits[sha].tree
        entries = [
            {"path": p, "mode": "100644", "type": "blob", "size": len(d)} for p, d in sorted(files.items())
        ]
        dirs = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p})
        entries += [{"path": d, "mode": "040000", "type": "tree"} for d in dirs]
        return reply(200, {"sha": sha, "truncated": False, "tree": entries})

    def compare(self, req: Any) -> Reply:
        a, b = (unquote(x) for x in urlparse(req.url).path.split("/compare/", 1)[1].split("...", 1))
        base, head = self.git.resolve(a), self.git.resolve(b)
        if base is None or head is None:
            return reply(404, {"message": "Not Found"})
        commits = self.git.between(base, head)
        files = [{"filename": f, "status": "modified"} for f in self.git.three_dot(base, head)]
        return reply(
            200,
            {
                "status": "ahead" if commits else "identical",
                "ahead_by": len(commits),
                "total_commits": len(commits),
                "commits": [self.commit_json(c) for c in commits],
                "files": files,
            },
        )

    def pulls(self, req: Any) -> Reply:
        if req.method == "POST":
            b = json.loads(req.body)
            if b["head"] not in self.git.refs:
                return reply(
                    422, {"message": "Validation Failed", "errors": [{"field": "head", "code": "invalid"}]}
                )
            pr = self.git.open_pr(b["head"], b["base"], b["title"], b.get("body") or "", self.bot)
            pr.draft = bool(b.get("draft"))
            return reply(201, self.pr_json(pr))
        query = parse_qs(urlparse(req.url).query)
        head = query["head"][0].split(":", 1)[1] if "head" in query else None
        state = query.get("state", ["open"])[0]
        found = [p for p in self.git.prs.values() if head in (None, p.head) and state in ("all", p.state)]
        return reply(200, [self.pr_json(p) for p in found])

    def _number(self, req: Any, after: str) -> int:
        return int(urlparse(req.url).path.split(after, 1)[1].split("/")[0])

    def pull(self, req: Any) -> Reply:
        pr = self.git.prs.get(self._number(req, "/pulls/"))
        if pr is None:
            return reply(404, {"message": "Not Found"})
        if req.method == "PATCH":
            b = json.loads(req.body)
            pr.title = b.get("title", pr.title)
            pr.body = b.get("body", pr.body)
            if b.get("state") in ("open", "closed") and pr.state != "merged":
                pr.state = b["state"]
        return reply(200, self.pr_json(pr))

    def issue(self, req: Any) -> Reply:
        pr = self.git.prs[self._number(req, "/issues/")]
        b = json.loads(req.body)
        pr.labels = list(b.get("labels", pr.labels))
        pr.assignees = list(b.get("assignees", pr.assignees))
        return reply(200, {"number": pr.number, "labels": [{"name": x} for x in pr.labels]})

    def reviewers(self, req: Any) -> Reply:
        pr = self.git.prs[self._number(req, "/pulls/")]
        pr.reviewers = list(json.loads(req.body).get("reviewers") or ())
        return reply(201, self.pr_json(pr))

    def comment(self, req: Any) -> Reply:
        number = self._number(req, "/issues/")
        if number not in self.git.prs:
            return reply(404, {"message": "Not Found"})
        c = self.git.add_comment(number, self.bot, json.loads(req.body)["body"])
        user = {"login": self.bot, "type": "Bot"}
        return reply(201, {"id": c.id, "node_id": f"IC_{c.id}", "body": c.body, "user": user})

    def reaction(self, req: Any) -> Reply:
        c = self.git.find_comment(self._number(req, "/issues/comments/"))
        if c is None:
            return reply(404, {"message": "Not Found"})
        content = json.loads(req.body)["content"]
        c.reactions.append(content)
        return reply(201, {"id": len(c.reactions), "content": content, "user": {"login": self.bot}})

    def create_ref(self, req: Any) -> Reply:
        b = json.loads(req.body)
        name = b["ref"].removeprefix("refs/heads/")
        if name in self.git.refs:
            return reply(422, {"message": "Reference already exists", "status": "422"})
        self.git.refs[name] = b["sha"]
        return reply(201, {"ref": b["ref"], "object": {"sha": b["sha"], "type": "commit"}})

    def delete_ref(self, req: Any) -> Reply:
        name = unquote(urlparse(req.url).path.split("/git/refs/heads/", 1)[1])
        if self.git.refs.pop(name, None) is None:
            return reply(422, {"message": "Reference does not exist", "status": "422"})
        return 204, {}, ""

    def install(self, rsps: responses.RequestsMock) -> None:
        base = re.escape(self.base)
        routes = (
            ("POST", re.compile(rf"{re.escape(self.api)}/graphql$"), self.graphql),
            ("GET", re.compile(rf"{base}/contents/.*"), self.contents),
            ("GET", re.compile(rf"{base}/git/trees/.*"), self.trees),
            ("GET", re.compile(rf"{base}/compare/.*"), self.compare),
            ("GET", re.compile(rf"{base}/pulls(\?.*)?$"), self.pulls),
            ("POST", re.compile(rf"{base}/pulls$"), self.pulls),
            ("GET", re.compile(rf"{base}/pulls/\d+$"), self.pull),
            ("PATCH", re.compile(rf"{base}/pulls/\d+$"), self.pull),
            ("POST", re.compile(rf"{base}/pulls/\d+/requested_reviewers$"), self.reviewers),
            ("PATCH", re.compile(rf"{base}/issues/\d+$"), self.issue),
            ("POST", re.compile(rf"{base}/issues/\d+/comments$"), self.comment),
            ("POST", re.compile(rf"{base}/issues/comments/\d+/reactions$"), self.reaction),
            ("POST", re.compile(rf"{base}/git/refs$"), self.create_ref),
            ("DELETE", re.compile(rf"{base}/git/refs/heads/.+"), self.delete_ref),
        )
        for method, url, handler in routes:
            rsps.add_callback(method, url, callback=handler)


def blob_node(data: bytes) -> dict[str, Any]:
    """A GraphQL ``... on Blob { text isBinary isTruncated byteSize }`` answer."""
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {"text": text, "isBinary": text is None, "isTruncated": False, "byteSize": len(data)}


def github_routes(git: Git, rsps: responses.RequestsMock) -> GitHubFake:
    fake = GitHubFake(git)
    fake.install(rsps)
    return fake
