"""``policy.platforms: [linux/amd64, linux/arm64]``: a tag is eligible only when its image lists
every platform the cluster runs (pure), as Argo CD Image Updater's ``platforms``.

A platform is ``os/architecture[/variant]`` (the OCI image index's ``platform`` fields). A
required ``os/arch`` is met by any variant of it; a required variant only by that variant (an
``arm64`` image without a variant is ``v8``, as containerd reads it). Attestation entries
(``unknown/unknown``) are no platform.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_PART = r"[a-z0-9][a-z0-9._-]{0,31}"
_PLATFORM_RE = re.compile(rf"{_PART}/{_PART}(?:/{_PART})?")
_DEFAULT_VARIANT = {"arm64": "v8"}
HINT = "write it as os/architecture[/variant], e.g. 'linux/amd64', 'linux/arm64', 'linux/arm/v7'"


def check_platform(value: str) -> str:
    """``value`` when it reads as a platform; ValueError with a hint."""
    if not _PLATFORM_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a platform: {HINT}")
    return value


def platform_of(described: Mapping[str, Any]) -> str | None:
    """``os/arch[/variant]`` of an index entry's ``platform`` or an image config; None when it
    names none (or ``unknown/unknown``, an attestation)."""
    os_name, arch = described.get("os"), described.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str) or (os_name, arch) == ("unknown", "unknown"):
        return None
    variant = described.get("variant")
    text = f"{os_name}/{arch}" + (f"/{variant}" if isinstance(variant, str) and variant else "")
    return text.lower() if _PLATFORM_RE.fullmatch(text.lower()) else None


def _meets(listed: str, required: str) -> bool:
    have, want = listed.split("/"), required.split("/")
    if have[:2] != want[:2]:
        return False
    if len(want) == 2:
        return True
    variant = have[2] if len(have) > 2 else _DEFAULT_VARIANT.get(have[1], "")
    return variant == want[2]


def missing(required: Iterable[str], listed: Iterable[str]) -> list[str]:
    """The required platforms none of ``listed`` meets, in the order required."""
    have = list(listed)
    return [want for want in required if not any(_meets(h, want.lower()) for h in have)]
