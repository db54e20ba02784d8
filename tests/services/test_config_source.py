"""ConfigSource on a real git repo (local forge): repo files at the base head, cached by sha."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import load_config
from bot.errors import ConfigError, SettingsError
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
  allow: [pr.labels]
"""


class CountingForge(LocalGitForge):
    """The real local forge, counting file reads so the cache can be observed."""

    reads = 0

    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        self.reads += 1
        return super().read_file(repo, path, ref)


@pytest.fixture
def forge(tmp_path: Path) -> CountingForge:
    seed_repo(tmp_path / "git", "acme/deploy", {"dev/api.yaml": "image: ghcr.io/acme/api:1.0.0\n"})
    return CountingForge(tmp_path / "git")


@pytest.fixture
def source(tmp_path: Path, forge: CountingForge, make_settings: Callable[..., Settings]) -> ConfigSource:
    path = tmp_path / "bot.yaml"
    path.write_text(CENTRAL)
    return ConfigSource(make_settings(config_path=path), lambda name: forge)


def labels(source: ConfigSource) -> tuple[str, ...]:
    config = source.for_repo("local", "acme/deploy")
    rule = config.rules[0]
    return config.pr_for(rule, rule.targets[0]).labels


def test_a_repo_without_its_own_file_gets_the_central_config(source: ConfigSource) -> None:
    assert labels(source) == ("deps",)


def test_repo_file_is_read_at_the_base_head_and_cached_by_sha(
    source: ConfigSource, forge: CountingForge
) -> None:
    human_commit(forge, "acme/deploy", "main", {".manifest-bot.yaml": "pr:\n  labels: [manifests]\n"})
    assert labels(source) == ("manifests",)
    reads = forge.reads
    assert labels(source) == ("manifests",)
    assert forge.reads == reads  # same head sha: served from the cache
    human_commit(forge, "acme/deploy", "main", {".manifest-bot.yaml": "pr:\n  labels: [v2]\n"})
    assert labels(source) == ("v2",)


def test_a_refused_key_in_the_repo_file_is_an_error_naming_repo_file_and_line(
    source: ConfigSource, forge: CountingForge
) -> None:
    human_commit(forge, "acme/deploy", "main", {".manifest-bot.yaml": "pr:\n  auto_merge: true\n"})
    with pytest.raises(ConfigError) as info:
        source.for_repo("local", "acme/deploy")
    assert info.value.problems == [
        "acme/deploy/.manifest-bot.yaml:2: pr.auto_merge: not allowed by the central config "
        "(repo_files.allow permits: pr.labels)"
    ]


def test_central_file_is_reloaded_only_when_it_changes(source: ConfigSource, tmp_path: Path) -> None:
    first = source.central()
    assert source.central() is first
    (tmp_path / "bot.yaml").write_text(CENTRAL.replace("[deps]", "[deps, more]"))
    os.utime(tmp_path / "bot.yaml", ns=(1, 1))  # a different stamp, whatever the clock granularity
    assert source.central().rules[0].pr.labels == ("deps", "more")


def test_missing_central_file_is_a_config_error(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    source = ConfigSource(make_settings(config_path=tmp_path / "nope.yaml"), lambda name: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="cannot read the routing config"):
        source.central()


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
