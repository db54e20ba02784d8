"""``pr.limits`` decisions (issue 25 item 3): who may open a PR in a repo now, who waits, in which
order and until when; and what check-config refuses."""

from __future__ import annotations

import pytest

from bot.core.config import load_config
from bot.core.config.repo_file import read_repo_file
from bot.core.keys import GroupKey
from bot.core.pr_limits import HOUR_S, RECHECK_S, Limits, decide
from bot.errors import ConfigError

NOW = 1_800_000_000.0


def verdict(limits: Limits, group: str = "g", *, open_prs: int = 0, opened=(), line=()):  # type: ignore[no-untyped-def]
    return decide(
        limits, "acme/deploy", group, open_prs=open_prs, opened=list(opened), line=list(line), now=NOW
    )


def test_no_limit_and_room_let_a_group_open() -> None:
    assert verdict(Limits()).go
    assert verdict(Limits(open=3), open_prs=2).go
    assert verdict(Limits(per_hour=2), opened=[NOW - 10]).go


def test_the_open_limit_holds_a_group_back_and_looks_again_soon() -> None:
    found = verdict(Limits(open=2), open_prs=2)
    assert not found.go and found.until == NOW + RECHECK_S
    assert found.reason == (
        "waits to open its PR in acme/deploy until one closes (2 open, pr.limits.open 2; 1st in line)"
    )


def test_a_freed_slot_goes_to_the_group_that_waited_longest() -> None:
    line = ["first", "second"]
    assert verdict(Limits(open=2), "first", open_prs=1, line=line).go
    second = verdict(Limits(open=2), "second", open_prs=1, line=line)
    assert not second.go and second.reason.endswith("2nd in line)")
    newcomer = verdict(Limits(open=2), "new", open_prs=1, line=line)  # not in line yet: at its end
    assert not newcomer.go and newcomer.reason.endswith("3rd in line)")
    assert verdict(Limits(open=3), "second", open_prs=1, line=line).go  # two slots: both go


def test_the_hourly_limit_waits_until_enough_openings_are_an_hour_old() -> None:
    opened = [NOW - 3000, NOW - 600, NOW - 7200]  # the last is older than an hour: not counted
    first = verdict(Limits(per_hour=2), "a", opened=opened, line=["a", "b"])
    assert not first.go and first.until == NOW - 3000 + HOUR_S
    assert "(2 opened in the last hour, pr.limits.per_hour 2; 1st in line)" in first.reason
    second = verdict(Limits(per_hour=2), "b", opened=opened, line=["a", "b"])
    assert second.until == NOW - 600 + HOUR_S  # it needs both to age out


CONFIG = """\
forges: [{{name: local, kind: local, path: /tmp/x}}]
defaults:
  pr:
    limits: {limits}
rules:
  - name: api
    image: ghcr.io/acme/api
    targets: [{{forge: local, repo: deploy, files: [a.yaml]}}]
"""


def test_the_config_gives_each_group_its_repos_limits() -> None:
    config = load_config(CONFIG.format(limits="{open: 5, per_hour: 2}"), "bot.yaml")
    options = config.pr_for_group(GroupKey("local", "deploy", "main", "default"))
    assert options.limits == Limits(open=5, per_hour=2)


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ("{open: 0}", "greater than or equal to 1"),
        ("{per_hour: -1}", "greater than or equal to 1"),
        ("{open: many}", "valid integer"),
        ("{opne: 3}", "unknown key 'opne' (did you mean 'open'?"),
    ],
)
def test_check_config_refuses_bad_limits_on_their_line(limits: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(CONFIG.format(limits=limits), "bot.yaml")
    assert any(
        p.startswith("bot.yaml:4: defaults.pr.limits") and expected in p for p in exc.value.problems
    ), exc.value.problems


def test_a_repo_file_may_not_set_the_limits_even_when_pr_keys_are_allowed() -> None:
    central = load_config(
        CONFIG.format(limits="{open: 5}").replace("defaults:", "repo_files: {allow: ['pr.*']}\ndefaults:"),
        "bot.yaml",
    )
    patch = read_repo_file(
        central, "pr:\n  limits: {open: 50}\n", ".manifest-bot.yaml", forge="local", repo="deploy"
    )
    assert patch.problems == (
        ".manifest-bot.yaml:2: pr.limits.open: cannot be set in a repo file: PR limits count every group "
        "of the repo before its file is read; set them centrally",
    )
