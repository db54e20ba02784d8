"""What every chat-ops handler works with: the dependencies the command job wires, the comment's
context (forge, PR, group, actor), and the few helpers all handlers share."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.chatops.authz import Actor, Policy
from bot.core.chatops.commands import DEFAULT_PREFIX, Command
from bot.core.chatops.decisions import Promotion, Refusal
from bot.core.chatops.replies import Outcome
from bot.core.events import PrComment
from bot.core.group_state import GroupState
from bot.core.intents import OrderingKey, PlanResult, Skip, UpdateIntent
from bot.core.ports import Forge, PullRequest
from bot.core.pr_options import PrOptions
from bot.services.chatops.held import HeldComments
from bot.services.registry_gate import Confirmed
from bot.store.groups import GroupStore
from bot.store.intents import IntentStore


class Planner(Protocol):
    """``bot.core.planning.plan_for_environment`` bound to the config and origin."""

    def __call__(
        self,
        image: str,
        tag: str | None,
        digest: str | None,
        environment: str,
        *,
        rollback: bool,
        ordering: tuple[str, OrderingKey] | None,
    ) -> PlanResult: ...


def _no_plan(image: str, tag: str | None, digest: str | None, environment: str, **_: object) -> PlanResult:
    return PlanResult(skips=(Skip("chat-ops has no routing config to plan with"),))


class Reconciler(Protocol):
    """Runs one group's reconcile now (the caller already holds the repo lock)."""

    def __call__(self, group_key: str, *, force: bool = False, recreate: bool = False) -> None: ...


@dataclass
class ChatopsDeps:
    """Everything the handlers need; built by the command job from the container and config."""

    forge: Forge
    forge_name: str  # the config's name for this forge (the first part of group keys)
    groups: GroupStore
    intents: IntentStore
    reconcile: Reconciler
    policy: Policy = field(default_factory=Policy)
    prefix: str = DEFAULT_PREFIX
    bot_login: str | None = None
    #: promotion chain for an image or group name (config.promotion_chain)
    chain_for: Callable[[str], Sequence[str]] = lambda _name: ()
    #: intents for (image, tag, digest) in an environment (planning.plan_for_environment)
    plan_for: Planner = _no_plan
    #: ask a group of another repo to reconcile soon (the job queue)
    enqueue_reconcile: Callable[[str], object] = lambda _group_key: None
    #: "idle" | "queued" | "running" for a group's reconcile job
    queue_state: Callable[[str], str] = lambda _group_key: "idle"
    #: the environment of a group from the config's targets (when it has no active intent)
    environment_of: Callable[[str], str | None] = lambda _group_key: None
    #: the head branches the config gives a group (``<branch_prefix>/<env>/<group>``)
    branches_of: Callable[[str], Sequence[str]] = lambda _group_key: ()
    #: a group's PR settings in the routing config now (merge method, labels, ...)
    pr_options: Callable[[str], PrOptions] = lambda _group_key: PrOptions()
    #: a merge command that must wait (GitLab: no pipeline for the head yet) retries through this
    schedule_auto_merge: Callable[[str, int, str], None] | None = None
    cancel_auto_merge: Callable[[str, int], None] | None = None
    #: what a promote's reply says about its source environment's health (None: nothing to say)
    health_note: Callable[[str], str | None] = lambda _environment: None
    #: a comment that may open or close the group's PR takes one of the group's allowance
    #: (``bot.store.churn``); False: none left this hour
    churn: Callable[[str], bool] = lambda _group_key: True
    #: the registry's answer for versions a person asks for (``RegistryGate.confirm``): the ones
    #: it has, digests filled where a target pins them, and the others with why
    confirm: Callable[[Sequence[UpdateIntent]], Confirmed] = lambda intents: Confirmed(list(intents))
    #: the reconciles' comments on the commented PR, held until the reply is posted (None: not held)
    held: HeldComments | None = None


@dataclass
class Context:
    deps: ChatopsDeps
    event: PrComment
    pr: PullRequest | None
    #: the PR's group, set only when the forge says the bot opened the PR on that group's branch
    group_key: str | None
    actor: Actor
    #: why the PR is not one the bot acts on (``group_key`` is None), in words for the reply
    not_ours: str | None = None
    #: what a command will change, worked out once for authorisation and reused to carry it out
    plans: dict[Command, Promotion] = field(default_factory=dict)


def environment(ctx: Context) -> str | None:
    """The PR's environment: from its group's intents, else from the config's targets."""
    if ctx.group_key is None:
        return None
    for intent in ctx.deps.intents.snapshot(ctx.group_key).active.values():
        if intent.environment:
            return intent.environment
    return ctx.deps.environment_of(ctx.group_key)


# --- shared by the handlers --------------------------------------------------------------------
def group_key(ctx: Context) -> str:
    if ctx.group_key is None:  # the dispatcher checks first; this keeps the types honest
        raise Refusal("this is not a manifest-bot pull request")
    return ctx.group_key


def update_state(ctx: Context, change: Callable[[GroupState], GroupState]) -> GroupState:
    """Change the group's flags atomically (the lifecycle reads them on the next reconcile)."""
    record = ctx.deps.groups.update(
        group_key(ctx), lambda rec: dataclasses.replace(rec, state=change(rec.state))
    )
    return record.state


def reconcile(ctx: Context, *, force: bool = False, recreate: bool = False) -> str | None:
    """Reconcile the PR's group now (the job holds the repo lock); the error it recorded, if any."""
    key = group_key(ctx)
    ctx.deps.intents.bump(key)
    ctx.deps.reconcile(key, force=force, recreate=recreate)
    return ctx.deps.groups.get(key).state.last_error


def done(command: Command, message: str, error: str | None, *, speak: bool = False) -> Outcome:
    if error:
        return Outcome(command, False, f"{message}, but the update failed: {error}")
    return Outcome(command, True, message, speak=speak)
