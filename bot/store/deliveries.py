"""Deliveries in Redis: claim, record and enqueue in two round trips; outcomes for status.

One hash per delivery (``<prefix>:delivery:<id>``) expiring after ``delivery_ttl_s``, and a sorted
set of recent ids for the status page. ``admit`` runs a claim script over our own keys, then
enqueues the rq job with rq's public API in one MULTI/EXEC. How duplicates, stale claims and
failures are decided, and why: docs/intake.md, "Dedupe and queueing".
Statuses: ``queued`` → ``processed`` | ``failed``; ``ignored`` for deliveries with nothing to do.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import redis
from rq import Queue
from rq.exceptions import InvalidJobOperation
from rq.job import JobStatus

from bot.core.events import Delivery, Event, event_from_dict, event_to_dict
from bot.errors import StoreUnavailable
from bot.settings import Settings

Status = Literal["queued", "processed", "failed", "ignored"]
RECENT_MAX = 1000
STALE_CLAIM_S = 30  # a "queued" record without a job is claimed again only after this long
# rq job statuses that mean "the job will still run": a redelivery then is a duplicate
_WAITING = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED})

# KEYS: delivery hash, recent zset. ARGV: now, id, source, events JSON, received_at, ttl,
# recent max, stale-claim seconds, force ("1": re-claim a "queued" record whose claim is stale).
# Returns {outcome, attempts, previous status, claim stale (0/1)}; outcome is new, retry,
# duplicate (processed) or queued (not claimed: the caller decides from the rq job).
_CLAIM = """
local now = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'received_at', 'claimed_at')
local status = cur[1] or ''
if status == 'processed' then return {'duplicate', 0, status, 0} end
if status == 'queued' then
  local stale = now - (tonumber(cur[4]) or 0) >= tonumber(ARGV[8])
  if ARGV[9] ~= '1' or not stale then return {'queued', 0, status, stale and 1 or 0} end
end
local attempts = (tonumber(cur[2]) or 0) + 1
local first = cur[3]
if not first or first == '' then first = ARGV[5] end
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'source', ARGV[3], 'status', 'queued', 'reason', '',
  'events', ARGV[4], 'attempts', attempts, 'received_at', first, 'updated_at', ARGV[5],
  'claimed_at', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[7]) + 1))
local outcome = 'retry'
if status == '' then outcome = 'new' end
return {outcome, attempts, status, 0}
"""

# KEYS: delivery hash. ARGV: our claimed_at. Makes our claim stale at once (enqueue failed).
_RELEASE = """
if redis.call('HGET', KEYS[1], 'claimed_at') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'claimed_at', '0')
return 1
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
        self._update = conn.register_script(_UPDATE_IF_EXISTS)
        self._claim_script = conn.register_script(_CLAIM)
        self._release = conn.register_script(_RELEASE)

    def key(self, delivery_id: str) -> str:
        return self._settings.key("delivery", delivery_id)

    def job_id(self, delivery_id: str) -> str:
        """The deterministic rq job id of a delivery (no ':' — rq ids live inside keys)."""
        return f"{self._settings.redis_prefix}-delivery-{delivery_id}"

    # --- intake --------------------------------------------------------------------------------
    def admit(self, delivery: Delivery, queue: Queue, func: str) -> Admission:
        """Record ``delivery`` and enqueue ``func(delivery_id=…)`` on ``queue`` unless it was
        processed already, its job is still waiting, or another request claimed it moments ago
        (then: duplicate, no write). See the module docstring for the failure semantics.

        Raises StoreUnavailable when Redis is unreachable or the enqueue after the claim failed."""
        try:
            return self._admit(delivery, queue, func)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis unavailable: {exc.__class__.__name__}") from exc

    def _admit(self, delivery: Delivery, queue: Queue, func: str) -> Admission:
        stamp = repr(float(self._clock()))
        outcome, attempts, previous, stale = self._claim(delivery, stamp, force=False)
        if outcome == "queued" and stale and not _job_waiting(queue, self.job_id(delivery.id)):
            outcome, attempts, previous, stale = self._claim(delivery, stamp, force=True)
        if outcome in ("queued", "duplicate"):
            return Admission("duplicate", status=previous, attempts=0)
        try:
            self._enqueue(delivery.id, queue, func, clear_failed=previous in ("failed", "queued"))
        except redis.RedisError:
            self._release_claim(delivery.id, stamp)
            raise
        return Admission("retry" if outcome == "retry" else "new", attempts=attempts)

    def _claim(self, delivery: Delivery, stamp: str, *, force: bool) -> tuple[str, int, str, bool]:
        """Run the claim script: (outcome, attempts, previous status, claim stale)."""
        events = json.dumps([event_to_dict(e) for e in delivery.events], separators=(",", ":"))
        args = [
            stamp, delivery.id, delivery.source, events, delivery.received_at or _iso(float(stamp)),
            self._settings.delivery_ttl_s, RECENT_MAX, STALE_CLAIM_S, "1" if force else "0",
        ]  # fmt: skip
        outcome, attempts, previous, stale = self._claim_script(
            keys=[self.key(delivery.id), self._recent_key], args=args
        )
        return _text(outcome) or "", int(attempts), _text(previous) or "", bool(stale)

    def _enqueue(self, delivery_id: str, queue: Queue, func: str, *, clear_failed: bool) -> None:
        """Enqueue the job with rq's public API in one MULTI/EXEC (clearing an earlier failed run)."""
        job_id = self.job_id(delivery_id)
        with self._redis.pipeline() as pipe:
            queue.enqueue_call(func, kwargs={"delivery_id": delivery_id}, job_id=job_id, pipeline=pipe)
            if clear_failed:
                queue.failed_job_registry.remove(job_id, pipeline=pipe)
            pipe.execute()

    def _release_claim(self, delivery_id: str, stamp: str) -> None:
        """Best effort after a failed enqueue: make our claim stale so a redelivery re-claims now."""
        with contextlib.suppress(redis.RedisError):  # still unreachable: stale after STALE_CLAIM_S
            self._release(keys=[self.key(delivery_id)], args=[stamp])

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
