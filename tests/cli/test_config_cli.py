"""`manifest-bot check-config` and `manifest-bot explain`, end to end on files in a temp dir."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main
from tests.forges.signing_fixture import make_key, needs_ssh_keygen

ROOT = Path(__file__).resolve().parents[2]
WEBHOOKS = ROOT / "tests" / "fixtures" / "webhooks"

CONFIG = """\
forges:
  - {name: github, kind: github}
environments: {dev: {pr: {auto_merge: true}}, prod: {}}
rules:
  - name: api
    image: ghcr.io/acme/api
    policy: {semver: "^1.2"}
    targets:
      - {forge: github, repo: acme/deploy, environment: dev, files: ["envs/dev/*.yaml"]}
      - {forge: github, repo: acme/deploy, environment: prod}
  - name: octo
    ci:
      repo: octo-org/octo-repo
      workflows: [build-*]
      image: ghcr.io/octo-org/octo
      tag: "{branch}-{short_sha}"
    targets:
      - {forge: github, repo: acme/deploy, environment: dev, files: [envs/dev/octo.yaml]}
"""

API_DEV = """\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: api
          image: "ghcr.io/acme/api:1.2.0"   # bumped by manifest-bot
        - name: sidecar
          image: envoyproxy/envoy:v1.29.0
"""
API_PROD = """\
image:
  repository: ghcr.io/acme/api
  tag: 1.1.0
"""
OCTO = "services:\n  octo:\n    image: ghcr.io/octo-org/octo:main-0000000\n"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "deploy"
    for rel, text in {
        "envs/dev/api.yaml": API_DEV,
        "envs/prod/values.yaml": API_PROD,
        "envs/dev/octo.yaml": OCTO,
    }.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / ".git").mkdir()
    (repo / ".git" / "config.yaml").write_text("image: ghcr.io/acme/api:0.0.1\n")  # never scanned
    return repo


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def test_check_config_accepts_the_documented_example() -> None:
    result = run("check-config", str(ROOT / "config" / "example.yaml"))
    assert result.exit_code == 0
    assert result.output.endswith(": ok (3 forges, 5 rules, 6 targets)\n")


def test_check_config_prints_each_problem_with_file_line_and_path_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        CONFIG.replace("semver:", "semvr:").replace(
            "forge: github, repo: acme/deploy, environment: prod", "forge: gh, repo: x"
        )
    )
    result = run("check-config", str(bad))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{bad}:7: rules[0].policy.semvr: unknown key 'semvr' (did you mean 'semver'? "
        "allowed: allow, allow_scheme_change, deny, digest, extract, ignore, min_release_age, order, "
        "ordering, pin, platforms, prereleases, semver, variants, verify)",
        f"{bad}: invalid (1 problem)",
    ]
    fixed = tmp_path / "unknown-forge.yaml"
    fixed.write_text(
        CONFIG.replace("forge: github, repo: acme/deploy, environment: prod", "forge: gh, repo: x")
    )
    result = run("check-config", str(fixed))
    assert result.exit_code == 2
    assert (
        result.stderr.splitlines()[0]
        == f"{fixed}:10: rules[0].targets[1].forge: unknown forge 'gh' (configured: github)"
    )


def test_check_config_reads_the_path_from_the_environment(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MANIFEST_BOT_CONFIG_PATH", str(config_file))
    assert run("check-config").exit_code == 0
    monkeypatch.delenv("MANIFEST_BOT_CONFIG_PATH")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 2 and "no config file" in result.output


def test_check_config_missing_file(tmp_path: Path) -> None:
    result = run("check-config", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "nope.yaml: cannot read: No such file or directory" in result.stderr


def test_explain_image_prints_intents_skips_and_diffs_without_writing(
    config_file: Path, checkout: Path
) -> None:
    before = tree_digest(checkout)
    result = run(
        "explain",
        "--config",
        str(config_file),
        "--image",
        "ghcr.io/acme/api",
        "--tag",
        "v1.4.0",
        "--repo-dir",
        str(checkout),
    )
    assert result.exit_code == 0, result.output
    assert tree_digest(checkout) == before
    out = result.output
    assert (
        "intent: github:acme/deploy:main:dev (env dev): ghcr.io/acme/api -> v1.4.0 "
        "[pin tag, semver [1, 4, 0, 1, 0]] in envs/dev/*.yaml" in out
    )
    assert "intent: github:acme/deploy:main:prod (env prod): ghcr.io/acme/api -> v1.4.0" in out
    assert "in auto-discovered files" in out
    assert (
        "--- a/envs/dev/api.yaml\n+++ b/envs/dev/api.yaml\n@@ -5,6 +5,6 @@\n     spec:\n       containers:\n"
        "         - name: api\n"
        '-          image: "ghcr.io/acme/api:1.2.0"   # bumped by manifest-bot\n'
        '+          image: "ghcr.io/acme/api:v1.4.0"   # bumped by manifest-bot\n'
    ) in out
    # the prod target auto-discovers the Helm values file; the .git directory is never scanned
    assert "-  tag: 1.1.0\n+  tag: v1.4.0\n" in out
    assert ".git/" not in out


def test_explain_shows_policy_skips(config_file: Path) -> None:
    result = run("explain", "--config", str(config_file), "--image", "ghcr.io/acme/api:2.0.0")
    assert result.exit_code == 0
    assert result.output.splitlines()[1:] == [
        "skip: [rule api -> github:acme/deploy@main/dev] tag '2.0.0' is outside the semver range '^1.2'",
        "skip: [rule api -> github:acme/deploy@main/prod] tag '2.0.0' is outside the semver range '^1.2'",
    ]


def test_explain_no_rule(config_file: Path) -> None:
    result = run("explain", "--config", str(config_file), "--image", "nginx", "--tag", "1.27")
    assert result.output.splitlines()[1] == "skip: no rule routes docker.io/library/nginx"


def test_explain_a_raw_github_webhook(config_file: Path, checkout: Path) -> None:
    body = WEBHOOKS / "github" / "workflow_run.completed.json"
    result = run(
        "explain",
        "--config",
        str(config_file),
        "--event",
        str(body),
        "--source",
        "github",
        "-H",
        "X-GitHub-Event: workflow_run",
        "-H",
        "X-GitHub-Delivery: 72d3162e",
        "--repo-dir",
        str(checkout),
    )
    assert result.exit_code == 0, result.output
    assert "ghcr.io/octo-org/octo -> main-3484a3f [pin tag, run-number [562]]" in result.output
    assert (
        "-    image: ghcr.io/octo-org/octo:main-0000000\n+    image: ghcr.io/octo-org/octo:main-3484a3f\n"
        in result.output
    )


def test_explain_reads_parse_webhook_output_and_delivery_json(config_file: Path, tmp_path: Path) -> None:
    event = {
        "kind": "image-pushed",
        "image": "ghcr.io/acme/api",
        "tag": "1.3.0",
        "digest": None,
        "source": "ghcr",
    }
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps([event]))
    result = run("explain", "--config", str(config_file), "--event", str(events_file))
    assert "ghcr.io/acme/api -> 1.3.0" in result.output
    delivery = {"id": "d-9", "source": "ghcr", "received_at": "2024-05-01T10:00:00Z", "events": [event]}
    events_file.write_text(json.dumps(delivery))
    assert (
        "ghcr.io/acme/api -> 1.3.0"
        in run("explain", "--config", str(config_file), "--event", str(events_file)).output
    )


def test_explain_with_several_repos_needs_repo(tmp_path: Path, checkout: Path) -> None:
    config = tmp_path / "two.yaml"
    config.write_text(
        CONFIG.replace(
            "forge: github, repo: acme/deploy, environment: prod",
            "forge: github, repo: acme/other, environment: prod",
        )
    )
    args = [
        "explain",
        "--config",
        str(config),
        "--image",
        "ghcr.io/acme/api:1.4.0",
        "--repo-dir",
        str(checkout),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert (
        "the intents target several repos (github:acme/deploy, github:acme/other); pass --repo"
        in result.output
    )
    result = run(*args, "--repo", "acme/deploy")
    assert result.exit_code == 0 and "+++ b/envs/dev/api.yaml" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --event or --image"),
        (["--image", "ghcr.io/acme/api"], "--image needs --tag (or IMAGE:TAG / IMAGE@DIGEST)"),
        (["--image", "Bad Image", "--tag", "1"], "invalid image reference 'Bad Image': contains white space"),
    ],
)
def test_explain_usage_errors(config_file: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["explain", "--config", str(config_file), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_check_config_warns_about_discovery_without_include_and_lists_files(
    config_file: Path, checkout: Path
) -> None:
    plain = run("check-config", str(config_file))
    assert plain.exit_code == 0
    assert (
        "warning: rules[0] (api) targets[1] (github:acme/deploy@main/prod) discovers files without "
        "discover.include: it may edit any YAML file of acme/deploy that uses ghcr.io/acme/api, "
        "except envs/dev/*.yaml, envs/dev/octo.yaml (other environments')"
    ) in plain.stderr
    listed = run("check-config", str(config_file), "--repo-dir", str(checkout))
    assert "  would touch: envs/prod/values.yaml\n" in listed.stderr  # dev's listed files are dev's
    scoped = config_file.read_text().replace(
        "environment: prod}", 'environment: prod, discover: {include: ["envs/prod/**"]}}'
    )
    config_file.write_text(scoped)
    assert "warning" not in run("check-config", str(config_file)).stderr


def test_explain_warns_and_lists_what_discovery_would_touch(config_file: Path, checkout: Path) -> None:
    args = ["explain", "--config", str(config_file), "--image", "ghcr.io/acme/api", "--tag", "v1.4.0"]
    bare = run(*args)
    assert (
        "warning: github:acme/deploy:main:prod discovers files without discover.include: it may edit "
        "any YAML file of acme/deploy that uses ghcr.io/acme/api (pass --repo-dir to list them)"
    ) in bare.output
    with_dir = run(*args, "--repo-dir", str(checkout))
    assert "# github:acme/deploy:main:prod: would touch: envs/prod/values.yaml\n" in with_dir.output


# --- a manifest repo's own file ------------------------------------------------------------------
WITH_REPO_FILES = CONFIG + "repo_files:\n  allow: [pr.labels, policy.ignore, 'environments.*.pr.*']\n"


def test_check_config_checks_a_repo_file_and_names_every_key_it_may_not_set(tmp_path: Path) -> None:
    central = tmp_path / "bot.yaml"
    central.write_text(WITH_REPO_FILES)
    good = tmp_path / "good.yaml"
    good.write_text("pr:\n  labels: [manifests]\nenvironments:\n  prod:\n    pr: {reviewers: [sre]}\n")
    result = run("check-config", str(central), "--repo-file", str(good))
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == f"{good}: ok (for github:acme/deploy)"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pr:\n  labels: [manifests]\n  auto_merge: true\npolicy:\n  semver: '>=0'\nenvironments:\n  qa: {}\n"
    )
    result = CliRunner().invoke(
        main, ["check-config", str(central), "--repo-file", str(bad), "--repo", "acme/deploy"]
    )
    assert result.exit_code == 2
    allowed = "(repo_files.allow permits: pr.labels, policy.ignore, environments.*.pr.*)"
    assert [line for line in result.stderr.splitlines() if not line.startswith("warning: ")] == [
        f"{bad}:3: pr.auto_merge: not allowed by the central config {allowed}",
        f"{bad}:5: policy.semver: not allowed by the central config {allowed}",
        f"{bad}:7: environments.qa: no target in acme/deploy has environment 'qa'",
        f"{bad}: 3 problems; the bot leaves those keys out",
    ]


def test_explain_applies_the_checkouts_repo_file(tmp_path: Path, checkout: Path) -> None:
    central = tmp_path / "bot.yaml"
    central.write_text(WITH_REPO_FILES)
    (checkout / ".manifest-bot.yaml").write_text("policy:\n  ignore: ['1.5.*']\npr:\n  draft: true\n")
    result = run(
        "explain", "--config", str(central), "--image", "ghcr.io/acme/api:1.5.0", "--repo-dir", str(checkout)
    )
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    assert out[:2] == [
        "repo file: .manifest-bot.yaml applied to github:acme/deploy",
        "repo file: left out: .manifest-bot.yaml:4: pr.draft: not allowed by the central config "
        "(repo_files.allow permits: pr.labels, policy.ignore, environments.*.pr.*)",
    ]
    assert (
        "skip: [rule api -> github:acme/deploy@main/dev] tag '1.5.0' is in the ignore list ('1.5.*')" in out
    )
    # without the checkout (the central config alone) 1.5.0 is planned
    plain = run("explain", "--config", str(central), "--image", "ghcr.io/acme/api:1.5.0")
    assert "intent: github:acme/deploy:main:dev (env dev): ghcr.io/acme/api -> 1.5.0" in plain.output


SHARED_CHART = Path(__file__).resolve().parents[1] / "fixtures" / "helm" / "shared-tag"


def _chart_config(tmp_path: Path, path: str) -> Path:
    config = tmp_path / "shared.yaml"
    target = (
        "{forge: local, repo: acme/deploy, environment: dev, files: [charts/shop/values-dev.yaml], "
        f"path: {path}}}"
    )
    config.write_text(
        "version: 1\nforges: [{name: local, kind: local, path: /nonexistent}]\n"
        f"rules:\n  - name: api\n    image: ghcr.io/acme/api\n    targets: [{target}]\n"
    )
    return config


def test_a_shared_helm_value_is_reported_as_moving_every_image_that_reads_it(tmp_path: Path) -> None:
    config = _chart_config(tmp_path, "images.tag")
    moves = (
        "charts/shop/values-dev.yaml images.tag is read by 2 images of its chart, so moving it moves them "
        "all: ghcr.io/acme/api, ghcr.io/acme/web"
    )
    checked = run("check-config", str(config), "--repo-dir", str(SHARED_CHART))
    assert checked.exit_code == 0, checked.output
    assert f"warning: rules[0] (api) targets[0] (local:acme/deploy@main/dev): {moves}" in checked.stderr
    explained = run(
        "explain",
        "--config",
        str(config),
        "--image",
        "ghcr.io/acme/api",
        "--tag",
        "1.1.0",
        "--repo-dir",
        str(SHARED_CHART),
    )
    assert explained.exit_code == 0, explained.output
    assert f"# local:acme/deploy:main:dev: warning: {moves}\n" in explained.stdout
    assert '-  tag: "1.0.0"\n+  tag: "1.1.0"\n' in explained.stdout


def test_a_value_one_image_reads_is_not_reported(tmp_path: Path) -> None:
    checked = run(
        "check-config", str(_chart_config(tmp_path, "cache.image")), "--repo-dir", str(SHARED_CHART)
    )
    assert checked.exit_code == 0
    assert "moves them all" not in checked.stderr


@needs_ssh_keygen
def test_check_config_signs_with_each_local_forges_key_and_refuses_one_that_cannot(tmp_path: Path) -> None:
    good = make_key(tmp_path / "keys", "good")
    locked = make_key(tmp_path / "keys", "locked", passphrase="s3cret")
    config = tmp_path / "signing.yaml"

    def forge_with(key: Path) -> None:
        config.write_text(
            "forges:\n"
            f"  - {{name: mirror, kind: local, path: {tmp_path}, signing_key_file: {key}}}\n"
            "rules:\n  - {name: api, image: registry.example.com/api,\n"
            "     targets: [{forge: mirror, repo: deploy, environment: dev, files: [a.yaml]}]}\n"
        )

    forge_with(good.private)
    assert run("check-config", str(config)).exit_code == 0
    forge_with(locked.private)
    result = run("check-config", str(config))
    assert result.exit_code == 2
    assert f"{config}: local forge 'mirror': signing_key_file: the key cannot sign commits" in result.output
    assert "s3cret" not in result.output


def test_check_config_renders_templates_and_refuses_each_bad_policy_key_on_its_line(tmp_path: Path) -> None:
    """issue 25: an unknown template name, a bad release age, platform and PR limit, all at once."""
    bad = tmp_path / "policies.yaml"
    bad.write_text(
        "forges: [{name: local, kind: local, path: /tmp/x}]\n"
        "defaults:\n"
        "  pr:\n"
        "    body_template: '{% for c in changes %}{{ c.tga }}{% endfor %}'\n"
        "    limits: {per_hour: 0}\n"
        "  policy:\n"
        "    min_release_age: 3w\n"
        "    platforms: [linux-amd64]\n"
        "rules:\n"
        "  - name: api\n"
        "    image: ghcr.io/acme/api\n"
        "    targets: [{forge: local, repo: deploy, files: [a.yaml]}]\n"
    )
    result = run("check-config", str(bad))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert any(
        line.startswith(f"{bad}:4: defaults.pr.body_template: 'dict object' has no attribute 'tga'")
        for line in lines
    )
    assert any(line.startswith(f"{bad}:5: defaults.pr.limits.per_hour: ") for line in lines)
    assert any(
        line.startswith(f"{bad}:7: defaults.policy.min_release_age: '3w' is not a duration") for line in lines
    )
    assert any(
        line.startswith(f"{bad}:8: defaults.policy.platforms[0]: 'linux-amd64' is not a platform")
        for line in lines
    )
    assert lines[-1] == f"{bad}: invalid (4 problems)"
