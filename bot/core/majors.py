"""Major updates apart (``pr.separate_major``, Renovate's ``separateMajorMinor``) (pure).

A target whose PR settings say ``separate_major: true`` gets every version tag twice:

- in its own group, in the lane ``minor``: each major is its own target (``TargetKey.major``), and
  a version is written only where the reference's tag has its major, so ``1.4.0`` moves ``1.3.0``
  and never ``2.0.0``;
- in the group ``<group>-major``, in the lane ``major``: one target for every major, the highest
  version wins, and it is written only where the reference's major is lower, so ``2.0.0`` moves
  ``1.3.0`` in a PR of its own.

The minor PR can merge while the major one waits for review; once the major is merged, the
reference's major is the new one, so the minor lane follows it and the major PR has nothing left
to change. Both groups are reconciled, promoted and steered like any other (their branches are
``<prefix>/<env>/<group>`` and ``<prefix>/<env>/<group>-major``). A tag that is no version (or
a reference without one) is not split: it stays in the target's own group.
"""

from __future__ import annotations

from dataclasses import replace

from bot.core.intents import UpdateIntent
from bot.core.versions import comparable_tag, parse_semver

SUFFIX = "-major"


def major_of(tag: str | None, *, variants: bool = True) -> int | None:
    """The major of a version tag (a variant tag's version), None for any other tag."""
    version = parse_semver(comparable_tag(tag, variants=variants) or "") if tag else None
    return version.major if version is not None else None


def lanes(intent: UpdateIntent, *, variants: bool) -> tuple[UpdateIntent, ...]:
    """The intent in both lanes (its group, and ``<group>-major``); as it is when its tag is no
    version."""
    major = major_of(intent.tag, variants=variants)
    if major is None:
        return (intent,)
    return (
        replace(intent, major=major, lane="minor"),
        replace(intent, group=intent.group + SUFFIX, major=major, lane="major"),
    )


def fits(intent: UpdateIntent, old_tag: str | None) -> bool:
    """Whether the intent's lane writes over a reference now at ``old_tag``: a reference with no
    version takes the minor lane only."""
    if intent.lane is None or intent.major is None:
        return True
    old = major_of(old_tag)
    if intent.lane == "minor":
        return old is None or old == intent.major
    return old is not None and old < intent.major


def base_group(group: str, separated: bool) -> str:
    """The configured group a group name belongs to (``dev-major`` → ``dev`` when it separates)."""
    return group[: -len(SUFFIX)] if separated and group.endswith(SUFFIX) else group
