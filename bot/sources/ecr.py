"""Amazon ECR through EventBridge: a rule on ``ECR Image Action`` with an API destination whose
connection sends an API-key header (``X-Manifest-Bot-Token`` or ``Authorization``)."""

from __future__ import annotations

from typing import Any

from bot.sources.base import (
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

NAME = "ecr"


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    verify_token(headers, secrets, NAME)


def detect(headers: Headers, payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("source") == "aws.ecr"


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    delivery = text(data, "id")
    kind = text(data, "detail-type")
    if kind != "ECR Image Action":
        return ignored(f"EventBridge event {kind!r} is not an ECR image action", delivery)
    detail = obj(data, "detail")
    action, result = text(detail, "action-type"), text(detail, "result")
    if action != "PUSH" or result != "SUCCESS":
        return ignored(f"ECR {action} {result}: only successful pushes matter", delivery)
    account, region = text(data, "account"), text(data, "region")
    repository = text(detail, "repository-name")
    name = None
    if account and region and repository:
        name = f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"
    tag, digest = text(detail, "image-tag"), text(detail, "image-digest")
    event = image_pushed(name, tag, digest, NAME, text(data, "time"))
    return images_result([event], delivery, "ECR image action")
