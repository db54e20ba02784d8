"""Maintenance windows: ``environments.<env>.schedule: {timezone, cron: [...]}`` (pure).

An environment with a schedule has its PRs opened or updated only in minutes that match one of
its 5-field cron expressions, read in its IANA time zone (``Europe/Berlin``; daylight saving
included) — the matching and the search for the next match are croniter's, not a parser of our
own. Outside the window the group's versions are merged as usual and *wait*: the reconcile writes
nothing and says until when (``opens_at``); a person's chat-ops command acts at once.

"Now" is always an argument: the planner and the services pass their injected clock. Every
expression must match within ``HORIZON_YEARS`` (checked when the config loads), which also
bounds the search for the next match.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

#: an expression that does not match within this many years is refused (``0 0 30 2 *``)
HORIZON_YEARS = 1
#: the longest expression accepted (five fields; lists and ranges stay far below)
MAX_CRON = 256


def zone(name: str) -> ZoneInfo:
    """The time zone ``name``; ValueError with a hint when it is not an IANA name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = "use an IANA name such as 'Europe/Berlin' or 'UTC'"
        raise ValueError(f"unknown time zone {name!r}: {hint}") from None


def check_cron(expr: str) -> str:
    """``expr`` when it is a 5-field cron expression that matches within a year; ValueError says why."""
    fields = expr.split()
    if len(expr) > MAX_CRON or len(fields) != 5 or not croniter.is_valid(expr):
        raise ValueError(
            f"{expr!r} is not a 5-field cron expression (minute hour day-of-month month day-of-week),"
            " e.g. '* 9-16 * * 1-5'"
        )
    try:
        croniter(expr, datetime(2024, 1, 1, tzinfo=UTC), max_years_between_matches=HORIZON_YEARS).get_next(
            datetime
        )
    except CroniterBadDateError:
        raise ValueError(f"{expr!r} never matches within a year (is the day in the month?)") from None
    return expr


def is_open(cron: Sequence[str], timezone: str, now: datetime) -> bool:
    """Whether the minute of ``now`` matches one of the expressions in ``timezone``."""
    local = now.astimezone(zone(timezone)).replace(second=0, microsecond=0)
    return any(croniter.match(expr, local) for expr in cron)


def opens_at(cron: Sequence[str], timezone: str, now: datetime) -> datetime:
    """``now`` when the window is open, else the first minute after it that matches (in UTC)."""
    if is_open(cron, timezone, now):
        return now
    local = now.astimezone(zone(timezone))
    starts = [
        croniter(expr, local, max_years_between_matches=HORIZON_YEARS).get_next(datetime) for expr in cron
    ]
    return min(starts).astimezone(UTC)
