"""GitLab auto-merge once the head has a pipeline: ``auto_merge_when_ready(forge_name, repo,
number)``.

GitLab refuses "merge when the pipeline succeeds" while the MR's head has no pipeline yet, so a
``merge`` command left that wish (``Dispatch.auto_merge_later``); the leader queues this job when
the wish is due, which tries again, up to ``AUTO_MERGE_ATTEMPTS`` times with backoff, then says
so on the MR. ``cancel merge`` drops the wish and a job already queued ends quietly.
"""

from __future__ import annotations

from typing import Any

from bot.jobs import runtime

AUTO_MERGE_ATTEMPTS = 20


def auto_merge_when_ready(forge_name: str, repo: str, number: int) -> dict[str, Any]:
    container = runtime.current()
    dispatch = container.dispatch
    wish = dispatch.auto_merge_wish(forge_name, repo, number)
    if wish is None:
        return {"pr": number, "cancelled": True}
    forge = container.forge(forge_name)
    if forge.get_pr(repo, number).state != "open":
        dispatch.cancel_auto_merge(forge_name, repo, number)
        return {"pr": number, "closed": True}
    if forge.enable_auto_merge(repo, number, wish.method):  # type: ignore[arg-type]
        dispatch.cancel_auto_merge(forge_name, repo, number)
        return {"pr": number, "auto_merge": True}
    if wish.attempt >= AUTO_MERGE_ATTEMPTS:
        dispatch.cancel_auto_merge(forge_name, repo, number)
        forge.comment(
            repo,
            number,
            "I could not turn auto-merge on: no pipeline ran for the head. "
            "Comment `merge` again once it has.",
        )
        return {"pr": number, "gave_up": True}
    dispatch.auto_merge_later(wish)
    return {"pr": number, "waiting": True, "attempt": wish.attempt}
