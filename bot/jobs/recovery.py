"""The periodic webhook-recovery job (``bot.jobs.periodic``, every
``MANIFEST_BOT_RECOVERY_INTERVAL_S``): ``bot.services.recovery`` for every GitHub App and every
GitLab forge of the routing config.

- GitHub: each App once (forges sharing an App are asked once), bounded by
  ``MANIFEST_BOT_RECOVERY_MAX_PAGES`` pages read and ``MANIFEST_BOT_RECOVERY_MAX_REDELIVERIES``
  redeliveries per run; a delivery is ours when the intake has a record of ``github-<guid>``.
- GitLab: the next ``MANIFEST_BOT_RECOVERY_MAX_PROJECTS`` projects of each forge (the repos its
  targets name), going on where the last run stopped.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.errors import BotError
from bot.jobs import runtime
from bot.services.recovery import Limits, check_gitlab_hooks, recover_github
from bot.store.recovery import RecoveryStore, next_batch

log = logging.getLogger(__name__)


def recover_webhooks() -> dict[str, Any]:
    container = runtime.current()
    settings = container.settings
    store = RecoveryStore(container.redis, settings)
    now = container.clock()
    totals: dict[str, Any] = {}

    def add(prefix: str, counts: dict[str, int]) -> None:
        for key, n in counts.items():
            totals[f"{prefix}_{key}"] = totals.get(f"{prefix}_{key}", 0) + n

    limits = Limits(
        settings.recovery_max_pages, settings.recovery_max_redeliveries, settings.recovery_max_age_s
    )

    def known(guid: str) -> bool:
        return container.deliveries.record(f"github-{guid}") is not None

    for name, deliveries in container.app_hook_deliveries().items():
        add("github", recover_github(name, deliveries, store, known=known, limits=limits, now=now))
    for name, projects in container.gitlab_projects().items():
        try:
            read_hooks = container.project_hooks(name)
        except BotError as exc:  # no token: every project of the forge stays unknown
            log.warning("GitLab forge %s: cannot read webhooks (%s)", name, exc)
            add("gitlab", {"errors": 1})
            continue
        batch = next_batch(projects, store.cursor(f"gitlab-hooks:{name}"), settings.recovery_max_projects)
        store.set_cursor(f"gitlab-hooks:{name}", batch[-1] if batch else None)
        add("gitlab", check_gitlab_hooks(name, read_hooks, batch, store, now))
    return totals
