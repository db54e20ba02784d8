"""Polling a registry as a safety net: a lost webhook is caught within one interval.

``poll_image`` lists the image's tags (one request with a warm token; the client refuses more than
``MANIFEST_BOT_REGISTRY_MAX_TAGS``, which bounds a run), lets the planner choose for every target
the highest tag its policy allows (``bot.core.planning.poll_tags``: the same range, regex, ignore,
prerelease and ordering checks as an event), plans each chosen tag exactly as a registry push
(``plan`` of an ``ImagePushed`` from source ``poll``), asks the registry gate for what the pin mode
needs (a tag just listed exists; a followed tag's digest is asked fresh; a tag the registry does
not have is dropped, never waited for) and merges the result like an event's. A poll that finds
what the previous one found merges nothing (``bot.store.polls``).

The job layer runs it per image, never twice at once (``bot.jobs.periodic``), and asks the groups
it touched to reconcile.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from bot.core.config.model import Config
from bot.core.events import ImagePushed
from bot.core.images import canonical_name
from bot.core.intents import UpdateIntent
from bot.core.planning import needs_tag_list, plan, poll_tags
from bot.core.ports import Registry
from bot.services.registry_gate import GateOutcome, RegistryGate
from bot.store.intents import IntentStore
from bot.store.polls import PollStore

SOURCE = "poll"


@dataclass
class PollOutcome:
    image: str
    tags: int = 0  # tags listed (0 when every target follows a digest: nothing to list)
    chosen: tuple[str, ...] = ()  # the tags planned
    planned: int = 0  # intents planned
    accepted: int = 0  # intents that changed a group's desired state
    unchanged: bool = False  # the same versions as the last poll: nothing merged
    groups: list[str] = field(default_factory=list)  # groups with work to do
    gate: GateOutcome = field(default_factory=GateOutcome)

    def counts(self) -> dict[str, int]:
        return {
            "tags": self.tags,
            "chosen": len(self.chosen),
            "planned": self.planned,
            "accepted": self.accepted,
            "unchanged": int(self.unchanged),
            "not_in_registry": self.gate.dropped,
            "registry_lookups": self.gate.asked,
        }


def signature(intents: list[UpdateIntent]) -> str:
    rows = sorted((i.group_key, i.target_key, i.tag or "", i.digest or "") for i in intents)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:32]


def poll_image(
    image: str,
    *,
    config: Config,
    registry: Registry,
    gate: RegistryGate,
    intents: IntentStore,
    polls: PollStore,
    now: float,
) -> PollOutcome:
    name = canonical_name(image)
    out = PollOutcome(name)
    listed = registry.list_tags(name) if needs_tag_list(config, name) else None
    out.tags = len(listed or ())
    out.chosen = poll_tags(config, name, listed)
    received = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    planned: list[UpdateIntent] = []
    for tag in out.chosen:
        event = ImagePushed(image=name, tag=tag, digest=None, source=SOURCE)
        planned.extend(plan(event, config, delivery_id=f"{SOURCE}:{name}", received_at=received).intents)
    out.planned = len(planned)
    out.gate = gate.admit(planned, wait=False, listed=listed or ())
    sig = signature(out.gate.ready)
    if polls.same_as_last(name, sig):
        out.unchanged = True
        return out
    outcomes, dirty = intents.merge_dirty(out.gate.ready)
    polls.remember(name, sig)
    out.accepted = sum(o.accepted for o in outcomes.values())
    out.groups = dirty
    return out
