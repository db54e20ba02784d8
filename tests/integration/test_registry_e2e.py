"""Registry truth end to end on real pieces: the web app on a real port, ``manifest-bot worker``
processes, Redis, a local git manifest repo and a CNCF Distribution registry (docker-registry,
pushes by skopeo) delivering its own notifications.

- push → the registry's notification → a PR pinned to the digest the registry answered;
- CI finished for a tag not pushed yet → the group waits (status page) → push → the PR;
- the notification is dropped → polling opens the PR within one interval (plus a worker tick);
- wrong registry credentials → a clear error on the group, nothing written.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from bot.demo import payloads
from bot.demo.runtime import web_server
from bot.deps import Container
from bot.forges.local.adapter import LocalGitForge
from bot.jobs.engine import TICK_S
from bot.settings import Settings
from tests.integration.world import Workers, git, queues_idle, wait_for, worker_env
from tests.registry.fixtures import require_tools
from tests.registry.support import LocalRegistry, TokenIssuer, run_registry

pytestmark = pytest.mark.slow
REPO = "deploy"
FILE = "apps/app.yaml"
SECRETS = {"distribution": "dist-token", "github": "gh-secret", "generic": "generic-secret"}
#: every worker's engine ticks the periodic leader this often (what is due is taken then)
IDLE_TICK_S = TICK_S
POLL_S = 2.0


@dataclass
class Stack:
    root: Path
    settings: Settings
    base_url: str = ""
    registry: LocalRegistry | None = None
    workers: Workers | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def image(self) -> str:
        assert self.registry is not None
        return self.registry.image("acme/app")

    def write_world(self, rule: str) -> None:
        """The manifest repo (the app at 1.0.0) and a routing config with ``rule``'s extra keys."""
        repo = self.root / "git" / REPO
        (repo / "apps").mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "config", "user.name", "seed")
        git(repo, "config", "user.email", "seed@example.com")
        (repo / FILE).write_text(f"kind: Deployment\nspec:\n  containers:\n    - image: {self.image}:1.0.0\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "seed")
        config = (
            f"forges: [{{name: local, kind: local, path: {self.root / 'git'}}}]\n"
            "rules:\n"
            f"  - name: app\n{rule}"
            f"    targets: [{{forge: local, repo: {REPO}, environment: dev, files: [{FILE}]}}]\n"
        )
        assert self.settings.config_path is not None
        self.settings.config_path.write_text(config)

    def start_workers(self, **env: str) -> None:
        self.workers = Workers(worker_env(self.settings, {**self.extra_env, **env}), self.root)
        self.workers.start(1)

    def pr_file(self) -> str | None:
        """The manifest on the bot's branch, once its PR is open."""
        forge = LocalGitForge(self.root / "git")
        prs = [p for p in forge.list_prs(REPO) if p.state == "open"]
        if not prs:
            return None
        return git(self.root / "git" / REPO, "show", f"{prs[0].head_branch}:{FILE}")

    def status_page(self) -> str:
        with urllib.request.urlopen(f"{self.base_url}/", timeout=10) as resp:
            return resp.read().decode()

    def logs(self) -> str:
        return self.workers.logs() if self.workers else ""


@pytest.fixture
def stack(tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis) -> Iterator[Stack]:
    require_tools()
    settings = make_settings(
        config_path=tmp_path / "routing.yaml",
        webhook_secrets={k: (SecretStr(v),) for k, v in SECRETS.items()},
        registry_retry_s=0.5,
        registry_wait_s=120,
    )
    built = Stack(tmp_path, settings)
    web = Container(settings)
    web.__dict__["redis"] = redis_conn
    with ExitStack() as cleanup:
        built.base_url = cleanup.enter_context(web_server(web))
        yield built
        if built.workers is not None:
            built.workers.stop()


def post(stack: Stack, delivery: payloads.Post) -> dict[str, object]:
    request = urllib.request.Request(
        f"{stack.base_url}/webhooks/{delivery.source}",
        data=delivery.body,
        headers={"Content-Type": "application/json", **delivery.headers},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 202
        return json.loads(resp.read())


def notified(stack: Stack) -> dict[str, str]:
    return {"X-Manifest-Bot-Token": SECRETS["distribution"]}


def test_a_push_notified_by_the_registry_opens_a_pr_pinned_to_its_digest(stack: Stack) -> None:
    notify = f"{stack.base_url}/webhooks/distribution"
    with run_registry(stack.root / "registry", notify_url=notify, notify_headers=notified(stack)) as registry:
        stack.registry = registry
        stack.write_world(f"    image: {stack.image}\n    policy: {{pin: tag+digest}}\n")
        stack.start_workers()

        digest = registry.push("acme/app", "1.1.0")  # the registry POSTs its own notification

        expected = f"image: {stack.image}:1.1.0@{digest}"
        wait_for(lambda: expected in (stack.pr_file() or ""), 60, "the PR pinned to the digest", stack.logs)


def test_ci_finished_before_its_push_waits_and_the_push_opens_the_pr(stack: Stack) -> None:
    with run_registry(stack.root / "registry") as registry:  # no notification: the wait alone must do it
        stack.registry = registry
        rule = f"    ci: {{repo: acme/app, image: {stack.image}, tag: 'run-{{run_number}}'}}\n"
        stack.write_world(rule)
        stack.start_workers()

        run = payloads.workflow_run(
            SECRETS["github"], "acme/app", run_number=7, sha="7" * 40, conclusion="success"
        )
        post(stack, run)

        waiting = f"waiting for {stack.image}:run-7 in {registry.host}"
        wait_for(
            lambda: waiting in stack.status_page(), 60, "the group to show what it waits for", stack.logs
        )
        assert stack.pr_file() is None  # nothing written for a tag the registry does not have
        registry.push("acme/app", "run-7")

        wait_for(
            lambda: f"{stack.image}:run-7" in (stack.pr_file() or ""), 60, "the PR after the push", stack.logs
        )
        assert waiting not in stack.status_page()


def test_a_dropped_notification_is_caught_by_polling_within_one_interval(
    stack: Stack, redis_conn: redis.Redis
) -> None:
    with run_registry(stack.root / "registry") as registry:  # it notifies nobody: every webhook is lost
        stack.registry = registry
        registry.push("acme/app", "1.0.0")
        stack.write_world(f"    image: {stack.image}\n    poll: 1m\n")
        stack.start_workers(MANIFEST_BOT_POLL_INTERVAL_S=str(POLL_S))
        signatures = stack.settings.key("polls", "signatures")  # what each image's last poll found
        first = "the first poll (it finds 1.0.0)"
        wait_for(lambda: redis_conn.hexists(signatures, stack.image), 60, first, stack.logs)

        registry.push("acme/app", "1.2.0")  # its notification never comes
        pushed_at = time.monotonic()

        bound = POLL_S + IDLE_TICK_S + 10  # one interval, the worker's tick, the reconcile itself
        wait_for(
            lambda: f"{stack.image}:1.2.0" in (stack.pr_file() or ""),
            bound,
            "polling to open the PR",
            stack.logs,
        )
        assert time.monotonic() - pushed_at <= bound
        print(f"caught by polling {time.monotonic() - pushed_at:.1f} s after the push")


def test_a_poll_applies_the_manifest_repos_own_file_as_an_event_would(
    stack: Stack, redis_conn: redis.Redis
) -> None:
    """issue 21, item 3: the repo's ``.manifest-bot.yaml`` ignores 1.2.0; a poll finds 1.1.0 and
    1.2.0 and writes 1.1.0, as a pushed event of 1.2.0 would be skipped."""
    with run_registry(stack.root / "registry") as registry:
        stack.registry = registry
        for tag in ("1.0.0", "1.1.0", "1.2.0"):
            registry.push("acme/app", tag)
        stack.write_world(f"    image: {stack.image}\n    poll: 1m\n")
        assert stack.settings.config_path is not None
        with stack.settings.config_path.open("a") as config:
            config.write("repo_files: {allow: [policy.ignore]}\n")
        repo = stack.root / "git" / REPO
        (repo / ".manifest-bot.yaml").write_text('policy: {ignore: ["1.2.0"]}\n')
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "the repo ignores 1.2.0")
        stack.start_workers(MANIFEST_BOT_POLL_INTERVAL_S=str(POLL_S))
        wait_for(lambda: stack.pr_file() is not None, POLL_S + IDLE_TICK_S + 30, "the poll's PR", stack.logs)
        assert f"{stack.image}:1.1.0" in (stack.pr_file() or "")

        # the poll left a record that reads like a delivery's: what it found, what it did, where
        [found] = poll_records(stack)
        assert found["outcome"] == "processed" and found["verdict"] == "updated", found
        assert found["events"] == "image-pushed ×1"
        [outcome] = found["outcomes"]
        assert (outcome["status"], outcome["image"], outcome["tag"]) == ("accepted", stack.image, "1.1.0")
        assert outcome["reason"] == "goes into the PR of group `dev`" and outcome["pr_number"] == 1
        assert found["id"] in stack.status_page()
        # the next poll finds the same: no second record (two more takes: the first one's job ran)
        due = stack.settings.key("due", "polls")
        for n in range(2):
            taken = redis_conn.zscore(due, stack.image)
            moved = lambda taken=taken: redis_conn.zscore(due, stack.image) != taken  # noqa: E731
            wait_for(moved, 30, f"poll {n + 2}", stack.logs)
        wait_for(lambda: queues_idle(redis_conn, stack.settings), 30, "the polls to end", stack.logs)
        assert [r["id"] for r in poll_records(stack)] == [found["id"]]


def poll_records(stack: Stack) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{stack.base_url}/api/deliveries", timeout=10) as resp:
        rows = json.loads(resp.read())
    return [r for r in rows["deliveries"] if r["source"] == "poll"]


def test_wrong_registry_credentials_are_a_clear_error_on_the_group(stack: Stack) -> None:
    issuer = TokenIssuer(stack.root)
    with issuer.serving(), run_registry(stack.root / "registry", token=issuer) as registry:
        stack.registry = registry
        registry.push("acme/app", "1.1.0")
        wrong = base64.b64encode(f"{issuer.username}:not-the-password".encode()).decode()
        config = stack.root / "docker-config.json"
        config.write_text(json.dumps({"auths": {registry.host: {"auth": wrong}}}))
        stack.write_world(f"    image: {stack.image}\n")
        stack.start_workers(MANIFEST_BOT_DOCKER_CONFIG=str(config))

        post(stack, payloads.generic_push(SECRETS["generic"], stack.image, "1.1.0"))

        error = f"Last error: cannot verify {stack.image}:1.1.0 in {registry.host}: "
        wait_for(lambda: error in stack.status_page(), 60, "the error on the group", stack.logs)
        page = stack.status_page()
        # which registry refused which credential (the page shortens paths), never the secret
        assert (
            f"HTTP 401: {registry.host} did not accept auths[&#34;{registry.host}&#34;] in {config.name}"
            in page
        )
        assert "not-the-password" not in page and wrong not in page
        assert stack.pr_file() is None
        assert git(stack.root / "git" / REPO, "branch", "--format=%(refname:short)").split() == ["main"]
