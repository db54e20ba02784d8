"""``manifest-bot demo`` end to end: README's first command, as a user runs it.

The subprocess test is the README command itself (a private redis-server when the binary exists,
a separate worker process). The in-process tests cover the other two Redis modes and the failure
paths: the demo must say what went wrong and exit non-zero, never print a rosy summary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from bot.cli import main
from bot.demo.repo import default_examples
from tests.conftest import TEST_REDIS_URL

MANIFEST_BOT = Path(sys.executable).with_name("manifest-bot")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_BOT_")}


def section(output: str, title_start: str) -> str:
    """The text of one ``== ...`` section."""
    match = re.search(rf"^== {re.escape(title_start)}.*?(?=^== |\Z)", output, flags=re.M | re.S)
    assert match, f"no section {title_start!r} in:\n{output}"
    return match[0]


def check_story(output: str, *, registry: bool) -> None:
    """What the demo promises: dev gets the newest green versions, staging gets them by promote;
    with a real registry (``registry``) the versions are pushed, verified and pinned by digest."""
    dev = section(output, "PR #1 [open] manifest-bot/dev/dev → main")
    assert "+      newTag: 1.4.0   # bumped by manifest-bot" in dev  # comment and odd indent kept
    assert '+      newTag: "run-45"' in dev  # newest green run, quotes kept
    assert '+  tag: "2.1.0"          # quoted on purpose' in dev
    assert "+    image: 'registry.example.com/shop/web:1.4.0'" in dev
    for stale in ("run-46", "run-44", "run-43", "run-42", "run-41"):
        assert f'+      newTag: "{stale}"' not in dev
    assert "@alice: /manifest-bot promote to staging [eyes] [rocket]" in dev
    assert "1.0.0 on purpose" not in dev.split("diff --git", 1)[1].replace(" This block scalar", "")
    staging = section(output, "PR #2 [open] manifest-bot/staging/staging → main")
    assert "  | **Promotion** of " in staging
    assert "from **dev** to **staging**, requested by @alice in #1." in staging
    assert "  | | `environments/staging/kustomization.yaml` |" in staging  # the table, with old → new tags
    assert "manifest-bot:{" not in output  # the hidden marker is not printed
    assert "+  newTag: 1.4.0" in staging and "+  newTag: run-45" in staging and "+    tag: 2.1.0" in staging
    assert "environments/prod" not in output.split("== PR #1", 1)[1]  # prod is never touched
    summary = section(output, "summary")
    assert "pull requests  2: #1 dev (open), #2 staging (open)" in summary
    # one commit per reconcile that changed a branch: updates on an unmoved base are appended
    # (docs/pull-requests.md), so dev holds its opening commit and the updates on top
    commits = re.search(r"commits        (\d+) by the bot, on 2 branch\(es\)", summary)
    assert commits is not None and int(commits[1]) >= 2, summary
    assert re.search(r"elapsed        \d+\.\d\d s", summary)
    assert "result         OK" in summary
    if registry:
        check_registry_story(output, dev, summary)
    else:
        check_webhook_story(output, summary)


def check_webhook_story(output: str, summary: str) -> None:
    assert "registry: none (" in output and "apt-get install docker-registry skopeo" in output
    assert "Harbor push registry.example.com/shop/web:1.4.0: 202" in output
    assert "deliveries     10 posted (1 generic, 8 github, 1 harbor): 9 accepted, 1 duplicate" in summary
    assert "events         9 processed" in summary
    planned = re.search(r"intents        7 planned, (\d) accepted, (\d) superseded", summary)
    # how many count as superseded depends on which versions a batch held together; none is lost
    assert planned and int(planned[1]) + int(planned[2]) == 7 and int(planned[1]) >= 3, summary
    assert "registry       none: the sample webhooks were trusted" in summary


def check_registry_story(output: str, dev: str, summary: str) -> None:
    where = r"^registry: docker-registry as registry\.example\.com on 127\.0\.0\.1:\d+, ghcr\.io on "
    assert re.search(where, output, re.M)
    line = r"skopeo pushed \S+/shop/(\S+?)(?: to \S+)?: (sha256:[0-9a-f]{64})$"
    pushed = {ref: digest[:19] + "…" for ref, digest in re.findall(line, output, re.M)}
    assert set(pushed) == {"web:1.4.0", "worker:2.1.0"}
    assert "the registry notified /webhooks/distribution itself" in output  # no demo POST for it
    worker = "registry.example.com/shop/worker:2.1.0"
    announced = f"curl push {worker} (CI announces it before its push): 202"
    waiting = f"the bot does not write it yet: waiting for {worker} in registry.example.com"
    assert output.index(announced) < output.index(waiting) < output.index(f"skopeo pushed {worker}")
    # the dev PR shows the digests the registry answered, beside the versions it writes
    assert f"| `registry.example.com/shop/web` | `1.3.0` → `1.4.0` | `{pushed['web:1.4.0']}` |" in dev
    assert f"| `registry.example.com/shop/worker` | `2.0.1` → `2.1.0` | `{pushed['worker:2.1.0']}` |" in dev
    assert "deliveries     9 posted (1 generic, 8 github): 8 accepted, 1 duplicate" in summary
    assert "events         10 processed" in summary  # the demo's 8 and the registry's 2
    planned = re.search(r"intents        8 planned, (\d) accepted, (\d) superseded", summary)
    # every planned version went in or was superseded: the worker push waited for its registry and
    # went in (by its notification or by the retry of the curl's wait)
    assert planned and int(planned[1]) + int(planned[2]) == 8, summary
    assert "registry       8 images pushed, 2 notifications sent by the registry itself" in summary
    check_release_notes(output, dev)


def check_release_notes(output: str, dev: str) -> None:
    """The dev PR names where its images come from: the api's changes between the build dev ran
    and run-45, and web 1.4.0's release from the demo's GitHub Enterprise, as literal text."""
    web = re.search(r"^releases: a GitHub Enterprise on (http://127\.0\.0\.1:\d+) ", output, re.M)
    assert web, output[:2000]
    api = f"{web[1]}/example/api"
    assert f"[changes 404040404040…454545454545]({api}/compare/{'40' * 20}...{'45' * 20})" in dev
    assert f"[release v1.4.0]({web[1]}/example/shop-web/releases/tag/v1.4.0)" in dev
    assert "<details><summary>registry.example.com/shop/web v1.4.0: Web 1.4.0</summary>" in dev
    assert "thanks `@alice`" in dev and "\\<b\\>Upgrade note" in dev


def registry_tools() -> bool:
    return shutil.which("docker-registry") is not None and shutil.which("skopeo") is not None


@pytest.mark.slow
def test_readme_command_runs_the_demo_to_a_successful_end() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed: the fake-Redis test below covers that machine")
    proc = subprocess.run(
        [str(MANIFEST_BOT), "demo"], env=clean_env(), capture_output=True, text=True, timeout=240, check=False
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "redis: private redis-server on " in proc.stdout
    assert "worker process" in proc.stdout
    check_story(proc.stdout, registry=registry_tools())


def run_cli(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["demo", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_demo_on_the_in_process_fake_redis_warns_and_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = run_cli("--redis", "fake")
    assert code == 0, output
    assert "WARNING: running on an in-process fake Redis" in output and "(--redis fake)" in output
    assert "worker in this process" in output
    check_story(output, registry=registry_tools())


def test_demo_on_redis_url_leaves_no_keys_behind(redis_conn: redis.Redis) -> None:
    before = set(redis_conn.scan_iter(match="demo*")) | set(redis_conn.scan_iter(match="rq:*demo*"))
    code, output = run_cli(env={"MANIFEST_BOT_REDIS_URL": TEST_REDIS_URL})
    assert code == 0, output
    assert "redis: Redis at MANIFEST_BOT_REDIS_URL" in output
    check_story(output, registry=registry_tools())
    after = set(redis_conn.scan_iter(match="demo*")) | set(redis_conn.scan_iter(match="rq:*demo*"))
    assert after <= before


def test_demo_without_a_registry_trusts_its_webhooks_as_before() -> None:
    code, output = run_cli("--redis", "fake", "--registry", "off")
    assert code == 0, output
    assert "registry: none (--registry off)" in output
    check_story(output, registry=False)


def test_demo_without_the_tools_says_how_to_get_them(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"  # a PATH with git and nothing else
    bindir.mkdir()
    (bindir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    code, output = run_cli("--redis", "fake", env={"PATH": str(bindir)})
    assert code == 0, output
    assert "registry: none (docker-registry and skopeo not installed)" in output
    assert "apt-get install docker-registry skopeo" in output
    check_story(output, registry=False)


@pytest.mark.parametrize("mode", [[], ["--redis", "fake"]], ids=["auto", "fake"])
def test_demo_without_any_redis_nor_the_demo_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: list[str]
) -> None:
    bindir = tmp_path / "bin"  # no redis-server on PATH, no MANIFEST_BOT_REDIS_URL
    bindir.mkdir()
    (bindir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setitem(sys.modules, "fakeredis", None)  # import fails, as without the demo extra
    code, output = run_cli(*mode, env={"PATH": str(bindir), "MANIFEST_BOT_REDIS_URL": None})
    assert code == 1, output
    assert "fakeredis, which is not installed: pip install 'manifest-bot[demo]'" in output
    assert ("no redis-server binary" in output) == (not mode)
    assert "Traceback" not in output


def test_demo_keep_leaves_the_repo_for_inspection(tmp_path: Path) -> None:
    code, output = run_cli("--redis", "fake", "--keep")
    assert code == 0, output
    kept = Path(re.search(r"^kept (\S+)$", output, flags=re.M)[1])  # type: ignore[index]
    try:
        repo = kept / "repos" / "example" / "shop-deploy"
        branches = subprocess.run(
            ["git", "-C", str(repo), "branch", "--format=%(refname:short)"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert branches == ["main", "manifest-bot/dev/dev", "manifest-bot/staging/staging"]
        # the example files are the committed base, byte for byte (CRLF and no final newline kept)
        prod = subprocess.run(
            ["git", "-C", str(repo), "show", "main:environments/prod/kustomization.yaml"],
            capture_output=True,
            check=True,
        ).stdout
        assert prod == (default_examples() / "manifests/environments/prod/kustomization.yaml").read_bytes()
        assert b"\r\n" in prod
    finally:
        shutil.rmtree(kept)


def broken_examples(tmp_path: Path, change: Callable[[str], str]) -> Path:
    examples = tmp_path / "examples"
    shutil.copytree(default_examples(), examples)
    routing = examples / "routing.yaml"
    routing.write_text(change(routing.read_text(encoding="utf-8")), encoding="utf-8")
    return examples


def test_a_demo_whose_story_fails_says_why_and_exits_1(tmp_path: Path) -> None:
    # deny every tag: no PR can open, and the demo must not pretend otherwise
    examples = broken_examples(tmp_path, lambda t: t.replace("deny: '-(debug|test)$'", "deny: '.*'"))
    code, output = run_cli("--redis", "fake", "--examples", str(examples), "--timeout", "20")
    assert code == 1, output
    assert "== problems" in output
    assert "- no dev pull request was opened; nothing to promote" in output
    assert "- no open dev pull request" in output
    assert "result         " in output and "problem(s)" in output


def test_missing_inputs_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, output = run_cli("--redis", "fake", "--examples", str(tmp_path / "empty"))
    assert code == 1 and "no example manifests at" in output
    code, output = run_cli("--redis", "url", env={"MANIFEST_BOT_REDIS_URL": ""})
    assert code == 1 and "MANIFEST_BOT_REDIS_URL is not set" in output
    code, output = run_cli(env={"MANIFEST_BOT_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert code == 1 and "Error:" in output and "Traceback" not in output
