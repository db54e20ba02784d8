"""Shared pieces of the webhook sources: the parse result, JSON loading, authentication helpers.

Headers reach the sources as a plain dict with lower-case names. A token taken from the URL path
(``/webhooks/<source>/<token>``) arrives under the pseudo-header ``PATH_TOKEN`` — a name no HTTP/1.1
sender can produce, so it cannot be forged through a header.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from bot.core.chart_names import OCI
from bot.core.events import Event, ImagePushed
from bot.core.images import parse_image, validate_digest, validate_tag
from bot.errors import BadPayload, InvalidReference, SignatureError

Headers = Mapping[str, str]
#: distinct images (name, tag, digest) one delivery may carry; Distribution's notifications send
#: at most 100 per envelope, Harbor's ``resources`` has no bound. Each costs registry requests
#: (verify, resolve) and a plan, so the rest of a longer list is ignored with its reason
MAX_IMAGES_PER_DELIVERY = 100
PATH_TOKEN = ":path-token"
#: header any token-authenticated source may use instead of the URL path
TOKEN_HEADER = "x-manifest-bot-token"
#: HMAC header of the ``generic`` and ``cdevents`` sources: ``sha256=<hex of HMAC-SHA256(body)>``
SIGNATURE_HEADER = "x-manifest-bot-signature-256"
#: the registry host images are pulled from, for senders that cannot tell it (self-hosted
#: Artifactory without ``jpd_origin``) or tell an internal one (a registry behind a proxy)
REGISTRY_HEADER = "x-manifest-bot-registry"


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What one delivery carried: its events, the vendor's delivery id, or why it is ignored."""

    events: tuple[Event, ...] = ()
    delivery_id: str | None = None
    ignored_reason: str | None = None
    #: the images past ``MAX_IMAGES_PER_DELIVERY``, dropped: why (recorded as an ignored delivery)
    over_cap: str | None = None


def ignored(reason: str, delivery_id: str | None = None) -> ParseResult:
    return ParseResult((), delivery_id, reason)


def load_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadPayload(f"body is not valid JSON: {exc}") from None


def load_object(body: bytes) -> dict[str, Any]:
    data = load_json(body)
    if not isinstance(data, dict):
        raise BadPayload(f"expected a JSON object, got {type(data).__name__}")
    return data


def obj(data: Any, key: str) -> dict[str, Any]:
    """``data[key]`` when it is an object, else an empty dict (payloads are untrusted)."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def text(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def integer(data: Any, key: str) -> int | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def epoch_to_iso(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def body_digest(body: bytes) -> str:
    """A delivery id for sources that send none: the body's SHA-256 (a resend dedupes)."""
    return "sha256-" + hashlib.sha256(body).hexdigest()[:40]


# --- authentication ----------------------------------------------------------------------------
def require_secrets(secrets: tuple[str, ...], source: str) -> None:
    if not secrets:
        raise SignatureError(f"no secret configured for source {source!r}; delivery refused")


def check_hmac_sha256(header_value: str | None, body: bytes, secrets: tuple[str, ...], name: str) -> None:
    """``header_value`` is ``sha256=<hex>``; any of ``secrets`` may have signed ``body``."""
    if not header_value:
        raise SignatureError(f"missing {name} header")
    algorithm, sep, signature = header_value.strip().partition("=")
    if not sep or algorithm.lower() != "sha256":
        raise SignatureError(f"{name} must be 'sha256=<hex digest>'")
    presented = signature.strip().lower().encode()
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        if hmac.compare_digest(expected, presented):
            return
    raise SignatureError(f"{name} does not match the body signed with any configured secret")


def token_candidates(headers: Headers) -> Iterable[str]:
    """Tokens a sender may present: URL path, our header, or ``Authorization`` (raw or Bearer)."""
    for name in (PATH_TOKEN, TOKEN_HEADER):
        value = headers.get(name)
        if value:
            yield value
    auth = headers.get("authorization")
    if auth:
        yield auth
        scheme, _, rest = auth.partition(" ")
        if scheme.lower() == "bearer" and rest:
            yield rest.strip()


def check_token(candidates: Iterable[str], secrets: tuple[str, ...], what: str) -> None:
    """Constant-time comparison of every candidate with every secret; no early success leak."""
    matched = False
    seen = False
    for candidate in candidates:
        seen = True
        presented = candidate.encode()
        for secret in secrets:
            matched |= hmac.compare_digest(presented, secret.encode())
    if not seen:
        raise SignatureError(f"missing {what}")
    if not matched:
        raise SignatureError(f"{what} does not match any configured secret")


def verify_token(headers: Headers, secrets: tuple[str, ...], source: str) -> None:
    require_secrets(secrets, source)
    check_token(
        token_candidates(headers),
        secrets,
        f"token (URL path /webhooks/{source}/<token>, {TOKEN_HEADER} or Authorization header)",
    )


# --- images ------------------------------------------------------------------------------------
def image_pushed(
    name: str | None, tag: str | None, digest: str | None, source: str, pushed_at: str | None = None
) -> ImagePushed | str:
    """An ImagePushed with a canonical name, or the reason the reference cannot be read.

    An invalid digest is dropped (the tag still identifies the image); an invalid name or tag, or
    neither tag nor digest, makes the whole reference unreadable: we ignore it rather than guess.
    """
    if not name:
        return "no image name in payload"
    try:
        ref = parse_image(name.lower())
    except InvalidReference as exc:
        return f"unreadable image name: {exc}"
    if ref.tag or ref.digest:
        return f"image name {name!r} unexpectedly carries a tag or digest"
    if tag is not None:
        try:
            validate_tag(tag)
        except InvalidReference as exc:
            return str(exc)
    if digest is not None:
        try:
            validate_digest(digest)
        except InvalidReference:
            digest = None
    if tag is None and digest is None:
        return f"no tag or digest for {name}"
    return ImagePushed(ref.canonical_name, tag, digest, source, pushed_at)


def chart_pushed(
    name: str | None, tag: str | None, digest: str | None, source: str, pushed_at: str | None = None
) -> ImagePushed | str:
    """A push the sender says is a Helm chart (an OCI artifact with Helm's config): an ImagePushed
    naming the chart key ``oci://<repository>`` (``bot.core.chart_names``), which only chart rules
    route. Senders that cannot tell give ``image_pushed``: chart rules get those pushes too."""
    pushed = image_pushed(name, tag, digest, source, pushed_at)
    if isinstance(pushed, str):
        return pushed
    return dataclasses.replace(pushed, image=OCI + pushed.image)


def split_reference(reference: str | None) -> tuple[str | None, str | None, str | None]:
    """``host/path:tag@digest`` → (name, tag, digest) without judging them (``image_pushed`` does)."""
    if not reference:
        return None, None, None
    rest, _, digest = reference.partition("@")
    tag = None
    last = rest.rfind(":")
    if last > rest.rfind("/"):  # a colon after the last slash separates the tag, not a port
        rest, tag = rest[:last], rest[last + 1 :]
    return rest or None, tag or None, digest or None


def images_result(candidates: Iterable[ImagePushed | str], delivery_id: str | None, what: str) -> ParseResult:
    """Events from the readable references; ignored (with every reason) when none was readable."""
    events: list[ImagePushed] = []
    reasons: list[str] = []
    for item in candidates:
        if isinstance(item, str):
            reasons.append(item)
        else:
            events.append(item)
    if not events:
        return ignored("; ".join(reasons) or f"no image in {what}", delivery_id)
    distinct = tuple(dict.fromkeys(events))
    if len(distinct) <= MAX_IMAGES_PER_DELIVERY:
        return ParseResult(distinct, delivery_id)
    extra = len(distinct) - MAX_IMAGES_PER_DELIVERY
    why = (
        f"{what} listed {len(distinct)} images; the first {MAX_IMAGES_PER_DELIVERY} were taken and "
        f"{extra} ignored (at most {MAX_IMAGES_PER_DELIVERY} per delivery): send them in several deliveries"
    )
    return ParseResult(distinct[:MAX_IMAGES_PER_DELIVERY], delivery_id, over_cap=why)
