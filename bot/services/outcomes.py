"""Per delivery of an event job's batch: what planning and the other event handlers did, turned
into ``TargetOutcome`` records once the batch's intents are merged (``bot.core.outcomes``).

``apply_deliveries`` tells an ``OutcomeLog`` what each delivery planned and handled, and asks it
for the records after the merge; the job stores them with the delivery and logs them. Reasons
pass the one redaction (``bot.logs.redact``) here, before anything stores or logs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.core.events import Event, Installation, PrClosed, PrComment, PrQueued, Push
from bot.core.group_state import GroupState
from bot.core.intents import PlanResult
from bot.core.merge import MergeOutcome
from bot.core.outcomes import TargetOutcome, outcomes_of
from bot.logs import redact
from bot.store.intents import IntentStore


@dataclass
class _Seen:
    plans: list[PlanResult] = field(default_factory=list)
    handled: list[TargetOutcome] = field(default_factory=list)


class OutcomeLog:
    """Collects one batch's results by delivery position (two deliveries may share an id)."""

    def __init__(self, deliveries: int) -> None:
        self._seen = [_Seen() for _ in range(deliveries)]

    def planned(self, index: int, result: PlanResult) -> None:
        self._seen[index].plans.append(result)

    def handled(self, index: int, event: Event, groups: Sequence[str]) -> None:
        """An event that updates no image (a push, a closed PR, a comment, an installation)."""
        self._seen[index].handled += handled_outcomes(event, groups)

    def add(self, index: int, outcome: TargetOutcome) -> None:
        """An outcome its handler worded itself (a deployment report)."""
        self._seen[index].handled.append(outcome)

    def outcomes(self, store: IntentStore, merged: Mapping[str, MergeOutcome]) -> list[list[TargetOutcome]]:
        """Each delivery's records, in delivery order, with its groups' hold and pins as they are
        after the merge (one Redis round trip for the batch)."""
        groups = sorted({i.group_key for seen in self._seen for p in seen.plans for i in p.intents})
        states = group_states(store, groups)
        return [
            [_redacted(o) for o in (*outcomes_of(seen.plans, merged, states), *seen.handled)]
            for seen in self._seen
        ]


def group_states(store: IntentStore, groups: Sequence[str]) -> dict[str, GroupState]:
    return {key: record.state for key, record in store.groups.get_many(groups).items()}


def handled_outcomes(event: Event, groups: Sequence[str]) -> list[TargetOutcome]:
    """What the bot did with an event that updates no image, per group it touched."""
    if isinstance(event, Push):
        if event.branch is None:
            return [TargetOutcome("skipped", f"a tag push to {event.repo}; only branch pushes matter")]
        if not groups:
            why = f"no update group has {event.repo}@{event.branch} as its base branch"
            return [TargetOutcome("skipped", why)]
        what = f"{event.repo}@{event.branch} moved: the group's branch is rebuilt on it"
        return [TargetOutcome("done", what, group=g) for g in groups]
    if isinstance(event, PrClosed):
        if not groups:
            return [TargetOutcome("skipped", f"{event.repo}#{event.pr_number} is not a PR of the bot")]
        what = "merged: its versions are done" if event.merged else "closed: its versions are ignored"
        return [TargetOutcome("done", f"PR #{event.pr_number} {what}", group=g) for g in groups]
    if isinstance(event, PrQueued):
        if not groups:
            return [TargetOutcome("skipped", f"{event.repo}#{event.pr_number} is not an open PR of the bot")]
        what = "is not rewritten while it is there" if event.queued else "left it: reconciled"
        return [
            TargetOutcome("done", f"PR #{event.pr_number} {event.queue}: {what}", group=g) for g in groups
        ]
    if isinstance(event, PrComment):
        where = f"{event.repo}#{event.pr_number}"
        return [TargetOutcome("done", f"comment on {where}: chat-ops answers on the PR")]
    if isinstance(event, Installation):
        return [TargetOutcome("done", "the App's installation changed: its cached clients were dropped")]
    return [TargetOutcome("skipped", f"{event.kind} events do not update images")]


def _redacted(outcome: TargetOutcome) -> TargetOutcome:
    return replace(outcome, reason=redact(outcome.reason))
