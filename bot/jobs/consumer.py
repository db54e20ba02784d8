"""The deliveries consumer: batches from the stream through the event pipeline, then acknowledged.

``Consumer.step`` reads up to ``BATCH_MAX`` new entries of the deliveries stream under this
worker's consumer name (``bot.store.stream``), and ``claim`` takes over entries another consumer
left pending (it died, or failed transiently). A batch is:

1. planned and merged in one go (``bot.services.events.EventPipeline``: one merge transaction for
   every intent of the batch), in arrival order;
2. every touched group settles (``Dispatch.settle``): it is asked to reconcile once *its* intents
   have been quiet for a moment (``Dispatch.request_settled``, after every batch, coalesced per
   group), while the rest of a burst for other groups is still arriving; each PR comment becomes
   a command job, each deployment report whose PRs are to be told a deployment job
   (``bot.jobs.deployments``);
3. only then recorded — outcome and acknowledgement in one transaction
   (``DeliveryStore.record_outcomes``). A consumer killed before that leaves its entries pending:
   they are handled again by whoever claims them, which changes nothing already done (merges are
   idempotent, reconcile requests coalesce, a comment's commands run once).

Failures: a Redis failure or a transient error (the forge did not answer a repo-file read) leaves
the batch pending, to be claimed again after ``CLAIM_IDLE_MS``; after ``MAX_DELIVERIES`` hand-outs
an entry is recorded failed with why, so a delivery that keeps killing its worker never blocks the
others. Any other error (a bug, a bad config) is narrowed down: each delivery runs alone, and the
one that fails alone is recorded failed with its reason (a redelivery or a person's retry runs it
again) while the others are processed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from bot.core.events import Delivery, PrComment
from bot.core.outcomes import TargetOutcome, bounded, summary
from bot.errors import BotError
from bot.jobs.dispatch import Dispatch, PendingCommand, command_token
from bot.logs import bind, redact
from bot.services.events import EventPipeline
from bot.services.reconcile import is_transient
from bot.store.deliveries import DeliveryStore, Outcome
from bot.store.stream import MAX_DELIVERIES, Entry

log = logging.getLogger(__name__)

#: deliveries one batch handles at most
BATCH_MAX = 100


@dataclass
class BatchReport:
    read: int = 0  # stream entries taken
    handled: int = 0  # deliveries recorded (processed or failed)
    failed: int = 0
    left_pending: int = 0  # left for a later claim (Redis or a transient error)
    groups: set[str] = field(default_factory=set)

    def add(self, other: BatchReport) -> None:
        self.read += other.read
        self.handled += other.handled
        self.failed += other.failed
        self.left_pending += other.left_pending
        self.groups |= other.groups


class Consumer:
    def __init__(
        self,
        deliveries: DeliveryStore,
        pipeline: EventPipeline,
        dispatch: Dispatch,
        name: str,
        *,
        batch: int = BATCH_MAX,
    ) -> None:
        self.deliveries = deliveries
        self.pipeline = pipeline
        self.dispatch = dispatch
        self.name = name
        self.batch = batch

    def step(self, block_ms: int | None = None) -> BatchReport:
        """Handle the next batch of new entries (waiting up to ``block_ms`` for one)."""
        return self.handle(self.deliveries.stream.read(self.name, self.batch, block_ms))

    def claim(self, min_idle_ms: int | None = None) -> BatchReport:
        """Take over and handle entries left pending elsewhere for ``min_idle_ms``."""
        stream = self.deliveries.stream
        entries = (
            stream.claim_idle(self.name, self.batch)
            if min_idle_ms is None
            else stream.claim_idle(self.name, self.batch, min_idle_ms)
        )
        return self.handle(entries)

    def handle(self, entries: Sequence[Entry]) -> BatchReport:
        report = BatchReport(read=len(entries))
        if not entries:
            return report
        poison = [e for e in entries if e.deliveries > MAX_DELIVERIES]
        if poison:
            reason = f"handed to a worker {MAX_DELIVERIES} times without an outcome (it died or kept failing)"
            self._record([Outcome(e.ref, failed=reason) for e in poison], poison)
            report.handled += len(poison)
            report.failed += len(poison)
            log.error("deliveries %s given up: %s", [e.ref for e in poison], reason)
        live = [e for e in entries if e.deliveries <= MAX_DELIVERIES]
        found = self.deliveries.get_many(list(dict.fromkeys(e.ref for e in live)))
        gone = [e.id for e in live if e.ref not in found]
        if gone:
            log.warning("%d delivery record(s) are gone (expired?); nothing to do", len(gone))
            self.deliveries.acknowledge_missing(gone)
        live = [e for e in live if e.ref in found]
        if live:
            batch = self._batch(live, found)
            batch.read = 0
            report.add(batch)
        return report

    def _batch(self, entries: list[Entry], found: dict[str, Delivery]) -> BatchReport:
        try:
            return self._apply(entries, found)
        except Exception as exc:
            if is_transient(exc):
                log.warning("batch of %d left pending: %s", len(entries), _why(exc))
                return BatchReport(left_pending=len(entries))
            if len({e.ref for e in entries}) == 1:
                return self._fail(entries, exc)
        report = BatchReport()  # not theirs to fail: one at a time, so only the bad one fails
        for ref in dict.fromkeys(e.ref for e in entries):
            mine = [e for e in entries if e.ref == ref]
            try:
                report.add(self._apply(mine, found))
            except Exception as exc:
                report.add(
                    BatchReport(left_pending=len(mine)) if is_transient(exc) else self._fail(mine, exc)
                )
        return report

    def _apply(self, entries: list[Entry], found: dict[str, Delivery]) -> BatchReport:
        refs = list(dict.fromkeys(e.ref for e in entries))
        deliveries = [found[r] for r in refs]
        outcome = self.pipeline.apply(deliveries)
        self.dispatch.settle(list(outcome.groups))
        for delivery in deliveries:
            self._queue_commands(delivery)
        for environment, report in outcome.reports:
            ref = next(d.id for d in deliveries if report in d.events)
            self.dispatch.enqueue_deployment(environment, report, ref)
        done = [Outcome(r, tuple(o)) for r, o in zip(refs, outcome.per_delivery, strict=True)]
        self._record(done, entries)
        log_outcomes(deliveries, outcome.per_delivery)
        return BatchReport(handled=len(refs), groups=set(outcome.groups))

    def _fail(self, entries: list[Entry], exc: BaseException) -> BatchReport:
        reason = redact(exc.message) if isinstance(exc, BotError) else type(exc).__name__
        log.error("delivery %s failed: %s", entries[0].ref, reason, exc_info=not isinstance(exc, BotError))
        self._record([Outcome(entries[0].ref, failed=reason)], entries)
        return BatchReport(handled=1, failed=1)

    def _record(self, done: list[Outcome], entries: Sequence[Entry]) -> None:
        """Record the outcomes and acknowledge every entry of those deliveries (a ref queued twice
        has two entries)."""
        refs = {o.ref for o in done}
        self.deliveries.record_outcomes(done, [e.id for e in entries if e.ref in refs])

    def _queue_commands(self, delivery: Delivery) -> None:
        """Chat-ops: each comment is its own job, run under the repo lock."""
        for event in delivery.events:
            if isinstance(event, PrComment):
                token = command_token(event)
                self.dispatch.enqueue_command(PendingCommand(event, delivery.id, None, token))


def _why(exc: BaseException) -> str:
    if isinstance(exc, BotError):
        return redact(exc.message)
    if isinstance(exc, redis.RedisError):
        return f"Redis: {type(exc).__name__}"
    return type(exc).__name__


def log_outcomes(deliveries: Sequence[Delivery], outcomes: Sequence[Sequence[TargetOutcome]]) -> None:
    """One line per delivery: its verdict and every outcome with its reason (docs/operations.md)."""
    for delivery, found in zip(deliveries, outcomes, strict=True):
        verdict, reason = summary(found)
        records: list[dict[str, Any]] = [o.to_dict() for o in bounded(found)[0]]
        with bind(delivery_id=delivery.id, source=delivery.source):
            log.info("delivery %s: %s", verdict or "processed", reason, extra={"outcomes": records})
