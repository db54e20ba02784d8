"""A GitHub App's webhook deliveries: list them and ask GitHub to send one again.

GitHub never redelivers a failed delivery by itself; it documents a script, run on a schedule,
that lists the App's recent deliveries and redelivers the failed ones ("Handling failed webhook
deliveries"). Both endpoints need the App's JWT, not an installation token:

- ``GET /app/hook/deliveries?per_page=100[&cursor=…]``: newest first, ``hook-delivery-item``s; the
  next page's cursor is in the ``Link: <…?cursor=…>; rel="next"`` header;
- ``POST /app/hook/deliveries/{delivery_id}/attempts``: no body, ``202 Accepted``.

PyGithub signs the JWT (``Auth.AppAuth``, as ``clients`` does) but ``GithubIntegration`` has no
method for these endpoints (2.10), so they go through its ``Requester`` (no retries, no sleeps,
counted: ``metering``; a total deadline per call). Errors come out as ``bot.errors``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import requests
from github import Auth, GithubIntegration
from github.GithubException import GithubException

from bot.errors import ValidationFailed
from bot.forges.errors_map import error_for_exception, error_for_github
from bot.forges.github import metering
from bot.forges.github.calls import origin_of
from bot.forges.github.clients import AppCredentials, _signer, client_options

PER_PAGE = 100
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HookDelivery:
    """One ``hook-delivery-item``: one attempt to deliver one event (``guid``) to our URL."""

    id: int
    guid: str  # X-GitHub-Delivery: shared by the original and every redelivery
    delivered_at: float  # seconds since the epoch
    status: str  # "OK" when it was delivered
    status_code: int
    event: str
    redelivery: bool

    @property
    def ok(self) -> bool:
        """GitHub's docs: a failed delivery has a ``status`` other than ``OK``."""
        return self.status == "OK"


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    items: tuple[HookDelivery, ...]
    next_cursor: str | None


def delivery_from_json(data: dict[str, Any]) -> HookDelivery:
    when = datetime.fromisoformat(str(data["delivered_at"]).replace("Z", "+00:00")).timestamp()
    return HookDelivery(
        id=int(data["id"]),
        guid=str(data["guid"]),
        delivered_at=when,
        status=str(data.get("status") or ""),
        status_code=int(data.get("status_code") or 0),
        event=str(data.get("event") or ""),
        redelivery=bool(data.get("redelivery")),
    )


def next_cursor(link: str | None) -> str | None:
    """The ``cursor`` of the ``rel="next"`` link (None on the last page)."""
    for entry in requests.utils.parse_header_links(link or ""):
        if entry.get("rel") == "next":
            found = parse_qs(urlsplit(entry.get("url", "")).query).get("cursor")
            return found[0] if found else None
    return None


class AppHookDeliveries:
    """The webhook deliveries of one GitHub App (``forge``: the config's name, for metrics)."""

    def __init__(self, forge: str, credentials: AppCredentials, *, api_url: str) -> None:
        self.forge = forge
        self.app_id = credentials.app_id
        self.api_url = api_url.rstrip("/")
        auth = Auth.AppAuth(
            credentials.app_id, sign_func=_signer(credentials.app_id, credentials.private_key)
        )
        self._integration = GithubIntegration(auth=auth, **client_options(api_url, forge))

    def __repr__(self) -> str:
        return f"AppHookDeliveries({self.forge!r}, app_id={self.app_id}, key=***)"

    def page(self, cursor: str | None = None) -> DeliveryPage:
        """One page of the App's deliveries, newest first (one request)."""
        params: dict[str, Any] = {"per_page": PER_PAGE}
        if cursor:
            params["cursor"] = cursor
        headers, data = self._send(
            "list the App's webhook deliveries",
            lambda r: r.requestJsonAndCheck("GET", "/app/hook/deliveries", parameters=params),
        )
        items = tuple(delivery_from_json(d) for d in data or ())
        return DeliveryPage(items, next_cursor(headers.get("link") or headers.get("Link")))

    def redeliver(self, delivery_id: int) -> None:
        """Ask GitHub to deliver that delivery's event again (one request, ``202``)."""
        self._send(
            f"redeliver webhook delivery {delivery_id}",
            lambda r: r.requestJsonAndCheck("POST", f"/app/hook/deliveries/{int(delivery_id)}/attempts"),
        )

    def _send(self, what: str, fn: Callable[[Any], T]) -> T:
        try:
            return metering.call_within(origin_of(self.api_url)[1], lambda: fn(self._integration.requester))
        except GithubException as exc:
            raise error_for_github(exc, what) from None
        except requests.RequestException as exc:
            raise error_for_exception(exc, what) from None
        except AssertionError as exc:  # PyGithub's own check of a URL from an answer
            raise ValidationFailed(f"{what}: refused to follow a URL to another host ({exc})") from None
