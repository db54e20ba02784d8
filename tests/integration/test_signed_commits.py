"""Signed commits on the running service (web + worker process + Redis + local git forge): with
``signing_key_file`` on the local forge, the PR branch commits the bot's reconcile writes (open and
update) and the merge a chat-ops ``merge`` makes verify with ``git verify-commit`` against the key's
allowed-signers entry (issue 23, item 5)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.settings import Settings
from tests.forges.local_fixture import git
from tests.forges.signing_fixture import SshKey, make_key, needs_ssh_keygen, verify
from tests.integration.service_fixture import IMAGE, REPO, Service, start_service

pytestmark = [pytest.mark.slow, needs_ssh_keygen]


@pytest.fixture
def key(tmp_path: Path) -> SshKey:
    return make_key(tmp_path / "keys")


def routing(key: SshKey) -> Callable[[Path], str]:
    def text(root: Path) -> str:
        return f"""\
forges:
  - {{name: local, kind: local, path: "{root}", signing_key_file: "{key.private}"}}
environments: {{dev: {{}}}}
defaults:
  policy: {{verify: false}}  # the image lives in no registry here
  pr: {{merge_method: merge}}
rules:
  - name: api
    image: {IMAGE}
    targets: [{{forge: local, repo: {REPO}, environment: dev, files: [envs/dev/api.yaml]}}]
"""

    return text


@pytest.fixture
def service(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis, key: SshKey
) -> Iterator[Service]:
    yield from start_service(tmp_path, make_settings, redis_conn, routing(key))


def bot_commits(service: Service, base: str, head: str) -> list[str]:
    return git(service.forge.repo_path(REPO), "rev-list", f"{base}..{head}").split()


def test_every_commit_the_bot_writes_on_its_branch_verifies(service: Service, key: SshKey) -> None:
    base = service.forge.branch_head(REPO, "main") or ""
    service.push(IMAGE, "1.1.0")
    service.wait_settled()
    [opened] = service.prs()
    service.push(IMAGE, "1.2.0")  # an update on an unmoved base: one more commit by the bot
    service.wait_settled()
    [pr] = service.prs()
    head = pr.head_sha or ""
    assert f"{IMAGE}:1.2.0" in service.forge.read_file(REPO, "envs/dev/api.yaml", head).decode()
    commits = bot_commits(service, base, head)
    assert commits == [head, opened.head_sha]  # appended on the opened head: approvals stay
    for sha in commits:
        checked = verify(service.forge.repo_path(REPO), sha, key)
        assert checked.returncode == 0, (sha, checked.stderr)


def say(service: Service, number: int, text: str) -> None:
    """A person's comment through ``manifest-bot local comment --queue-only``: the running worker
    answers it."""
    cmd = [sys.executable, "-c", "from bot.cli import main; main()", "local", "comment", str(number), text]
    cmd += ["--as", "alice", "--config", str(service.config_path), "--repo", REPO, "--queue-only"]
    subprocess.run(cmd, env=service.workers.env, check=True, capture_output=True, timeout=60)


def test_the_merge_the_bot_makes_verifies(service: Service, key: SshKey) -> None:
    service.push(IMAGE, "1.1.0")
    service.wait_settled()
    [pr] = service.prs()
    say(service, pr.number, "/manifest-bot merge")
    service.wait(lambda: service.pr_record(pr.number)["state"] == "merged", "the PR merged by the bot")
    record = service.pr_record(pr.number)
    path = service.forge.repo_path(REPO)
    merge_sha = service.forge.branch_head(REPO, "main") or ""
    assert record["merge_sha"] == merge_sha
    parents = git(path, "rev-list", "--parents", "-n", "1", merge_sha).split()[1:]
    assert record["head_sha"] in parents and len(parents) == 2  # a merge commit made by the bot
    for sha in (record["head_sha"], merge_sha):
        checked = verify(path, sha, key)
        assert checked.returncode == 0, (sha, checked.stderr)
