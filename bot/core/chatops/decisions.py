"""What a chat-ops command means for a group's state (pure): ignore marks, rollback targets,
promotion targets. The service applies these decisions; nothing here touches Redis or a forge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.chatops.commands import IgnoreScope
from bot.core.chatops.replies import Skipped
from bot.core.group_state import IgnoreMark
from bot.core.images import canonical_name
from bot.core.intents import OrderingKey, UpdateIntent
from bot.core.render import short_image
from bot.core.versions import parse_semver

#: larger than any version component anyone will publish; "everything in this line" sorts below it
_TOP = 2**62


_LEVELS = (IgnoreScope.MAJOR, IgnoreScope.MINOR, IgnoreScope.PATCH)


@dataclass(frozen=True, slots=True)
class Version:
    """One version of one target of a PR (from its active intent, or what its branch applied)."""

    target: str
    image: str
    tag: str | None
    digest: str | None
    scheme: str
    key: OrderingKey
    intent: UpdateIntent | None = None

    @classmethod
    def of(cls, intent: UpdateIntent) -> Version:
        return cls(
            intent.target_key,
            intent.image,
            intent.tag,
            intent.digest,
            intent.ordering_scheme,
            intent.ordering_key,
            intent,
        )


@dataclass(frozen=True, slots=True)
class Promotion:
    """What a ``promote`` will do: the versions it takes to ``target`` as these intents."""

    target: str
    versions: tuple[Version, ...]
    intents: tuple[UpdateIntent, ...]
    #: versions the planner takes nowhere in ``target`` (not routed there, refused by its policy)
    skipped: tuple[Skipped, ...] = ()


class Refusal(ValueError):
    """A command that cannot be carried out as asked; the message is the reply users see."""


def ignore_key(scope: IgnoreScope, version: Version) -> OrderingKey | None:
    """The ordering key up to which versions are ignored (newer ones pass again); None = all.

    ``version`` ignores exactly this version and everything below it; ``patch``/``minor``/
    ``major`` ignore the whole line the version belongs to (``2.3.1`` major → every ``2.x``).
    """
    if scope is IgnoreScope.IMAGE:
        return None
    if scope is IgnoreScope.VERSION:
        return version.key
    if scope not in _LEVELS:
        raise ValueError(f"{scope.value} is not an ignore scope")
    semver = parse_semver(version.tag or "") if version.scheme == "semver" else None
    if semver is None:
        raise Refusal(
            f"`{version.tag or version.digest}` of `{version.image}` is not ordered by semantic "
            f"version, so it has no {scope.value} line; use `ignore this version`"
        )
    if scope is IgnoreScope.MAJOR:
        return (semver.major, _TOP)
    if scope is IgnoreScope.MINOR:
        return (semver.major, semver.minor, _TOP)
    return (semver.major, semver.minor, semver.patch, _TOP)


def ignore_mark(scope: IgnoreScope, version: Version) -> IgnoreMark:
    up_to = ignore_key(scope, version)
    return IgnoreMark(
        image=version.image,
        up_to=up_to,
        scheme=None if up_to is None else version.scheme,
        label=describe_ignore(short_image(version.image), scope, version.tag or version.digest),
    )


def describe_ignore(image: str, scope: IgnoreScope, tag: str | None) -> str:
    version = parse_semver(tag or "")
    if scope is IgnoreScope.IMAGE or tag is None:
        return f"`{image}` (every version)"
    if version is not None and scope is IgnoreScope.MAJOR:
        return f"`{image}` {version.major}.x and below"
    if version is not None and scope is IgnoreScope.MINOR:
        return f"`{image}` {version.major}.{version.minor}.x and below"
    return f"`{image}` {tag} and below"


def narrow(versions: Sequence[Version], image: str | None) -> list[Version]:
    """The versions a command applies to: all of the PR's, or those of the one image named (by
    its full name or a short one, see ``resolve_image``)."""
    if not versions:
        raise Refusal("this PR has no versions I know of (its update may have merged or been cleared)")
    if image is None:
        return list(versions)
    wanted = resolve_image([v.image for v in versions], image)
    return [v for v in versions if canonical_name(v.image) == wanted]


def resolve_image(images: Sequence[str], name: str) -> str:
    """The one image of ``images`` (a PR's) that ``name`` means, canonical: the same image, else the
    only one whose path ends with ``name`` (``frontend`` or ``acme/frontend`` for
    ``ghcr.io/acme/frontend``). A name the PR does not contain, or one that fits several, is
    refused: people write short names, and ``frontend`` must never become ``docker.io/library/
    frontend``."""
    known = sorted({canonical_name(i) for i in images})
    listed = ", ".join(sorted(f"`{short_image(i)}`" for i in known)) or "none"
    exact = canonical_name(name)
    if exact in known:
        return exact
    tail = "/" + name.strip().strip("/").lower()
    fits = [i for i in known if i.lower().endswith(tail)]
    if len(fits) == 1:
        return fits[0]
    if fits:
        options = ", ".join(f"`{short_image(i)}`" for i in fits)
        raise Refusal(f"`{name}` could be {options}; give the full image name")
    raise Refusal(f"this PR does not update `{name}` (its images: {listed})")


def next_environment(chain: Sequence[str], current: str | None) -> str | None:
    """The environment after ``current`` in a promotion chain, or None at its end / outside it."""
    if current is None or current not in chain:
        return None
    index = list(chain).index(current)
    return chain[index + 1] if index + 1 < len(chain) else None


def promotion_target(chains: Sequence[Sequence[str]], current: str | None, wanted: str | None) -> str:
    """Where ``promote [to] <wanted>`` from ``current`` goes: only ever the next step of a chain."""
    if current is None:
        raise Refusal("this PR has no environment, so there is nothing to promote it along")
    steps = [n for n in (next_environment(c, current) for c in chains) if n is not None]
    if not steps:
        if any(current in c for c in chains):
            raise Refusal(f"`{current}` is the last environment of its promotion chain")
        raise Refusal(f"no promotion chain in the config starts from or passes through `{current}`")
    if wanted is None:
        if len(set(steps)) > 1:
            options = ", ".join(f"`{s}`" for s in sorted(set(steps)))
            raise Refusal(f"`{current}` promotes to several environments ({options}); name one")
        return steps[0]
    for step in steps:
        if step.lower() == wanted.lower():
            return step
    options = " or ".join(f"`{s}`" for s in sorted(set(steps)))
    raise Refusal(f"`{current}` promotes to {options}, not `{wanted}` (promotion follows the chain)")
