"""ConfigSource on a real git repo (local forge): the central file taken when it changes and is
valid, refused (the old one kept) when it is not; repo files at a commit, cached by sha."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import load_config
from bot.core.keys import GroupKey
from bot.errors import BotError, ConfigError, PermissionDenied, SettingsError, Transient
from bot.forges.local.adapter import LocalGitForge
from bot.services.config_source import ConfigSource, forge_options, resolve_ref
from bot.settings import Settings
from tests.forges.local_fixture import human_commit, seed_repo

CENTRAL = """\
forges:
  - {name: local, kind: local, path: /srv/git}
rules:
  - name: api
    image: ghcr.io/acme/api
    pr: {labels: [deps]}
    targets:
      - {forge: local, repo: acme/deploy, environment: dev}
repo_files:
  allow: [pr.labels, policy.ignore]
"""
GROUP = "local:acme/deploy:main:dev"


class CountingForge(LocalGitForge):
    """The real local forge, counting file reads so the cache can be observed; ``down`` makes
    it fail as a forge outage does."""

    reads = 0
    down: BotError | None = None

    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        self.reads += 1
        return super().read_file(repo, path, ref)

    def branch_head(self, repo: str, branch: str) -> str | None:
        if self.down is not None:
            raise self.down
        return super().branch_head(repo, branch)


@pytest.fixture
def forge(tmp_path: Path) -> CountingForge:
    seed_repo(tmp_path / "git", "acme/deploy", {"dev/api.yaml": "image: ghcr.io/acme/api:1.0.0\n"})
    return CountingForge(tmp_path / "git")


@pytest.fixture
def source(tmp_path: Path, forge: CountingForge, make_settings: Callable[..., Settings]) -> ConfigSource:
    path = tmp_path / "bot.yaml"
    path.write_text(CENTRAL)
    return ConfigSource(make_settings(config_path=path), lambda name: forge)


def write(path: Path, text: str, stamp: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(stamp, stamp))  # a new mtime, whatever the clock granularity


def head(forge: CountingForge) -> str:
    sha = forge.branch_head("acme/deploy", "main")
    assert sha is not None
    return sha


def labels_at(source: ConfigSource, sha: str | None) -> tuple[str, ...]:
    return source.pr_config(GroupKey.parse(GROUP), ["ghcr.io/acme/api"])(sha).labels


# --- the central file --------------------------------------------------------------------------
def test_the_central_file_is_taken_when_it_changes_and_refused_when_invalid(
    source: ConfigSource, tmp_path: Path
) -> None:
    path = tmp_path / "bot.yaml"
    first = source.current()
    assert source.refresh().outcome == "unchanged" and source.current() is first
    write(path, CENTRAL.replace("[deps]", "[deps, more]"), 1)
    reload = source.refresh()
    assert (reload.outcome, reload.previous) == ("loaded", first)
    assert source.current().rules[0].pr.labels == ("deps", "more")
    good = source.current()
    write(path, CENTRAL.replace("image: ghcr.io", "imag: ghcr.io"), 2)
    refused = source.refresh()
    assert refused.outcome == "refused" and refused.config is good
    assert refused.refusal is not None and any("unknown key 'imag'" in p for p in refused.refusal.problems)
    assert source.current() is good  # the old config stays in use
    assert source.refresh().outcome == "unchanged"  # refused once, said once
    assert source.refusal == refused.refusal  # ...and remembered for the status page
    write(path, CENTRAL, 3)
    assert source.refresh().outcome == "loaded" and source.refusal is None


def test_a_config_naming_an_unset_secret_is_refused(
    source: ConfigSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GL_TOKEN_17", raising=False)
    good = source.current()
    gitlab = "  - {name: gl, kind: gitlab, token: 'env:GL_TOKEN_17'}\n"
    write(tmp_path / "bot.yaml", CENTRAL.replace("forges:\n", "forges:\n" + gitlab), 5)
    reload = source.refresh()
    assert reload.outcome == "refused" and source.current() is good
    assert reload.refusal is not None
    assert reload.refusal.problems == (
        "env:GL_TOKEN_17: no value (the routing config references it for a forge)",
    )


def test_sighup_reads_the_file_even_when_its_stamp_looks_unchanged(
    source: ConfigSource, tmp_path: Path
) -> None:
    path = tmp_path / "bot.yaml"
    source.current()
    stat = path.stat()
    path.write_text(CENTRAL.replace("[deps]", "[deps, hup]"))  # same size? no: forced anyway
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert source.refresh(force=True).outcome == "loaded"
    assert source.current().rules[0].pr.labels == ("deps", "hup")


def test_missing_central_file_is_a_config_error(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    source = ConfigSource(make_settings(config_path=tmp_path / "nope.yaml"), lambda name: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="cannot read the routing config"):
        source.current()


def test_an_invalid_first_config_is_an_error_listing_every_problem(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text(CENTRAL.replace("image: ghcr.io", "imag: ghcr.io").replace("{labels:", "{lables:"))
    source = ConfigSource(make_settings(config_path=path), lambda name: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError) as info:
        source.current()
    assert str(info.value).startswith(f"{path}: ") and len(info.value.problems) == 2


# --- repo files ------------------------------------------------------------------------------------
def test_a_repo_without_its_own_file_gets_the_central_config(
    source: ConfigSource, forge: CountingForge
) -> None:
    assert labels_at(source, head(forge)) == ("deps",)
    assert source.repo_problems("local", "acme/deploy", head(forge)) == ()


def test_repo_file_is_read_at_the_given_commit_and_cached_by_sha(
    source: ConfigSource, forge: CountingForge
) -> None:
    before = head(forge)
    human_commit(forge, "acme/deploy", "main", {".manifest-bot.yaml": "pr:\n  labels: [manifests]\n"})
    assert labels_at(source, head(forge)) == ("manifests",)
    reads = forge.reads
    assert labels_at(source, head(forge)) == ("manifests",)
    assert forge.reads == reads  # same sha: served from the cache
    assert labels_at(source, before) == ("deps",)  # the file is read at the commit asked for
    assert labels_at(source, None) == ("deps",)  # before the base is known: the central file
    human_commit(forge, "acme/deploy", "main", {".manifest-bot.yaml": "pr:\n  labels: [v2]\n"})
    assert labels_at(source, head(forge)) == ("v2",)


def test_refused_keys_are_problems_and_the_rest_applies(source: ConfigSource, forge: CountingForge) -> None:
    text = "pr:\n  labels: [manifests]\n  auto_merge: true\n  branch_prefix: bots\n"
    human_commit(forge, "acme/deploy", "main", {".manifest-bot.yaml": text})
    assert labels_at(source, head(forge)) == ("manifests",)
    assert source.repo_problems("local", "acme/deploy", head(forge)) == (
        "acme/deploy/.manifest-bot.yaml:3: pr.auto_merge: not allowed by the central config "
        "(repo_files.allow permits: pr.labels, policy.ignore)",
        "acme/deploy/.manifest-bot.yaml:4: pr.branch_prefix: cannot be set in a repo file: the bot's "
        "branch name is needed before the repo file can be read; set it centrally",
    )


def test_planning_reads_each_reached_repo_at_its_head_and_falls_back_when_the_forge_is_down(
    source: ConfigSource, forge: CountingForge
) -> None:
    where = {("local", "acme/deploy", "main")}
    human_commit(forge, "acme/deploy", "main", {".manifest-bot.yaml": "policy:\n  ignore: ['1.5.*']\n"})
    config = source.for_targets(where)
    assert config.policy_for(config.rules[0], config.rules[0].targets[0]).ignore == ("1.5.*",)
    forge.down = Transient("the forge is down")  # the last file read there still holds
    config = source.for_targets(where)
    assert config.policy_for(config.rules[0], config.rules[0].targets[0]).ignore == ("1.5.*",)
    cold = ConfigSource(source.settings, lambda name: forge)
    with pytest.raises(Transient):  # never read: planning must not ignore the repo's policy
        cold.for_targets(where)
    forge.down = PermissionDenied("the bot cannot read acme/deploy")  # not temporary: plan without it
    config = cold.for_targets(where)
    assert config.policy_for(config.rules[0], config.rules[0].targets[0]).ignore == ()


def test_repo_files_off_reads_nothing(
    make_settings: Callable[..., Settings], tmp_path: Path, forge: CountingForge
) -> None:
    path = tmp_path / "off.yaml"
    path.write_text(CENTRAL.split("repo_files:", maxsplit=1)[0])
    source = ConfigSource(make_settings(config_path=path), lambda name: forge)
    human_commit(forge, "acme/deploy", "main", {".manifest-bot.yaml": "pr:\n  labels: [manifests]\n"})
    assert labels_at(source, head(forge)) == ("deps",)
    assert source.for_targets({("local", "acme/deploy", "main")}) is source.current()
    assert forge.reads == 0


@pytest.mark.parametrize(
    ("ref", "environ", "expected"),
    [
        ("env:GL_TOKEN", {"GL_TOKEN": "glpat-1"}, "glpat-1"),
        ("setting:gitlab_token", {}, "from-settings"),
        (
            "env:MISSING",
            {},
            SettingsError("env:MISSING: no value (the routing config references it for a forge)"),
        ),
    ],
)
def test_secret_references_resolve(ref: str, environ: dict[str, str], expected: Any) -> None:
    settings = Settings(gitlab_token="from-settings")  # type: ignore[arg-type]
    if isinstance(expected, Exception):
        with pytest.raises(SettingsError) as info:
            resolve_ref(ref, settings, environ)
        assert str(info.value) == str(expected)
    else:
        assert resolve_ref(ref, settings, environ) == expected


def test_file_reference_and_forge_options(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN KEY-----\n")
    config = load_config(
        f"""\
forges:
  - {{name: ghe, kind: github, api_url: "https://ghe.example.com/api/v3", app_id: 7,
      private_key: "file:{key}"}}
  - {{name: disk, kind: local, path: /srv/git, permissions: {{alice: admin}}}}
""",
        "bot.yaml",
    )
    settings = Settings()
    assert forge_options(config.forge("ghe"), settings) == {
        "api_url": "https://ghe.example.com/api/v3",
        "app_id": 7,
        "private_key": "-----BEGIN KEY-----",
    }
    assert forge_options(config.forge("disk"), settings) == {
        "root": "/srv/git",
        "permissions": {"alice": "admin"},
        "default_permission": "write",
    }


def test_a_forges_own_bot_login_and_installation_reach_the_built_client(tmp_path: Path) -> None:
    from bot.forges.factory import build_forge

    config = load_config(
        f"""\
forges:
  - {{name: gh, kind: github, app_id: 7, installation_id: 99, private_key: "env:GH_KEY",
      bot_login: "acme-deployer[bot]"}}
  - {{name: disk, kind: local, path: "{tmp_path}", bot_login: deploy-bot}}
  - {{name: plain, kind: local, path: "{tmp_path}"}}
""",
        "bot.yaml",
    )
    settings = Settings(bot_login="manifest-bot[bot]")
    options = forge_options(config.forge("gh"), settings, environ={"GH_KEY": "pem"})
    assert options["installation_id"] == 99 and options["bot_login"] == "acme-deployer[bot]"
    disk = build_forge("disk", "local", settings, **forge_options(config.forge("disk"), settings))
    plain = build_forge("plain", "local", settings, **forge_options(config.forge("plain"), settings))
    # the bot recognises its own commits and comments by this login: a forge's own wins
    assert disk.info.bot_login == "deploy-bot"
    assert plain.info.bot_login == "manifest-bot[bot]"


@pytest.mark.parametrize(
    ("key", "value", "hint"),
    [
        ("policy", "{min_release_age: 3 days}", "is not a duration: write it as a number with s, m, h or d"),
        ("policy", "{platforms: [amd64]}", "'amd64' is not a platform: write it as os/architecture"),
        ("pr", "{labels: [deps], limits: {open: 0}}", "greater than or equal to 1"),
        ("pr", "{labels: [deps], body_template: '{{ chnages }}'}", "unknown name 'chnages' (known: env"),
    ],
)
def test_a_reload_refuses_a_bad_policy_key_on_its_line_and_keeps_the_config_in_use(
    source: ConfigSource, tmp_path: Path, key: str, value: str, hint: str
) -> None:
    """issue 25, bad input: min_release_age, platforms, pr.limits and templates at reload."""
    in_use = source.current()
    text = CENTRAL.replace("    pr: {labels: [deps]}\n", f"    {key}: {value}\n")
    write(tmp_path / "bot.yaml", text, 5)

    refused = source.refresh()

    assert refused.outcome == "refused" and source.current() is in_use
    assert refused.refusal is not None
    where = f"{tmp_path / 'bot.yaml'}:6: rules[0].{key}."  # the line of the rule's key
    assert any(p.startswith(where) and hint in p for p in refused.refusal.problems), refused.refusal.problems
