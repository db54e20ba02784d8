"""Harbor project webhooks (Default, CloudEvents and CDEvents formats). Auth: the ``Authorization``
header Harbor is configured to send (``Auth Header``), or a token in the URL path.

The CDEvents format is a structured CloudEvent (``application/cloudevents+json``) whose data is a
CDEvent ``artifact.published`` (type ``dev.cdevents.artifact.published.…``): it is read by the
``cdevents`` source's parser, so it works whether Harbor posts to ``/webhooks/harbor`` or
``/webhooks/cdevents``."""

from __future__ import annotations

import re
from typing import Any

from bot.sources import cdevents
from bot.sources.base import (
    Headers,
    ParseResult,
    epoch_to_iso,
    ignored,
    image_pushed,
    images_result,
    load_object,
    obj,
    split_reference,
    text,
    verify_token,
)

NAME = "harbor"
_CDEVENT_PREFIX = "dev.cdevents."
_POLICY_SOURCE = re.compile(r"/projects/\d+/webhook/policies/\d+")
_PUSH_TYPES = ("PUSH_ARTIFACT", "harbor.artifact.pushed")


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    verify_token(headers, secrets, NAME)


def detect(headers: Headers, payload: Any) -> bool:
    if not isinstance(payload, dict):
        return False
    kind = payload.get("type")
    if not isinstance(kind, str):
        return False
    if kind.startswith(_CDEVENT_PREFIX):  # Harbor's CDEvents format: its policy path as the source
        return bool(_POLICY_SOURCE.fullmatch(str(payload.get("source", ""))))
    return "event_data" in payload or kind.startswith("harbor.")


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    delivery = text(data, "id") or headers.get("ce-id")  # CloudEvents format carries an id
    kind = text(data, "type") or ""
    if kind.startswith(_CDEVENT_PREFIX):
        return cdevents.parse_object(headers, data, NAME)
    if kind not in _PUSH_TYPES:
        return ignored(f"Harbor event {kind or 'without type'!r} is not a push", delivery)
    event_data = obj(data, "event_data") if "event_data" in data else obj(data, "data")
    pushed_at = epoch_to_iso(data.get("occur_at")) or text(data, "time")
    resources = event_data.get("resources")
    candidates = []
    for resource in resources if isinstance(resources, list) else []:
        name, ref_tag, _ = split_reference(text(resource, "resource_url"))
        tag = text(resource, "tag") or ref_tag
        if tag and tag.startswith("sha256:"):  # pushed by digest: Harbor repeats the digest as "tag"
            tag = None
        candidates.append(image_pushed(name, tag, text(resource, "digest"), NAME, pushed_at))
    return images_result(candidates, delivery, "Harbor push")
