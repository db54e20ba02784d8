"""Routing config: which events update which manifest targets, under which policies (pure).

Public API::

    load_config(text: str, file: str) -> Config            # raises bot.errors.ConfigError
    read_repo_file(central, text, file, *, forge, repo) -> RepoPatch   # never raises: problems
    apply_repo_patch(config, patch, *, forge, repo, branch=None) -> Config
    merge_repo_config(central, repo_text, file, *, forge, repo) -> Config  # strict: ConfigError
    schema_text() -> str                                    # config/schema.json content

``python -m bot.core.config --write-schema`` regenerates ``config/schema.json``.
"""

from __future__ import annotations

from bot.core.config.loader import cross_check, load_config, parse_yaml
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
from bot.core.config.repo_file import RepoPatch, apply_repo_patch, merge_repo_config, read_repo_file
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
    "RepoPatch",
    "Rule",
    "Target",
    "apply_repo_patch",
    "cross_check",
    "load_config",
    "merge_repo_config",
    "parse_yaml",
    "read_repo_file",
    "schema_text",
]
