"""GraphQL node ids (repositories, pull requests), remembered from answers that carry them so a
mutation costs one request; looked up (one query) only when no answer brought them yet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.forges.github.calls import Calls
from bot.forges.github.graphql import PR_ID, REPO_ID

_MAX = 1024  # entries per cache; the oldest goes first


class NodeIds:
    def __init__(self, calls: Calls) -> None:
        self._calls = calls
        self._repos: dict[str, str] = {}
        self._prs: dict[tuple[str, int], str] = {}

    @staticmethod
    def _put(cache: dict[Any, str], key: Any, value: str) -> None:
        if key not in cache and len(cache) >= _MAX:
            cache.pop(next(iter(cache)))
        cache[key] = value

    def remember_repo(self, repo: str, node_id: str | None) -> None:
        if node_id:
            self._put(self._repos, repo, node_id)

    def remember_pr(self, repo: str, number: int, node_id: str | None) -> None:
        if node_id:
            self._put(self._prs, (repo, number), node_id)

    def remember_rest_pr(self, repo: str, data: Mapping[str, Any]) -> None:
        """From a REST pull request: its node id and its base repository's."""
        self.remember_pr(repo, int(data["number"]), data.get("node_id"))
        self.remember_repo(repo, ((data.get("base") or {}).get("repo") or {}).get("node_id"))

    def repo_id(self, repo: str) -> str:
        if repo not in self._repos:
            owner, name = repo.split("/", 1)
            data = self._calls.graphql(repo, REPO_ID, {"owner": owner, "name": name}, f"look up {repo}")
            self.remember_repo(repo, data["repository"]["id"])
        return self._repos[repo]

    def pr_id(self, repo: str, number: int) -> str:
        if (repo, number) not in self._prs:
            owner, name = repo.split("/", 1)
            variables = {"owner": owner, "name": name, "number": number}
            data = self._calls.graphql(repo, PR_ID, variables, f"look up PR #{number} in {repo}")
            self.remember_pr(repo, number, data["repository"]["pullRequest"]["id"])
        return self._prs[(repo, number)]
