"""The deployment job: ``tell_deployment(environment, report)``.

Tells the environment's merged bot PRs that a report's revision contains how it went
(``bot.services.deployments.tell``): one comment per PR and state change. No repo lock: it writes
no branch, only comments on merged PRs, and what each PR was told is a compare-and-set in Redis.
A forge error fails the job (rq keeps it for the status page) with that PR left untold, so the
next report of the environment tells it.
"""

from __future__ import annotations

from typing import Any

from bot.core.events import DeploymentReported, event_from_dict
from bot.jobs import runtime
from bot.services.deployments import tell


def tell_deployment(environment: str, report: dict[str, Any]) -> dict[str, Any]:
    container = runtime.current()
    container.refresh_config()
    event = event_from_dict(report)
    assert isinstance(event, DeploymentReported)
    done = tell(container.deployments, container.forge, environment, event, container.command_prefix())
    return {
        "environment": environment,
        "looked_at": done.looked_at,
        "deployed": done.deployed,
        "told": done.told,
    }
