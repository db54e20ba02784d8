"""Docker Hub repository webhooks. Docker Hub cannot sign: a secret token in the URL path."""

from __future__ import annotations

from typing import Any

from bot.sources.base import (
    Headers,
    ParseResult,
    epoch_to_iso,
    image_pushed,
    images_result,
    load_object,
    obj,
    text,
    verify_token,
)

NAME = "dockerhub"


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    verify_token(headers, secrets, NAME)


def detect(headers: Headers, payload: Any) -> bool:
    return isinstance(payload, dict) and "push_data" in payload and "repository" in payload


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    push, repo = obj(data, "push_data"), obj(data, "repository")
    name = text(repo, "repo_name")
    if name and "/" not in name and "." not in name:
        name = f"library/{name}"
    event = image_pushed(
        f"docker.io/{name}" if name else None,
        text(push, "tag"),
        None,
        NAME,
        epoch_to_iso(push.get("pushed_at")),
    )
    # Docker Hub sends no delivery id: the caller falls back to the body hash
    return images_result([event], None, "Docker Hub payload")
