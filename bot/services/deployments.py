"""Deployment reports: record what an environment runs, and tell the bot's PRs it contains.

Two halves, as the rest of the event path:

- ``record`` runs in the deliveries consumer (Redis only): the report's environment (the routing
  config's ``environments.<env>.deployments``), its state moved forward (never back: an older
  report changes nothing), and the outcome the delivery keeps. A report worth telling PRs about
  comes back with its environment, and the consumer queues a deployment job for it.
- ``tell`` runs in that job: of the environment's merged bot PRs (``remember_merged`` keeps them
  when their ``pr-closed`` event arrives) the newest ``MAX_PRS`` not yet told this state are
  checked, one forge read each (is the PR's merge commit the revision or an ancestor of it?),
  and each one the revision contains gets one comment per state change (one write). A revision
  no merged PR is in (one the bot never merged) is recorded, and nothing else happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.core.config.model import Config
from bot.core.deployments import (
    TOLD,
    EnvState,
    comment,
    describe_object,
    next_state,
    short_revision,
    with_versions,
)
from bot.core.events import DeploymentReported, PrClosed
from bot.core.keys import TargetKey
from bot.core.outcomes import TargetOutcome
from bot.core.ports import CommitStatuses, Forge
from bot.errors import NotFound
from bot.store.deployments import DeploymentStore, MergedPr, Told
from bot.store.intents import IntentStore

log = logging.getLogger(__name__)

#: merged PRs one report looks at, at most (each costs one forge read; the told ones one write)
MAX_PRS = 20


# --- in the consumer -------------------------------------------------------------------------------
@dataclass
class Recorded:
    outcome: TargetOutcome
    #: the environment whose PRs a deployment job should tell (None: nothing to tell)
    tell: str | None = None


def record(store: DeploymentStore, config: Config, report: DeploymentReported) -> Recorded:
    what = f"{describe_object(report.tool, report.object)} {report.health}"
    at = short_revision(report.revision_label, report.revision)
    env = config.deployed_environment(report.tool, report.object)
    if env is None:
        why = f"no environment lists {report.tool} {report.object!r} in environments.<env>.deployments"
        return Recorded(TargetOutcome("skipped", why))
    state = store.update_state(env, lambda previous: next_state(env, report, previous))
    if state is None:
        why = f"{env}: a newer report is recorded; this one ({what} at {at}, {report.at}) changes nothing"
        return Recorded(TargetOutcome("superseded", why))
    if report.revision is None:
        why = f"{env}: {what} recorded; {at} names no commit, so no PR is told"
        return Recorded(TargetOutcome("done", why))
    if report.health not in TOLD:
        return Recorded(TargetOutcome("done", f"{env}: {what} at {at} recorded"))
    return Recorded(TargetOutcome("done", f"{env}: {what} at {at} recorded; its PRs are told"), env)


def remember_merged(
    store: DeploymentStore, intents: IntentStore, config: Config, event: PrClosed, merged_at: float
) -> None:
    """A merged PR of a group with an environment: remembered until a report says it runs."""
    if not event.merged or not event.merge_sha:
        return
    for name in config.forge_names(event.forge):
        group_key = intents.groups.group_for_branch(name, event.repo, event.head_branch)
        if group_key is None:
            continue
        record_ = intents.groups.get(group_key)
        env = config.environment_of(record_.key)
        if env is None or record_.pr_number != event.pr_number:
            continue
        versions = tuple(
            f"{TargetKey.parse(t).image}{':' + m.tag if m.tag else '@' + (m.digest or '?')}"
            for t, m in sorted(record_.applied.items())
        )
        pr = MergedPr(
            group_key, name, event.repo, event.pr_number, event.merge_sha, merged_at, record_.pr_url, versions
        )
        store.merged(env, pr)


# --- in the deployment job -------------------------------------------------------------------------
@dataclass
class TellReport:
    environment: str
    looked_at: int = 0  # merged PRs checked against the revision
    deployed: list[int] = field(default_factory=list)  # PR numbers the revision contains
    told: list[int] = field(default_factory=list)  # PRs commented on


def should_tell(before: Told | None, report: DeploymentReported) -> bool:
    """A PR is told once per state: when never told, when told at this revision with another
    health, or when told failed and this report is healthy (a later revision fixed it). Never by a
    report older than what it was told."""
    if before is None:
        return True
    if before.at > report.at:  # both are our ISO 8601 UTC form: they order as strings
        return False
    if before.revision == report.revision:
        return before.health != report.health
    return before.health == "failed" and report.health == "healthy"


def contains(forge: Forge, repo: str, revision: str, merge_sha: str) -> bool:
    """The revision is the merge commit or a descendant of it (nothing of the merge is missing)."""
    if merge_sha.lower() == revision:
        return True
    try:
        return not forge.commits_between(repo, revision, merge_sha)
    except NotFound:  # a commit this repo does not have: not the bot's revision
        return False


def tell(
    store: DeploymentStore,
    forge_for: Callable[[str], Forge],
    environment: str,
    report: DeploymentReported,
    prefix: str,
) -> TellReport:
    out = TellReport(environment)
    if report.revision is None or report.health not in TOLD:
        return out
    told = store.told(environment)
    candidates = [p for p in store.merged_prs(environment) if should_tell(told.get(p.ref), report)][:MAX_PRS]
    text = comment(environment, report, prefix)
    versions: list[str] = []
    for pr in candidates:
        out.looked_at += 1
        forge = forge_for(pr.forge)
        if not contains(forge, pr.repo, report.revision, pr.merge_sha):
            continue
        out.deployed.append(pr.number)
        versions += pr.versions
        now = Told(report.revision, report.health, report.at)
        if not store.tell(environment, pr.ref, now, lambda before: should_tell(before, report)):
            continue  # another worker told it meanwhile
        try:
            forge.comment(pr.repo, pr.number, text)
            mark(forge, pr, environment, report, text)
        except Exception:
            store.forget(environment, pr.ref, told.get(pr.ref))  # untold: the next report tells it
            raise
        out.told.append(pr.number)
    if versions:
        store.update_state(environment, _carrying(report, tuple(versions)))
    log.info(
        "deployment report for %s: %d PR(s) looked at, %s deployed, %s told",
        environment,
        out.looked_at,
        out.deployed,
        out.told,
    )
    return out


def status_context(environment: str) -> str:
    return f"manifest-bot/deploy/{environment}"


def mark(forge: Forge, pr: MergedPr, environment: str, report: DeploymentReported, text: str) -> None:
    """The commit status on the PR's merge commit, where the forge has them (the ``CommitStatuses`` extra)."""
    if isinstance(forge, CommitStatuses):
        state = "success" if report.health == "healthy" else "failure"
        forge.set_status(pr.repo, pr.merge_sha, state, status_context(environment), text.partition(" (")[0])


def _carrying(
    report: DeploymentReported, versions: tuple[str, ...]
) -> Callable[[EnvState | None], EnvState | None]:
    def change(state: EnvState | None) -> EnvState | None:
        if state is None or (state.revision, state.at) != (report.revision, report.at):
            return None  # a newer report is recorded meanwhile: its job says what it carries
        return with_versions(state, versions)

    return change
