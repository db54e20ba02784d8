"""A GitLab project's webhooks, to tell whether the one delivering to us still works.

GitLab disables a project hook that keeps failing (docs: user/project/integrations/webhooks,
"Auto-disabled webhooks"): after 4 consecutive 5xx or timeouts it is *temporarily disabled*, for
longer each time (up to a day), and after 4xx answers it stays *disabled* until someone re-enables
it; nothing reaches us meanwhile. ``GET /projects/:id/hooks`` (docs: api/project_webhooks, "List
webhooks for a project"; needs the Maintainer role) shows it in two fields of each hook:

- ``alert_status``: ``executable``, ``temporarily_disabled`` or ``disabled``;
- ``disabled_until``: when a temporarily disabled hook is tried again (else null).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from bot.forges.gitlab.adapter import GitLabForge

#: the intake route GitLab's hook must point at (``POST /webhooks/gitlab``)
INTAKE_PATH = "/webhooks/gitlab"

AlertStatus = Literal["executable", "temporarily_disabled", "disabled", "unknown"]


@dataclass(frozen=True, slots=True)
class ProjectHook:
    id: int
    url: str  # as GitLab shows it (masked URL variables stay masked)
    alert_status: AlertStatus
    disabled_until: str | None

    @property
    def ours(self) -> bool:
        """Does it deliver to a manifest-bot intake (``…/webhooks/gitlab``)?"""
        return urlsplit(self.url).path.rstrip("/").endswith(INTAKE_PATH)


def hook_from_json(data: dict[str, Any]) -> ProjectHook:
    status = str(data.get("alert_status") or "unknown")
    if status not in ("executable", "temporarily_disabled", "disabled"):
        status = "unknown"  # a GitLab older than 15.2 does not say
    return ProjectHook(int(data["id"]), str(data.get("url") or ""), status, data.get("disabled_until"))  # type: ignore[arg-type]


def project_hooks(forge: GitLabForge, project: str) -> list[ProjectHook]:
    """Every webhook of ``project`` (path or id): one request per page of 100."""
    hooks = forge.gl.projects.get(project, lazy=True).hooks
    items = forge.http.pages(f"list the webhooks of {project}", hooks.list)
    return [hook_from_json(item.asdict()) for item in items]
