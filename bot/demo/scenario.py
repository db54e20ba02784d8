"""The demo's story, end to end (see ``bot.demo``): build, start, post, wait, verify, report."""

from __future__ import annotations

import json
import secrets
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from pydantic import SecretStr

from bot.demo import payloads, registry_story, release_story, report
from bot.demo.model import DemoOptions, Echo, Run
from bot.demo.redis_env import FAKE_WARNING, NOT_FOUND, DemoRedis, demo_redis
from bot.demo.registry import INSTALL_HINT, missing_tools
from bot.demo.repo import REPO, create_manifest_repo, write_routing_config
from bot.demo.runtime import (
    DONE_STATUSES,
    POLL_S,
    Quiescence,
    container_for,
    groups_of,
    in_process_worker,
    web_server,
    worker_process,
)
from bot.settings import Settings
from bot.store import namespace
from bot.store.deliveries import DeliveryStore
from bot.store.groups import GroupStore

FORGE = "local"  # the routing config's name for the local forge standing in for GitHub
DEV_GROUP = f"{FORGE}:{REPO}:main:dev"
#: CI runs of the API finishing out of order: (run number, conclusion); #46 failed, #45 is newest green
CI_BURST = (
    (44, "success"),
    (46, "failure"),
    (45, "success"),
    (41, "success"),
    (43, "success"),
    (42, "success"),
)
PROMOTE = "/manifest-bot promote to staging"
REVIEWER = "alice"


def _settings(
    config: Path, redis: DemoRedis, secrets_by_source: dict[str, str], extra: dict[str, object]
) -> Settings:
    return Settings.model_validate(
        {
            "redis_url": redis.url or "redis://in-process-fake",
            "redis_prefix": f"demo{secrets.token_hex(4)}",
            "config_path": config,
            "webhook_secrets": {s: (SecretStr(v),) for s, v in secrets_by_source.items()},
            "log_level": "WARNING",
            "log_json": False,
            "redis_require_aof": False,  # a throwaway Redis: losing it on a restart is fine
            **extra,
        }
    )


def _registry_note(opts: DemoOptions, missing: list[str]) -> str:
    """Why the demo runs without a real registry, and how to get one."""
    why = "--registry off" if opts.registry == "off" else f"{' and '.join(missing)} not installed"
    return (
        f"registry: none ({why}); the bot trusts the sample webhooks. For a real registry, the "
        f"registry's own notifications and digests in the PRs: {INSTALL_HINT}"
    )


def post(base_url: str, delivery: payloads.Post) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json", **delivery.headers}
    request = urllib.request.Request(
        f"{base_url}/webhooks/{delivery.source}", data=delivery.body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def send(run: Run, base_url: str, delivery: payloads.Post, echo: Echo) -> str | None:
    """Post one delivery and print the answer; the delivery id the web app recorded it under."""
    status, answer = post(base_url, delivery)
    run.posted.append((delivery, status, answer))
    delivery_id = answer.get("delivery")
    if isinstance(delivery_id, str) and delivery_id not in run.delivery_ids:
        run.delivery_ids.append(delivery_id)
    shown = ", ".join(f"{k}={v}" for k, v in answer.items() if k != "delivery")
    echo(f"  → {delivery.label}: {status} {shown}")
    if status not in (200, 202):
        run.problems.append(f"{delivery.label}: HTTP {status} {answer}")
    return delivery_id if isinstance(delivery_id, str) else None


def _wait(
    run: Run, quiet: Quiescence, step: Callable[[], None] | None, deadline_s: float, echo: Echo
) -> bool:
    pending = quiet.wait(run.delivery_ids, deadline_s, step)
    if pending:
        run.problems.append(f"not quiescent after {deadline_s:.0f}s: " + "; ".join(pending[:5]))
        return False
    echo(f"  … quiescent after {time.monotonic() - run.started:.2f}s")
    return True


def _phase_events(
    run: Run,
    base_url: str,
    keys: dict[str, str],
    *,
    echo: Echo,
    step: Callable[[], None] | None,
    deadline_s: float,
) -> None:
    echo("\n== 1. A registry push and a curl from CI")
    if run.registries:

        def post(delivery: payloads.Post) -> None:
            send(run, base_url, delivery, echo)

        registry_story.chapter_one(run, post, keys, step=step, deadline_s=deadline_s, echo=echo)
    else:
        digest = "sha256:" + "4e" * 32
        harbor = payloads.harbor_push(keys["harbor"], "shop/web", "1.4.0", digest, 1714644000)
        send(run, base_url, harbor, echo)
        worker = payloads.generic_push(keys["generic"], "registry.example.com/shop/worker", "2.1.0")
        send(run, base_url, worker, echo)
    echo("\n== 2. Six CI runs of example/api finish out of order (#46 failed; #41-#43 arrive late)")
    if run.registries:
        registry_story.push_ci_images(run, CI_BURST, echo)
    burst = [
        payloads.workflow_run(keys["github"], "example/api", run_number=n, sha=f"{n:02d}" * 20, conclusion=c)
        for n, c in CI_BURST
    ]
    recorded = [send(run, base_url, delivery, echo) for delivery in burst]
    if recorded[2] is not None:  # run #45: GitHub redelivers it once it was handled
        _handled(run, recorded[2], step, deadline_s)
    echo("  → GitHub redelivers run #45 (same delivery id):")
    send(run, base_url, burst[2], echo)


def _handled(run: Run, delivery_id: str, step: Callable[[], None] | None, deadline_s: float) -> None:
    """Wait until the worker handled one delivery (a redelivery of it is then a plain duplicate)."""
    store = DeliveryStore(run.redis.conn, run.settings)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if step is not None:
            step()
        record = store.record(delivery_id)
        if record is not None and record.status in DONE_STATUSES:
            return
        time.sleep(POLL_S)  # the worker runs elsewhere (or in step): this only paces the checks


def _phase_promote(run: Run, base_url: str, keys: dict[str, str], echo: Echo) -> None:
    record = GroupStore(run.redis.conn, run.settings).get(DEV_GROUP)
    if record.pr_number is None:
        run.problems.append("no dev pull request was opened; nothing to promote")
        return
    echo(f"\n== 3. A reviewer comments on dev PR #{record.pr_number}: {PROMOTE!r}")
    # the person writes the comment on the forge; the forge then sends its webhook
    comment_id = report.local_forge(run).comment(REPO, record.pr_number, PROMOTE, author=REVIEWER)
    comment = payloads.issue_comment(
        keys["github"],
        REPO,
        pr_number=record.pr_number,
        author=REVIEWER,
        body_text=PROMOTE,
        comment_id=int(comment_id),
    )
    send(run, base_url, comment, echo)


@contextmanager
def _worker(run: Run, stack: ExitStack) -> Iterator[Callable[[], None] | None]:
    if run.redis.separate_processes:
        stack.enter_context(worker_process(run.settings, run.redis.url, run.workdir / "worker.log"))
        yield None
    else:
        with in_process_worker(container_for(run.settings, run.redis.conn)) as step:
            yield step


def _cleanup_keys(run: Run) -> None:
    """On a shared Redis (MANIFEST_BOT_REDIS_URL) remove everything the demo wrote."""
    namespace.drop(run.redis.conn, run.settings.redis_prefix)


def _play(run: Run, opts: DemoOptions, keys: dict[str, str], ports: dict[str, int]) -> None:
    echo = opts.echo
    quiet = Quiescence(run.redis.conn, run.settings, groups_of(run.redis.conn, run.settings, FORGE, REPO))
    with ExitStack() as stack:
        base_url = stack.enter_context(web_server(container_for(run.settings, run.redis.conn)))
        if ports:
            registry_story.start(stack, run, base_url, ports, keys["distribution"])
            where = registry_story.describe(run)
            echo(f"registry: docker-registry as {where}; the bot asks it before writing")
        step = stack.enter_context(_worker(run, stack))
        echo(f"web app on {base_url}, worker {'process' if step is None else 'in this process'}")
        run.started = time.monotonic()
        _phase_events(run, base_url, keys, echo=echo, step=step, deadline_s=opts.deadline_s)
        if _wait(run, quiet, step, opts.deadline_s, echo):
            _phase_promote(run, base_url, keys, echo)
            _wait(run, quiet, step, opts.deadline_s, echo)
        run.elapsed_s = time.monotonic() - run.started


def run_demo(opts: DemoOptions) -> int:
    """Run the whole story; 0 when every step did what the demo says it does, 1 otherwise."""
    echo = opts.echo
    workdir = Path(tempfile.mkdtemp(prefix="manifest-bot-demo-"))
    keys = {source: secrets.token_hex(16) for source in ("github", "harbor", "generic", "distribution")}
    missing = missing_tools() if opts.registry == "auto" else []
    ports = registry_story.ports() if opts.registry == "auto" and not missing else {}
    extra = registry_story.settings_overrides(ports, opts.deadline_s) if ports else {}
    repo = create_manifest_repo(opts.examples, workdir / "repos")
    routing = workdir / "routing.yaml"
    releases = release_story.server() if ports else None  # labels need a real registry
    try:
        with ExitStack() as services, demo_redis(workdir, prefer=opts.redis) as redis_env:
            forges = ""
            if releases is not None:
                services.enter_context(releases.serving())
                forges = release_story.forge_entry(releases, workdir)
                echo(f"releases: a GitHub Enterprise on {releases.web} publishes the images' release notes")
            config = write_routing_config(
                opts.examples, workdir / "repos", routing, verify=bool(ports), extra_forges=forges
            )
            echo(f"manifest repo {REPO} from {opts.examples / 'manifests'} in {repo}")
            if not ports:
                echo(_registry_note(opts, missing))
            if redis_env.mode == "fake":
                why = "--redis fake" if opts.redis == "fake" else NOT_FOUND
                echo(FAKE_WARNING.format(why=why))
            echo(f"redis: {redis_env.description}")
            run = Run(workdir, repo, redis_env, _settings(config, redis_env, keys, extra), releases=releases)
            try:
                _play(run, opts, keys, ports)
                report.verify(run)
                report.print_report(run, echo)
            finally:
                if redis_env.mode == "url":
                    _cleanup_keys(run)
    finally:
        if opts.keep:
            echo(f"\nkept {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if run.problems else 0
