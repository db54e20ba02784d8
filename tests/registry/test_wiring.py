"""The registry client is built in bot.deps from the process settings (as the CLI builds it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core.ports import ConfigReader, Registry
from bot.deps import Container
from bot.errors import SettingsError
from bot.registry import RegistryClient
from bot.registry.artifacts import Artifacts
from bot.settings import Settings


def test_container_builds_one_registry_client_from_the_settings(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(
        insecure_registries=frozenset({"registry.lab:5000"}),
        registry_cache_ttl_s=5,
        registry_max_tags=50,
        helm_index_max_bytes=4096,
    )
    container = Container(settings)

    registry = container.registry

    assert isinstance(registry, Registry) and isinstance(registry, Artifacts)
    assert isinstance(registry, ConfigReader)  # release notes read image configs through it
    assert container.registry is registry  # one per process: caches are shared
    client = registry.images
    assert isinstance(client, RegistryClient)
    assert (client.insecure, client.cache_ttl, client.max_tags) == (frozenset({"registry.lab:5000"}), 5, 50)
    assert (registry.helm.max_bytes, registry.helm.cache_ttl) == (4096, 5)  # Helm indexes beside it


def test_registry_settings_come_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"auths": {}}')
    settings = Settings.from_env(
        {
            "MANIFEST_BOT_DOCKER_CONFIG": str(config),
            "MANIFEST_BOT_INSECURE_REGISTRIES": "Registry.Lab:5000, 10.0.0.5:5000",
            "MANIFEST_BOT_REGISTRY_CACHE_TTL_S": "0",
        }
    )
    assert settings.docker_config == config
    assert settings.insecure_registries == frozenset({"registry.lab:5000", "10.0.0.5:5000"})
    assert settings.registry_cache_ttl_s == 0
    with pytest.raises(SettingsError, match="MANIFEST_BOT_REGISTRY_TIMEOUT_S"):
        Settings.from_env({"MANIFEST_BOT_REGISTRY_TIMEOUT_S": "0"})
