"""README's commands are the ones users copy: the test command is what CI runs, and every tour
command runs, from the repository root, exactly as printed (the demo is run by tests/test_demo.py)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def _commands(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_starts_with_setup_and_test_commands_and_ci_runs_that_test_command() -> None:
    assert README.index("```sh") < README.index("## "), "the two commands come first"
    setup, tests = _commands(BLOCKS[0])
    assert "pip install" in setup and setup.endswith("manifest-bot demo")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines(), f"{tests!r} is not a line of .ci/run"


TOUR = [c for c in _commands(BLOCKS[1]) if not c.endswith("manifest-bot demo")]


def test_the_tour_shows_several_commands() -> None:
    assert len(TOUR) >= 5
    assert any(c.endswith("manifest-bot demo") for c in _commands(BLOCKS[1]))


@pytest.mark.parametrize("command", TOUR, ids=[c.split()[1] for c in TOUR])
def test_tour_command_runs_as_printed(command: str) -> None:
    argv = shlex.split(command)
    assert argv[0] == ".venv/bin/manifest-bot"
    # run the installed CLI of this interpreter (the venv CI made) with the printed arguments
    argv = [sys.executable, "-c", "from bot.cli import main; main()", *argv[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_BOT_")}
    env["MANIFEST_BOT_REDIS_URL"] = TEST_REDIS_URL  # `status` reads the tests' Redis, not a default
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "prints something a user can read"
    assert "Traceback" not in done.stderr


LOCAL = _commands(BLOCKS[2])


def test_local_chat_ops_session_runs_as_printed(
    tmp_path: Path, redis_prefix: str, redis_conn: object
) -> None:
    """The "chat-ops on your machine" block, in order, in an empty directory: every command
    succeeds, the comment gets its answer and the promotion opens the staging PR."""
    assert LOCAL[0].endswith("local init .try") and len(LOCAL) >= 5
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANIFEST_BOT_")}
    env["MANIFEST_BOT_REDIS_PREFIX"] = redis_prefix
    env["MANIFEST_BOT_REDIS_URL"] = TEST_REDIS_URL
    outputs = []
    for command in LOCAL:
        argv = [sys.executable, "-c", "from bot.cli import main; main()", *shlex.split(command)[1:]]
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, (command, done.stderr[-2000:])
        outputs.append(done.stdout)
    text = "\n".join(outputs)
    assert "#1 [open] manifest-bot/dev/dev → main: chore(dev): bump web to 1.5.0" in text
    # status: each delivery's outcome and why; the prerelease's reason, the accepted one's PR
    assert "[processed · nothing to do]" in text
    assert "tag '1.6.0-rc.1' is a prerelease and prereleases are off" in text
    assert "goes into the PR of group `dev` → PR #1" in text
    assert "**Status of group `dev` (dev)**" in text
    assert "#2 [open] manifest-bot/staging/staging → main: chore(staging): promote web 1.5.0 from dev" in text
    assert "#1 [merged]" in outputs[-1]
