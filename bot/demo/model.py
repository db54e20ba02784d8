"""What one demo run is: its options, and what happened (for the report and the summary)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.demo import payloads
from bot.demo.redis_env import DemoRedis
from bot.demo.registry import DemoRegistry
from bot.demo.releases import ReleasesServer
from bot.settings import Settings

Echo = Callable[[str], None]


@dataclass
class DemoOptions:
    examples: Path
    redis: str = "auto"  # auto | url | redis-server | fake
    registry: str = "auto"  # auto (a real registry when docker-registry and skopeo exist) | off
    deadline_s: float = 60.0
    keep: bool = False  # keep the temporary directory (its path is printed)
    echo: Echo = print


@dataclass
class Run:
    """What happened, for the report and the summary."""

    workdir: Path
    repo: Path
    redis: DemoRedis
    settings: Settings
    posted: list[tuple[payloads.Post, int, dict[str, object]]] = field(default_factory=list)
    delivery_ids: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    started: float = 0.0
    elapsed_s: float = 0.0
    #: the real registries, by the name images use (registry.example.com, ghcr.io); {} without
    registries: dict[str, DemoRegistry] = field(default_factory=dict)
    #: what the demo pushed: image:tag → digest
    pushed: dict[str, str] = field(default_factory=dict)
    #: the GitHub Enterprise publishing the images' releases (with real registries; else None)
    releases: ReleasesServer | None = None
