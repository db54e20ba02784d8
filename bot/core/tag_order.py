"""Ordering by part of a tag: policy ``extract`` + ``order`` (pure).

As Flux image automation's ``filterTags: {pattern, extract}`` then a ``numerical`` or
``alphabetical`` policy: ``extract`` is an RE2 pattern with one named group, searched in the tag
(anchor it with ``^…$``); a tag it does not match is not eligible, and the group's text is the
ordering key, read as ``order.by`` says:

``semver``
    a version (``1.4.2``, ``v2.0.0-rc.1``), by semver precedence; ascending only.
``numerical``
    a non-negative decimal number (``1712345678``, ``3.25``), by its value.
``alphabetical``
    the text, by code point.

``ascending`` (the default) makes the highest key the newest version, as everywhere else;
``descending`` makes the lowest the newest (Flux's ``order: desc``). The key is encoded so the
merge's "highest key wins" reads it either way, so the never-downgrade rule holds on the
extracted key: ``main-1712345678-3f2a1b0`` after ``main-1712345999-0c1d2e3`` is superseded.
Tags are at most 128 characters (``bot.core.images.validate_tag``) and RE2 matches in linear
time, so one key costs a bounded amount of work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.core.intents import OrderingKey
from bot.core.patterns import user_regex
from bot.core.versions import Unorderable, parse_semver, semver_key

OrderBy = Literal["semver", "numerical", "alphabetical"]
Direction = Literal["ascending", "descending"]
_NUMBER = re.compile(r"(\d+)(?:\.(\d+))?")
#: above every negated code point or digit: ends a descending key so a prefix orders after
_END = 1


def check_extract(pattern: str) -> str:
    """``pattern`` when RE2 compiles it and it has exactly one named group; ValueError with a hint."""
    compiled = user_regex(pattern)
    names = list(getattr(compiled, "groupindex", {}) or {})
    if len(names) != 1:
        found = f"it has {len(names)} ({', '.join(names)})" if names else "it has none"
        raise ValueError(
            f"extract needs exactly one named group, {found}: e.g. '^main-(?P<ts>[0-9]+)-[0-9a-f]+$'"
        )
    return pattern


@dataclass(frozen=True, slots=True)
class TagOrder:
    """How a policy with ``order`` keys a tag."""

    by: OrderBy
    direction: Direction = "ascending"
    extract: str | None = None

    @property
    def scheme(self) -> str:
        """The ordering scheme its keys carry (keys of different schemes never compare)."""
        if self.by == "semver":
            return "semver"  # the same keys as whole-tag semver ordering: they compare
        return self.by if self.direction == "ascending" else f"{self.by}-desc"

    def part(self, tag: str) -> str:
        """The text the key is read from: the named group's, or the whole tag."""
        if self.extract is None:
            return tag
        pattern = user_regex(self.extract)
        match = pattern.search(tag)
        if match is None:
            raise Unorderable(f"tag {tag!r} does not match the extract pattern {self.extract!r}")
        name = next(iter(getattr(pattern, "groupindex", {}) or {"": 0}))
        return match.group(name) or ""

    def key(self, tag: str) -> OrderingKey:
        """The tag's ordering key; Unorderable says why it has none (the tag is not eligible)."""
        part = self.part(tag)
        where = f" (extracted from {tag!r})" if part != tag else ""
        if self.by == "semver":
            version = parse_semver(part)
            if version is None:
                raise Unorderable(f"{part!r}{where} is not a version (order: semver)")
            return semver_key(version)
        if self.by == "numerical":
            ascending = _number_key(part, where)
        else:
            if not part:
                raise Unorderable(f"the extract pattern matched nothing in {tag!r} (order: alphabetical)")
            ascending = tuple(ord(c) for c in part) if self.direction == "descending" else (part,)
        if self.direction == "ascending":
            return ascending
        return (*(-p for p in ascending if isinstance(p, int)), _END)


def _number_key(text: str, where: str) -> tuple[int, ...]:
    """A decimal's key: the integer part, then the fraction's digits without trailing zeros, so
    keys compare as the numbers do (1.5 > 1.25 > 1)."""
    m = _NUMBER.fullmatch(text)
    if m is None:
        raise Unorderable(f"{text!r}{where} is not a number (order: numerical)")
    fraction = (m[2] or "").rstrip("0")
    return (int(m[1]), *(int(d) for d in fraction))
