"""When the bot first saw a tag at a digest: the release time of images whose registry says none.

``<prefix>:first-seen`` is a sorted set: member ``image:tag@digest``, score the epoch seconds it
was first seen (``ZADD NX``: a later sighting never moves it). A re-pushed tag (another digest) is
a new release. Bounded: members older than the longest ``policy.min_release_age`` (they are
eligible whatever else happens) are dropped, and at most ``MAX_MEMBERS`` are kept (the oldest go).
"""

from __future__ import annotations

import redis

from bot.core.release_age import MAX_AGE_S
from bot.settings import Settings

MAX_MEMBERS = 100_000


class FirstSeen:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.key = settings.key("first-seen")

    def since(self, image: str, tag: str, digest: str, now: float) -> float:
        """When ``image:tag`` at ``digest`` was first seen (``now`` when this is the first time)."""
        member = f"{image}:{tag}@{digest}"
        with self.conn.pipeline(transaction=True) as pipe:
            pipe.zadd(self.key, {member: now}, nx=True)
            pipe.zscore(self.key, member)
            pipe.zremrangebyscore(self.key, "-inf", f"({now - MAX_AGE_S - 86_400}")
            pipe.zremrangebyrank(self.key, 0, -MAX_MEMBERS - 1)
            _, score, _, _ = pipe.execute()
        return float(score) if score is not None else now
