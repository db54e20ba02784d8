"""Link pagination follows only the API's own origin: the token never travels elsewhere (#12)."""

from __future__ import annotations

import pytest
import responses

from bot.errors import ForgeError
from bot.forges.http import HttpClient

API = "https://api.github.com"
TOKEN = "ghs_installationtokenvalue0123456789"


def client() -> HttpClient:
    return HttpClient(API, lambda _repo: {"Authorization": f"Bearer {TOKEN}"})


def link(url: str) -> dict[str, str]:
    """GitHub's shape: ``<url>; rel="next", <url>; rel="last"``."""
    return {"Link": f'<{url}>; rel="next", <{url}>; rel="last"'}


@responses.activate
def test_next_pages_on_the_same_origin_are_followed() -> None:
    second = f"{API}/repos/acme/deploy/pulls?per_page=2&page=2"
    responses.get(f"{API}/repos/acme/deploy/pulls", json=[1, 2], headers=link(second))
    page_two = responses.matchers.query_param_matcher({"per_page": "2", "page": "2"})
    responses.get(second, json=[3], match=[page_two])
    pages = client().paginate("/repos/acme/deploy/pulls", "list PRs", params={"per_page": 2})
    assert list(pages) == [1, 2, 3]
    assert responses.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://attacker.example.com/repositories/9/pulls?page=2",
        "http://api.github.com/repositories/9/pulls?page=2",  # a downgrade is another origin too
        "https://api.github.com:8443/repositories/9/pulls?page=2",
        "https://api.github.com.attacker.example/pulls?page=2",
    ],
)
@responses.activate
def test_a_next_page_on_another_origin_is_refused_and_never_requested(elsewhere: str) -> None:
    responses.get(f"{API}/repos/acme/deploy/pulls", json=[1, 2], headers=link(elsewhere))
    trap = responses.get(elsewhere.split("?", maxsplit=1)[0], json=[666])
    pages = client().paginate("/repos/acme/deploy/pulls", "list PRs")
    with pytest.raises(ForgeError, match="not followed with our credentials"):
        list(pages)
    assert trap.call_count == 0  # the token never left for it
