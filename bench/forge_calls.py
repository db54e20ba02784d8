"""Count forge API requests per PR operation: open a single-file PR, update it to a newer tag, no-op.

Drives the real lifecycle (``bot.services.pr_lifecycle.sync_group``) over our GitHub and GitLab
adapters, with GitHub/GitLab replaced by small stateful fakes behind ``responses`` (branches, file
trees per commit, PRs), so every request the service makes is counted. Compared with the naive
PyGithub path (contents get + update per file, create ref, create PR).

    .venv/bin/python -m bench.forge_calls

Last line: JSON {"github": {...}, "gitlab": {...}, "naive_github": {...}}.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import responses

from bot.core.intents import UpdateIntent
from bot.forges.base import Forge, ForgeInfo
from bot.forges.github import GitHubForge
from bot.forges.github_auth import TokenAuth
from bot.forges.gitlab import GitLabForge
from bot.services.pr_lifecycle import sync_group

REPO = "acme/deploy"
FILE = "apps/web.yaml"
BOT = "manifest-bot[bot]"
GH = "https://api.github.com"
GL = "https://gitlab.example.com"
MANIFEST = (
    b"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
    b"        - name: web\n          image: ghcr.io/acme/web:1.0.0\n"
)
Reply = tuple[int, dict[str, str], str | bytes]


class Git:
    """Commits, trees and branches in memory, shared by both fakes."""

    def __init__(self) -> None:
        self.trees: dict[str, dict[str, bytes]] = {"0" * 39 + "1": {FILE: MANIFEST, "README.md": b"hi\n"}}
        self.parents: dict[str, str | None] = {"0" * 39 + "1": None}
        self.refs: dict[str, str] = {"main": "0" * 39 + "1"}
        self.prs: dict[int, dict[str, Any]] = {}

    def resolve(self, ref: str) -> str:
        return self.refs.get(ref, ref)

    def commit(self, parent: str, changes: dict[str, bytes | None]) -> str:
        sha = f"{len(self.parents) + 1:040x}"
        tree = dict(self.trees[parent])
        for path, data in changes.items():
            if data is None:
                tree.pop(path, None)
            else:
                tree[path] = data
        self.trees[sha], self.parents[sha] = tree, parent
        return sha

    def between(self, base: str, head: str) -> list[str]:
        out: list[str] = []
        sha: str | None = head
        while sha and sha != base:
            out.append(sha)
            sha = self.parents[sha]
        return out[::-1]

    def changed(self, base: str, head: str) -> list[str]:
        a, b = self.trees[base], self.trees[head]
        return sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))


def _json(status: int, body: Any) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def pr_node(git: Git, n: int) -> dict[str, Any]:
    """A GraphQL PullRequest node as the observe query asks for it."""
    pr = git.prs[n]
    return {
        "id": f"PR_{n}",
        "number": n,
        "title": pr["title"],
        "body": pr["body"],
        "url": f"https://x/{n}",
        "isDraft": False,
        "headRefName": pr["head"],
        "headRefOid": git.refs.get(pr["head"]),
        "baseRefName": pr["base"],
        "mergeable": "MERGEABLE",
        "author": {"login": BOT},
        "headRepository": {"nameWithOwner": REPO},
        "labels": {"nodes": []},
    }


def blob_node(data: bytes | None) -> dict[str, Any] | None:
    """A GraphQL ``... on Blob { text isBinary isTruncated byteSize }`` answer (null when absent)."""
    if data is None:
        return None
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {"text": text, "isBinary": text is None, "isTruncated": False, "byteSize": len(data)}


def read_blobs(git: Git, variables: dict[str, Any]) -> Reply:
    """The read_files query: aliased blobs ``f0…`` for the expressions ``$e0…``."""
    nodes = {}
    for i in range(len(variables) - 2):
        ref, _, path = variables[f"e{i}"].partition(":")
        nodes[f"f{i}"] = blob_node(git.trees[git.resolve(ref)].get(path))
    return _json(200, {"data": {"repository": nodes}})


# --- GitHub fake ---------------------------------------------------------------------------------
def github_routes(git: Git, rsps: responses.RequestsMock) -> None:
    base = f"{GH}/repos/{REPO}"

    def pr_json(n: int) -> dict[str, Any]:
        pr = git.prs[n]
        repo = {"node_id": "R_1", "full_name": REPO}
        return {
            "number": n,
            "node_id": f"PR_{n}",
            "state": pr["state"],
            "title": pr["title"],
            "body": pr["body"],
            "draft": False,
            "labels": [],
            "user": {"login": BOT},
            "merged_at": None,
            "html_url": f"https://x/{n}",
            "head": {"ref": pr["head"], "sha": git.refs.get(pr["head"]), "repo": repo},
            "base": {"ref": pr["base"], "sha": git.refs[pr["base"]], "repo": repo},
        }

    def graphql(req: Any) -> Reply:
        body = json.loads(req.body)
        q, v = body["query"], body["variables"]
        if "pullRequests(" in q:  # observe: base head + open PRs from the bot's branch
            sha = git.refs.get(v["base"].removeprefix("refs/heads/"))
            open_prs = [n for n, p in git.prs.items() if p["head"] == v["head"] and p["state"] == "open"]
            found = {
                "id": "R_1",
                "ref": {"target": {"oid": sha}} if sha else None,
                "pullRequests": {"nodes": [pr_node(git, n) for n in open_prs]},
            }
            return _json(200, {"data": {"repository": found}})
        if "object(expression:" in q:
            return read_blobs(git, v)
        if "qualifiedName" in q:
            sha = git.refs.get(v["ref"].removeprefix("refs/heads/"))
            return _json(
                200, {"data": {"repository": {"id": "R_1", "ref": {"target": {"oid": sha}} if sha else None}}}
            )
        data: dict[str, Any] = {}
        commit_in = v.get("commit") or v.get("input")
        if "updateRefs" in q:
            (upd,) = v["refs"]["refUpdates"]
            name = upd["name"].removeprefix("refs/heads/")
            if git.refs.get(name, "0" * 40) != upd["beforeOid"]:
                return _json(
                    200, {"errors": [{"type": "UNPROCESSABLE", "path": ["updateRefs"], "message": "stale"}]}
                )
            git.refs[name] = upd["afterOid"]
            data["updateRefs"] = {"clientMutationId": None}
        branch = commit_in["branch"]["branchName"]
        if git.refs.get(branch) != commit_in["expectedHeadOid"]:
            return _json(200, {"errors": [{"type": "STALE_DATA", "message": "Expected branch to point to"}]})
        fc = commit_in["fileChanges"]
        changes: dict[str, bytes | None] = {
            a["path"]: base64.b64decode(a["contents"]) for a in fc["additions"]
        }
        changes.update({d["path"]: None for d in fc["deletions"]})
        git.refs[branch] = git.commit(git.refs[branch], changes)
        data["createCommitOnBranch"] = {"commit": {"oid": git.refs[branch]}}
        return _json(200, {"data": data})

    def contents(req: Any) -> Reply:
        path = unquote(urlparse(req.url).path.split("/contents/", 1)[1])
        tree = git.trees[git.resolve(parse_qs(urlparse(req.url).query)["ref"][0])]
        return (200, {}, tree[path]) if path in tree else _json(404, {"message": "Not Found"})

    def pulls(req: Any) -> Reply:
        if req.method == "POST":
            b = json.loads(req.body)
            n = len(git.prs) + 1
            git.prs[n] = {
                "state": "open",
                "title": b["title"],
                "body": b["body"],
                "head": b["head"],
                "base": b["base"],
            }
            return _json(201, pr_json(n))
        head = parse_qs(urlparse(req.url).query)["head"][0].split(":", 1)[1]
        return _json(
            200, [pr_json(n) for n, p in git.prs.items() if p["head"] == head and p["state"] == "open"]
        )

    def patch_pull(req: Any) -> Reply:
        n = int(urlparse(req.url).path.rsplit("/", 1)[1])
        git.prs[n].update(json.loads(req.body))
        return _json(200, pr_json(n))

    def compare(req: Any) -> Reply:
        a, b = urlparse(req.url).path.split("/compare/", 1)[1].split("...")
        commits = [
            {
                "sha": s,
                "parents": [{"sha": git.parents[s]}],
                "author": {"login": BOT},
                "committer": None,
                "commit": {"author": {"name": BOT, "email": "bot@x"}, "message": "m"},
            }
            for s in git.between(a, b)
        ]
        return _json(200, {"commits": commits, "files": [{"filename": f} for f in git.changed(a, b)]})

    rsps.add_callback("POST", f"{GH}/graphql", callback=graphql)
    rsps.add_callback("GET", re.compile(rf"{base}/contents/.*"), callback=contents)
    rsps.add_callback("GET", f"{base}/pulls", callback=pulls)
    rsps.add_callback("POST", f"{base}/pulls", callback=pulls)
    rsps.add_callback("PATCH", re.compile(rf"{base}/pulls/\d+"), callback=patch_pull)
    rsps.add_callback("GET", re.compile(rf"{base}/compare/.*"), callback=compare)


# --- GitLab fake ---------------------------------------------------------------------------------
def gitlab_routes(git: Git, rsps: responses.RequestsMock) -> None:
    base = f"{GL}/api/v4/projects/acme%2Fdeploy"
    esc = re.escape(base)

    def mr_json(n: int) -> dict[str, Any]:
        mr = git.prs[n]
        return {
            "iid": n,
            "state": "opened" if mr["state"] == "open" else mr["state"],
            "title": mr["title"],
            "description": mr["description"],
            "source_branch": mr["source_branch"],
            "target_branch": mr["target_branch"],
            "sha": git.refs.get(mr["source_branch"]),
            "labels": [],
            "draft": False,
            "author": {"username": BOT},
            "web_url": f"https://x/{n}",
        }

    def branch(req: Any) -> Reply:
        name = unquote(urlparse(req.url).path.split("/branches/", 1)[1])
        sha = git.refs.get(name)
        return (
            _json(200, {"name": name, "commit": {"id": sha}})
            if sha
            else _json(404, {"message": "404 Branch Not Found"})
        )

    def raw(req: Any) -> Reply:
        path = unquote(urlparse(req.url).path.split("/files/", 1)[1].removesuffix("/raw"))
        tree = git.trees[git.resolve(parse_qs(urlparse(req.url).query)["ref"][0])]
        return (200, {}, tree[path]) if path in tree else _json(404, {"message": "404 File Not Found"})

    def commits(req: Any) -> Reply:
        b = json.loads(req.body)
        name = b["branch"]
        if "start_sha" in b:
            if name in git.refs and not b.get("force"):
                return _json(400, {"message": f"A branch called '{name}' already exists."})
            parent = b["start_sha"]
        else:
            parent = git.refs[name]
        changes = {
            a["file_path"]: None if a["action"] == "delete" else base64.b64decode(a["content"])
            for a in b["actions"]
        }
        git.refs[name] = git.commit(parent, changes)
        return _json(201, {"id": git.refs[name], "parent_ids": [parent]})

    def compare(req: Any) -> Reply:
        q = parse_qs(urlparse(req.url).query)
        a, b = q["from"][0], q["to"][0]
        cs = [
            {
                "id": s,
                "parent_ids": [git.parents[s]],
                "author_name": BOT,
                "author_email": "bot@x",
                "message": "m",
            }
            for s in git.between(a, b)
        ]
        return _json(
            200, {"commits": cs, "diffs": [{"new_path": f, "old_path": f} for f in git.changed(a, b)]}
        )

    def mrs(req: Any) -> Reply:
        if req.method == "POST":
            b = json.loads(req.body)
            n = len(git.prs) + 1
            git.prs[n] = {
                "state": "open",
                **{k: b[k] for k in ("title", "description", "source_branch", "target_branch")},
            }
            return _json(201, mr_json(n))
        src = parse_qs(urlparse(req.url).query)["source_branch"][0]
        return _json(
            200,
            [mr_json(n) for n, m in git.prs.items() if m["source_branch"] == src and m["state"] == "open"],
        )

    def put_mr(req: Any) -> Reply:
        n = int(urlparse(req.url).path.rsplit("/", 1)[1])
        git.prs[n].update(json.loads(req.body))
        return _json(200, mr_json(n))

    rsps.add_callback("GET", re.compile(rf"{esc}/repository/branches/.+"), callback=branch)
    rsps.add_callback("GET", re.compile(rf"{esc}/repository/files/.+/raw.*"), callback=raw)
    rsps.add_callback("POST", f"{base}/repository/commits", callback=commits)
    rsps.add_callback("GET", re.compile(rf"{esc}/repository/compare.*"), callback=compare)
    rsps.add_callback("GET", re.compile(rf"{esc}/merge_requests(\?.*)?$"), callback=mrs)
    rsps.add_callback("POST", f"{base}/merge_requests", callback=mrs)
    rsps.add_callback("PUT", re.compile(rf"{esc}/merge_requests/\d+$"), callback=put_mr)


# --- driving the lifecycle -------------------------------------------------------------------------
def _intent(forge: str, tag: str) -> UpdateIntent:
    return UpdateIntent(
        forge=forge,
        repo=REPO,
        base_branch="main",
        group="web",
        environment="prod",
        files=(FILE,),
        image="ghcr.io/acme/web",
        tag=tag,
        digest=None,
        ordering_scheme="semver",
        ordering_key=tuple(int(p) for p in tag.split(".")),
    )


def run_lifecycle(
    kind: str, make: Callable[[], Forge], routes: Callable[[Git, responses.RequestsMock], None]
) -> dict[str, Any]:
    git = Git()
    out: dict[str, Any] = {}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        routes(git, rsps)
        forge = make()
        for op, tag, expected in (
            ("open", "1.1.0", "opened"),
            ("update", "1.2.0", None),
            ("noop", "1.2.0", "noop"),
        ):
            before = len(rsps.calls)
            result = sync_group(forge, [_intent(kind, tag)])
            calls = rsps.calls[before:]
            if expected and result.action != expected:
                raise SystemExit(f"{kind} {op}: lifecycle answered {result.action!r}, expected {expected!r}")
            out[op] = len(calls)
            out[f"{op}_calls"] = [f"{c.request.method} {_short(c.request)}" for c in calls]
            out[f"{op}_action"] = result.action
    branch = "manifest-bot/prod/web"
    assert b"web:1.2.0" in git.trees[git.refs[branch]][FILE], "the PR branch does not hold the new tag"
    return out


def _short(req: Any) -> str:
    path = urlparse(req.url).path
    if path.endswith("/graphql"):
        q = json.loads(req.body)["query"]
        ops = re.findall(r"(createCommitOnBranch|updateRefs|pullRequests|qualifiedName|repository)", q)
        return "graphql " + "+".join(dict.fromkeys(ops))
    return re.sub(r"^/(api/v4/projects/acme%2Fdeploy|repos/acme/deploy)", "", path)


# --- the naive PyGithub path -----------------------------------------------------------------------
def naive_github() -> dict[str, int]:
    """Contents API get + update per file, create ref, create PR (what most scripts do)."""
    from github import Auth, Github

    sha = "1" * 40
    repo = {
        "id": 1,
        "name": "deploy",
        "full_name": REPO,
        "url": f"{GH}/repos/{REPO}",
        "owner": {"login": "acme"},
    }
    commit = {"sha": sha, "url": f"{GH}/repos/{REPO}/commits/{sha}"}
    content = {
        "type": "file",
        "encoding": "base64",
        "path": FILE,
        "name": "web.yaml",
        "sha": "b" * 40,
        "content": base64.b64encode(MANIFEST).decode(),
        "url": f"{GH}/repos/{REPO}/contents/{FILE}",
    }
    pull = {
        "number": 1,
        "state": "open",
        "title": "t",
        "body": "b",
        "url": f"{GH}/repos/{REPO}/pulls/1",
        "head": {"ref": "b", "sha": sha},
        "base": {"ref": "main", "sha": sha},
    }
    counts: dict[str, int] = {}
    NGH = "https://api.github.com:443"  # PyGithub spells the port out
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{NGH}/repos/{REPO}", json=repo)
        rsps.get(f"{NGH}/repos/{REPO}/branches/main", json={"name": "main", "commit": commit})
        rsps.get(f"{NGH}/repos/{REPO}/pulls", json=[])
        rsps.get(re.compile(rf"{NGH}/repos/{REPO}/contents/.*"), json=content)
        rsps.put(re.compile(rf"{NGH}/repos/{REPO}/contents/.*"), json={"content": content, "commit": commit})
        rsps.post(
            f"{NGH}/repos/{REPO}/git/refs", json={"ref": "refs/heads/b", "object": {"sha": sha}}, status=201
        )
        rsps.post(f"{NGH}/repos/{REPO}/pulls", json=pull, status=201)
        rsps.patch(f"{NGH}/repos/{REPO}/pulls/1", json=pull)
        gh = Github(auth=Auth.Token("t"), retry=None)
        repo_obj = gh.get_repo(REPO)
        list(repo_obj.get_pulls(state="open", head="acme:b"))
        base = repo_obj.get_branch("main")
        c = repo_obj.get_contents(FILE, ref="main")
        repo_obj.create_git_ref("refs/heads/b", base.commit.sha)
        repo_obj.update_file(FILE, "bump", MANIFEST + b"#\n", c.sha, branch="b")  # type: ignore[union-attr]
        pr = repo_obj.create_pull(title="t", body="b", head="b", base="main")
        counts["open"] = len(rsps.calls)
        repo_obj = gh.get_repo(REPO)
        list(repo_obj.get_pulls(state="open", head="acme:b"))
        c = repo_obj.get_contents(FILE, ref="b")
        repo_obj.update_file(FILE, "bump", MANIFEST + b"##\n", c.sha, branch="b")  # type: ignore[union-attr]
        pr.edit(body="new body")
        counts["update"] = len(rsps.calls) - counts["open"]
    return counts


def main() -> None:
    info = {
        "github": ForgeInfo(name="github", kind="github", bot_login=BOT),
        "gitlab": ForgeInfo(name="gitlab", kind="gitlab", bot_login=BOT),
    }
    gh = run_lifecycle(
        "github", lambda: GitHubForge(info["github"], TokenAuth("t"), api_url=GH), github_routes
    )
    gl = run_lifecycle("gitlab", lambda: GitLabForge(info["gitlab"], "glpat-t", url=GL), gitlab_routes)
    naive = naive_github()
    for name, res in (("github", gh), ("gitlab", gl)):
        for op in ("open", "update", "noop"):
            print(f"{name:6} {op:6} {res[op]:2}  ({res[op + '_action']})  " + ", ".join(res[op + "_calls"]))
    print(
        f"naive  open {naive['open']}  update {naive['update']}  (one contents get + update per extra file)"
    )
    summary = {
        "github": {k: gh[k] for k in ("open", "update", "noop")},
        "gitlab": {k: gl[k] for k in ("open", "update", "noop")},
        "naive_github": naive,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
