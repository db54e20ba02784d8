"""What ``pr.limits`` counts per manifest repo: when the bot opened PRs there, and who waits.

- ``<prefix>:pr-opened:<forge>:<repo>``: a sorted set, one member per PR the bot opened (scored
  by when); members older than an hour are dropped as new ones arrive.
- ``<prefix>:pr-line:<forge>:<repo>``: a sorted set of the groups waiting to open their PR,
  scored by when each started waiting (``ZADD NX``: waiting again keeps its place).

Both are bounded: openings by the hour's window (and at most ``MAX_OPENED``), the line by the
repo's groups.
"""

from __future__ import annotations

import redis

from bot.core.pr_limits import HOUR_S
from bot.settings import Settings

MAX_OPENED = 10_000


class PrSlots:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    def _opened_key(self, forge: str, repo: str) -> str:
        return self.settings.key("pr-opened", forge, repo)

    def _line_key(self, forge: str, repo: str) -> str:
        return self.settings.key("pr-line", forge, repo)

    def opened(self, forge: str, repo: str, group_key: str, now: float) -> None:
        """The bot opened ``group_key``'s PR at ``now``: counted, and the group leaves the line."""
        key = self._opened_key(forge, repo)
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {f"{group_key}@{now!r}": now})
            pipe.zremrangebyscore(key, "-inf", f"({now - HOUR_S}")
            pipe.zremrangebyrank(key, 0, -MAX_OPENED - 1)
            pipe.zrem(self._line_key(forge, repo), group_key)
            pipe.execute()

    def openings(self, forge: str, repo: str, now: float) -> list[float]:
        """When the bot opened PRs in the repo during the hour before ``now``."""
        rows = self.conn.zrangebyscore(self._opened_key(forge, repo), now - HOUR_S, now, withscores=True)
        return [float(score) for _, score in rows]

    def line(self, forge: str, repo: str) -> list[str]:
        """The groups waiting to open their PR, longest first."""
        return [m.decode() for m in self.conn.zrange(self._line_key(forge, repo), 0, -1)]

    def join(self, forge: str, repo: str, group_key: str, now: float) -> None:
        self.conn.zadd(self._line_key(forge, repo), {group_key: now}, nx=True)

    def leave(self, forge: str, repo: str, *group_keys: str) -> None:
        if group_keys:
            self.conn.zrem(self._line_key(forge, repo), *group_keys)
