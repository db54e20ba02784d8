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
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial

import redis

from bot.core.config.model import Config
from bot.core.ports import Forge, InstallationAware, Registry
from bot.errors import BotError, ConfigError
from bot.forges.factory import build_app_hook_deliveries, build_forge
from bot.forges.github.hook_deliveries import AppHookDeliveries
from bot.forges.gitlab.adapter import GitLabForge as GitLabClient
from bot.forges.gitlab.hooks import ProjectHook, project_hooks
from bot.jobs.automerge import wait_for_merge
from bot.jobs.consumer import Consumer
from bot.jobs.dispatch import AutoMergeWish, Dispatch
from bot.jobs.engine import Engine
from bot.jobs.leader import Leader, Sources, Task
from bot.registry import RegistryClient
from bot.registry.artifacts import Artifacts
from bot.registry.helm_repo import HelmRepositories
from bot.services.chatops.wiring import ChatopsWiring, CommandQueue
from bot.services.config_reload import ConfigReloads
from bot.services.config_source import ConfigSource, forge_options
from bot.services.events import EventPipeline
from bot.services.poll_schedule import PollSchedule
from bot.services.promotion import Promoter
from bot.services.reconcile import ReconcileDeps
from bot.services.registry_gate import Admission, RegistryGate
from bot.services.release_notes import ReleaseNotes
from bot.services.scans import ScanCache, scanner_version
from bot.settings import Settings
from bot.store.churn import ChurnLimit
from bot.store.config_state import ConfigStateStore
from bot.store.deliveries import DeliveryStore
from bot.store.deployments import DeploymentStore
from bot.store.due import DueSet
from bot.store.intents import IntentStore
from bot.store.polls import PollStore
from bot.store.release_notes import NotesCache
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
            Task("promote", "bot.jobs.deployments.promote_due", s.sweep_interval_s),
        ]

    # --- the engine beside a worker: deliveries consumer and periodic leader -----------------------
    @cached_property
    def pipeline(self) -> EventPipeline:
        return EventPipeline(
            self.intents,
            self.config_source.for_deliveries,
            self.settings.bot_login,
            admit=self.admission,
            installation_changed=self.installation_changed,
            deployments=self.deployments,
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
        return Engine(consumer, leader, before_batch=self.config_reloads.refresh)

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
        """The routing config in use (loaded on first use; ``config_reloads`` takes a new file)."""
        return self.config_source.current()

    @cached_property
    def config_reloads(self) -> ConfigReloads:
        return ConfigReloads(
            self.config_source,
            self.config_state,
            self.intents,
            self.dispatch.request_reconcile,
            self.clock,
            on_loaded=self._forget_changed_forges,
            enabled=self.settings.config_path is not None,
        )

    def _forget_changed_forges(self, old: Config | None, new: Config | None) -> None:
        """Forge clients whose definition changed are built again on next use."""
        if old is None or new is None:
            return
        for name in list(self.forges):
            before = next((f for f in old.forges if f.name == name), None)
            after = next((f for f in new.forges if f.name == name), None)
            if before is not None and before != after:
                self.forges.pop(name, None)

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
        ``InstallationAware`` extra). Returns how many forges were told."""
        told = 0
        for forge in self.forges.values():
            if forge.info.kind == "github" and isinstance(forge, InstallationAware):
                forge.forget_installation(installation_id, repos)
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
        """Reads a project's webhooks through a client of the GitLab forge ``name`` (its own, built
        once: the forge ``forge(name)`` returns may be wrapped)."""
        cache = self.__dict__.setdefault("_hook_clients", {})
        if name not in cache:
            cfg = self.config.forge(name)
            if cfg.kind != "gitlab":
                raise ConfigError(f"forge {name!r} is not a GitLab forge")
            cache[name] = build_forge(name, cfg.kind, self.settings, **forge_options(cfg, self.settings))
        client = cache[name]
        assert isinstance(client, GitLabClient)
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

    @cached_property
    def admission(self) -> Admission:
        """The event path's registry gate, recording what it could not admit."""
        return Admission(self.registry_gate, self.reconcile_deps)

    # --- reconcile and chat-ops ------------------------------------------------------------------------
    @cached_property
    def reconcile_deps(self) -> ReconcileDeps:
        source = self.config_source if self.settings.config_path is not None else None
        return ReconcileDeps(
            self.settings,
            self.redis,
            self.forge,
            config=source,
            scans=self.scans,
            clock=self.clock,
            notes=self.release_notes if source is not None else None,
            wait_for_merge=partial(wait_for_merge, self.dispatch),
        )

    @cached_property
    def release_notes(self) -> ReleaseNotes:
        """The PR body's release notes, from the registry and the configured GitHub/GitLab forges."""
        return ReleaseNotes(self.registry, self._release_forges, NotesCache(self.redis, self.settings))

    def _release_forges(self) -> list[Forge]:
        config = self.config_or_none()
        out = []
        for cfg in config.forges if config is not None else ():
            if cfg.kind in ("github", "gitlab"):
                try:
                    out.append(self.forge(cfg.name))
                except BotError as exc:  # no credentials: the forge itself reports it when used
                    log.info("forge %s reads no release notes (%s)", cfg.name, exc)
        return out

    @cached_property
    def scans(self) -> ScanCache:
        """Discovery's scans: kept in this process and shared with every worker through Redis."""
        return ScanCache(store=ScanStore(self.redis, self.settings, version=scanner_version()))

    @cached_property
    def chatops(self) -> ChatopsWiring:
        """What the command handlers of each comment get (``for_comment``)."""
        dispatch = self.dispatch
        queue = CommandQueue(
            request_reconcile=dispatch.request_reconcile,
            reconcile_state=dispatch.reconcile_state,
            auto_merge_later=lambda forge, repo, number, method: dispatch.auto_merge_later(
                AutoMergeWish(forge, repo, number, method)
            ),
            cancel_auto_merge=dispatch.cancel_auto_merge,
        )
        s = self.settings
        config, forge = self.config_or_none, self.forge
        return ChatopsWiring(
            s.command_prefix,
            s.bot_login,
            config,
            forge,
            self.reconcile_deps,
            queue,
            deployments=self.deployments,
            churn=ChurnLimit(self.redis, self.settings),
            registry_gate=self.registry_gate,
        )

    # --- deployment reports (Flux, Argo CD) ---------------------------------------------------------
    @cached_property
    def deployments(self) -> DeploymentStore:
        return DeploymentStore(self.redis, self.settings)

    @cached_property
    def promoter(self) -> Promoter:
        due = DueSet(self.redis, self.settings.key("due", "promote"))
        return Promoter(
            self.deployments,
            self.intents,
            due,
            lambda: self.config,
            self.dispatch.request_reconcile,
            admit=self.admission,
        )

    def command_prefix(self) -> str:
        """The chat-ops prefix the config or the settings give (a deployment comment names it)."""
        config = self.config_or_none()
        bot = config.bot if config is not None else None
        return bot.command_prefix if bot and bot.command_prefix else self.settings.command_prefix


def build_registry(settings: Settings, clock: Callable[[], float] = time.time) -> Artifacts:
    """The registry client (images and OCI charts) with the process settings' credentials,
    insecure hosts and limits, and the Helm repositories' index reader beside it."""
    images = RegistryClient(
        docker_config=settings.docker_config,
        insecure=settings.insecure_registries,
        endpoints=settings.registry_endpoints,
        token_realms=settings.registry_token_realms,
        cache_ttl=settings.registry_cache_ttl_s,
        timeout=settings.registry_timeout_s,
        max_tags=settings.registry_max_tags,
        clock=clock,
    )
    helm = HelmRepositories(
        images.session,
        timeout=settings.registry_timeout_s,
        max_bytes=settings.helm_index_max_bytes,
        cache_ttl=settings.registry_cache_ttl_s,
        clock=clock,
    )
    return Artifacts(images, helm)
