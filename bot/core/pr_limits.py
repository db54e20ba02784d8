"""PR limits per manifest repo: ``pr.limits: {open: N, per_hour: M}`` (pure).

As Renovate's ``prConcurrentLimit`` and ``prHourlyLimit``: the bot keeps at most ``open`` of its
PRs open in a repo and opens at most ``per_hour`` new ones in any hour. Only *opening* a PR is
limited: a group whose PR is open updates it as before, and a person's chat-ops command acts at
once. A group that may not open its PR waits in the repo's line, first come first served: a
freed slot goes to the group that has waited longest, so a busy group cannot starve a quiet one.

``decide`` is given what the store knows (open PRs, when the bot opened PRs in the last hour,
the line) and the clock; it says whether the group may open now or why it waits, and until when
(the hour's oldest opening plus an hour; for the open limit, when to look again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.release_age import shown

HOUR_S = 3600.0
#: an open-limited group looks again this often (a PR merged or closed frees its slot)
RECHECK_S = 30.0


@dataclass(frozen=True, slots=True)
class Limits:
    open: int | None = None
    per_hour: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    go: bool
    reason: str = ""  # why it waits (the page, the API, status)
    until: float | None = None  # when to ask again (epoch seconds)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def decide(
    limits: Limits,
    repo: str,
    group: str,
    *,
    open_prs: int,
    opened: Sequence[float],
    line: Sequence[str],
    now: float,
) -> Verdict:
    """May ``group`` (no PR open) open one in ``repo`` now? ``opened``: when the bot opened PRs
    there (any order); ``line``: the groups waiting, longest first (``group`` among them or not)."""
    recent = sorted(t for t in opened if now - HOUR_S < t <= now)
    free_open = None if limits.open is None else limits.open - open_prs
    free_hour = None if limits.per_hour is None else limits.per_hour - len(recent)
    free = min(f for f in (free_open, free_hour, len(line) + 1) if f is not None)
    ahead = line.index(group) if group in line else len(line)
    if ahead < free:
        return Verdict(True)
    place = f"{_ordinal(ahead + 1)} in line"
    if free_open is not None and free_open <= ahead:
        why = f"{open_prs} open, pr.limits.open {limits.open}"
        until = now + RECHECK_S
        return Verdict(False, f"waits to open its PR in {repo} until one closes ({why}; {place})", until)
    assert limits.per_hour is not None  # the hour's openings leave it no slot
    # a slot frees when an opening is an hour old: the group needs ahead + 1 of them
    index = len(recent) - limits.per_hour + ahead
    until = recent[index] + HOUR_S if 0 <= index < len(recent) else now + RECHECK_S
    why = f"{len(recent)} opened in the last hour, pr.limits.per_hour {limits.per_hour}"
    return Verdict(False, f"waits to open its PR in {repo} until {shown(until)} ({why}; {place})", until)
