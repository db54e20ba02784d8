"""Team membership lookups for chat-ops rules that list teams (the optional ``team_member`` extra).

One request per (team, user); the adapters' ``team_member`` methods delegate here. A team that does
not exist, or of which the user is not an (active) member, is ``False``; anything else the forge
refuses (403 without the permission to read members, 5xx, rate limits) raises the mapped
``bot.errors`` error so the caller can refuse the command with the reason.
"""

from __future__ import annotations

from urllib.parse import quote

from bot.forges.http import HttpClient


def github_team(repo: str, team: str) -> tuple[str, str]:
    """``org/slug`` or a bare ``slug`` (the org is the repo's owner) → (org, slug)."""
    org, _, slug = team.strip().rpartition("/")
    return (org or repo.split("/", 1)[0]), slug


def github_team_member(http: HttpClient, repo: str, team: str, user: str) -> bool:
    """``GET /orgs/{org}/teams/{team_slug}/memberships/{username}``: 200 with ``state: active`` is a
    member; ``pending`` (invited, not accepted) and 404 are not. Needs the App's organization
    permission "Members: read"; the installation token of ``repo`` is used."""
    org, slug = github_team(repo, team)
    path = f"/orgs/{quote(org, safe='')}/teams/{quote(slug, safe='')}/memberships/{quote(user, safe='')}"
    resp = http.request("GET", path, f"read {user}'s membership of team {org}/{slug}", repo=repo, ok=(404,))
    return resp.status_code == 200 and resp.json().get("state") == "active"


def gitlab_group_member(http: HttpClient, group: str, user_id: int | None) -> bool:
    """``GET /groups/:id/members/all/:user_id`` (``:id`` = the URL-encoded group path; ``all``
    counts members inherited from parent groups): 200 is a member, 404 is not. An unknown user
    (``user_id`` None) is not a member of anything and costs no request."""
    if user_id is None:
        return False
    path = f"/groups/{quote(group.strip().strip('/'), safe='')}/members/all/{user_id}"
    resp = http.request("GET", path, f"read membership of group {group}", ok=(404,))
    return resp.status_code == 200
