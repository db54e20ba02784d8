"""Azure Container Registry webhooks (and Event Grid deliveries of ImagePushed). ACR cannot
sign: a token in the URL path or a custom header configured on the webhook."""

from __future__ import annotations

from typing import Any

from bot.errors import BadPayload
from bot.sources.base import (
    Headers,
    ParseResult,
    ignored,
    image_pushed,
    images_result,
    load_json,
    obj,
    text,
    verify_token,
)

NAME = "acr"
_EVENT_GRID_PUSH = "Microsoft.ContainerRegistry.ImagePushed"


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    verify_token(headers, secrets, NAME)


def detect(headers: Headers, payload: Any) -> bool:
    if isinstance(payload, list):
        prefix = "Microsoft.ContainerRegistry."
        return any((text(item, "type") or "").startswith(prefix) for item in payload)
    return isinstance(payload, dict) and "target" in payload and "request" in payload and "action" in payload


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_json(body)
    if isinstance(data, list):  # Event Grid schema: a batch of events, each wrapping an ACR payload
        pushes = [obj(item, "data") for item in data if text(item, "type") == _EVENT_GRID_PUSH]
        delivery = text(data[0], "id") if data else None
        if not pushes:
            return ignored("Event Grid batch holds no ImagePushed event", delivery)
        return images_result([_image(p) for p in pushes], delivery, "Event Grid batch")
    if not isinstance(data, dict):
        raise BadPayload(f"expected a JSON object, got {type(data).__name__}")
    delivery = text(data, "id")
    action = text(data, "action")
    if action != "push":
        return ignored(f"ACR action {action!r} is not an image push", delivery)
    return images_result([_image(data)], delivery, "ACR push")


def _image(payload: dict[str, Any]) -> Any:
    target, request = obj(payload, "target"), obj(payload, "request")
    host, repository = text(request, "host"), text(target, "repository")
    name = f"{host}/{repository}" if host and repository else None
    return image_pushed(name, text(target, "tag"), text(target, "digest"), NAME, text(payload, "timestamp"))
