"""Deliveries in Redis: record, dedupe and enqueue in one atomic round trip; outcomes for status.

One hash per delivery (``<prefix>:delivery:<id>``: status, reason, source, events JSON, attempts,
timestamps), expiring after ``delivery_ttl_s``, and a sorted set of recent ids for the status page.

``admit`` runs one Lua script that checks the delivery's status and, only when it is new, failed,
or queued but its job is gone, writes the record *and* the rq job (the commands rq itself would
send, captured from a pipeline), so a delivery is never recorded without its job or vice versa.
Statuses: ``queued`` → ``processed`` | ``failed``; ``ignored`` for deliveries with nothing to do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis
from rq import Queue

from bot.core.events import Delivery, Event, event_from_dict, event_to_dict
from bot.errors import StoreUnavailable
from bot.settings import Settings

Status = Literal["queued", "processed", "failed", "ignored"]
RECENT_MAX = 1000

_ADMIT = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'processed' then return {'duplicate', status} end
if status == 'queued' then
  local job = redis.call('HGET', KEYS[2], 'status')
  if job == 'queued' or job == 'started' or job == 'deferred' or job == 'scheduled' then
    return {'duplicate', status}
  end
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSETNX', KEYS[1], 'received_at', ARGV[5])
redis.call('HSET', KEYS[1], 'id', ARGV[7], 'source', ARGV[4], 'updated_at', ARGV[5],
  'status', 'queued', 'reason', '', 'events', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[7])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[3]) + 1))
local i = 9
for _ = 1, tonumber(ARGV[8]) do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
if status then return {'retry', tostring(attempts)} end
return {'new', tostring(attempts)}
"""

_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


@dataclass(frozen=True, slots=True)
class Admission:
    """What ``admit`` did: ``new``/``retry`` (recorded and enqueued) or ``duplicate`` (nothing)."""

    outcome: Literal["new", "retry", "duplicate"]
    status: str | None = None  # the status found, for duplicates
    attempts: int = 1

    @property
    def enqueued(self) -> bool:
        return self.outcome != "duplicate"


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery as the status page shows it."""

    id: str
    source: str
    status: str
    reason: str
    received_at: str
    updated_at: str
    attempts: int
    events: tuple[Event, ...]

    @property
    def delivery(self) -> Delivery:
        return Delivery(self.id, self.source, self.received_at, self.events)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DeliveryStore:
    def __init__(self, conn: redis.Redis, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._redis = conn
        self._settings = settings
        self._clock = clock
        self._recent_key = settings.key("deliveries", "recent")
        self._admit = conn.register_script(_ADMIT)
        self._update = conn.register_script(_UPDATE_IF_EXISTS)

    def key(self, delivery_id: str) -> str:
        return self._settings.key("delivery", delivery_id)

    def job_id(self, delivery_id: str) -> str:
        """The deterministic rq job id of a delivery (no ':' — rq ids live inside keys)."""
        return f"{self._settings.redis_prefix}-delivery-{delivery_id}"

    # --- intake --------------------------------------------------------------------------------
    def admit(self, delivery: Delivery, queue: Queue, func: str) -> Admission:
        """Record ``delivery`` and enqueue ``func(delivery_id=…)`` on ``queue``, atomically, unless
        it was processed already or is still waiting in the queue (then: duplicate, no write)."""
        job_id = self.job_id(delivery.id)
        commands = _capture_enqueue(queue, func, {"delivery_id": delivery.id}, job_id)
        now = self._clock()
        events_json = json.dumps([event_to_dict(e) for e in delivery.events], separators=(",", ":"))
        args: list[Any] = [
            now,
            self._settings.delivery_ttl_s,
            RECENT_MAX,
            delivery.source,
            delivery.received_at or _iso(now),
            events_json,
            delivery.id,
            len(commands),
        ]
        for command in commands:
            args.append(len(command))
            args.extend(command)
        job_key = queue.job_class.key_for(job_id)
        try:
            raw = self._admit(keys=[self.key(delivery.id), job_key, self._recent_key], args=args)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis unavailable: {exc.__class__.__name__}") from exc
        outcome, detail = (part.decode() for part in raw)
        if outcome == "duplicate":
            return Admission("duplicate", status=detail, attempts=0)
        return Admission(outcome, attempts=int(detail))  # type: ignore[arg-type]

    def record_ignored(self, delivery_id: str, source: str, reason: str) -> None:
        """Remember a delivery we had nothing to do with, for the status page."""
        now = self._clock()
        key = self.key(delivery_id)
        try:
            with self._redis.pipeline() as pipe:
                pipe.hset(
                    key,
                    mapping={
                        "id": delivery_id,
                        "source": source,
                        "status": "ignored",
                        "reason": reason,
                        "received_at": _iso(now),
                        "updated_at": _iso(now),
                        "events": "[]",
                    },
                )
                pipe.expire(key, self._settings.delivery_ttl_s)
                pipe.zadd(self._recent_key, {delivery_id: now})
                pipe.zremrangebyrank(self._recent_key, 0, -(RECENT_MAX + 1))
                pipe.execute()
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis unavailable: {exc.__class__.__name__}") from exc

    # --- outcome (called by the job) ----------------------------------------------------------
    def mark_processed(self, delivery_id: str) -> bool:
        """Mark processed; a redelivery is then a duplicate. False when the record is gone."""
        return self._set(delivery_id, "processed", "")

    def mark_failed(self, delivery_id: str, reason: str) -> bool:
        """Mark failed with the reason; a redelivery is then processed again."""
        return self._set(delivery_id, "failed", reason)

    def _set(self, delivery_id: str, status: Status, reason: str) -> bool:
        fields = ["status", status, "reason", reason, "updated_at", _iso(self._clock())]
        return bool(self._update(keys=[self.key(delivery_id)], args=fields))

    # --- reading -------------------------------------------------------------------------------
    def get(self, delivery_id: str) -> Delivery | None:
        record = self.record(delivery_id)
        return record.delivery if record else None

    def record(self, delivery_id: str) -> DeliveryRecord | None:
        return _decode(self._redis.hgetall(self.key(delivery_id)))

    def recent(self, n: int = 50) -> list[DeliveryRecord]:
        """The ``n`` most recently received deliveries, newest first (expired ones skipped)."""
        ids = self._redis.zrevrange(self._recent_key, 0, max(n, 1) - 1)
        with self._redis.pipeline(transaction=False) as pipe:
            for delivery_id in ids:
                pipe.hgetall(self.key(delivery_id.decode()))
            rows = pipe.execute()
        return [record for row in rows if (record := _decode(row))]


def _decode(row: dict[bytes, bytes]) -> DeliveryRecord | None:
    if not row or b"id" not in row:
        return None
    data = {k.decode(): v.decode() for k, v in row.items()}
    events = tuple(event_from_dict(e) for e in json.loads(data.get("events") or "[]"))
    return DeliveryRecord(
        id=data["id"],
        source=data.get("source", ""),
        status=data.get("status", ""),
        reason=data.get("reason", ""),
        received_at=data.get("received_at", ""),
        updated_at=data.get("updated_at", ""),
        attempts=int(data.get("attempts") or 0),
        events=events,
    )


def _capture_enqueue(queue: Queue, func: str, kwargs: dict[str, Any], job_id: str) -> list[Sequence[Any]]:
    """The Redis commands rq sends to enqueue this job (and clear a failed run of it), unsent."""
    pipe = queue.connection.pipeline()
    try:
        queue.enqueue_call(func, kwargs=kwargs, job_id=job_id, pipeline=pipe)
        queue.failed_job_registry.remove(job_id, pipeline=pipe)
        return [args for args, _options in pipe.command_stack]
    except redis.RedisError as exc:  # rq asks the server version once per queue
        raise StoreUnavailable(f"Redis unavailable: {exc.__class__.__name__}") from exc
    finally:
        pipe.reset()
