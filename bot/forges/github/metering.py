"""PyGithub as it ships, measured: every request counted, none retried, each call under a deadline.

Nothing of PyGithub is replaced. What it offers is used:

- ``Github(retry=NoRetry(forge))``: PyGithub hands its ``retry`` option to the ``requests``
  adapter it builds, and urllib3 asks that ``Retry`` about every answer (``is_retry``) and every
  failed exchange (``increment``). ``NoRetry`` never retries (``total=0``, no sleeps) and counts
  each answer by status, and each failed exchange as ``error``, in ``manifest_bot_forge_requests``;
- the rate-limit headroom is PyGithub's own reading of the answers' headers
  (``Requester.rate_limiting``), published after each call (``observe_rate_limit``);
- ``Github(timeout=TIMEOUT_S)`` bounds every connect and read; ``call_within`` bounds a whole call
  (all its requests) at ``DEADLINE_S`` (``bot.deadline``), so a peer trickling its answer one
  header line at a time is cut too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import requests
from github import Github
from urllib3.util.retry import Retry

from bot.deadline import within
from bot.metrics import FORGE_REQUESTS, RATE_LIMIT_REMAINING

#: seconds for each connect and each read (PyGithub's ``timeout``; its default is 15)
TIMEOUT_S = 30
#: seconds one adapter call may take in all, every request it makes included
DEADLINE_S = 60.0

T = TypeVar("T")
_NOTHING_TO_RETRY: dict[str, Any] = {
    "total": 0,
    "connect": 0,
    "read": False,  # as requests' own default: a read error is raised as itself
    "redirect": 0,
    "status": 0,
    "other": 0,
    "raise_on_redirect": False,
    "raise_on_status": False,
    "respect_retry_after_header": False,
}


class NoRetry(Retry):
    """urllib3's ``Retry`` with nothing to retry, counting what it is asked about for ``forge``."""

    def __init__(self, forge: str = "github", **kwargs: Any) -> None:
        # defaults only: ``increment`` builds its successor through ``new`` with counts run down
        for key, value in _NOTHING_TO_RETRY.items():
            kwargs.setdefault(key, value)
        super().__init__(**kwargs)
        self.forge = forge

    def new(self, **kw: Any) -> NoRetry:
        made = super().new(**kw)
        made.forge = self.forge
        return made

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """Asked once per answer: counted, and never retried (our jobs retry)."""
        FORGE_REQUESTS.labels(forge=self.forge, status=str(status_code)).inc()
        return False

    def increment(self, *args: Any, **kwargs: Any) -> NoRetry:
        """Asked once per failed exchange (refused, reset, timed out): counted, then raised."""
        if kwargs.get("error") is not None:
            FORGE_REQUESTS.labels(forge=self.forge, status="error").inc()
        return super().increment(*args, **kwargs)


def observe_rate_limit(forge: str, github: Github, *, graphql: bool) -> None:
    """Publish the headroom PyGithub read from the last answer (``-1`` until one carried it)."""
    remaining, _limit = github.requester.rate_limiting
    if remaining >= 0:
        RATE_LIMIT_REMAINING.labels(forge=forge, scope="graphql" if graphql else "core").set(remaining)


def call_within(host: str, fn: Callable[[], T]) -> T:
    """``fn()`` or ``requests.Timeout`` once it has taken ``DEADLINE_S`` in all."""
    return within(
        DEADLINE_S, fn, lambda: requests.Timeout(f"no whole answer from {host} within {DEADLINE_S:g} s")
    )
