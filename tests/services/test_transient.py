"""Transient or permanent is decided once: git ref locks, timeouts and Redis errors are retried;
a group's transient error shows on it (status page, PR body) until a reconcile succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from bot.errors import ConfigError, Conflict, ForgeError, RateLimited, Transient
from bot.forges.local.git import GitRepo
from bot.services.reconcile import ReconcileDeps, is_transient, record_transient
from bot.settings import Settings
from tests.forges.local_fixture import git, seed_repo


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (Transient("502"), True),
        (RateLimited("slow down", retry_after=3), True),
        (Conflict("branch moved"), True),
        (redis.ConnectionError("gone"), True),
        (TimeoutError(), True),
        (ConfigError("bad rule"), False),
        (ForgeError("git failed"), False),
        (TypeError("a bug"), False),
    ],
)
def test_one_answer_to_retry_this(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_a_held_ref_lock_is_transient_not_permanent(tmp_path: Path) -> None:
    repo = seed_repo(tmp_path, "manifests", {"a.yaml": "x: 1\n"})
    head = git(repo, "rev-parse", "main")
    (repo / "refs" / "heads" / "bot.lock").write_text("held by another git process\n")
    gitrepo = GitRepo(repo, ("bot", "bot@example.com"))
    with pytest.raises(Transient, match="lock"):
        gitrepo.cas_ref("bot", head, None)


def test_a_transient_error_is_shown_on_the_group(settings: Settings, redis_conn: redis.Redis) -> None:
    deps = ReconcileDeps(settings, redis_conn, forge_for=lambda _name: None)  # type: ignore[arg-type, return-value]
    group = "local:manifests:main:dev"
    record_transient(deps, group, Transient("git update-ref: a lock is held"), retry_in_s=41.6)
    error = deps.groups.get(group).state.last_error
    assert error == "git update-ref: a lock is held (temporary: trying again in 42 s)"
