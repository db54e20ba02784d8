"""A small stateful GitHub behind ``responses``: the REST and GraphQL calls ``GitHubForge`` makes,
answered from a ``Git`` model. REST bodies are built by ``github_shapes`` as GitHub's OpenAPI
description defines them (``tests/contracts`` validates every answer, each tagged ``X-Fake``).

As strict as GitHub where GitHub's docs say so, and no kinder where they are silent:
- ``createCommitOnBranch`` refuses a deletion of a path the parent does not have, and a stale
  ``expectedHeadOid``; ``updateRefs`` refuses a lost compare-and-swap with an *untyped* error (the
  schema does not say how that is reported, so the adapter may not rely on a shape);
- ``POST /pulls`` for a head that already has an open PR is 422 "A pull request already exists";
- the PR list (``pull-request-simple``) has no ``mergeable``;
- faults can be injected (``fail``): an untyped "Something went wrong" 200 answer, or the second
  mutation of a document failing after the first was applied, or a write applied but answered 502.

Writes made through the API are authored by the App's bot user (``bot``); a person's push is
``git.push(branch, changes, author=Person(...))``. No pagination unless ``page_size`` is set.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import responses

from tests.fakes import github_shapes as shape
from tests.fakes.git_model import Git, Person, PrRecord

GH = "https://api.github.com"
REPO = "acme/deploy"
BOT = "manifest-bot[bot]"
ZERO = "0" * 40
FAKE_HEADER = "X-Fake"
Reply = tuple[int, dict[str, str], str | bytes]
_DOCS = "https://docs.github.com/rest"
UNTYPED = (
    "Something went wrong while executing your query. "
    "Please include `A1B2:3C4D` in any email to GitHub Support."
)


def reply(status: int, body: Any, **headers: str) -> Reply:
    return status, {"Content-Type": "application/json", FAKE_HEADER: "github", **headers}, json.dumps(body)


def bot_person(login: str = BOT) -> Person:
    return Person(login, f"41898282+{login}@users.noreply.github.com", login)


def gql_error(kind: str | None, path: str, message: str) -> dict[str, Any]:
    error: dict[str, Any] = {"path": [path], "locations": [{"line": 1, "column": 1}], "message": message}
    if kind is not None:
        error["type"] = kind
    return error


@dataclass
class Fault:
    """One injected failure, used once. ``mutation``: the field it hits (``createCommitOnBranch``,
    ``updateRefs``…); ``kind``: ``untyped`` (not applied, 200 with an untyped error), ``after``
    (applied, then answered 502), ``skip`` (not applied, 200 with an untyped error, even when it
    is the second of a pair whose first one was applied)."""

    mutation: str
    kind: str


@dataclass
class GitHubFake:
    """State plus handlers; ``install(rsps)`` registers the routes."""

    git: Git
    repo: str = REPO
    api: str = GH
    bot: str = BOT
    page_size: int | None = None
    faults: list[Fault] = field(default_factory=list)
    auto_merge: dict[int, str] = field(default_factory=dict)
    #: the repository setting "Allow auto-merge" (``allow_auto_merge``; GitHub's default is off)
    allow_auto_merge: bool = True
    #: the base branch's protection requires checks that have not passed yet; without, a PR with no
    #: conflict can merge now, and GitHub refuses auto-merge on it ("clean status")
    checks_pending: bool = True
    #: commit sha → context → the latest status posted for it (GitHub keeps one per context)
    statuses: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{self.api}/repos/{self.repo}"

    def fail(self, mutation: str, kind: str = "untyped") -> None:
        self.faults.append(Fault(mutation, kind))

    def _fault(self, mutation: str) -> Fault | None:
        for fault in self.faults:
            if fault.mutation == mutation:
                self.faults.remove(fault)
                return fault
        return None

    # --- GraphQL -----------------------------------------------------------------------------------
    def graphql(self, req: Any) -> Reply:
        body = json.loads(req.body)
        q, v = body["query"], body.get("variables") or {}
        if q.lstrip().startswith("mutation"):
            return self._mutation(q, v)
        repo: dict[str, Any] = {"id": "R_kgDOAbcDEF"}
        if "pullRequests(" in q:  # observe: both branches' tips, open and newest PRs of the branch
            repo["ref"] = self._ref(v["base"], q)
            repo["head"] = self._ref(v["headRef"], q)
            ours = [p for p in self.git.prs.values() if p.head == v["head"]]
            repo["pullRequests"] = {"nodes": [self.pr_node(p) for p in ours if p.state == "open"]}
            newest = sorted(ours, key=lambda p: p.number, reverse=True)[:20]  # orderBy CREATED_AT DESC
            repo["last"] = {"nodes": [self.pr_node(p) for p in newest]}
        elif "qualifiedName" in q:
            repo["ref"] = self._ref(v["ref"], q)
        elif "object(expression:" in q:
            repo = self._objects(v, q)
        elif "pullRequest(number:" in q:
            repo = {"pullRequest": {"id": f"PR_{v['number']}"}}
        return reply(200, {"data": {"repository": repo}})

    def _ref(self, name: str, query: str) -> dict[str, Any] | None:
        sha = self.git.refs.get(name.removeprefix("refs/heads/"))
        if not sha:
            return None
        target: dict[str, Any] = {"oid": sha}
        if "parents(" in query:
            c = self.git.commits[sha]
            target["message"] = c.message
            target["parents"] = {"nodes": [{"oid": c.parent}] if c.parent else []}
        return {"target": target}

    def _objects(self, variables: dict[str, Any], query: str) -> dict[str, Any]:
        """Aliased ``f0…`` objects for the expressions ``$e0…`` (null when absent): blobs for the
        read query, ``__typename`` for the existence check."""
        out: dict[str, Any] = {}
        for key in sorted((k for k in variables if re.fullmatch(r"e\d+", k)), key=lambda k: int(k[1:])):
            ref, _, path = variables[key].partition(":")
            tree = self.git.tree(ref) or {}
            if path in tree:
                out["f" + key[1:]] = blob_node(tree[path]) if "isBinary" in query else {"__typename": "Blob"}
            elif any(p.startswith(path.rstrip("/") + "/") for p in tree):
                out["f" + key[1:]] = {} if "isBinary" in query else {"__typename": "Tree"}
            else:
                out["f" + key[1:]] = None
        return out

    def pr_node(self, pr: PrRecord) -> dict[str, Any]:
        """A GraphQL PullRequest node as the observe query asks for it (a Bot's login is its slug)."""
        mergeable = self.git.mergeable(pr)
        is_bot = pr.author.endswith("[bot]")
        return {
            "id": f"PR_{pr.number}",
            "number": pr.number,
            "title": pr.title,
            "body": pr.body,
            "url": f"https://github.com/{self.repo}/pull/{pr.number}",
            "state": pr.state.upper(),
            "isDraft": pr.draft,
            "headRefName": pr.head,
            "headRefOid": self.git.refs.get(pr.head),
            "baseRefName": pr.base,
            "mergeable": {None: "UNKNOWN", True: "MERGEABLE", False: "CONFLICTING"}[mergeable],
            "author": {"__typename": "Bot" if is_bot else "User", "login": pr.author.removesuffix("[bot]")},
            "headRepository": {"nameWithOwner": self.repo},
            "labels": {"nodes": [{"name": label} for label in pr.labels]},
        }

    def _mutation(self, q: str, v: dict[str, Any]) -> Reply:
        """Mutations in one document run in order; each failure adds an error and a null field."""
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        lost = False
        for name in re.findall(r"(\w+)\(input: \$\w+\)", q):
            fault = self._fault(name)
            if fault is not None and fault.kind in ("untyped", "skip"):
                errors.append(gql_error(None, name, UNTYPED))
                data[name] = None
                continue
            data[name] = self._apply(
                name, v.get("refs" if name == "updateRefs" else "commit") or v["input"], errors
            )
            lost = lost or (fault is not None and fault.kind == "after")
        if lost:
            return reply(502, {"message": "Server Error"})
        body: dict[str, Any] = {"data": data}
        if errors:
            body["errors"] = errors
        return reply(200, body)

    def _apply(self, name: str, payload: dict[str, Any], errors: list[dict[str, Any]]) -> Any:
        if name == "updateRefs":
            return {"clientMutationId": None} if self._update_refs(payload, errors) else None
        if name == "createCommitOnBranch":
            oid = self._commit(payload, errors)
            return {"commit": {"oid": oid}} if oid else None
        number = int(payload["pullRequestId"].removeprefix("PR_"))
        if name == "enablePullRequestAutoMerge":
            # GitHub's answers (the messages as GitHub words them): the repository setting first,
            # then a PR that can merge now
            refusal = None
            if not self.allow_auto_merge:
                refusal = "Auto merge is not allowed for this repository"
            elif not self.checks_pending and self.git.mergeable(self.git.prs[number]):
                refusal = "Pull request Pull request is in clean status"
            if refusal is not None:
                errors.append(gql_error("UNPROCESSABLE", name, refusal))
                return None
            self.auto_merge[number] = payload["mergeMethod"]
        elif name == "disablePullRequestAutoMerge":
            self.auto_merge.pop(number, None)
        elif name in ("convertPullRequestToDraft", "markPullRequestReadyForReview"):
            self.git.prs[number].draft = name == "convertPullRequestToDraft"
        return {"pullRequest": {"number": number}}

    def _update_refs(self, payload: dict[str, Any], errors: list[dict[str, Any]]) -> bool:
        (upd,) = payload["refUpdates"]
        name = upd["name"].removeprefix("refs/heads/")
        if self.git.refs.get(name, ZERO) != (upd.get("beforeOid") or self.git.refs.get(name, ZERO)):
            errors.append(gql_error(None, "updateRefs", f"Failed to update ref {upd['name']}"))
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
        expected = payload["expectedHeadOid"]
        if head != expected:
            msg = f'Expected branch to point to "{expected}" but it did not.  Pull and try again.'
            errors.append(gql_error("STALE_DATA", "createCommitOnBranch", msg))
            return None
        fc = payload["fileChanges"]
        tree = self.git.commits[head].tree
        for d in fc.get("deletions") or ():
            if d["path"] not in tree:
                msg = f"A path was requested for deletion which does not exist as of commit oid `{head}`"
                errors.append(gql_error("UNPROCESSABLE", "createCommitOnBranch", msg))
                return None
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
        ref = parse_qs(url.query).get("ref", ["main"])[0]
        tree = self.git.tree(ref)
        if tree is None or path not in tree:
            return reply(404, shape.not_found(f"{_DOCS}/repos/contents#get-repository-content"))
        return reply(200, shape.content_file(self.api, self.repo, path, tree[path], ref))

    def trees(self, req: Any) -> Reply:
        ref = unquote(urlparse(req.url).path.split("/git/trees/", 1)[1])
        sha = self.git.resolve(ref)
        if sha is None:
            return reply(404, shape.not_found())
        files = self.git.commits[sha].tree
        url = f"{self.base}/git/trees/{sha}"
        entries = [
            {"path": p, "mode": "100644", "type": "blob", "size": len(d), "sha": shape.blob_sha(d)}
            for p, d in sorted(files.items())
        ]
        dirs = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p})
        entries += [{"path": d, "mode": "040000", "type": "tree", "sha": "f" * 40} for d in dirs]
        return reply(200, {"sha": sha, "url": url, "truncated": False, "tree": entries})

    def compare(self, req: Any) -> Reply:
        a, b = (unquote(x) for x in urlparse(req.url).path.split("/compare/", 1)[1].split("...", 1))
        base, head = self.git.resolve(a), self.git.resolve(b)
        if base is None or head is None:
            return reply(404, shape.not_found())
        commits = self.git.between(base, head)
        mb = self.git.merge_base(base, head) or base
        files = [
            {
                "sha": "e" * 40,
                "filename": f,
                "status": "modified",
                "additions": 1,
                "deletions": 1,
                "changes": 2,
                "blob_url": f"https://github.com/{self.repo}/blob/{head}/{f}",
                "raw_url": f"https://github.com/{self.repo}/raw/{head}/{f}",
                "contents_url": f"{self.base}/contents/{f}?ref={head}",
            }
            for f in self.git.three_dot(base, head)
        ]
        behind = len(self.git.between(head, base))
        status = (
            "identical" if not commits and not behind else ("diverged" if commits and behind else "ahead")
        )
        if not commits and behind:
            status = "behind"
        web = f"https://github.com/{self.repo}/compare/{a}...{b}"
        return reply(
            200,
            {
                "url": f"{self.base}/compare/{a}...{b}",
                "html_url": web,
                "permalink_url": web,
                "diff_url": f"{web}.diff",
                "patch_url": f"{web}.patch",
                "base_commit": shape.commit(self.api, self.repo, self.git.commits[base]),
                "merge_base_commit": shape.commit(self.api, self.repo, self.git.commits[mb]),
                "status": status,
                "ahead_by": len(commits),
                "behind_by": behind,
                "total_commits": len(commits),
                "commits": [shape.commit(self.api, self.repo, c) for c in commits],
                "files": files,
            },
        )

    def blob(self, req: Any) -> Reply:
        sha = urlparse(req.url).path.rsplit("/", 1)[1]
        for c in self.git.commits.values():
            for data in c.tree.values():
                if shape.blob_sha(data) == sha:
                    body = {
                        "sha": sha,
                        "node_id": f"B_{sha[:8]}",
                        "url": f"{self.base}/git/blobs/{sha}",
                        "size": len(data),
                        "content": base64.b64encode(data).decode(),
                        "encoding": "base64",
                    }
                    return reply(200, body)
        return reply(404, shape.not_found())

    def pulls(self, req: Any) -> Reply:
        if req.method == "POST":
            return self._open(json.loads(req.body))
        query = parse_qs(urlparse(req.url).query)
        head = query["head"][0].split(":", 1)[1] if "head" in query else None
        state = query.get("state", ["open"])[0]
        found = [p for p in self.git.prs.values() if head in (None, p.head) and state in ("all", p.state)]
        items = [shape.pull(self.api, self.repo, self.git, p, self.bot, simple=True) for p in found]
        if self.page_size is None:
            return reply(200, items)
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * self.page_size : page * self.page_size]
        headers = {}
        if page * self.page_size < len(items):
            nxt = f"{self.base}/pulls?{_query(query, page + 1)}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return reply(200, chunk, **headers)

    def _open(self, b: dict[str, Any]) -> Reply:
        doc = f"{_DOCS}/pulls/pulls#create-a-pull-request"
        if b["head"] not in self.git.refs:
            return reply(
                422,
                shape.validation_failed(
                    "Validation Failed",
                    doc,
                    [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                ),
            )
        if any(p.head == b["head"] and p.state == "open" for p in self.git.prs.values()):
            owner = self.repo.split("/")[0]
            error = {
                "resource": "PullRequest",
                "code": "custom",
                "message": f"A pull request already exists for {owner}:{b['head']}.",
            }
            return reply(422, shape.validation_failed("Validation Failed", doc, [error]))
        pr = self.git.open_pr(b["head"], b["base"], b["title"], b.get("body") or "", self.bot)
        pr.draft = bool(b.get("draft"))
        return reply(201, self.pr_json(pr))

    def pr_json(self, pr: PrRecord) -> dict[str, Any]:
        return shape.pull(self.api, self.repo, self.git, pr, self.bot, simple=False)

    def _number(self, req: Any, after: str) -> int:
        return int(urlparse(req.url).path.split(after, 1)[1].split("/")[0])

    def pull(self, req: Any) -> Reply:
        pr = self.git.prs.get(self._number(req, "/pulls/"))
        if pr is None:
            return reply(404, shape.not_found())
        if req.method == "PATCH":
            b = json.loads(req.body)
            pr.title = b.get("title", pr.title)
            pr.body = b.get("body", pr.body)
            if b.get("state") in ("open", "closed") and pr.state != "merged":
                pr.state = b["state"]
        return reply(200, self.pr_json(pr))

    def merge(self, req: Any) -> Reply:
        """``PUT /pulls/{n}/merge``: 409 when ``sha`` is not the head, 405 when it cannot merge
        (a conflict, or required checks pending); else the base gets one commit with the head's tree."""
        pr = self.git.prs.get(self._number(req, "/pulls/"))
        if pr is None:
            return reply(404, shape.not_found())
        b = json.loads(req.body or "{}")
        head = self.git.refs.get(pr.head)
        if b.get("sha") and b["sha"] != head:
            return reply(409, {"message": "Head branch was modified. Review and try the merge again."})
        if pr.state != "open" or not self.git.mergeable(pr) or self.checks_pending:
            return reply(405, {"message": "Pull Request is not mergeable"})
        base = self.git.refs[pr.base]
        tree, before = self.git.tree(head or "") or {}, self.git.tree(base) or {}
        changes = {p: tree.get(p) for p in set(tree) | set(before) if tree.get(p) != before.get(p)}
        sha = self.git.commit(base, changes, author=Person(self.bot, ""), message=pr.title)
        self.git.refs[pr.base] = sha
        pr.state = "merged"
        return reply(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})

    def issue(self, req: Any) -> Reply:
        pr = self.git.prs.get(self._number(req, "/issues/"))
        if pr is None:
            return reply(404, shape.not_found())
        b = json.loads(req.body)
        pr.labels = list(b.get("labels", pr.labels))
        pr.assignees = list(b.get("assignees", pr.assignees))
        return reply(200, shape.issue(self.api, self.repo, pr, self.bot))

    def reviewers(self, req: Any) -> Reply:
        pr = self.git.prs[self._number(req, "/pulls/")]
        pr.reviewers = list(json.loads(req.body).get("reviewers") or ())
        return reply(201, shape.pull(self.api, self.repo, self.git, pr, self.bot, simple=True))

    def comment(self, req: Any) -> Reply:
        number = self._number(req, "/issues/")
        if number not in self.git.prs:
            return reply(404, shape.not_found())
        c = self.git.add_comment(number, self.bot, json.loads(req.body)["body"])
        return reply(201, shape.issue_comment(self.api, self.repo, number, c.id, body=c.body, bot=self.bot))

    def reaction(self, req: Any) -> Reply:
        c = self.git.find_comment(self._number(req, "/issues/comments/"))
        if c is None:
            return reply(404, shape.not_found())
        content = json.loads(req.body)["content"]
        c.reactions.append(content)
        return reply(201, shape.reaction(self.api, len(c.reactions), content, self.bot))

    def status(self, req: Any) -> Reply:
        sha = urlparse(req.url).path.rsplit("/statuses/", 1)[1]
        if sha not in self.git.commits:
            return reply(
                422, shape.validation_failed("No commit found for SHA: " + sha, f"{_DOCS}/commits/statuses")
            )
        b = json.loads(req.body)
        if b.get("state") not in ("error", "failure", "pending", "success"):
            return reply(
                422, shape.validation_failed("state is not included in the list", f"{_DOCS}/commits/statuses")
            )
        number = sum(len(v) for v in self.statuses.values()) + 1
        made = shape.commit_status(self.api, self.repo, sha, number, sent=b, bot=self.bot)
        self.statuses.setdefault(sha, {})[made["context"]] = made
        return reply(201, made)

    def delete_ref(self, req: Any) -> Reply:
        name = unquote(urlparse(req.url).path.split("/git/refs/heads/", 1)[1])
        if self.git.refs.pop(name, None) is None:
            doc = f"{_DOCS}/git/refs#delete-a-reference"
            return reply(422, shape.validation_failed("Reference does not exist", doc))
        return 204, {FAKE_HEADER: "github"}, ""

    def install(self, rsps: responses.RequestsMock) -> None:
        api = re.escape(self.api).replace(r"https://api\.github\.com", r"https://api\.github\.com(?::443)?")
        base = f"{api}/repos/{re.escape(self.repo)}"
        graphql = api.removesuffix("/v3") + "/graphql" if self.api.endswith("/v3") else f"{api}/graphql"
        routes = (
            ("POST", re.compile(rf"{graphql}$"), self.graphql),
            ("GET", re.compile(rf"{base}/contents/.*"), self.contents),
            ("GET", re.compile(rf"{base}/git/trees/.*"), self.trees),
            ("GET", re.compile(rf"{base}/git/blobs/\w+$"), self.blob),
            ("GET", re.compile(rf"{base}/compare/.*"), self.compare),
            ("GET", re.compile(rf"{base}/pulls(\?.*)?$"), self.pulls),
            ("POST", re.compile(rf"{base}/pulls$"), self.pulls),
            ("GET", re.compile(rf"{base}/pulls/\d+(\?.*)?$"), self.pull),
            ("PATCH", re.compile(rf"{base}/pulls/\d+$"), self.pull),
            ("PUT", re.compile(rf"{base}/pulls/\d+/merge$"), self.merge),
            ("POST", re.compile(rf"{base}/pulls/\d+/requested_reviewers$"), self.reviewers),
            ("PATCH", re.compile(rf"{base}/issues/\d+$"), self.issue),
            ("POST", re.compile(rf"{base}/issues/\d+/comments$"), self.comment),
            ("POST", re.compile(rf"{base}/issues/comments/\d+/reactions$"), self.reaction),
            ("DELETE", re.compile(rf"{base}/git/refs/heads/.+"), self.delete_ref),
            ("POST", re.compile(rf"{base}/statuses/[0-9a-f]+$"), self.status),
        )
        for method, url, handler in routes:
            rsps.add_callback(method, url, callback=handler)


def _query(query: dict[str, list[str]], page: int) -> str:
    pairs = {k: v[0] for k, v in query.items() if k != "page"} | {"page": str(page)}
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(pairs.items()))


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
