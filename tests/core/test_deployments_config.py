"""``environments.<env>.deployments``: which cluster objects deploy an environment (check-config)."""

from __future__ import annotations

import textwrap

import pytest

from bot.core.config import Config, load_config
from bot.errors import ConfigError

BASE = """\
forges:
  - name: local
    kind: local
    path: /tmp/repos
environments:
{envs}
"""


def load(envs: str) -> Config:
    return load_config(BASE.format(envs=textwrap.indent(textwrap.dedent(envs), "  ")), "bot.yaml")


def problems(envs: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(envs)
    return info.value.problems


def test_reported_objects_find_their_environment() -> None:
    config = load(
        """\
        dev:
          deployments:
            - flux: Kustomization/flux-system/apps-dev
            - argocd: shop-dev
        prod:
          deployments:
            - flux: HelmRelease/shop/web
        """
    )
    assert config.deployed_environment("flux", "Kustomization/flux-system/apps-dev") == "dev"
    assert config.deployed_environment("argocd", "shop-dev") == "dev"
    assert config.deployed_environment("flux", "HelmRelease/shop/web") == "prod"
    assert config.deployed_environment("argocd", "HelmRelease/shop/web") is None
    assert config.deployed_environment("flux", "Kustomization/flux-system/apps-prod") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- flux: apps-dev", "environments.dev.deployments[0].flux"),  # not Kind/namespace/name
        ("- flux: Kustomization/Flux System/apps", "environments.dev.deployments[0].flux"),
        ("- argocd: Shop_Dev", "environments.dev.deployments[0].argocd"),
        ("- {flux: Kustomization/a/b, argocd: b}", "give flux or argocd"),
        ("- {}", "give flux or argocd"),
    ],
)
def test_check_config_refuses_a_malformed_entry_by_its_path(entry: str, message: str) -> None:
    found = problems(f"dev:\n  deployments:\n    {entry}\n")
    assert any(message in p for p in found), found


def test_one_object_deploys_one_environment() -> None:
    found = problems(
        """\
        dev:
          deployments: [{argocd: shop}]
        prod:
          deployments: [{argocd: shop}]
        """
    )
    where = "environments.prod.deployments[0].argocd"
    assert any(where in p and "already deploys environment 'dev'" in p for p in found), found
