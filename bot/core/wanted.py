"""Pins, holds and ignores as one model: what a group wants written for each target, and where
each target stands (pure).

``effective`` is the one rule: a pin holds its image's targets at the pinned version, whatever
arrives and whatever is ignored (an ignore never silently drops a pinned version: ``ignore``
says the pin stays); an ignored version is otherwise left out; a chat-ops rollback is neither
pinned nor ignored. The PR lifecycle writes exactly the effective intents
(``bot.services.desired``), so a listed pin is a written pin, and the reconcile records what the
branch then holds per target (``GroupRecord.held``).

``standings`` is what the status page, ``/api/groups``, ``manifest-bot status`` and chat-ops
``status`` show per target: the version wanted (``effective``) next to the version the PR's branch
holds, from the same two inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.core.group_state import GroupState, IgnoreMark, Pin
from bot.core.images import canonical_name
from bot.core.intents import UpdateIntent
from bot.core.keys import TargetKey
from bot.core.merge import Mark
from bot.core.versions import version_variant


def pin_applies(intent: UpdateIntent, pin: Pin | None) -> bool:
    """A pin holds the targets of its own Docker variant (``pin 7.4.1-alpine`` never writes into
    the plain ``7.4`` references of the image, nor ``pin 7.4.1`` into the ``-alpine`` ones), and
    never a rollback (a person's later choice)."""
    if pin is None or intent.rollback:
        return False
    if intent.variant is None:
        return True
    pinned = version_variant(pin.tag, variants=True)
    return pinned is None or pinned == intent.variant


def effective(intent: UpdateIntent, state: GroupState) -> UpdateIntent | None:
    """The version the group writes for ``intent``'s target: the pin's, else the intent's unless
    it is ignored (None)."""
    pin = state.pin_for(intent.image)
    if pin is not None and pin_applies(intent, pin):
        return dataclasses.replace(intent, tag=pin.tag, digest=pin.digest)
    return None if state.is_ignored(intent) else intent


def effective_intents(intents: Iterable[UpdateIntent], state: GroupState) -> list[UpdateIntent]:
    """The effective intents (``effective``) in a stable order."""
    out = [e for e in (effective(i, state) for i in intents) if e is not None]
    return sorted(out, key=lambda i: (i.image, i.target_key))


def shown(tag: str | None, digest: str | None) -> str:
    """A version as the status views write it: ``tag``, ``tag@digest`` or the digest alone."""
    if tag and digest:
        return f"{tag}@{digest}"
    return tag or digest or ""


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one target of a group stands."""

    target: str
    image: str
    files: tuple[str, ...]
    wanted: str  # the version the group writes (pins applied, ignores dropped), "" for none
    in_branch: str  # the version the open PR's branch holds, "" for none (the base's)
    pinned: str  # the image's pin, "" for none
    ignored: tuple[str, ...]  # the labels of the ignores on the image
    environment: str | None = None


def standings(
    active: Mapping[str, UpdateIntent], held: Mapping[str, Mark], state: GroupState
) -> list[Standing]:
    """Every target a group wants something for or its branch holds, sorted by target."""
    out = []
    for target in sorted(set(active) | set(held)):
        intent = active.get(target)
        image = intent.image if intent is not None else TargetKey.parse(target).image
        want = effective(intent, state) if intent is not None else None
        mark = held.get(target)
        pin = state.pin_for(image)
        out.append(
            Standing(
                target=target,
                image=image,
                files=intent.files if intent is not None else TargetKey.parse(target).files,
                wanted=shown(want.tag, want.digest) if want is not None else "",
                in_branch=shown(mark.tag, mark.digest) if mark is not None else "",
                pinned=shown(pin.tag, pin.digest) if pin is not None else "",
                ignored=tuple(
                    ignore_label(m) for m in state.ignored if canonical_name(m.image) == canonical_name(image)
                ),
                environment=intent.environment if intent is not None else None,
            )
        )
    return out


def ignore_label(mark: IgnoreMark) -> str:
    """How an ignore is shown: its label, else what it covers."""
    if mark.label:
        return mark.label
    return "every version" if mark.up_to is None else "up to " + ".".join(map(str, mark.up_to))
