"""The Redis every benchmark uses: the tests' own, ``$MANIFEST_BOT_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``; each run works under a throw-away key prefix and removes it)."""

from __future__ import annotations

import os

import redis

REDIS_URL = os.environ.get("MANIFEST_BOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def connect() -> redis.Redis:
    """A connection that answered PING; otherwise exit non-zero saying where it looked."""
    conn = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        conn.ping()
    except redis.RedisError as exc:
        conn.close()
        raise SystemExit(
            f"Redis at {REDIS_URL} does not answer ({exc}); start one or set MANIFEST_BOT_TEST_REDIS_URL"
        ) from None
    return conn
