"""Routing config: which events update which manifest targets, under which policies (pure).

Public API::

    load_config(text: str, file: str) -> Config            # raises bot.errors.ConfigError
    merge_repo_config(central, repo_text, file, *, forge, repo) -> Config
    schema_text() -> str                                    # config/schema.json content

``python -m bot.core.config --write-schema`` regenerates ``config/schema.json``.
"""

from __future__ import annotations

from bot.core.config.loader import cross_check, load_config, merge_repo_config, parse_yaml
from bot.core.config.model import (
    PERMISSIONS,
    BotIdentity,
    ChatOps,
    CiMatch,
    Config,
    Discovery,
    Environment,
    ForgeConfig,
    GitHubForge,
    GitLabForge,
    LocalForge,
    PermissionName,
    Policy,
    PromotionChain,
    PrSettings,
    RepoFile,
    RepoFiles,
    Rule,
    Target,
)
from bot.core.config.schema import SCHEMA_PATH, schema_text

__all__ = [
    "PERMISSIONS",
    "SCHEMA_PATH",
    "BotIdentity",
    "ChatOps",
    "CiMatch",
    "Config",
    "Discovery",
    "Environment",
    "ForgeConfig",
    "GitHubForge",
    "GitLabForge",
    "LocalForge",
    "PermissionName",
    "Policy",
    "PrSettings",
    "PromotionChain",
    "RepoFile",
    "RepoFiles",
    "Rule",
    "Target",
    "cross_check",
    "load_config",
    "merge_repo_config",
    "parse_yaml",
    "schema_text",
]
