"""Polling a registry as a safety net: a lost webhook is caught within one interval.

``poll_images`` polls a batch of images (the leader takes the due ones, ``bot.services.
poll_schedule``, and queues them in batches). For each image it lists the tags (one request with
a warm token; the client refuses more than ``MANIFEST_BOT_REGISTRY_MAX_TAGS``, which bounds a
run), lets the planner choose, with the config an event would be planned with (the central one
and the own file of every manifest repo the image reaches, ``reached``), for every target the
highest tag its policy allows (``bot.core.planning.poll_tags``: the same range, regex, ignore,
prerelease and ordering checks as an event, the rules found through the config's rule index),
plans each chosen tag exactly as a registry push (``plan`` of an ``ImagePushed`` from source
``poll``) and asks the registry gate for what the pin mode needs (a tag just listed exists; a
followed tag's digest is asked fresh; a tag the registry does not have is dropped, never waited
for).

Then, for the whole batch: one ``HMGET`` of the images' last signatures, one merge of what is new
(``IntentStore.merge_dirty``, a few groups per transaction), one ``HSET`` of the new signatures.
A poll that finds what the previous one found merges nothing (``bot.store.polls``), so a batch
where nothing changed costs one Redis command. An image whose poll fails (a repository that does
not exist, refused credentials, a registry that does not answer) is reported in the outcome and
logged; the others go on, and a registry that did not answer is not asked again in the batch.

The job layer (``bot.jobs.registry``) asks the groups left with work to reconcile.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.core.config.model import Config
from bot.core.events import Delivery, ImagePushed
from bot.core.images import canonical_name
from bot.core.intents import PlanResult, Skip, UpdateIntent
from bot.core.merge import MergeOutcome
from bot.core.planning import needs_tag_list, plan, poll_tags, reach
from bot.core.ports import Registry
from bot.errors import BotError, Transient
from bot.metrics import POLLS
from bot.services.outcomes import OutcomeLog
from bot.services.registry_gate import GateOutcome, RegistryGate, registry_of
from bot.store.deliveries import DeliveryStore
from bot.store.intents import IntentStore
from bot.store.polls import PollStore

log = logging.getLogger(__name__)

SOURCE = "poll"
#: a poll whose outcomes include one of these took a version: it is recorded as a delivery
TOOK = frozenset({"accepted", "held", "pinned"})
#: groups merged in one transaction (a smaller one is less likely to meet a concurrent writer)
MERGE_GROUPS = 25


@dataclass
class PollOutcome:
    image: str
    tags: int = 0  # tags listed (0 when every target follows a digest: nothing to list)
    chosen: tuple[str, ...] = ()  # the tags planned
    planned: int = 0  # intents planned
    ready: list[UpdateIntent] = field(default_factory=list)  # admitted by the registry gate
    unchanged: bool = False  # the same versions as the last poll: nothing merged
    groups: list[str] = field(default_factory=list)  # groups it left with work to do
    gate: GateOutcome = field(default_factory=GateOutcome)
    error: BotError | None = None  # the poll failed: nothing merged for this image
    #: what the poll planned, as an event's plan results (the registry gate's refusals as skips)
    plans: list[PlanResult] = field(default_factory=list)
    delivery_id: str = ""  # the id of the record a poll that found something leaves
    events: tuple[ImagePushed, ...] = ()
    received_at: str = ""


@dataclass
class PollBatch:
    polls: list[PollOutcome] = field(default_factory=list)
    accepted: int = 0  # intents that changed a group's desired state
    groups: list[str] = field(default_factory=list)  # groups with work to do
    merged: dict[str, MergeOutcome] = field(default_factory=dict)  # group → its merge's outcome
    recorded: int = 0  # polls recorded as deliveries (they found a new version)

    def get(self, image: str) -> PollOutcome:
        name = canonical_name(image)
        return next(p for p in self.polls if p.image == name)

    @property
    def failures(self) -> list[PollOutcome]:
        return [p for p in self.polls if p.error is not None]

    def gate(self) -> GateOutcome:
        """The registry gate's outcome over the batch (its failures are recorded on their groups)."""
        out = GateOutcome()
        for p in self.polls:
            out.failures.extend(p.gate.failures)
            out.changed |= p.gate.changed
            out.dropped += p.gate.dropped
            out.asked += p.gate.asked
        return out

    def counts(self) -> dict[str, int]:
        gate = self.gate()
        return {
            "images": len(self.polls),
            "tags": sum(p.tags for p in self.polls),
            "chosen": sum(len(p.chosen) for p in self.polls),
            "planned": sum(p.planned for p in self.polls),
            "accepted": self.accepted,
            "unchanged": sum(p.unchanged for p in self.polls),
            "failed": len(self.failures),
            "not_in_registry": gate.dropped,
            "registry_lookups": gate.asked,
            "recorded": self.recorded,
        }


def reached(config: Config, images: Iterable[str]) -> set[tuple[str, str, str]]:
    """(forge, repo, branch) of every target a poll of ``images`` may plan for: the repos whose own
    ``.manifest-bot.yaml`` is applied before planning, exactly as for a pushed event."""
    return {
        ref
        for image in images
        for ref in reach(
            ImagePushed(image=canonical_name(image), tag=None, digest=None, source=SOURCE), config
        )
    }


def signature(intents: Iterable[UpdateIntent]) -> str:
    rows = sorted((i.group_key, i.target_key, i.tag or "", i.digest or "") for i in intents)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:32]


def poll_images(
    images: Sequence[str],
    *,
    config: Config,
    registry: Registry,
    gate: RegistryGate,
    intents: IntentStore,
    polls: PollStore,
    now: float,
    deliveries: DeliveryStore | None = None,
) -> PollBatch:
    """Poll every image of the batch and merge what is new (see the module's docstring); each
    poll whose merge took a version is recorded in ``deliveries`` as a delivery of source
    ``poll`` would be (``record``)."""
    batch = PollBatch()
    down: dict[str, Transient] = {}  # registry host → how it failed in this batch
    for name in dict.fromkeys(canonical_name(i) for i in images):
        batch.polls.append(_poll_one(name, config=config, registry=registry, gate=gate, now=now, down=down))
    done = [p for p in batch.polls if p.error is None]
    last = polls.signatures(p.image for p in done)
    news: dict[str, str] = {}
    for p in done:
        sig = signature(p.ready)
        if last.get(p.image) == sig:
            p.unchanged = True
        else:
            news[p.image] = sig
    fresh = [p for p in done if not p.unchanged]
    dirty = set(_merge(intents, [i for p in fresh for i in p.ready], batch))
    polls.remember(news)
    for p in fresh:
        p.groups = sorted({i.group_key for i in p.ready} & dirty)
    batch.groups = sorted(dirty)
    if deliveries is not None:
        record(deliveries, intents, fresh, batch)
    _count(batch)
    return batch


def record(
    deliveries: DeliveryStore, intents: IntentStore, fresh: Sequence[PollOutcome], batch: PollBatch
) -> None:
    """Leave a delivery-like record of each poll that found a version its merge took: the tags
    it found (as ``image-pushed`` events), what became of each per target and why (the status
    page, ``/api/deliveries``, ``manifest-bot status``). A poll that found only what the bot
    already had leaves none (every poll of an unchanged registry would)."""
    found = [p for p in fresh if p.plans]
    log_ = OutcomeLog(len(found))
    for n, p in enumerate(found):
        for result in p.plans:
            log_.planned(n, result)
    took = [
        (Delivery(p.delivery_id, SOURCE, p.received_at, p.events), outcomes)
        for p, outcomes in zip(found, log_.outcomes(intents, batch.merged) if found else [], strict=True)
        if any(o.status in TOOK for o in outcomes)
    ]
    if took:
        deliveries.record_processed(took)
    batch.recorded = len(took)


def _poll_one(
    name: str,
    *,
    config: Config,
    registry: Registry,
    gate: RegistryGate,
    now: float,
    down: dict[str, Transient],
) -> PollOutcome:
    out = PollOutcome(name)
    host = registry_of(name)
    if host in down:
        out.error = down[host]
        return out
    try:
        listed = registry.list_tags(name) if needs_tag_list(config, name) else None
    except Transient as exc:  # RateLimited too: leave this registry alone for the rest of the batch
        down[host] = exc
        out.error = exc
        return out
    except BotError as exc:
        out.error = exc
        return out
    out.tags = len(listed or ())
    out.chosen = poll_tags(config, name, listed)
    received = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    out.received_at = received
    out.delivery_id = f"{SOURCE}-{int(now * 1000)}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    out.events = tuple(ImagePushed(image=name, tag=tag, digest=None, source=SOURCE) for tag in out.chosen)
    results = [plan(e, config, delivery_id=out.delivery_id, received_at=received) for e in out.events]
    planned = [i for r in results for i in r.intents]
    out.planned = len(planned)
    out.gate = gate.admit(planned, wait=False, listed=listed or ())
    out.ready = out.gate.ready
    out.plans = [_admitted(r, out.ready) for r in results]
    return out


def _admitted(result: PlanResult, ready: Sequence[UpdateIntent]) -> PlanResult:
    """A plan result as the registry gate left it: its admitted intents (with the digests it
    filled), and a skip for each one it did not admit."""
    by = {(i.group_key, i.target_key, i.tag): i for i in ready}
    intents, skips = [], list(result.skips)
    for intent in result.intents:
        found = by.get((intent.group_key, intent.target_key, intent.tag))
        if found is not None:
            intents.append(found)
        else:
            why = "the registry did not confirm it (see the group's status); not merged"
            skips.append(Skip(why, image=intent.image, tag=intent.tag))
    return PlanResult(tuple(intents), tuple(skips))


def _merge(intents: IntentStore, ready: list[UpdateIntent], batch: PollBatch) -> list[str]:
    """Merge ``ready`` a few groups at a time; the groups left with work to do."""
    by_group: dict[str, list[UpdateIntent]] = {}
    for intent in ready:
        by_group.setdefault(intent.group_key, []).append(intent)
    groups = sorted(by_group)
    dirty: list[str] = []
    for start in range(0, len(groups), MERGE_GROUPS):
        chunk = [i for g in groups[start : start + MERGE_GROUPS] for i in by_group[g]]
        outcomes, touched = intents.merge_dirty(chunk)
        batch.merged.update(outcomes)
        batch.accepted += sum(o.accepted for o in outcomes.values())
        dirty.extend(touched)
    return dirty


def _count(batch: PollBatch) -> None:
    for p in batch.polls:
        if p.error is not None:
            POLLS.labels(outcome="failed").inc()
            log.warning("poll of %s failed: %s", p.image, p.error.message)
        else:
            POLLS.labels(outcome="unchanged" if p.unchanged else "new").inc()
