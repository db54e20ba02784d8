"""GitLab auto-merge once the head has a pipeline: ``auto_merge_when_ready(forge_name, repo,
number, attempt)``.

GitLab refuses "merge when the pipeline succeeds" while the MR's head has no pipeline yet, so a
``merge`` command queued that wish (``Scheduler.auto_merge_later``); this job tries again with
backoff, up to ``AUTO_MERGE_ATTEMPTS`` times, then says so on the MR. ``cancel merge`` drops the
wish and the next attempt ends quietly.
"""

from __future__ import annotations

from typing import Any

from bot.jobs import runtime

AUTO_MERGE_ATTEMPTS = 20


def auto_merge_when_ready(forge_name: str, repo: str, number: int, attempt: int) -> dict[str, Any]:
    container = runtime.current()
    scheduler = container.scheduler
    method = scheduler.auto_merge_wish(forge_name, repo, number)
    if method is None:
        return {"pr": number, "cancelled": True}
    forge = container.forge(forge_name)
    if forge.get_pr(repo, number).state != "open":
        scheduler.cancel_auto_merge(forge_name, repo, number)
        return {"pr": number, "closed": True}
    if forge.enable_auto_merge(repo, number, method):  # type: ignore[arg-type]
        scheduler.cancel_auto_merge(forge_name, repo, number)
        return {"pr": number, "auto_merge": True}
    if attempt >= AUTO_MERGE_ATTEMPTS:
        scheduler.cancel_auto_merge(forge_name, repo, number)
        forge.comment(
            repo,
            number,
            "I could not turn auto-merge on: no pipeline ran for the head. "
            "Comment `merge` again once it has.",
        )
        return {"pr": number, "gave_up": True}
    scheduler.auto_merge_later(forge_name, repo, number, method, attempt=attempt)
    return {"pr": number, "waiting": True}
