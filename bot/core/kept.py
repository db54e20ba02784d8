"""What people decided about one update group, in the form that outlives Redis (pure).

Redis holds the working copy: the group's ``GroupState`` (pins, ignores, hold), the intents
chat-ops asked for (``rollback``, ``promote``: origin ``chatops``) with their targets' high-water
marks, and the comments whose commands ran. ``Decisions`` is the copy the bot writes into the
hidden marker of its PR (``bot.core.marker``) in the same reconcile or command that changes them,
and reads back when Redis has lost the group (``bot.services.rebuild``).

The block is the bot's own writing, so it is read strictly: schema version ``SCHEMA``, only the
keys and types the bot writes, every string and list bounded, the whole block at most
``MAX_BLOCK_CHARS`` characters, and it must read back to exactly what was parsed. Anything else
is refused whole (``Refused``, with the reason), never half-read. The writer keeps within the
same bounds (``Decisions.fitted``), so what the bot writes it always reads back.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from bot.core.group_state import GroupState, IgnoreMark, Pin
from bot.core.intents import UpdateIntent
from bot.core.merge import Mark, merge

SCHEMA = 1
#: where chat-ops intents come from (``Origin.source``): rollback and promote
CHATOPS = "chatops"
MAX_RAN = 50  # comment ids kept by name (older ones are covered by ``Ran.floor``)
MAX_PINS = 64
MAX_IGNORES = 128
MAX_ASKED = 32
MAX_TEXT = 1024  # any one string
MAX_ITEMS = 256  # any one list
MAX_DEPTH = 6
MAX_BLOCK_CHARS = 48_000
_KEYS = frozenset({"v", "pins", "ignores", "hold", "asked", "ran"})


class Refused(ValueError):
    """A decisions block that is not exactly what the bot writes; the message says why."""


# --- the comments that ran ---------------------------------------------------------------------
def _numeric(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 19


@dataclass(frozen=True, slots=True)
class Ran:
    """The comments of one PR whose commands ran: the newest ``MAX_RAN`` ids by name, and
    ``floor``, the highest numeric id dropped from that list. Every numeric id at or below the
    floor counts as run: forges number comments upwards (GitHub, GitLab, the local forge), and a
    comment that old was handled long ago (the command job also refuses comments older than
    ``delivery_ttl_s``). Ids that are not numbers are kept by name only."""

    ids: tuple[str, ...] = ()
    floor: int | None = None

    def has(self, comment_id: int | str) -> bool:
        text = str(comment_id)
        if text in self.ids:
            return True
        return self.floor is not None and _numeric(text) and int(text) <= self.floor

    def add(self, *comment_ids: int | str) -> Ran:
        return _ran([*self.ids, *map(str, comment_ids)], self.floor)

    def union(self, other: Ran) -> Ran:
        floors = [f for f in (self.floor, other.floor) if f is not None]
        return _ran([*self.ids, *other.ids], max(floors) if floors else None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ids": list(self.ids)}
        if self.floor is not None:
            data["floor"] = self.floor
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ran:
        ids = data.get("ids", [])
        floor = data.get("floor")
        if not isinstance(ids, list) or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids):
            raise TypeError("ran ids must be a list of short strings")
        if floor is not None and (isinstance(floor, bool) or not isinstance(floor, int) or floor < 0):
            raise TypeError("the ran floor must be a non-negative integer")
        return _ran(ids, floor)


def _ran(ids: Sequence[str], floor: int | None) -> Ran:
    """Deduplicated, without ids the floor covers, numeric ids in number order (oldest first, the
    others after them as they came), at most ``MAX_RAN``: the oldest go and raise the floor."""
    kept = [i for i in dict.fromkeys(ids) if not (floor is not None and _numeric(i) and int(i) <= floor)]
    kept.sort(key=lambda i: (0, int(i)) if _numeric(i) else (1, 0))
    while len(kept) > MAX_RAN:
        gone = kept.pop(0)
        if _numeric(gone):
            floor = max(floor or 0, int(gone))
    return Ran(tuple(kept), floor)


# --- the decisions ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Asked:
    """A version a person asked for by chat-ops, still the active intent of its target, and the
    target's high-water mark (a rollback leaves it above the intent: older builds arriving later
    stay superseded)."""

    intent: UpdateIntent
    mark: Mark | None = None


@dataclass(frozen=True, slots=True)
class Decisions:
    """What the marker keeps: the group's pins (who, when), ignores and hold, the chat-ops intents
    still active in it, and the comments of the PR whose commands ran."""

    pinned: tuple[Pin, ...] = ()
    ignored: tuple[IgnoreMark, ...] = ()
    hold: bool = False
    asked: tuple[Asked, ...] = ()
    ran: Ran = field(default_factory=Ran)

    @classmethod
    def of(
        cls,
        state: GroupState,
        intents: Iterable[UpdateIntent] = (),
        marks: Mapping[str, Mark] | None = None,
        ran: Ran | None = None,
    ) -> Decisions:
        """The decisions of a group: its state's, and the chat-ops intents among ``intents``."""
        marks = marks or {}
        chosen = sorted((i for i in intents if i.origin.source == CHATOPS), key=lambda i: i.target_key)
        asked = tuple(Asked(i, marks.get(i.target_key)) for i in chosen)
        return cls(state.pinned, state.ignored, state.hold, asked, ran or Ran()).fitted()

    @property
    def empty(self) -> bool:
        return self == Decisions()

    def state(self) -> GroupState:
        """The group state these decisions give (no error, nothing waiting: those are not kept)."""
        return GroupState(ignored=self.ignored, pinned=self.pinned, hold=self.hold)

    def with_ran(self, ran: Ran) -> Decisions:
        return replace(self, ran=self.ran.union(ran))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"v": SCHEMA}
        if self.pinned:
            data["pins"] = [_pin_dict(p) for p in self.pinned]
        if self.ignored:
            data["ignores"] = [_ignore_dict(m) for m in self.ignored]
        if self.hold:
            data["hold"] = True
        if self.asked:
            data["asked"] = [_asked_dict(a) for a in self.asked]
        if self.ran.ids or self.ran.floor is not None:
            data["ran"] = self.ran.to_dict()
        return data

    def fitted(self) -> Decisions:
        """Within the bounds the reader enforces: the newest pins and ignores, asked intents whose
        every string and list fits; then, while the block is too long, asked intents and the
        oldest ignores go (Redis keeps them all; only a group beyond any sane size loses any)."""
        asked = tuple(a for a in self.asked if _within(_asked_dict(a)))[:MAX_ASKED]
        fitted = replace(
            self,
            pinned=tuple(p for p in self.pinned if _within(_pin_dict(p)))[-MAX_PINS:],
            ignored=tuple(m for m in self.ignored if _within(_ignore_dict(m)))[-MAX_IGNORES:],
            asked=asked,
        )
        while _chars(fitted.to_dict()) > MAX_BLOCK_CHARS and (fitted.asked or fitted.ignored):
            if fitted.asked:
                fitted = replace(fitted, asked=fitted.asked[:-1])
            else:
                fitted = replace(fitted, ignored=fitted.ignored[1:])
        return fitted


def _pin_dict(pin: Pin) -> dict[str, Any]:
    return {"image": pin.image, "tag": pin.tag, "digest": pin.digest, "by": pin.by, "at": pin.at}


def _ignore_dict(mark: IgnoreMark) -> dict[str, Any]:
    up_to = None if mark.up_to is None else list(mark.up_to)
    return {"image": mark.image, "up_to": up_to, "scheme": mark.scheme, "label": mark.label}


def _asked_dict(asked: Asked) -> dict[str, Any]:
    data: dict[str, Any] = {"intent": asked.intent.to_dict()}
    if asked.mark is not None:
        data["mark"] = asked.mark.to_dict()
    return data


def _chars(data: object) -> int:
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=True))


def _canonical(data: object) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _within(value: object, depth: int = 0) -> bool:
    """Every string at most ``MAX_TEXT``, every list at most ``MAX_ITEMS``, nested at most
    ``MAX_DEPTH`` deep."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    if isinstance(value, list):
        return len(value) <= MAX_ITEMS and all(_within(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= MAX_ITEMS and all(
            isinstance(k, str) and _within(k, depth + 1) and _within(v, depth + 1) for k, v in value.items()
        )
    return value is None or isinstance(value, bool | int | float)


# --- reading ------------------------------------------------------------------------------------
def read_decisions(data: object, group_key: str) -> Decisions:
    """The decisions block of the marker of ``group_key``'s PR, read strictly (module docstring);
    raises ``Refused`` with the reason."""
    if not isinstance(data, dict):
        raise Refused("the decisions block is not an object")
    if data.get("v") != SCHEMA:
        raise Refused(f"schema version {data.get('v')!r}, this bot reads version {SCHEMA}")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise Refused(f"unknown keys {unknown}")
    size = _chars(data)
    if size > MAX_BLOCK_CHARS:
        raise Refused(f"{size} characters, more than the {MAX_BLOCK_CHARS} the bot ever writes")
    if not _within(data):
        raise Refused(
            f"a string over {MAX_TEXT} characters, a list over {MAX_ITEMS} items or nesting too deep"
        )
    try:
        decisions = _from_dict(data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise Refused(f"not as the bot writes it: {exc}") from None
    if _canonical(decisions.to_dict()) != _canonical(data):
        raise Refused("not as the bot writes it: it does not read back the same")
    strangers = sorted({a.intent.group_key for a in decisions.asked} - {group_key})
    if strangers:
        raise Refused(f"intents of another group ({', '.join(strangers)})")
    if len({a.intent.target_key for a in decisions.asked}) != len(decisions.asked):
        raise Refused("two intents for one target")
    if decisions != decisions.fitted():
        raise Refused("more than the bot keeps in a marker")
    return decisions


def _from_dict(data: Mapping[str, Any]) -> Decisions:
    hold = data.get("hold", False)
    if not isinstance(hold, bool):
        raise TypeError("hold must be true or false")
    return Decisions(
        pinned=tuple(_pin(p) for p in _list(data, "pins")),
        ignored=tuple(_ignore(m) for m in _list(data, "ignores")),
        hold=hold,
        asked=tuple(_asked(a) for a in _list(data, "asked")),
        ran=Ran.from_dict(_dict(data.get("ran", {}), "ran")),
    )


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise TypeError(f"{key} must be a list")
    return value


def _dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be an object")
    return value


def _pin(raw: object) -> Pin:
    data = _dict(raw, "a pin")
    _check(data, {"image": str, "tag": str | None, "digest": str | None, "by": str | None, "at": str | None})
    return Pin(data["image"], data["tag"], data["digest"], data["by"], data["at"])


def _ignore(raw: object) -> IgnoreMark:
    data = _dict(raw, "an ignore")
    hints = {"image": str, "up_to": tuple[int | str, ...] | None, "scheme": str | None, "label": str}
    _check(data, hints)
    up_to = None if data["up_to"] is None else tuple(data["up_to"])
    return IgnoreMark(data["image"], up_to, data["scheme"], data["label"])


def _asked(raw: object) -> Asked:
    data = _dict(raw, "an asked intent")
    intent = _dict(data.get("intent"), "an intent")
    if not _fits(intent, UpdateIntent):
        raise TypeError("an intent with fields the bot does not write")
    mark = data.get("mark")
    if mark is not None:
        mark = _dict(mark, "a mark")
        others = _dict(mark.get("others", {}), "a mark's other schemes")
        hints = {"scheme": str, "key": tuple[int | str, ...], "tag": str | None, "digest": str | None}
        _check({k: v for k, v in mark.items() if k != "others"}, hints)
        if not all(_fits(v, tuple[int | str, ...]) for v in others.values()):
            raise TypeError("a mark's other schemes hold keys that are not versions")
    return Asked(UpdateIntent.from_dict(intent), None if mark is None else Mark.from_dict(mark))


def _check(data: Mapping[str, Any], hints: Mapping[str, Any]) -> None:
    if set(data) != set(hints) or not all(_fits(data[k], h) for k, h in hints.items()):
        raise TypeError(f"expected exactly {sorted(hints)} of the bot's types")


def _fits(value: object, hint: Any) -> bool:
    """Does a JSON value have the shape of ``hint`` (str, int, float, bool, None, unions, Literal,
    tuples as lists, dataclasses as objects holding a subset of their fields)?"""
    origin, args = get_origin(hint), get_args(hint)
    if hint is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is Literal:
        return value in args
    if origin is tuple:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # JSON writes 0.0 as 0.0, but a whole number may come back as an int
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type) and is_dataclass(hint):
        hints = get_type_hints(hint)
        names = {f.name for f in fields(hint)}
        return (
            isinstance(value, dict)
            and set(value) <= names
            and all(_fits(v, hints[k]) for k, v in value.items())
        )
    return False


# --- rebuilding ---------------------------------------------------------------------------------
def replay(
    asked: Sequence[Asked], active: Mapping[str, UpdateIntent], state: GroupState
) -> tuple[dict[str, UpdateIntent], dict[str, Mark]]:
    """The asked intents restored as if Redis had never forgotten them: for their targets, the
    active intent and mark that result from the kept ones (and their kept marks) with whatever
    arrived since Redis forgot (the targets' active intents now, ``active``) merged again on top:
    a newer build still wins, an older one stays superseded, as it would have been."""
    kept_active = {a.intent.target_key: a.intent for a in asked}
    kept_marks = {a.intent.target_key: a.mark for a in asked if a.mark is not None}
    since = [active[t] for t in sorted(kept_active) if t in active and active[t] != kept_active[t]]
    outcome = merge(kept_active, kept_marks, since, state)
    return {**kept_active, **outcome.active}, {**kept_marks, **outcome.marks}
