"""Failed jobs that a later success resolved, and retrying or dismissing one (issue #17, item 3),
through the running service: signed deliveries → Flask app → Redis → an rq worker (in-process,
burst) → a local git manifest repo whose target branch does not exist yet, so the reconcile fails
for real; then the branch appears. The operator's side: the status page (its buttons are form
posts with a form token), ``manifest-bot jobs retry|dismiss`` and ``manifest-bot status``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from flask import Flask
from pydantic import SecretStr
from rq.registry import FailedJobRegistry

from bot.app import create_app
from bot.cli import main
from bot.deps import Container
from bot.jobs import runtime
from bot.web.access import csrf_token
from tests.engine_support import settle
from tests.integration.world import SECRET, Post, World, git, make_world, open_prs, signed

TOKEN = "status-page-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Service:
    container: Container
    app: Flask
    world: World

    def push(self, delivery: str, tag: str) -> None:
        body, headers = signed(Post(delivery, 0, tag))
        resp = self.app.test_client().post("/webhooks/generic", data=body, headers=headers)
        assert resp.status_code == 202, resp.get_json()
        self.drain()

    def drain(self) -> None:
        settle(self.container)

    def failed(self) -> list[str]:
        return FailedJobRegistry(queue=self.container.dispatch.queue).get_job_ids()

    def page(self) -> str:
        resp = self.app.test_client().get("/", headers=AUTH)
        assert resp.status_code == 200
        return resp.get_data(as_text=True)

    def create_release_branch(self) -> None:
        git(self.world.repo_dir, "branch", "release", "main")


@pytest.fixture
def service(tmp_path: Path, make_settings, redis_conn: redis.Redis) -> Iterator[Service]:
    world = make_world(tmp_path, images=1, envs=("dev",))
    config = json.loads(world.config_path.read_text())
    config["rules"][0]["targets"][0]["branch"] = "release"  # not there yet: the reconcile fails
    world.config_path.write_text(json.dumps(config))
    settings = make_settings(
        config_path=world.config_path,
        webhook_secrets={"generic": (SECRET,)},
        status_token=SecretStr(TOKEN),
    )
    container = Container(settings)
    runtime.install(container)
    try:
        yield Service(container, create_app(container=container), world)
    finally:
        runtime.install(None)


def _row(html: str, job_id: str) -> str:
    found = re.search(
        rf'<tr class="failed-job[^"]*" data-job="{re.escape(job_id)}">.*?</tr>', html, flags=re.S
    )
    assert found, f"no row for {job_id}"
    return found[0]


def test_a_failure_the_group_later_recovered_from_is_shown_resolved_then_dismissed(service: Service) -> None:
    service.push("first", "1.1.0")
    (job_id,) = service.failed()
    html = service.page()
    assert '<strong id="failed-count">1</strong>' in html
    assert "bot.errors.NotFound: manifests: base branch release does not exist" in _row(html, job_id)
    assert "resolved" not in _row(html, job_id)

    service.create_release_branch()
    service.push("second", "1.2.0")
    assert open_prs(service.world) == {"manifest-bot/dev/dev": [1]}
    html = service.page()
    assert '<strong id="failed-count">0</strong>' in html  # nothing left to worry about
    assert re.search(r"resolved: group reconciled successfully at \d{4}-\d\d-\d\d", _row(html, job_id))

    settings = service.container.settings
    env = {"MANIFEST_BOT_REDIS_URL": settings.redis_url, "MANIFEST_BOT_REDIS_PREFIX": settings.redis_prefix}
    shown = CliRunner().invoke(main, ["status"], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"{job_id}: bot.errors.NotFound: manifests: base branch release does not exist" in shown.output
    assert "resolved: group reconciled successfully" in shown.output
    done = CliRunner().invoke(main, ["jobs", "dismiss", job_id], env=env)
    assert done.exit_code == 0 and done.output == f"dismissed {job_id} (reconcile)\n"
    assert service.failed() == []
    assert "No failed jobs." in service.page()
    again = CliRunner().invoke(main, ["jobs", "dismiss", job_id], env=env)
    assert again.exit_code == 1 and f"no failed job '{job_id}'" in again.output


def test_the_pages_retry_button_runs_the_job_again(service: Service) -> None:
    service.push("first", "1.1.0")
    (job_id,) = service.failed()
    service.create_release_branch()
    html = service.page()
    form = re.search(
        rf'<form class="inline" method="post" action="/jobs/{re.escape(job_id)}/retry">'
        r'<input type="hidden" name="csrf" value="([^"]+)">',
        html,
    )
    assert form, "the failed job has a Retry button"
    client = service.app.test_client()
    resp = client.post(f"/jobs/{job_id}/retry", data={"csrf": form[1]}, headers=AUTH)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/#failed")
    assert "form-action 'self'" in resp.headers["Content-Security-Policy"]
    service.drain()
    assert service.failed() == []
    assert open_prs(service.world) == {"manifest-bot/dev/dev": [1]}  # the retry did the work


def test_actions_refuse_forged_stale_and_unauthenticated_posts(service: Service, make_settings) -> None:
    service.push("first", "1.1.0")
    (job_id,) = service.failed()
    settings = service.container.settings
    good = csrf_token(settings)
    client = service.app.test_client()
    cases = [
        ({}, AUTH, 403, "the form is stale"),  # no form token
        ({"csrf": "1.abc"}, AUTH, 403, "the form is stale"),  # a made-up one
        ({"csrf": csrf_token(settings, now=time.time() - 7200)}, AUTH, 403, "the form is stale"),  # 2 h old
        ({"csrf": good}, {**AUTH, "Sec-Fetch-Site": "cross-site"}, 403, "from another site"),
        ({"csrf": good}, {}, 401, "authentication required"),
        ({"csrf": good}, {"Authorization": "Bearer wrong"}, 401, "authentication required"),
    ]
    for data, headers, status, says in cases:
        resp = client.post(f"/jobs/{job_id}/dismiss", data=data, headers=headers)
        assert resp.status_code == status and says in resp.get_data(as_text=True), (data, headers)
    assert service.failed() == [job_id]  # nothing was dismissed
    gone = client.post("/jobs/mbt-not-a-job/dismiss", data={"csrf": good}, headers=AUTH)
    assert gone.status_code == 404
    # without a status token the page has no buttons and the actions are off
    open_app = create_app(make_settings(redis_url=settings.redis_url))
    resp = open_app.test_client().post(f"/jobs/{job_id}/dismiss", data={"csrf": good})
    assert resp.status_code == 403 and "MANIFEST_BOT_STATUS_TOKEN" in resp.get_data(as_text=True)


def test_a_delivery_whose_update_failed_does_not_read_updated(service: Service) -> None:
    """Issue #21: an accepted delivery whose reconcile then failed read "processed · updated"."""
    service.push("first", "1.1.0")
    client = service.app.test_client()
    row = client.get("/api/deliveries/generic-first", headers=AUTH).get_json()
    assert row["verdict"] == "update failed", row
    assert row["reason"].startswith("dev: ") and "base branch release does not exist" in row["reason"]

    service.create_release_branch()
    service.push("second", "1.2.0")  # the group recovers: 1.2.0 is on the branch
    second = client.get("/api/deliveries/generic-second", headers=AUTH).get_json()
    assert second["verdict"] == "updated", second
