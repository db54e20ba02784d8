"""GitLab disables a hook that keeps failing and nothing reaches us: the periodic recovery reads each
configured project's hooks (``GET /projects/:id/hooks``, shaped as docs.gitlab.com/api/project_webhooks
shows them) and reports a disabled or failing one on the status page and in metrics."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import responses
from responses import matchers

from bot import metrics
from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.periodic import run_task
from bot.settings import Settings
from bot.store.recovery import RecoveryStore
from tests.web.conftest import status_app

GL = "https://gitlab.example.com"
PROJECTS = ("acme/deploy", "acme/infra", "acme/prod")


def hook(ident: int, url: str, status: str = "executable", until: str | None = None) -> dict[str, Any]:
    """One project webhook as "List webhooks for a project" answers it."""
    return {
        "id": ident,
        "url": url,
        "name": "manifest-bot",
        "description": "",
        "project_id": 3,
        "push_events": True,
        "push_events_branch_filter": "",
        "issues_events": False,
        "confidential_issues_events": False,
        "merge_requests_events": True,
        "tag_push_events": False,
        "note_events": True,
        "confidential_note_events": False,
        "job_events": False,
        "pipeline_events": True,
        "wiki_page_events": False,
        "deployment_events": False,
        "releases_events": False,
        "milestone_events": False,
        "feature_flag_events": False,
        "enable_ssl_verification": True,
        "repository_update_events": False,
        "alert_status": status,
        "disabled_until": until,
        "url_variables": [],
        "created_at": "2024-05-01T10:00:00Z",
        "resource_access_token_events": False,
        "custom_webhook_template": "",
        "custom_headers": [],
    }


@pytest.fixture
def container(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, tmp_path: Path
) -> Iterator[Container]:
    targets = [{"forge": "gl", "repo": p, "environment": "dev", "files": ["a.yaml"]} for p in PROJECTS]
    config = {
        "version": 1,
        "forges": [{"name": "gl", "kind": "gitlab", "url": GL, "token": "setting:gitlab_token"}],
        "rules": [{"name": "web", "image": "registry.example.com/web", "targets": targets}],
    }
    path = tmp_path / "routing.yaml"
    path.write_text(json.dumps(config))
    built = Container(make_settings(config_path=path, gitlab_token="glpat-secret", recovery_max_projects=2))
    built.__dict__["redis"] = redis_conn
    runtime.install(built)
    yield built
    runtime.install(None)


def _hooks(rsps: responses.RequestsMock, project: str, **kwargs: Any) -> None:
    url = f"{GL}/api/v4/projects/{project.replace('/', '%2F')}/hooks"
    rsps.get(url, match=[matchers.query_param_matcher({"per_page": "100"})], **kwargs)


def test_disabled_and_failing_hooks_are_reported_and_projects_checked_in_turn(container: Container) -> None:
    ours = "https://bot.example.com/webhooks/gitlab"
    with responses.RequestsMock() as rsps:
        _hooks(
            rsps, "acme/deploy", json=[hook(1, "https://chat.example.com/hook"), hook(2, ours, "disabled")]
        )
        _hooks(rsps, "acme/infra", json=[hook(3, ours, "temporarily_disabled", "2024-05-01T11:00:00.000Z")])
        first = run_task("webhook-recovery")
    with responses.RequestsMock() as rsps:  # the next run: the next project, then round again
        _hooks(rsps, "acme/prod", status=403, json={"message": "403 Forbidden"})
        _hooks(rsps, "acme/deploy", json=[hook(2, ours)])  # someone re-enabled it
        second = run_task("webhook-recovery")

    assert (first["gitlab_disabled"], first["gitlab_failing"]) == (1, 1)
    assert (second["gitlab_unknown"], second["gitlab_ok"]) == (1, 1)
    health = {h.project: h for h in RecoveryStore(container.redis, container.settings).gitlab_health()}
    assert health["acme/infra"].state == "failing" and "2024-05-01T11:00" in health["acme/infra"].detail
    assert health["acme/prod"].state == "unknown" and "Maintainer" in health["acme/prod"].detail
    assert health["acme/deploy"].state == "ok"
    gauge = metrics.REGISTRY.get_sample_value
    assert gauge("manifest_bot_webhook_healthy", {"forge": "gl", "project": "acme/infra"}) == 0
    assert gauge("manifest_bot_webhook_healthy", {"forge": "gl", "project": "acme/deploy"}) == 1

    page = status_app(container.settings, container.redis).test_client().get("/").get_data(as_text=True)
    infra = page[page.index('data-scope="acme/infra"') :].split("</tr>")[0]
    assert ">failing<" in infra and "until 2024-05-01T11:00" in infra
    assert "webhook-recovery" in page  # the periodic runs are listed


def test_a_project_without_a_hook_to_us_is_reported_missing(container: Container) -> None:
    with responses.RequestsMock() as rsps:
        _hooks(rsps, "acme/deploy", json=[hook(1, "https://chat.example.com/hook")])
        _hooks(rsps, "acme/infra", json=[])
        result = run_task("webhook-recovery")
    assert result["gitlab_missing"] == 2


def test_a_gitlab_forge_without_a_token_is_reported_not_fatal(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, tmp_path: Path
) -> None:
    config = {
        "version": 1,
        "forges": [{"name": "gl", "kind": "gitlab", "url": GL, "token": "setting:gitlab_token"}],
        "rules": [
            {"name": "w", "image": "registry.example.com/w", "targets": [{"forge": "gl", "repo": "a/b"}]}
        ],
    }
    path = tmp_path / "routing.yaml"
    path.write_text(json.dumps(config))
    built = Container(make_settings(config_path=path))  # MANIFEST_BOT_GITLAB_TOKEN unset
    built.__dict__["redis"] = redis_conn
    runtime.install(built)
    try:
        with responses.RequestsMock():  # nothing may be sent
            result = run_task("webhook-recovery")
    finally:
        runtime.install(None)
    assert result["gitlab_errors"] == 1
