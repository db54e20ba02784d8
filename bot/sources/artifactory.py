"""JFrog Artifactory webhooks, ``docker`` domain, ``pushed`` event. Auth: the handler secret in
``X-JFrog-Event-Auth`` (HMAC-SHA256 of the body when payload signing is on, else the secret), or a
URL-path token. The image is ``<platform host>/<repo key>/<image name>`` (repository path method)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from bot.errors import SignatureError
from bot.sources.base import (
    Headers,
    ParseResult,
    check_token,
    ignored,
    image_pushed,
    images_result,
    load_object,
    obj,
    require_secrets,
    text,
    token_candidates,
)

NAME = "artifactory"
AUTH_HEADER = "x-jfrog-event-auth"


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    require_secrets(secrets, NAME)
    presented = headers.get(AUTH_HEADER)
    if presented:
        for secret in secrets:
            signed = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(signed.encode(), presented.strip().lower().encode()):
                return
    candidates = list(token_candidates(headers)) + ([presented] if presented else [])
    if not candidates:
        raise SignatureError("missing X-JFrog-Event-Auth header or URL-path token")
    check_token(candidates, secrets, "X-JFrog-Event-Auth or token")


def detect(headers: Headers, payload: Any) -> bool:
    if not isinstance(payload, dict):
        return False
    inner = obj(payload, "data") or payload
    return "repo_key" in inner and ("image_name" in inner or "domain" in payload)


def parse(headers: Headers, body: bytes) -> ParseResult:
    data = load_object(body)
    domain = text(data, "domain") or "docker"
    inner = obj(data, "data") if "data" in data else data
    kind = text(data, "event_type") or text(inner, "event_type")
    if domain != "docker" or kind != "pushed":
        return ignored(f"Artifactory {domain} {kind!r} is not a docker tag push")
    host = urlsplit(text(data, "jpd_origin") or "").hostname
    repo_key, image = text(inner, "repo_key"), text(inner, "image_name")
    name = f"{host}/{repo_key}/{image}" if host and repo_key and image else None
    if name is None:
        return ignored("Artifactory payload without jpd_origin, repo_key or image_name")
    sha = text(inner, "sha256")
    event = image_pushed(name, text(inner, "tag"), f"sha256:{sha}" if sha else None, NAME)
    return images_result([event], None, "Artifactory docker push")
