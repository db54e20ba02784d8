"""Groups whose intents are still arriving: each is asked to reconcile once *its* intents have been
quiet for ``settle_s``, or ``max_wait_s`` after its first unrequested intent, whichever is sooner.

A burst of pushes for one environment then makes one sync instead of two (the first would start
with part of the burst and the rest would sync again after it, behind the repo lock), while a
group whose pushes stopped is asked at once whatever other groups are doing; the cap keeps a group
that never goes quiet from waiting for ever (Renovate's and Flux's debounce does the same).

Shared by every consumer: a sorted set ``member → when it may be asked`` and a hash ``member →
first unrequested intent``, so a group merged by two consumers is asked once, by whichever looks
first. ``settle`` also makes sure of the group in ``due:reconcile`` (``SAFETY_S`` later unless sooner):
a consumer that dies between ``take`` and its request leaves the group to the leader's safety net.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

# KEYS: set, firsts, safety set. ARGV: now, settle s, max wait s, safety s, members...
_SETTLE = """
local now = tonumber(ARGV[1])
for i = 5, #ARGV do
  local member = ARGV[i]
  local first = tonumber(redis.call('HGET', KEYS[2], member))
  if not first then
    first = now
    redis.call('HSET', KEYS[2], member, now)
  end
  redis.call('ZADD', KEYS[1], math.min(first + tonumber(ARGV[3]), now + tonumber(ARGV[2])), member)
  redis.call('ZADD', KEYS[3], 'LT', now + tonumber(ARGV[4]), member)  -- LT adds new ones too
end
"""

# KEYS: set. ARGV: due by (a time or '+inf'), limit, now, rearm s. The time of the next one not due
# ('' when none), then the members whose time has come, each moved rearm s on until ``asked`` (so
# it counts as on its way meanwhile, and comes back by itself should its taker die before asking).
_TAKE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local next = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local later = tonumber(ARGV[3]) + tonumber(ARGV[4])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', later, member) end
table.insert(due, 1, next[2] or '')
return due
"""

# KEYS: set, firsts. ARGV: now and rearm s of the take, members. Each one no longer settles, unless
# a new intent came for it since its take.
_ASKED = """
local later = tonumber(ARGV[1]) + tonumber(ARGV[2])
for i = 3, #ARGV do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) == later then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
"""

#: a taken member comes back this late should its taker die before asking for it
REARM_S = 5.0


class Settling:
    def __init__(
        self,
        conn: redis.Redis,
        key: str,
        safety_key: str,
        *,
        settle_s: float,
        max_wait_s: float,
        safety_s: float,
    ) -> None:
        self.conn = conn
        self.key = key
        self.firsts_key = f"{key}:first"
        self.safety_key = safety_key
        self.settle_s = settle_s
        self.max_wait_s = max_wait_s
        self.safety_s = safety_s
        self._settle = conn.register_script(_SETTLE)
        self._take = conn.register_script(_TAKE)
        self._asked = conn.register_script(_ASKED)

    def settle(self, members: Iterable[str], now: float) -> None:
        """New intents for ``members`` at ``now``: each one's time moves to ``settle_s`` later
        (never past ``max_wait_s`` after its first unrequested intent)."""
        found = list(dict.fromkeys(members))
        if found:
            keys = [self.key, self.firsts_key, self.safety_key]
            self._settle(keys=keys, args=[now, self.settle_s, self.max_wait_s, self.safety_s, *found])

    def take(
        self, now: float, *, everything: bool = False, limit: int = 1000
    ) -> tuple[list[str], float | None]:
        """The members whose time has come at ``now`` (``everything``: every one), at most
        ``limit``, and the time of the next one (None: none is), in one round trip. Each stays
        settling until ``asked``, so nothing looks quiet between the take and the request."""
        upto = "+inf" if everything else repr(now)
        after, *due = self._take(keys=[self.key], args=[upto, limit, now, REARM_S])
        return [m.decode() for m in due], float(after) if after else None

    def asked(self, members: list[str], taken_at: float) -> None:
        """``members``, taken at ``taken_at``, were asked to reconcile: they settle no more (a
        member a new intent came for since its take settles on)."""
        if members:
            self._asked(keys=[self.key, self.firsts_key], args=[taken_at, REARM_S, *members])

    def count(self) -> int:
        return int(self.conn.zcard(self.key))
