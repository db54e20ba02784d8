"""The deployment jobs: ``tell_deployment(environment, report)`` and the periodic ``promote_due``.

``tell_deployment`` tells the environment's merged bot PRs that a report's revision contains how
it went (``bot.services.deployments.tell``): one comment per PR and state change. Then promotion
follows the state (``bot.services.promotion``): a healthy one schedules the next stage of each
auto chain, a failed one says the chain waits and (``on_failure: rollback``) rolls the stage back.
No repo lock: it writes no branch, only comments on merged PRs, and what each PR was told is a
compare-and-set in Redis. A forge error fails the job (rq keeps it for the status page) with that
PR left untold, so the next report of the environment tells it.

``promote_due`` promotes the steps whose wait is over: at once after a report (a wait of ``0s``),
else when the leader runs it (every ``MANIFEST_BOT_SWEEP_INTERVAL_S``).
"""

from __future__ import annotations

from typing import Any

from bot.core.events import DeploymentReported, event_from_dict
from bot.jobs import runtime
from bot.services.deployments import tell


def tell_deployment(environment: str, report: dict[str, Any]) -> dict[str, Any]:
    container = runtime.current()
    container.config_reloads.refresh()
    event = event_from_dict(report)
    assert isinstance(event, DeploymentReported)
    done = tell(container.deployments, container.forge, environment, event, container.command_prefix())
    state = container.deployments.state(environment)
    rolled: list[str] = []
    if state is not None and (state.revision, state.at) == (event.revision, event.at):
        promoter = container.promoter
        promoter.schedule(environment, state)
        promoter.promote_due(container.clock())  # a wait of 0s (or one over already) goes now
        promoter.stopped(environment, state)
        if state.since == event.at:  # this report made it failed: roll back once
            rolled = promoter.rollback(environment, state)
    return {
        "environment": environment,
        "looked_at": done.looked_at,
        "deployed": done.deployed,
        "told": done.told,
        "rolled_back": rolled,
    }


def promote_due() -> dict[str, Any]:
    container = runtime.current()
    container.config_reloads.refresh()
    return {"promoted": container.promoter.promote_due(container.clock())}
