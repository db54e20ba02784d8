"""What the last registry poll of each image planned (``bot.services.poll``).

A poll that finds the same versions (tags and digests, for the same targets) as the one before
merges nothing: no superseded-log entry per poll, no generation bump, and a version a person rolled
back is not pushed again by every poll. ``<prefix>:poll:<image>`` holds the last signature.
"""

from __future__ import annotations

import redis

from bot.settings import Settings

#: forgotten after this long (then one poll merges again: duplicates, which change nothing)
KEEP_S = 7 * 24 * 3600


class PollStore:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    def _key(self, image: str) -> str:
        return self.settings.key("poll", image)

    def same_as_last(self, image: str, signature: str) -> bool:
        raw = self.conn.get(self._key(image))
        return raw is not None and raw.decode() == signature

    def remember(self, image: str, signature: str) -> None:
        self.conn.set(self._key(image), signature, ex=KEEP_S)
