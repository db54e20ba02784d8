"""GitLab API v4 JSON ↔ our types: merge requests, commits, access levels, commit actions and the
``Draft: `` title convention (GitLab keeps an MR's draft state in its title)."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.ports import CommitInfo, FileChange, Permission, PullRequest

DRAFT_PREFIX = "Draft: "
#: the title prefixes GitLab reads as "draft" (case-insensitive)
_DRAFT_RE = re.compile(r"^\s*(\[draft\]|\(draft\)|draft:)\s*", re.IGNORECASE)
_STATES = {"opened": "open", "locked": "open", "closed": "closed", "merged": "merged"}
_MERGEABLE = {"mergeable": True, "broken_status": False, "conflict": False, "need_rebase": False}


def access_to_permission(level: int) -> Permission:
    """Owner 50 → ADMIN, Maintainer 40 → MAINTAIN, Developer 30 → WRITE, Reporter 20 → TRIAGE,
    Guest 10 / Planner 15 → READ, anything lower → NONE."""
    for floor, perm in (
        (50, Permission.ADMIN),
        (40, Permission.MAINTAIN),
        (30, Permission.WRITE),
        (20, Permission.TRIAGE),
        (10, Permission.READ),
    ):
        if level >= floor:
            return perm
    return Permission.NONE


def mr_from_json(data: Mapping[str, Any]) -> PullRequest:
    """The title without GitLab's draft prefix: ``draft`` says it (as on GitHub and local)."""
    draft = bool(data.get("draft", data.get("work_in_progress", False)))
    return PullRequest(
        number=int(data["iid"]),
        head_branch=data["source_branch"],
        base_branch=data["target_branch"],
        title=bare_title(data.get("title") or "") if draft else data.get("title") or "",
        body=data.get("description") or "",
        state=_STATES.get(data.get("state", ""), "closed"),  # type: ignore[arg-type]
        head_sha=data.get("sha"),
        url=data.get("web_url"),
        draft=draft,
        labels=tuple(data.get("labels") or ()),
        author=(data.get("author") or {}).get("username"),
        mergeable=_MERGEABLE.get(data.get("detailed_merge_status", "")),
    )


def commit_from_json(data: Mapping[str, Any]) -> CommitInfo:
    return CommitInfo(
        sha=data["id"],
        parents=tuple(data.get("parent_ids") or ()),
        author_name=data.get("author_name"),
        author_email=data.get("author_email"),
        message=data.get("message", ""),
    )


def file_actions(
    changes: Sequence[FileChange], existing: set[str] | None = None, *, last_commit_id: str | None = None
) -> list[dict[str, str]]:
    """``update`` for new content and ``delete`` for None; with ``existing`` (the paths at the
    start commit) a new path is a ``create`` and deleting an absent path is left out.

    ``last_commit_id`` guards each ``update``/``delete`` (GitLab ignores it on ``create``): GitLab
    refuses the commit ("The file has changed since you started editing it") when the file's last
    commit on the branch differs from its last commit as of ``last_commit_id``."""
    out: list[dict[str, str]] = []
    for c in changes:
        present = existing is None or c.path in existing
        action: dict[str, str]
        if c.content is None:
            if not present:
                continue
            action = {"action": "delete", "file_path": c.path}
        else:
            content = base64.b64encode(c.content).decode("ascii")
            kind = "update" if present else "create"
            action = {"action": kind, "file_path": c.path, "content": content, "encoding": "base64"}
        if last_commit_id is not None and action["action"] != "create":
            action["last_commit_id"] = last_commit_id
        out.append(action)
    return out


def bare_title(title: str) -> str:
    return _DRAFT_RE.sub("", title, count=1)


def titled(title: str, draft: bool) -> str:
    bare = bare_title(title)
    return DRAFT_PREFIX + bare if draft else bare
