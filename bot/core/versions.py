"""Version parsing, ordering keys and tag policies (pure).

Ordering schemes turn a tag (or a CI run, or a push time) into an ``OrderingKey``: a flat tuple
of ints and strings that compares correctly against keys *of the same scheme*:

``semver``
    ``[v]MAJOR.MINOR[.PATCH][-PRERELEASE][_BUILD|+BUILD]``. Leading zeros are allowed, so calver
    tags such as ``2024.01.15`` order too. Semver precedence, then build metadata as a tie-break
    (docker tags cannot hold ``+``, so ``_`` separates the build, as Helm and Flux read it).
``numeric``
    every run of digits in the tag, compared as a sequence of integers (``build-12`` < ``build-103``).
``lexical``
    the tag as a string.
``run-number``
    the CI run number (GitHub ``run_number``) or, without one, the run / pipeline id.
``push-time``
    the push or finish time, as microseconds since the epoch.

Docker *variants* (``variants: true`` in a policy, the default), as Renovate's docker versioning
reads tags: the text after the first hyphen of a version tag names a variant when it reads as one
(``7.4.2-alpine``, ``3.12.1-slim-bookworm``, ``1.25.3-alpine3.19``), and the tag is compared as
its version (``7.4.2``) with tags of the same variant only. A suffix that reads as a prerelease
(``rc.1``, ``beta2``, ``alpha``, ``SNAPSHOT``...), a number or a commit id stays a semver
prerelease.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Literal

import semantic_version

from bot.core.intents import OrderingKey
from bot.core.patterns import user_regex

Scheme = Literal["semver", "numeric", "lexical", "run-number", "push-time"]
#: "auto": semver when the tag is a version, else the CI run number, else the push time
OrderingChoice = Literal["auto", "semver", "numeric", "lexical", "run-number", "push-time"]

_IDENT = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_SEMVER_RE = re.compile(
    rf"[vV]?(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?"
    rf"(?:-(?P<pre>{_IDENT}))?(?:[+_](?P<build>{_IDENT}))?"
)
_V_IN_RANGE = re.compile(r"(?<![0-9A-Za-z])[vV](?=\d)")
_VARIANT_TAG = re.compile(r"(?P<version>[vV]?\d+\.\d+(?:\.\d+)?)-(?P<variant>[A-Za-z][A-Za-z0-9._-]*)")
#: first word of a suffix that makes it a prerelease, not a variant (1.3.0-rc.1, 2.0.0-beta2)
_PRERELEASE_WORD = re.compile(
    r"(alpha|beta|rc|pre|preview|dev|snapshot|canary|nightly|next|milestone|m|a|b)\d*", re.IGNORECASE
)
_COMMIT_ID = re.compile(r"[0-9a-f]{7,40}")


class Unorderable(ValueError):
    """The tag or event cannot be given a key in the requested scheme; the message says why."""


@dataclass(frozen=True, slots=True)
class SemVer:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def to_version(self, *, release_only: bool = False) -> semantic_version.Version:
        pre = () if release_only else self.prerelease
        return semantic_version.Version(
            major=self.major, minor=self.minor, patch=self.patch, prerelease=pre, build=()
        )


def parse_semver(tag: str) -> SemVer | None:
    """The version a tag spells, or None. ``v1.2.3``, ``1.2``, ``2024.01.15``, ``1.2.3-rc.1_7``."""
    m = _SEMVER_RE.fullmatch(tag)
    if not m:
        return None
    return SemVer(
        major=int(m["major"]),
        minor=int(m["minor"]),
        patch=int(m["patch"] or 0),
        prerelease=tuple(m["pre"].split(".")) if m["pre"] else (),
        build=tuple(m["build"].split(".")) if m["build"] else (),
    )


def split_variant(tag: str) -> tuple[str, str] | None:
    """(version, variant) of a variant tag (``7.4.2-alpine`` → ``("7.4.2", "alpine")``), or None
    when the tag has no suffix or its suffix reads as a prerelease or a commit id."""
    m = _VARIANT_TAG.fullmatch(tag)
    if not m:
        return None
    variant = m["variant"]
    first = re.split(r"[.\-_]", variant, maxsplit=1)[0]
    commit = _COMMIT_ID.fullmatch(variant) is not None and any(c.isdigit() for c in variant)
    if commit or _PRERELEASE_WORD.fullmatch(first):
        return None
    return m["version"], variant


def version_variant(tag: str | None, *, variants: bool) -> str | None:
    """The variant a version tag belongs to: its suffix, "" for a plain version (prereleases
    included), None when variants are off or the tag is no version (``latest``, a commit id): then
    it competes with every tag of its target, as before variants."""
    if not variants or tag is None:
        return None
    split = split_variant(tag)
    if split is not None:
        return split[1]
    return "" if parse_semver(tag) is not None else None


def comparable_tag(tag: str | None, *, variants: bool) -> str | None:
    """The tag as policies and ordering read it: a variant tag's version (``7.4.2-alpine`` →
    ``7.4.2``), any other tag as it is."""
    split = split_variant(tag) if variants and tag is not None else None
    return split[0] if split is not None else tag


def _identifiers(parts: tuple[str, ...]) -> list[int | str]:
    """Encode identifiers so numeric < alphanumeric and types never clash at one position."""
    out: list[int | str] = []
    for part in parts:
        out.extend((1, int(part)) if part.isdigit() else (2, part))
    return out


def semver_key(version: SemVer) -> OrderingKey:
    """Release > its prereleases; prerelease identifiers by semver rules; build breaks ties."""
    key: list[int | str] = [version.major, version.minor, version.patch]
    if version.prerelease:
        key += [0, *_identifiers(version.prerelease), 0]
    else:
        key += [1, 0]
    key += _identifiers(version.build)
    return tuple(key)


def numeric_key(tag: str) -> OrderingKey:
    numbers = re.findall(r"\d+", tag)
    if not numbers:
        raise Unorderable(f"tag {tag!r} has no number to order by (ordering: numeric)")
    return tuple(int(n) for n in numbers)


def run_key(run_number: int | None, run_id: int | str | None) -> OrderingKey:
    for value in (run_number, run_id):
        if value is not None and str(value).isdigit():
            return (int(value),)
    raise Unorderable("ordering run-number needs a CI run number or pipeline id; this event has none")


#: a UTC designator GitLab and Ruby print after a space ("2016-08-12 15:26:29 UTC")
_UTC_SUFFIX = re.compile(r"\s*(UTC|GMT|Z)$", re.IGNORECASE)
_EPOCH = re.compile(r"\d{9,13}(\.\d+)?")


def parse_instant(when: str) -> datetime:
    """An instant as the vendors send it: ISO 8601 (``Z`` or an offset, any fraction), GitLab's
    ``2016-08-12 15:26:29 UTC`` and ``… +0200``, or epoch seconds (milliseconds when 13 digits).
    No zone means UTC. ValueError when it is none of these."""
    text = when.strip()
    if _EPOCH.fullmatch(text):
        seconds = float(text)
        return datetime.fromtimestamp(seconds / 1000 if len(text.split(".")[0]) == 13 else seconds, tz=UTC)
    moment = datetime.fromisoformat(_UTC_SUFFIX.sub("+00:00", text))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def time_key(when: str | None) -> OrderingKey:
    if not when:
        raise Unorderable("ordering push-time needs a push or finish time; this event has none")
    try:
        moment = parse_instant(when)
    except (ValueError, OverflowError, OSError) as exc:
        raise Unorderable(f"cannot read time {when!r}: {exc}") from None
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds,)


def choose_scheme(
    choice: OrderingChoice, tag: str | None, *, run_number: int | None = None, run_id: int | str | None = None
) -> Scheme:
    """Resolve ``auto``: semver tags by semver, CI builds by run number, anything else by time."""
    if choice != "auto":
        return choice
    if tag is not None and parse_semver(tag) is not None:
        return "semver"
    if any(v is not None and str(v).isdigit() for v in (run_number, run_id)):
        return "run-number"
    return "push-time"


def ordering_key(
    scheme: Scheme,
    tag: str | None,
    *,
    run_number: int | None = None,
    run_id: int | str | None = None,
    when: str | None = None,
) -> OrderingKey:
    """The key of one version in ``scheme``; raises Unorderable with the reason."""
    if scheme in ("semver", "numeric", "lexical") and tag is None:
        raise Unorderable(f"ordering {scheme} needs a tag; this event has only a digest")
    if scheme == "semver":
        version = parse_semver(tag or "")
        if version is None:
            raise Unorderable(f"tag {tag!r} is not a version (ordering: semver)")
        return semver_key(version)
    if scheme == "numeric":
        return numeric_key(tag or "")
    if scheme == "lexical":
        return (tag or "",)
    if scheme == "run-number":
        return run_key(run_number, run_id)
    return time_key(when)


# --- policies ----------------------------------------------------------------------------------
def normalise_range(text: str) -> str:
    """Accept Cargo-style commas and ``v`` prefixes: ``>=v1.2, <2`` → ``>=1.2 <2``."""
    return " ".join(_V_IN_RANGE.sub("", text.replace(",", " ")).split())


@functools.lru_cache(maxsize=256)
def parse_range(text: str) -> semantic_version.NpmSpec:
    """An npm/Cargo-style range (``^1.2``, ``~1.2``, ``>=1.2 <2``, ``1.x``, ``a || b``)."""
    try:
        return semantic_version.NpmSpec(normalise_range(text))
    except ValueError:
        raise ValueError(
            f"invalid semver range {text!r}: use npm/Cargo syntax such as '^1.2', '~1.2.3', '>=1.2 <2'"
        ) from None


def in_range(version: SemVer, spec_text: str, *, prereleases: bool) -> bool:
    spec = parse_range(spec_text)
    if spec.match(version.to_version()):
        return True
    # npm only admits a prerelease when the range names one on the same x.y.z; with prereleases
    # on, users expect ^1.2 to admit 1.3.0-rc.1, so judge a prerelease by its release numbers.
    return prereleases and version.is_prerelease and spec.match(version.to_version(release_only=True))


def rejection(
    tag: str,
    *,
    semver: str | None = None,
    allow: str | None = None,
    deny: str | None = None,
    prereleases: bool = False,
    ignore: tuple[str, ...] = (),
    variants: bool = False,
) -> str | None:
    """Why ``tag`` is refused by the policy, or None when it is allowed. Regexes use ``search``;
    ignore globs and patterns see the whole tag, the version checks a variant tag's version."""
    for pattern in ignore:
        if fnmatchcase(tag, pattern) or (tag[:1] in "vV" and fnmatchcase(tag[1:], pattern)):
            return f"tag {tag!r} is in the ignore list ({pattern!r})"
    if allow is not None and not user_regex(allow).search(tag):  # RE2: linear time (issue #12)
        return f"tag {tag!r} does not match the allow pattern {allow!r}"
    if deny is not None and user_regex(deny).search(tag):
        return f"tag {tag!r} matches the deny pattern {deny!r}"
    version = parse_semver(comparable_tag(tag, variants=variants) or tag)
    if version is not None and version.is_prerelease and not prereleases:
        return f"tag {tag!r} is a prerelease and prereleases are off"
    if semver is not None:
        if version is None:
            return f"tag {tag!r} is not a version, so it cannot satisfy the semver range {semver!r}"
        if not in_range(version, semver, prereleases=prereleases):
            return f"tag {tag!r} is outside the semver range {semver!r}"
    return None
