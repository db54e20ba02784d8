"""The marks of written references (``bot.core.floors``), per manifest repo and base branch:
``floors:<forge>:<repo>:<branch>``, a hash of reference → the highest version any rule's intent
wrote there. Read whole at each reconcile of a group on that branch, raised after it wrote;
written only under the repo's lock (the one writer of the repo), so a read-then-write is safe.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from bot.core.floors import Floor, raised
from bot.core.intents import UpdateIntent
from bot.core.keys import GroupKey
from bot.settings import Settings


class FloorStore:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    def _key(self, group_key: str) -> str:
        key = GroupKey.parse(group_key)
        return self.settings.key("floors", key.forge, key.repo, key.base)

    def get(self, group_key: str) -> dict[str, Floor]:
        """Every reference mark of the group's repo and base branch."""
        raw = self.conn.hgetall(self._key(group_key))
        return {k.decode(): Floor.from_json(v) for k, v in raw.items()}

    def raise_(self, group_key: str, landed: Mapping[str, UpdateIntent]) -> int:
        """Raise the marks of the references ``landed`` names to the versions written there;
        how many rose (two round trips, none when nothing was written)."""
        if not landed:
            return 0
        key = self._key(group_key)
        fields = sorted(landed)
        now = self.conn.hmget(key, fields)
        higher = {}
        for field, raw in zip(fields, now, strict=True):
            floor = raised(Floor.from_json(raw) if raw else None, landed[field])
            if floor is not None:
                higher[field] = floor.to_json()
        if higher:
            self.conn.hset(key, mapping=higher)
        return len(higher)
