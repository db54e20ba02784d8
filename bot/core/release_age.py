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
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.core.versions import parse_instant

#: the longest minimum age accepted (and how long the bot remembers when it first saw a tag)
MAX_AGE_S = 90 * 86_400
#: release times before this are build stamps, not release times
PLAUSIBLE_SINCE = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
CREATED_ANNOTATION = "org.opencontainers.image.created"
_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_AGE_RE = re.compile(r"(?:(\d{1,6})d)?(?:(\d{1,7})h)?(?:(\d{1,9})m)?(?:(\d{1,10})s)?")
HINT = "write it as a number with s, m, h or d: '3d', '12h', '1d12h', '90m'"


def parse_age(value: object) -> float:
    """``3d``, ``12h``, ``1d12h``, ``90m``, ``30s`` or seconds → seconds (0 to 90 days)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"give a duration: {HINT}")
    if isinstance(value, str):
        text = value.strip()
        m = _AGE_RE.fullmatch(text)
        if not text or m is None:
            raise ValueError(f"{value!r} is not a duration: {HINT}")
        value = sum(int(n or 0) * _UNITS[u] for n, u in zip(m.groups(), "dhms", strict=True))
    if value < 0:
        raise ValueError(f"a release age is not negative (got {value:g} s)")
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
    left, parts = int(seconds), []
    for unit, size in _UNITS.items():
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or "0s"
