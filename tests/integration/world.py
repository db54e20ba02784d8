"""A race scenario on real pieces: a local git manifest repo, a routing config, signed generic
deliveries posted through the Flask app, real ``manifest-bot worker`` processes, and checks on
the git history. Shared by tests/integration and bench/race.py."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bot.jobs.dispatch import Dispatch
from bot.settings import Settings
from bot.store import failures
from bot.store.deliveries import DeliveryStore

SECRET = "race-secret"
REPO = "manifests"
ENVS = ("dev", "staging", "prod")
IMAGE_RE = re.compile(r"image: (\S+):(\S+)")
ROOT = Path(__file__).resolve().parents[2]


def image_name(i: int) -> str:
    return f"registry.example.com/team/app{i:02d}"


def vkey(tag: str) -> tuple[int, ...]:
    return tuple(int(p) for p in tag.split("."))


def manifest(i: int, tag: str) -> str:
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        f"  name: app{i:02d}\nspec:\n  template:\n    spec:\n      containers:\n"
        f"        - name: app\n          image: {image_name(i)}:{tag}\n"
    )


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@dataclass
class World:
    root: Path
    config_path: Path
    images: int
    envs: tuple[str, ...] = ENVS

    @property
    def repo_dir(self) -> Path:
        return self.root / REPO

    def path(self, env: str, i: int) -> str:
        return f"envs/{env}/app{i:02d}.yaml"

    def branch(self, env: str) -> str:
        return f"manifest-bot/{env}/{env}"


def make_world(tmp: Path, images: int = 20, envs: tuple[str, ...] = ENVS) -> World:
    root = tmp / "git"
    repo = root / REPO
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "core.logAllRefUpdates", "always")  # the reflog records every branch move
    git(repo, "config", "user.name", "seed")
    git(repo, "config", "user.email", "seed@example.com")
    for env in envs:
        (repo / "envs" / env).mkdir(parents=True)
        for i in range(images):
            (repo / "envs" / env / f"app{i:02d}.yaml").write_text(manifest(i, "1.0.0"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "seed")
    rules = []
    for i in range(images):
        targets = [
            {"forge": "local", "repo": REPO, "environment": env, "files": [f"envs/{env}/app{i:02d}.yaml"]}
            for env in envs
        ]
        rules.append({"name": f"app{i:02d}", "image": image_name(i), "targets": targets})
    config = {
        "version": 1,
        "forges": [{"name": "local", "kind": "local", "path": str(root)}],
        # the images live in no registry: these worlds are about races and chat-ops, not registries
        "defaults": {"policy": {"ordering": "semver", "verify": False}},
        "rules": rules,
    }
    config_path = tmp / "config.yaml"
    config_path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    return World(root, config_path, images, envs)


# --- deliveries ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Post:
    delivery: str
    image: int
    tag: str

    @property
    def delivery_id(self) -> str:
        """The id intake stores it under (source-qualified)."""
        return f"generic-{self.delivery}"


def race_posts(world: World, n: int = 200, seed: int = 7) -> list[Post]:
    """``n`` deliveries: shuffled versions per image, ~10% duplicate deliveries (same id again),
    and the last ~10% are late old builds (lower than what was already posted for the image)."""
    rng = random.Random(seed)
    fresh = int(n * 0.8)
    posts = []
    for k in range(fresh):
        i = k % world.images
        posts.append(Post(f"d{k:04d}", i, f"1.{rng.randint(1, 30)}.{rng.randint(0, 9)}"))
    rng.shuffle(posts)
    dups = [rng.choice(posts) for _ in range(int(n * 0.1))]
    late = []
    for k in range(n - fresh - len(dups)):
        i = rng.randrange(world.images)
        late.append(Post(f"late{k:04d}", i, f"1.0.{rng.randint(1, 9)}"))
    mixed = posts + dups
    rng.shuffle(mixed)
    return mixed + late


def expected(posts: Iterable[Post]) -> dict[int, str]:
    best: dict[int, str] = {}
    for p in posts:
        if p.image not in best or vkey(p.tag) > vkey(best[p.image]):
            best[p.image] = p.tag
    return best


def signed(post: Post) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"image": image_name(post.image), "tag": post.tag}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-Manifest-Bot-Signature-256": sig,
        "X-Manifest-Bot-Delivery": post.delivery,
    }


def post_all(app: Any, posts: list[Post], threads: int = 8) -> dict[str, float]:
    """POST every delivery through the Flask app from ``threads`` threads; returns post times."""
    times: dict[str, float] = {}

    def send(chunk: list[Post]) -> None:
        client = app.test_client()
        for post in chunk:
            body, headers = signed(post)
            times.setdefault(post.delivery, time.time())
            resp = client.post("/webhooks/generic", data=body, headers=headers)
            assert resp.status_code in (200, 202), (resp.status_code, resp.get_json())

    chunks = [posts[k::threads] for k in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, chunks))
    return times


# --- workers -------------------------------------------------------------------------------------
def worker_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_BOT_")}
    env.update(
        MANIFEST_BOT_REDIS_URL=settings.redis_url,
        MANIFEST_BOT_REDIS_PREFIX=settings.redis_prefix,
        MANIFEST_BOT_CONFIG_PATH=str(settings.config_path),
        MANIFEST_BOT_LOCK_TIMEOUT_S=str(settings.lock_timeout_s),
        MANIFEST_BOT_RETRY_BASE_S=str(settings.retry_base_s),
        MANIFEST_BOT_RETRY_MAX=str(settings.retry_max),
        MANIFEST_BOT_LOG_LEVEL="WARNING",
        MANIFEST_BOT_REDIS_REQUIRE_AOF=str(settings.redis_require_aof).lower(),
        PYTHONPATH=str(ROOT),
    )
    env.update(extra or {})
    return env


@dataclass
class Workers:
    env: dict[str, str]
    logdir: Path
    wrap: str | None = None
    args: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    #: in worker names: rq keeps a killed worker registered (globally) until its TTL expires
    token: str = field(default_factory=lambda: os.urandom(3).hex())

    def start(self, n: int = 1) -> list[subprocess.Popen]:
        started = []
        for _ in range(n):
            k = len(self.procs)
            cmd = [
                sys.executable,
                "-c",
                "from bot.cli import main; main()",
                "worker",
                "--name",
                f"w{k}-{os.getpid()}-{self.token}",
            ]
            if self.wrap:
                cmd += ["--wrap-forge", self.wrap]
            cmd += self.args
            log = open(self.logdir / f"worker{k}.log", "wb")  # noqa: SIM115 - lives as long as the process
            proc = subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            self.procs.append(proc)
            started.append(proc)
        return started

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker and its work horse (the whole process group)."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.logdir.glob("worker*.log"))
        )


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, on_fail: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{on_fail()}")


# --- observing the outcome -----------------------------------------------------------------------
def queues_idle(conn: redis.Redis, settings: Settings) -> bool:
    """No delivery on its way, no job queued or running."""
    report = queue_report(conn, settings)
    return not any(report.values())


def queue_report(conn: redis.Redis, settings: Settings) -> dict[str, int]:
    """What is still on its way (deliveries, queued and running jobs), for waits and failure
    messages."""
    return {"deliveries": DeliveryStore(conn, settings).backlog(), **Dispatch(conn, settings).backlog()}


def failed_jobs(conn: redis.Redis, settings: Settings) -> list[str]:
    """Failed jobs nothing has resolved (what the status page counts as failed): a reconcile a
    killed worker abandoned, whose group reconciled since, is not one."""
    return [job.id for job in failures.failed(conn, settings) if not job.resolved]


_TAGS: dict[tuple[str, str], dict[tuple[str, int], str]] = {}
_LINE = re.compile(r"^[^:]+:envs/(\w+)/app(\d+)\.yaml:\s*image: \S+:(\S+)$")


def all_tags(world: World, sha: str) -> dict[tuple[str, int], str]:
    """(env, image index) -> tag in commit ``sha`` (one ``git grep``, cached: commits never change)."""
    key = (str(world.repo_dir), sha)
    if key not in _TAGS:
        lines = subprocess.run(
            ["git", "grep", "-e", "image: ", sha, "--", "envs"],
            cwd=world.repo_dir,
            check=False,  # exit 1 = no match
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        found = {}
        for line in lines:
            m = _LINE.match(line)
            if m:
                found[(m.group(1), int(m.group(2)))] = m.group(3)
        _TAGS[key] = found
    return _TAGS[key]


def tags_at(world: World, ref: str, env: str) -> dict[int, str]:
    try:
        sha = git(world.repo_dir, "rev-parse", "--verify", "-q", ref).strip()
    except subprocess.CalledProcessError:
        return {}  # no such branch (yet)
    return {i: tag for (e, i), tag in all_tags(world, sha).items() if e == env}


def open_prs(world: World) -> dict[str, list[int]]:
    from bot.forges.local.adapter import LocalGitForge

    out: dict[str, list[int]] = {}
    for pr in LocalGitForge(world.root).list_prs(REPO):
        if pr.state == "open":
            out.setdefault(pr.head_branch, []).append(pr.number)
    return out


def _lower(a: dict[tuple[str, int], str], b: dict[tuple[str, int], str]) -> list[tuple[str, int]]:
    return [k for k in b if k in a and vkey(b[k]) < vkey(a[k])]


def downgrades(world: World) -> list[str]:
    """Every place history goes backwards: a commit lowering a tag against its parent, or a
    branch moving (reflog, oldest first) to a head with a lower tag than the head before."""
    found = []
    for line in filter(None, git(world.repo_dir, "rev-list", "--all", "--parents").split("\n")):
        sha, *parents = line.split()
        if parents:
            before, after = all_tags(world, parents[0]), all_tags(world, sha)
            found += [f"commit {sha[:8]} {k}: {before[k]}->{after[k]}" for k in _lower(before, after)]
    for env in world.envs:
        ref = f"refs/heads/{world.branch(env)}"
        try:
            moves = git(world.repo_dir, "reflog", "show", "--format=%H", ref).split()[::-1]
        except subprocess.CalledProcessError:
            continue
        for prev, cur in itertools.pairwise(moves):
            a, b = all_tags(world, prev), all_tags(world, cur)
            found += [f"{ref} {prev[:8]}->{cur[:8]} {k}: {a[k]}->{b[k]}" for k in _lower(a, b) if k[0] == env]
    return found
