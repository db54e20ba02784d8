"""From one delivery's events to the groups that need a reconcile (the event job's logic).

- ``image-pushed`` / ``ci-finished``: plan intents (``bot.core.planning.plan``), let the registry
  gate admit them (``admit``: ``bot.services.registry_gate`` — a version its registry does not
  have yet waits instead of being merged) and merge them into each group's intent store (highest
  ordering key wins; a lower one is recorded as superseded).
- ``push`` to a manifest repo's base branch: every group on that branch may be stale or
  conflicted now, so each one's generation is bumped (its branch is regenerated on the new base).
- ``pr-closed`` of a bot PR: merged → clear the intents it satisfied (and remember the PR for
  deployment reports: ``bot.services.deployments``); closed unmerged by a person → ignore those
  versions for the group until a newer one arrives (shown in the next PR body).
- ``deployment-reported`` (Flux, Argo CD): the environment's state recorded; a report whose PRs
  are to be told comes back in ``EventOutcome.reports`` for the consumer to queue its job.

Returns every group with work to do (``applied < generation``), including groups a duplicate
delivery touches whose earlier reconcile never ran, so a batch handled again loses nothing.

:class:`EventPipeline` is that logic with its dependencies, as the deliveries consumer
(``bot.jobs.consumer``) runs it on each batch: a GitHub App's ``installation`` events first tell
the forges to drop stale clients, then the batch is planned with the routing config its events
reach (the manifest repos' own files included) and merged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from bot.core import planning
from bot.core.config.model import Config
from bot.core.deployments import parse_time
from bot.core.events import (
    CiFinished,
    Delivery,
    DeploymentReported,
    ImagePushed,
    Installation,
    PrClosed,
    PrQueued,
    Push,
)
from bot.core.intents import PlanResult, UpdateIntent
from bot.core.outcomes import TargetOutcome
from bot.metrics import INTENTS
from bot.services import deployments as deploys
from bot.services.outcomes import OutcomeLog
from bot.store.deployments import DeploymentStore
from bot.store.groups import GroupRecord
from bot.store.intents import IntentStore

log = logging.getLogger(__name__)

Planner = Callable[..., PlanResult]
#: the registry gate (``bot.services.registry_gate.Admission``): the intents to merge now, and the
#: groups whose waiting versions changed (their PR body and status show it)
Admit = Callable[[list[UpdateIntent]], tuple[list[UpdateIntent], list[str]]]


@dataclass
class EventPipeline:
    intents: IntentStore
    #: the config to plan a batch with: the central one plus the repo files its events reach
    config_for: Callable[[Sequence[Delivery]], Config]
    bot_login: str
    #: the registry gate (None: every planned version is merged as planned)
    admit: Admit | None = None
    #: a GitHub App installation changed: forget its cached clients and tokens
    installation_changed: Callable[[int, tuple[str, ...]], object] = lambda _i, _r: None
    #: deployment reports and merged PRs are recorded here (None: reports are skipped)
    deployments: DeploymentStore | None = None

    def apply(self, deliveries: Sequence[Delivery]) -> EventOutcome:
        for delivery in deliveries:
            for event in delivery.events:
                if isinstance(event, Installation):
                    self.installation_changed(event.installation_id, event.repos)
        config = self.config_for(deliveries)
        return apply_deliveries(
            self.intents,
            config,
            deliveries,
            bot_login=self.bot_login,
            admit=self.admit,
            deployments=self.deployments,
        )


@dataclass
class EventOutcome:
    groups: list[str] = field(default_factory=list)  # groups to reconcile
    intents: int = 0  # intents planned
    accepted: int = 0  # intents that changed a group's desired state
    superseded: int = 0
    skips: list[str] = field(default_factory=list)
    #: per delivery, in the order given: what became of each image and target, and why
    per_delivery: list[list[TargetOutcome]] = field(default_factory=list)
    #: deployment reports whose environment's PRs a deployment job tells: (environment, report)
    reports: list[tuple[str, DeploymentReported]] = field(default_factory=list)


def apply_delivery(
    store: IntentStore,
    config: Config,
    delivery: Delivery,
    *,
    bot_login: str,
    plan: Planner = planning.plan,
    admit: Admit | None = None,
) -> EventOutcome:
    return apply_deliveries(store, config, [delivery], bot_login=bot_login, plan=plan, admit=admit)


def apply_deliveries(
    store: IntentStore,
    config: Config,
    deliveries: Iterable[Delivery],
    *,
    bot_login: str,
    plan: Planner = planning.plan,
    admit: Admit | None = None,
    deployments: DeploymentStore | None = None,
) -> EventOutcome:
    """Apply several deliveries in arrival order with one merge for all their intents (a burst
    costs one Redis transaction per batch, not one per delivery)."""
    out = EventOutcome()
    touched: set[str] = set()
    intents: list[UpdateIntent] = []
    deliveries = list(deliveries)
    log = OutcomeLog(len(deliveries))
    for n, delivery in enumerate(deliveries):
        for event in delivery.events:
            if isinstance(event, ImagePushed | CiFinished):
                result = plan(event, config, delivery_id=delivery.id, received_at=delivery.received_at)
                intents.extend(result.intents)
                out.skips.extend(s.reason for s in result.skips)
                log.planned(n, result)
                continue
            if isinstance(event, DeploymentReported) and deployments is not None:
                recorded = deploys.record(deployments, config, event)
                log.add(n, recorded.outcome)
                if recorded.tell is not None:
                    out.reports.append((recorded.tell, event))
                continue
            groups: list[str] = []
            if isinstance(event, Push):
                groups = on_push(store, config, event)
            elif isinstance(event, PrClosed):
                if deployments is not None:
                    at = parse_time(delivery.received_at).timestamp()
                    deploys.remember_merged(deployments, store, config, event, at)
                groups = on_pr_closed(store, config, event, bot_login=bot_login)
            elif isinstance(event, PrQueued):
                groups = on_pr_queued(store, config, event)
            touched.update(groups)
            log.handled(n, event, groups)
    out.intents = len(intents)
    if admit is not None:
        intents, waiting = admit(intents)
        touched.update(waiting)
    outcomes, dirty = store.merge_dirty(intents)
    out.per_delivery = log.outcomes(store, outcomes)
    for outcome in outcomes.values():
        out.accepted += outcome.accepted
        out.superseded += len(outcome.superseded)
    INTENTS.labels(outcome="created").inc(out.accepted)
    INTENTS.labels(outcome="superseded").inc(out.superseded)
    INTENTS.labels(outcome="skipped").inc(len(out.skips))
    out.groups = sorted(set(dirty) | {g for g in touched if store.dirty(g)})
    return out


def on_push(store: IntentStore, config: Config, event: Push) -> list[str]:
    branch = event.branch
    if branch is None:
        return []
    groups = _groups(store, config, event.forge, event.repo, branch)
    for group_key in groups:
        store.bump(group_key)
    return groups


def on_pr_closed(store: IntentStore, config: Config, event: PrClosed, *, bot_login: str) -> list[str]:
    found = [
        g
        for name in config.forge_names(event.forge)
        if (g := store.groups.group_for_branch(name, event.repo, event.head_branch)) is not None
    ]
    for group_key in found:
        merged, by = event.merged, event.closed_by
        pr_closed(store, group_key, event.pr_number, merged=merged, closed_by=by, bot_login=bot_login)
    return found


def on_pr_queued(store: IntentStore, config: Config, event: PrQueued) -> list[str]:
    """The group whose open PR the forge's queue took is not rewritten while it is there (the
    reconcile leaves its branch alone); one the queue let go is reconciled at once."""
    found: list[str] = []
    for name in config.forge_names(event.forge):
        if event.head_branch is not None:
            group = store.groups.group_for_branch(name, event.repo, event.head_branch)
            found += [group] if group is not None else []
        elif event.base_branch is not None:
            found += store.groups.groups_of(name, event.repo, event.base_branch)
    mine = [g for g in sorted(set(found)) if store.groups.get(g).pr_number == event.pr_number]
    for group_key in mine:
        queued = event.queue if event.queued else None
        store.groups.update(group_key, lambda rec, q=queued: replace(rec, queued=q))  # type: ignore[misc]
        if not event.queued:
            log.info(
                "%s#%s left the %s (%s): reconciling", event.repo, event.pr_number, event.queue, event.reason
            )
            store.bump(group_key)
    return mine


def pr_closed(
    store: IntentStore, group_key: str, number: int, *, merged: bool, closed_by: str | None, bot_login: str
) -> bool:
    """The group's PR ``number`` was merged or closed (a webhook said so, or the resync read it):
    merged → clear the intents it satisfied; closed by a person → ignore its versions. Then the
    group forgets the PR and reconciles. False when it is not the group's current PR."""
    record = store.groups.get(group_key)
    if record.pr_number != number:
        return False  # not the group's current PR (e.g. one the bot closed itself earlier)
    if merged:
        store.clear(group_key, record.applied, merged=True)
    elif closed_by is not None and closed_by == bot_login:
        return False  # the bot closed it (already applied); nothing to learn
    else:
        log.info(
            "PR %s#%s closed unmerged by %s: ignoring its versions",
            record.repo,
            number,
            closed_by or "a person",
        )
        store.clear(group_key, record.applied, ignore=True)
    store.groups.update(group_key, _forget_pr(number))
    store.bump(group_key)
    return True


def _forget_pr(number: int) -> Callable[[GroupRecord], GroupRecord]:
    def change(rec: GroupRecord) -> GroupRecord:
        if rec.pr_number != number:
            return rec
        return replace(
            rec, pr_number=None, applied={}, held={}, error_commented=None, blocked=None, queued=None
        )

    return change


def _groups(store: IntentStore, config: Config, kind: str, repo: str, branch: str) -> list[str]:
    out: Iterable[str] = (
        g for name in config.forge_names(kind) for g in store.groups.groups_of(name, repo, branch)
    )
    return sorted(set(out))
