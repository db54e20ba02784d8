"""Deliveries in Redis: record and enqueue (claim, then enqueue); outcomes for the status page.

A delivery is known by its **ref**: a hash of the sender's id *and* of its parsed events, so any id
a sender may send works (dots, slashes, 8 KB of anything: rq job ids and keys only ever see the
hash), two ids never collide by sanitising or truncation, and a sender reusing an id for other
events (a CI pipeline id for a pipeline that pushes two images) is a new delivery, not a duplicate.

- ``<prefix>:delivery:<ref>``: hash with the id, source, events, status, reason, attempts, times;
  once processed also its ``verdict`` and ``outcomes`` (per image and target, with the reason:
  ``bot.core.outcomes``; ``reason`` then summarises them); expires after ``delivery_ttl_s``.
- ``<prefix>:delivery-id:<hash of id>``: the latest ref of an id (lookups by the sender's id).
- ``<prefix>:deliveries:recent``: refs by reception time (status page), ``…:queued``: refs whose
  job has not recorded an outcome yet (the sweep re-enqueues those whose job is gone).

``admit`` takes two round trips: a claim script decides and writes the record (over our own keys
only), then rq's public API enqueues the job in one MULTI/EXEC. When the enqueue fails (maxmemory,
a read-only replica, a dropped connection) the claim is undone, so the sender's retry is accepted;
a claim that cannot even be undone is enqueued by the sweep, so nothing is lost.
How duplicates are decided: docs/intake.md, "Dedupe and queueing".
Statuses: ``queued`` → ``processed`` | ``failed``; ``ignored`` for deliveries with nothing to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import redis
from rq import Queue

from bot.core.events import Delivery, Event, event_from_dict, event_to_dict
from bot.core.outcomes import Status as OutcomeStatus
from bot.core.outcomes import TargetOutcome, amend, bounded, summary
from bot.errors import StoreUnavailable
from bot.settings import Settings
from bot.store import jobs

Status = Literal["queued", "processed", "failed", "ignored"]
RECENT_MAX = 1000
MAX_WATCH_RETRIES = 50
#: a "queued" record claimed this recently is being enqueued by another request: a duplicate. An
#: enqueue cannot take longer (the connection's socket timeout is 5 s; a failed one is undone), so
#: an older claim whose job will not run was lost, and a redelivery enqueues it again
STALE_CLAIM_S = 5

#: KEYS: record, id index, recent. ARGV: mapping pairs…, then ttl, ref, now, recent max.
#: Writes an ignored record unless the ref already holds another status (never overwrites work).
_IGNORE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status and status ~= 'ignored' then return 0 end
local n = #ARGV
redis.call('HSET', KEYS[1], unpack(ARGV, 1, n - 4))
redis.call('EXPIRE', KEYS[1], ARGV[n - 3])
redis.call('SET', KEYS[2], ARGV[n - 2], 'NX', 'EX', ARGV[n - 3])
redis.call('ZADD', KEYS[3], ARGV[n - 1], ARGV[n - 2])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[n]) + 1))
return 1
"""

#: KEYS: record, id key, recent, queued. ARGV: now, ref, id, source, events JSON, received_at,
#: ttl, recent max, stale-claim seconds, force ("1": take a stale "queued" record again).
#: Decides and claims in one step: processed, or queued with a fresh claim → duplicate; queued with
#: a stale claim → "check" (the caller asks rq whether its job will still run) unless ``force``;
#: otherwise the record is written "queued" with ``claimed_at`` = now → new | retry.
#: Returns {outcome, previous status, attempts, the id's previous latest ref}.
_CLAIM = """
local now = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'received_at', 'claimed_at')
local status = cur[1] or ''
local latest = redis.call('GET', KEYS[2]) or ''
if status == 'processed' then return {'duplicate', status, 0, latest} end
if status == 'queued' then
  if now - (tonumber(cur[4]) or 0) < tonumber(ARGV[9]) then return {'duplicate', status, 0, latest} end
  if ARGV[10] ~= '1' then return {'check', status, 0, latest} end
end
local attempts = (tonumber(cur[2]) or 0) + 1
local first = cur[3]
if not first or first == '' then first = ARGV[6] end
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'ref', ARGV[2], 'source', ARGV[4], 'status', 'queued',
  'reason', '', 'events', ARGV[5], 'attempts', attempts, 'received_at', first, 'updated_at', ARGV[6],
  'claimed_at', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[7])
redis.call('ZADD', KEYS[3], now, ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[8]) + 1))
redis.call('ZADD', KEYS[4], now, ARGV[2])
local outcome = 'retry'
if status == '' then outcome = 'new' end
return {outcome, status, attempts, latest}
"""

#: KEYS: record, id key, recent, queued. ARGV: our claimed_at, ref, previous status, previous latest.
#: Undo our claim after the enqueue failed (only if the claim is still ours).
_UNCLAIM = """
if redis.call('HGET', KEYS[1], 'claimed_at') ~= ARGV[1] then return 0 end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('ZREM', KEYS[4], ARGV[2])
  if ARGV[4] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[4], 'KEEPTTL') end
  return 1
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'claimed_at', '0')
if ARGV[3] ~= 'queued' then redis.call('ZREM', KEYS[4], ARGV[2]) end
return 1
"""

_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('ZREM', KEYS[2], redis.call('HGET', KEYS[1], 'ref'))
return 1
"""


def _hash(text: str, n: int = 32) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def events_json(events: tuple[Event, ...]) -> str:
    """The parsed events as stored, in one canonical form (sorted keys): what the digest reads."""
    return json.dumps([event_to_dict(e) for e in events], sort_keys=True, separators=(",", ":"))


def events_digest(events: tuple[Event, ...], canonical: str | None = None) -> str:
    """A digest of the parsed events: two deliveries of one id carry the same work iff equal."""
    return _hash(canonical if canonical is not None else events_json(events), 16)


def delivery_ref(delivery_id: str, digest: str) -> str:
    """The key of one (id, events) pair: ``[0-9a-f]{32}``, safe in job ids and Redis keys."""
    return _hash(f"{delivery_id}\0{digest}")


@dataclass(frozen=True, slots=True)
class Admission:
    """What ``admit`` did: ``new``/``retry`` (recorded and enqueued) or ``duplicate`` (nothing).
    ``reused``: the sender used this id before for other events (both are processed)."""

    outcome: Literal["new", "retry", "duplicate"]
    ref: str
    status: str | None = None  # the status found, for duplicates
    attempts: int = 1
    reused: bool = False

    @property
    def enqueued(self) -> bool:
        return self.outcome != "duplicate"


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery as the status page shows it."""

    id: str
    ref: str
    source: str
    status: str
    reason: str
    received_at: str
    updated_at: str
    attempts: int
    events: tuple[Event, ...]
    #: what became of each image and target, and why (``bot.core.outcomes``); () until processed
    outcomes: tuple[TargetOutcome, ...] = ()
    verdict: str = ""  # "updated", "nothing to do", … (``bot.core.outcomes.summary``)
    left_out: int = 0  # outcomes beyond the stored bound

    @property
    def delivery(self) -> Delivery:
        return Delivery(self.id, self.source, self.received_at, self.events)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unavailable(exc: redis.RedisError) -> StoreUnavailable:
    """The one wording of a Redis failure (the class only: messages may name hosts)."""
    return StoreUnavailable(f"Redis unavailable: {exc.__class__.__name__}")


class DeliveryStore:
    def __init__(self, conn: redis.Redis, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._redis = conn
        self._settings = settings
        self._clock = clock
        self._recent_key = settings.key("deliveries", "recent")
        self.queued_key = settings.key("deliveries", "queued")
        self._update = conn.register_script(_UPDATE_IF_EXISTS)
        self._ignore = conn.register_script(_IGNORE)
        self._claim_script = conn.register_script(_CLAIM)
        self._unclaim = conn.register_script(_UNCLAIM)

    # --- keys ----------------------------------------------------------------------------------
    def key(self, ref: str) -> str:
        return self._settings.key("delivery", ref)

    def _id_key(self, delivery_id: str) -> str:
        return self._settings.key("delivery-id", _hash(delivery_id))

    def job_id(self, ref: str) -> str:
        """The deterministic rq job id of a delivery."""
        return f"{self._settings.redis_prefix}-delivery-{ref}"

    def ref_of(self, delivery: Delivery, canonical: str | None = None) -> str:
        return delivery_ref(delivery.id, events_digest(delivery.events, canonical))

    # --- intake --------------------------------------------------------------------------------
    def admit(self, delivery: Delivery, queue: Queue, func: str) -> Admission:
        """Record ``delivery`` and enqueue ``func(ref=…)`` on ``queue`` (claim, then enqueue; a
        failed enqueue undoes the claim), unless the same id with the same events was processed
        already or its job will still run (then: duplicate, no write). Raises StoreUnavailable when
        Redis refuses or cannot be reached; then no job was enqueued, and a claim left behind is
        enqueued by the sweep or taken again by the sender's retry."""
        try:
            return self._admit(delivery, queue, func)
        except redis.RedisError as exc:
            raise unavailable(exc) from exc

    def _admit(self, delivery: Delivery, queue: Queue, func: str) -> Admission:
        events = events_json(delivery.events)
        ref = self.ref_of(delivery, events)
        stamp = repr(float(self._clock()))
        outcome, previous, attempts, latest = self._claim(delivery, events, ref, stamp, force=False)
        if outcome == "check":  # queued, claimed long ago: a duplicate only while its job will run
            if jobs.pending(queue, self.job_id(ref)):
                return Admission("duplicate", ref, status=previous, attempts=0)
            outcome, previous, attempts, latest = self._claim(delivery, events, ref, stamp, force=True)
        if outcome not in ("new", "retry"):
            return Admission("duplicate", ref, status=previous, attempts=0)
        try:
            with self._redis.pipeline() as pipe:
                self._enqueue(pipe, queue, func, ref, clear_failed=previous in ("failed", "queued"))
                pipe.execute()
        except redis.RedisError:
            self._release(ref, delivery.id, stamp, previous, latest)
            raise
        reused = latest not in ("", ref)
        return Admission("retry" if outcome == "retry" else "new", ref, attempts=attempts, reused=reused)

    def _claim(
        self, delivery: Delivery, events: str, ref: str, stamp: str, *, force: bool
    ) -> tuple[str, str, int, str]:
        """Run the claim script: (outcome, previous status, attempts, the id's previous ref)."""
        keys = [self.key(ref), self._id_key(delivery.id), self._recent_key, self.queued_key]
        args = [
            stamp, ref, delivery.id, delivery.source, events, delivery.received_at or _iso(float(stamp)),
            self._settings.delivery_ttl_s, RECENT_MAX, STALE_CLAIM_S, "1" if force else "0",
        ]  # fmt: skip
        outcome, previous, attempts, latest = self._claim_script(keys=keys, args=args)
        return _text(outcome) or "", _text(previous) or "", int(attempts), _text(latest) or ""

    def _release(self, ref: str, delivery_id: str, stamp: str, previous: str, latest: str) -> None:
        """Undo our claim after a failed enqueue, so the sender's retry is accepted at once. When
        even this fails, the record stays ``queued``: a retry within ``STALE_CLAIM_S`` is a
        duplicate, and the sweep enqueues the delivery once its claim is older than its grace."""
        keys = [self.key(ref), self._id_key(delivery_id), self._recent_key, self.queued_key]
        with contextlib.suppress(redis.RedisError):
            self._unclaim(keys=keys, args=[stamp, ref, previous, latest])

    def _enqueue(
        self, pipe: redis.client.Pipeline, queue: Queue, func: str, ref: str, *, clear_failed: bool
    ) -> None:
        """rq's public API, inside our transaction (clearing an earlier failed run of the job)."""
        job_id = self.job_id(ref)
        queue.enqueue_call(func, kwargs={"ref": ref}, job_id=job_id, pipeline=pipe)
        if clear_failed:
            queue.failed_job_registry.remove(job_id, pipeline=pipe)

    def requeue(self, ref: str, queue: Queue, func: str) -> bool:
        """Enqueue the job of a ``queued`` delivery whose job is gone (the sweep; a dead worker's
        pop). False when it is not lost (processed, failed, expired, or its job will still run)."""
        key = self.key(ref)
        with self._redis.pipeline() as pipe:
            for _ in range(MAX_WATCH_RETRIES):
                try:
                    pipe.watch(key)
                    if _text(pipe.hget(key, "status")) != "queued":
                        pipe.multi()
                        pipe.zrem(self.queued_key, ref)
                        pipe.execute()
                        return False
                    if jobs.pending(queue, self.job_id(ref)):
                        return False
                    pipe.multi()
                    pipe.hset(key, "updated_at", _iso(self._clock()))
                    self._enqueue(pipe, queue, func, ref, clear_failed=True)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
        return False

    def queued_refs(self, older_than_s: float, limit: int) -> list[str]:
        """Refs still waiting for an outcome, recorded at least ``older_than_s`` ago (oldest first)."""
        cutoff = self._clock() - older_than_s
        return [_text(r) or "" for r in self._redis.zrangebyscore(self.queued_key, "-inf", cutoff, 0, limit)]

    def record_ignored(self, delivery_id: str, source: str, reason: str) -> str:
        """Remember a delivery we had nothing to do with, for the status page; its ref. Never
        overwrites a delivery of that ref that has work (queued, processed or failed)."""
        ref = delivery_ref(delivery_id, events_digest(()))
        now = self._clock()
        fields = {
            "id": delivery_id,
            "ref": ref,
            "source": source,
            "status": "ignored",
            "reason": reason,
            "received_at": _iso(now),
            "updated_at": _iso(now),
            "events": "[]",
        }
        args: list[str | int | float] = [x for pair in fields.items() for x in pair]
        args += [self._settings.delivery_ttl_s, ref, now, RECENT_MAX]
        try:
            self._ignore(keys=[self.key(ref), self._id_key(delivery_id), self._recent_key], args=args)
        except redis.RedisError as exc:
            raise unavailable(exc) from exc
        return ref

    # --- outcome (called by the job) ----------------------------------------------------------
    def mark_processed(self, ref: str) -> bool:
        """Mark processed; a redelivery is then a duplicate. False when the record is gone."""
        return self._set(ref, "processed", "")

    def mark_processed_many(
        self, refs: list[str], outcomes: Mapping[str, Sequence[TargetOutcome]] | None = None
    ) -> None:
        """Mark several deliveries processed in one round trip (an event job's batch), each with its
        outcomes when given (bounded; ``reason`` becomes their summary)."""
        now = _iso(self._clock())
        with self._redis.pipeline(transaction=False) as pipe:
            for ref in refs:
                extra = _outcome_fields((outcomes or {}).get(ref, ()))
                fields = ["status", "processed", "updated_at", now, *(x for kv in extra.items() for x in kv)]
                self._update(keys=[self.key(ref), self.queued_key], args=fields, client=pipe)
            pipe.execute()

    def amend_outcomes(
        self, delivery_id: str, *, group: str, image: str, status: OutcomeStatus, reason: str
    ) -> bool:
        """Set the outcome of ``image`` in ``group`` of the sender's latest delivery ``delivery_id``
        (a step after the event job learns more: registry verification marks a version
        ``waiting`` for its tag, then ``accepted``). False when nothing matched or it is gone."""
        ref = _text(self._redis.get(self._id_key(delivery_id)))
        if ref is None:
            return False
        key = self.key(ref)
        with self._redis.pipeline() as pipe:
            for _ in range(MAX_WATCH_RETRIES):
                try:
                    pipe.watch(key)
                    record = _decode(pipe.hgetall(key))
                    if record is None:
                        return False
                    found, changed = amend(
                        record.outcomes, group=group, image=image, status=status, reason=reason
                    )
                    if not changed:
                        return False
                    pipe.multi()
                    pipe.hset(key, mapping=_outcome_fields(found, record.left_out))
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
        return False

    def mark_failed(self, ref: str, reason: str) -> bool:
        """Mark failed with the reason; a redelivery is then processed again."""
        return self._set(ref, "failed", reason)

    def _set(self, ref: str, status: Status, reason: str) -> bool:
        fields = ["status", status, "reason", reason, "updated_at", _iso(self._clock())]
        return bool(self._update(keys=[self.key(ref), self.queued_key], args=fields))

    # --- reading -------------------------------------------------------------------------------
    def get(self, ref: str) -> Delivery | None:
        record = self.by_ref(ref)
        return record.delivery if record else None

    def by_ref(self, ref: str) -> DeliveryRecord | None:
        return _decode(self._redis.hgetall(self.key(ref)))

    def record(self, delivery_id: str) -> DeliveryRecord | None:
        """The latest delivery the sender sent under ``delivery_id``."""
        ref = _text(self._redis.get(self._id_key(delivery_id)))
        return self.by_ref(ref) if ref else None

    def recent(self, n: int = 50) -> list[DeliveryRecord]:
        """The ``n`` most recently received deliveries, newest first (expired ones skipped)."""
        refs = self._redis.zrevrange(self._recent_key, 0, max(n, 1) - 1)
        with self._redis.pipeline(transaction=False) as pipe:
            for ref in refs:
                pipe.hgetall(self.key(ref.decode()))
            rows = pipe.execute()
        return [record for row in rows if (record := _decode(row))]


def _outcome_fields(outcomes: Sequence[TargetOutcome], left_out: int = 0) -> dict[str, str | int]:
    """The hash fields of a delivery's outcomes: the bounded records, their summary, the count left
    out. No outcomes (a delivery without events) leaves the reason empty."""
    kept, more = bounded(outcomes)
    verdict, reason = summary(kept)
    return {
        "reason": reason,
        "verdict": verdict,
        "outcomes": json.dumps([o.to_dict() for o in kept], separators=(",", ":")),
        "outcomes_left_out": more + left_out,
    }


def _decode_outcomes(raw: str | None) -> tuple[TargetOutcome, ...]:
    try:
        return tuple(TargetOutcome.from_dict(o) for o in json.loads(raw or "[]"))
    except (ValueError, TypeError, KeyError):  # a record written by another version: show none
        return ()


def _decode(row: dict[bytes, bytes]) -> DeliveryRecord | None:
    if not row or b"id" not in row:
        return None
    data = {k.decode(): v.decode() for k, v in row.items()}
    events = tuple(event_from_dict(e) for e in json.loads(data.get("events") or "[]"))
    return DeliveryRecord(
        id=data["id"],
        ref=data.get("ref", ""),
        source=data.get("source", ""),
        status=data.get("status", ""),
        reason=data.get("reason", ""),
        received_at=data.get("received_at", ""),
        updated_at=data.get("updated_at", ""),
        attempts=int(data.get("attempts") or 0),
        events=events,
        outcomes=_decode_outcomes(data.get("outcomes")),
        verdict=data.get("verdict", ""),
        left_out=int(data.get("outcomes_left_out") or 0),
    )


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
