"""What chat-ops and past failures say about one update group (pure; persisted by the reconcile
service in Redis as JSON through ``to_dict``/``from_dict``).

The PR lifecycle service reads it: ignored versions are left out of the desired state (a chat-ops
rollback intent is never ignored), a pin replaces the version of its image, ``hold`` freezes the
PR, and all of it is shown in the PR body. ``waiting`` lists the versions held back until their
registry has them (kept by ``bot.services.registry_gate``, filled in when the group is reconciled).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bot.core.images import canonical_name
from bot.core.intents import OrderingKey, UpdateIntent


@dataclass(frozen=True, slots=True)
class IgnoreMark:
    """Versions of ``image`` up to and including ``up_to`` (same ordering scheme) are skipped;
    ``up_to=None`` skips every version. ``label`` is what the PR body shows."""

    image: str
    up_to: OrderingKey | None = None
    scheme: str | None = None
    label: str = ""

    def matches(self, intent: UpdateIntent) -> bool:
        if canonical_name(intent.image) != canonical_name(self.image):
            return False
        if self.up_to is None:
            return True
        if self.scheme is not None and self.scheme != intent.ordering_scheme:
            return False
        try:
            return intent.ordering_key <= self.up_to
        except TypeError:  # keys of different shapes never compare: not this mark's business
            return False


@dataclass(frozen=True, slots=True)
class Pin:
    """Hold ``image`` at this tag and/or digest whatever newer versions arrive."""

    image: str
    tag: str | None
    digest: str | None = None
    by: str | None = None  # who pinned it (chat-ops), for the status page's "why"
    at: str | None = None  # when: the pin comment's time as the forge wrote it


@dataclass(frozen=True, slots=True)
class Waiting:
    """``image:tag`` is not in ``registry`` yet: it is asked again with backoff until ``until``."""

    image: str
    tag: str
    registry: str
    until: str  # ISO 8601, UTC: when the bot gives up
    #: in the registry but younger than ``policy.min_release_age``: from when it is eligible
    #: (ISO 8601, UTC; "": it waits for the registry)
    eligible: str = ""


@dataclass(frozen=True, slots=True)
class GroupState:
    ignored: tuple[IgnoreMark, ...] = ()
    pinned: tuple[Pin, ...] = ()
    hold: bool = False
    last_error: str | None = None
    waiting: tuple[Waiting, ...] = ()

    def is_ignored(self, intent: UpdateIntent) -> bool:
        return not intent.rollback and any(mark.matches(intent) for mark in self.ignored)

    def pin_for(self, image: str) -> Pin | None:
        wanted = canonical_name(image)
        for pin in self.pinned:
            if canonical_name(pin.image) == wanted:
                return pin
        return None

    def to_dict(self) -> dict[str, Any]:
        data = self._base_dict()
        if self.waiting:  # absent when empty: the PR fingerprints of groups that never wait stay put
            data["waiting"] = [dataclasses.asdict(w) for w in self.waiting]
        return data

    def _base_dict(self) -> dict[str, Any]:
        return {
            "ignored": [
                {
                    "image": m.image,
                    "up_to": None if m.up_to is None else list(m.up_to),
                    "scheme": m.scheme,
                    "label": m.label,
                }
                for m in self.ignored
            ],
            "pinned": [_pin_dict(p) for p in self.pinned],
            "hold": self.hold,
            "last_error": self.last_error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupState:
        ignored = tuple(
            IgnoreMark(
                image=m["image"],
                up_to=None if m.get("up_to") is None else tuple(m["up_to"]),
                scheme=m.get("scheme"),
                label=m.get("label", ""),
            )
            for m in data.get("ignored", ())
        )
        pinned = tuple(
            Pin(p["image"], p.get("tag"), p.get("digest"), p.get("by"), p.get("at"))
            for p in data.get("pinned", ())
        )
        waiting = tuple(Waiting(**w) for w in data.get("waiting", ()))
        return cls(ignored, pinned, bool(data.get("hold", False)), data.get("last_error"), waiting)


def _pin_dict(pin: Pin) -> dict[str, Any]:
    data: dict[str, Any] = {"image": pin.image, "tag": pin.tag, "digest": pin.digest}
    for name in ("by", "at"):  # only when known: pins stored before they existed keep their form
        if getattr(pin, name) is not None:
            data[name] = getattr(pin, name)
    return data
