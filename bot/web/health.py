"""``GET /healthz`` (process alive), ``/readyz`` (Redis reachable), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis
from flask import Blueprint, Flask, Response

from bot.metrics import CONTENT_TYPE, QUEUE_DEPTH, render
from bot.web.errors import error_response, json_response

if TYPE_CHECKING:
    from bot.deps import Container

QUEUES = ("events", "reconcile", "commands")


def register(app: Flask, container: Container) -> None:
    blueprint = Blueprint("health", __name__)

    @blueprint.get("/healthz")
    def healthz() -> Response:
        return json_response({"ok": True}, 200)

    @blueprint.get("/readyz")
    def readyz() -> Response:
        try:
            container.redis.ping()
        except redis.RedisError as exc:
            return error_response(503, "unavailable", f"Redis unreachable: {exc.__class__.__name__}")
        return json_response({"ready": True}, 200)

    @blueprint.get("/metrics")
    def metrics() -> Response:
        _sample_queue_depth(container)
        return Response(render(), 200, content_type=CONTENT_TYPE)

    app.register_blueprint(blueprint)


def _sample_queue_depth(container: Container) -> None:
    names = [container.settings.queue(q) for q in QUEUES]
    try:
        with container.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.llen(f"rq:queue:{name}")
            depths = pipe.execute()
    except redis.RedisError:
        return  # the scrape still answers; readyz reports Redis
    for queue, depth in zip(QUEUES, depths, strict=True):
        QUEUE_DEPTH.labels(queue=queue).set(depth)
