from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.core.config import PERMISSIONS, SCHEMA_PATH, Config, load_config, schema_text
from bot.core.ports import Permission
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FORGES = """\
forges:
  - name: github
    kind: github
"""


def load(text: str) -> Config:
    return load_config(textwrap.dedent(text), "bot.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text)
    return info.value.problems


def test_example_config_loads_and_documents_real_settings() -> None:
    config = load_config((ROOT / "config" / "example.yaml").read_text(), "example.yaml")
    assert [f.name for f in config.forges] == ["github", "gitlab", "local"]
    assert config.forge("gitlab").kind == "gitlab"
    assert config.promotion_chain("ghcr.io/acme/api") == ("dev", "staging", "prod")
    assert config.chatops.environments["prod"] == "admin"
    assert config.repo_files is not None and "pr.labels" in config.repo_files.allow


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            FORGES + "rules:\n  - name: api\n    image: ghcr.io/acme/api\n    policy:\n      semvr: '^1'\n"
            "    targets: [{forge: github, repo: a/b}]\n",
            [
                "bot.yaml:8: rules[0].policy.semvr: unknown key 'semvr' (did you mean 'semver'? "
                "allowed: allow, allow_scheme_change, deny, digest, extract, ignore, min_release_age, order, "
                "ordering, pin, platforms, prereleases, semver, variants, verify)"
            ],
            id="unknown key with suggestion",
        ),
        pytest.param(
            FORGES + "rulez: []\n",
            [
                "bot.yaml:4: rulez: unknown key 'rulez' (did you mean 'rules'? allowed: bot, chatops, "
                "defaults, environments, forges, promotion, repo_files, rules, version)"
            ],
            id="unknown top-level key",
        ),
        pytest.param(
            FORGES + "rules:\n  - name: api\n    image: ghcr.io/acme/api\n    policy: {semver: '^1.x.y'}\n"
            "    targets: [{forge: github, repo: a/b}]\n",
            [
                "bot.yaml:7: rules[0].policy.semver: invalid semver range '^1.x.y': "
                "use npm/Cargo syntax such as '^1.2', '~1.2.3', '>=1.2 <2'"
            ],
            id="bad semver range",
        ),
        pytest.param(
            FORGES + "rules:\n  - name: api\n    image_regex: '(ghcr'\n"
            "    targets: [{forge: github, repo: a/b}]\n",
            ["bot.yaml:6: rules[0].image_regex: invalid regular expression '(ghcr': missing ): (ghcr"],
            id="bad regex",
        ),
        pytest.param(
            FORGES + "defaults:\n  policy:\n    allow: '^(?!0)[0-9]+$'\n",
            [
                "bot.yaml:6: defaults.policy.allow: invalid regular expression '^(?!0)[0-9]+$': "
                "invalid perl operator: (?! (RE2 syntax: no look-around or backreferences; "
                "use \\z or $ for the end)"
            ],
            id="look-ahead needs backtracking",
        ),
        pytest.param(
            FORGES + "rules:\n  - name: api\n    image: ghcr.io/acme/api\n"
            "    targets:\n      - forge: gitlab\n        repo: a/b\n",
            ["bot.yaml:8: rules[0].targets[0].forge: unknown forge 'gitlab' (configured: github)"],
            id="unknown forge",
        ),
        pytest.param(
            FORGES + "rules:\n  - name: api\n    image: ghcr.io/acme/api\n"
            "    targets:\n      - forge: github\n        repo: a/b\n        doc: first\n",
            [
                "bot.yaml:10: rules[0].targets[0].doc: input should be a valid integer, "
                "unable to parse string as an integer"
            ],
            id="wrong type",
        ),
        pytest.param(
            FORGES + "rules:\n  - name: api\n    image: ghcr.io/acme/api\n    policy:\n      ignore: [1.10]\n"
            "    targets: [{forge: github, repo: a/b}]\n",
            [
                "bot.yaml:8: rules[0].policy.ignore[0]: expected text, but YAML read a number (1.1); "
                "put the value in quotes to keep it as written"
            ],
            id="unquoted version read as a number",
        ),
        pytest.param(
            FORGES + "rules:\n  - name: api\n    image: ghcr.io/acme/api\n    policy: {pin: sha}\n"
            "    targets: [{forge: github, repo: a/b}]\n",
            ["bot.yaml:7: rules[0].policy.pin: 'sha' is not one of 'tag', 'digest' or 'tag+digest'"],
            id="bad enum",
        ),
        pytest.param(
            FORGES + "rules:\n  - name: api\n    targets: [{forge: github, repo: a/b}]\n",
            [
                "bot.yaml:5: rules[0]: give exactly one of image, image_glob, image_regex, chart, "
                "chart_glob or ci"
            ],
            id="rule without a match",
        ),
        pytest.param(
            FORGES + "rules:\n  - name: api\n    image: ghcr.io/acme/api:1.2\n"
            "    targets: [{forge: github, repo: a/b}]\n",
            ["bot.yaml:6: rules[0].image: give the image without tag or digest, e.g. 'ghcr.io/acme/api'"],
            id="image with a tag",
        ),
        pytest.param(
            FORGES + "rules:\n  - name: web\n    ci:\n      repo: acme/web\n      image: ghcr.io/acme/web\n"
            "      tag: '{sha}-{build}'\n    targets: [{forge: github, repo: a/b}]\n",
            [
                "bot.yaml:9: rules[0].ci.tag: unknown placeholder {build} (allowed: {branch}, {ref_name}, "
                "{run_id}, {run_number}, {sha}, {short_sha})"
            ],
            id="bad tag template",
        ),
        pytest.param(
            "forges:\n  - name: github\n    kind: github\n    token: ghp_0123456789abcdef\n",
            [
                "bot.yaml:4: forges[0].token: must reference a secret, never hold it: "
                "'env:VARIABLE', 'file:/path' or 'setting:<name>'"
            ],
            id="inline secret refused",
        ),
        pytest.param(
            "forges:\n  - name: github\n    kind: github\n    token: setting:github_tokn\n",
            [
                "bot.yaml:4: forges[0].token: unknown setting 'github_tokn' "
                "(a forge secret setting: github_private_key, github_token, gitlab_token)"
            ],
            id="unknown setting reference",
        ),
        pytest.param(
            "forges:\n  - name: gh\n    kind: gitHub\n",
            ["bot.yaml:3: forges[0].kind: unknown forge kind 'gitHub' (expected github, gitlab or local)"],
            id="unknown forge kind",
        ),
        pytest.param(
            "forges:\n  - name: disk\n    kind: local\n",
            ["bot.yaml:2: forges[0].path: missing required key 'path'"],
            id="missing key",
        ),
        pytest.param(
            "forges: []\n",
            ["bot.yaml:1: forges: needs at least 1 item"],
            id="no forges",
        ),
        pytest.param(
            FORGES + "environments: {dev: {}}\nrules:\n  - name: api\n    image: ghcr.io/acme/api\n"
            "    targets: [{forge: github, repo: a/b, environment: prod}]\n",
            ["bot.yaml:8: rules[0].targets[0].environment: unknown environment 'prod' (declared: dev)"],
            id="undeclared environment",
        ),
        pytest.param(
            FORGES + "  - name: github\n    kind: gitlab\n",
            ["bot.yaml:4: forges[1].name: forge name 'github' is used twice"],
            id="duplicate forge",
        ),
        pytest.param(
            FORGES + "repo_files:\n  allow: [labels]\n",
            [
                "bot.yaml:5: repo_files.allow[0]: 'labels' names no repo-file key "
                "(start with pr., policy. or environments.)"
            ],
            id="bad repo_files pattern",
        ),
    ],
)
def test_config_errors_name_file_line_and_key_path(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    found = problems(
        """\
        forges:
          - name: github
            kind: github
            api_url: 42
        chatops:
          default_permission: owner
        """
    )
    assert found == [
        "bot.yaml:4: forges[0].api_url: expected text, but YAML read a number (42); "
        "put the value in quotes to keep it as written",
        "bot.yaml:6: chatops.default_permission: 'owner' is not one of "
        "'none', 'read', 'triage', 'write', 'maintain' or 'admin'",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("forges:\n  - name: a\n    kind: local\n    path: /x\n  - [\n", "bot.yaml:6: (yaml): "),
        ("forges: []\nforges: []\n", "bot.yaml:2: (yaml): "),
        ("- just\n- a list\n", "bot.yaml:1: (top level): expected a mapping of keys, got CommentedSeq"),
        ("", "bot.yaml:1: forges: missing required key 'forges'"),
    ],
)
def test_yaml_level_problems(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(text, "bot.yaml")
    assert info.value.problems[0].startswith(expected)
    assert len(info.value.problems) == 1


def test_duplicate_key_problem_names_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_config("forges: []\nforges: []\n", "bot.yaml")
    assert 'duplicate key "forges"' in info.value.problems[0]


def test_settings_resolve_from_defaults_to_environment_to_rule_to_target() -> None:
    config = load(
        FORGES
        + """\
        defaults:
          pr: {labels: [deps], reviewers: [alice]}
          policy: {prereleases: true}
        environments:
          dev: {pr: {auto_merge: true}}
          prod: {pr: {reviewers: [sre]}, policy: {prereleases: false}}
        rules:
          - name: api
            image: ghcr.io/acme/api
            pr: {labels: [api]}
            targets:
              - {forge: github, repo: a/b, environment: dev}
              - {forge: github, repo: a/b, environment: prod, pr: {draft: true}}
        """.replace("        ", "")
    )
    rule = config.rules[0]
    dev, prod = rule.targets
    assert config.pr_for(rule, dev).auto_merge is True
    assert config.pr_for(rule, dev).labels == ("api",)
    assert config.pr_for(rule, dev).reviewers == ("alice",)
    assert config.pr_for(rule, prod).auto_merge is False
    assert config.pr_for(rule, prod).reviewers == ("sre",)
    assert config.pr_for(rule, prod).draft is True
    assert config.policy_for(rule, dev).prereleases is True
    assert config.policy_for(rule, prod).prereleases is False
    assert (dev.group_name, prod.group_name) == ("dev", "prod")


def test_lookups_other_components_use() -> None:
    config = load(
        FORGES
        + "  - {name: lab, kind: gitlab, url: 'https://gitlab.example.com', token: 'env:GL_TOKEN'}\n"
        + """\
promotion:
  - {name: web, environments: [dev, prod], images: ['ghcr.io/acme/web*']}
  - {name: all, environments: [dev, staging, prod]}
rules:
  - name: api
    image: nginx
    targets:
      - {forge: github, repo: acme/deploy, environment: dev}
      - {forge: lab, repo: acme/deploy, environment: staging}
      - {forge: github, repo: acme/deploy, environment: prod}
chatops:
  commands: {promote: maintain}
  environments: {prod: admin}
  allowed_users: [alice]
"""
    )
    assert config.forge("lab").url == "https://gitlab.example.com"  # type: ignore[union-attr]
    with pytest.raises(KeyError, match="unknown forge 'gl' \\(configured: github, lab\\)"):
        config.forge("gl")
    assert [t.environment for t in config.targets_in_repo("github", "acme/deploy")] == ["dev", "prod"]
    assert config.rules[0].matches_image("docker.io/library/nginx")
    assert config.promotion_chain("ghcr.io/acme/web-ui") == ("dev", "prod")
    assert config.promotion_chain("ghcr.io/acme/api") == ("dev", "staging", "prod")
    assert config.chatops.commands == {"promote": "maintain"}
    assert config.chatops.allowed_users == ("alice",)


def test_permission_names_match_the_forge_permission_ladder() -> None:
    assert tuple(p.name.lower() for p in sorted(Permission)) == PERMISSIONS


def test_config_is_frozen() -> None:
    config = load(FORGES)
    with pytest.raises(ValueError, match="frozen"):
        config.version = 2  # type: ignore[misc]


def test_schema_file_matches_the_model() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), (
        "config/schema.json drifted from the model: run python -m bot.core.config --write-schema"
    )
    schema = json.loads(schema_text())
    assert schema["additionalProperties"] is False
    assert "semver" in schema["$defs"]["Policy"]["properties"]


def test_schema_cli_detects_drift(tmp_path: Path) -> None:
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n")
    run = [sys.executable, "-m", "bot.core.config"]
    check = subprocess.run(
        [*run, "--check-schema", str(stale)], check=False, capture_output=True, text=True, cwd=ROOT
    )
    assert check.returncode == 1 and "out of date" in check.stderr
    subprocess.run([*run, "--write-schema", str(stale)], check=True, capture_output=True, cwd=ROOT)
    assert stale.read_text() == schema_text()


def test_setting_references_name_secret_process_settings() -> None:
    """The core cannot import the settings module; the names it accepts must exist there."""
    from bot.core.config.model import SECRET_SETTINGS
    from bot.settings import Settings

    for name in SECRET_SETTINGS:
        assert name in Settings.model_fields
        assert "SecretStr" in str(Settings.model_fields[name].annotation), name


def test_a_key_inherited_through_a_merge_key_is_reported_not_crashed_on() -> None:
    """A key a mapping gets from ``<<: *anchor`` has no line of its own: the mapping's is used."""
    text = (
        "forges: [{name: gh, kind: github}]\n"
        "x0: &a0 {kind: nope}\n"
        "rules:\n"
        "  - <<: *a0\n"
        "    name: a\n"
        "    targets: [{forge: gh, repo: a/b}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load(text)
    assert "bot.yaml:4: rules[0].kind: unknown key 'kind'" in "\n".join(info.value.problems)


def test_pr_rebase_defaults_to_conflicted_is_set_per_environment_and_refuses_other_words() -> None:
    config = load(
        FORGES
        + """\
        environments:
          dev: {pr: {rebase: auto, auto_merge: true}}
          prod: {pr: {rebase: never}}
          qa: {}
        rules:
          - name: api
            image: ghcr.io/acme/api
            targets:
              - {forge: github, repo: a/b, environment: dev}
              - {forge: github, repo: a/b, environment: prod}
              - {forge: github, repo: a/b, environment: qa}
        """.replace("        ", "")
    )
    rule = config.rules[0]
    dev, prod, qa = (config.pr_for(rule, t) for t in rule.targets)
    assert (dev.rebase, prod.rebase, qa.rebase) == ("auto", "never", "conflicted")
    assert dev.rebuilds_on_any_base_move() and not prod.rebuilds_on_any_base_move()
    [problem] = problems(FORGES + "defaults:\n  pr: {rebase: always}\nrules: []\n")
    assert "pr.rebase" in problem and "conflicted" in problem
