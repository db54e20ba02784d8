"""The bot's wait for a PR whose forge did not take auto-merge yet: ``auto_merge_when_ready(
forge_name, repo, number)``.

GitLab refuses "merge when the pipeline succeeds" while the MR's head has no pipeline yet, and a
GitHub repository may not allow auto-merge; a ``merge`` command, or a reconcile of a group with
``pr.auto_merge`` (``wait_for_merge``), leaves a wish (``Dispatch.auto_merge_later``). The leader
queues this job when the wish is due; it asks the forge's auto-merge again
(``bot.services.auto_merge``), up to ``AUTO_MERGE_ATTEMPTS``
times with backoff, then says so on the PR. ``cancel merge`` drops the wish and a job already
queued ends quietly.
"""

from __future__ import annotations

from typing import Any

from bot.jobs import runtime
from bot.jobs.dispatch import AutoMergeWish, Dispatch
from bot.services.auto_merge import try_auto_merge

AUTO_MERGE_ATTEMPTS = 20


def wait_for_merge(dispatch: Dispatch, forge_name: str, repo: str, number: int, method: str) -> bool:
    """Leave the wish for ``number`` unless one is there; True when it was left now."""
    if dispatch.auto_merge_wish(forge_name, repo, number) is not None:
        return False
    dispatch.auto_merge_later(AutoMergeWish(forge_name, repo, number, method))
    return True


def auto_merge_when_ready(forge_name: str, repo: str, number: int) -> dict[str, Any]:
    container = runtime.current()
    dispatch = container.dispatch
    wish = dispatch.auto_merge_wish(forge_name, repo, number)
    if wish is None:
        return {"pr": number, "cancelled": True}
    forge = container.forge(forge_name)
    pr = forge.get_pr(repo, number)
    if pr.state != "open":
        dispatch.cancel_auto_merge(forge_name, repo, number)
        return {"pr": number, "closed": True}
    done = try_auto_merge(forge, repo, pr, wish.method)  # type: ignore[arg-type]
    if done is not None:
        dispatch.cancel_auto_merge(forge_name, repo, number)
        return {"pr": number, "auto_merge": True}
    if wish.attempt >= AUTO_MERGE_ATTEMPTS:
        dispatch.cancel_auto_merge(forge_name, repo, number)
        forge.comment(
            repo,
            number,
            "I could not turn auto-merge on: the forge kept refusing it (GitLab: no pipeline ran for "
            "the head; GitHub: the repository does not allow auto-merge). "
            "Comment `merge` again once it can.",
        )
        return {"pr": number, "gave_up": True}
    dispatch.auto_merge_later(wish)
    return {"pr": number, "waiting": True, "attempt": wish.attempt}
