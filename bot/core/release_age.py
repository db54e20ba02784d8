"""Minimum release age: ``policy.min_release_age: 3d`` (pure).

A tag is proposed only once it has been out for a while (Renovate's ``minimumReleaseAge``), so a
broken release pulled within the hour never reaches a PR. Its release time is what the registry
says — the OCI ``org.opencontainers.image.created`` annotation, else the image config's
``created`` — or, for images that say nothing usable, the first time the bot saw the tag at
that digest (``bot.store.first_seen``). A younger tag waits until ``released + min_age``.

A ``created`` before ``PLAUSIBLE_SINCE`` is no release time: reproducible builds stamp 1970 or
1980 (``SOURCE_DATE_EPOCH``, buildpacks), which would make every tag look old.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.core.durations import parse_seconds, spelled
from bot.core.versions import parse_instant

#: the longest minimum age accepted (and how long the bot remembers when it first saw a tag)
MAX_AGE_S = 90 * 86_400
#: release times before this are build stamps, not release times
PLAUSIBLE_SINCE = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
CREATED_ANNOTATION = "org.opencontainers.image.created"
HINT = "write it as a number with s, m, h or d: '3d', '12h', '1d12h', '90m'"


def parse_age(value: object) -> float:
    """``3d``, ``12h``, ``1d12h``, ``90m``, ``30s`` or seconds → seconds (0 to 90 days)."""
    value = parse_seconds(value, "dhms", hint=HINT, typed=f"give a duration: {HINT}", noun="a release age")
    if value > MAX_AGE_S:
        raise ValueError(f"at most 90d (got {value / 86_400:g} days)")
    return float(value)


def _instant(value: object) -> float | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        seconds = parse_instant(value).timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return seconds if seconds >= PLAUSIBLE_SINCE else None


def annotated_created(document: Mapping[str, Any]) -> float | None:
    """The ``org.opencontainers.image.created`` annotation of a manifest or index, if usable."""
    annotations = document.get("annotations")
    return _instant(annotations.get(CREATED_ANNOTATION)) if isinstance(annotations, Mapping) else None


def config_created(body: bytes) -> float | None:
    """An image config's ``created`` (RFC 3339), if usable."""
    try:
        config = json.loads(body)
    except ValueError:
        return None
    return _instant(config.get("created")) if isinstance(config, dict) else None


def eligible_at(released: float, min_age_s: float) -> float:
    """When a tag released at ``released`` may be proposed."""
    return released + min_age_s


def shown(seconds: float) -> str:
    """An instant as every view shows it (ISO 8601, UTC, to the second)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age_text(seconds: float) -> str:
    """``3d``, ``1d12h``, ``90m`` (the config's own spelling, for messages)."""
    return spelled(seconds, "dhms")
