"""The ``Releases`` extra of the GitHub and GitLab adapters: one request per tag tried, the first
found wins, a missing release is None; and each forge's web root, which source labels must name."""

from __future__ import annotations

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.core.config import GitHubForge as GitHubForgeConfig
from bot.core.ports import ForgeInfo, Release, Releases
from bot.demo.releases import PublishedRelease, release_shape
from bot.errors import AuthError, PermissionDenied
from bot.forges.github.adapter import GitHubForge, web_url_of
from bot.forges.github.clients import AppCredentials, TokenCredentials
from bot.forges.gitlab.adapter import GitLabForge
from bot.services.config_source import forge_options
from bot.settings import Settings

GL = "https://gitlab.example.com/api/v4"
P = f"{GL}/projects/group%2Fapp"


@pytest.fixture
def gl() -> GitLabForge:
    return GitLabForge(ForgeInfo(name="gl", kind="gitlab"), "glpat-secret", url="https://gitlab.example.com")


def test_gitlab_tries_each_tag_once_and_takes_the_first_release(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.get(f"{P}/releases/2.0.0", status=404, json={"message": "404 Not Found"})
    rsps.get(
        f"{P}/releases/v2.0.0",
        json={
            "tag_name": "v2.0.0",
            "name": "App 2.0",
            "description": "Breaking: @team please read",
            "_links": {"self": "https://gitlab.example.com/group/app/-/releases/v2.0.0"},
        },
    )
    found = gl.release("group/app", ("2.0.0", "v2.0.0"))
    assert found == Release(
        "v2.0.0",
        "App 2.0",
        "Breaking: @team please read",
        "https://gitlab.example.com/group/app/-/releases/v2.0.0",
    )
    assert [c.request.headers["PRIVATE-TOKEN"] for c in rsps.calls] == ["glpat-secret"] * 2
    assert isinstance(gl, Releases) and gl.web_url == "https://gitlab.example.com"


def test_gitlab_without_the_release_is_none(rsps: responses.RequestsMock, gl: GitLabForge) -> None:
    rsps.get(f"{P}/releases/stable", status=404, json={"message": "404 Not Found"})
    assert gl.release("group/app", ("stable",)) is None
    assert len(rsps.calls) == 1


def test_gitlab_refusing_the_token_is_an_error_not_a_missing_release(
    rsps: responses.RequestsMock, gl: GitLabForge
) -> None:
    rsps.get(f"{P}/releases/1.0.0", status=401, json={"message": "401 Unauthorized"})
    with pytest.raises(AuthError):
        gl.release("group/app", ("1.0.0", "v1.0.0"))


def test_github_reads_a_release_by_tag(rsps: responses.RequestsMock) -> None:
    api = "https://api.github.com"
    published = PublishedRelease("acme/api", "v1.4.0", "API 1.4.0", "notes")
    served = f"{api}:443"  # PyGithub names the port in every URL it requests
    rsps.get(f"{served}/repos/acme/api/releases/tags/1.4.0", status=404, json={"message": "Not Found"})
    rsps.get(
        f"{served}/repos/acme/api/releases/tags/v1.4.0",
        json=release_shape(api, "https://github.com", published, 7),
    )
    forge = GitHubForge(ForgeInfo("gh", "github"), TokenCredentials("t"))

    found = forge.release("acme/api", ("1.4.0", "v1.4.0"))

    assert found == Release("v1.4.0", "API 1.4.0", "notes", "https://github.com/acme/api/releases/tag/v1.4.0")
    assert len(rsps.calls) == 2 and forge.web_url == "https://github.com"


@pytest.mark.parametrize(
    ("api", "web"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
        ("http://127.0.0.1:8080/api/v3/", "http://127.0.0.1:8080"),
    ],
)
def test_a_github_forges_web_root_follows_its_api_root(api: str, web: str) -> None:
    assert web_url_of(api) == web


def test_a_configured_web_root_is_passed_on_else_the_forge_derives_it(settings: Settings) -> None:
    ghe = {"name": "ghe", "kind": "github", "api_url": "https://ghe.example.com/api/v3", "token": "env:T"}
    derived = forge_options(GitHubForgeConfig.model_validate(ghe), settings, {"T": "x"})
    given = forge_options(
        GitHubForgeConfig.model_validate({**ghe, "url": "https://code.example.com"}), settings, {"T": "x"}
    )
    assert "web_url" not in derived  # not github.com: the Enterprise host's own web root
    assert given["web_url"] == "https://code.example.com"


def test_a_github_app_not_installed_on_the_app_repo_says_so_instead_of_no_release(
    rsps: responses.RequestsMock,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    api = "https://api.github.com"
    rsps.get(f"{api}:443/repos/acme/api/installation", status=404, json={"message": "Not Found"})
    forge = GitHubForge(ForgeInfo("gh", "github"), AppCredentials(42, pem), api_url=api)

    with pytest.raises(PermissionDenied, match="not installed on acme/api"):
        forge.release("acme/api", ("1.4.0", "v1.4.0"))
    assert [c.request.path_url for c in rsps.calls] == ["/repos/acme/api/installation"]
