"""A manifest repo's ``.manifest-bot.yaml``: allowed keys apply to that repo's targets only."""

from __future__ import annotations

import textwrap

import pytest

from bot.core.config import Config, load_config, merge_repo_config
from bot.errors import ConfigError

CENTRAL = """\
forges:
  - {name: github, kind: github}
environments: {dev: {}, prod: {}}
rules:
  - name: api
    image: ghcr.io/acme/api
    policy: {semver: "^1"}
    pr: {labels: [deps]}
    targets:
      - {forge: github, repo: acme/deploy, environment: dev}
      - {forge: github, repo: acme/deploy, environment: prod}
      - {forge: github, repo: acme/other, environment: dev}
repo_files:
  allow: [pr.labels, pr.reviewers, policy.ignore, "environments.*.pr.*"]
"""


@pytest.fixture
def central() -> Config:
    return load_config(CENTRAL, "bot.yaml")


def merge(central: Config, text: str, repo: str = "acme/deploy") -> Config:
    return merge_repo_config(central, textwrap.dedent(text), ".manifest-bot.yaml", forge="github", repo=repo)


def test_allowed_keys_apply_to_the_repos_targets_only(central: Config) -> None:
    merged = merge(
        central,
        """\
        pr:
          labels: [manifests]
        policy:
          ignore: ["1.4.0"]
        environments:
          prod:
            pr: {reviewers: [sre], draft: true}
        """,
    )
    rule = merged.rules[0]
    dev, prod, other = rule.targets
    assert merged.pr_for(rule, dev).labels == ("manifests",)
    assert merged.pr_for(rule, dev).reviewers == ()
    assert merged.pr_for(rule, prod).reviewers == ("sre",)
    assert merged.pr_for(rule, prod).draft is True
    assert merged.policy_for(rule, prod).ignore == ("1.4.0",)
    assert merged.policy_for(rule, prod).semver == "^1"  # the central range still holds
    assert merged.pr_for(rule, other).labels == ("deps",)  # another repo is untouched
    assert central.pr_for(central.rules[0], central.rules[0].targets[0]).labels == ("deps",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "policy:\n  semver: '>=0'\n",
            [
                ".manifest-bot.yaml:2: policy.semver: not allowed by the central config (repo_files.allow "
                "permits: pr.labels, pr.reviewers, policy.ignore, environments.*.pr.*)"
            ],
            id="refused key",
        ),
        pytest.param(
            "pr:\n  labels: [a]\n  auto_merge: true\n",
            [
                ".manifest-bot.yaml:3: pr.auto_merge: not allowed by the central config (repo_files.allow "
                "permits: pr.labels, pr.reviewers, policy.ignore, environments.*.pr.*)"
            ],
            id="one refused among allowed",
        ),
        pytest.param(
            "environments:\n  qa:\n    pr: {labels: [x]}\n",
            [".manifest-bot.yaml:2: environments.qa: no target in acme/deploy has environment 'qa'"],
            id="unknown environment",
        ),
        pytest.param(
            "pr:\n  lables: [x]\n",
            [
                ".manifest-bot.yaml:2: pr.lables: unknown key 'lables' (did you mean 'labels'? allowed: "
                "assignees, auto_merge, body_template, branch_prefix, commit_template, draft, labels, "
                "limits, merge_method, mode, rebase, reviewers, separate_major, title_template)"
            ],
            id="unknown key",
        ),
        pytest.param(
            "rules: []\n",
            [".manifest-bot.yaml:1: rules: unknown key 'rules' (allowed: environments, policy, pr)"],
            id="repo files cannot add rules",
        ),
    ],
)
def test_refused_overrides_say_why(central: Config, text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        merge(central, text)
    assert info.value.problems == expected


def test_repo_files_are_refused_when_the_central_file_does_not_enable_them() -> None:
    central = load_config(CENTRAL.split("repo_files:", maxsplit=1)[0], "bot.yaml")
    with pytest.raises(ConfigError) as info:
        merge(central, "pr:\n  labels: [x]\n")
    assert info.value.problems == [
        ".manifest-bot.yaml:2: pr.labels: repo files are off: the central config has no 'repo_files' section"
    ]


def test_an_empty_repo_file_changes_nothing(central: Config) -> None:
    assert merge(central, "# nothing here\n") == central
