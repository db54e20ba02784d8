"""``manifest-bot status`` and ``manifest-bot jobs`` where there is nothing to show: no Redis, an
unknown delivery or job — each says so plainly (README's tour runs ``status`` on a fresh machine)."""

from __future__ import annotations

import dataclasses
import json

import redis
from click.testing import CliRunner

from bot.app import create_app
from bot.cli import main
from bot.core.group_state import GroupState, Pin
from bot.settings import Settings
from bot.store.config_state import ConfigStateStore
from bot.store.groups import GroupStore


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


def test_status_shows_what_the_page_shows_refused_config_pins_and_repo_file(
    settings: Settings, redis_conn: redis.Redis
) -> None:
    """issue 21, item 6: the CLI's overview says what the status page says."""
    state = ConfigStateStore(redis_conn, settings)
    state.loaded("/etc/routing.yaml", "a" * 64, 1_700_000_000.0)
    state.refused(
        "/etc/routing.yaml", "b" * 64, ("routing.yaml:3: rules[0].imag: unknown key",), 1_700_000_100.0
    )
    groups = GroupStore(redis_conn, settings)
    key = "local:acme/deploy:main:dev"
    groups.register(key)
    groups.update(
        key,
        lambda rec: dataclasses.replace(
            rec,
            state=GroupState(pinned=(Pin("ghcr.io/acme/api", "1.0.5"),)),
            repo_file_problems=(".manifest-bot.yaml:2: pr.mode: set it centrally",),
        ),
    )
    shown = CliRunner().invoke(main, ["status"], env=env_of(settings)).output
    page = create_app(settings=settings).test_client().get("/").get_data(as_text=True)
    for said in (
        "A new routing config was refused",
        "rules[0].imag: unknown key",
        "ghcr.io/acme/api: 1.0.5",
        "pr.mode: set it centrally",
    ):
        assert said in shown, shown
        assert said in page
