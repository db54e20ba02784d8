"""build_forge: the right adapter and credentials from settings, clear errors when something is missing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import responses

from bot.errors import SettingsError
from bot.forges.factory import build_forge
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import AppClients
from bot.forges.gitlab.adapter import GitLabForge
from bot.settings import Settings
from tests.fakes.github_shapes import content_file

MakeSettings = Callable[..., Settings]


def test_github_with_token_and_enterprise_url(make_settings: MakeSettings) -> None:
    settings = make_settings(github_token="ghp_tok", github_api_url="https://ghe.corp/api/v3")
    forge = build_forge("ghe", "github", settings)
    assert isinstance(forge, GitHubForge)
    assert forge.info.kind == "github" and forge.info.bot_login == settings.bot_login
    with responses.RequestsMock() as rsps:
        rsps.get(
            "https://ghe.corp:443/api/v3/repos/a/b/contents/x.yaml",  # PyGithub names the port
            json=content_file("https://ghe.corp/api/v3", "a/b", "x.yaml", b"x", "main"),
        )
        assert forge.read_file("a/b", "x.yaml", "main") == b"x"
        assert rsps.calls[0].request.headers["Authorization"] == "token ghp_tok"


def test_github_app_preferred_over_token(make_settings: MakeSettings) -> None:
    settings = make_settings(github_app_id=5, github_private_key="pem", github_token="ghp_tok")
    forge = build_forge("gh", "github", settings)
    assert isinstance(forge, GitHubForge)
    assert isinstance(forge.clients, AppClients)


def test_github_app_with_a_configured_installation(make_settings: MakeSettings) -> None:
    forge = build_forge("gh", "github", make_settings(), app_id=5, private_key="pem", installation_id=9)
    assert isinstance(forge, GitHubForge) and isinstance(forge.clients, AppClients)
    assert forge.clients.installation_id("any/repo") == 9


def test_gitlab_self_managed(make_settings: MakeSettings) -> None:
    settings = make_settings(gitlab_token="glpat-x", gitlab_url="https://git.corp")
    forge = build_forge("corp", "gitlab", settings)
    assert isinstance(forge, GitLabForge)
    assert forge.http.base_url == "https://git.corp/api/v4"


@pytest.mark.parametrize(("kind", "needle"), [("github", "GITHUB_TOKEN"), ("gitlab", "GITLAB_TOKEN")])
def test_missing_credentials_name_the_variable(make_settings: MakeSettings, kind: str, needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        build_forge("x", kind, make_settings())


def test_unknown_kind(make_settings: MakeSettings) -> None:
    with pytest.raises(SettingsError, match="unknown kind 'bitbucket'"):
        build_forge("x", "bitbucket", make_settings())
