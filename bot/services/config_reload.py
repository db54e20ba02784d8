"""What follows a routing config reload: say it (logs, metrics, the status page's record) and,
in the one process that first runs with a new config, ask every group whose PR settings or
searched files changed to reconcile, so open PRs take the new titles, labels and reviewers, and a
group whose file was refused takes a new ``exclude``, now rather than on their next version bump.
A refused file is logged once with every problem and kept on the status page until a valid file
replaces it; the config in use does not change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis

from bot.core.config import Config
from bot.core.keys import GroupKey
from bot.core.planning import placed
from bot.errors import BotError
from bot.metrics import CONFIG_REFUSED, CONFIG_RELOADS
from bot.services.config_source import ConfigSource, Reload
from bot.store.config_state import ConfigStateStore
from bot.store.intents import IntentStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfigReloads:
    """Takes a changed routing config file, validated first (a worker calls ``refresh`` at every
    job start, and with ``force`` on SIGHUP); a refused one leaves the config in use as it is."""

    source: ConfigSource
    state: ConfigStateStore
    intents: IntentStore
    request_reconcile: Callable[[str], object]
    clock: Callable[[], float]
    #: (previous, new) after a file was loaded: the forge clients whose definition changed go
    on_loaded: Callable[[Config | None, Config | None], None]
    #: False without a config file (tests that preset forges): nothing to reload
    enabled: bool = True

    def refresh(self, *, force: bool = False) -> Reload | None:
        if not self.enabled:
            return None
        reload = self.source.refresh(force=force)
        if reload.outcome == "loaded":
            self.on_loaded(reload.previous, reload.config)
        if reload.outcome != "unchanged":
            try:
                after_reload(
                    reload,
                    state=self.state,
                    intents=self.intents,
                    request_reconcile=self.request_reconcile,
                    now=self.clock(),
                )
            except (BotError, redis.RedisError) as exc:  # the reload stands; the record waits
                log.warning("could not record the routing config reload: %s", exc)
        return reload


def after_reload(
    reload: Reload,
    *,
    state: ConfigStateStore,
    intents: IntentStore,
    request_reconcile: Callable[[str], object],
    now: float,
) -> list[str]:
    """Record ``reload``; returns the groups asked to reconcile."""
    if reload.outcome == "refused" and reload.refusal is not None:
        refusal = reload.refusal
        CONFIG_RELOADS.labels(outcome="refused").inc()
        CONFIG_REFUSED.set(1)
        keeping = "still running the one loaded before" if reload.config is not None else "nothing to run"
        log.error(
            "routing config %s refused (%s): %s",
            refusal.path,
            keeping,
            "; ".join(refusal.problems),
            extra={"config_digest": refusal.digest, "problems": list(refusal.problems)},
        )
        state.refused(refusal.path, refusal.digest, refusal.problems, now)
        return []
    if reload.outcome == "restored":
        CONFIG_REFUSED.set(0)
        log.info("routing config %s is the one in use again; the refusal is over", reload.path)
        state.refusal_over()
        return []
    if reload.outcome != "loaded" or reload.config is None:
        return []
    CONFIG_RELOADS.labels(outcome="loaded").inc()
    CONFIG_REFUSED.set(0)
    log.info("routing config %s loaded", reload.path, extra={"config_digest": reload.digest})
    state.loaded(reload.path, reload.digest, now)
    before = state.claim(reload.digest)
    if before == reload.digest:
        return []  # another process took this config first and asked already
    known = reload.previous if before is not None and before == reload.previous_digest else None
    groups = changed_groups(intents, reload.config, known)
    for group_key in groups:
        intents.bump(group_key)
        request_reconcile(group_key)
    if groups:
        log.info(
            "the routing config changed %d group(s) (PR settings, files searched); reconciling them",
            len(groups),
        )
    return groups


def changed_groups(intents: IntentStore, new: Config, old: Config | None) -> list[str]:
    """Groups with an open PR or a recorded error whose PR settings or intents' places (discovery
    includes, excludes: ``bot.core.planning.placed``) differ between ``old`` and ``new`` (every
    such group when the config before is not known, as after a restart)."""
    out = []
    for group_key in intents.groups.all_keys():
        record = intents.groups.get(group_key)
        if record.pr_number is None and record.state.last_error is None:
            continue
        if old is None or _differs(intents, group_key, new, old):
            out.append(group_key)
    return out


def _differs(intents: IntentStore, group_key: str, new: Config, old: Config) -> bool:
    if new.repo_files != old.repo_files:
        return True  # what a repo file may set changed: its groups' settings may have
    key = GroupKey.parse(group_key)
    active = list(intents.snapshot(group_key).active.values())
    images = sorted({i.image for i in active})
    if new.pr_for_group(key, images) != old.pr_for_group(key, images):
        return True
    return [placed(new, i) for i in active] != [placed(old, i) for i in active]
