"""One door for every GitHub call: the repo's client, a total deadline, and the error table.

``run(repo, what, fn)`` calls ``fn(github_client)`` within ``metering.DEADLINE_S`` (every request
of the call included), publishes the rate-limit headroom PyGithub read, and turns whatever escapes
into ``bot.errors`` through ``bot.forges.errors_map`` — nothing of PyGithub or ``requests`` leaks
out. A 401 drops the repo's cached client (``Clients.forget``).

Where answers name URLs: PyGithub sends a request to a URL from an answer (a list item's ``url``,
read when the item is completed) after an ``assert`` on its host — gone under ``python -O``, and
letting ``*.githubusercontent.com`` through for github.com. ``own_origin`` refuses such an object
before anything is read from it; lists are walked page by page from our own first URL
(``PaginatedList.get_page``), never by the answer's ``Link: next``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from github import Github
from github.GithubException import GithubException

from bot.errors import ForgeError, ValidationFailed
from bot.forges.errors_map import error_for_exception, error_for_github
from bot.forges.github import metering
from bot.forges.github.clients import Clients

T = TypeVar("T")
_DEFAULT_PORTS = {"https": 443, "http": 80}

Origin = tuple[str, str, int]  # scheme, host, port


def origin_of(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


class ForeignOrigin(Exception):
    """An answer named a URL on another host than the API's (nothing was sent there)."""


class Calls:
    def __init__(self, forge: str, api_url: str, clients: Clients) -> None:
        self.forge = forge
        self.api_url = api_url.rstrip("/")
        self.origin = origin_of(self.api_url)
        self.clients = clients

    def own_origin(self, url: str) -> None:
        """Raise ``ForeignOrigin`` (inside ``run``: ValidationFailed) unless ``url`` is the API's."""
        if origin_of(url) != self.origin:
            raise ForeignOrigin(f"an answer named {urlsplit(url).netloc or url!r}, not the forge's API host")

    def run(self, repo: str, what: str, fn: Callable[[Github], T], *, graphql: bool = False) -> T:
        def call() -> T:
            github = self.clients.client(repo)
            try:
                return fn(github)
            finally:
                metering.observe_rate_limit(self.forge, github, graphql=graphql)

        try:
            return metering.call_within(self.origin[1], call)
        except GithubException as exc:
            if exc.status == 401:
                self.clients.forget(repo)
            raise error_for_github(exc, what, graphql=graphql) from None
        except requests.RequestException as exc:
            raise error_for_exception(exc, what) from None
        except (ForeignOrigin, AssertionError) as exc:
            # ours, or PyGithub's own check of a URL from an answer (an ``assert``)
            raise ValidationFailed(f"{what}: refused to follow a URL to another host ({exc})") from None

    def graphql(self, repo: str, query: str, variables: Mapping[str, Any], what: str) -> dict[str, Any]:
        """``data`` of a GraphQL answer (``Requester.graphql_query``); any ``errors`` raise."""

        def send(github: Github) -> dict[str, Any]:
            _headers, body = github.requester.graphql_query(query, dict(variables))
            return body.get("data") or {}

        return self.run(repo, what, send, graphql=True)

    def graphql_attempt(
        self, repo: str, query: str, variables: Mapping[str, Any], what: str
    ) -> tuple[dict[str, Any], ForgeError | None]:
        """Like ``graphql`` but never raises a forge error: (whatever ``data`` came back, the error).
        For writes whose outcome is decided by reading the branch afterwards."""
        partial: dict[str, Any] = {}

        def send(github: Github) -> dict[str, Any]:
            try:
                _headers, body = github.requester.graphql_query(query, dict(variables))
            except GithubException as exc:
                if isinstance(exc.data, Mapping):
                    partial.update(exc.data.get("data") or {})
                raise
            return body.get("data") or {}

        try:
            return self.run(repo, what, send, graphql=True), None
        except ForgeError as err:
            return partial, err
