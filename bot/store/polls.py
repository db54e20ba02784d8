"""Registry polling's state: when each polled image is due, its interval, and what its last poll
planned (``bot.services.poll``).

- ``<prefix>:due:polls`` (sorted set): image → when its next poll is due. ``sync`` makes it follow
  the routing config in one script: a new image is due at once, a dropped one is forgotten, a
  shorter interval brings the next poll forward. ``take_due`` is one script that returns the due
  images and, in the same step, sets each one to ``now + its interval``: two callers never take
  one image twice, and a leader that dies after taking a batch leaves nothing behind but one late
  poll (the next one is already set).
- ``<prefix>:polls:every`` (hash): image → its interval in seconds, written by ``sync``.
- ``<prefix>:polls:signatures`` (hash): image → the signature of what its last poll planned. A poll
  that finds the same versions (tags and digests, for the same targets) merges nothing: no
  superseded-log entry per poll, no generation bump, and a version a person rolled back is not
  pushed again by every poll. Read for a whole batch in one ``HMGET``, written in one ``HSET``.

An idle leader tick costs one command here (``take_due`` finding nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis

from bot.settings import Settings

# KEYS: due set, intervals, signatures. ARGV: now, then image, interval pairs: the whole schedule.
# Returns {added, removed, changed, total}.
_SYNC = """
local now = tonumber(ARGV[1])
local wanted = {}
local total = 0
for i = 2, #ARGV, 2 do
  wanted[ARGV[i]] = tonumber(ARGV[i + 1])
  total = total + 1
end
local removed = 0
local function forget(image)
  if wanted[image] == nil then
    local gone = redis.call('ZREM', KEYS[1], image) + redis.call('HDEL', KEYS[2], image)
    redis.call('HDEL', KEYS[3], image)
    if gone > 0 then removed = removed + 1 end
  end
end
for _, image in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do forget(image) end
for _, image in ipairs(redis.call('HKEYS', KEYS[2])) do forget(image) end
local added, changed = 0, 0
for image, every in pairs(wanted) do
  local before = tonumber(redis.call('HGET', KEYS[2], image))
  if before ~= every then redis.call('HSET', KEYS[2], image, every) end
  if redis.call('ZADD', KEYS[1], 'NX', now, image) == 1 then
    added = added + 1
  elseif before ~= every then
    redis.call('ZADD', KEYS[1], 'LT', now + every, image)
    changed = changed + 1
  end
end
return {added, removed, changed, total}
"""

# KEYS: due set, intervals. ARGV: now, limit. The due images (soonest first), each set to now +
# its interval; one without an interval (dropped from the config meanwhile) is removed instead.
_TAKE = """
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
if #due == 0 then return due end
local every = redis.call('HMGET', KEYS[2], unpack(due))
local out = {}
for i, image in ipairs(due) do
  local seconds = tonumber(every[i])
  if seconds then
    redis.call('ZADD', KEYS[1], now + seconds, image)
    out[#out + 1] = image
  else
    redis.call('ZREM', KEYS[1], image)
  end
end
return out
"""

#: images one ``take_due`` may return (the script unpacks them into one HMGET)
MAX_TAKE = 2000


@dataclass(frozen=True, slots=True)
class Synced:
    """What ``sync`` changed in the schedule."""

    added: int
    removed: int
    changed: int  # intervals that changed
    total: int  # images polled now


class PollStore:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings
        self.due_key = settings.key("due", "polls")
        self.every_key = settings.key("polls", "every")
        self.signatures_key = settings.key("polls", "signatures")
        self._sync = conn.register_script(_SYNC)
        self._take = conn.register_script(_TAKE)

    # --- the schedule ------------------------------------------------------------------------
    def sync(self, intervals: Mapping[str, float], now: float) -> Synced:
        """Make the schedule hold exactly ``intervals`` (image → seconds), in one script."""
        args: list[str | float] = [now]
        for image, every in sorted(intervals.items()):
            if every <= 0:
                raise ValueError(f"poll interval of {image} must be positive, not {every}")
            args += [image, every]
        raw = self._sync(keys=[self.due_key, self.every_key, self.signatures_key], args=args)
        return Synced(*(int(n) for n in raw))

    def take_due(self, now: float, limit: int) -> list[str]:
        """The images whose poll is due at ``now`` (at most ``limit``), each set to its next poll."""
        if not 0 < limit <= MAX_TAKE:
            raise ValueError(f"take between 1 and {MAX_TAKE} images, not {limit}")
        return [m.decode() for m in self._take(keys=[self.due_key, self.every_key], args=[now, limit])]

    def next_due(self) -> float | None:
        """When the soonest poll is due (None: nothing is polled)."""
        first = self.conn.zrange(self.due_key, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def schedule(self, limit: int = 10_000) -> dict[str, float]:
        """Image → when its next poll is due, soonest first (status pages, tests)."""
        rows = self.conn.zrange(self.due_key, 0, limit - 1, withscores=True)
        return {m.decode(): float(s) for m, s in rows}

    def intervals(self) -> dict[str, float]:
        return {k.decode(): float(v) for k, v in self.conn.hgetall(self.every_key).items()}

    # --- what the last polls found --------------------------------------------------------------
    def signatures(self, images: Iterable[str]) -> dict[str, str | None]:
        """The last poll's signature of each image (None: never polled, or forgotten), one HMGET."""
        names = list(dict.fromkeys(images))
        if not names:
            return {}
        raw = self.conn.hmget(self.signatures_key, names)
        return {n: (v.decode() if v is not None else None) for n, v in zip(names, raw, strict=True)}

    def remember(self, signatures: Mapping[str, str]) -> None:
        """Record what these images' polls planned, one HSET."""
        if signatures:
            self.conn.hset(self.signatures_key, mapping=dict(signatures))
