"""The composition root: builds Redis, queues, stores, forge clients and the chat-ops wiring from
settings and the routing config.

Nothing here runs at import time. The web app builds one Container in ``create_app``; a worker
process builds one at start-up and installs it (``bot.jobs.runtime.install``) so rq job functions
(module-level, primitive arguments) reach it, and a second one for its engine thread
(``Container.engine``: the deliveries consumer and the periodic leader), so the two threads share
nothing but Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

import redis

from bot.core.chatops.authz import Policy
from bot.core.config.model import Config
from bot.core.events import Delivery
from bot.core.intents import OrderingKey, Origin, PlanResult, UpdateIntent
from bot.core.keys import GroupKey
from bot.core.planning import plan_for_environment, reach
from bot.core.ports import Forge, Registry
from bot.core.pr_options import PrOptions
from bot.errors import BotError, ConfigError, Transient
from bot.forges.factory import build_app_hook_deliveries, build_forge
from bot.forges.github.hook_deliveries import AppHookDeliveries
from bot.forges.gitlab.adapter import GitLabForge as GitLabClient
from bot.forges.gitlab.hooks import ProjectHook, project_hooks
from bot.jobs.consumer import Consumer
from bot.jobs.dispatch import AutoMergeWish, Dispatch
from bot.jobs.engine import Engine
from bot.jobs.leader import Leader, Sources, Task
from bot.registry import RegistryClient
from bot.services.chatops.context import ChatopsDeps, Planner
from bot.services.config_reload import after_reload
from bot.services.config_source import ConfigSource, Reload, forge_options
from bot.services.events import EventPipeline
from bot.services.poll_schedule import PollSchedule
from bot.services.reconcile import ReconcileDeps, reconcile_locked, repo_lock
from bot.services.registry_gate import GateOutcome, RegistryGate, settle
from bot.services.scans import ScanCache, scanner_version
from bot.settings import Settings
from bot.store.churn import ChurnLimit
from bot.store.config_state import ConfigStateStore
from bot.store.deliveries import DeliveryStore
from bot.store.due import DueSet
from bot.store.intents import IntentStore
from bot.store.locks import RepoLock
from bot.store.polls import PollStore
from bot.store.scans import ScanStore
from bot.store.waiting import WaitingStore

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    #: injected clock (seconds since the epoch); tests replace it
    clock: Callable[[], float] = field(default=time.time)
    #: forge clients by config name; filled on first use from the routing config (tests may preset)
    forges: dict[str, Forge] = field(default_factory=dict)
    #: wraps every forge built here (benchmarks count calls, fault tests inject errors)
    forge_wrapper: Callable[[Forge], Forge] | None = None

    # --- infrastructure --------------------------------------------------------------------------
    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.settings.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )

    @cached_property
    def dispatch(self) -> Dispatch:
        """Everything that queues a job (the one rq queue, the due sets behind it)."""
        return Dispatch(self.redis, self.settings, self.clock)

    def periodic_tasks(self) -> list[Task]:
        """Every periodic task of this deployment (docs/operations.md, "Periodic jobs")."""
        s = self.settings
        return [
            Task("sweep", "bot.jobs.sweep.sweep", s.sweep_interval_s),
            Task("resync", "bot.jobs.resync.resync", s.resync_interval_s),
            Task("webhook-recovery", "bot.jobs.recovery.recover_webhooks", s.recovery_interval_s),
        ]

    # --- the engine beside a worker: deliveries consumer and periodic leader -----------------------
    @cached_property
    def pipeline(self) -> EventPipeline:
        return EventPipeline(
            self.intents,
            self.config_for,
            self.settings.bot_login,
            admit=self.admit,
            installation_changed=self.installation_changed,
        )

    def engine(self, name: str) -> Engine:
        """The consumer and leader of worker ``name`` (build it on its own Container)."""
        consumer = Consumer(self.deliveries, self.pipeline, self.dispatch, name)
        waits = DueSet(self.redis, self.waiting.index_key)
        sources = Sources(registry_waits=waits, polls=self.poll_schedule.take)
        leader = Leader(
            self.redis,
            self.settings,
            self.dispatch,
            self.intents,
            sources=sources,
            tasks=self.periodic_tasks,
            clock=self.clock,
            name=name,
        )
        return Engine(consumer, leader, before_batch=self.refresh_config)

    @cached_property
    def poll_schedule(self) -> PollSchedule:
        """The due polls the leader takes (they follow the routing config)."""
        every = self.settings.poll_interval_s
        return PollSchedule(self.polls, self.config_or_none, every_s=every, clock=self.clock)

    @cached_property
    def deliveries(self) -> DeliveryStore:
        return DeliveryStore(self.redis, self.settings, self.clock)

    @cached_property
    def intents(self) -> IntentStore:
        return IntentStore(self.redis, self.settings)

    # --- routing config and forges -----------------------------------------------------------------
    @cached_property
    def config_source(self) -> ConfigSource:
        return ConfigSource(self.settings, self.forge)

    @cached_property
    def config_state(self) -> ConfigStateStore:
        return ConfigStateStore(self.redis, self.settings)

    @property
    def config(self) -> Config:
        """The routing config in use (loaded on first use; ``refresh_config`` takes a new file)."""
        return self.config_source.current()

    def refresh_config(self, *, force: bool = False) -> Reload | None:
        """Take a changed routing config file, validated first (a worker calls this at every job
        start, and with ``force`` on SIGHUP); a refused one leaves the config in use as it is.
        Forge clients whose definition changed are built again on next use."""
        if self.settings.config_path is None:
            return None
        reload = self.config_source.refresh(force=force)
        if reload.outcome == "loaded":
            self._forget_changed_forges(reload.previous, reload.config)
        if reload.outcome != "unchanged":
            try:
                after_reload(
                    reload,
                    state=self.config_state,
                    intents=self.intents,
                    request_reconcile=self.dispatch.request_reconcile,
                    now=self.clock(),
                )
            except (BotError, redis.RedisError) as exc:  # the reload stands; the record waits
                log.warning("could not record the routing config reload: %s", exc)
        return reload

    def _forget_changed_forges(self, old: Config | None, new: Config | None) -> None:
        if old is None or new is None:
            return
        for name in list(self.forges):
            before = next((f for f in old.forges if f.name == name), None)
            after = next((f for f in new.forges if f.name == name), None)
            if before is not None and before != after:
                self.forges.pop(name, None)

    def config_for(self, deliveries: Iterable[Delivery]) -> Config:
        """The config to plan ``deliveries`` with: the central one, with the own file of every
        manifest repo their events reach applied (read at each base branch head)."""
        config = self.config
        if config.repo_files is None:
            return config
        where = {ref for delivery in deliveries for event in delivery.events for ref in reach(event, config)}
        return self.config_source.for_targets(where)

    def config_or_none(self) -> Config | None:
        """The routing config, or None when there is none (tests that preset forges)."""
        try:
            return self.config
        except BotError:
            return None

    def forge(self, name: str) -> Forge:
        """The forge client the config names ``name`` (built once, through the forge factory)."""
        if name not in self.forges:
            cfg = self.config.forge(name)
            built = build_forge(name, cfg.kind, self.settings, **forge_options(cfg, self.settings))
            self.forges[name] = self.forge_wrapper(built) if self.forge_wrapper else built
        return self.forges[name]

    def installation_changed(self, installation_id: int, repos: tuple[str, ...] = ()) -> int:
        """A GitHub App ``installation`` / ``installation_repositories`` event: every GitHub forge
        built in this process drops the clients and tokens it may have made stale (the optional
        ``forget_installation`` extra). Returns how many forges were told."""
        told = 0
        for forge in self.forges.values():
            forget = getattr(forge, "forget_installation", None)
            if forge.info.kind == "github" and forget is not None:
                forget(installation_id, repos)
                told += 1
        return told

    # --- missed webhooks (bot.jobs.recovery) -------------------------------------------------------
    def app_hook_deliveries(self) -> dict[str, AppHookDeliveries]:
        """GitHub forges of the config that are Apps → the App's webhook deliveries; forges
        sharing one App (same API and app id) appear once. Built once per process."""
        cache = self.__dict__.setdefault("_hook_deliveries", {})
        config = self.config_or_none()
        seen: set[tuple[str, int]] = set()
        out: dict[str, AppHookDeliveries] = {}
        for cfg in config.forges if config is not None else ():
            if cfg.kind != "github":
                continue
            if cfg.name not in cache:
                try:
                    options = forge_options(cfg, self.settings)
                    cache[cfg.name] = build_app_hook_deliveries(cfg.name, self.settings, **options)
                except BotError as exc:  # no credentials: the forge itself reports it when used
                    log.warning("forge %s: no App webhook deliveries to read (%s)", cfg.name, exc)
                    cache[cfg.name] = None
            found = cache[cfg.name]
            if found is not None and (found.api_url, found.app_id) not in seen:
                seen.add((found.api_url, found.app_id))
                out[cfg.name] = found
        return out

    def gitlab_projects(self) -> dict[str, list[str]]:
        """GitLab forges of the config → the projects its targets name (sorted)."""
        config = self.config_or_none()
        out: dict[str, set[str]] = {
            f.name: set() for f in (config.forges if config else ()) if f.kind == "gitlab"
        }
        for rule in config.rules if config is not None else ():
            for target in rule.targets:
                if target.forge in out:
                    out[target.forge].add(target.repo)
        return {name: sorted(repos) for name, repos in out.items()}

    def project_hooks(self, name: str) -> Callable[[str], list[ProjectHook]]:
        """Reads a project's webhooks through the GitLab forge ``name``'s client."""
        forge = self.forge(name)
        client = getattr(forge, "inner", forge)  # a wrapped forge (benchmarks, fault tests)
        if not isinstance(client, GitLabClient):
            raise ConfigError(f"forge {name!r} is not a GitLab forge")
        return lambda project: project_hooks(client, project)

    def forge_name_for(self, kind: str, repo: str) -> str:
        """The config's forge name for an event's forge kind in ``repo`` (the kind without config)."""
        config = self.config_or_none()
        return config.forge_name_for(kind, repo) if config is not None else kind

    # --- container registries ----------------------------------------------------------------------
    @cached_property
    def registry(self) -> Registry:
        """The OCI registry client (one per process: its token and digest caches are shared)."""
        return build_registry(self.settings, self.clock)

    @cached_property
    def waiting(self) -> WaitingStore:
        return WaitingStore(self.redis, self.settings)

    @cached_property
    def polls(self) -> PollStore:
        return PollStore(self.redis, self.settings)

    @cached_property
    def registry_gate(self) -> RegistryGate:
        s = self.settings
        wait, retry = s.registry_wait_s, s.registry_retry_s
        return RegistryGate(self.registry, self.waiting, wait_s=wait, retry_s=retry, clock=self.clock)

    def admit(self, intents: list[UpdateIntent]) -> tuple[list[UpdateIntent], list[str]]:
        """The event path's registry gate (``bot.services.events.Admit``): the intents its
        registry confirmed, and the groups whose waiting versions changed."""
        outcome = self.registry_gate.admit(intents)
        return outcome.ready, self.settle(outcome)

    def settle(self, outcome: GateOutcome) -> list[str]:
        """Record the gate's failures and refresh groups whose waiting changed (their retries are
        due in the waiting store, which the leader watches)."""
        return settle(self.reconcile_deps, outcome)

    # --- reconcile and chat-ops ------------------------------------------------------------------------
    @cached_property
    def reconcile_deps(self) -> ReconcileDeps:
        source = self.config_source if self.settings.config_path is not None else None
        return ReconcileDeps(self.settings, self.redis, self.forge, config=source, scans=self.scans)

    @cached_property
    def scans(self) -> ScanCache:
        """Discovery's scans: kept in this process and shared with every worker through Redis."""
        return ScanCache(store=ScanStore(self.redis, self.settings, version=scanner_version()))

    def repo_lock(self, forge_name: str, repo: str) -> RepoLock:
        return repo_lock(self.reconcile_deps, forge_name, repo)

    def chatops_enabled(self) -> bool:
        config = self.config_or_none()
        return config is None or config.chatops.enabled

    def chatops(self, forge_name: str, lock: RepoLock) -> ChatopsDeps:
        """What the command handlers of one comment need; ``lock`` is the repo lock the command
        job holds while they run (their reconciles run under it). KeyError: unknown forge."""
        config = self.config_or_none()
        forge = self.forge(forge_name)
        dispatch = self.dispatch
        bot = config.bot if config is not None else None

        def reconcile(group_key: str, *, force: bool = False, recreate: bool = False) -> None:
            try:
                reconcile_locked(self.reconcile_deps, group_key, force=force, recreate=recreate, lock=lock)
            except Transient:
                dispatch.request_reconcile(group_key)  # the reconcile job retries with backoff
                raise

        auto_merge_later = None
        if forge.info.kind == "gitlab":  # a merge must wait for the head's pipeline there

            def auto_merge_later(repo: str, number: int, method: str) -> None:
                dispatch.auto_merge_later(AutoMergeWish(forge_name, repo, number, method))

        return ChatopsDeps(
            forge=forge,
            forge_name=forge_name,
            groups=self.intents.groups,
            intents=self.intents,
            reconcile=reconcile,
            policy=Policy.from_chatops(config.chatops) if config is not None else Policy(),
            prefix=(bot.command_prefix if bot and bot.command_prefix else self.settings.command_prefix),
            bot_login=(bot.login if bot and bot.login else self.settings.bot_login),
            chain_for=config.promotion_chain if config is not None else (lambda _n: ()),
            plan_for=_planner(config),
            enqueue_reconcile=dispatch.request_reconcile,
            queue_state=dispatch.reconcile_state,
            environment_of=lambda group_key: (
                config.environment_of(GroupKey.parse(group_key)) if config is not None else None
            ),
            branches_of=lambda group_key: (
                config.branches_of(GroupKey.parse(group_key)) if config is not None else ()
            ),
            pr_options=self._pr_options(config),
            schedule_auto_merge=auto_merge_later,
            cancel_auto_merge=lambda repo, number: dispatch.cancel_auto_merge(forge_name, repo, number),
            churn=ChurnLimit(self.redis, self.settings).take,
        )

    def _pr_options(self, config: Config | None) -> Callable[[str], PrOptions]:
        """A group's PR settings in the config now, for the images it holds."""

        def options(group_key: str) -> PrOptions:
            if config is None:
                return PrOptions()
            images = sorted({i.image for i in self.intents.snapshot(group_key).active.values()})
            return config.pr_for_group(GroupKey.parse(group_key), images)

        return options


def build_registry(settings: Settings, clock: Callable[[], float] = time.time) -> RegistryClient:
    """The registry client with the process settings' credentials, insecure hosts and limits."""
    return RegistryClient(
        docker_config=settings.docker_config,
        insecure=settings.insecure_registries,
        endpoints=settings.registry_endpoints,
        token_realms=settings.registry_token_realms,
        cache_ttl=settings.registry_cache_ttl_s,
        timeout=settings.registry_timeout_s,
        max_tags=settings.registry_max_tags,
        clock=clock,
    )


def _planner(config: Config | None) -> Planner:
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
