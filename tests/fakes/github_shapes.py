"""REST bodies as GitHub's OpenAPI description defines them (``@octokit/openapi``: every required
field present, with its type), built from our ``Git`` model. ``tests/contracts`` validates every
answer the fake gives against the operation's response schema, so a missing field fails there.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tests.fakes.git_model import Commit, Git, PrRecord

WEB = "https://github.com"
WHEN = "2024-05-01T10:00:00Z"


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def user(api: str, login: str, *, bot: bool = False, uid: int = 1) -> dict[str, Any]:
    """``simple-user``; an App's bot user is ``<slug>[bot]`` of type ``Bot``."""
    url = f"{api}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": f"U_{uid}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{WEB}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": "Bot" if bot else "User",
        "site_admin": False,
    }


def repository(api: str, full_name: str) -> dict[str, Any]:
    """``repository`` (what a pull request's ``head.repo`` / ``base.repo`` hold)."""
    owner, name = full_name.split("/")
    url = f"{api}/repos/{full_name}"
    templated = {
        "archive_url": "/{archive_format}{/ref}",
        "assignees_url": "/assignees{/user}",
        "blobs_url": "/git/blobs{/sha}",
        "branches_url": "/branches{/branch}",
        "collaborators_url": "/collaborators{/collaborator}",
        "comments_url": "/comments{/number}",
        "commits_url": "/commits{/sha}",
        "compare_url": "/compare/{base}...{head}",
        "contents_url": "/contents/{+path}",
        "contributors_url": "/contributors",
        "deployments_url": "/deployments",
        "downloads_url": "/downloads",
        "events_url": "/events",
        "forks_url": "/forks",
        "git_commits_url": "/git/commits{/sha}",
        "git_refs_url": "/git/refs{/sha}",
        "git_tags_url": "/git/tags{/sha}",
        "hooks_url": "/hooks",
        "issue_comment_url": "/issues/comments{/number}",
        "issue_events_url": "/issues/events{/number}",
        "issues_url": "/issues{/number}",
        "keys_url": "/keys{/key_id}",
        "labels_url": "/labels{/name}",
        "languages_url": "/languages",
        "merges_url": "/merges",
        "milestones_url": "/milestones{/number}",
        "notifications_url": "/notifications{?since,all,participating}",
        "pulls_url": "/pulls{/number}",
        "releases_url": "/releases{/id}",
        "stargazers_url": "/stargazers",
        "statuses_url": "/statuses/{sha}",
        "subscribers_url": "/subscribers",
        "subscription_url": "/subscription",
        "tags_url": "/tags",
        "teams_url": "/teams",
        "trees_url": "/git/trees{/sha}",
    }
    body: dict[str, Any] = {key: url + suffix for key, suffix in templated.items()}
    body.update(
        {
            "id": 1296269,
            "node_id": "R_kgDOAbcDEF",
            "name": name,
            "full_name": full_name,
            "owner": user(api, owner, uid=2),
            "private": True,
            "html_url": f"{WEB}/{full_name}",
            "description": "GitOps manifests",
            "fork": False,
            "url": url,
            "clone_url": f"{WEB}/{full_name}.git",
            "git_url": f"git://github.com/{full_name}.git",
            "ssh_url": f"git@github.com:{full_name}.git",
            "svn_url": f"{WEB}/{full_name}",
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "default_branch": "main",
            "forks": 0,
            "forks_count": 0,
            "open_issues": 0,
            "open_issues_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "size": 108,
            "has_downloads": True,
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "archived": False,
            "disabled": False,
            "license": None,
            "pushed_at": WHEN,
            "created_at": WHEN,
            "updated_at": WHEN,
        }
    )
    return body


def label(api: str, full_name: str, name: str) -> dict[str, Any]:
    uid = int(hashlib.sha1(name.encode()).hexdigest()[:6], 16)
    return {
        "id": uid,
        "node_id": f"LA_{uid}",
        "url": f"{api}/repos/{full_name}/labels/{name}",
        "name": name,
        "description": "",
        "color": "0366d6",
        "default": False,
    }


def git_user(name: str, email: str) -> dict[str, Any]:
    return {"name": name, "email": email, "date": WHEN}


def commit(api: str, full_name: str, c: Commit) -> dict[str, Any]:
    """``commit`` as compare and the commits API list it."""
    who = git_user(c.author.name, c.author.email)
    url = f"{api}/repos/{full_name}/commits/{c.sha}"
    return {
        "url": url,
        "sha": c.sha,
        "node_id": f"C_{c.sha[:12]}",
        "html_url": f"{WEB}/{full_name}/commit/{c.sha}",
        "comments_url": f"{url}/comments",
        "commit": {
            "url": f"{api}/repos/{full_name}/git/commits/{c.sha}",
            "author": who,
            "committer": git_user("GitHub", "noreply@github.com"),
            "message": c.message,
            "comment_count": 0,
            "tree": {
                "sha": hashlib.sha1(c.sha.encode()).hexdigest(),
                "url": f"{api}/repos/{full_name}/git/trees/x",
            },
        },
        "author": user(api, c.author.login, bot=c.author.login.endswith("[bot]"), uid=3)
        if c.author.login
        else None,
        "committer": user(api, "web-flow", uid=19864447),
        "parents": [{"sha": c.parent, "url": f"{api}/repos/{full_name}/commits/{c.parent}"}]
        if c.parent
        else [],
    }


def _links(api: str, web: str, full_name: str, number: int) -> dict[str, Any]:
    base = f"{api}/repos/{full_name}"
    return {
        "self": {"href": f"{base}/pulls/{number}"},
        "html": {"href": f"{web}/{full_name}/pull/{number}"},
        "issue": {"href": f"{base}/issues/{number}"},
        "comments": {"href": f"{base}/issues/{number}/comments"},
        "review_comments": {"href": f"{base}/pulls/{number}/comments"},
        "review_comment": {"href": f"{base}/pulls/comments{{/number}}"},
        "commits": {"href": f"{base}/pulls/{number}/commits"},
        "statuses": {"href": f"{base}/statuses/{number}"},
    }


def pull(api: str, full_name: str, git: Git, pr: PrRecord, bot: str, *, simple: bool) -> dict[str, Any]:
    """``pull-request`` (get, create, update) or ``pull-request-simple`` (list items, which carry
    no ``mergeable``)."""
    base = f"{api}/repos/{full_name}"
    owner = full_name.split("/", maxsplit=1)[0]
    head_sha = git.refs.get(pr.head) or "0" * 40
    base_sha = git.refs.get(pr.base) or "0" * 40
    author = user(api, pr.author, bot=pr.author.endswith("[bot]"), uid=41898282)
    body: dict[str, Any] = {
        "url": f"{base}/pulls/{pr.number}",
        "id": 1000 + pr.number,
        "node_id": f"PR_{pr.number}",
        "html_url": f"{WEB}/{full_name}/pull/{pr.number}",
        "diff_url": f"{WEB}/{full_name}/pull/{pr.number}.diff",
        "patch_url": f"{WEB}/{full_name}/pull/{pr.number}.patch",
        "issue_url": f"{base}/issues/{pr.number}",
        "commits_url": f"{base}/pulls/{pr.number}/commits",
        "review_comments_url": f"{base}/pulls/{pr.number}/comments",
        "review_comment_url": f"{base}/pulls/comments{{/number}}",
        "comments_url": f"{base}/issues/{pr.number}/comments",
        "statuses_url": f"{base}/statuses/{head_sha}",
        "number": pr.number,
        "state": "closed" if pr.state == "merged" else pr.state,
        "locked": False,
        "title": pr.title,
        "user": author,
        "body": pr.body,
        "labels": [label(api, full_name, name) for name in pr.labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": WHEN,
        "updated_at": WHEN,
        "closed_at": WHEN if pr.state != "open" else None,
        "merged_at": WHEN if pr.state == "merged" else None,
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [user(api, a, uid=10 + i) for i, a in enumerate(pr.assignees)],
        "requested_reviewers": [user(api, r, uid=20 + i) for i, r in enumerate(pr.reviewers)],
        "requested_teams": [],
        "head": {
            "label": f"{owner}:{pr.head}",
            "ref": pr.head,
            "sha": head_sha,
            "user": user(api, owner, uid=2),
            "repo": repository(api, full_name),
        },
        "base": {
            "label": f"{owner}:{pr.base}",
            "ref": pr.base,
            "sha": base_sha,
            "user": user(api, owner, uid=2),
            "repo": repository(api, full_name),
        },
        "_links": _links(api, WEB, full_name, pr.number),
        "author_association": "NONE",
        "auto_merge": None,
        "draft": pr.draft,
    }
    if simple:
        return body
    mergeable = git.mergeable(pr)
    body.update(
        {
            "merged": pr.state == "merged",
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": {None: "unknown", True: "clean", False: "dirty"}[mergeable],
            "merged_by": None,
            "comments": len(pr.comments),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": 1,
            "additions": 1,
            "deletions": 1,
            "changed_files": 1,
        }
    )
    return body


def content_file(api: str, full_name: str, path: str, data: bytes, ref: str) -> dict[str, Any]:
    """``content-file``: base64 content for files up to 1 MB (GitHub's limit for this field)."""
    import base64

    sha = blob_sha(data)
    url = f"{api}/repos/{full_name}/contents/{path}?ref={ref}"
    git_url = f"{api}/repos/{full_name}/git/blobs/{sha}"
    html_url = f"{WEB}/{full_name}/blob/{ref}/{path}"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(data),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": base64.b64encode(data).decode(),
        "sha": sha,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": f"https://raw.githubusercontent.com/{full_name}/{ref}/{path}",
        "_links": {"self": url, "git": git_url, "html": html_url},
    }


def issue(api: str, full_name: str, pr: PrRecord, bot: str) -> dict[str, Any]:
    base = f"{api}/repos/{full_name}/issues/{pr.number}"
    return {
        "id": 2000 + pr.number,
        "node_id": f"I_{pr.number}",
        "url": base,
        "repository_url": f"{api}/repos/{full_name}",
        "labels_url": f"{base}/labels{{/name}}",
        "comments_url": f"{base}/comments",
        "events_url": f"{base}/events",
        "html_url": f"{WEB}/{full_name}/pull/{pr.number}",
        "number": pr.number,
        "state": "closed" if pr.state != "open" else "open",
        "title": pr.title,
        "body": pr.body,
        "user": user(api, pr.author, bot=pr.author.endswith("[bot]"), uid=41898282),
        "labels": [label(api, full_name, name) for name in pr.labels],
        "assignee": None,
        "assignees": [user(api, a, uid=10 + i) for i, a in enumerate(pr.assignees)],
        "milestone": None,
        "locked": False,
        "comments": len(pr.comments),
        "closed_at": None,
        "created_at": WHEN,
        "updated_at": WHEN,
        "author_association": "NONE",
    }


def issue_comment(
    api: str, full_name: str, number: int, comment_id: int, *, body: str, bot: str
) -> dict[str, Any]:
    return {
        "id": comment_id,
        "node_id": f"IC_{comment_id}",
        "url": f"{api}/repos/{full_name}/issues/comments/{comment_id}",
        "html_url": f"{WEB}/{full_name}/pull/{number}#issuecomment-{comment_id}",
        "issue_url": f"{api}/repos/{full_name}/issues/{number}",
        "body": body,
        "user": user(api, bot, bot=True, uid=41898282),
        "created_at": WHEN,
        "updated_at": WHEN,
        "author_association": "NONE",
    }


def commit_status(
    api: str, full_name: str, sha: str, status_id: int, *, sent: dict[str, Any], bot: str
) -> dict[str, Any]:
    """``status``: what ``POST /repos/{owner}/{repo}/statuses/{sha}`` answers."""
    return {
        "url": f"{api}/repos/{full_name}/statuses/{sha}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{41898282}?v=4",
        "id": status_id,
        "node_id": f"SC_{status_id}",
        "state": sent["state"],
        "description": sent.get("description"),
        "target_url": sent.get("target_url"),
        "context": sent.get("context") or "default",
        "created_at": WHEN,
        "updated_at": WHEN,
        "creator": user(api, bot, bot=True, uid=41898282),
    }


def reaction(api: str, reaction_id: int, content: str, bot: str) -> dict[str, Any]:
    return {
        "id": reaction_id,
        "node_id": f"REA_{reaction_id}",
        "user": user(api, bot, bot=True, uid=41898282),
        "content": content,
        "created_at": WHEN,
    }


def not_found(doc: str = "https://docs.github.com/rest") -> dict[str, Any]:
    """``basic-error``"""
    return {"message": "Not Found", "documentation_url": doc, "status": "404"}


def validation_failed(message: str, doc: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``validation-error`` (422): GitHub's message plus the detail objects."""
    return {"message": message, "documentation_url": doc, "errors": errors or [], "status": "422"}
