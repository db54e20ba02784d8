"""Missed webhooks: redeliver a GitHub App's failed deliveries; report failing GitLab hooks.

**GitHub** never redelivers by itself and documents the remedy for Apps: list the App's recent
deliveries and ask for a redelivery of the failed ones. Each run (``recover_github``):

1. *scan* what is new since the last run, newest first, at most ``max_pages`` pages: a delivery at
   or below the mark of the last complete scan, or older than ``max_age_s``, ends the scan; one cut
   short by its page budget resumes there next run (``bot.store.recovery.ScanState``). Events (a
   ``guid``: the original and every redelivery share it) with a failed delivery and none that
   succeeded join the to-do set; one that succeeded leaves it;
2. *redeliver* the oldest to-do events, at most ``max_redeliveries``: one we have a record of
   (``X-GitHub-Delivery`` is the guid; the intake recorded it, even as ignored) is dropped — it
   reached us, GitHub only timed out or lost our answer; one asked for ``MAX_ATTEMPTS`` times is
   given up; a refused redelivery (e.g. older than GitHub's 3 days) is dropped; a rate limit or
   5xx ends the run, the rest waits for the next one.

A redelivery that fails again shows up in a later scan as a new failed delivery of the same guid.

**GitLab** retries nothing either, and disables a hook that keeps failing. ``check_gitlab_hooks``
reads each configured project's hooks and records the state of the one pointing at our intake:
``ok``, ``failing`` (temporarily disabled, with the time GitLab tries again), ``disabled`` (needs a
person to re-enable it), ``missing`` (no project hook to ``/webhooks/gitlab``: a group hook may
deliver instead) or ``unknown`` (the token cannot read hooks: GitLab needs the Maintainer role).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.errors import BotError, NotFound, PermissionDenied, RateLimited, Transient
from bot.forges.github.hook_deliveries import DeliveryPage
from bot.forges.gitlab.hooks import ProjectHook
from bot.metrics import REDELIVERIES, WEBHOOK_HEALTH
from bot.store.recovery import HookHealth, RecoveryStore, ScanState

log = logging.getLogger(__name__)

#: redeliveries asked for one event at most (the service may still be down for the next ones)
MAX_ATTEMPTS = 3


class DeliveryLog(Protocol):
    def page(self, cursor: str | None = None) -> DeliveryPage: ...

    def redeliver(self, delivery_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Limits:
    max_pages: int
    max_redeliveries: int
    max_age_s: float


def recover_github(
    forge: str,
    deliveries: DeliveryLog,
    store: RecoveryStore,
    *,
    known: Callable[[str], bool],
    limits: Limits,
    now: float,
) -> dict[str, int]:
    """One bounded run for one App (see the module docstring); its counts."""
    counts = dict.fromkeys(("pages", "scanned", "failed", "redelivered", "known", "gave_up", "errors"), 0)
    try:
        _scan(forge, deliveries, store, limits=limits, now=now, counts=counts)
        _redeliver(forge, deliveries, store, known=known, limits=limits, counts=counts)
    except BotError as exc:  # listing failed (rate limit, 5xx, bad key): the next run tries again
        counts["errors"] += 1
        log.warning("GitHub webhook recovery for %s: %s", forge, exc)
        store.save_last(forge, {**counts, "at": now, "error": str(exc)[:300]})
        return counts
    store.save_last(forge, {**counts, "at": now})
    return counts


def _scan(
    forge: str,
    deliveries: DeliveryLog,
    store: RecoveryStore,
    *,
    limits: Limits,
    now: float,
    counts: dict[str, int],
) -> None:
    state = store.scan_state(forge)
    cursor, newest, done = state.cursor, state.newest, False
    failed: dict[str, int] = {}
    succeeded: set[str] = set()
    for _ in range(limits.max_pages):
        page = deliveries.page(cursor)
        counts["pages"] += 1
        for item in page.items:
            if state.cursor is None:  # a fresh scan: its newest delivery becomes the next mark
                newest = max(newest or 0, item.id)
            if (
                state.mark is not None and item.id <= state.mark
            ) or item.delivered_at < now - limits.max_age_s:
                done = True
                break
            counts["scanned"] += 1
            if item.ok:
                succeeded.add(item.guid)
            else:
                counts["failed"] += 1
                failed[item.guid] = max(failed.get(item.guid, 0), item.id)
        if done or page.next_cursor is None:
            done = True
            break
        cursor = page.next_cursor
    store.add_todo(forge, {g: i for g, i in failed.items() if g not in succeeded})
    store.drop_todo(forge, sorted(succeeded))
    if done:
        marks = [m for m in (newest, state.mark) if m is not None]
        store.save_scan(forge, ScanState(mark=max(marks) if marks else None))
    else:
        store.save_scan(forge, ScanState(mark=state.mark, cursor=cursor, newest=newest))


def _redeliver(
    forge: str,
    deliveries: DeliveryLog,
    store: RecoveryStore,
    *,
    known: Callable[[str], bool],
    limits: Limits,
    counts: dict[str, int],
) -> None:
    for guid, delivery_id in store.todo(forge, limits.max_redeliveries + 100):
        if known(guid):
            counts["known"] += 1
            store.drop_todo(forge, [guid])
            continue
        if store.asked(forge, guid) >= MAX_ATTEMPTS:
            counts["gave_up"] += 1
            REDELIVERIES.labels(forge=forge, outcome="gave_up").inc()
            store.drop_todo(forge, [guid])
            continue
        if counts["redelivered"] >= limits.max_redeliveries:
            return
        try:
            deliveries.redeliver(delivery_id)
        except (RateLimited, Transient):
            raise  # GitHub is busy: the rest stays to do
        except BotError as exc:
            counts["errors"] += 1
            REDELIVERIES.labels(forge=forge, outcome="error").inc()
            log.warning("GitHub refused to redeliver %s (%s): %s", delivery_id, guid, exc)
            store.drop_todo(forge, [guid])
            continue
        store.count_ask(forge, guid, int(limits.max_age_s))
        store.drop_todo(forge, [guid])
        counts["redelivered"] += 1
        REDELIVERIES.labels(forge=forge, outcome="asked").inc()
        log.info("asked GitHub to redeliver %s (event %s): we have no record of it", delivery_id, guid)


# --- GitLab ---------------------------------------------------------------------------------------
def judge(forge: str, project: str, hooks: Sequence[ProjectHook], now: float) -> HookHealth:
    """The health of the hooks of ``project`` that deliver to our intake."""
    ours = [h for h in hooks if h.ours]
    if not ours:
        detail = "no project webhook delivers to /webhooks/gitlab (a group webhook may)"
        return HookHealth(forge, project, "missing", detail, now)
    for hook in ours:
        if hook.alert_status == "disabled":
            detail = (
                f"webhook {hook.id} was disabled by GitLab after failing; re-enable it in Settings → Webhooks"
            )
            return HookHealth(forge, project, "disabled", detail, now)
    for hook in ours:
        if hook.alert_status == "temporarily_disabled":
            until = hook.disabled_until or "later"
            detail = f"webhook {hook.id} keeps failing: GitLab disabled it until {until}"
            return HookHealth(forge, project, "failing", detail, now)
    return HookHealth(forge, project, "ok", f"{len(ours)} webhook(s) delivering", now)


def check_gitlab_hooks(
    forge: str,
    read_hooks: Callable[[str], list[ProjectHook]],
    projects: Sequence[str],
    store: RecoveryStore,
    now: float,
) -> dict[str, int]:
    """Read and record the hooks of each project (one request each); counts by state."""
    counts = dict.fromkeys(("ok", "failing", "disabled", "missing", "unknown"), 0)
    for project in projects:
        try:
            health = judge(forge, project, read_hooks(project), now)
        except (PermissionDenied, NotFound) as exc:
            detail = f"cannot read its webhooks (the token needs the Maintainer role): {exc.message}"
            health = HookHealth(forge, project, "unknown", detail[:300], now)
        except BotError as exc:
            health = HookHealth(
                forge, project, "unknown", f"cannot read its webhooks: {exc.message}"[:300], now
            )
        counts[health.state] += 1
        store.save_health(health)
        if health.healthy is not None:
            WEBHOOK_HEALTH.labels(forge=forge, project=project).set(1 if health.healthy else 0)
        if health.healthy is False:
            log.warning("GitLab webhook of %s is %s: %s", project, health.state, health.detail)
    return counts
