"""The replies of a comment come first: what the reconciles its commands run say on that same PR
(why it closed, an error, a blocked branch) is held until the command's reply is posted, then
posted in order, so the PR reads in the order people acted — the command, its answer, what
followed from it.

``HeldComments.wrapping`` wraps the reconcile's forges for one comment; ``hold`` names the
commented PR, ``release`` posts what was held (also when a command failed). Comments on other
PRs (a promotion's target) and every other forge call go through at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from bot.core.ports import Forge


class HeldComments:
    def __init__(self) -> None:
        self._pr: tuple[str, str, int] | None = None
        self._held: list[tuple[Forge, str, int, str]] = []

    def hold(self, forge_name: str, repo: str, number: int) -> None:
        """Hold the comments made on ``repo#number`` of ``forge_name`` until ``release``."""
        self._pr = (forge_name, repo, number)

    def holds(self, forge_name: str, repo: str, number: int) -> bool:
        return self._pr == (forge_name, repo, number)

    def keep(self, forge: Forge, repo: str, number: int, body: str) -> None:
        self._held.append((forge, repo, number, body))

    def release(self) -> None:
        """Post what was held, in order, and stop holding."""
        held, self._held, self._pr = self._held, [], None
        for forge, repo, number, body in held:
            forge.comment(repo, number, body)

    def wrapping(self, forge_for: Callable[[str], Forge]) -> Callable[[str], Forge]:
        """``forge_for`` whose forges hold comments on the held PR."""

        def wrapped(name: str) -> Forge:
            return cast(Forge, _Holding(forge_for(name), name, self))

        return wrapped


class _Holding:
    """A forge whose comments on the held PR wait (a close's comment too: it closes at once)."""

    def __init__(self, inner: Forge, name: str, held: HeldComments) -> None:
        self._inner = inner
        self._name = name
        self._held = held

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    def comment(self, repo: str, number: int, body: str) -> str:
        if self._held.holds(self._name, repo, number):
            self._held.keep(self._inner, repo, number, body)
            return ""
        return self._inner.comment(repo, number, body)

    def close_pr(self, repo: str, number: int, comment: str | None = None) -> None:
        if comment is not None and self._held.holds(self._name, repo, number):
            self._inner.close_pr(repo, number, None)
            self._held.keep(self._inner, repo, number, comment)
            return
        self._inner.close_pr(repo, number, comment)
