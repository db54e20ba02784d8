"""The release notes' cache in Redis: an image version's config labels and its release, shared by
every worker, so a version costs its registry and forge requests once a day, not once a sync.

``<prefix>:notes:<kind>:<digest of the parts>`` holds one JSON object: ``config`` entries (per
image and tag: its labels) and ``release`` entries (per image and version: the release found, or
that none was). Only what the forge and the registry publish is stored: labels, release tags,
names and text (cut to ``MAX_ENTRY_BYTES``), never a credential.

A cache: an entry lives ``ttl_s`` (a release with no notes yet, ``miss_ttl_s``: it may be
published after its image; a config the registry would not give, a few minutes), one that does
not decode is a miss, and a Redis that does not answer is a miss too. Losing them all costs
requests only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis

from bot.settings import Settings

log = logging.getLogger(__name__)

FORMAT = 1
DEFAULT_TTL_S = 24 * 3600
DEFAULT_MISS_TTL_S = 3600
MAX_ENTRY_BYTES = 64 * 1024


class NotesCache:
    def __init__(
        self,
        conn: redis.Redis,
        settings: Settings,
        *,
        ttl_s: int = DEFAULT_TTL_S,
        miss_ttl_s: int = DEFAULT_MISS_TTL_S,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.ttl_s = ttl_s
        self.miss_ttl_s = miss_ttl_s

    def key(self, kind: str, *parts: str) -> str:
        digest = hashlib.blake2b(json.dumps(parts).encode(), digest_size=16).hexdigest()
        return self.settings.key("notes", kind, digest)

    def get(self, kind: str, *parts: str) -> dict[str, Any] | None:
        try:
            raw = self.conn.get(self.key(kind, *parts))
        except redis.RedisError as exc:
            log.warning("release notes cache unavailable: %s", type(exc).__name__)
            return None
        if not isinstance(raw, bytes | str) or len(raw) > MAX_ENTRY_BYTES:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("v") != FORMAT or not isinstance(data.get("d"), dict):
            return None
        return data["d"]

    def put(
        self,
        kind: str,
        parts: tuple[str, ...],
        value: dict[str, Any],
        *,
        miss: bool = False,
        ttl_s: int | None = None,
    ) -> None:
        """Keep ``value`` ``ttl_s`` seconds (default: ``miss_ttl_s`` for a ``miss``, else ``ttl_s``)."""
        raw = json.dumps({"v": FORMAT, "d": value}, separators=(",", ":"))
        if len(raw) > MAX_ENTRY_BYTES:
            return
        ttl = ttl_s if ttl_s is not None else self.miss_ttl_s if miss else self.ttl_s
        try:
            self.conn.set(self.key(kind, *parts), raw, ex=ttl)
        except redis.RedisError as exc:  # a cache: a full or read-only Redis costs requests only
            log.warning("could not cache release notes: %s", type(exc).__name__)
