"""Merging update intents into a group's desired state (pure).

Per target (``UpdateIntent.target_key``) the group keeps one *active* intent and one *high-water
mark*: the highest ordering key ever accepted. An incoming intent is accepted when its key is
above the mark; a lower or equal key is recorded as superseded and never applied, so a build that
finishes late can never downgrade a target. The mark survives when a merged PR clears the active
intent, so a late old build cannot reopen a PR to go backwards either. A chat-ops rollback
(``rollback=True``) is the only way down: it replaces the active intent and leaves the mark alone,
so older builds still arriving stay superseded while a genuinely newer build moves forward again.

Keys of different ordering schemes never compare. A target's mark has one scheme (its first
accepted version's); an intent of another scheme (under ``ordering: auto`` a semver tag, a CI run
number or a push time, depending on the tag) is superseded with reason ``scheme`` unless the policy
allows a scheme change (``allow_scheme_change``, or an explicit ``ordering`` the operator changed).
Even then the mark remembers the highest key of every scheme it held, so an intent is only ever
compared with keys of its own scheme: ``2.0.0``, then ``latest`` (push time), then a late
``1.9.0`` ends at ``latest``, never at ``1.9.0``.

The group's state (``bot.core.group_state.GroupState``) filters: a version a person ignored is
rejected (``IgnoreMark``: up to and including its key; a newer one passes). Pins are *not* applied
here: newer versions keep merging while a pin holds the PR at its tag, so ``unpin`` moves straight
to the newest (the PR lifecycle service applies pins when it renders the desired state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, assert_never

from bot.core.group_state import GroupState
from bot.core.intents import OrderingKey, UpdateIntent

Reason = Literal["older", "duplicate", "ignored", "scheme"]


def comparable(key: OrderingKey) -> tuple[tuple[int, int | str], ...]:
    """A total order over keys whose parts mix ints and strings (ints sort before strings)."""
    return tuple((0, p) if isinstance(p, int) else (1, str(p)) for p in key)


@dataclass(frozen=True, slots=True)
class Mark:
    """The highest version ever accepted for one target, and the highest key of every other
    scheme the target held before a scheme change (``others``)."""

    scheme: str
    key: OrderingKey
    tag: str | None
    digest: str | None
    others: tuple[tuple[str, OrderingKey], ...] = ()

    @classmethod
    def of(cls, intent: UpdateIntent, previous: Mark | None = None) -> Mark:
        """The mark ``intent`` sets, keeping ``previous``'s keys of other schemes."""
        scheme = intent.ordering_scheme
        others = dict(previous.others) if previous is not None else {}
        if previous is not None and previous.scheme != scheme:
            others[previous.scheme] = _highest(previous.key, others.get(previous.scheme))
        others.pop(scheme, None)
        return cls(scheme, intent.ordering_key, intent.tag, intent.digest, tuple(sorted(others.items())))

    def high(self, scheme: str) -> OrderingKey | None:
        """The highest key of ``scheme`` this target ever accepted (None: never that scheme)."""
        return self.key if scheme == self.scheme else dict(self.others).get(scheme)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "scheme": self.scheme,
            "key": list(self.key),
            "tag": self.tag,
            "digest": self.digest,
        }
        if self.others:
            data["others"] = {s: list(k) for s, k in self.others}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Mark:
        others = tuple(sorted((s, tuple(k)) for s, k in (data.get("others") or {}).items()))
        return cls(data["scheme"], tuple(data["key"]), data.get("tag"), data.get("digest"), others)


def _highest(a: OrderingKey, b: OrderingKey | None) -> OrderingKey:
    return a if b is None or comparable(a) >= comparable(b) else b


@dataclass(frozen=True, slots=True)
class Superseded:
    """An intent that was not applied, and why (kept in the group's superseded log)."""

    target: str
    image: str
    tag: str | None
    key: OrderingKey
    reason: Reason
    winner_tag: str | None = None
    delivery_id: str | None = None
    #: the CI run number of the version that won, when the target is ordered by run number
    winner_run: int | None = None
    #: the file whose references already had the winner (another rule's version, ``bot.core.floors``)
    where: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "target": self.target,
            "image": self.image,
            "tag": self.tag,
            "key": list(self.key),
            "reason": self.reason,
            "winner_tag": self.winner_tag,
            "delivery_id": self.delivery_id,
        }
        if self.winner_run is not None:
            data["winner_run"] = self.winner_run
        if self.where is not None:
            data["where"] = self.where
        return data

    def describe(self) -> str:
        """Why it was not applied, in words: "superseded by run #106", "already at 1.4.0"."""
        winner = f"run #{self.winner_run}" if self.winner_run is not None else self.winner_tag
        match self.reason:
            case "older":
                if winner is not None and winner == self.tag:  # the same tag, ordered higher before
                    return f"superseded by a later build of {winner} (its version orders above this one)"
                if self.where is not None:
                    return f"superseded by {winner or 'a newer version'}, which {self.where} already got"
                return f"superseded by {winner or 'a newer version'}"
            case "duplicate":
                return f"already at {self.winner_tag or self.tag}"
            case "ignored":
                return "ignored on the group (chat-ops `ignore`, or its PR was closed unmerged)"
            case "scheme":
                return (
                    f"ordered by another version scheme than the target's {winner or 'version'}; "
                    "the policy does not allow a scheme change"
                )
        assert_never(self.reason)


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    #: target_key -> the new active intent (only targets that changed)
    active: dict[str, UpdateIntent]
    #: target_key -> the new high-water mark (only targets whose mark rose)
    marks: dict[str, Mark]
    superseded: tuple[Superseded, ...]
    #: intents accepted, counting each one (two versions of a target in one batch count twice)
    accepted: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.active)


def _above(intent: UpdateIntent, mark: Mark) -> bool:
    return comparable(intent.ordering_key) > comparable(mark.key)


def _rejection(
    intent: UpdateIntent, mark: Mark | None, active: UpdateIntent | None, state: GroupState
) -> Reason | None:
    """Why ``intent`` must not become the target's active intent, or None to accept it."""
    if intent.rollback:
        return None
    if state.is_ignored(intent):
        return "ignored"
    if mark is None:
        return None  # first sight
    if mark.scheme != intent.ordering_scheme:
        if not intent.allow_scheme_change:
            return "scheme"  # keys of different schemes never compare
        high = mark.high(intent.ordering_scheme)
        return "older" if high is not None and comparable(intent.ordering_key) <= comparable(high) else None
    if _above(intent, mark):
        return None
    if comparable(intent.ordering_key) == comparable(mark.key):
        # the same version again; only a new digest for it (a re-pushed tag) is news
        current = active.digest if active is not None else mark.digest
        if intent.digest is not None and intent.digest != current:
            return None
        return "duplicate"
    return "older"


def _superseded(
    intent: UpdateIntent, reason: Reason, winner: UpdateIntent | None, mark: Mark | None
) -> Superseded:
    """The record of a rejected intent, naming the version that holds the target."""
    run = None
    if winner is not None and winner.ordering_scheme == "run-number":
        run = winner.ordering_key[0] if winner.ordering_key else None
    elif winner is None and mark is not None and mark.scheme == "run-number":
        run = mark.key[0] if mark.key else None
    return Superseded(
        target=intent.target_key,
        image=intent.image,
        tag=intent.tag,
        key=intent.ordering_key,
        reason=reason,
        winner_tag=winner.tag if winner is not None else (mark.tag if mark else None),
        delivery_id=intent.origin.delivery_id,
        winner_run=run if isinstance(run, int) else None,
    )


def merge(
    active: Mapping[str, UpdateIntent],
    marks: Mapping[str, Mark],
    incoming: Sequence[UpdateIntent],
    state: GroupState | None = None,
) -> MergeOutcome:
    """Merge ``incoming`` (in order) into a group's ``active`` intents and ``marks``."""
    state = state or GroupState()
    cur_active = dict(active)
    cur_marks = dict(marks)
    changed: dict[str, UpdateIntent] = {}
    raised: dict[str, Mark] = {}
    superseded: list[Superseded] = []
    accepted = 0
    for intent in incoming:
        target = intent.target_key
        mark = cur_marks.get(target)
        reason = _rejection(intent, mark, cur_active.get(target), state)
        if reason is not None:
            superseded.append(_superseded(intent, reason, cur_active.get(target), mark))
            continue
        cur_active[target] = changed[target] = intent
        accepted += 1
        if not intent.rollback or mark is None or mark.scheme != intent.ordering_scheme:
            cur_marks[target] = raised[target] = Mark.of(intent, mark)
    return MergeOutcome(active=changed, marks=raised, superseded=tuple(superseded), accepted=accepted)


def satisfied(active: Mapping[str, UpdateIntent], applied: Mapping[str, Mark]) -> list[str]:
    """Targets whose active intent is at or below what a merged PR applied (to clear them)."""
    out = []
    for target, intent in active.items():
        done = applied.get(target)
        if done is None or done.scheme != intent.ordering_scheme:
            continue
        if comparable(intent.ordering_key) <= comparable(done.key) and not (
            intent.rollback and intent.tag != done.tag
        ):
            out.append(target)
    return out
