"""The deliveries stream: a Redis Stream with one consumer group, the queue between intake and the
workers.

Intake appends one entry per accepted delivery (``ref`` only; the record holds the rest) in the
same script that writes the delivery's record (``bot.store.deliveries``), so a delivery answered
``202`` is always both recorded and queued. Every worker process reads from the group under its
own consumer name; Redis hands each entry to one consumer and keeps it in that consumer's pending
list until it is acknowledged — which happens in the same transaction that records the delivery's
outcome, so a record never says ``processed`` of an entry still pending, and a pending entry is
never forgotten:

- a consumer that dies holding entries leaves them pending; any live consumer takes them over
  with ``XAUTOCLAIM`` once they have been idle for ``CLAIM_IDLE_MS`` (a lost batch is handled
  again within seconds, not minutes);
- an entry delivered ``MAX_DELIVERIES`` times without being acknowledged (its handling kills its
  worker, or keeps failing transiently) is a poison entry: the consumer records it failed with the
  reason and acknowledges it, so it never blocks the others;
- the stream is trimmed only below what the group has acknowledged (``XTRIM MINID`` at the oldest
  pending or unread entry), so trimming never drops work; memory stays flat under a steady stream.

The group is created with the stream (``ensure_group``; intake's script creates both when the
stream is missing, so a Redis that lost its data gets both back with the next delivery).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from bot.settings import Settings

GROUP = "workers"
#: a pending entry idle this long lost its consumer (a live consumer acknowledges within a batch)
CLAIM_IDLE_MS = 10_000
#: an entry handed out this many times without an acknowledgement is recorded failed
MAX_DELIVERIES = 5


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: its id, the delivery ref, and how many times it was handed out."""

    id: str
    ref: str
    deliveries: int = 1


@dataclass(frozen=True, slots=True)
class StreamStats:
    """For the status page and metrics."""

    length: int = 0  # entries in the stream (acknowledged ones until the next trim)
    pending: int = 0  # handed to a consumer, not acknowledged yet
    lag: int = 0  # not handed to any consumer yet
    consumers: int = 0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class DeliveryStream:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.key = settings.key("deliveries", "stream")

    def ensure_group(self) -> None:
        """Create the stream and its group when missing (from the first entry: nothing added
        before a worker started is skipped)."""
        try:
            self.conn.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, consumer: str, count: int, block_ms: int | None) -> list[Entry]:
        """Entries no consumer has had yet, up to ``count``; wait up to ``block_ms`` for one
        (None: do not wait)."""
        try:
            found = self.conn.xreadgroup(GROUP, consumer, {self.key: ">"}, count=count, block=block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()  # Redis lost the group (a restart without persistence)
            return []
        return [_entry(i, f) for _, rows in found or () for i, f in rows if f]

    def claim_idle(self, consumer: str, count: int, min_idle_ms: int = CLAIM_IDLE_MS) -> list[Entry]:
        """Take over up to ``count`` entries pending longer than ``min_idle_ms`` at a consumer that
        did not acknowledge them (dead, or failed transiently), with their delivery counts."""
        try:
            _, rows, *_ = self.conn.xautoclaim(self.key, GROUP, consumer, min_idle_ms, count=count)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return []
        claimed = [(_text(i), f) for i, f in rows if f]  # deleted entries come back empty
        if not claimed:
            return []
        counts = self._delivery_counts([i for i, _ in claimed])
        return [Entry(i, _text(f[b"ref"]), counts.get(i, MAX_DELIVERIES)) for i, f in claimed]

    def _delivery_counts(self, ids: list[str]) -> dict[str, int]:
        rows = self.conn.xpending_range(self.key, GROUP, min=min(ids), max=max(ids), count=len(ids) * 4)
        return {_text(r["message_id"]): int(r["times_delivered"]) for r in rows}

    def ack(self, pipe: redis.client.Pipeline, ids: list[str]) -> None:
        """Acknowledge ``ids`` inside the caller's transaction (the one recording their outcome)."""
        if ids:
            pipe.xack(self.key, GROUP, *ids)

    def add(self, pipe: redis.client.Pipeline, ref: str) -> None:
        """Append a delivery again (a failed one retried by a person), inside a transaction."""
        pipe.xadd(self.key, {"ref": ref})

    def stats(self) -> StreamStats:
        try:
            length = int(self.conn.xlen(self.key))
            groups = self.conn.xinfo_groups(self.key) if length else []
        except redis.ResponseError:
            return StreamStats()
        group = next((g for g in groups if _text(g["name"]) == GROUP), None)
        if group is None:
            return StreamStats(length=length, lag=length)
        return StreamStats(length, int(group["pending"]), int(group.get("lag") or 0), int(group["consumers"]))

    def trim(self) -> int:
        """Drop every entry the group is done with: below the oldest pending entry, or up to the
        last one handed out when none is pending. Returns how many were dropped."""
        try:
            groups = self.conn.xinfo_groups(self.key)
        except redis.ResponseError:
            return 0
        group = next((g for g in groups if _text(g["name"]) == GROUP), None)
        if group is None:
            return 0
        summary = self.conn.xpending(self.key, GROUP)
        if summary["pending"]:
            floor = _text(summary["min"])
        else:
            ms, _, seq = _text(group["last-delivered-id"]).partition("-")
            floor = f"{ms}-{int(seq or 0) + 1}"
        return int(self.conn.xtrim(self.key, minid=floor, approximate=False))

    def forget_idle_consumers(self, idle_ms: int) -> list[str]:
        """Delete consumers with nothing pending that have not read for ``idle_ms`` (workers that
        are gone); their names."""
        try:
            consumers = self.conn.xinfo_consumers(self.key, GROUP)
        except redis.ResponseError:
            return []
        gone = [_text(c["name"]) for c in consumers if not int(c["pending"]) and int(c["idle"]) >= idle_ms]
        for name in gone:
            self.conn.xgroup_delconsumer(self.key, GROUP, name)
        return gone


def _entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> Entry:
    return Entry(_text(entry_id), _text(fields[b"ref"]))
