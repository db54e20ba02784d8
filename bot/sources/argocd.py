"""Argo CD notifications, a ``webhook`` service posting to ``/webhooks/argocd``.

Argo CD signs nothing and has no event schema of its own: the body is what the template renders.
We publish the template (docs/setup.md, "Argo CD"), triggered on sync succeeded, health degraded
and sync failed; it renders::

    {"app": "shop-dev", "revision": "<sha>", "syncStatus": "Synced", "healthStatus": "Healthy",
     "phase": "Succeeded", "message": "successfully synced (all tasks run)",
     "finishedAt": "2026-12-07T10:00:00Z"}

The service sends a value of ``MANIFEST_BOT_WEBHOOK_SECRET_ARGOCD`` in the ``X-Manifest-Bot-Token``
header (or ``Authorization: Bearer``), compared in constant time with every configured secret.
Health: an operation ``Failed``/``Error`` or health ``Degraded``/``Missing`` is failed; ``Healthy``
and ``Synced`` after a succeeded (or no) operation is healthy; anything else progressing.
"""

from __future__ import annotations

from typing import Any

from bot.core.deployments import iso, parse_time, revision_sha
from bot.core.events import DeploymentReported
from bot.errors import BadPayload
from bot.sources.base import Headers, ParseResult, load_object, text, verify_token

NAME = "argocd"
FAILED_PHASES = ("Failed", "Error")
FAILED_HEALTH = ("Degraded", "Missing")


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    verify_token(headers, secrets, NAME)


def detect(headers: Headers, payload: Any) -> bool:
    return isinstance(payload, dict) and isinstance(payload.get("app"), str) and "healthStatus" in payload


def _required(data: dict[str, Any], key: str) -> str:
    value = text(data, key)
    if value is None:
        raise BadPayload(f"Argo CD notification: {key} is missing or not a string (see docs/setup.md)")
    return value


def health(sync: str, health_status: str, phase: str | None) -> tuple[str, str]:
    """(health, reason) of an application's sync status, health status and operation phase."""
    if phase in FAILED_PHASES:
        return "failed", f"Sync{phase}"
    if health_status in FAILED_HEALTH:
        return "failed", f"Health{health_status}"
    if health_status == "Healthy" and sync == "Synced" and phase in (None, "Succeeded"):
        return "healthy", "SyncSucceeded"
    return "progressing", f"{sync}/{health_status}"


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    app = _required(data, "app")
    sync = _required(data, "syncStatus")
    health_status = _required(data, "healthStatus")
    stamp = _required(data, "finishedAt")
    try:
        at = iso(parse_time(stamp))
    except ValueError:
        raise BadPayload(f"Argo CD notification: finishedAt {stamp!r} is not an ISO 8601 time") from None
    label = text(data, "revision")
    state, reason = health(sync, health_status, text(data, "phase"))
    message = text(data, "message") or ""
    if reason.startswith("Health"):  # the operation's message says how the sync went, not this
        message = f"Application {app} is {health_status} (sync {sync})"
    event = DeploymentReported(
        tool=NAME,
        object=app,
        revision=revision_sha(label),
        revision_label=label,
        health=state,
        reason=reason,
        message=message,
        at=at,
    )
    return ParseResult((event,), None)
