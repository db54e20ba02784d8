"""A container with the real GitHub and GitLab adapters (``responses`` answers them), for the
chat-ops tests that drive both vendors through the app, the queue and an rq worker."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot.deps import Container
from bot.forges.factory import build_forge
from bot.jobs import runtime
from bot.settings import Settings
from tests.integration.chatops_e2e_fixture import SECRET

API = Path(__file__).resolve().parents[1] / "fixtures" / "api"
GH = "https://api.github.com:443/repos/acme/deploy"  # PyGithub names the port in every URL it requests
GL = "https://gitlab.example.com/api/v4/projects/acme%2Fdeploy"
FORGES = [
    {"name": "github", "kind": "github"},
    {"name": "gitlab", "kind": "gitlab", "url": "https://gitlab.example.com"},
]


def api(vendor: str, name: str) -> Any:
    """One of the vendor-shaped API bodies in ``tests/fixtures/api/<vendor>/``."""
    return json.loads((API / vendor / name).read_text())


def vendor_container(
    tmp_path: Path, make_settings: Callable[..., Settings], rules: list[dict[str, Any]] | None = None
) -> Iterator[Container]:
    """Install a container whose ``github`` and ``gitlab`` forges are the real adapters, routing
    ``rules`` (none by default); uninstall it afterwards (use with ``yield from`` in a fixture)."""
    path = tmp_path / "config.yaml"
    config: dict[str, Any] = {"version": 1, "forges": FORGES}
    if rules:
        config["rules"] = rules
    path.write_text(json.dumps(config))
    settings = make_settings(
        config_path=path,
        webhook_secrets={"github": (SECRET,), "gitlab": (SECRET,)},
        github_token="ghs_test",
        gitlab_token="glpat-test",
        gitlab_url="https://gitlab.example.com",
    )
    built = Container(settings)
    built.forges["github"] = build_forge("github", "github", settings)
    # the bot's GitLab account is its project access token's bot user (mr.json's author)
    built.forges["gitlab"] = build_forge("gitlab", "gitlab", settings, bot_login="project_42_bot_1234")
    runtime.install(built)
    try:
        yield built
    finally:
        runtime.install(None)
