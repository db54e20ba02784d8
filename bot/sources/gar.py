"""Google Artifact Registry / Container Registry through a Pub/Sub push subscription on the
``gcr`` topic. The envelope's ``message.data`` is base64 JSON ``{action, digest, tag}``. Pub/Sub
cannot sign with a shared secret: put the token in the push endpoint's URL path.

Also read: the un-enveloped message, as a push subscription with payload unwrapping (``--push-no-
wrapper``) or a relay forwards it — the JSON ``{action, digest, tag}`` itself as the body, the
message id in ``x-goog-pubsub-message-id`` when metadata is written. A push by digest has no
``tag``: it becomes an image-pushed event with only the digest (a target following a tag's digest,
``policy.digest``, asks the registry where its tag points now); ``DELETE`` is ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from bot.errors import BadPayload
from bot.sources.base import (
    Headers,
    ParseResult,
    ignored,
    image_pushed,
    images_result,
    load_object,
    obj,
    split_reference,
    text,
    verify_token,
)

NAME = "gar"


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    verify_token(headers, secrets, NAME)


_ACTIONS = ("INSERT", "DELETE")


def detect(headers: Headers, payload: Any) -> bool:
    if not isinstance(payload, dict):
        return False
    if "message" in payload and "subscription" in payload:
        return True
    return payload.get("action") in _ACTIONS and ("digest" in payload or "tag" in payload)


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    if "message" not in data and data.get("action") in _ACTIONS:  # un-enveloped
        delivery = headers.get("x-goog-pubsub-message-id") or None
        return _notification(data, delivery, headers.get("x-goog-pubsub-publish-time") or None)
    message = obj(data, "message")
    delivery = text(message, "messageId") or text(message, "message_id")
    encoded = text(message, "data")
    if encoded is None:
        raise BadPayload("Pub/Sub push without message.data")
    try:
        inner = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise BadPayload(f"message.data is not base64-encoded JSON: {exc}") from None
    published = text(message, "publishTime") or text(message, "publish_time")
    return _notification(inner, delivery, published)


def _notification(inner: Any, delivery: str | None, published: str | None) -> ParseResult:
    action = text(inner, "action")
    if action != "INSERT":
        return ignored(f"Artifact Registry action {action!r} is not an insert", delivery)
    tag_name, tag, _ = split_reference(text(inner, "tag"))
    digest_name, _, digest = split_reference(text(inner, "digest"))
    event = image_pushed(tag_name or digest_name, tag, digest, NAME, published)
    return images_result([event], delivery, "Artifact Registry notification")
