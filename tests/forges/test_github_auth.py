"""GitHub App auth: JWT, installation per repo, token cached and refreshed before it expires."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.core.ports import ForgeInfo
from bot.errors import AuthError, NotFound
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.auth import AppAuth, TokenAuth
from tests.forges.api import github_json as fx

API = "https://api.github.com"
REPO = "acme/deploy"
EXPIRES = datetime(2024, 5, 1, 11, 0, tzinfo=UTC).timestamp()  # access_token.json expires_at


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> Clock:
    return Clock(EXPIRES - 3600)


@pytest.fixture
def auth(key_pair: tuple[str, Any], clock: Clock) -> AppAuth:
    return AppAuth(42, key_pair[0], api_url=API, clock=clock)


def _app_routes(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{API}/repos/{REPO}/installation", json=fx("installation"))
    rsps.post(f"{API}/app/installations/1/access_tokens", json=fx("access_token"), status=201)
    rsps.get(f"{API}/repos/{REPO}/contents/a.yaml", body=b"x")


def _paths(rsps: responses.RequestsMock) -> list[str]:
    return [f"{c.request.method} {c.request.path_url.split('?')[0]}" for c in rsps.calls]


def test_jwt_is_signed_by_the_app_key_and_short_lived(
    auth: AppAuth, key_pair: tuple[str, Any], clock: Clock
) -> None:
    claims = jwt.decode(auth.app_jwt(), key_pair[1], algorithms=["RS256"], options={"verify_exp": False})
    assert claims["iss"] == "42"
    assert claims["iat"] == int(clock.now) - 60
    assert claims["exp"] - int(clock.now) <= 600


def test_first_call_finds_installation_and_token_then_reuses_them(
    rsps: responses.RequestsMock, auth: AppAuth, key_pair: tuple[str, Any]
) -> None:
    _app_routes(rsps)
    gh = GitHubForge(ForgeInfo(name="gh", kind="github"), auth, api_url=API)
    gh.read_file(REPO, "a.yaml", "main")
    gh.read_file(REPO, "a.yaml", "main")
    assert _paths(rsps) == [
        f"GET /repos/{REPO}/installation",
        "POST /app/installations/1/access_tokens",
        f"GET /repos/{REPO}/contents/a.yaml",
        f"GET /repos/{REPO}/contents/a.yaml",
    ]
    app_bearer = rsps.calls[0].request.headers["Authorization"].removeprefix("Bearer ")
    assert (
        jwt.decode(app_bearer, key_pair[1], algorithms=["RS256"], options={"verify_exp": False})["iss"]
        == "42"
    )
    assert rsps.calls[2].request.headers["Authorization"] == "Bearer ghs_16C7e42F292c6912E7710c838347Ae178B4a"


def test_token_is_refreshed_before_it_expires(
    rsps: responses.RequestsMock, auth: AppAuth, clock: Clock
) -> None:
    _app_routes(rsps)
    assert auth.token(REPO).startswith("ghs_")
    clock.now = EXPIRES - 301  # still outside the 5-minute margin: cached
    auth.token(REPO)
    assert len(rsps.calls) == 2
    clock.now = EXPIRES - 299  # inside the margin: a new token, same installation (no lookup)
    auth.token(REPO)
    assert _paths(rsps)[2:] == ["POST /app/installations/1/access_tokens"]


def test_401_drops_the_cached_token(rsps: responses.RequestsMock, auth: AppAuth) -> None:
    _app_routes(rsps)
    gh = GitHubForge(ForgeInfo(name="gh", kind="github"), auth, api_url=API)
    rsps.get(f"{API}/repos/{REPO}/contents/revoked.yaml", json=fx("bad_credentials"), status=401)
    with pytest.raises(AuthError, match="Bad credentials"):
        gh.read_file(REPO, "revoked.yaml", "main")
    gh.read_file(REPO, "a.yaml", "main")
    assert _paths(rsps).count("POST /app/installations/1/access_tokens") == 2


def test_app_not_installed_on_repo(rsps: responses.RequestsMock, auth: AppAuth) -> None:
    rsps.get(f"{API}/repos/{REPO}/installation", json=fx("not_found"), status=404)
    with pytest.raises(NotFound, match="not installed on acme/deploy"):
        auth.token(REPO)


def test_bad_private_key_says_so_without_the_key(clock: Clock) -> None:
    auth = AppAuth(7, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----", clock=clock)
    with pytest.raises(AuthError) as err:
        auth.app_jwt()
    assert "not a key" not in str(err.value)
    assert "***" in repr(auth)


def test_token_auth_never_shows_the_token() -> None:
    assert "ghp_x" not in repr(TokenAuth("ghp_x"))
    with pytest.raises(AuthError):
        TokenAuth("")


def test_configured_installation_skips_the_per_repo_lookup(
    rsps: responses.RequestsMock, key_pair: tuple[str, Any], clock: Clock
) -> None:
    auth = AppAuth(42, key_pair[0], api_url=API, clock=clock, installation_id=1)
    rsps.post(f"{API}/app/installations/1/access_tokens", json=fx("access_token"), status=201)
    rsps.get(f"{API}/repos/{REPO}/contents/a.yaml", body=b"x")
    gh = GitHubForge(ForgeInfo(name="gh", kind="github"), auth, api_url=API)
    assert gh.read_file(REPO, "a.yaml", "main") == b"x"
    assert _paths(rsps) == ["POST /app/installations/1/access_tokens", f"GET /repos/{REPO}/contents/a.yaml"]
