"""Promotion gated on health: a chain with ``auto`` moves what a stage runs to the next stage
once that stage has been reported healthy for ``after_healthy``; a failed report stops it, and
``on_failure: rollback`` puts the failing stage back at what it last ran healthy.

- ``schedule`` (the deployment job, once it knows the versions a healthy revision carries): one
  due entry per chain step, ``[chain, from, revision, since]``, due at ``since + after_healthy``.
  The same state reported again is the same entry.
- ``promote_due`` (after each report, and a periodic task): each due entry whose stage is still
  healthy at that revision (a newer report, failed or not, replaced the state: the entry is
  dropped) is planned for the next stage with exactly the versions the stage runs there, merged,
  and its groups reconciled; the next stage's PR opens as for any update. Its versions pass the
  registry gate as an event's do (``verify``, the digest a target pins; a missing tag waits).
- ``rollback`` (the deployment job, on the report that made a stage failed): the stage's last
  healthy versions, planned as a rollback.

What promotion does or waits for is written on the source stage's state (status page,
``/api/groups``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.core.config.model import Config, PromotionChain
from bot.core.deployments import EnvState, parse_time, rollback_to, split_version
from bot.core.intents import Origin, UpdateIntent
from bot.core.planning import plan_for_environment
from bot.store.deployments import DeploymentStore
from bot.store.due import DueSet
from bot.store.intents import IntentStore

log = logging.getLogger(__name__)

#: due promotions one run of the task handles at most
MAX_PER_RUN = 50
#: a taken entry comes back this late if its run dies before settling it
REARM_S = 60.0


@dataclass
class Promoter:
    store: DeploymentStore
    intents: IntentStore
    due: DueSet
    config: Callable[[], Config]
    request_reconcile: Callable[[str], object]
    #: the event path's registry gate (``bot.services.registry_gate.Admission``): the versions the
    #: registry has (digests filled where a target pins them), and the groups whose waiting
    #: versions changed; None: nothing is asked
    admit: Callable[[list[UpdateIntent]], tuple[list[UpdateIntent], list[str]]] | None = None

    def chains_from(self, environment: str) -> list[tuple[PromotionChain, str]]:
        return [
            (chain, after)
            for chain in self.config().promotion
            if (after := chain.after(environment)) is not None
        ]

    def schedule(self, environment: str, state: EnvState) -> None:
        """A healthy state carrying versions: each auto chain's next step is due after its wait."""
        if state.health != "healthy" or not state.versions:
            return
        for chain, after in self.chains_from(environment):
            if chain.auto is None:
                continue
            member = json.dumps([chain.name, environment, state.revision, state.since])
            when = parse_time(state.since).timestamp() + chain.auto.after_healthy
            self.due.at({member: when})
            note = f"{after} gets {', '.join(state.versions)} once healthy here for {_wait(chain)}"
            self._note(environment, state, note)

    def stopped(self, environment: str, state: EnvState) -> None:
        """A failed report: the chains from here wait, and say why."""
        chains = [(c, a) for c, a in self.chains_from(environment) if c.auto is not None]
        if chains and state.health == "failed":
            waits = ", ".join(a for _c, a in chains)
            self._note(environment, state, f"{waits} waits: {environment} failed — {state.reason}")

    def promote_due(self, now: float) -> int:
        """Promote every due step still healthy; the number promoted."""
        promoted = 0
        for member in self.due.take(now, MAX_PER_RUN, REARM_S):
            chain_name, environment, revision, since = json.loads(member)
            chain = next((c for c in self.config().promotion if c.name == chain_name), None)
            state = self.store.state(environment)
            after = chain.after(environment) if chain is not None else None
            if chain is None or chain.auto is None or after is None or state is None:
                self.due.done([member])  # the chain changed meanwhile
                continue
            if (state.revision, state.since, state.health) != (revision, since, "healthy"):
                self.due.done([member])  # a newer report replaced it (and says so)
                continue
            self._promote(chain.name, environment, after, state)
            self.due.done([member])
            promoted += 1
        return promoted

    def _promote(self, chain: str, environment: str, after: str, state: EnvState) -> None:
        origin = Origin(
            delivery_id=f"promotion:{chain}:{environment}:{(state.revision or '')[:12]}",
            source="promotion",
            from_environment=environment,
            received_at=state.at,
        )
        intents = self._plan(state.versions, after, origin, rollback=False)
        groups = self._apply(intents)
        at = state.revision_label or state.revision
        note = f"promoted to {after}: {', '.join(state.versions)} (healthy at {at})"
        self._note(environment, state, note)
        log.info("promoted %s → %s: %s (groups %s)", environment, after, state.versions, groups)

    def rollback(self, environment: str, state: EnvState) -> list[str]:
        """Put a failing stage back at its last healthy versions (``on_failure: rollback``)."""
        wanted = any(
            c.on_failure == "rollback" for c in self.config().promotion if environment in c.environments
        )
        versions = rollback_to(state)
        if not wanted or state.health != "failed" or not versions:
            return []
        origin = Origin(
            delivery_id=f"rollback:{environment}:{(state.revision or '')[:12]}",
            source="promotion",
            received_at=state.at,
        )
        groups = self._apply(self._plan(versions, environment, origin, rollback=True))
        log.info("rolled %s back to %s (groups %s)", environment, versions, groups)
        return groups

    def _plan(
        self, versions: tuple[str, ...], environment: str, origin: Origin, *, rollback: bool
    ) -> list[UpdateIntent]:
        config = self.config()
        intents: list[UpdateIntent] = []
        for version in versions:
            image, tag, digest = split_version(version)
            plan = plan_for_environment(
                config, image, tag, digest, environment, origin=origin, rollback=rollback
            )
            intents += plan.intents
        return intents

    def _apply(self, intents: list[UpdateIntent]) -> list[str]:
        """Merge what the registry confirms (a version it does not have yet waits, as an event's
        does) and reconcile the groups that changed."""
        waiting: list[str] = []
        if self.admit is not None:
            intents, waiting = self.admit(intents)
        changed = [key for key, outcome in self.intents.merge(intents).items() if outcome.changed]
        for key in sorted({*changed, *waiting}):
            self.request_reconcile(key)
        return changed

    def _note(self, environment: str, state: EnvState, note: str) -> None:
        def change(now: EnvState | None) -> EnvState | None:
            same = now is not None and (now.revision, now.at) == (state.revision, state.at)
            return (
                replace(now, promotion=note) if same and now is not None and now.promotion != note else None
            )

        self.store.update_state(environment, change)


def _wait(chain: PromotionChain) -> str:
    seconds = int(chain.auto.after_healthy) if chain.auto is not None else 0
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
