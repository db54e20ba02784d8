"""``pr.auto_merge: true``: the forge's own auto-merge, and the bot's wait where it lacks or refuses it.

After a reconcile wrote a group's PR (opened, updated or regenerated it) and the group is not held:

1. ``Forge.enable_auto_merge`` with the configured ``merge_method``: GitHub's
   ``enablePullRequestAutoMerge``, GitLab's auto-merge ("merge when pipeline succeeds") on the MR's
   merge endpoint; the local forge merges at once. Branch protection, required checks, merge
   queues and merge trains then decide when it merges — the forge's rules, not the bot's.
2. GitHub refuses auto-merge on a PR in "clean" or "unstable" status (nothing required is
   pending): its adapter merges that PR at once at its head, as auto-merge would, and says so.
3. Otherwise the bot waits (GitLab: no pipeline for the head yet; GitHub: the repository does not
   allow auto-merge, or an answer the adapter does not know): ``wait`` leaves a wish that
   ``bot.jobs.automerge`` retries with backoff (step 1 again) and gives up on, saying so, after
   ``AUTO_MERGE_ATTEMPTS``. The PR is told when the wait starts after it opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from bot.core.ports import Forge, MergeMethod, PullRequest
from bot.errors import ForgeError

log = logging.getLogger(__name__)

#: what became of the auto-merge a reconcile asked for
AutoMerge = Literal["on", "waiting", "refused"]
#: (PR number, merge method) → True when the bot's wait for that PR started now (False: it was
#: already waiting)
Wait = Callable[[int, str], bool]


def waiting_comment(method: str) -> str:
    return (
        f"`pr.auto_merge` is on, but the forge did not take auto-merge ({method}) for this PR yet "
        "(GitLab: no pipeline for its head yet; GitHub: the repository does not allow auto-merge). "
        "I ask again with backoff and say here if I give up."
    )


def try_auto_merge(forge: Forge, repo: str, pr: PullRequest, method: MergeMethod) -> AutoMerge | None:
    """Steps 1 and 2: ``on`` (taken, or merged at once); None when refused (the caller waits)."""
    try:
        if not forge.enable_auto_merge(repo, pr.number, method):
            return None
    except ForgeError as exc:  # an answer the adapter does not know: the wait asks again
        log.warning("%s #%s: auto-merge not turned on: %s", repo, pr.number, exc)
        return None
    return "on"  # GitHub merged a PR that could merge now, the local forge merges at once


def auto_merge(
    forge: Forge, repo: str, pr: PullRequest, method: MergeMethod, *, wait: Wait | None, tell: bool = True
) -> AutoMerge:
    """Steps 1–3 for a PR a reconcile just wrote. ``tell``: say so on the PR when the wait starts
    (the reconcile tells once, when it opens the PR: on GitLab every update waits for its pipeline)."""
    done = try_auto_merge(forge, repo, pr, method)
    if done is not None:
        return done
    if wait is None:
        return "refused"
    if wait(pr.number, method) and tell:
        forge.comment(repo, pr.number, waiting_comment(method))
    return "waiting"
