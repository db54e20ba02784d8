"""What one delivery did, per image and target, and why (pure): the status page's "why", the
``/api/deliveries`` records, the worker's log line per delivery and ``manifest-bot status``.

The deliveries consumer turns each delivery's plan results and the batch's merge outcomes into
``TargetOutcome`` records (``outcomes_of``); the delivery store keeps them with the delivery.

| status | meaning |
|---|---|
| ``accepted`` | the version goes into its group's PR (the page links the PR) |
| ``held`` | accepted, but the group is on hold: nothing changes until ``unhold`` |
| ``pinned`` | accepted, but a pin keeps the image at another tag |
| ``superseded`` | the target has this version or a newer one (or it is ignored there) |
| ``skipped`` | routed nowhere: no rule, a policy refused the tag, the CI run failed |
| ``waiting`` | the tag is not in the registry yet |
| ``done`` | an event that updates no image (a merged PR, a moved base branch, a comment) |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from bot.core.group_state import GroupState
from bot.core.intents import PlanResult, Skip, UpdateIntent
from bot.core.keys import GroupKey
from bot.core.merge import MergeOutcome, Superseded

Status = Literal["accepted", "held", "pinned", "superseded", "skipped", "waiting", "done"]
STATUSES: tuple[Status, ...] = get_args(Status)
#: statuses after which nothing will change for that image and target
NOTHING: frozenset[Status] = frozenset({"superseded", "skipped"})
#: outcomes kept per delivery (a delivery with more says how many were left out)
MAX_PER_DELIVERY = 100


@dataclass(frozen=True, slots=True)
class TargetOutcome:
    status: Status
    reason: str
    image: str | None = None
    tag: str | None = None
    group: str | None = None  # the group key (forge:repo:base:group): the page links its PR
    target: str | None = None  # the target's label (``forge:repo@branch/group``), when known

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetOutcome:
        status = data.get("status")
        if status not in STATUSES:
            raise ValueError(f"unknown outcome status {status!r}")
        fields = ("image", "tag", "group", "target")
        return cls(status, str(data.get("reason", "")), **{f: data.get(f) for f in fields})


# --- from a plan and a merge ---------------------------------------------------------------------
def outcomes_of(
    results: Iterable[PlanResult], merged: Mapping[str, MergeOutcome], states: Mapping[str, GroupState]
) -> list[TargetOutcome]:
    """One delivery's outcomes: a record per skip of its plans and per intent, after the merge of
    its batch (``merged``: group key → outcome) under each group's state (hold, pins, ignores)."""
    out: list[TargetOutcome] = []
    for result in results:
        out += [of_skip(s) for s in result.skips]
        out += [of_intent(i, merged.get(i.group_key), states.get(i.group_key)) for i in result.intents]
    return out


def of_skip(skip: Skip) -> TargetOutcome:
    return TargetOutcome("skipped", skip.reason, skip.image, skip.tag, None, skip.target)


def of_intent(intent: UpdateIntent, merged: MergeOutcome | None, state: GroupState | None) -> TargetOutcome:
    """What became of one planned intent (see the module docstring for the statuses)."""
    state = state or GroupState()

    def outcome(status: Status, reason: str) -> TargetOutcome:
        return TargetOutcome(status, reason, intent.image, intent.tag, intent.group_key, None)

    lost = _superseded(intent, merged)
    if lost is not None:
        return outcome("superseded", _ignored(intent, state) if lost.reason == "ignored" else lost.describe())
    final = merged.active.get(intent.target_key) if merged is not None else None
    if final is not None and not _same(final, intent):  # accepted, then replaced later in the batch
        return outcome("superseded", _replaced(intent, final))
    group = GroupKey.parse(intent.group_key).group
    if state.hold:
        return outcome("held", f"held: group `{group}` is on hold (`unhold` on its PR resumes updates)")
    pin = state.pin_for(intent.image)
    if pin is not None and not intent.rollback and (pin.tag, pin.digest) != (intent.tag, intent.digest):
        by = f" by @{pin.by}" if pin.by else ""
        return outcome("pinned", f"pinned at {pin.tag or pin.digest}{by} (`unpin` on its PR releases it)")
    return outcome("accepted", f"goes into the PR of group `{group}`")


def _superseded(intent: UpdateIntent, merged: MergeOutcome | None) -> Superseded | None:
    for s in merged.superseded if merged is not None else ():
        same = (s.target, s.tag, s.key) == (intent.target_key, intent.tag, intent.ordering_key)
        if same and s.delivery_id == intent.origin.delivery_id:
            return s
    return None


def _same(final: UpdateIntent, planned: UpdateIntent) -> bool:
    """``final`` is ``planned`` as merged: the same version of the same delivery, with what the
    registry answered (the digest ``verify`` asked for) filled in."""
    if final == planned:
        return True
    return (final.origin.delivery_id, final.tag, final.ordering_key) == (
        planned.origin.delivery_id,
        planned.tag,
        planned.ordering_key,
    ) and (planned.digest is None or planned.digest == final.digest)


def _replaced(intent: UpdateIntent, final: UpdateIntent) -> str:
    """Why an accepted intent was replaced within its batch; never "superseded by" itself."""
    name = _name(final)
    if name != _name(intent):
        return f"superseded by {name}"
    if final.digest != intent.digest and final.digest:
        return f"superseded by a later push of {name} (digest {final.digest[:19]}…)"
    return f"superseded by a later delivery of {name} in the same batch"


def _name(intent: UpdateIntent) -> str:
    if intent.ordering_scheme == "run-number" and intent.ordering_key:
        return f"run #{intent.ordering_key[0]}"
    return intent.tag or intent.digest or "a newer version"


def _ignored(intent: UpdateIntent, state: GroupState) -> str:
    labels = [m.label for m in state.ignored if m.label and m.matches(intent)]
    return "ignored: " + labels[0] if labels else "ignored on the group"


# --- reading and amending ------------------------------------------------------------------------
def summary(outcomes: Sequence[TargetOutcome]) -> tuple[str, str]:
    """(verdict, reason) of a delivery for one line: ``updated`` when any version goes into a PR,
    else the most telling status (``waiting``, ``held``, ``pinned``, ``done``), else ``nothing to
    do`` with the reasons; ("", "") for a delivery without outcomes."""
    if not outcomes:
        return "", ""
    for status, verdict in (
        ("accepted", "updated"),
        ("waiting", "waiting"),
        ("held", "held"),
        ("pinned", "pinned"),
        ("done", "done"),
    ):
        chosen = [o for o in outcomes if o.status == status]
        if chosen:
            return verdict, _reasons(chosen, with_image=status != "done")
    return "nothing to do", _reasons(outcomes, with_image=True)


def _reasons(outcomes: Sequence[TargetOutcome], *, with_image: bool, most: int = 3) -> str:
    texts = list(dict.fromkeys(_line(o) if with_image else o.reason for o in outcomes))
    more = f" (+{len(texts) - most} more)" if len(texts) > most else ""
    return "; ".join(texts[:most]) + more


def _line(o: TargetOutcome) -> str:
    what = " ".join(x for x in (o.image, o.tag) if x)
    return f"{what}: {o.reason}" if what and what not in o.reason else o.reason


def bounded(outcomes: Sequence[TargetOutcome]) -> tuple[list[TargetOutcome], int]:
    """At most ``MAX_PER_DELIVERY`` outcomes (those that changed something first), and how many
    were left out."""
    ranked = sorted(outcomes, key=lambda o: o.status in NOTHING)
    return ranked[:MAX_PER_DELIVERY], max(len(outcomes) - MAX_PER_DELIVERY, 0)
