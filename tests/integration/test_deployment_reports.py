"""Deployment reports through the running service (issue #26): signed Flux events and Argo CD
notifications rendered from the template docs/setup.md publishes, posted to the Flask app; a real
``manifest-bot worker`` process on Redis; a local git manifest repo whose merged bot PR is told,
once per state, where it runs and how it is."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from bot.app import create_app
from bot.core.events import Delivery, PrClosed
from bot.forges.local.adapter import LocalGitForge
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore
from tests.integration.world import (
    REPO,
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

FLUX_SECRET = "flux-hmac-key"
ARGO_SECRET = "argo-token"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
APP = "registry.example.com/team/app00"
DEV = {"deployments": [{"flux": "Kustomization/flux-system/apps-dev"}, {"argocd": "shop-dev"}]}


@pytest.fixture
def service(
    tmp_path: Path, make_settings, redis_conn: redis.Redis
) -> Iterator[tuple[World, Settings, Workers]]:
    yield from started(tmp_path, make_settings, ("dev",), {"dev": DEV})


@pytest.fixture
def chained(
    tmp_path: Path, make_settings, redis_conn: redis.Redis
) -> Iterator[tuple[World, Settings, Workers]]:
    """dev → staging, promoted by itself once dev is healthy (staging takes no push directly)."""
    chain = {"name": "shop", "environments": ["dev", "staging"], "auto": {"after_healthy": "0s"}}
    environments = {"dev": DEV, "staging": {"promote_only": True}}
    yield from started(tmp_path, make_settings, ("dev", "staging"), environments, [chain])


def started(
    tmp_path: Path,
    make_settings: Any,
    envs: tuple[str, ...],
    environments: dict[str, Any],
    promotion: list[dict[str, Any]] | None = None,
) -> Iterator[tuple[World, Settings, Workers]]:
    world = make_world(tmp_path, images=1, envs=envs)
    config = json.loads(world.config_path.read_text())
    config["environments"] = environments
    config["promotion"] = promotion or []
    world.config_path.write_text(json.dumps(config))
    settings = make_settings(
        config_path=world.config_path,
        webhook_secrets={"generic": (SECRET,), "flux": (FLUX_SECRET,), "argocd": (ARGO_SECRET,)},
        lock_timeout_s=10,
    )
    workers = Workers(worker_env(settings), tmp_path)
    workers.start(1)
    try:
        yield world, settings, workers
    finally:
        workers.stop()


def post(app: Flask, source: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    resp = app.test_client().post(f"/webhooks/{source}", data=body, headers=headers)
    return resp.status_code, resp.get_json()


def flux_event(revision: str, reason: str, at: str, message: str = "", **involved: str) -> bytes:
    data = json.loads((FIXTURES / "flux" / "kustomization.succeeded.json").read_text())
    data["involvedObject"].update(involved)
    data.update(
        severity="error" if reason.endswith("Failed") else "info",
        reason=reason,
        timestamp=at,
        message=message,
    )
    data["metadata"] = {"revision": f"main@sha1:{revision}"}
    return json.dumps(data).encode()


def flux_signed(body: bytes, secret: str = FLUX_SECRET) -> dict[str, str]:
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Signature": f"sha256={sig}",
        "Content-Type": "application/json",
        "gotk-component": "kustomize-controller",
    }


def send_flux(app: Flask, body: bytes) -> dict[str, Any]:
    status, answer = post(app, "flux", body, flux_signed(body))
    assert status in (200, 202), answer
    return answer


def comments(world: World, number: int) -> list[str]:
    return [c["body"] for c in LocalGitForge(world.root).pr_record(REPO, number)["comments"]]


def settled(conn: redis.Redis, settings: Settings, ident: str):  # type: ignore[no-untyped-def]
    store = DeliveryStore(conn, settings)
    return lambda: (
        queues_idle(conn, settings) and (r := store.record(ident)) is not None and r.status == "processed"
    )


def outcome(app: Flask, ident: str) -> dict[str, Any]:
    found = app.test_client().get(f"/api/deliveries/{ident}").get_json()
    assert len(found["outcomes"]) == 1, found
    return found["outcomes"][0]


def merged_pr(app: Flask, world: World, settings: Settings, conn: redis.Redis, workers: Workers) -> str:
    """A push opens the dev PR; a person merges it; the bot hears of it. The merge commit."""
    body = json.dumps({"image": APP, "tag": "1.5.0"}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    status, answer = post(app, "generic", body, {"X-Manifest-Bot-Signature-256": sig})
    assert status == 202, answer
    forge = LocalGitForge(world.root)
    wait_for(
        lambda: len(forge.list_prs(REPO)) == 1 and queues_idle(conn, settings), 60, "the PR", workers.logs
    )
    pr = forge.list_prs(REPO)[0]
    assert forge.merge_pr(REPO, pr.number, "squash", pr.head_sha)
    merge_sha = forge.branch_head(REPO, "main")
    assert merge_sha is not None
    event = PrClosed("local", REPO, pr.number, True, pr.head_branch, "main", "alice", merge_sha)
    ident = f"merge-{secrets.token_hex(4)}"
    DeliveryStore(conn, settings).admit(Delivery(ident, "local", "2026-12-07T09:59:00.000Z", (event,)))
    wait_for(settled(conn, settings, ident), 60, "the merge", workers.logs)
    return merge_sha


def test_a_merged_pr_is_told_once_per_state_where_it_runs_and_how(
    service: tuple[World, Settings, Workers], redis_conn: redis.Redis
) -> None:
    world, settings, workers = service
    app = create_app(settings)
    merge_sha = merged_pr(app, world, settings, redis_conn, workers)
    later = make_world_commit(world)  # the environment runs a later commit containing the merge

    answer = send_flux(app, flux_event(later, "ReconciliationSucceeded", "2026-12-07T10:00:00Z"))
    wait_for(
        lambda: len(comments(world, 1)) == 1 and queues_idle(redis_conn, settings),
        60,
        "the comment",
        workers.logs,
    )
    assert comments(world, 1) == [
        f"✅ deployed to dev — Kustomization flux-system/apps-dev is healthy at main@{later[:7]}"
    ]
    assert "its PRs are told" in outcome(app, answer["delivery"])["reason"]
    # and the merge commit carries the environment's status
    status = LocalGitForge(world.root).statuses(REPO, merge_sha)
    assert status == {"manifest-bot/deploy/dev": {"state": "success", "description": comments(world, 1)[0]}}

    # Flux reports the same state again at its next reconcile: nobody is told twice
    again = send_flux(app, flux_event(later, "ReconciliationSucceeded", "2026-12-07T10:02:00Z"))
    wait_for(settled(redis_conn, settings, again["delivery"]), 60, "the repeat", workers.logs)
    assert len(comments(world, 1)) == 1
    # the same report again is a duplicate; a late older one changes nothing
    assert send_flux(app, flux_event(later, "ReconciliationSucceeded", "2026-12-07T10:00:00Z"))["duplicate"]
    late = send_flux(app, flux_event(merge_sha, "HealthCheckFailed", "2026-12-07T09:59:30Z", "boom"))
    wait_for(settled(redis_conn, settings, late["delivery"]), 60, "the late report", workers.logs)
    assert outcome(app, late["delivery"])["status"] == "superseded"
    assert len(comments(world, 1)) == 1

    # the same revision degrades: one more comment, saying why and how to go back
    failed = send_flux(
        app,
        flux_event(
            later, "HealthCheckFailed", "2026-12-07T10:05:00Z", "timeout waiting for:\n Deployment/web"
        ),
    )
    wait_for(
        lambda: len(comments(world, 1)) == 2 and queues_idle(redis_conn, settings),
        60,
        "the failure",
        workers.logs,
    )
    assert comments(world, 1)[1] == (
        "❌ dev failed — HealthCheckFailed: timeout waiting for: Deployment/web; comment "
        f"`/manifest-bot rollback` to go back (Kustomization flux-system/apps-dev at main@{later[:7]})"
    )
    assert settled(redis_conn, settings, failed["delivery"])()
    status = LocalGitForge(world.root).statuses(REPO, merge_sha)["manifest-bot/deploy/dev"]
    assert status == {"state": "failure", "description": comments(world, 1)[1].partition(" (")[0]}

    # what an operator reads: the environment's revision, the versions it carries, health, since when
    envs = app.test_client().get("/api/groups").get_json()["environments"]
    assert [(e["environment"], e["revision"], e["health"], e["since"], e["versions"]) for e in envs] == [
        ("dev", later, "failed", "2026-12-07T10:05:00Z", [f"{APP}:1.5.0"])
    ]
    page = app.test_client().get("/").get_data(as_text=True)
    assert 'data-environment="dev"' in page and "HealthCheckFailed" in page and f"{APP}:1.5.0" in page


def make_world_commit(world: World) -> str:
    """A person's commit on main after the bot's merge (the cluster runs that)."""
    from tests.integration.world import git

    (world.repo_dir / "README.md").write_text("docs\n")
    git(world.repo_dir, "add", "README.md")
    git(world.repo_dir, "commit", "-q", "-m", "docs")
    return git(world.repo_dir, "rev-parse", "HEAD").strip()


def test_reports_the_bot_cannot_act_on_are_recorded_with_their_reason(
    service: tuple[World, Settings, Workers], redis_conn: redis.Redis
) -> None:
    world, settings, workers = service
    app = create_app(settings)
    merged_pr(app, world, settings, redis_conn, workers)

    unknown = send_flux(
        app, flux_event("ab" * 20, "ReconciliationSucceeded", "2026-12-07T10:00:00Z", name="apps-x")
    )
    never = send_flux(app, flux_event("cd" * 20, "ReconciliationSucceeded", "2026-12-07T10:01:00Z"))
    for answer in (unknown, never):
        wait_for(settled(redis_conn, settings, answer["delivery"]), 60, "the report", workers.logs)
    skipped = outcome(app, unknown["delivery"])
    assert skipped["status"] == "skipped"
    assert "no environment lists flux 'Kustomization/flux-system/apps-x'" in skipped["reason"]
    assert comments(world, 1) == []  # a revision the bot never merged: recorded, nobody told
    envs = app.test_client().get("/api/groups").get_json()["environments"]
    assert [(e["revision"], e["health"], e["versions"]) for e in envs] == [("cd" * 20, "healthy", [])]

    body = flux_event("ab" * 20, "ReconciliationSucceeded", "2026-12-07T10:02:00Z")
    assert post(app, "flux", body, flux_signed(body, "not-the-key"))[0] == 401
    assert post(app, "flux", body, {"Content-Type": "application/json"})[0] == 401
    status, answer = post(
        app,
        "flux",
        b'{"involvedObject": {"kind": "Kustomization"}}',
        flux_signed(b'{"involvedObject": {"kind": "Kustomization"}}'),
    )
    assert status == 400 and "involvedObject.namespace" in json.dumps(answer)


# --- Argo CD: the template docs/setup.md publishes ------------------------------------------------
def published_template() -> tuple[str, str]:
    """The webhook body template and the token header name, as docs/setup.md shows them."""
    text = (ROOT / "docs" / "setup.md").read_text()
    section = text[text.index("### Argo CD (notifications)") :]
    body = re.search(r"body: \|\n((?:          .*\n)+)", section)
    header = re.search(r"- name: (X-Manifest-Bot-Token)\n\s+value: \$manifest-bot-token", section)
    assert body is not None and header is not None
    return body.group(1), header.group(1)


def render(template: str, app: dict[str, Any]) -> bytes:
    """What Argo CD's ``{{ toJson .app.<path> }}`` renders (sprig's toJson; a missing key is null)."""

    def value(match: re.Match[str]) -> str:
        found: Any = {"app": app}
        for part in ["app", *match.group(1).split(".")]:
            found = found.get(part) if isinstance(found, dict) else None
        return json.dumps(found)

    rendered = re.sub(r"\{\{ toJson \.app\.([\w.]+) \}\}", value, template)
    assert "{{" not in rendered, rendered
    return rendered.encode()


def application(revision: str, health: str, phase: str, at: str) -> dict[str, Any]:
    """An Argo CD Application as the notifications controller hands it to templates."""
    return {
        "metadata": {"name": "shop-dev", "namespace": "argocd"},
        "spec": {"source": {"repoURL": "https://example.com/manifests.git", "path": "envs/dev"}},
        "status": {
            "sync": {"status": "Synced", "revision": revision},
            "health": {"status": health},
            "operationState": {
                "phase": phase,
                "message": "successfully synced (all tasks run)",
                "finishedAt": at,
            },
        },
    }


def test_argocd_published_template_round_trips(
    service: tuple[World, Settings, Workers], redis_conn: redis.Redis
) -> None:
    world, settings, workers = service
    app = create_app(settings)
    merge_sha = merged_pr(app, world, settings, redis_conn, workers)
    template, header = published_template()

    body = render(template, application(merge_sha, "Healthy", "Succeeded", "2026-12-07T10:00:00Z"))
    assert post(app, "argocd", body, {header: "wrong", "Content-Type": "application/json"})[0] == 401
    status, answer = post(app, "argocd", body, {header: ARGO_SECRET, "Content-Type": "application/json"})
    assert status == 202, answer
    wait_for(
        lambda: len(comments(world, 1)) == 1 and queues_idle(redis_conn, settings),
        60,
        "the comment",
        workers.logs,
    )
    assert comments(world, 1) == [f"✅ deployed to dev — Application shop-dev is healthy at {merge_sha[:7]}"]

    body = render(template, application(merge_sha, "Degraded", "Succeeded", "2026-12-07T10:03:00Z"))
    status, answer = post(app, "argocd", body, {header: ARGO_SECRET, "Content-Type": "application/json"})
    assert status == 202, answer
    wait_for(
        lambda: len(comments(world, 1)) == 2 and queues_idle(redis_conn, settings),
        60,
        "the failure",
        workers.logs,
    )
    assert comments(world, 1)[1] == (
        "❌ dev failed — HealthDegraded: Application shop-dev is Degraded (sync Synced); comment "
        f"`/manifest-bot rollback` to go back (Application shop-dev at {merge_sha[:7]})"
    )


# --- promotion gated on health ---------------------------------------------------------------------
def open_prs(world: World) -> dict[str, str]:
    """Open PRs: head branch → the image line of the file they change."""
    forge = LocalGitForge(world.root)
    out = {}
    for pr in forge.list_prs(REPO):
        if pr.state == "open":
            env = pr.head_branch.split("/")[1]
            text = forge.read_file(REPO, world.path(env, 0), pr.head_branch).decode()
            out[pr.head_branch] = text.strip().rsplit("image: ", 1)[-1]
    return out


def test_a_healthy_stage_is_promoted_by_itself_and_a_failing_one_waits_saying_why(
    chained: tuple[World, Settings, Workers], redis_conn: redis.Redis
) -> None:
    world, settings, workers = chained
    app = create_app(settings)
    merge_sha = merged_pr(app, world, settings, redis_conn, workers)
    assert open_prs(world) == {}  # staging is promote-only: the push reached dev alone

    failed = send_flux(app, flux_event(merge_sha, "HealthCheckFailed", "2026-12-07T10:00:00Z", "timeout"))
    wait_for(
        lambda: len(comments(world, 1)) == 1 and queues_idle(redis_conn, settings),
        60,
        "the failure",
        workers.logs,
    )
    assert settled(redis_conn, settings, failed["delivery"])()
    (dev,) = app.test_client().get("/api/groups").get_json()["environments"]
    assert dev["promotion"] == "staging waits: dev failed — HealthCheckFailed"
    assert open_prs(world) == {}  # nothing promoted while dev fails

    send_flux(app, flux_event(merge_sha, "ReconciliationSucceeded", "2026-12-07T10:07:00Z"))
    staging = "manifest-bot/staging/staging"
    wait_for(lambda: staging in open_prs(world), 90, "the staging PR", workers.logs)
    assert open_prs(world) == {staging: f"{APP}:1.5.0"}
    wait_for(lambda: queues_idle(redis_conn, settings), 60, "quiet", workers.logs)
    (dev,) = app.test_client().get("/api/groups").get_json()["environments"]
    assert dev["promotion"] == f"promoted to staging: {APP}:1.5.0 (healthy at main@sha1:{merge_sha})"
