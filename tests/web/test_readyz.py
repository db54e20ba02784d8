"""/readyz says what is wrong with Redis for the bot (eviction policy, persistence, reachability)."""

from __future__ import annotations

from collections.abc import Callable

import redis

from bot.settings import Settings
from tests.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture
from tests.web.intake_support import make_app


def test_ready_on_a_redis_configured_as_production_needs(
    make_settings: Callable[..., Settings],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    redis_server.extra = ["--appendonly", "yes", "--maxmemory-policy", "noeviction"]
    redis_server.start()
    settings = make_settings(redis_url=redis_server.url, redis_require_aof=True)
    assert make_app(settings).test_client().get("/readyz").json == {"ready": True}


def test_an_evicting_redis_without_aof_is_not_ready_and_says_why(
    make_settings: Callable[..., Settings],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    redis_server.extra = ["--appendonly", "no", "--maxmemory-policy", "allkeys-lru"]
    redis_server.start()
    settings = make_settings(redis_url=redis_server.url, redis_require_aof=True)
    response = make_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    reason = response.json["reason"]
    assert "maxmemory-policy is allkeys-lru: set it to noeviction" in reason
    assert "AOF persistence is off: set appendonly yes" in reason


def test_aof_may_be_waived_for_throwaway_setups(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    settings = make_settings(redis_require_aof=False)
    assert make_app(settings, redis_conn).test_client().get("/readyz").status_code == 200
