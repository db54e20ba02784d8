"""Every forge request is counted by forge and status, and the rate-limit headroom is visible: GitLab's
through the session hook of `bot.forges.gitlab.calls`, GitHub's through PyGithub's `retry` option
(`bot.forges.github.metering`)."""

from __future__ import annotations

import socket

import pytest
import requests
import responses

from bot.core.ports import ForgeInfo
from bot.errors import NotFound, Transient
from bot.forges.gitlab.adapter import GitLabForge
from bot.metrics import REGISTRY

API = "https://api.github.com"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


GL = "https://gitlab.example.com"
P = f"{GL}/api/v4/projects/acme%2F"


@responses.activate
def test_gitlab_requests_are_counted_by_status_and_rate_limit_is_kept() -> None:
    gl = GitLabForge(ForgeInfo(name="gl-metrics", kind="gitlab"), "glpat-t", url=GL)
    responses.get(
        f"{P}deploy/repository/branches/main",
        json={"name": "main", "commit": {"id": "1" * 40}},
        headers={"RateLimit-Remaining": "599", "RateLimit-Limit": "600"},
    )
    responses.get(
        f"{P}missing/repository/branches/main", status=404, json={"message": "404 Project Not Found"}
    )
    responses.get(f"{P}down/repository/branches/main", body=requests.ConnectionError("connection refused"))
    before = {
        s: sample("manifest_bot_forge_requests_total", forge="gl-metrics", status=s)
        for s in ("200", "404", "error")
    }

    assert gl.branch_head("acme/deploy", "main") == "1" * 40
    with pytest.raises(NotFound):
        gl.branch_head("acme/missing", "main")
    with pytest.raises(Transient):
        gl.branch_head("acme/down", "main")

    for status in ("200", "404", "error"):
        after = sample("manifest_bot_forge_requests_total", forge="gl-metrics", status=status)
        assert after == before[status] + 1
    remaining = sample("manifest_bot_forge_rate_limit_remaining", forge="gl-metrics", scope="core")
    assert remaining == 599


@responses.activate
def test_github_requests_through_pygithub_are_counted_too() -> None:
    from bot.forges.github.adapter import GitHubForge
    from bot.forges.github.clients import TokenCredentials

    gh = GitHubForge(ForgeInfo(name="gh-pygithub", kind="github"), TokenCredentials("t"), api_url=API)
    sent = f"{API}:443/repos/acme/deploy/contents"  # PyGithub names the port
    limits = {"x-ratelimit-limit": "5000", "x-ratelimit-resource": "core"}
    responses.get(
        f"{sent}/missing.yaml",
        status=404,
        json={"message": "Not Found"},
        headers={"x-ratelimit-remaining": "4321", **limits},
    )
    before = {"404": sample("manifest_bot_forge_requests_total", forge="gh-pygithub", status="404")}
    with pytest.raises(NotFound):
        gh.read_file("acme/deploy", "missing.yaml", "main")
    assert sample("manifest_bot_forge_requests_total", forge="gh-pygithub", status="404") == before["404"] + 1
    assert sample("manifest_bot_forge_rate_limit_remaining", forge="gh-pygithub", scope="core") == 4321


def test_a_github_request_that_gets_no_answer_is_counted_as_an_error() -> None:
    from bot.forges.github.adapter import GitHubForge
    from bot.forges.github.clients import TokenCredentials

    with socket.socket() as closed:  # a port nobody listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api/v3"
    gh = GitHubForge(ForgeInfo(name="gh-refused", kind="github"), TokenCredentials("t"), api_url=api)
    before = sample("manifest_bot_forge_requests_total", forge="gh-refused", status="error")
    with pytest.raises(Transient):
        gh.read_file("acme/deploy", "a.yaml", "main")
    assert sample("manifest_bot_forge_requests_total", forge="gh-refused", status="error") == before + 1
