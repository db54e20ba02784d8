"""One door for every GitHub call: the repo's client, the transport scope, and the error table.

``run(repo, what, fn)`` calls ``fn(github_client)`` inside ``transport.scope`` (metrics, one origin)
and turns whatever escapes into ``bot.errors`` through ``bot.forges.errors_map`` — nothing of
PyGithub or ``requests`` leaks out. A 401 drops the repo's cached client (``Clients.forget``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
from github import Github
from github.GithubException import GithubException

from bot.errors import ForgeError, ValidationFailed
from bot.forges.errors_map import error_for_exception, error_for_github
from bot.forges.github import transport
from bot.forges.github.clients import Clients

T = TypeVar("T")


class Calls:
    def __init__(self, forge: str, api_url: str, clients: Clients) -> None:
        self.forge = forge
        self.api_url = api_url.rstrip("/")
        self.clients = clients

    def run(self, repo: str, what: str, fn: Callable[[Github], T], *, graphql: bool = False) -> T:
        with transport.scope(self.forge, self.api_url):
            try:
                return fn(self.clients.client(repo))
            except GithubException as exc:
                if exc.status == 401:
                    self.clients.forget(repo)
                raise error_for_github(exc, what, graphql=graphql) from None
            except requests.RequestException as exc:
                raise error_for_exception(exc, what) from None
            except (transport.ForeignOrigin, AssertionError) as exc:
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
