"""Build a Forge from settings: ``build_forge(name, kind, settings, **options)``.

Options override settings per forge (a routing config may name several GitHub Enterprise hosts):
- github: ``api_url``, ``web_url`` (default: from ``api_url``), ``token``, ``app_id``,
  ``private_key``, ``installation_id``
- gitlab: ``url``, ``token``, ``ssl_verify``, ``session``
Build one forge per process and keep it: App installation clients and tokens are cached on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.core.ports import Forge, ForgeInfo
from bot.errors import SettingsError
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import AppCredentials, Credentials, TokenCredentials
from bot.forges.github.hook_deliveries import AppHookDeliveries
from bot.forges.gitlab.adapter import GitLabForge
from bot.forges.local.adapter import build_local
from bot.settings import Settings

Builder = Callable[..., Forge]  # (name, settings, **options) -> Forge


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


def _github_credentials(settings: Settings, options: dict[str, Any]) -> Credentials:
    app_id = options.pop("app_id", settings.github_app_id)
    key = _secret(options.pop("private_key", settings.github_private_key))
    token = _secret(options.pop("token", settings.github_token))
    installation = options.pop("installation_id", None)
    if app_id is not None and key:
        return AppCredentials(int(app_id), key, int(installation) if installation is not None else None)
    if token:
        return TokenCredentials(token)
    raise SettingsError(
        "GitHub forge needs MANIFEST_BOT_GITHUB_APP_ID + MANIFEST_BOT_GITHUB_PRIVATE_KEY, "
        "or MANIFEST_BOT_GITHUB_TOKEN"
    )


def _github(name: str, settings: Settings, **options: Any) -> Forge:
    api_url = options.pop("api_url", settings.github_api_url)
    credentials = _github_credentials(settings, options)
    info = ForgeInfo(name=name, kind="github", bot_login=options.pop("bot_login", None) or settings.bot_login)
    return GitHubForge(info, credentials, api_url=api_url, web_url=options.pop("web_url", None))


def _gitlab(name: str, settings: Settings, **options: Any) -> Forge:
    token = _secret(options.pop("token", settings.gitlab_token))
    if not token:
        raise SettingsError(
            "GitLab forge needs MANIFEST_BOT_GITLAB_TOKEN (a project, group or personal token)"
        )
    info = ForgeInfo(name=name, kind="gitlab", bot_login=options.pop("bot_login", None) or settings.bot_login)
    return GitLabForge(
        info,
        token,
        url=options.pop("url", settings.gitlab_url),
        session=options.pop("session", None),
        ssl_verify=options.pop("ssl_verify", True),
    )


def build_app_hook_deliveries(name: str, settings: Settings, **options: Any) -> AppHookDeliveries | None:
    """The webhook deliveries of the GitHub App a github forge uses (``options`` as for
    ``build_forge``); None when the forge authenticates with a token (no App, no deliveries)."""
    api_url = options.pop("api_url", settings.github_api_url)
    credentials = _github_credentials(settings, options)
    if not isinstance(credentials, AppCredentials):
        return None
    return AppHookDeliveries(name, credentials, api_url=api_url)


#: kind -> builder; builders take ``(name, settings, **options)``
BUILDERS: dict[str, Builder] = {"github": _github, "gitlab": _gitlab, "local": build_local}


def build_forge(name: str, kind: str, settings: Settings, **options: Any) -> Forge:
    """A ready forge client; SettingsError names what is missing or unknown."""
    builder = BUILDERS.get(kind)
    if builder is None:
        known = ", ".join(sorted(BUILDERS))
        raise SettingsError(f"forge {name!r}: unknown kind {kind!r} (known: {known})")
    return builder(name, settings, **options)
