"""Regular expressions people write (the config's ``allow``, ``deny``, ``image_regex``, in the
central file or a repo's ``.manifest-bot.yaml``) run on RE2: linear time in the input, always.

Python's ``re`` backtracks: ``^(\\d+\\.?)+$`` against a 37-character tag ran for the whole job
timeout, on every worker, per event (issue #12). RE2 (Google's engine, ``google-re2``) never
backtracks, so no pattern a user writes can make matching slow, and it bounds what compiling a
pattern may cost (repetition counts, memory). It is also the engine Argo CD Image Updater and Flux
users already write these patterns for (Go's ``regexp`` is RE2). What RE2 cannot run in linear
time it does not offer: look-around and backreferences are refused when the config is loaded,
with the reason, instead of failing later on an event.
"""

from __future__ import annotations

import functools
from typing import Protocol

import re2

#: longer patterns are refused outright (no config needs them; compiling costs grow with length)
MAX_PATTERN = 2048
#: memory one compiled pattern may use (RE2's own bound; refuses patterns that would need more)
_MAX_MEM = 8 << 20


class Match(Protocol):
    def group(self, *groups: int | str) -> str: ...


class Pattern(Protocol):
    """The part of a compiled RE2 pattern we use (``re.Pattern``-like)."""

    def search(self, text: str) -> Match | None: ...
    def fullmatch(self, text: str) -> Match | None: ...


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why, for the config's error line."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the reason travels in the exception, not on stderr
    options.max_mem = _MAX_MEM
    return options


@functools.lru_cache(maxsize=2048)
def user_regex(pattern: str) -> Pattern:
    """``pattern`` compiled by RE2 (cached: config patterns are matched on every event)."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f"regular expression longer than {MAX_PATTERN} characters")
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        first = exc.args[0] if exc.args else exc
        reason = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)
        hint = ""
        if "perl operator" in reason or "escape sequence" in reason:
            hint = " (RE2 syntax: no look-around or backreferences; use \\z or $ for the end)"
        raise PatternError(f"invalid regular expression {pattern!r}: {reason}{hint}") from None
