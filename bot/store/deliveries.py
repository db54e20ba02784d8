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
import re
import time
import zlib
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

_ADMIT = r"""
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
-- ARGV[8]: the enqueue commands, framed as "<nargs>\n" then "<len>\n<bytes>" per argument
local blob, pos = ARGV[8], 1
local function int()
  local nl = string.find(blob, '\n', pos, true)
  local n = tonumber(string.sub(blob, pos, nl - 1))
  pos = nl + 1
  return n
end
while pos <= #blob do
  local args = {}
  for j = 1, int() do
    local len = int()
    args[j] = string.sub(blob, pos, pos + len - 1)
    pos = pos + len
  end
  redis.call(unpack(args))
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
        self._templates: dict[tuple[str, str], EnqueueTemplate] = {}

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
        commands = self._enqueue_commands(queue, func, delivery.id, job_id)
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
            commands,
        ]
        job_key = queue.job_class.key_for(job_id)
        try:
            raw = self._admit(keys=[self.key(delivery.id), job_key, self._recent_key], args=args)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis unavailable: {exc.__class__.__name__}") from exc
        outcome, detail = (part.decode() for part in raw)
        if outcome == "duplicate":
            return Admission("duplicate", status=detail, attempts=0)
        return Admission(outcome, attempts=int(detail))  # type: ignore[arg-type]

    def _enqueue_commands(self, queue: Queue, func: str, delivery_id: str, job_id: str) -> bytes:
        """rq's enqueue commands for this job, framed: from a validated template, else from rq."""
        key = (queue.name, func)
        template = self._templates.get(key)
        try:
            if template is None:
                template = self._templates[key] = EnqueueTemplate.build(queue, func, self.job_id)
            if template.usable:
                return template.render(delivery_id)
            commands = _capture_enqueue(queue, func, {"delivery_id": delivery_id}, job_id)
        except redis.RedisError as exc:  # rq asks the server version once per queue
            raise StoreUnavailable(f"Redis unavailable: {exc.__class__.__name__}") from exc
        return frame_commands(commands, queue.connection.get_encoder())

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


_TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_SENTINELS = ("mb-sentinel-delivery-a", "mb-sentinel-delivery-b")


def _frame(value: bytes) -> bytes:
    return b"%d\n%s" % (len(value), value)


def frame_commands(commands: Sequence[Sequence[Any]], encoder: Any) -> bytes:
    """Commands as one blob the admit script unpacks: ``<nargs>\\n`` then ``<len>\\n<arg>`` each."""
    out = bytearray()
    for command in commands:
        out += b"%d\n" % len(command)
        for arg in command:
            out += _frame(encoder.encode(arg))
    return bytes(out)


def unframe_commands(blob: bytes) -> list[list[bytes]]:
    """The inverse of ``frame_commands`` (what the admit script does), for checks and tests."""
    commands, pos = [], 0

    def number() -> int:
        nonlocal pos
        end = blob.index(b"\n", pos)
        value, pos = int(blob[pos:end]), end + 1
        return value

    while pos < len(blob):
        command = []
        for _ in range(number()):
            size = number()
            command.append(blob[pos : pos + size])
            pos += size
        commands.append(command)
    return commands


class EnqueueTemplate:
    """rq's enqueue commands for one (queue, function), learnt once and re-filled per delivery.

    Building an rq Job per request costs more than the rest of intake together. rq is asked once
    to enqueue a sentinel delivery (into a pipeline that is never sent); every argument is then
    classified as constant (pre-encoded), containing the delivery id, the job's serialized data,
    or a timestamp. The template is ``usable`` only when filling it for a second sentinel gives
    exactly what rq itself produces for it; otherwise every request asks rq (same result, slower).
    """

    def __init__(self, queue: Queue, func: str) -> None:
        self._queue, self._func = queue, func
        self._pieces: list[bytes | tuple[str, list[bytes]]] | None = None

    @property
    def usable(self) -> bool:
        return self._pieces is not None

    @classmethod
    def build(cls, queue: Queue, func: str, job_id_for: Callable[[str], str]) -> EnqueueTemplate:
        encoder = queue.connection.get_encoder()
        first, second = _SENTINELS
        template = cls(queue, func)
        captured = _capture_enqueue(queue, func, {"delivery_id": first}, job_id_for(first))
        pieces: list[bytes | tuple[str, list[bytes]]] = []
        for command in captured:
            pieces.append(b"%d\n" % len(command))
            for arg in command:
                pieces.append(template._classify(encoder.encode(arg), first.encode()))
        template._pieces = _merge_constants(pieces)
        expected = _capture_enqueue(queue, func, {"delivery_id": second}, job_id_for(second))
        ours = unframe_commands(template.render(second))
        if not _same_commands(ours, unframe_commands(frame_commands(expected, encoder))):
            template._pieces = None
        return template

    def _data(self, delivery_id: str) -> bytes:
        job_tuple = (self._func, None, (), {"delivery_id": delivery_id})
        return zlib.compress(self._queue.serializer.dumps(job_tuple))

    def _classify(self, arg: bytes, sentinel: bytes) -> bytes | tuple[str, list[bytes]]:
        if arg == self._data(sentinel.decode()):
            return ("data", [])
        if sentinel in arg:
            return ("id", arg.split(sentinel))
        if _TIMESTAMP.fullmatch(arg):
            return ("now", [])
        return _frame(arg)

    def render(self, delivery_id: str) -> bytes:
        """The framed commands that enqueue the job of ``delivery_id``."""
        assert self._pieces is not None
        ident = delivery_id.encode()
        out: list[bytes] = []
        for piece in self._pieces:
            if isinstance(piece, bytes):
                out.append(piece)
            elif piece[0] == "id":
                out.append(_frame(ident.join(piece[1])))
            elif piece[0] == "now":
                out.append(_frame(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()))
            else:
                out.append(_frame(self._data(delivery_id)))
        return b"".join(out)


def _merge_constants(pieces: list[bytes | tuple[str, list[bytes]]]) -> list[bytes | tuple[str, list[bytes]]]:
    merged: list[bytes | tuple[str, list[bytes]]] = []
    for piece in pieces:
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def _same_commands(ours: list[list[bytes]], theirs: list[list[bytes]]) -> bool:
    """Equal, except that timestamps only need to be timestamps (they differ by a few µs)."""
    if len(ours) != len(theirs) or any(len(a) != len(b) for a, b in zip(ours, theirs, strict=True)):
        return False
    for a_cmd, b_cmd in zip(ours, theirs, strict=True):
        for a, b in zip(a_cmd, b_cmd, strict=True):
            if a != b and not (_TIMESTAMP.fullmatch(a) and _TIMESTAMP.fullmatch(b)):
                return False
    return True
