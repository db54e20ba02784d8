"""Versions waiting for their registry: planned, verified as absent, asked again with backoff.

Per group, ``<prefix>:waiting:<group>`` is a hash: one field per (target, tag), holding the intent
and when it started waiting, when the bot gives up, how often it asked and when it asks next.
``<prefix>:waiting:groups`` (a sorted set: group → its next retry time) finds every group with
something waiting (the status page, the retry jobs). A group holds at most ``MAX_PER_GROUP``
waiting versions: a flood of announcements of tags that never come costs bounded work.

Written by ``bot.services.registry_gate``; an entry is added once (a re-announcement keeps its
deadline) and removed when the version is admitted or given up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import redis

from bot.core.group_state import Waiting
from bot.core.intents import UpdateIntent
from bot.core.release_age import shown
from bot.settings import Settings

MAX_PER_GROUP = 50


@dataclass(frozen=True, slots=True)
class WaitEntry:
    intent: UpdateIntent
    registry: str  # the registry host as users name it (``ghcr.io``)
    since: float  # epoch seconds: first asked
    until: float  # ... when the bot gives up
    next_at: float  # ... when it asks again
    attempts: int = 1
    reason: str = ""  # why it is not admitted yet, for the status page
    #: it is in the registry but younger than ``policy.min_release_age``: when it becomes
    #: eligible (epoch seconds; None: it waits for the registry)
    eligible_at: float | None = None

    @property
    def field(self) -> str:
        return f"{self.intent.target_key}#{self.intent.tag}"

    @property
    def group_key(self) -> str:
        return self.intent.group_key

    def to_json(self) -> str:
        names = ("registry", "since", "until", "next_at", "attempts", "reason", "eligible_at")
        data = {k: getattr(self, k) for k in names}
        return json.dumps({**data, "intent": self.intent.to_dict()}, sort_keys=True)

    @classmethod
    def from_json(cls, raw: bytes | str) -> WaitEntry:
        data: dict[str, Any] = json.loads(raw)
        return cls(intent=UpdateIntent.from_dict(data.pop("intent")), **data)

    def shown(self) -> Waiting:
        """What the PR body and the status page say about it."""
        until = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.until))
        eligible = "" if self.eligible_at is None else shown(self.eligible_at)
        return Waiting(self.intent.image, self.intent.tag or "", self.registry, until, eligible)

    def later(self, next_at: float, reason: str) -> WaitEntry:
        return replace(self, next_at=next_at, attempts=self.attempts + 1, reason=reason)


class WaitingStore:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    def _key(self, group_key: str) -> str:
        return self.settings.key("waiting", group_key)

    @property
    def index_key(self) -> str:
        return self.settings.key("waiting-groups")

    # --- reads ---------------------------------------------------------------------------------
    def entries(self, group_key: str) -> list[WaitEntry]:
        raw = self.conn.hvals(self._key(group_key))
        return sorted((WaitEntry.from_json(v) for v in raw), key=lambda e: (e.since, e.field))

    def groups(self, limit: int = 1000) -> list[tuple[str, float]]:
        """Groups with something waiting and when each asks next, soonest first."""
        rows = self.conn.zrange(self.index_key, 0, limit - 1, withscores=True)
        return [(g.decode(), float(score)) for g, score in rows]

    # --- writes --------------------------------------------------------------------------------
    def add(self, entries: Iterable[WaitEntry]) -> tuple[list[WaitEntry], list[WaitEntry]]:
        """Add each entry unless its (target, tag) already waits (that one keeps its deadline).
        Returns (added, refused: its group already holds MAX_PER_GROUP)."""
        added: list[WaitEntry] = []
        refused: list[WaitEntry] = []
        for entry in entries:
            key = self._key(entry.group_key)
            if self.conn.hexists(key, entry.field):
                continue
            if self.conn.hlen(key) >= MAX_PER_GROUP:
                refused.append(entry)
                continue
            if self.conn.hsetnx(key, entry.field, entry.to_json()):
                added.append(entry)
        self._reindex({e.group_key for e in added})
        return added, refused

    def update(self, group_key: str, keep: Iterable[WaitEntry], drop: Iterable[WaitEntry]) -> None:
        """Write the entries still waiting and remove the others, then re-index the group."""
        key = self._key(group_key)
        with self.conn.pipeline(transaction=True) as pipe:
            fields = [e.field for e in drop]
            if fields:
                pipe.hdel(key, *fields)
            kept = {e.field: e.to_json() for e in keep}
            if kept:
                pipe.hset(key, mapping=kept)
            pipe.execute()
        self._reindex({group_key})

    def _reindex(self, groups: set[str]) -> None:
        for group_key in groups:
            entries = self.entries(group_key)
            if entries:
                self.conn.zadd(self.index_key, {group_key: min(e.next_at for e in entries)})
            else:
                self.conn.zrem(self.index_key, group_key)
