"""Why nothing happened (issue #17, item 3), through the running service: signed deliveries posted
to the Flask app, a real ``manifest-bot worker`` process on Redis, a local git manifest repo. Each
delivery's outcome per image and target, with its reason, is then read the ways an operator reads
it: ``GET /api/deliveries/<id>``, the status page, the worker's JSON log and
``manifest-bot status --delivery``."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from bot.app import create_app
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore
from bot.store.groups import GroupStore
from tests.integration.world import (
    ROOT,
    SECRET,
    Workers,
    World,
    make_world,
    queues_idle,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.slow

GITHUB_SECRET = "outcomes-github-secret"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
APP = "registry.example.com/team/app00"


def post_generic(app: Flask, delivery: str, image: str, tag: str) -> None:
    body = json.dumps({"image": image, "tag": tag}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Manifest-Bot-Signature-256": sig, "X-Manifest-Bot-Delivery": delivery}
    resp = app.test_client().post("/webhooks/generic", data=body, headers=headers)
    assert resp.status_code == 202, resp.get_json()


def post_failed_ci(app: Flask, delivery: str) -> None:
    payload = json.loads((FIXTURES / "github" / "workflow_run.completed.json").read_text())
    payload = copy.deepcopy(payload)
    payload["workflow_run"]["conclusion"] = "failure"
    body = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig}
    resp = app.test_client().post("/webhooks/github", data=body, headers=headers)
    assert resp.status_code == 202, resp.get_json()


@pytest.fixture
def service(
    tmp_path: Path, make_settings, redis_conn: redis.Redis
) -> Iterator[tuple[World, Settings, Workers]]:
    world = make_world(tmp_path, images=1, envs=("dev",))
    settings = make_settings(
        config_path=world.config_path,
        webhook_secrets={"generic": (SECRET,), "github": (GITHUB_SECRET,)},
        lock_timeout_s=10,
    )
    env = worker_env(settings, {"MANIFEST_BOT_LOG_JSON": "true", "MANIFEST_BOT_LOG_LEVEL": "INFO"})
    workers = Workers(env, tmp_path)
    workers.start(1)
    try:
        yield world, settings, workers
    finally:
        workers.stop()


def processed(conn: redis.Redis, settings: Settings, ids: list[str]):  # type: ignore[no-untyped-def]
    store = DeliveryStore(conn, settings)
    return lambda: (
        queues_idle(conn, settings)
        and all((r := store.record(i)) is not None and r.status == "processed" for i in ids)
    )


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.chunks.append(" ".join(data.split()))


def visible(html: str) -> str:
    parser = Text()
    parser.feed(html)
    return " ".join(parser.chunks)


def outcomes_of(app: Flask, delivery_id: str) -> dict[str, Any]:
    resp = app.test_client().get(f"/api/deliveries/{delivery_id}")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_every_delivery_says_what_became_of_each_image_and_why(
    service: tuple[World, Settings, Workers], redis_conn: redis.Redis
) -> None:
    _world, settings, workers = service
    app = create_app(settings)
    post_generic(app, "new", APP, "1.5.0")
    wait_for(processed(redis_conn, settings, ["generic-new"]), 60, "the first delivery", workers.logs)
    post_generic(app, "rc", APP, "1.6.0-rc.1")
    post_generic(app, "old", APP, "1.4.0")
    post_generic(app, "unrouted", "registry.example.com/x", "2.0.0")
    post_failed_ci(app, "ci-failed")
    ids = ["generic-rc", "generic-old", "generic-unrouted", "github-ci-failed"]
    wait_for(processed(redis_conn, settings, ids), 60, "the deliveries", workers.logs)

    group = "local:manifests:main:dev"
    new = outcomes_of(app, "generic-new")
    assert new["verdict"] == "updated"
    ((accepted,),) = [new["outcomes"]]
    assert accepted["status"] == "accepted" and accepted["image"] == APP and accepted["tag"] == "1.5.0"
    assert accepted["reason"] == "goes into the PR of group `dev`"
    assert accepted["group"] == group and accepted["pr_number"] == 1  # the PR that carries it
    # the reconcile recorded the PR's page; a local forge's is no web page, so it is not linked
    assert GroupStore(redis_conn, settings).get(group).pr_url.endswith("/pulls/1")  # type: ignore[union-attr]
    assert accepted["pr_url"] == ""

    expected = {
        "generic-rc": ("skipped", "tag '1.6.0-rc.1' is a prerelease and prereleases are off"),
        "generic-old": ("superseded", "superseded by 1.5.0"),
        "generic-unrouted": ("skipped", "no rule routes registry.example.com/x"),
        "github-ci-failed": (
            "skipped",
            "CI run for octo-org/octo-repo@3484a3f failed (status 'failure'); nothing to update",
        ),
    }
    for delivery_id, (status, reason) in expected.items():
        record = outcomes_of(app, delivery_id)
        assert record["outcome"] == "processed" and record["verdict"] == "nothing to do", record
        assert [(o["status"], o["reason"]) for o in record["outcomes"]] == [(status, reason)], record
        assert reason in record["reason"]  # the one-line summary says it too

    # the status page: the verdict, and the "why" under each delivery with the PR it went to
    text = visible(app.test_client().get("/").get_data(as_text=True))
    assert "nothing to do" in text and "superseded by 1.5.0" in text
    assert "no rule routes registry.example.com/x" in text
    assert f"accepted {APP}:1.5.0 in dev : goes into the PR of group `dev` · PR #1" in text

    # the worker's log: one JSON line per delivery with its verdict and outcomes
    log = (workers.logdir / "worker0.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    consumer = [r for r in lines if r.get("logger") == "bot.jobs.consumer" and "outcomes" in r]
    logged = {r["delivery_id"]: r for r in consumer}
    assert logged["generic-unrouted"]["msg"] == (
        "delivery nothing to do: registry.example.com/x 2.0.0: no rule routes registry.example.com/x"
    )
    assert logged["generic-old"]["outcomes"] == [
        {
            "status": "superseded",
            "reason": "superseded by 1.5.0",
            "image": APP,
            "tag": "1.4.0",
            "group": group,
        }
    ]

    # the CLI, reading the same Redis with the usual settings
    env = {**worker_env(settings), "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-c", "from bot.cli import main; main()", "status", "--delivery", "generic-rc"]
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "[processed · nothing to do]" in done.stdout
    assert "skipped    registry.example.com/team/app00:1.6.0-rc.1" in done.stdout
    assert "tag '1.6.0-rc.1' is a prerelease and prereleases are off" in done.stdout


def test_the_api_is_bounded_and_behind_the_status_token(make_settings, redis_conn: redis.Redis) -> None:
    from pydantic import SecretStr

    app = create_app(make_settings(status_token=SecretStr("api-token")))
    client = app.test_client()
    for path in ("/api/deliveries", "/api/deliveries/x", "/api/groups"):
        refused = client.get(path)
        assert refused.status_code == 401 and refused.get_json() == {"error": "authentication required"}
    auth = {"Authorization": "Bearer api-token"}
    assert client.get("/api/deliveries?limit=200", headers=auth).status_code == 200
    for bad in ("0", "201", "ten", "-1"):
        resp = client.get(f"/api/deliveries?limit={bad}", headers=auth)
        assert resp.status_code == 400 and "limit must be" in resp.get_json()["error"], bad
    assert client.get("/api/deliveries/" + "x" * 5000, headers=auth).status_code == 404
    assert client.get("/api/groups", headers=auth).get_json() == {"groups": [], "environments": []}


def newest(app: Flask) -> dict[str, Any]:
    (record,) = app.test_client().get("/api/deliveries?limit=1").get_json()["deliveries"]
    return record


def test_a_pinned_or_held_group_says_so_on_each_new_version(
    tmp_path: Path, make_settings, redis_conn
) -> None:
    """Chat-ops pins and holds, then registry pushes arrive: each push's outcome names the pin and
    who set it, or the hold (comments and pushes through the app; an rq worker in-process)."""
    from tests.integration.test_chatops_e2e import Chat, e2e_settings
    from tests.services.chatops_fixture import make_world as chat_world

    for world in chat_world(tmp_path, e2e_settings(make_settings), forge_name="github"):
        chat = Chat(world)
        chat.push("1.1.0")
        number = world.open_pr("dev").number
        chat.say(number, "/manifest-bot pin 1.1.0", author="alice")
        chat.push("1.2.0")
        record = newest(chat.app)
        assert record["verdict"] == "pinned"
        assert [(o["status"], o["tag"], o["reason"]) for o in record["outcomes"]] == [
            ("pinned", "1.2.0", "pinned at 1.1.0 by @alice (`unpin` on its PR releases it)")
        ]
        assert world.tag_on(world.branch("dev"), "dev") == "1.1.0"
        chat.say(number, "/manifest-bot unpin\n/manifest-bot hold", author="alice")
        chat.push("1.3.0")
        record = newest(chat.app)
        assert record["verdict"] == "held"
        assert (
            record["outcomes"][0]["reason"]
            == "held: group `dev` is on hold (`unhold` on its PR resumes updates)"
        )
        assert record["outcomes"][0]["pr_number"] == number
