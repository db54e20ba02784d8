"""Deployment reports on GitHub (issue #26, item 4): the real GitHub adapter against the stateful
fake (every request and answer validated by tests/contracts against octokit's OpenAPI): a merged
PR the reported revision contains gets one comment and a commit status on its merge commit, for
one read and two writes; a revision GitHub does not have tells nobody."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import redis

from bot.core.events import DeploymentReported
from bot.services.deployments import tell
from bot.services.lifecycle import sync_group
from bot.settings import Settings
from bot.store.deployments import DeploymentStore, MergedPr
from tests.services.lifecycle_fixture import REPO
from tests.services.lifecycle_worlds import FakeWorld, make_world


def report(revision: str, health: str, at: str) -> DeploymentReported:
    reason = "ReconciliationSucceeded" if health == "healthy" else "HealthCheckFailed"
    obj = "Kustomization/flux-system/apps-prod"
    return DeploymentReported(
        "flux", obj, revision, f"main@sha1:{revision}", health, reason, "pods crash", at
    )


def test_a_merged_github_pr_gets_its_comment_and_commit_status(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    store = DeploymentStore(redis_conn, make_settings())
    with make_world("github", tmp_path) as world:
        assert isinstance(world, FakeWorld)
        opened = sync_group(world.forge, [world.intent()])
        assert opened.pr is not None
        merge_sha = world.human_commit("main", {"apps/api.yaml": "merged\n"})  # the PR's squash commit
        later = world.human_commit("main", {"README.md": "later\n"})
        group = "github:acme/deploy:main:prod"
        store.merged(
            "prod", MergedPr(group, "github", REPO, opened.pr.number, merge_sha, 1.0, None, ("api:1.1.0",))
        )
        before = len(world.rsps.calls)

        done = tell(
            store, lambda _n: world.forge, "prod", report(later, "healthy", "2026-12-07T10:00:00Z"), "/mb"
        )

        calls = [(c.request.method, c.request.path_url.split("?")[0]) for c in world.rsps.calls[before:]]
        assert done.told == [opened.pr.number]
        assert calls == [
            ("GET", f"/repos/{REPO}/compare/{later}...{merge_sha}"),
            ("POST", f"/repos/{REPO}/issues/{opened.pr.number}/comments"),
            ("POST", f"/repos/{REPO}/statuses/{merge_sha}"),
        ]
        text = f"✅ deployed to prod — Kustomization flux-system/apps-prod is healthy at main@{later[:7]}"
        assert [c.body for c in world.git.prs[opened.pr.number].comments][-1] == text
        status = world.fake.statuses[merge_sha]["manifest-bot/deploy/prod"]  # type: ignore[union-attr]
        assert (status["state"], status["description"]) == ("success", text)

        failed = tell(
            store, lambda _n: world.forge, "prod", report(later, "failed", "2026-12-07T10:05:00Z"), "/mb"
        )
        assert failed.told == [opened.pr.number]
        status = world.fake.statuses[merge_sha]["manifest-bot/deploy/prod"]  # type: ignore[union-attr]
        assert status["state"] == "failure"
        assert status["description"].startswith("❌ prod failed — HealthCheckFailed: pods crash")

        stranger = tell(
            store, lambda _n: world.forge, "prod", report("f" * 40, "healthy", "2026-12-07T11:00:00Z"), "/mb"
        )
        assert (stranger.looked_at, stranger.told) == (1, [])


def test_a_merged_gitlab_mr_gets_its_comment_and_commit_status(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    """GitLab's commit status (``POST statuses/:sha``, its ``failed`` for GitHub's ``failure``)."""
    store = DeploymentStore(redis_conn, make_settings())
    with make_world("gitlab", tmp_path) as world:
        assert isinstance(world, FakeWorld)
        opened = sync_group(world.forge, [world.intent()])
        assert opened.pr is not None
        merge_sha = world.human_commit("main", {"apps/api.yaml": "merged\n"})
        later = world.human_commit("main", {"README.md": "later\n"})
        group = "gitlab:acme/deploy:main:prod"
        store.merged(
            "prod", MergedPr(group, "gitlab", REPO, opened.pr.number, merge_sha, 1.0, None, ("api:1.1.0",))
        )

        done = tell(
            store, lambda _n: world.forge, "prod", report(later, "healthy", "2026-12-07T10:00:00Z"), "/mb"
        )
        assert done.told == [opened.pr.number]
        status = world.fake.statuses[merge_sha]["manifest-bot/deploy/prod"]  # type: ignore[union-attr]
        assert status["status"] == "success" and status["description"].startswith("✅ deployed to prod")

        tell(store, lambda _n: world.forge, "prod", report(later, "failed", "2026-12-07T10:05:00Z"), "/mb")
        status = world.fake.statuses[merge_sha]["manifest-bot/deploy/prod"]  # type: ignore[union-attr]
        assert status["status"] == "failed"
