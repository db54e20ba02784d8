"""Shared fixtures: real Redis at 127.0.0.1:6379 (or $MANIFEST_BOT_TEST_REDIS_URL) under a
unique key prefix per test, cleaned up afterwards; settings built for that prefix."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from bot.settings import Settings
from bot.store import namespace

TEST_REDIS_URL = os.environ.get("MANIFEST_BOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> str:
    return f"mbt{uuid.uuid4().hex[:10]}"


def _delete_prefix(conn: redis.Redis, prefix: str) -> None:
    """Our keys, rq's keys that carry our prefix, and our entries in rq's shared sets."""
    namespace.drop(conn, prefix)


@pytest.fixture
def redis_conn(redis_prefix: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        conn.ping()
    except redis.ConnectionError as exc:  # pragma: no cover - environment problem, say it plainly
        pytest.fail(f"Redis is required for this test at {TEST_REDIS_URL}: {exc}")
    yield conn
    _delete_prefix(conn, redis_prefix)
    conn.close()


@pytest.fixture
def make_settings(redis_prefix: str) -> Iterator[Callable[..., Settings]]:
    def build(**overrides: Any) -> Settings:
        # the shared test Redis runs without AOF (.ci/run); production readiness requires it
        values: dict[str, Any] = {
            "redis_url": TEST_REDIS_URL,
            "redis_prefix": redis_prefix,
            "redis_require_aof": False,
        }
        values.update(overrides)
        return Settings.model_validate(values)

    yield build
    # a test may reach Redis through these settings without asking for redis_conn: clean up too
    conn = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    try:
        _delete_prefix(conn, redis_prefix)
    except redis.ConnectionError:
        pass  # a pure test that never needed Redis
    finally:
        conn.close()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], redis_conn: redis.Redis) -> Settings:
    return make_settings()
