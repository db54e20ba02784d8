"""``manifest-bot registry digest|tags`` against a real registry, with the service's settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from tests.registry.fixtures import basic_auth, write_docker_config
from tests.registry.support import LocalRegistry


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["registry", *args], env=env or {})
    return result.exit_code, result.stdout, result.stderr


def test_digest_prints_the_pushed_digest(local_registry: LocalRegistry) -> None:
    digest = local_registry.push("acme/api", "1.4.2")
    assert run("digest", local_registry.image("acme/api") + ":1.4.2") == (0, digest + "\n", "")


def test_digest_defaults_to_latest(local_registry: LocalRegistry) -> None:
    digest = local_registry.push("acme/api", "latest")
    assert run("digest", local_registry.image("acme/api"))[:2] == (0, digest + "\n")


def test_missing_tag_exits_1_with_the_reason(local_registry: LocalRegistry) -> None:
    local_registry.push("acme/api", "1.0.0")
    code, out, err = run("digest", local_registry.image("acme/api") + ":9.9.9")
    assert (code, out) == (1, "")
    assert f"{local_registry.image('acme/api')}:9.9.9 does not exist" in err


def test_other_errors_exit_2_with_the_reason(local_registry: LocalRegistry) -> None:
    code, _, err = run("digest", "Not A Reference")
    assert code == 2 and "white space" in err
    code, _, err = run("digest", "127.0.0.1:9/acme/api:1.0")  # nothing listens on port 9
    assert code == 2 and "ConnectionError talking to 127.0.0.1:9" in err


def test_wrong_credentials_exit_2_naming_registry_and_source(
    token_registry: LocalRegistry, tmp_path: Path
) -> None:
    token_registry.push("acme/api", "1.0.0")
    config = write_docker_config(
        tmp_path / "config.json", {token_registry.host: basic_auth("ci-bot", "wrong-pw")}
    )
    env = {"MANIFEST_BOT_DOCKER_CONFIG": str(config)}

    code, out, err = run("digest", token_registry.image("acme/api") + ":1.0.0", env=env)

    assert (code, out) == (2, "")
    assert token_registry.host in err and str(config) in err and "wrong-pw" not in err


def test_tags_prints_one_a_line_with_credentials_from_the_settings(
    token_registry: LocalRegistry, tmp_path: Path
) -> None:
    for tag in ("1.0.0", "1.1.0", "2.0.0-rc.1"):
        token_registry.push("acme/web", tag)
    issuer = token_registry.token
    assert issuer is not None
    config = write_docker_config(
        tmp_path / "config.json", {token_registry.host: basic_auth(issuer.username, issuer.password)}
    )

    code, out, _ = run(
        "tags", token_registry.image("acme/web"), env={"MANIFEST_BOT_DOCKER_CONFIG": str(config)}
    )

    assert code == 0
    assert sorted(out.splitlines()) == ["1.0.0", "1.1.0", "2.0.0-rc.1"]
    assert issuer.requests[-1]["authorized"]


def test_the_installed_command_runs(local_registry: LocalRegistry) -> None:
    digest = local_registry.push("acme/api", "3.0.0")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bot.cli import main; main()",
            "registry",
            "digest",
            local_registry.image("acme/api") + ":3.0.0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, digest)
