"""``GET /healthz`` (process alive), ``/readyz`` (Redis reachable and configured as the bot needs:
``bot.store.redis_health``), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import redis
from flask import Blueprint, Flask, Response

from bot.metrics import CONTENT_TYPE, QUEUE_DEPTH, render
from bot.store.redis_health import problems
from bot.web.errors import error_response, json_response

if TYPE_CHECKING:
    from bot.deps import Container

log = logging.getLogger(__name__)


def check_at_start(container: Container) -> list[str]:
    """Log what is wrong with Redis for the bot (start-up; /readyz keeps saying it)."""
    try:
        found = problems(container.redis, require_aof=container.settings.redis_require_aof)
    except redis.RedisError as exc:
        found = [f"Redis unreachable: {exc.__class__.__name__}"]
    for problem in found:
        log.error("Redis is not ready for manifest-bot: %s", problem)
    return found


def register(app: Flask, container: Container) -> None:
    blueprint = Blueprint("health", __name__)
    check_at_start(container)

    @blueprint.get("/healthz")
    def healthz() -> Response:
        return json_response({"ok": True}, 200)

    @blueprint.get("/readyz")
    def readyz() -> Response:
        try:
            found = problems(container.redis, require_aof=container.settings.redis_require_aof)
        except redis.RedisError as exc:
            return error_response(503, "unavailable", f"Redis unreachable: {exc.__class__.__name__}")
        if found:
            return error_response(503, "unavailable", "; ".join(found))
        return json_response({"ready": True}, 200)

    @blueprint.get("/metrics")
    def metrics() -> Response:
        _sample_queue_depth(container)
        return Response(render(), 200, content_type=CONTENT_TYPE)

    app.register_blueprint(blueprint)


def _sample_queue_depth(container: Container) -> None:
    try:
        deliveries = container.deliveries.stream.stats()
        jobs = container.dispatch.queue.count
    except redis.RedisError:
        return  # the scrape still answers; readyz reports Redis
    QUEUE_DEPTH.labels(queue="deliveries").set(deliveries.lag + deliveries.pending)
    QUEUE_DEPTH.labels(queue="jobs").set(jobs)
