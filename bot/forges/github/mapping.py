"""GitHub answers (REST JSON as PyGithub keeps it in ``raw_data``, GraphQL nodes) → our types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from bot.core.ports import CommitInfo, Permission, PullRequest

PERMISSIONS = {
    "admin": Permission.ADMIN,
    "maintain": Permission.MAINTAIN,
    "write": Permission.WRITE,
    "triage": Permission.TRIAGE,
    "read": Permission.READ,
    "none": Permission.NONE,
}
_MERGEABLE = {"MERGEABLE": True, "CONFLICTING": False}


def pr_from_rest(data: Mapping[str, Any], *, detailed: bool) -> PullRequest:
    """A REST pull request. Only the single-PR endpoints (get, create, update) carry ``mergeable``;
    a list item (``pull-request-simple``) does not, so ``detailed=False`` leaves it unknown."""
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
        mergeable=data.get("mergeable") if detailed else None,
    )


def actor_login(actor: Mapping[str, Any] | None) -> str | None:
    """GraphQL names an App by its slug (``Bot.login`` = ``my-app``); REST, webhooks and commit
    authorship use ``my-app[bot]``. Ours is the REST form everywhere."""
    if not actor or not actor.get("login"):
        return None
    login = str(actor["login"])
    if actor.get("__typename") == "Bot" and not login.endswith("[bot]"):
        return f"{login}[bot]"
    return login


_STATE: dict[str, Literal["open", "closed", "merged"]] = {
    "OPEN": "open",
    "CLOSED": "closed",
    "MERGED": "merged",
}


def pr_from_graphql(node: Mapping[str, Any]) -> PullRequest:
    """A GraphQL ``PullRequest`` node (as queried by ``OBSERVE``)."""
    return PullRequest(
        number=int(node["number"]),
        head_branch=node["headRefName"],
        base_branch=node["baseRefName"],
        title=node.get("title") or "",
        body=node.get("body") or "",
        state=_STATE.get(node.get("state") or "OPEN", "closed"),
        head_sha=node.get("headRefOid"),
        url=node.get("url"),
        draft=bool(node.get("isDraft", False)),
        labels=tuple(label["name"] for label in (node.get("labels") or {}).get("nodes") or ()),
        author=actor_login(node.get("author")),
        mergeable=_MERGEABLE.get(node.get("mergeable") or ""),
    )


def commit_from_rest(data: Mapping[str, Any]) -> CommitInfo:
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


def permission_from_rest(body: Mapping[str, Any]) -> Permission:
    """``role_name`` (admin/maintain/write/triage/read) when GitHub sends a known one, else the base
    ``permission`` (a custom role's base level)."""
    role = PERMISSIONS.get(str(body.get("role_name", "")).lower())
    return role if role is not None else PERMISSIONS.get(str(body.get("permission", "none")), Permission.NONE)
