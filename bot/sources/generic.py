"""Our own small schema for any CI that can run curl::

    {"image": "ghcr.io/acme/api", "tag": "1.4.2", "digest": "sha256:…"}

signed with ``X-Manifest-Bot-Signature-256: sha256=<hex HMAC-SHA256 of the body>``. ``image`` may
carry the tag inline (``ghcr.io/acme/api:1.4.2``); ``X-Manifest-Bot-Delivery`` may name the delivery.
"""

from __future__ import annotations

from typing import Any

from bot.sources.base import (
    SIGNATURE_HEADER,
    Headers,
    ParseResult,
    check_hmac_sha256,
    image_pushed,
    images_result,
    load_object,
    require_secrets,
    split_reference,
    text,
)

NAME = "generic"
DELIVERY_HEADER = "x-manifest-bot-delivery"


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    require_secrets(secrets, NAME)
    check_hmac_sha256(headers.get(SIGNATURE_HEADER), body, secrets, "X-Manifest-Bot-Signature-256")


def detect(headers: Headers, payload: Any) -> bool:
    return isinstance(payload, dict) and isinstance(payload.get("image"), str)


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    delivery = headers.get(DELIVERY_HEADER) or None
    raw = text(data, "image")
    name, inline_tag, inline_digest = split_reference(raw)
    if name is None:
        name = raw  # let image_pushed explain why it cannot be read
    event = image_pushed(
        name,
        text(data, "tag") or inline_tag,
        text(data, "digest") or inline_digest,
        NAME,
        text(data, "pushed_at"),
    )
    return images_result([event], delivery, "generic payload")
