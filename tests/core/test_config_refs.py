"""``check-config`` refuses what git would refuse at the first push — group and environment names
and branch prefixes that are no valid branch names — and paths that leave the repository (#12)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.config import check_config
from bot.core.config import load_config
from bot.core.config.refnames import path_problem, ref_problem
from bot.errors import ConfigError

CONFIG = """\
forges:
  - name: github
    kind: github
rules:
  - name: api
    image: ghcr.io/acme/api
    targets:
      - forge: github
        repo: acme/deploy
        {key}: {value}
"""


def problems(key: str, value: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(CONFIG.format(key=key, value=value), "bot.yaml")
    return info.value.problems


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("group", "a..b", "git refuses '..' in branch names"),
        ("group", "web.lock", "git refuses a branch name part ending in '.lock' ('web.lock')"),
        ("group", "web.", "end with '/' or '.'"),
        ("environment", "prod..eu", "git refuses '..' in branch names"),
        ("branch", "main~1", "git refuses '~' in branch names"),
        ("branch", "release/", "end with '/' or '.'"),
        ("branch", "'@'", "'@'"),
        ("pr", "{branch_prefix: 'bot..x'}", "git refuses '..' in branch names"),
        ("pr", "{branch_prefix: 'bot/'}", "end with '/' or '.'"),
        ("pr", "{branch_prefix: 'bot/.hidden'}", "part starting with '.'"),
        ("pr", "{branch_prefix: 'a b'}", "git refuses ' ' in branch names"),
        ("pr", "{branch_prefix: '~^:'}", "git refuses '~' in branch names"),
        ("pr", "{branch_prefix: 'x@{1}'}", "'@{'"),
    ],
)
def test_names_git_refuses_for_a_branch_are_refused(key: str, value: str, reason: str) -> None:
    (problem,) = problems(key, value)
    assert problem.startswith("bot.yaml:10: rules[0].targets[0].")
    assert reason in problem


@pytest.mark.parametrize("value", ["'~^:'", "'a/b'"])
def test_group_names_outside_the_name_alphabet_are_refused(value: str) -> None:
    (problem,) = problems("group", value)
    assert "rules[0].targets[0].group" in problem


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("files", "['../secrets.yaml']"),
        ("files", "['envs/../../etc/passwd']"),
        ("files", "['/etc/passwd']"),
        ("files", "['envs\\\\..\\\\..\\\\x.yaml']"),
        ("discover", "{include: ['../**/*.yaml']}"),
        ("discover", "{exclude: ['/abs/*.yaml']}"),
    ],
)
def test_paths_leaving_the_repository_are_refused(key: str, value: str) -> None:
    (problem,) = problems(key, value)
    assert "must stay inside the repository" in problem or "not absolute" in problem


def test_good_names_and_paths_pass() -> None:
    for name in ("manifest-bot", "bots/manifest", "release-1.2", "a.b/c_d"):
        assert ref_problem(name) is None, name
    for path in ("envs/prod/*.yaml", "charts/web/values..prod.yaml", "./envs/x.yaml", "**/*.yml"):
        assert path_problem(path) is None, path


def test_check_config_exits_2_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(key="group", value="x.lock")))
    result = CliRunner().invoke(check_config, [str(path)])
    assert result.exit_code == 2
    assert f"{path}:10: rules[0].targets[0].group:" in result.output
