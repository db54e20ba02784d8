"""Deliveries in Redis: record, dedupe and enqueue in one transaction; outcomes for status.

One hash per delivery (``<prefix>:delivery:<id>``: status, reason, source, events JSON, attempts,
timestamps), expiring after ``delivery_ttl_s``, and a sorted set of recent ids for the status page.

``admit`` is an optimistic Redis transaction: WATCH the delivery's key, read its status and, only
when it is new, failed, or queued but its job is gone, write the record and enqueue the rq job
(rq's own ``enqueue_call(..., pipeline=)``) in one MULTI/EXEC, so a delivery is never recorded
without its job or vice versa. A concurrent write to the key (a duplicate delivery admitted at the
same moment, or the job marking its outcome) aborts the EXEC and the check runs again.
Statuses: ``queued`` → ``processed`` | ``failed``; ``ignored`` for deliveries with nothing to do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import redis
from redis.client import Pipeline
from rq import Queue
from rq.exceptions import InvalidJobOperation
from rq.job import JobStatus

from bot.core.events import Delivery, Event, event_from_dict, event_to_dict
from bot.errors import StoreUnavailable
from bot.settings import Settings

Status = Literal["queued", "processed", "failed", "ignored"]
RECENT_MAX = 1000
ADMIT_TRIES = 8  # WATCH conflicts tolerated per admission before answering "unavailable"
_READ = ("status", "attempts", "received_at")  # what admit needs to know of an existing record
# rq job statuses that mean "the job will still run": a redelivery then is a duplicate
_WAITING = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED})

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
        self._update = conn.register_script(_UPDATE_IF_EXISTS)

    def key(self, delivery_id: str) -> str:
        return self._settings.key("delivery", delivery_id)

    def job_id(self, delivery_id: str) -> str:
        """The deterministic rq job id of a delivery (no ':' — rq ids live inside keys)."""
        return f"{self._settings.redis_prefix}-delivery-{delivery_id}"

    # --- intake --------------------------------------------------------------------------------
    def admit(self, delivery: Delivery, queue: Queue, func: str) -> Admission:
        """Record ``delivery`` and enqueue ``func(delivery_id=…)`` on ``queue``, atomically, unless
        it was processed already or is still waiting in the queue (then: duplicate, no write).

        Raises StoreUnavailable when Redis is unreachable (nothing is written) or the delivery's
        record kept changing under us for ``ADMIT_TRIES`` attempts."""
        try:
            for _ in range(ADMIT_TRIES):
                with self._redis.pipeline() as pipe:
                    try:
                        return self._admit_once(pipe, delivery, queue, func)
                    except redis.WatchError:
                        continue  # someone wrote the record since we read it: decide again
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis unavailable: {exc.__class__.__name__}") from exc
        raise StoreUnavailable(f"delivery {delivery.id} changed concurrently {ADMIT_TRIES} times")

    def _admit_once(self, pipe: Pipeline, delivery: Delivery, queue: Queue, func: str) -> Admission:
        """One optimistic attempt; raises WatchError when the record changed before EXEC."""
        key, job_id = self.key(delivery.id), self.job_id(delivery.id)
        pipe.watch(key)
        status, attempts, received_at = (_text(v) for v in pipe.hmget(key, _READ))
        if status == "processed" or (status == "queued" and _job_waiting(queue, job_id)):
            return Admission("duplicate", status=status, attempts=0)
        attempt = int(attempts or 0) + 1
        pipe.multi()
        self._write_record(pipe, delivery, attempt, received_at)
        queue.enqueue_call(func, kwargs={"delivery_id": delivery.id}, job_id=job_id, pipeline=pipe)
        queue.failed_job_registry.remove(job_id, pipeline=pipe)  # a redelivery clears the failed run
        pipe.execute()
        return Admission("retry" if status else "new", attempts=attempt)

    def _write_record(self, pipe: Pipeline, delivery: Delivery, attempt: int, first: str | None) -> None:
        """Queue the record's writes on ``pipe`` (in MULTI); a redelivery keeps its first received_at."""
        now = self._clock()
        key, received_at = self.key(delivery.id), delivery.received_at or _iso(now)
        fields = {
            "id": delivery.id,
            "source": delivery.source,
            "status": "queued",
            "reason": "",
            "events": json.dumps([event_to_dict(e) for e in delivery.events], separators=(",", ":")),
            "attempts": attempt,
            "received_at": first or received_at,
            "updated_at": received_at,
        }
        pipe.hset(key, mapping=fields)
        pipe.expire(key, self._settings.delivery_ttl_s)
        pipe.zadd(self._recent_key, {delivery.id: now})
        pipe.zremrangebyrank(self._recent_key, 0, -(RECENT_MAX + 1))

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


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _job_waiting(queue: Queue, job_id: str) -> bool:
    """Whether the delivery's rq job still exists and will run (queued, running, deferred…)."""
    try:
        return queue.job_class(job_id, connection=queue.connection).get_status() in _WAITING
    except InvalidJobOperation:  # the job is gone (expired, deleted by hand)
        return False
