"""GitLab pagination asks ``page=`` of the API's own origin and never follows a ``Link`` URL, and a
redirect to another origin is refused: the token never travels elsewhere (#12)."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from bot.core.ports import ForgeInfo
from bot.errors import ForgeError
from bot.forges.gitlab import calls
from bot.forges.gitlab.adapter import GitLabForge

GL = "https://gitlab.example.com"
TREE = f"{GL}/api/v4/projects/acme%2Fdeploy/repository/tree"
TOKEN = "glpat-secretvalue0123456789"


@pytest.fixture
def gl() -> GitLabForge:
    return GitLabForge(ForgeInfo(name="gl-pages", kind="gitlab"), TOKEN, url=GL)


def blobs(start: int, count: int) -> list[dict[str, str]]:
    return [
        {"id": f"{i:040x}", "name": f"f{i}", "type": "blob", "path": f"f{i}", "mode": "100644"}
        for i in range(start, start + count)
    ]


def page(n: int | None) -> matchers.query_param_matcher:  # type: ignore[valid-type]
    query = {"ref": "main", "recursive": "true", "per_page": "100"}
    return matchers.query_param_matcher(query if n is None else {**query, "page": str(n)})


def link(url: str) -> dict[str, str]:
    """GitLab's shape: ``<url>; rel="next", <url>; rel="last"``."""
    return {"Link": f'<{url}>; rel="next", <{url}>; rel="last"'}


def test_next_pages_are_asked_of_our_origin_with_the_token(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.get(TREE, json=blobs(0, 100), headers={"X-Next-Page": "2"}, match=[page(None)])
    rsps.get(TREE, json=blobs(100, 3), headers={"X-Next-Page": ""}, match=[page(2)])
    assert len(gl.list_tree("acme/deploy", "main")) == 103
    assert [c.request.headers["PRIVATE-TOKEN"] for c in rsps.calls] == [TOKEN, TOKEN]


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://attacker.example.com/api/v4/projects/9/repository/tree?page=2",
        "http://gitlab.example.com/api/v4/projects/9/repository/tree?page=2",  # a downgrade: another origin
        "https://gitlab.example.com:8443/api/v4/projects/9/repository/tree?page=2",
        "https://gitlab.example.com.attacker.example/repository/tree?page=2",
    ],
)
def test_a_next_link_is_never_requested(
    rsps: responses.RequestsMock, gl: GitLabForge, elsewhere: str
) -> None:
    """Only the Link's existence is read: the next page comes from our own API, never from it."""
    rsps.get(TREE, json=blobs(0, 100), headers=link(elsewhere), match=[page(None)])
    rsps.get(TREE, json=blobs(100, 1), match=[page(2)])
    trap = rsps.get(elsewhere.split("?", maxsplit=1)[0], json=blobs(666, 1))
    assert len(gl.list_tree("acme/deploy", "main")) == 101
    assert trap.call_count == 0  # the token never left for it
    rsps.remove(trap)  # the strict mock: this one must stay unused


def test_a_short_page_without_a_next_page_ends_the_list(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.get(TREE, json=blobs(0, 99), match=[page(None)])
    assert len(gl.list_tree("acme/deploy", "main")) == 99
    assert len(rsps.calls) == 1


def test_a_full_last_page_gitlab_calls_last_costs_no_more_request(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.get(TREE, json=blobs(0, 100), headers={"X-Next-Page": ""}, match=[page(None)])
    assert len(gl.list_tree("acme/deploy", "main")) == 100
    assert len(rsps.calls) == 1


def test_a_list_that_never_ends_stops_at_max_pages(
    rsps: responses.RequestsMock, gl: GitLabForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calls, "MAX_PAGES", 3)
    rsps.get(TREE, json=blobs(0, 100), headers={"X-Next-Page": "2"}, match=[page(None)])
    rsps.get(TREE, json=blobs(100, 100), headers={"X-Next-Page": "3"}, match=[page(2)])
    rsps.get(TREE, json=blobs(200, 100), headers={"X-Next-Page": "4"}, match=[page(3)])
    assert len(gl.list_tree("acme/deploy", "main")) == 300
    assert len(rsps.calls) == 3


def test_a_redirect_to_another_origin_is_refused(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    """``requests`` strips only ``Authorization`` on a cross-host redirect; ``PRIVATE-TOKEN`` would
    go along, so the session hook refuses it before it is followed."""
    raw = f"{GL}/api/v4/projects/acme%2Fdeploy/repository/files/a.yaml/raw"
    rsps.get(raw, status=302, headers={"Location": "https://attacker.example.com/steal"})
    trap = rsps.get("https://attacker.example.com/steal", body=b"x")
    with pytest.raises(ForgeError, match="not followed with our credentials"):
        gl.read_file("acme/deploy", "a.yaml", "main")
    assert trap.call_count == 0
    rsps.remove(trap)


def test_a_redirect_on_the_api_origin_is_followed(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    """GitLab answers a renamed project's old path with a redirect to its new one."""
    old = f"{GL}/api/v4/projects/acme%2Fdeploy/repository/files/a.yaml/raw"
    new = f"{GL}/api/v4/projects/acme%2Fmoved/repository/files/a.yaml/raw"
    rsps.get(old, status=301, headers={"Location": f"{new}?ref=main"})
    rsps.get(new, body=b"image: web:1\n")
    assert gl.read_file("acme/deploy", "a.yaml", "main") == b"image: web:1\n"
    assert rsps.calls[1].request.headers["PRIVATE-TOKEN"] == TOKEN
