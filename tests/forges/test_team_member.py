"""The optional ``team_member`` extra: GitHub team memberships and GitLab group members against
`responses` (request paths, active / pending / not a member, refused lookups), and the local map."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses

from bot.core.ports import ForgeInfo
from bot.errors import PermissionDenied
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import TokenCredentials
from bot.forges.gitlab.adapter import GitLabForge
from bot.forges.local.adapter import build_local
from bot.settings import Settings

CONFIGURED = "https://api.github.com"  # what a user writes
API = "https://api.github.com:443"  # PyGithub names the port in every URL it requests
GL = "https://gitlab.example.com/api/v4"
REPO = "acme/deploy"


@pytest.fixture
def gh() -> GitHubForge:
    return GitHubForge(
        ForgeInfo(name="gh", kind="github"), TokenCredentials("ghp_secret"), api_url=CONFIGURED
    )


@pytest.fixture
def gl() -> GitLabForge:
    return GitLabForge(ForgeInfo(name="gl", kind="gitlab"), "glpat-secret", url="https://gitlab.example.com")


def membership(state: str, role: str = "member") -> dict[str, str]:
    """The body of GitHub's "Get team membership for a user"."""
    return {
        "url": "https://api.github.com/organizations/1/team/2/memberships/mona",
        "role": role,
        "state": state,
    }


# --- GitHub ------------------------------------------------------------------------------------
def test_github_active_member_of_a_team_named_org_slash_slug(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.get(f"{API}/orgs/platform/teams/release-managers/memberships/mona", json=membership("active"))
    assert gh.team_member(REPO, "platform/release-managers", "mona") is True
    (call,) = rsps.calls
    assert call.request.headers["Authorization"] == "token ghp_secret"


def test_github_bare_slug_means_the_repo_owners_org(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(f"{API}/orgs/acme/teams/release/memberships/mona", json=membership("active", "maintainer"))
    assert gh.team_member(REPO, "release", "mona") is True


def test_github_pending_invitation_is_not_membership(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(f"{API}/orgs/acme/teams/release/memberships/mona", json=membership("pending"))
    assert gh.team_member(REPO, "release", "mona") is False


def test_github_404_is_not_a_member(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(
        f"{API}/orgs/acme/teams/release/memberships/eve",
        json={"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
        status=404,
    )
    assert gh.team_member(REPO, "acme/release", "eve") is False


def test_github_missing_members_permission_is_an_error_not_a_no(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    rsps.get(
        f"{API}/orgs/acme/teams/release/memberships/mona",
        json={"message": "Resource not accessible by integration"},
        status=403,
    )
    with pytest.raises(PermissionDenied):
        gh.team_member(REPO, "release", "mona")


# --- GitLab ------------------------------------------------------------------------------------
def user(uid: int, username: str) -> dict[str, object]:
    return {"id": uid, "username": username, "name": username.title(), "state": "active"}


def test_gitlab_group_member_by_encoded_path(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{GL}/users", json=[user(7, "mona")])
    rsps.get(
        f"{GL}/groups/acme%2Frelease-managers/members/all/7",
        json={**user(7, "mona"), "access_level": 30, "membership_state": "active"},
    )
    assert gl.team_member(REPO, "acme/release-managers", "mona") is True
    assert rsps.calls[0].request.params == {"username": "mona"}
    assert rsps.calls[1].request.headers["PRIVATE-TOKEN"] == "glpat-secret"


def test_gitlab_404_is_not_a_member_and_the_user_id_is_cached(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.get(f"{GL}/users", json=[user(7, "mona")])
    rsps.get(f"{GL}/groups/acme%2Fops/members/all/7", json={"message": "404 Not found"}, status=404)
    rsps.get(f"{GL}/groups/acme%2Frelease/members/all/7", json={**user(7, "mona"), "access_level": 40})
    assert gl.team_member(REPO, "acme/ops", "mona") is False
    assert gl.team_member(REPO, "acme/release", "mona") is True
    assert [c.request.url.split("?")[0] for c in rsps.calls].count(f"{GL}/users") == 1


def test_gitlab_unknown_user_is_no_member_of_anything(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{GL}/users", json=[])
    assert gl.team_member(REPO, "acme/release", "ghost") is False
    assert len(rsps.calls) == 1


# --- local -------------------------------------------------------------------------------------
def test_local_membership_comes_from_the_teams_option(tmp_path: Path, settings: Settings) -> None:
    forge = build_local("local", settings, root=str(tmp_path), teams={"Release": ["Mona", "bob"]})
    assert forge.team_member(REPO, "release", "mona") is True
    assert forge.team_member(REPO, "Release", "bob") is True
    assert forge.team_member(REPO, "release", "eve") is False
    assert forge.team_member(REPO, "ops", "mona") is False
