"""A PR in the forge's merge queue (GitHub) or merge train (GitLab) is not rewritten: a newer
version waits, and the PR is reconciled the moment the queue lets it go. Real Redis, a real local
git repository and the real planner, reconcile and lifecycle; the queue's webhooks arrive as the
events ``bot.sources`` makes of GitHub's and GitLab's payloads (tests/sources, tests/contracts)."""

from __future__ import annotations

from bot.core.events import Delivery, PrQueued
from bot.deps import Container
from bot.services.events import apply_delivery
from bot.services.reconcile import reconcile
from tests.integration.world import REPO, World, tags_at
from tests.services.test_reconcile import DEV, container, push, world  # noqa: F401  (fixtures)

BRANCH = "manifest-bot/dev/dev"


def deliver(c: Container, event: PrQueued, delivery: str) -> list[str]:
    out = apply_delivery(
        c.intents, c.config, Delivery(delivery, "local", "2024-01-01T00:00:00Z", (event,)), bot_login="bot"
    )
    return out.groups


def queue_event(number: int, *, queued: bool, by_branch: bool = True) -> PrQueued:
    head, base = (BRANCH, None) if by_branch else (None, "main")
    reason = None if queued else "CI_FAILURE"
    return PrQueued("local", REPO, number, queued, "merge queue", head, base, reason)


def head_of(where: World) -> tuple[str, ...]:
    return tuple(tags_at(where, BRANCH, "dev"))


def test_a_queued_pr_is_not_rewritten_and_is_reconciled_when_the_queue_lets_it_go(
    container: Container,  # noqa: F811
    world: World,  # noqa: F811
) -> None:
    push(container, 0, "1.2.0")
    number = reconcile(container.reconcile_deps, DEV).pr_number
    assert number is not None
    assert deliver(container, queue_event(number, queued=True), "q1") == []  # nothing to reconcile
    assert container.intents.groups.get(DEV).queued == "merge queue"
    queued_at = head_of(world)

    push(container, 0, "1.3.0")  # a newer version while the PR waits in the queue
    report = reconcile(container.reconcile_deps, DEV)
    assert report.pr_number == number and head_of(world) == queued_at  # the branch is left alone
    assert tags_at(world, BRANCH, "dev")[0] == "1.2.0"

    # kicked out (its checks failed in the queue): reconciled at once, with the newer version
    assert deliver(container, queue_event(number, queued=False), "q2") == [DEV]
    assert container.intents.groups.get(DEV).queued is None
    reconcile(container.reconcile_deps, DEV)
    assert tags_at(world, BRANCH, "dev")[0] == "1.3.0"


def test_a_merge_group_names_the_pr_by_number_among_the_groups_of_its_base(
    container: Container,  # noqa: F811
) -> None:
    push(container, 0, "1.2.0")
    number = reconcile(container.reconcile_deps, DEV).pr_number
    assert number is not None
    deliver(container, queue_event(number, queued=True, by_branch=False), "g1")
    assert container.intents.groups.get(DEV).queued == "merge queue"
    deliver(container, queue_event(number + 1, queued=False, by_branch=False), "g2")  # another PR's
    assert container.intents.groups.get(DEV).queued == "merge queue"
    assert deliver(container, queue_event(number, queued=False, by_branch=False), "g3") == [DEV]
    assert container.intents.groups.get(DEV).queued is None


def test_the_rebase_command_still_rewrites_a_queued_pr(container: Container, world: World) -> None:  # noqa: F811
    push(container, 0, "1.2.0")
    number = reconcile(container.reconcile_deps, DEV).pr_number
    assert number is not None
    deliver(container, queue_event(number, queued=True), "q1")
    push(container, 0, "1.3.0")
    reconcile(container.reconcile_deps, DEV, force=True)  # what `rebase` asks for
    assert tags_at(world, BRANCH, "dev")[0] == "1.3.0"
