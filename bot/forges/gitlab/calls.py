"""python-gitlab as it ships, measured: every request counted, none retried or slept on, each call
under a deadline, every failure through our error table.

Nothing of python-gitlab is replaced or patched; what it offers is used:

- ``Gitlab(session=…, timeout=…, retry_transient_errors=False)`` builds the authenticated session
  (``PRIVATE-TOKEN``), the API URL and the user agent; ``timeout`` bounds every connect and read;
- every call passes ``NO_RETRY`` (``obey_rate_limit=False, max_retries=0,
  retry_transient_errors=False``): by default python-gitlab sleeps on a 429 (``Retry-After``) and
  retries it up to 10 times inside the call; with these a 429 or a 5xx is raised at once, becomes
  ``RateLimited``/``Transient`` and the job layer decides when to try again (no sleeping inside a
  job);
- python-gitlab's exceptions carry a status code and a body, not the headers (``Retry-After``,
  ``RateLimit-*``): a ``requests`` response hook on the session we hand it sees every answer, counts
  it (``manifest_bot_forge_requests_total``, the rate-limit headroom) and keeps it for the call that
  is running (thread-local: each call runs on a thread of its own, ``bot.deadline``), so a failure
  is mapped from the answer itself (``errors_map.error_for_gitlab``);
- the same hook refuses a redirect to another origin (scheme, host, port): ``requests`` strips only
  ``Authorization`` on such a redirect and would carry ``PRIVATE-TOKEN`` along;
- ``run`` bounds a whole call at ``DEADLINE_S`` (``bot.deadline.within``), so a peer trickling its
  answer one header line at a time is cut too.

Pagination (``pages``) never follows a ``Link`` URL (a response must not be able to send the token
anywhere): one call per page, ``page=`` asked of the API's own origin, at most ``MAX_PAGES``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import gitlab
import requests

from bot.deadline import within
from bot.errors import ForgeError
from bot.forges.errors_map import error_for_exception, error_for_gitlab
from bot.metrics import FORGE_REQUESTS, RATE_LIMIT_REMAINING

#: (connect, read) seconds; a forge that does not answer in time is Transient, not a hung worker.
#: python-gitlab hands ``timeout`` to ``requests`` as it is, so the pair works as in ``requests``
TIMEOUT = (5.0, 30.0)
#: seconds one adapter call may take in all: a forge trickling its answer is cut here
DEADLINE_S = 60.0
#: a list longer than this many pages is a bug or an attack, not a list we should walk
MAX_PAGES = 50
PER_PAGE = 100
#: for every python-gitlab call: raise a 429 or a 5xx at once, never sleep and retry it
NO_RETRY: dict[str, Any] = {"obey_rate_limit": False, "max_retries": 0, "retry_transient_errors": False}

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Refused:
    """A failed answer whose status the caller listed in ``ok`` (e.g. 404 "not a member")."""

    status: int
    response: requests.Response


class GitLabCalls:
    """One door for every request of a GitLab forge: ``run(what, fn, ok=…)``, ``pages(…)``."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        forge: str,
        session: requests.Session | None = None,
        ssl_verify: bool | str = True,
    ) -> None:
        self.forge = forge  # metrics label: the config's name for this forge
        self.gl = gitlab.Gitlab(
            url,
            private_token=token,
            session=session,
            ssl_verify=ssl_verify,
            timeout=TIMEOUT,  # type: ignore[arg-type]  # passed through to requests, which takes a pair
            retry_transient_errors=False,
            keep_base_url=True,  # a Link's base is never used (see ``pages``): no warning about it
        )
        self.base_url = self.gl.api_url
        self.deadline_s = DEADLINE_S
        self._origin = origin(self.base_url)
        self._answers = threading.local()
        self.gl.session.hooks["response"].append(self._on_response)

    # --- one call --------------------------------------------------------------------------------
    def run(self, what: str, fn: Callable[[], T], *, ok: Sequence[int] = ()) -> T | Refused:
        """``fn()`` (python-gitlab calls, each with ``**NO_RETRY``) within the deadline; a failed
        answer whose status is in ``ok`` comes back as ``Refused``, any other failure raises our
        error (``bot.errors``)."""
        try:
            return within(
                self.deadline_s,
                lambda: self._attempt(what, fn, tuple(ok)),
                lambda: requests.Timeout(f"no whole answer within {self.deadline_s:g} s"),
            )
        except requests.RequestException as exc:
            FORGE_REQUESTS.labels(forge=self.forge, status="error").inc()
            raise error_for_exception(exc, what) from None

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """``run`` without ``ok``: the result, or our error."""
        result = self.run(what, fn)
        assert not isinstance(result, Refused)
        return result

    def _attempt(self, what: str, fn: Callable[[], T], ok: tuple[int, ...]) -> T | Refused:
        """On the deadline's thread: the hook keeps this call's answers on the same thread."""
        self._answers.last = None
        try:
            return fn()
        except gitlab.exceptions.GitlabError as exc:
            resp: requests.Response | None = self._answers.last
            if resp is not None and resp.status_code >= 400 and resp.status_code in ok:
                return Refused(resp.status_code, resp)
            failed = resp if resp is not None and resp.status_code >= 400 else None
            raise error_for_gitlab(exc, what, failed) from None

    def last_response(self) -> requests.Response | None:
        """The last answer of the running call (inside ``fn`` only)."""
        return getattr(self._answers, "last", None)

    # --- pagination ------------------------------------------------------------------------------
    def pages(self, what: str, fetch: Callable[..., list[Any]]) -> Iterator[Any]:
        """Every item of a list, one ``run`` per page: ``fetch(per_page=100, get_all=False[, page=n])``
        (a python-gitlab list call) asks page ``n`` of the API's own origin; a ``Link`` URL is never
        followed. The next page is asked when GitLab names one (``X-Next-Page``, or a ``Link``
        ``rel="next"``, whose URL is not used) or, without those headers, when the page was full; an
        empty page ends it, and so do ``MAX_PAGES`` pages."""
        for page in range(1, MAX_PAGES + 1):
            kwargs: dict[str, Any] = {"per_page": PER_PAGE, "get_all": False, **NO_RETRY}
            if page > 1:
                kwargs["page"] = page

            def one(kwargs: dict[str, Any] = kwargs) -> tuple[list[Any], bool]:
                items = list(fetch(**kwargs))
                return items, bool(items) and _has_next(self.last_response(), len(items))

            items, more = self.call(what, one)
            yield from items
            if not more:
                return

    # --- every answer ----------------------------------------------------------------------------
    def _on_response(self, resp: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        """``requests`` hook: count the answer, publish the rate-limit headroom (GitLab
        ``RateLimit-*``), keep it for the running call, refuse a redirect to another origin."""
        FORGE_REQUESTS.labels(forge=self.forge, status=str(resp.status_code)).inc()
        headers = resp.headers
        remaining = headers.get("ratelimit-remaining") or headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            scope = headers.get("x-ratelimit-resource", "core")
            RATE_LIMIT_REMAINING.labels(forge=self.forge, scope=scope).set(int(remaining))
        self._answers.last = resp
        if resp.is_redirect:
            target = urljoin(resp.url, resp.headers.get("location", ""))
            if origin(target) != self._origin:
                resp.close()
                raise ForgeError(
                    f"GitLab redirected to {origin(target)}, not {self._origin}; "
                    "it is not followed with our credentials"
                )


def _has_next(resp: requests.Response | None, count: int) -> bool:
    if resp is None:
        return False
    named = resp.headers.get("x-next-page")
    if named is not None:
        return bool(named.strip())
    if "next" in resp.links:
        return True
    return count >= PER_PAGE


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (default ports filled in), for same-origin checks."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number: an origin nothing else has
        return f"invalid:{parts.netloc}"
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"
