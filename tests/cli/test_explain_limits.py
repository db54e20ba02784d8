"""``manifest-bot explain --at --redis`` answers for ``pr.limits`` as the planner and reconcile
would at that moment (issue 25 items 3 and 8): it reads the running bot's Redis (never writes
it) for the repo's open PRs and the hour's openings; without ``--redis`` it says it depends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import redis
from click.testing import CliRunner

from bot.cli import main
from bot.settings import Settings
from bot.store.groups import GroupStore
from bot.store.pr_slots import PrSlots

CONFIG = """\
forges: [{name: local, kind: local, path: /tmp/x}]
defaults:
  pr: {limits: {open: 2, per_hour: 1}}
rules:
  - name: api
    image: ghcr.io/acme/api
    targets: [{forge: local, repo: deploy, group: api, files: [a.yaml]}]
"""
OPENED = datetime(2026, 12, 7, 9, 30, tzinfo=UTC).timestamp()


def explain(tmp_path: Path, *extra: str) -> str:
    path = tmp_path / "bot.yaml"
    path.write_text(CONFIG)
    args = ["explain", "--config", str(path), "--image", "ghcr.io/acme/api", "--tag", "1.2.0", *extra]
    result = CliRunner().invoke(main, args, env={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_explain_at_a_moment_reads_the_bots_prs_for_the_limits(
    tmp_path: Path, settings: Settings, redis_conn: redis.Redis
) -> None:
    groups = GroupStore(redis_conn, settings)
    groups.register("local:deploy:main:web")
    groups.set_fields("local:deploy:main:web", pr_number=7)  # one of the bot's PRs is open ...
    PrSlots(redis_conn, settings).opened(
        "local", "deploy", "local:deploy:main:web", OPENED
    )  # ... since 09:30
    state = ["--redis", settings.redis_url, "--prefix", settings.redis_prefix]
    before = sorted(redis_conn.keys(f"{settings.redis_prefix}:*"))

    soon = explain(tmp_path, *state, "--at", "2026-12-07T10:00:00Z")
    later = explain(tmp_path, *state, "--at", "2026-12-07T10:30:01Z")

    assert (
        "note: at 2026-12-07T10:00:00Z local:deploy:main:api waits to open its PR in deploy until "
        "2026-12-07T10:30:00Z (1 opened in the last hour, pr.limits.per_hour 1; 1st in line)"
    ) in soon
    assert "note: local:deploy:main:api may open its PR at 2026-12-07T10:30:01Z (within pr.limits)" in later
    assert sorted(redis_conn.keys(f"{settings.redis_prefix}:*")) == before  # read, never written


def test_without_redis_explain_says_the_limits_depend_on_the_running_bot(tmp_path: Path) -> None:
    out = explain(tmp_path, "--at", "2026-12-07T10:00:00Z")
    assert "note: local:deploy:main:api opens a PR only within pr.limits" in out
    assert "pass --redis (and --prefix) to ask its Redis" in out
