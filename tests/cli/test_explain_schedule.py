"""``manifest-bot explain --at`` answers as the planner would at that moment: a group outside its
environment's schedule says from when its PR opens or updates (issue 25 items 1 and 8)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import main

CONFIG = """\
forges: [{name: local, kind: local, path: /tmp/x}]
environments:
  prod:
    schedule: {timezone: Europe/Berlin, cron: ["* 9-16 * * 1-5"]}
rules:
  - name: api
    image: ghcr.io/acme/api
    targets: [{forge: local, repo: deploy, environment: prod, files: [a.yaml]}]
"""


def explain(tmp_path: Path, *extra: str) -> str:
    path = tmp_path / "bot.yaml"
    path.write_text(CONFIG)
    args = ["explain", "--config", str(path), "--image", "ghcr.io/acme/api", "--tag", "1.2.0", *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_outside_the_window_explain_says_from_when(tmp_path: Path) -> None:
    out = explain(tmp_path, "--at", "2026-12-07T20:00:00Z")
    assert (
        "note: local:deploy:main:prod is outside its schedule at 2026-12-07T20:00:00Z: its PR opens or "
        "updates from 2026-12-08T08:00:00Z (a person's chat-ops command acts at once)"
    ) in out


def test_inside_the_window_explain_says_nothing_about_it(tmp_path: Path) -> None:
    assert "outside its schedule" not in explain(tmp_path, "--at", "2026-12-07T10:00:00+01:00")


def test_a_bad_moment_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text(CONFIG)
    args = [
        "explain",
        "--config",
        str(path),
        "--image",
        "ghcr.io/acme/api",
        "--tag",
        "1.2.0",
        "--at",
        "monday",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "is not an ISO 8601 time" in result.output
