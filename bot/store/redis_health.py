"""What the service needs from its Redis, checked at start-up and by ``/readyz``.

- version 6.2 or later: workers take jobs with ``LMOVE``/``BLMOVE`` (``bot.jobs.dequeue``);
- ``maxmemory-policy noeviction``: any other policy deletes queued jobs and delivery records
  silently once memory is full; with ``noeviction`` a full Redis refuses writes and the intake
  answers ``503``;
- ``appendonly yes`` (unless ``MANIFEST_BOT_REDIS_REQUIRE_AOF=false``): a restart must not lose
  deliveries already answered ``202``;
- the primary, not a read-only replica.

Read with ``INFO`` (managed services that rename ``CONFIG`` still answer it). A field the server
does not report is not held against it.
"""

from __future__ import annotations

import redis

MIN_VERSION = (6, 2)


def problems(conn: redis.Redis, *, require_aof: bool) -> list[str]:
    """What is wrong with this Redis for the bot, in words (empty: ready). Raises RedisError when
    Redis cannot be reached."""
    info = conn.info("all")
    found = []
    version = str(info.get("redis_version", ""))
    if version and _version(version) < MIN_VERSION:
        found.append(f"Redis {version} is too old: 6.2 or later is needed (LMOVE)")
    policy = info.get("maxmemory_policy")
    if policy is not None and policy != "noeviction":
        found.append(
            f"maxmemory-policy is {policy}: set it to noeviction, or a full Redis silently drops queued work"
        )
    if require_aof and info.get("aof_enabled") in (0, "0"):
        found.append("AOF persistence is off: set appendonly yes, or a restart loses accepted deliveries")
    if info.get("role") not in (None, "master"):
        found.append(f"this Redis is a {info.get('role')}: point MANIFEST_BOT_REDIS_URL at the primary")
    return found


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:2]:
        parts.append(int(part) if part.isdigit() else 0)
    return tuple(parts)
