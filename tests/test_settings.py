"""Process settings as an operator gives them: MANIFEST_BOT_* variables and *_FILE secret files,
refused with the variable's name when wrong; the tests' own MANIFEST_BOT_TEST_* variables pass."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.errors import SettingsError
from bot.settings import Settings
from tests.conftest import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[1]


def test_variables_become_typed_settings_and_overrides_win() -> None:
    settings = Settings.from_env(
        {
            "MANIFEST_BOT_REDIS_URL": "redis://cache:6379/2",
            "MANIFEST_BOT_JOB_TIMEOUT_S": "120",
            "MANIFEST_BOT_LOG_JSON": "false",
            "MANIFEST_BOT_CONFIG_PATH": "/etc/manifest-bot/config.yaml",
            "MANIFEST_BOT_POLL_INTERVAL_S": "2.5",
            "HOME": "/root",  # not ours: ignored
        },
        job_timeout_s=60,
    )
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.job_timeout_s == 60
    assert settings.log_json is False
    assert settings.config_path == Path("/etc/manifest-bot/config.yaml")
    assert settings.poll_interval_s == 2.5
    assert settings.lock_timeout_s == Settings().lock_timeout_s  # unset: the default


def test_comma_lists_and_endpoint_pairs() -> None:
    settings = Settings.from_env(
        {
            "MANIFEST_BOT_ALLOW_UNSIGNED": "DockerHub, harbor,",
            "MANIFEST_BOT_INSECURE_REGISTRIES": "Registry.Lab:5000",
            "MANIFEST_BOT_REGISTRY_ENDPOINTS": "Registry.Example.com=10.0.0.5:5000, ghcr.io=mirror:443",
        }
    )
    assert settings.allow_unsigned == frozenset({"dockerhub", "harbor"})
    assert settings.insecure_registries == frozenset({"registry.lab:5000"})
    assert settings.registry_endpoints == {"registry.example.com": "10.0.0.5:5000", "ghcr.io": "mirror:443"}
    with pytest.raises(SettingsError, match=r"MANIFEST_BOT_REGISTRY_ENDPOINTS: .*host=host\[:port\] pairs"):
        Settings.from_env({"MANIFEST_BOT_REGISTRY_ENDPOINTS": "registry.example.com"})


def test_webhook_secrets_per_source_several_while_rotating(tmp_path: Path) -> None:
    secret_file = tmp_path / "gitlab-token"
    secret_file.write_text("from-file\n", encoding="utf-8")
    settings = Settings.from_env(
        {
            "MANIFEST_BOT_WEBHOOK_SECRET_GITHUB": "new-secret, old-secret",
            "MANIFEST_BOT_WEBHOOK_SECRET_GITLAB_FILE": str(secret_file),
        }
    )
    assert settings.secrets_for("github") == ("new-secret", "old-secret")
    assert settings.secrets_for("gitlab") == ("from-file",)
    assert settings.secrets_for("harbor") == ()
    assert "new-secret" not in repr(settings)


def test_any_variable_may_come_from_a_file_and_an_unreadable_one_is_named(tmp_path: Path) -> None:
    key = tmp_path / "github-app.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n", encoding="utf-8")
    settings = Settings.from_env({"MANIFEST_BOT_GITHUB_PRIVATE_KEY_FILE": str(key)})
    assert settings.github_private_key is not None
    assert settings.github_private_key.get_secret_value().endswith("END PRIVATE KEY-----")
    missing = tmp_path / "absent"
    with pytest.raises(SettingsError, match=rf"^MANIFEST_BOT_GITHUB_TOKEN_FILE: cannot read {missing}"):
        Settings.from_env({"MANIFEST_BOT_GITHUB_TOKEN_FILE": str(missing)})


@pytest.mark.parametrize(
    "variable", ["MANIFEST_BOT_REDIS_ULR", "MANIFEST_BOT_WEBHOOK_SECRETS", "MANIFEST_BOT_NO_SUCH_FILE"]
)
def test_an_unknown_variable_is_refused_by_name(variable: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{variable}: unknown setting \(see config/example.env\)"):
        Settings.from_env({variable: "x"})


def test_an_invalid_value_names_its_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"MANIFEST_BOT_RETRY_MAX": "-1", "MANIFEST_BOT_REDIS_PREFIX": "a:b"})
    assert "MANIFEST_BOT_RETRY_MAX: Input should be greater than or equal to 0" in str(caught.value)
    assert "MANIFEST_BOT_REDIS_PREFIX: " in str(caught.value)


def test_the_tests_own_redis_variable_is_no_setting_and_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANIFEST_BOT_TEST_REDIS_URL", TEST_REDIS_URL)
    monkeypatch.delenv("MANIFEST_BOT_REDIS_URL", raising=False)
    assert Settings.from_env().redis_url == Settings().redis_url
    monkeypatch.setenv("MANIFEST_BOT_REDIS_URL", TEST_REDIS_URL)
    assert Settings.from_env().redis_url == TEST_REDIS_URL


def test_settings_built_in_code_never_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANIFEST_BOT_REDIS_PREFIX", "from-env")
    monkeypatch.setenv("MANIFEST_BOT_NOT_A_SETTING", "1")
    assert Settings().redis_prefix == "mb"
    assert Settings(redis_prefix="given").redis_prefix == "given"
    assert Settings.model_validate({"allow_unsigned": ["generic"]}).allow_unsigned == frozenset({"generic"})
    # an explicit environment is the only one read
    assert Settings.from_env({}).redis_prefix == "mb"


def test_config_example_env_is_accepted_as_written_and_uncommented(tmp_path: Path) -> None:
    lines = (ROOT / "config" / "example.env").read_text(encoding="utf-8").splitlines()
    written = [line for line in lines if line.startswith("MANIFEST_BOT_")]
    commented = [line[2:] for line in lines if re.match(r"# MANIFEST_BOT_\w+=", line)]
    assert Settings.from_env(dict(line.split("=", 1) for line in written)).secrets_for("github")
    everything = dict(line.split("=", 1) for line in written + commented)
    for name in [n for n in everything if n.endswith("_FILE")]:  # a secret file that exists
        (tmp_path / name).write_text("from-a-file\n", encoding="utf-8")
        everything[name] = str(tmp_path / name)
    settings = Settings.from_env(everything)
    assert settings.github_private_key is not None
    assert settings.github_private_key.get_secret_value() == "from-a-file"
    assert settings.secrets_for("gitlab") == ("token-a", "token-b")
