"""Google Artifact Registry / Container Registry through a Pub/Sub push subscription on the
``gcr`` topic. The envelope's ``message.data`` is base64 JSON ``{action, digest, tag}``. Pub/Sub
cannot sign with a shared secret: put the token in the push endpoint's URL path."""

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


def detect(headers: Headers, payload: Any) -> bool:
    return isinstance(payload, dict) and "message" in payload and "subscription" in payload


def parse(headers: Headers, body: bytes) -> ParseResult:
    envelope = load_object(body)
    message = obj(envelope, "message")
    delivery = text(message, "messageId") or text(message, "message_id")
    encoded = text(message, "data")
    if encoded is None:
        raise BadPayload("Pub/Sub push without message.data")
    try:
        inner = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise BadPayload(f"message.data is not base64-encoded JSON: {exc}") from None
    action = text(inner, "action")
    if action != "INSERT":
        return ignored(f"Artifact Registry action {action!r} is not an insert", delivery)
    tag_name, tag, _ = split_reference(text(inner, "tag"))
    digest_name, _, digest = split_reference(text(inner, "digest"))
    published = text(message, "publishTime") or text(message, "publish_time")
    event = image_pushed(tag_name or digest_name, tag, digest, NAME, published)
    return images_result([event], delivery, "Artifact Registry notification")
