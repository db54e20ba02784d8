"""Secrets never leave (issue #12), through the running service: the web app, real
``manifest-bot worker`` processes, Redis and a local git forge whose ``push_remote`` is an HTTP
git remote with credentials in its URL. The process holds real-looking secrets of every kind the
settings know (a GitHub App private key, GitHub and GitLab tokens, a webhook secret, the status
token) plus the remote's credentials; then the remote fails every way it can:

1. it answers with an error that echoes secrets back (a permanent failure: recorded on the group,
   commented on the PR, shown on the status page);
2. it refuses the credentials (401: an auth failure, also permanent);
3. it accepts the connection and never answers (the push times out: retried, then a failed job);
4. its pre-receive hook declines the push, echoing secrets (a bad push: retried, then failed).

Then every output channel is searched for every secret, for git command lines and for the
server's directories: the worker logs, the web log, every Redis key of the test, every PR comment
and body, and the status page.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.app import create_app
from bot.settings import Settings
from bot.store.groups import GroupStore
from tests.integration.git_http import GitHttpRemote
from tests.integration.test_race import world_settings
from tests.integration.world import (
    REPO,
    Workers,
    image_name,
    make_world,
    open_prs,
    queues_idle,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.slow

PUSH_USER = "x-access-token"
PUSH_PASSWORD = "Zq8v3Lm2Rt9pWx4KcN7b"  # not token-shaped: only the registered secret masks it
GITHUB_TOKEN = "ghp_R2d2C3poBb8Xw9Yq1Lm4Nk7Jh6Gf5Ds3Az0"
GITLAB_TOKEN = "glpat-Xy7Wv6Ut5Sr4Qp3On2Mm"
WEBHOOK_SECRET = "whk-4f1c9a2e7b3d8c6f0a5e"
STATUS_TOKEN = "st-9b8a7c6d5e4f3a2b1c0d"


def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return pem.decode()


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[GitHttpRemote]:
    (tmp_path / "remote").mkdir()
    with GitHttpRemote(tmp_path / "remote", PUSH_USER, PUSH_PASSWORD) as served:
        yield served


def test_no_secret_reaches_any_output_after_push_faults(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    redis_conn: redis.Redis,
    remote: GitHttpRemote,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = private_key()
    world = make_world(tmp_path, images=1, envs=("dev",))
    remote.add_repo(REPO, world.repo_dir)
    push_url = remote.url(REPO)
    config = json.loads(world.config_path.read_text())
    config["forges"][0].update(push_remote=push_url, git_timeout_s=2)
    world.config_path.write_text(json.dumps(config))
    held = {
        "github_token": GITHUB_TOKEN,
        "gitlab_token": GITLAB_TOKEN,
        "status_token": STATUS_TOKEN,
        "github_private_key": key,
    }
    settings = world_settings(
        make_settings, world, webhook_secrets={"generic": (WEBHOOK_SECRET,)}, retry_max=1, **held
    )
    env = {f"MANIFEST_BOT_{name.upper()}": value for name, value in held.items()}
    env |= {"MANIFEST_BOT_WEBHOOK_SECRET_GENERIC": WEBHOOK_SECRET, "MANIFEST_BOT_LOG_LEVEL": "INFO"}
    workers = Workers(worker_env(settings, env), tmp_path)
    app = create_app(settings=settings)
    groups = GroupStore(redis_conn, settings)
    group = f"local:{REPO}:main:dev"
    echo = f"blocked: {GITHUB_TOKEN} pushing to {push_url} (hook {WEBHOOK_SECRET})"
    key_line = key.splitlines()[5]

    def post(tag: str) -> None:
        """A generic registry delivery of the image at ``tag``, signed with the webhook secret."""
        body = json.dumps({"image": image_name(0), "tag": tag}).encode()
        signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        delivery = "d-" + tag.replace(".", "-")
        headers = {"X-Manifest-Bot-Signature-256": signature, "X-Manifest-Bot-Delivery": delivery}
        response = app.test_client().post("/webhooks/generic", data=body, headers=headers)
        assert response.status_code == 202, response.json

    def last_error() -> str:
        return groups.get(group).state.last_error or ""

    workers.start(2)
    try:
        post("1.1.0")
        wait_for(lambda: world.branch("dev") in open_prs(world), 60, "the PR", workers.logs)
        remote.mode, remote.error_message = "error", f"{echo} key {key_line}"
        post("1.2.0")
        wait_for(lambda: "remote error" in last_error(), 60, "the remote's error recorded", workers.logs)
        remote.mode = "unauthorized"
        post("1.3.0")
        wait_for(lambda: "Authentication failed" in last_error(), 60, "the auth failure", workers.logs)
        remote.mode = "hang"
        post("1.4.0")
        # a push that times out is temporary: shown on the group while the bot tries again
        wait_for(lambda: "timed out after 2 s" in last_error(), 90, "the timeout", workers.logs)
        remote.mode = "ok"
        remote.released.set()
        remote.reject_with(REPO, echo)
        post("1.5.0")
        wait_for(lambda: "rejected" in last_error(), 90, "the bad push", workers.logs)
        wait_for(lambda: queues_idle(redis_conn, settings), 60, "idle queues", workers.logs)
        status_page = app.test_client().get("/", headers={"Authorization": f"Bearer {STATUS_TOKEN}"})
        assert status_page.status_code == 200
    finally:
        workers.stop()
    channels = {
        "worker logs": "\n".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob("worker*.log"))),
        "web log": capsys.readouterr().err,
        "redis": redis_dump(redis_conn, settings.redis_prefix),
        "PR comments and bodies": (world.root / f"{REPO}.prs.json").read_text(),
        "status page": status_page.get_data(as_text=True),
    }
    # the worker logs as the web does: one JSON object per line
    assert all(_json_object(line) for line in channels["worker logs"].splitlines() if line.strip())
    # the faults happened and were reported where people look
    assert "timed out after 2 s" in channels["worker logs"]
    assert "remote error: blocked" in channels["PR comments and bodies"]
    assert "Authentication failed" in channels["PR comments and bodies"]
    assert "remote error: blocked" in channels["status page"]
    secrets = {
        "push_remote password": PUSH_PASSWORD,
        "GitHub token": GITHUB_TOKEN,
        "GitLab token": GITLAB_TOKEN,
        "webhook secret": WEBHOOK_SECRET,
        "status token": STATUS_TOKEN,
        "App key line": key_line,
        "App key": "PRIVATE KEY-----\nMII",
    }
    for channel, text in channels.items():
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} leaked into the {channel}"
        # a command line as run (a traceback's source line naming the flags is fine)
        for command_line in ("--force-with-lease=refs/heads/", "['git', '-C'"):
            assert command_line not in text, f"a git command line reached the {channel}"
    for channel in ("PR comments and bodies", "status page"):
        assert str(tmp_path) not in channels[channel], f"a server path reached the {channel}"


def _json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        raise AssertionError(f"a worker log line is not JSON: {line[:200]}") from None


def redis_dump(conn: redis.Redis, prefix: str) -> str:
    """Every key of the test (ours and rq's) with every value, decompressed where rq compressed."""
    out: list[str] = []
    for key in {*conn.scan_iter(match=f"{prefix}:*"), *conn.scan_iter(match=f"rq:*{prefix}*")}:
        kind = conn.type(key).decode()
        values: list[bytes] = [key]
        if kind == "string":
            values.append(conn.get(key) or b"")
        elif kind == "hash":
            for field, value in conn.hgetall(key).items():
                values += [field, value]
        elif kind == "list":
            values += conn.lrange(key, 0, -1)
        elif kind in ("set", "zset"):
            values += conn.smembers(key) if kind == "set" else conn.zrange(key, 0, -1)
        elif kind == "stream":
            for _, entry in conn.xrange(key):
                values += [v for pair in entry.items() for v in pair]
        for value in values:
            out.append(value.decode("utf-8", "replace"))
            with contextlib.suppress(zlib.error):
                out.append(zlib.decompress(value).decode("utf-8", "replace"))
    return "\n".join(out)
