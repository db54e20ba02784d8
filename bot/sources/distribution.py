"""CNCF Distribution (``registry:2``, Debian's ``docker-registry``; also inside Harbor and GitLab's
registry) notifications: ``POST`` of an envelope ``application/vnd.docker.distribution.events.v1+json``
``{"events": [...]}``, each event with ``action``, ``target`` (``mediaType``, ``repository``, ``tag``,
``digest``, ``url``) and ``request.host``.

A manifest push with a tag is an image push: ``<request.host>/<repository>:<tag>@<digest>``. Blob
pushes, pulls, deletes and manifests pushed by digest alone (the platform manifests of a multi-arch
image) are ignored with a reason; one envelope may carry several events. Auth: the static token the
registry sends in a header configured under ``notifications.endpoints[].headers``
(``X-Manifest-Bot-Token`` or ``Authorization: Bearer …``), compared in constant time.
``X-Manifest-Bot-Registry`` (also set there) names the host when clients reach the registry through
a proxy under another name.
"""

from __future__ import annotations

from typing import Any

from bot.core.images import MANIFEST_MEDIA_TYPES
from bot.sources.base import (
    REGISTRY_HEADER,
    Headers,
    ParseResult,
    ignored,
    image_pushed,
    images_result,
    load_object,
    obj,
    text,
    verify_token,
)

NAME = "distribution"
MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
#: an envelope is a handful of events; a body of thousands is not a notification we act on
MAX_EVENTS = 100


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    verify_token(headers, secrets, NAME)


def detect(headers: Headers, payload: Any) -> bool:
    if MEDIA_TYPE in headers.get("content-type", "").lower():
        return True
    events = payload.get("events") if isinstance(payload, dict) else None
    return isinstance(events, list) and any(isinstance(e, dict) and "target" in e for e in events)


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    events = data.get("events")
    if not isinstance(events, list) or not events:
        return ignored("notification envelope without events")
    delivery = text(events[0], "id")
    if len(events) > MAX_EVENTS:
        return ignored(f"envelope with {len(events)} events (more than {MAX_EVENTS})", delivery)
    override = headers.get(REGISTRY_HEADER, "").strip() or None
    candidates = [_event(e, override) for e in events]
    return images_result(candidates, delivery, "Distribution notification")


def _event(event: Any, host_override: str | None) -> Any:
    action, target = text(event, "action"), obj(event, "target")
    media_type, repository = text(target, "mediaType") or "", text(target, "repository")
    if action != "push":
        return f"{action or 'unknown'} of {repository or 'an unnamed repository'} is not a push"
    if media_type not in MANIFEST_MEDIA_TYPES:
        return f"push of a {media_type or 'blob'} to {repository} is not a manifest"
    tag = text(target, "tag")
    if tag is None:
        return f"manifest pushed to {repository} by digest alone (no tag)"
    host = host_override or text(obj(event, "request"), "host")
    if host is None or repository is None:
        return "manifest push without request.host or target.repository"
    return image_pushed(f"{host}/{repository}", tag, text(target, "digest"), NAME, text(event, "timestamp"))
