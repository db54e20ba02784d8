"""Deliveries in Redis: record and queue in one step at intake; outcomes for the status page.

A delivery is known by its **ref**: a hash of the sender's id *and* of its parsed events, so any id
a sender may send works (dots, slashes, 8 KB of anything: keys only ever see the hash), two ids
never collide by sanitising or truncation, and a sender reusing an id for other events (a CI
pipeline id for a pipeline that pushes two images) is a new delivery, not a duplicate.

- ``<prefix>:delivery:<ref>``: hash with the id, source, events, status, reason, attempts, times,
  the stream entry that queued it; once processed also its ``verdict`` and ``outcomes`` (per image
  and target, with the reason: ``bot.core.outcomes``; ``reason`` then summarises them).
- ``<prefix>:deliveries:ids``: one hash, hash of the sender's id → its latest ref (lookups by the
  sender's id: the CLI, the webhook recovery).
- ``<prefix>:deliveries:recent`` / ``…:ignored``: refs by reception time (the status page). They
  are also the bound: past ``keep`` records, or older than the TTL, the oldest are deleted as new
  ones arrive (a ``queued`` one never: it is still on its way), so memory stays flat under a steady
  stream. Ignored deliveries (pings, pushes nobody routes) have their own, smaller bound and a
  short TTL.
- ``<prefix>:deliveries:queued``: refs waiting for an outcome (their count is the backlog; the
  sweep re-queues one whose stream entry Redis lost).

``admit`` is one script: it decides (new, a retry of a failed delivery, or a duplicate of one
queued or processed), writes the record and appends the stream entry (``bot.store.stream``), all
or nothing: a Redis that refuses writes (maxmemory with noeviction, a read-only replica) refuses
at the first write, so nothing is half-written and the intake answers 503. The consumer records
the outcome and acknowledges the entry in one transaction (``record_outcomes``).
How duplicates are decided: docs/intake.md, "Dedupe and queueing".
Statuses: ``queued`` → ``processed`` | ``failed``; ``ignored`` for deliveries with nothing to do.
A registry poll that finds a new version is recorded like a delivery (source ``poll``), processed
at once (``record_processed``): what it found, what became of it, and why.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import redis

from bot.core.events import Delivery, Event, event_from_dict, event_to_dict
from bot.core.outcomes import TargetOutcome, bounded, summary
from bot.errors import StoreUnavailable
from bot.settings import Settings
from bot.store.stream import GROUP, DeliveryStream

Status = Literal["queued", "processed", "failed", "ignored"]
#: ignored deliveries kept for the page at most (and for ``IGNORED_TTL_S``)
IGNORED_KEEP = 500
IGNORED_TTL_S = 3600
#: records deleted at most per delivery admitted (the bound catches up with any backlog)
_EVICT_PER_CALL = 4

# Shared by the admit and ignore scripts: delete the oldest records of a bounded index past its
# count or age, never one still queued. KEYS[idx_key], KEYS[ids_key]; prefix is the record key
# prefix ("<prefix>:delivery:").
_EVICT = """
local function evict(index, ids, prefix, keep, cutoff, budget)
  for _ = 1, budget do
    local oldest = redis.call('ZRANGE', index, 0, 0, 'WITHSCORES')
    if #oldest == 0 then return end
    if redis.call('ZCARD', index) <= keep and tonumber(oldest[2]) >= cutoff then return end
    local record = prefix .. oldest[1]
    local fields = redis.call('HMGET', record, 'status', 'id_hash')
    if fields[1] == 'queued' then return end
    redis.call('DEL', record)
    redis.call('ZREM', index, oldest[1])
    if fields[2] and redis.call('HGET', ids, fields[2]) == oldest[1] then
      redis.call('HDEL', ids, fields[2])
    end
  end
end
"""

#: KEYS: record, ids, recent, queued, stream. ARGV: now, ref, id, id hash, source, events JSON,
#: received_at, ttl, keep, group, record key prefix.
#: Returns {outcome (new|retry|duplicate), previous status, attempts, the id's previous ref}.
_ADMIT = (
    _EVICT
    + """
local now = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'received_at')
local status = cur[1] or ''
local latest = redis.call('HGET', KEYS[2], ARGV[4]) or ''
if status == 'processed' or status == 'queued' then return {'duplicate', status, 0, latest} end
if redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[5], ARGV[10], '0', 'MKSTREAM')
end
local entry = redis.call('XADD', KEYS[5], '*', 'ref', ARGV[2])
local attempts = (tonumber(cur[2]) or 0) + 1
local first = cur[3]
if not first or first == '' then first = ARGV[7] end
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'id_hash', ARGV[4], 'ref', ARGV[2], 'source', ARGV[5],
  'status', 'queued', 'reason', '', 'events', ARGV[6], 'attempts', attempts, 'received_at', first,
  'updated_at', ARGV[7], 'entry', entry)
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('HSET', KEYS[2], ARGV[4], ARGV[2])
redis.call('ZADD', KEYS[3], now, ARGV[2])
redis.call('ZADD', KEYS[4], now, ARGV[2])
evict(KEYS[3], KEYS[2], ARGV[11], tonumber(ARGV[9]), now - tonumber(ARGV[8]), """
    + str(_EVICT_PER_CALL)
    + """)
local outcome = 'retry'
if status == '' or status == 'ignored' then outcome = 'new' end
return {outcome, status, attempts, latest}
"""
)

#: KEYS: record, ids, ignored. ARGV: mapping pairs…, then ttl, ref, now, keep, id hash, prefix.
#: Writes an ignored record unless the ref already holds another status (never overwrites work).
_IGNORE = (
    _EVICT
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if status and status ~= 'ignored' then return 0 end
local n = #ARGV
redis.call('HSET', KEYS[1], unpack(ARGV, 1, n - 6))
redis.call('EXPIRE', KEYS[1], ARGV[n - 5])
if not redis.call('HGET', KEYS[2], ARGV[n - 1]) then redis.call('HSET', KEYS[2], ARGV[n - 1], ARGV[n - 4]) end
redis.call('ZADD', KEYS[3], ARGV[n - 3], ARGV[n - 4])
evict(KEYS[3], KEYS[2], ARGV[n], tonumber(ARGV[n - 2]), tonumber(ARGV[n - 3]) - tonumber(ARGV[n - 5]), """
    + str(_EVICT_PER_CALL)
    + """)
return 1
"""
)

#: KEYS: record, ids, recent. ARGV: now, ref, id hash, ttl, keep, record key prefix, then the
#: record's field pairs. A delivery the bot made itself (a registry poll), recorded processed at
#: once: never queued, bounded with the others.
_PROCESSED = (
    _EVICT
    + """
local now = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 7, #ARGV))
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], now, ARGV[2])
evict(KEYS[3], KEYS[2], ARGV[6], tonumber(ARGV[5]), now - tonumber(ARGV[4]), """
    + str(_EVICT_PER_CALL)
    + """)
return 1
"""
)

#: KEYS: record, queued. ARGV: field pairs. The outcome of a delivery whose record still exists.
_OUTCOME = """
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
    """The key of one (id, events) pair: ``[0-9a-f]{32}``, safe in Redis keys."""
    return _hash(f"{delivery_id}\0{digest}")


@dataclass(frozen=True, slots=True)
class Admission:
    """What ``admit`` did: ``new``/``retry`` (recorded and queued) or ``duplicate`` (nothing).
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the consumer records for one delivery: processed with its outcomes, or failed."""

    ref: str
    outcomes: Sequence[TargetOutcome] = ()
    failed: str | None = None  # the reason, when it failed


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unavailable(exc: redis.RedisError) -> StoreUnavailable:
    """The one wording of a Redis failure (the class only: messages may name hosts)."""
    return StoreUnavailable(f"Redis unavailable: {exc.__class__.__name__}")


class DeliveryStore:
    def __init__(
        self,
        conn: redis.Redis,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        *,
        keep: int | None = None,
    ) -> None:
        self._redis = conn
        self._settings = settings
        self._clock = clock
        self.keep = keep if keep is not None else settings.delivery_keep
        self.stream = DeliveryStream(conn, settings)
        self._recent_key = settings.key("deliveries", "recent")
        self._ignored_key = settings.key("deliveries", "ignored")
        self.ids_key = settings.key("deliveries", "ids")
        self.queued_key = settings.key("deliveries", "queued")
        self._admit = conn.register_script(_ADMIT)
        self._ignore = conn.register_script(_IGNORE)
        self._outcome = conn.register_script(_OUTCOME)
        self._processed = conn.register_script(_PROCESSED)

    # --- keys ----------------------------------------------------------------------------------
    def key(self, ref: str) -> str:
        return self._settings.key("delivery", ref)

    def ref_of(self, delivery: Delivery, canonical: str | None = None) -> str:
        return delivery_ref(delivery.id, events_digest(delivery.events, canonical))

    # --- intake --------------------------------------------------------------------------------
    def admit(self, delivery: Delivery) -> Admission:
        """Record ``delivery`` and queue it on the stream, unless the same id with the same events
        is queued or processed already (then: duplicate, no write). One script: all or nothing.
        Raises StoreUnavailable when Redis refuses or cannot be reached (nothing was written)."""
        events = events_json(delivery.events)
        ref = self.ref_of(delivery, events)
        now = float(self._clock())
        keys = [self.key(ref), self.ids_key, self._recent_key, self.queued_key, self.stream.key]
        args = [
            repr(now), ref, delivery.id, _hash(delivery.id), delivery.source, events,
            delivery.received_at or _iso(now), self._settings.delivery_ttl_s, self.keep, GROUP,
            self.key(""),
        ]  # fmt: skip
        try:
            outcome, previous, attempts, latest = self._admit(keys=keys, args=args)
        except redis.RedisError as exc:
            raise unavailable(exc) from exc
        found, latest_ref = _text(outcome) or "", _text(latest) or ""
        if found == "duplicate":
            return Admission("duplicate", ref, status=_text(previous), attempts=0)
        reused = latest_ref not in ("", ref)
        return Admission("retry" if found == "retry" else "new", ref, attempts=int(attempts), reused=reused)

    def record_ignored(self, delivery_id: str, source: str, reason: str) -> str:
        """Remember briefly a delivery we had nothing to do with, for the status page; its ref.
        Never overwrites a delivery of that ref that has work (queued, processed or failed)."""
        ref = delivery_ref(delivery_id, events_digest(()))
        now = self._clock()
        fields = {
            "id": delivery_id,
            "id_hash": _hash(delivery_id),
            "ref": ref,
            "source": source,
            "status": "ignored",
            "reason": reason,
            "received_at": _iso(now),
            "updated_at": _iso(now),
            "events": "[]",
        }
        args: list[str | int | float] = [x for pair in fields.items() for x in pair]
        args += [IGNORED_TTL_S, ref, now, IGNORED_KEEP, _hash(delivery_id), self.key("")]
        try:
            self._ignore(keys=[self.key(ref), self.ids_key, self._ignored_key], args=args)
        except redis.RedisError as exc:
            raise unavailable(exc) from exc
        return ref

    def record_processed(self, done: Sequence[tuple[Delivery, Sequence[TargetOutcome]]]) -> list[str]:
        """Record deliveries the bot made itself (registry polls' findings) as processed with
        their outcomes, where deliveries are shown (one round trip); their refs. Nothing is
        queued."""
        now = float(self._clock())
        refs = []
        with self._redis.pipeline(transaction=False) as pipe:
            for delivery, outcomes in done:
                events = events_json(delivery.events)
                ref = self.ref_of(delivery, events)
                fields: dict[str, str | int] = {
                    "id": delivery.id,
                    "id_hash": _hash(delivery.id),
                    "ref": ref,
                    "source": delivery.source,
                    "status": "processed",
                    "events": events,
                    "attempts": 1,
                    "received_at": delivery.received_at or _iso(now),
                    "updated_at": _iso(now),
                    **_outcome_fields(outcomes),
                }
                bound = [self._settings.delivery_ttl_s, self.keep, self.key("")]
                args: list[str | int | float] = [repr(now), ref, _hash(delivery.id), *bound]
                args += [x for pair in fields.items() for x in pair]
                self._processed(keys=[self.key(ref), self.ids_key, self._recent_key], args=args, client=pipe)
                refs.append(ref)
            try:
                pipe.execute()
            except redis.RedisError as exc:
                raise unavailable(exc) from exc
        return refs

    # --- outcome (the consumer) -----------------------------------------------------------------
    def record_outcomes(self, done: Sequence[Outcome], entry_ids: Sequence[str]) -> None:
        """Record each delivery's outcome and acknowledge their stream entries in one
        transaction: a record never says done of an entry still pending."""
        now = _iso(self._clock())
        with self._redis.pipeline(transaction=True) as pipe:
            for item in done:
                fields = _outcome_fields(item.outcomes) if item.failed is None else {"reason": item.failed}
                status = "processed" if item.failed is None else "failed"
                args = ["status", status, "updated_at", now, *(x for kv in fields.items() for x in kv)]
                self._outcome(keys=[self.key(item.ref), self.queued_key], args=args, client=pipe)
            self.stream.ack(pipe, list(entry_ids))
            pipe.execute()

    def acknowledge_missing(self, entry_ids: Sequence[str]) -> None:
        """Acknowledge entries whose record is gone (expired, evicted): nothing left to do."""
        with self._redis.pipeline(transaction=True) as pipe:
            self.stream.ack(pipe, list(entry_ids))
            pipe.execute()

    def retry(self, ref: str) -> bool:
        """Queue a failed delivery again (a person asked); False when it is not failed."""
        key = self.key(ref)
        with self._redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                if _text(pipe.hget(key, "status")) != "failed":
                    return False
                pipe.multi()
                pipe.hset(key, mapping={"status": "queued", "reason": "", "updated_at": _iso(self._clock())})
                pipe.zadd(self.queued_key, {ref: self._clock()})
                self.stream.add(pipe, ref)
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    def requeue_lost(self, older_than_s: float, limit: int) -> list[str]:
        """Queue again the deliveries still ``queued`` whose stream entry is gone (Redis lost it:
        a restart from an older snapshot); the refs queued. A record is looked at once it has
        waited ``older_than_s``; at most ``limit`` a call."""
        cutoff = self._clock() - older_than_s
        refs = [_text(r) or "" for r in self._redis.zrangebyscore(self.queued_key, "-inf", cutoff, 0, limit)]
        lost = []
        for ref in refs:
            entry = _text(self._redis.hget(self.key(ref), "entry"))
            status = _text(self._redis.hget(self.key(ref), "status"))
            if status != "queued":
                self._redis.zrem(self.queued_key, ref)  # done or gone: the index was stale
                continue
            if entry and self._redis.xrange(self.stream.key, entry, entry):
                self._redis.zadd(self.queued_key, {ref: self._clock()})  # still there: look later
                continue
            with self._redis.pipeline(transaction=True) as pipe:
                self.stream.add(pipe, ref)
                pipe.zadd(self.queued_key, {ref: self._clock()})
                pipe.execute()
            lost.append(ref)
        return lost

    # --- reading -------------------------------------------------------------------------------
    def get(self, ref: str) -> Delivery | None:
        record = self.by_ref(ref)
        return record.delivery if record else None

    def get_many(self, refs: Sequence[str]) -> dict[str, Delivery]:
        """The deliveries of ``refs`` that still exist, in one round trip."""
        with self._redis.pipeline(transaction=False) as pipe:
            for ref in refs:
                pipe.hgetall(self.key(ref))
            rows = pipe.execute()
        return {ref: record.delivery for ref, row in zip(refs, rows, strict=True) if (record := _decode(row))}

    def by_ref(self, ref: str) -> DeliveryRecord | None:
        return _decode(self._redis.hgetall(self.key(ref)))

    def record(self, delivery_id: str) -> DeliveryRecord | None:
        """The latest delivery the sender sent under ``delivery_id``."""
        ref = _text(self._redis.hget(self.ids_key, _hash(delivery_id)))
        return self.by_ref(ref) if ref else None

    def recent(self, n: int = 50) -> list[DeliveryRecord]:
        """The ``n`` most recently received deliveries (ignored ones included), newest first."""
        n = max(n, 1)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrevrange(self._recent_key, 0, n - 1, withscores=True)
            pipe.zrevrange(self._ignored_key, 0, n - 1, withscores=True)
            work, ignored = pipe.execute()
        refs = [r for r, _ in sorted([*work, *ignored], key=lambda pair: -pair[1])[:n]]
        with self._redis.pipeline(transaction=False) as pipe:
            for ref in refs:
                pipe.hgetall(self.key(ref.decode()))
            rows = pipe.execute()
        return [record for row in rows if (record := _decode(row))]

    def backlog(self) -> int:
        """Deliveries waiting for an outcome."""
        return int(self._redis.zcard(self.queued_key))


def _outcome_fields(outcomes: Sequence[TargetOutcome]) -> dict[str, str | int]:
    """The hash fields of a delivery's outcomes: the bounded records, their summary, the count left
    out. No outcomes (a delivery without events) leaves the reason empty."""
    kept, more = bounded(outcomes)
    verdict, reason = summary(kept)
    return {
        "reason": reason,
        "verdict": verdict,
        "outcomes": json.dumps([o.to_dict() for o in kept], separators=(",", ":")),
        "outcomes_left_out": more,
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
