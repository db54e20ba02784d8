"""Things to do at a time: a sorted set of member → when it is due, shared by every worker.

The periodic leader (``bot.jobs.leader``) takes what is due with ``take`` — one script that returns
the due members and, in the same step, moves each one ``rearm_s`` into the future — so a member
taken by a leader that dies before acting comes back by itself, and two leaders (a failover in
the middle of a tick) never take one member twice in one slot. What acts on a member then either
finishes it (``done``) or sets its next time (``at``).

One set per kind of work: reconciles to make sure of, commands waiting for their repo lock,
periodic tasks, versions waiting for their registry, auto-merge wishes. Images to poll have a
sorted set of their own (``bot.store.polls``: each one is re-armed at its own interval).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import redis

# KEYS: the set. ARGV: now, limit, rearm seconds. Due members (oldest first), each moved on.
_TAKE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local later = tonumber(ARGV[1]) + tonumber(ARGV[3])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], later, member) end
return due
"""

# KEYS: the set. ARGV: member, score it must still have. Remove it unless it was set again since.
_DONE_IF = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
"""


class DueSet:
    def __init__(self, conn: redis.Redis, key: str) -> None:
        self.conn = conn
        self.key = key
        self._take = conn.register_script(_TAKE)
        self._done_if = conn.register_script(_DONE_IF)

    def at(self, when: Mapping[str, float], *, pipe: redis.client.Pipeline | None = None) -> None:
        """Set the time of each member (added when new)."""
        if when:
            (pipe or self.conn).zadd(self.key, dict(when))

    def soonest(self, when: Mapping[str, float]) -> None:
        """Set each member's time unless it is already due sooner."""
        if when:
            self.conn.zadd(self.key, dict(when), lt=True)

    def take(self, now: float, limit: int, rearm_s: float) -> list[str]:
        """The members due at ``now`` (at most ``limit``), each moved ``rearm_s`` on."""
        return [m.decode() for m in self._take(keys=[self.key], args=[now, limit, rearm_s])]

    def done(self, members: Iterable[str], *, pipe: redis.client.Pipeline | None = None) -> None:
        found = list(members)
        if found:
            (pipe or self.conn).zrem(self.key, *found)

    def done_unless_moved(self, member: str, not_after: float) -> bool:
        """Remove ``member`` unless something set it later than ``not_after`` since (a new
        request arrived while it was being handled)."""
        return bool(self._done_if(keys=[self.key], args=[member, not_after]))

    def when(self, member: str) -> float | None:
        score = self.conn.zscore(self.key, member)
        return float(score) if score is not None else None

    def next_due(self) -> float | None:
        first = self.conn.zrange(self.key, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def members(self, limit: int = 1000) -> list[tuple[str, float]]:
        return [(m.decode(), float(s)) for m, s in self.conn.zrange(self.key, 0, limit - 1, withscores=True)]

    def count(self) -> int:
        return int(self.conn.zcard(self.key))
