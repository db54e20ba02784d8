"""GitHub App auth, PyGithub's: the JWT, the installation found per repo, the installation token
cached and refreshed; one client per installation, dropped on a 401 and on installation events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.core.events import Delivery, Installation
from bot.core.ports import ForgeInfo
from bot.deps import Container
from bot.errors import AuthError, NotFound
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import AppCredentials, TokenCredentials, build_clients
from bot.settings import Settings
from tests.engine_support import consume
from tests.fakes.github_shapes import content_file
from tests.forges.api import github_json as fx

CONFIGURED = "https://api.github.com"  # what a user writes
API = "https://api.github.com:443"  # PyGithub names the port in every URL it requests
REPO = "acme/deploy"
ROOT = Path(__file__).resolve().parents[2]


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


def token_body(expires_in: timedelta = timedelta(hours=1), token: str = "ghs_first") -> dict[str, Any]:
    """``installation-token``: GitHub's answer to ``POST /app/installations/{id}/access_tokens``."""
    expires = (datetime.now(UTC) + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {**fx("access_token"), "token": token, "expires_at": expires}


def _routes(rsps: responses.RequestsMock, *tokens: dict[str, Any]) -> None:
    rsps.get(f"{API}/repos/{REPO}/installation", json=fx("installation"))
    for body in tokens or (token_body(),):
        rsps.post(f"{API}/app/installations/1/access_tokens", json=body, status=201)
    rsps.get(f"{API}/repos/{REPO}/contents/a.yaml", json=content_file(API, REPO, "a.yaml", b"x", "main"))


def _paths(rsps: responses.RequestsMock) -> list[str]:
    return [f"{c.request.method} {c.request.path_url.split('?')[0]}" for c in rsps.calls]


def _forge(pem: str, installation: int | None = None) -> GitHubForge:
    return GitHubForge(
        ForgeInfo(name="gh", kind="github"), AppCredentials(42, pem, installation), api_url=CONFIGURED
    )


LOOKUP = f"GET /repos/{REPO}/installation"
MINT = "POST /app/installations/1/access_tokens"
READ = f"GET /repos/{REPO}/contents/a.yaml"


def test_first_call_finds_installation_and_token_then_reuses_them(
    rsps: responses.RequestsMock, key_pair: tuple[str, Any]
) -> None:
    _routes(rsps)
    gh = _forge(key_pair[0])
    gh.read_file(REPO, "a.yaml", "main")
    gh.read_file(REPO, "a.yaml", "main")
    assert _paths(rsps) == [LOOKUP, MINT, READ, READ]
    app_bearer = rsps.calls[0].request.headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(app_bearer, key_pair[1], algorithms=["RS256"], options={"verify_exp": False})
    assert claims["iss"] == "42" and claims["exp"] - claims["iat"] <= 600
    assert rsps.calls[2].request.headers["Authorization"] == "token ghs_first"


def test_token_is_refreshed_before_it_expires(
    rsps: responses.RequestsMock, key_pair: tuple[str, Any]
) -> None:
    """PyGithub replaces a token within 20 s of its expiry before sending it."""
    _routes(rsps, token_body(timedelta(seconds=10)), token_body(token="ghs_second"))
    gh = _forge(key_pair[0])
    gh.read_file(REPO, "a.yaml", "main")
    gh.read_file(REPO, "a.yaml", "main")
    assert _paths(rsps) == [LOOKUP, MINT, MINT, READ, READ]
    assert {c.request.headers["Authorization"] for c in rsps.calls[3:]} == {"token ghs_second"}


def test_401_drops_the_client_of_that_repo(rsps: responses.RequestsMock, key_pair: tuple[str, Any]) -> None:
    _routes(rsps, token_body(), token_body(token="ghs_second"))
    rsps.get(f"{API}/repos/{REPO}/contents/revoked.yaml", json=fx("bad_credentials"), status=401)
    gh = _forge(key_pair[0])
    with pytest.raises(AuthError, match="Bad credentials"):
        gh.read_file(REPO, "revoked.yaml", "main")
    gh.read_file(REPO, "a.yaml", "main")
    assert _paths(rsps)[3:] == [LOOKUP, MINT, READ]
    assert rsps.calls[-1].request.headers["Authorization"] == "token ghs_second"


def test_401_drops_the_token_of_a_configured_installation_too(
    rsps: responses.RequestsMock, key_pair: tuple[str, Any]
) -> None:
    """With ``installation_id`` in the config the token used to be kept after a 401, forever."""
    _routes(rsps, token_body(), token_body(token="ghs_second"))
    rsps.get(f"{API}/repos/{REPO}/contents/revoked.yaml", json=fx("bad_credentials"), status=401)
    gh = _forge(key_pair[0], installation=1)
    with pytest.raises(AuthError):
        gh.read_file(REPO, "revoked.yaml", "main")
    gh.read_file(REPO, "a.yaml", "main")
    assert _paths(rsps) == [MINT, f"GET /repos/{REPO}/contents/revoked.yaml", MINT, READ]


def test_an_installation_event_drops_the_cached_clients(
    rsps: responses.RequestsMock, key_pair: tuple[str, Any]
) -> None:
    _routes(rsps, token_body(), token_body(token="ghs_second"))
    gh = _forge(key_pair[0])
    gh.read_file(REPO, "a.yaml", "main")
    gh.forget_installation(1, ())
    gh.read_file(REPO, "a.yaml", "main")
    assert _paths(rsps) == [LOOKUP, MINT, READ, LOOKUP, MINT, READ]


def test_the_deliveries_consumer_tells_every_github_forge(
    rsps: responses.RequestsMock,
    key_pair: tuple[str, Any],
    make_settings: Callable[..., Settings],
    redis_conn: Any,
) -> None:
    """``installation_repositories`` delivered → the worker's built forges forget that installation."""
    _routes(rsps, token_body(), token_body(token="ghs_second"))
    settings = make_settings(config_path=ROOT / "config" / "examples" / "routing.yaml")
    gh = _forge(key_pair[0])
    container = Container(settings, forges={"gh": gh})
    gh.read_file(REPO, "a.yaml", "main")
    event = Installation("added", 1, (REPO,))
    delivery = Delivery("d-installation", "github", "2024-05-01T10:00:00Z", (event,))
    container.deliveries.admit(delivery)
    consume(container)
    gh.read_file(REPO, "a.yaml", "main")
    assert _paths(rsps)[3:] == [LOOKUP, MINT, READ]


def test_app_not_installed_on_repo(rsps: responses.RequestsMock, key_pair: tuple[str, Any]) -> None:
    rsps.get(f"{API}/repos/{REPO}/installation", json=fx("not_found"), status=404)
    with pytest.raises(NotFound, match="not installed on acme/deploy"):
        _forge(key_pair[0]).read_file(REPO, "a.yaml", "main")


def test_bad_private_key_says_so_without_the_key(rsps: responses.RequestsMock) -> None:
    gh = _forge("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----")
    with pytest.raises(AuthError) as err:
        gh.read_file(REPO, "a.yaml", "main")
    assert "not a key" not in str(err.value)
    assert "private key is unusable" in str(err.value)
    assert len(rsps.calls) == 0
    assert "not a key" not in repr(gh) and "***" in repr(gh)


def test_credentials_never_show_their_secrets() -> None:
    assert "ghp_x" not in repr(TokenCredentials("ghp_x"))
    assert "PRIVATE" not in repr(AppCredentials(1, "-----BEGIN PRIVATE KEY-----"))
    assert "ghp_x" not in repr(build_clients(TokenCredentials("ghp_x"), API))
    with pytest.raises(AuthError):
        build_clients(TokenCredentials(""), API)


def test_configured_installation_skips_the_per_repo_lookup(
    rsps: responses.RequestsMock, key_pair: tuple[str, Any]
) -> None:
    _routes(rsps)
    assert _forge(key_pair[0], installation=1).read_file(REPO, "a.yaml", "main") == b"x"
    assert _paths(rsps) == [MINT, READ]


def test_repos_of_one_installation_share_its_client_and_token(
    rsps: responses.RequestsMock, key_pair: tuple[str, Any]
) -> None:
    _routes(rsps)
    rsps.get(f"{API}/repos/acme/other/installation", json=fx("installation"))
    rsps.get(
        f"{API}/repos/acme/other/contents/a.yaml",
        json=content_file(API, "acme/other", "a.yaml", b"y", "main"),
    )
    gh = _forge(key_pair[0])
    gh.read_file(REPO, "a.yaml", "main")
    assert gh.read_file("acme/other", "a.yaml", "main") == b"y"
    assert _paths(rsps) == [
        LOOKUP,
        MINT,
        READ,
        "GET /repos/acme/other/installation",
        "GET /repos/acme/other/contents/a.yaml",
    ]
