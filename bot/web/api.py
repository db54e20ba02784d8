"""The status page's data as JSON, behind the same token (``bot.web.access``).

- ``GET /api/deliveries?limit=N``: the newest deliveries (N from 1 to ``MAX_LIMIT``, default 50),
  each with its outcome, verdict, reason and what became of each image and target, and why;
- ``GET /api/deliveries/<id>``: one delivery by the sender's id (its latest) or by its ref;
- ``GET /api/groups``: every update group with its PR, versions, ignores, pins, hold and error;
  and every environment a deployment report reached: revision, versions, health and since when.

Every text passed the one redaction (``bot.web.status_data.redacted``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import redis
from flask import Blueprint, Response, jsonify, request

from bot.web.access import refusal
from bot.web.status_data import deliveries, delivery, environments, groups, redacted

if TYPE_CHECKING:
    from bot.deps import Container

MAX_LIMIT = 200
#: a delivery id longer than this names no delivery (bounds the work a URL can cause)
MAX_ID = 1024


def _json(data: Any, status: int = 200) -> Response:
    response = jsonify(data)
    response.status_code = status
    return response


def blueprint(container: Container) -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api")

    @bp.before_request
    def token() -> Response | None:
        refused = refusal(container.settings, json=True)
        return refused

    @bp.errorhandler(redis.RedisError)
    def unavailable(exc: redis.RedisError) -> Response:
        return _json({"error": f"Redis unavailable ({type(exc).__name__})"}, 503)

    @bp.get("/deliveries")
    def recent() -> Response:
        raw = request.args.get("limit", "50")
        limit = int(raw) if raw.isdigit() and len(raw) <= 4 else 0
        if not 1 <= limit <= MAX_LIMIT:
            return _json({"error": f"limit must be a whole number from 1 to {MAX_LIMIT}"}, 400)
        rows = redacted(deliveries(container.redis, container.settings, limit))
        return _json({"deliveries": [asdict(r) for r in rows]})

    @bp.get("/deliveries/<path:delivery_id>")
    def one(delivery_id: str) -> Response:
        found = len(delivery_id) <= MAX_ID
        row = delivery(container.redis, container.settings, delivery_id) if found else None
        if row is None:
            return _json({"error": "no such delivery (it may have expired)"}, 404)
        return _json(asdict(row))

    @bp.get("/groups")
    def all_groups() -> Response:
        rows = redacted(groups(container.redis, container.settings))
        envs = redacted(environments(container.redis, container.settings))
        return _json({"groups": [asdict(g) for g in rows], "environments": [asdict(e) for e in envs]})

    return bp
