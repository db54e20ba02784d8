"""The running service on real parts for the config tests: a local git manifest repo, a routing
config file, the Flask app taking signed generic deliveries, real ``manifest-bot worker``
processes on the test's Redis prefix, and what a person sees (PRs, comments, the status page)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from flask import Flask

from bot.app import create_app
from bot.core.ports import PullRequest
from bot.forges.local.adapter import LocalGitForge
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore
from tests.forges.local_fixture import human_commit, seed_repo
from tests.integration.world import SECRET, Workers, queue_report, queues_idle, wait_for, worker_env

REPO = "acme/deploy"
WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
IMAGE = "registry.example.com/shop/api"
API = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n" + (
    f"        - name: api\n          image: {IMAGE}:1.0.0\n"
)


@dataclass
class Service:
    root: Path  # the local forge's directory
    config_path: Path
    settings: Settings
    conn: redis.Redis
    app: Flask
    workers: Workers
    stamp: int = 1_700_000_000_000_000_000
    delivered: list[str] = field(default_factory=list)

    @property
    def forge(self) -> LocalGitForge:
        return LocalGitForge(self.root)

    # --- what the operator does -----------------------------------------------------------------
    def write_config(self, text: str) -> None:
        """Replace the routing config file (with a new mtime, whatever the clock granularity)."""
        self.config_path.write_text(text)
        self.stamp += 1_000_000_000
        os.utime(self.config_path, ns=(self.stamp, self.stamp))

    def sighup(self) -> None:
        for proc in self.workers.procs:
            os.kill(proc.pid, signal.SIGHUP)

    def commit(self, files: dict[str, str | None], who: str = "Alice") -> str:
        return human_commit(self.forge, REPO, "main", files, who=who)

    # --- what the registry does ---------------------------------------------------------------------
    def push(self, image: str, tag: str) -> str:
        """A signed generic registry webhook through the Flask app; returns the delivery id."""
        body = json.dumps({"image": image, "tag": tag}).encode()
        delivery = uuid.uuid4().hex
        headers = {
            "Content-Type": "application/json",
            "X-Manifest-Bot-Signature-256": "sha256="
            + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
            "X-Manifest-Bot-Delivery": delivery,
        }
        resp = self.app.test_client().post("/webhooks/generic", data=body, headers=headers)
        assert resp.status_code == 202, resp.get_data(as_text=True)
        self.delivered.append(f"generic-{delivery}")
        return f"generic-{delivery}"

    def pipeline(self, repo: str, sha: str, jobs: dict[str, str], *, name: str = "build") -> str:
        """A GitLab Pipeline Hook (shaped as GitLab's own example) for a finished pipeline of
        ``repo`` at ``sha`` whose jobs ended as ``jobs`` says; returns the delivery id."""
        payload = json.loads((WEBHOOKS / "gitlab" / "pipeline.success.json").read_text())
        payload["project"]["path_with_namespace"] = repo
        payload["object_attributes"].update(sha=sha, name=name, ref="main", tag=False)
        template = payload["builds"][0]
        payload["builds"] = [
            {**template, "id": 1000 + i, "name": job, "status": status}
            for i, (job, status) in enumerate(jobs.items())
        ]
        delivery = uuid.uuid4().hex
        headers = {
            "Content-Type": "application/json",
            "X-Gitlab-Event": "Pipeline Hook",
            "X-Gitlab-Token": SECRET,
            "X-Gitlab-Event-UUID": delivery,
        }
        resp = self.app.test_client().post("/webhooks/gitlab", data=json.dumps(payload), headers=headers)
        assert resp.status_code == 202, resp.get_data(as_text=True)
        self.delivered.append(resp.get_json()["delivery"])
        return self.delivered[-1]

    # --- what a person sees -------------------------------------------------------------------------
    def prs(self) -> list[PullRequest]:
        return [p for p in self.forge.list_prs(REPO) if p.state == "open"]

    def pr_record(self, number: int) -> dict[str, Any]:
        return self.forge.pr_record(REPO, number)

    def comments(self, number: int) -> list[str]:
        return [c["body"] for c in self.pr_record(number).get("comments", [])]

    def status_page(self) -> str:
        return self.app.test_client().get("/").get_data(as_text=True)

    # --- waiting ----------------------------------------------------------------------------------------
    def settled(self) -> bool:
        """Every delivery processed and no job queued, running or scheduled."""
        store = DeliveryStore(self.conn, self.settings)
        done = all((r := store.record(d)) is not None and r.status == "processed" for d in self.delivered)
        return done and queues_idle(self.conn, self.settings)

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
        wait_for(predicate, timeout, what, self.describe)

    def wait_settled(self, timeout: float = 60) -> None:
        self.wait(self.settled, "every delivery processed and the queues idle", timeout)

    def describe(self) -> str:
        prs = [(p.number, p.title, p.labels) for p in self.prs()]
        return f"queues={queue_report(self.conn, self.settings)} prs={prs}\n{self.workers.logs()}"


def start_service(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    conn: redis.Redis,
    config: Callable[[Path], str],
    *,
    workers: int = 1,
    files: dict[str, str] | None = None,
) -> Iterator[Service]:
    """The service on a fresh manifest repo (``files``, default the dev api manifest) with the
    config ``config(root)``; stopped afterwards."""
    root = tmp_path / "git"
    seed_repo(root, REPO, files or {"envs/dev/api.yaml": API, "README.md": "manifests\n"})
    config_path = tmp_path / "routing.yaml"
    config_path.write_text(config(root))
    settings = make_settings(
        config_path=config_path,
        webhook_secrets={"generic": (SECRET,), "gitlab": (SECRET,)},
        lock_timeout_s=10,
        retry_base_s=1.0,
        log_level="INFO",
    )
    env = worker_env(settings, {"MANIFEST_BOT_LOG_LEVEL": "INFO"})
    service = Service(
        root, config_path, settings, conn, create_app(settings=settings), Workers(env, tmp_path)
    )
    if workers:
        service.workers.start(workers)
    try:
        yield service
    finally:
        service.workers.stop()
