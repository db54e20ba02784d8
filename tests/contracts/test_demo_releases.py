"""The demo's GitHub Enterprise (``bot.demo.releases``) answers as GitHub's OpenAPI description
(``@octokit/openapi``) says ``GET /repos/{owner}/{repo}/releases/tags/{tag}`` answers: a release
that validates against the ``release`` schema, and the declared 404; and the adapter's request
matches that operation."""

from __future__ import annotations

import json

import requests

from bot.core.ports import ForgeInfo
from bot.demo.releases import PublishedRelease, ReleasesServer
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import TokenCredentials
from tests.contracts import vendor
from tests.contracts.conftest import Exchange
from tests.contracts.test_rest_openapi import operation_for, problems

TOKEN = "demo-token"


def _exchange(server: ReleasesServer, path: str) -> Exchange:
    resp = requests.get(f"{server.api}{path}", headers={"Authorization": f"token {TOKEN}"}, timeout=10)
    return Exchange(
        "GET", f"https://api.github.com{path}", None, resp.status_code, dict(resp.headers), resp.json()
    )


def test_the_demo_releases_validate_against_octokits_schema() -> None:
    vendor.path("openapi")
    body = "Fixed @alice's bug\n\n- one\n- two"
    server = ReleasesServer(TOKEN, [PublishedRelease("example/api", "v1.4.0", "API 1.4.0", body)])
    with server.serving():
        found = _exchange(server, "/repos/example/api/releases/tags/v1.4.0")
        missing = _exchange(server, "/repos/example/api/releases/tags/9.9.9")
        forge = GitHubForge(ForgeInfo("ghe", "github"), TokenCredentials(TOKEN), api_url=server.api)
        release = forge.release("example/api", ("1.4.0", "v1.4.0"))  # what the adapter sends
    assert (found.status, missing.status) == (200, 404)
    assert found.from_fake and missing.from_fake
    assert problems(found) == [] and problems(missing) == []
    template = operation_for("GET", "/repos/example/api/releases/tags/v1.4.0")
    assert template is not None and template[0] == "/repos/{owner}/{repo}/releases/tags/{tag}"
    assert [operation_for("GET", p.removeprefix("/api/v3"))[0] for p in server.requests[2:]] == [
        template[0]
    ] * 2  # type: ignore[index]
    assert release is not None and release.body == body


def test_the_check_catches_a_release_missing_what_the_schema_requires() -> None:
    vendor.path("openapi")
    server = ReleasesServer(TOKEN, [PublishedRelease("example/api", "v1.4.0", "API 1.4.0", "x")])
    with server.serving():
        good = _exchange(server, "/repos/example/api/releases/tags/v1.4.0")
    thin = {k: v for k, v in good.answer.items() if k != "assets_url"}
    bad = Exchange(good.method, good.url, None, 200, good.headers, json.loads(json.dumps(thin)))
    assert any("'assets_url' is a required property" in p for p in problems(bad))
