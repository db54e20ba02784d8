"""Harbor project webhooks (Default and CloudEvents formats). Auth: the ``Authorization`` header
Harbor is configured to send (``Auth Header``), or a token in the URL path."""

from __future__ import annotations

from typing import Any

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
_PUSH_TYPES = ("PUSH_ARTIFACT", "harbor.artifact.pushed")


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    verify_token(headers, secrets, NAME)


def detect(headers: Headers, payload: Any) -> bool:
    if not isinstance(payload, dict):
        return False
    kind = payload.get("type")
    return isinstance(kind, str) and ("event_data" in payload or kind.startswith("harbor."))


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    delivery = text(data, "id") or headers.get("ce-id")  # CloudEvents format carries an id
    kind = text(data, "type") or ""
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
