"""Durations people write in the config (``1d12h``, ``90m``, ``30s``, or a number of seconds),
each kind with the units it takes: one parser for every one of them."""

from __future__ import annotations

import re
from functools import cache

_UNIT_S = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
#: digits a unit may have: a bound on the number one value can ask for
_DIGITS = {"d": 6, "h": 7, "m": 9, "s": 10}


@cache
def _pattern(units: str) -> re.Pattern[str]:
    return re.compile("".join(rf"(?:(\d{{1,{_DIGITS[u]}}}){u})?" for u in units))


def parse_seconds(value: object, units: str, *, hint: str, typed: str, noun: str = "a duration") -> float:
    """``value`` (text in ``units``, largest first, or a number of seconds) in seconds, not
    negative; ValueError saying ``typed`` for a value of another type and ``hint`` for text that
    is no duration."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(typed)
    if isinstance(value, str):
        text = value.strip()
        m = _pattern(units).fullmatch(text)
        if not text or m is None:
            raise ValueError(f"{value!r} is not a duration: {hint}")
        value = sum(int(n or 0) * _UNIT_S[u] for n, u in zip(m.groups(), units, strict=True))
    if value < 0:
        raise ValueError(f"{noun} is not negative (got {value:g} s)")
    return float(value)


def spelled(seconds: float, units: str) -> str:
    """``seconds`` as the config spells it in ``units`` (``1d12h``, ``90m``; ``0s`` for none)."""
    left, parts = int(seconds), []
    for unit in units:
        if left >= _UNIT_S[unit]:
            parts.append(f"{left // _UNIT_S[unit]}{unit}")
            left %= _UNIT_S[unit]
    return "".join(parts) or "0s"
