"""HTTP and GraphQL failures from GitHub become our errors, with retry-after where GitHub gives one."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import responses

from bot.core.ports import FileChange, ForgeInfo
from bot.errors import (
    AuthError,
    Conflict,
    ForgeError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Transient,
    ValidationFailed,
)
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import TokenCredentials
from tests.forges.api import github_json as fx

CONFIGURED = "https://api.github.com"  # what a user writes
API = "https://api.github.com:443"  # PyGithub names the port in every URL it requests
REPO = "acme/deploy"
URL = f"{API}/repos/{REPO}/contents/a.yaml"


@pytest.fixture
def gh() -> GitHubForge:
    return GitHubForge(
        ForgeInfo(name="gh", kind="github"), TokenCredentials("ghp_secret"), api_url=CONFIGURED
    )


def _raise(
    rsps: responses.RequestsMock, gh: GitHubForge, status: int, body: Any, **headers: str
) -> ForgeError:
    rsps.get(URL, json=body, status=status, headers=headers)
    with pytest.raises(ForgeError) as err:
        gh.read_file(REPO, "a.yaml", "main")
    assert "ghp_secret" not in str(err.value)
    return err.value


@pytest.mark.parametrize(
    ("status", "fixture", "kind"),
    [
        (401, "bad_credentials", AuthError),
        (403, "not_found", PermissionDenied),
        (409, "merge_conflict", Conflict),
        (422, "ref_exists", Conflict),
        (422, "validation_failed", ValidationFailed),
        (500, "not_found", Transient),
        (502, "not_found", Transient),
    ],
)
def test_status_mapping(
    rsps: responses.RequestsMock, gh: GitHubForge, status: int, fixture: str, kind: type[ForgeError]
) -> None:
    assert type(_raise(rsps, gh, status, fx(fixture))) is kind


def test_422_fast_forward_refusal_is_conflict(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    err = _raise(rsps, gh, 422, {"message": "Update is not a fast forward", "status": "422"})
    assert isinstance(err, Conflict)


def test_secondary_rate_limit_with_retry_after(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    err = _raise(rsps, gh, 403, fx("secondary_rate_limit"), **{"Retry-After": "37"})
    assert isinstance(err, RateLimited)
    assert err.retry_after == 37.0
    assert not err.permanent


def test_secondary_rate_limit_without_retry_after_waits_a_minute(
    rsps: responses.RequestsMock, gh: GitHubForge
) -> None:
    err = _raise(rsps, gh, 403, fx("secondary_rate_limit"))
    assert isinstance(err, RateLimited) and err.retry_after == 60.0


def test_primary_rate_limit_waits_until_reset(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    reset = int(time.time()) + 120
    err = _raise(
        rsps,
        gh,
        403,
        fx("primary_rate_limit"),
        **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    assert isinstance(err, RateLimited)
    assert err.retry_after is not None and 110 <= err.retry_after <= 120


def test_429_is_rate_limited(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    err = _raise(rsps, gh, 429, {"message": "Too Many Requests"}, **{"Retry-After": "5"})
    assert isinstance(err, RateLimited) and err.retry_after == 5.0


def test_not_found_names_the_operation(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(f"{API}/repos/{REPO}/pulls/99", json=fx("not_found"), status=404)
    with pytest.raises(NotFound, match=r"read PR #99: HTTP 404: Not Found"):
        gh.get_pr(REPO, 99)


def test_timeout_is_transient(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.get(URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(Transient, match="ReadTimeout"):
        gh.read_file(REPO, "a.yaml", "main")


def test_graphql_rate_limit(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    reset = int(time.time()) + 30
    rsps.post(
        f"{API}/graphql",
        json={"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for installation"}]},
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    with pytest.raises(RateLimited) as err:
        gh.commit_files(
            REPO, "b", parent="1" * 40, changes=[FileChange("a", b"x")], message="m", expected_head="1" * 40
        )
    assert err.value.retry_after is not None and 20 <= err.value.retry_after <= 30


def test_graphql_not_found(rsps: responses.RequestsMock, gh: GitHubForge) -> None:
    rsps.post(
        f"{API}/graphql",
        json={
            "data": {"repository": None},
            "errors": [
                {
                    "type": "NOT_FOUND",
                    "path": ["repository"],
                    "message": "Could not resolve to a Repository with the name 'acme/deploy'.",
                }
            ],
        },
    )
    with pytest.raises(NotFound, match="Could not resolve"):
        gh.disable_auto_merge(REPO, 3)
