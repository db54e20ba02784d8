"""Pytest fixtures over ``tests.registry.support`` (import them into a test module to use them):
``local_registry`` (anonymous, plain HTTP on loopback), ``token_registry`` (wants Bearer tokens from
a ``TokenIssuer`` with basic credentials, like Docker Hub or GHCR), ``docker_config`` (writes a
config.json). The tools are installed by ``.ci/run``; a machine without them fails loudly."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo.registry import missing_tools
from tests.registry.support import LocalRegistry, TokenIssuer, run_registry


def require_tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: apt-get install docker-registry skopeo (.ci/run does)"
        )


@pytest.fixture
def local_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    require_tools()
    with run_registry(tmp_path / "registry") as registry:
        yield registry


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    require_tools()
    issuer = TokenIssuer(tmp_path)
    with issuer.serving(), run_registry(tmp_path / "token-registry", token=issuer) as registry:
        yield registry


def write_docker_config(path: Path, auths: dict[str, dict[str, str]]) -> Path:
    path.write_text(json.dumps({"auths": auths}), encoding="utf-8")
    return path


def basic_auth(username: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
