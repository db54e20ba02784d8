"""``POST /webhooks/<source>`` and ``/webhooks/<source>/<token>``: verify, parse, dedupe, enqueue.

The hot path. Everything costly (secrets, queue, store, scripts) is built once per app; a request
does one HMAC, one JSON parse and one Redis round trip (the admit script), and never calls a forge.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from bot import sources
from bot.core.events import Delivery
from bot.deps import Container
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

log = logging.getLogger("bot.intake")

JOB_FUNC = "bot.jobs.handle_delivery"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_JSON_TYPES = ("json", "text/plain")  # text/plain: some senders (Pub/Sub tools, curl -d) use it


def delivery_id(source: str, vendor_id: str | None, body: bytes) -> str:
    """``<source>-<vendor id or body hash>``, restricted to ``[A-Za-z0-9._-]`` (no ':')."""
    raw = vendor_id or body_digest(body)
    return f"{source}-{_UNSAFE.sub('_', raw)[:128]}"


@dataclass
class Intake:
    container: Container

    def __post_init__(self) -> None:
        settings = self.container.settings
        self.secrets = {name: settings.secrets_for(name) for name in sources.NAMES}
        self.unsigned = {n for n in sources.NAMES if n in settings.allow_unsigned and not self.secrets[n]}
        self.queue = self.container.queue("events")
        self.store: DeliveryStore = self.container.deliveries

    def receive(self, source_name: str, token: str | None) -> Response:
        source = sources.SOURCES.get(source_name)
        if source is None:
            DELIVERIES.labels(source="unknown", outcome="unknown_source").inc()
            raise UnknownSource(f"unknown source {source_name!r}; known: {', '.join(sources.NAMES)}")
        started = time.perf_counter()
        try:
            response = self._receive(source, source_name, token)
        except BotError as exc:
            outcome = describe(exc)[1]
            DELIVERIES.labels(source=source_name, outcome=outcome).inc()
            if isinstance(exc, SignatureError):
                SIGNATURE_FAILURES.labels(source=source_name).inc()
            log.info(
                "delivery refused", extra={"source": source_name, "outcome": outcome, "reason": exc.message}
            )
            raise
        INTAKE_SECONDS.observe(time.perf_counter() - started)
        return response

    def _receive(self, source: sources.Source, name: str, token: str | None) -> Response:
        try:
            body = request.get_data(cache=False)  # MAX_CONTENT_LENGTH: refused before it is read
        except RequestEntityTooLarge:
            limit = self.container.settings.max_body_bytes
            raise PayloadTooLarge(f"body larger than {limit} bytes") from None
        headers = {k.lower(): v for k, v in request.headers.items()}
        if token is not None:
            headers[PATH_TOKEN] = token
        if name not in self.unsigned:
            source.verify(headers, body, self.secrets[name])
        content_type = headers.get("content-type", "")
        if content_type and not any(t in content_type for t in _JSON_TYPES):
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
            return self._admit(Delivery(ident, name, _now_iso(self.container.clock()), result.events))

    def _ignore(self, ident: str, name: str, reason: str) -> Response:
        self.store.record_ignored(ident, name, reason)
        DELIVERIES.labels(source=name, outcome="ignored").inc()
        log.info("delivery ignored", extra={"reason": reason})
        return json_response({"ignored": reason, "delivery": ident}, 202)

    def _admit(self, delivery: Delivery) -> Response:
        admission = self.store.admit(delivery, self.queue, JOB_FUNC)
        ident, name = delivery.id, delivery.source
        if not admission.enqueued:
            DELIVERIES.labels(source=name, outcome="duplicate").inc()
            log.info("delivery duplicate", extra={"status": admission.status})
            return json_response({"duplicate": True, "delivery": ident, "status": admission.status}, 200)
        DELIVERIES.labels(source=name, outcome="accepted").inc()
        for event in delivery.events:
            EVENTS.labels(source=name, kind=event.kind).inc()
        job_id = self.store.job_id(ident)
        log.info("delivery accepted", extra={"events": len(delivery.events), "job_id": job_id})
        return json_response({"accepted": len(delivery.events), "delivery": ident}, 202)


def _now_iso(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def register(app: Flask, container: Container) -> None:
    intake = Intake(container)
    blueprint = Blueprint("intake", __name__)

    @blueprint.post("/webhooks/<source>")
    def webhook(source: str) -> Response:
        return intake.receive(source, None)

    @blueprint.post("/webhooks/<source>/<token>")
    def webhook_with_token(source: str, token: str) -> Response:
        return intake.receive(source, token)

    app.register_blueprint(blueprint)
    app.extensions["manifest_bot.intake"] = intake
