"""``POST /webhooks/<source>`` and ``/webhooks/<source>/<token>``: verify, parse, dedupe, enqueue.

The hot path. Everything costly (secrets, store, scripts) is built once per app; a request does
one HMAC, one JSON parse and one Redis round trip (the admit script records the delivery and
appends it to the deliveries stream: ``bot.store.deliveries``), and never calls a forge.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from bot import sources
from bot.core.events import Delivery
from bot.errors import (
    BadPayload,
    BotError,
    PayloadTooLarge,
    SignatureError,
    UnknownSource,
    WebhookError,
)
from bot.logs import bind
from bot.metrics import DELIVERIES, EVENTS, INTAKE_SECONDS, SIGNATURE_FAILURES
from bot.sources.base import PATH_TOKEN, body_digest
from bot.store.deliveries import DeliveryStore
from bot.web.errors import describe, json_response

if TYPE_CHECKING:
    from bot.deps import Container

log = logging.getLogger("bot.intake")

#: a longer vendor id keeps its head and gains a hash of the whole (no truncation collisions)
MAX_ID_CHARS = 200
_JSON_TYPES = ("json", "text/plain")  # text/plain: some senders (Pub/Sub tools, curl -d) use it


def delivery_id(source: str, vendor_id: str | None, body: bytes) -> str:
    """``<source>-<vendor id or body hash>``, the vendor id as sent (keys and job ids use a hash
    of it, ``bot.store.deliveries``). One longer than ``MAX_ID_CHARS`` keeps its head plus a hash
    of the whole, so ids that differ anywhere stay different."""
    raw = vendor_id or body_digest(body)
    if len(raw) > MAX_ID_CHARS:
        whole = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
        raw = f"{raw[: MAX_ID_CHARS - 70]}…{whole}"
    return f"{source}-{raw}"


@dataclass
class Intake:
    container: Container

    def __post_init__(self) -> None:
        settings = self.container.settings
        self.secrets = {name: settings.secrets_for(name) for name in sources.NAMES}
        self.unsigned = {n for n in sources.NAMES if n in settings.allow_unsigned and not self.secrets[n]}
        self.store: DeliveryStore = self.container.deliveries

    def receive(
        self, source_name: str, token: str | None, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, object]]:
        """Handle one delivery; ``headers`` have lower-case names. Raises BotError subclasses."""
        source = sources.SOURCES.get(source_name)
        if source is None:
            DELIVERIES.labels(source="unknown", outcome="unknown_source").inc()
            raise UnknownSource(f"unknown source {source_name!r}; known: {', '.join(sources.NAMES)}")
        started = time.perf_counter()
        try:
            answer = self._receive(source, source_name, token, body, headers)
        except BotError as exc:
            self.refused(source_name, exc)
            raise
        INTAKE_SECONDS.observe(time.perf_counter() - started)
        return answer

    def refused(self, source_name: str, exc: BotError) -> None:
        outcome = describe(exc)[1]
        DELIVERIES.labels(source=source_name, outcome=outcome).inc()
        if isinstance(exc, SignatureError):
            SIGNATURE_FAILURES.labels(source=source_name).inc()
        extra = {"source": source_name, "outcome": outcome, "reason": exc.message}
        log.info("delivery refused", extra=extra)

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"body larger than {self.container.settings.max_body_bytes} bytes")

    def _receive(
        self, source: sources.Source, name: str, token: str | None, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, object]]:
        if token is not None:
            headers[PATH_TOKEN] = token
        if name not in self.unsigned:
            source.verify(headers, body, self.secrets[name])
        content_type = headers.get("content-type", "")
        if content_type and not any(t in content_type.lower() for t in _JSON_TYPES):  # types ignore case
            raise BadPayload(f"content type {content_type!r} is not JSON; configure the sender for JSON")
        try:
            result = source.parse(headers, body)
        except WebhookError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise BadPayload(f"malformed {name} payload: {exc.__class__.__name__}: {exc}") from None
        ident = delivery_id(name, result.delivery_id, body)
        with bind(delivery_id=ident, source=name):
            if result.ignored_reason is not None or not result.events:
                return self._ignore(ident, name, result.ignored_reason or "no events")
            if result.over_cap is not None:  # the excess is a delivery of its own, ignored, with why
                self._ignore(f"{ident}-over-cap", name, result.over_cap)
            return self._admit(Delivery(ident, name, _now_iso(self.container.clock()), result.events))

    def _ignore(self, ident: str, name: str, reason: str) -> tuple[int, dict[str, object]]:
        self.store.record_ignored(ident, name, reason)
        DELIVERIES.labels(source=name, outcome="ignored").inc()
        log.info("delivery ignored", extra={"reason": reason})
        return 202, {"ignored": reason, "delivery": ident}

    def _admit(self, delivery: Delivery) -> tuple[int, dict[str, object]]:
        admission = self.store.admit(delivery)
        ident, name = delivery.id, delivery.source
        if admission.reused:
            log.warning("delivery id reused for other events: processing both", extra={"ref": admission.ref})
        if not admission.enqueued:
            DELIVERIES.labels(source=name, outcome="duplicate").inc()
            log.info("delivery duplicate", extra={"status": admission.status})
            return 200, {"duplicate": True, "delivery": ident, "status": admission.status}
        DELIVERIES.labels(source=name, outcome="accepted").inc()
        for event in delivery.events:
            EVENTS.labels(source=name, kind=event.kind).inc()
        log.info("delivery accepted", extra={"events": len(delivery.events), "ref": admission.ref})
        return 202, {"accepted": len(delivery.events), "delivery": ident}


def _now_iso(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def _flask_receive(intake: Intake, source: str, token: str | None) -> Response:
    """A body is read up to ``MAX_CONTENT_LENGTH`` (the limit + 1): a Content-Length over it is
    refused before anything is read, a chunked body stops one byte past the limit."""
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        body = None
    if body is None or len(body) > intake.container.settings.max_body_bytes:
        exc = intake.too_large()
        intake.refused(source, exc)
        raise exc
    headers = {k.lower(): v for k, v in request.headers.items()}
    status, payload = intake.receive(source, token, body, headers)
    return json_response(payload, status)


def register(app: Flask, container: Container) -> None:
    intake = Intake(container)
    blueprint = Blueprint("intake", __name__)

    @blueprint.post("/webhooks/<source>")
    def webhook(source: str) -> Response:
        return _flask_receive(intake, source, None)

    @blueprint.post("/webhooks/<source>/<token>")
    def webhook_with_token(source: str, token: str) -> Response:
        return _flask_receive(intake, source, token)

    app.register_blueprint(blueprint)
    app.extensions["manifest_bot.intake"] = intake
