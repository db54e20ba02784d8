"""Flux notification-controller, a Provider of ``type: generic-hmac`` pointed at ``/webhooks/flux``.

The body is a Flux event (``fluxcd/pkg/apis/event``)::

    {"involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps-dev", …},
     "severity": "info", "timestamp": "2026-12-07T10:00:00Z", "message": "…",
     "reason": "ReconciliationSucceeded", "metadata": {"revision": "main@sha1:<sha>"},
     "reportingController": "kustomize-controller", "reportingInstance": "…"}

signed with ``X-Signature: sha256=<hex HMAC-SHA256 of the body>`` (the Provider's secret ``token``;
ours is ``MANIFEST_BOT_WEBHOOK_SECRET_FLUX``). Older controllers name the revision
``main/<sha>``, or under a ``kustomize.toolkit.fluxcd.io/revision`` (``<group>/revision``) key.
Health: ``severity: error`` is failed, ``ReconciliationSucceeded`` healthy, anything else progressing.
"""

from __future__ import annotations

from typing import Any

from bot.core.deployments import iso, parse_time, revision_sha
from bot.core.events import DeploymentReported
from bot.errors import BadPayload
from bot.sources.base import Headers, ParseResult, check_hmac_sha256, load_object, obj, require_secrets, text

NAME = "flux"
SIGNATURE = "x-signature"
SEVERITIES = ("info", "error", "trace")
HEALTHY_REASONS = ("ReconciliationSucceeded",)


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    require_secrets(secrets, NAME)
    check_hmac_sha256(headers.get(SIGNATURE), body, secrets, "X-Signature")


def detect(headers: Headers, payload: Any) -> bool:
    return isinstance(payload, dict) and isinstance(payload.get("involvedObject"), dict)


def _required(data: Any, key: str, where: str) -> str:
    value = text(data, key)
    if value is None:
        raise BadPayload(f"Flux event: {where}{key} is missing or not a string")
    return value


def _revision(metadata: dict[str, Any]) -> str | None:
    found = text(metadata, "revision")
    if found is None:
        found = next((v for k, v in metadata.items() if k.endswith("/revision") and isinstance(v, str)), None)
    return found


def health(severity: str, reason: str) -> str:
    if severity == "error":
        return "failed"
    return "healthy" if reason in HEALTHY_REASONS else "progressing"


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    involved = obj(data, "involvedObject")
    if not involved:
        raise BadPayload("Flux event: involvedObject is missing or not an object")
    kind = _required(involved, "kind", "involvedObject.")
    namespace = _required(involved, "namespace", "involvedObject.")
    name = _required(involved, "name", "involvedObject.")
    severity = _required(data, "severity", "")
    if severity not in SEVERITIES:
        raise BadPayload(f"Flux event: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    reason = _required(data, "reason", "")
    stamp = _required(data, "timestamp", "")
    try:
        at = iso(parse_time(stamp))
    except ValueError:
        raise BadPayload(f"Flux event: timestamp {stamp!r} is not an ISO 8601 time") from None
    if severity == "trace":
        return ParseResult(ignored_reason=f"Flux trace event ({reason}) says nothing about health")
    label = _revision(obj(data, "metadata"))
    event = DeploymentReported(
        tool=NAME,
        object=f"{kind}/{namespace}/{name}",
        revision=revision_sha(label),
        revision_label=label,
        health=health(severity, reason),
        reason=reason,
        message=text(data, "message") or "",
        at=at,
    )
    return ParseResult((event,), None)
