"""Count forge API requests per PR operation: open a single-file PR, update it to a newer tag, no-op.

Drives the real lifecycle (``bot.services.lifecycle.sync_group``) over our GitHub and GitLab
adapters, with GitHub/GitLab replaced by small stateful fakes behind ``responses`` (branches, file
trees per commit, PRs), so every request the service makes is counted. Compared with the naive
PyGithub path (contents get + update per file, create ref, create PR) with lazy objects and
no throttling, so the comparison is fair.

    .venv/bin/python bench/forge_calls.py

Last line: JSON {"github": {...}, "gitlab": {...}, "naive_github": {...}}.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import responses

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.intents import UpdateIntent  # noqa: E402
from bot.core.ports import Forge, ForgeInfo  # noqa: E402
from bot.forges.github.adapter import GitHubForge  # noqa: E402
from bot.forges.github.clients import TokenCredentials  # noqa: E402
from bot.forges.gitlab.adapter import GitLabForge  # noqa: E402
from bot.services.lifecycle import sync_group  # noqa: E402
from tests.fakes.git_model import Git  # noqa: E402
from tests.fakes.github_api import GH, github_routes  # noqa: E402
from tests.fakes.gitlab_api import BOT_NAME, GL, gitlab_routes  # noqa: E402

REPO = "acme/deploy"
FILE = "apps/web.yaml"
BOT = "manifest-bot[bot]"
MANIFEST = (
    b"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
    b"        - name: web\n          image: ghcr.io/acme/web:1.0.0\n"
)


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
    kind: str, make: Callable[[], Forge], routes: Callable[[Git, responses.RequestsMock], object]
) -> dict[str, Any]:
    git = Git({FILE: MANIFEST, "README.md": b"hi\n"})
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
    assert b"web:1.2.0" in git.commits[git.refs[branch]].tree[FILE], "the PR branch does not hold the new tag"
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
    """Contents API get + update per file, create ref, create PR (what most scripts do), on PyGithub
    configured as fairly as ours: lazy objects, no retries, no throttling sleeps."""
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
    base = r"https://api\.github\.com(?::443)?/repos/acme/deploy"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(re.compile(rf"{base}$"), json=repo)
        rsps.get(re.compile(rf"{base}/branches/main$"), json={"name": "main", "commit": commit})
        rsps.get(re.compile(rf"{base}/pulls(\?.*)?$"), json=[])
        rsps.get(re.compile(rf"{base}/contents/.*"), json=content)
        rsps.put(re.compile(rf"{base}/contents/.*"), json={"content": content, "commit": commit})
        rsps.post(
            re.compile(rf"{base}/git/refs$"), json={"ref": "refs/heads/b", "object": {"sha": sha}}, status=201
        )
        rsps.post(re.compile(rf"{base}/pulls$"), json=pull, status=201)
        rsps.patch(re.compile(rf"{base}/pulls/1$"), json=pull)
        gh = Github(
            auth=Auth.Token("t"),
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
        )
        repo_obj = gh.get_repo(REPO)
        list(repo_obj.get_pulls(state="open", head="acme:b"))
        base_branch = repo_obj.get_branch("main")
        c = repo_obj.get_contents(FILE, ref="main")
        repo_obj.create_git_ref("refs/heads/b", base_branch.commit.sha)
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
        "gitlab": ForgeInfo(name="gitlab", kind="gitlab", bot_login=BOT_NAME),
    }
    gh = run_lifecycle(
        "github", lambda: GitHubForge(info["github"], TokenCredentials("t"), api_url=GH), github_routes
    )
    gl = run_lifecycle("gitlab", lambda: GitLabForge(info["gitlab"], "glpat-t", url=GL), gitlab_routes)
    naive = naive_github()
    for name, res in (("github", gh), ("gitlab", gl)):
        for op in ("open", "update", "noop"):
            print(f"{name:6} {op:6} {res[op]:2}  ({res[op + '_action']})  " + ", ".join(res[op + "_calls"]))
    print(
        f"naive  open {naive['open']}  update {naive['update']}  (PyGithub, lazy, no sleeps; "
        "one contents get + update per extra file; no compare-and-swap on the branch)"
    )
    summary = {
        "github": {k: gh[k] for k in ("open", "update", "noop")},
        "gitlab": {k: gl[k] for k in ("open", "update", "noop")},
        "naive_github": naive,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
