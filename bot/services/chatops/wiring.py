"""The chat-ops wiring: what the handlers of one comment need (``ChatopsDeps``), built from the
routing config in use, the forge, the stores and the job queue's entry points.

A service with explicit constructor dependencies, so the composition root only builds it; the
command job asks it for each comment (``for_comment``) while holding the repo lock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from bot.core.chatops.authz import Policy
from bot.core.config.model import Config
from bot.core.deployments import health_note
from bot.core.intents import OrderingKey, Origin, PlanResult
from bot.core.keys import GroupKey
from bot.core.planning import plan_for_environment
from bot.core.ports import Forge
from bot.core.pr_options import PrOptions
from bot.errors import Transient
from bot.services.chatops.context import ChatopsDeps, Planner
from bot.services.chatops.held import HeldComments
from bot.services.reconcile import ReconcileDeps, reconcile_locked
from bot.services.registry_gate import RegistryGate
from bot.store.churn import ChurnLimit
from bot.store.deployments import DeploymentStore
from bot.store.locks import RepoLock


@dataclass(frozen=True)
class CommandQueue:
    """The job queue's entry points chat-ops uses (``bot.jobs.dispatch.Dispatch``, bound)."""

    #: ask a group to reconcile soon (coalesced; retried with backoff)
    request_reconcile: Callable[[str], object]
    #: "idle" | "queued" | "running" for a group's reconcile
    reconcile_state: Callable[[str], str]
    #: (forge name, repo, number, method): merge once the forge can (GitLab: the head's pipeline)
    auto_merge_later: Callable[[str, str, int, str], None]
    #: (forge name, repo, number): forget such a wish
    cancel_auto_merge: Callable[[str, str, int], None]


@dataclass(frozen=True)
class ChatopsWiring:
    settings_prefix: str  # MANIFEST_BOT_COMMAND_PREFIX (the config's ``bot.command_prefix`` wins)
    settings_login: str  # MANIFEST_BOT_BOT_LOGIN (the config's ``bot.login`` wins)
    #: the routing config in use, None when there is none
    config: Callable[[], Config | None]
    forge: Callable[[str], Forge]
    reconcile_deps: ReconcileDeps
    queue: CommandQueue
    #: deployment reports (Flux, Argo CD): a promote notes its source environment's health
    deployments: DeploymentStore | None = None
    #: comments that may open or close a group's PR, rate-limited per group (None: no limit)
    churn: ChurnLimit | None = None
    #: rollback and promote ask the registry as an event's versions are asked (None: never asked)
    registry_gate: RegistryGate | None = None

    def enabled(self) -> bool:
        config = self.config()
        return config is None or config.chatops.enabled

    def for_comment(self, forge_name: str, lock: RepoLock) -> ChatopsDeps:
        """What the command handlers of one comment need; ``lock`` is the repo lock the command
        job holds while they run (their reconciles run under it). KeyError: unknown forge."""
        config = self.config()
        forge = self.forge(forge_name)
        queue = self.queue
        bot = config.bot if config is not None else None

        held = HeldComments()  # what the reconciles say on the commented PR waits for the reply
        reconcile_deps = dataclasses.replace(
            self.reconcile_deps, forge_for=held.wrapping(self.reconcile_deps.forge_for)
        )

        def reconcile(group_key: str, *, force: bool = False, recreate: bool = False) -> None:
            try:
                reconcile_locked(reconcile_deps, group_key, force=force, recreate=recreate, lock=lock)
            except Transient:
                queue.request_reconcile(group_key)  # the reconcile job retries with backoff
                raise

        auto_merge_later = None
        if forge.info.kind == "gitlab":  # a merge must wait for the head's pipeline there

            def auto_merge_later(repo: str, number: int, method: str) -> None:
                queue.auto_merge_later(forge_name, repo, number, method)

        def environment_of(group_key: str) -> str | None:
            return config.environment_of(GroupKey.parse(group_key)) if config is not None else None

        def branches_of(group_key: str) -> tuple[str, ...]:
            return config.branches_of(GroupKey.parse(group_key)) if config is not None else ()

        return ChatopsDeps(
            forge=forge,
            forge_name=forge_name,
            groups=self.reconcile_deps.intents.groups,
            intents=self.reconcile_deps.intents,
            reconcile=reconcile,
            policy=Policy.from_chatops(config.chatops) if config is not None else Policy(),
            prefix=(bot.command_prefix if bot and bot.command_prefix else self.settings_prefix),
            bot_login=(bot.login if bot and bot.login else self.settings_login),
            chain_for=config.promotion_chain if config is not None else (lambda _n: ()),
            plan_for=planner(config),
            enqueue_reconcile=queue.request_reconcile,
            queue_state=queue.reconcile_state,
            environment_of=environment_of,
            branches_of=branches_of,
            pr_options=self._pr_options(config),
            schedule_auto_merge=auto_merge_later,
            cancel_auto_merge=lambda repo, number: queue.cancel_auto_merge(forge_name, repo, number),
            health_note=self._health_note(config),
            churn=self.churn.take if self.churn is not None else (lambda _group_key: True),
            **({"confirm": self.registry_gate.confirm} if self.registry_gate is not None else {}),
            held=held,
        )

    def _health_note(self, config: Config | None) -> Callable[[str], str | None]:
        """A promote's note on its source environment's health, for environments that list
        deployments (the others are never reported)."""
        deployments = self.deployments

        def note(environment: str) -> str | None:
            env = config.environments.get(environment) if config is not None else None
            if env is None or not env.deployments or deployments is None:
                return None
            return health_note(environment, deployments.state(environment))

        return note

    def _pr_options(self, config: Config | None) -> Callable[[str], PrOptions]:
        """A group's PR settings in the config now, for the images it holds."""
        intents = self.reconcile_deps.intents

        def options(group_key: str) -> PrOptions:
            if config is None:
                return PrOptions()
            images = sorted({i.image for i in intents.snapshot(group_key).active.values()})
            return config.pr_for_group(GroupKey.parse(group_key), images)

        return options


def planner(config: Config | None) -> Planner:
    """``plan_for_environment`` bound to the config, for promote and rollback."""

    def plan_for(
        image: str,
        tag: str | None,
        digest: str | None,
        environment: str,
        *,
        rollback: bool,
        ordering: tuple[str, OrderingKey] | None,
    ) -> PlanResult:
        if config is None:
            return PlanResult()
        return plan_for_environment(
            config,
            image,
            tag,
            digest,
            environment,
            origin=Origin(source="chatops"),
            rollback=rollback,
            ordering=ordering,
        )

    return plan_for
