"""``manifest-bot status`` and ``manifest-bot jobs`` where there is nothing to show: no Redis, an
unknown delivery or job — each says so plainly (README's tour runs ``status`` on a fresh machine)."""

from __future__ import annotations

import json

import redis
from click.testing import CliRunner

from bot.cli import main
from bot.settings import Settings


def env_of(settings: Settings) -> dict[str, str]:
    return {"MANIFEST_BOT_REDIS_URL": settings.redis_url, "MANIFEST_BOT_REDIS_PREFIX": settings.redis_prefix}


def test_no_redis_is_explained_with_where_it_looked_and_exits_zero() -> None:
    result = CliRunner().invoke(main, ["status", "--redis", "redis://:hunter2-secret@127.0.0.1:1/0"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Redis at redis://127.0.0.1:1/0 does not answer (ConnectionError)")
    assert "--redis URL" in result.output and "MANIFEST_BOT_REDIS_URL" in result.output
    assert "hunter2" not in result.output  # the URL's password never shows


def test_an_empty_deployment_and_its_json(settings: Settings, redis_conn: redis.Redis) -> None:
    shown = CliRunner().invoke(main, ["status"], env=env_of(settings))
    assert shown.exit_code == 0, shown.output
    assert f"prefix {settings.redis_prefix}" in shown.output and "none yet" in shown.output
    as_json = CliRunner().invoke(main, ["status", "--json"], env=env_of(settings))
    assert json.loads(as_json.output) == {"groups": [], "deliveries": [], "failed": []}


def test_unknown_delivery_and_job_fail_with_the_reason(settings: Settings, redis_conn: redis.Redis) -> None:
    missing = CliRunner().invoke(main, ["status", "--delivery", "generic-nope"], env=env_of(settings))
    assert missing.exit_code == 1
    assert "no delivery 'generic-nope'" in missing.output and "MANIFEST_BOT_DELIVERY_TTL_S" in missing.output
    for action in ("retry", "dismiss"):
        job = CliRunner().invoke(
            main, ["jobs", action, f"{settings.redis_prefix}-reconcile-x"], env=env_of(settings)
        )
        assert job.exit_code == 1 and "no failed job" in job.output
