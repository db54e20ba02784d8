"""Quay repository notifications ("Push to Repository" → webhook). Quay cannot sign: URL path token."""

from __future__ import annotations

from typing import Any

from bot.sources.base import (
    Headers,
    ParseResult,
    ignored,
    image_pushed,
    images_result,
    load_object,
    text,
    verify_token,
)

NAME = "quay"


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    verify_token(headers, secrets, NAME)


def detect(headers: Headers, payload: Any) -> bool:
    return isinstance(payload, dict) and "docker_url" in payload


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    if "updated_tags" not in data:
        # build queued/started/completed, vulnerability found, … carry no updated_tags
        return ignored("Quay notification is not a repository push")
    name = text(data, "docker_url")
    tags = data.get("updated_tags")
    # a list of tags; older payloads map tag → image id (not a manifest digest, so unused)
    names = list(tags) if isinstance(tags, dict | list) else []
    candidates = [
        image_pushed(name, tag, None, NAME) if isinstance(tag, str) else f"unreadable tag {tag!r}"
        for tag in names
    ]
    return images_result(candidates, None, "Quay push")
