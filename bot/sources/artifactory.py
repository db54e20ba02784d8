"""JFrog Artifactory webhooks, ``docker`` domain, ``pushed`` event. Auth: the handler secret in
``X-JFrog-Event-Auth`` (HMAC-SHA256 of the body when payload signing is on, else the secret), or a
URL-path token.

The delivered envelope is ``{"domain", "event_type", "data": {repo_key, path, image_name, tag,
sha256, image_type, …}, "subscription_key", "jpd_origin", "source"}``. ``image_name`` is only the
last path component; the image is ``<jpd_origin host>/<repo key>/<path without /<tag>/manifest.json>``
(the repository-path access method): ``test-repo`` + ``foo/bar/busybox/latest/manifest.json`` →
``<host>/test-repo/foo/bar/busybox``. Self-hosted Artifactory sends no ``jpd_origin`` until its base
URL is configured; the ``X-Manifest-Bot-Registry`` header (a custom header on the webhook) names the
host then, and wins over ``jpd_origin``. ``sha256`` is the digest of the pushed (list) manifest.
``image_type: oci`` (an OCI artifact: Helm charts pushed as OCI) is a chart's push (``oci://…``:
only chart rules route it).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from bot.errors import SignatureError
from bot.sources.base import (
    REGISTRY_HEADER,
    Headers,
    ParseResult,
    chart_pushed,
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
    image_type = text(inner, "image_type") or "docker"
    if image_type not in ("docker", "oci"):
        return ignored(f"Artifactory {image_type!r} artifact {text(inner, 'image_name')!r} is not an image")
    origin = urlsplit(text(data, "jpd_origin") or "")
    host = headers.get(REGISTRY_HEADER, "").strip() or origin.netloc or None
    repo_key, path = text(inner, "repo_key"), _image_path(inner)
    if host is None:
        return ignored(
            "Artifactory payload without jpd_origin: set the platform's base URL, or send the registry "
            "host in an X-Manifest-Bot-Registry header on the webhook"
        )
    if not (repo_key and path):
        return ignored("Artifactory payload without repo_key, path or image_name")
    sha = text(inner, "sha256")
    pushed = chart_pushed if image_type == "oci" else image_pushed
    event = pushed(f"{host}/{repo_key}/{path}", text(inner, "tag"), f"sha256:{sha}" if sha else None, NAME)
    return images_result([event], None, f"Artifactory {image_type} push")


def _image_path(inner: dict[str, object]) -> str | None:
    """``foo/bar/busybox/latest/manifest.json`` → ``foo/bar/busybox``; else ``image_name``."""
    parts = [p for p in (text(inner, "path") or "").split("/") if p]
    if len(parts) >= 3 and parts[-1].endswith("manifest.json"):
        return "/".join(parts[:-2])
    return text(inner, "image_name")
