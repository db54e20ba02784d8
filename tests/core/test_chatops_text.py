"""Golden tests for every chat-ops reply (tests/fixtures/chatops/*.md, compared byte for byte).

Regenerate after an intended change with ``MANIFEST_BOT_UPDATE_GOLDEN=1 pytest <this file>`` and
review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.core.chatops.authz import Actor, Override, Policy, authorize
from bot.core.chatops.commands import CommandKind, parse_comment
from bot.core.chatops.replies import (
    Outcome,
    StatusView,
    TargetStatus,
    help_text,
    refused_text,
    reply_text,
    status_text,
    unknown_text,
)
from bot.core.ports import Permission

GOLDEN = Path(__file__).parent.parent / "fixtures" / "chatops"


def check(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.md"
    if os.environ.get("MANIFEST_BOT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def commands(body: str):
    return parse_comment(body, author="alice", bot_login="manifest-bot[bot]")


def test_help() -> None:
    check("help", help_text())


def test_help_uses_the_configured_prefix() -> None:
    assert "`/bump rebase`" in help_text("/bump")
    assert "/manifest-bot" not in help_text("/bump")


def test_unknown() -> None:
    parsed = commands("/manifest-bot frobnicate\n/manifest-bot pin")
    check("unknown", unknown_text(parsed.unknown))


def test_a_mistyped_command_gets_a_did_you_mean_not_the_whole_table() -> None:
    parsed = commands("/manifest-bot promte to staging")
    text = unknown_text(parsed.unknown)
    assert text == (
        "I did not understand:\n"
        "- `/manifest-bot promte to staging` — unknown command `promte`; did you mean `promote to staging`?\n"
        "\n"
        "`/manifest-bot help` lists every command."
    )
    assert "| command |" in unknown_text(commands("/manifest-bot frobnicate").unknown)  # no guess: the table


def test_help_names_the_rights_the_config_asks() -> None:
    policy = Policy(
        default=Permission.MAINTAIN,
        overrides=(Override(commands=frozenset({CommandKind.MERGE}), permission=Permission.ADMIN),
                   Override(environments=frozenset({"prod"}), permission=Permission.ADMIN)),
        only_teams=frozenset({"acme/platform"}),
    )  # fmt: skip
    last = help_text(policy=policy).splitlines()[-1]
    assert last == (
        "`help` and `status` work for anyone; every other command needs maintain (GitLab Maintainer) "
        "or above on the repository; `merge` needs admin (GitLab Owner) or above; every command in "
        "`prod` needs admin (GitLab Owner) or above; only @acme/platform may run commands that change "
        "anything."
    )
    assert "write" not in last


def test_refused() -> None:
    (command,) = commands("/manifest-bot merge").commands
    decision = authorize(command, Actor("mallory", Permission.READ), Policy(), environment="prod")
    check("refused", reply_text([Outcome(command, False, refused_text(decision.reason))]))


def test_status() -> None:
    view = StatusView(
        group="api",
        environment="staging",
        held=True,
        targets=(
            TargetStatus("ghcr.io/acme/api", wanted="1.5.0", in_branch="1.4.0"),
            TargetStatus("ghcr.io/acme/worker", wanted="2.0.1", in_branch="2.0.1", pinned="2.0.1"),
            TargetStatus("ghcr.io/acme/cron", wanted=None, in_branch=None),
        ),
        ignored=("ghcr.io/acme/api 2.x (major)", "ghcr.io/acme/api 1.4.9"),
        queue="queued",
        last_error="deploy/api.yaml:12: the value is an anchor alias",
        promotes_to="prod",
    )
    check("status", status_text(view))


def test_status_of_an_empty_group() -> None:
    check("status-empty", status_text(StatusView(group="web", environment=None, held=False)))


def test_reply_for_several_commands_after_waiting_for_the_lock() -> None:
    hold, pin, merge = commands("/manifest-bot hold\n/manifest-bot pin 1.2.3\n/manifest-bot merge").commands
    outcomes = [
        Outcome(hold, True, "held: no automatic updates or merges until `unhold`"),
        Outcome(pin, True, "pinned `ghcr.io/acme/api` to `1.2.3`", ("the PR branch now holds `1.2.3`",)),
        Outcome(hold, True, "here is where this group stands:", ("**Status**: held.\n\nIgnored: nothing.",)),
        Outcome(merge, False, "this PR is held; `unhold` it first"),
    ]
    check("reply-waited", reply_text(outcomes, waited_s=2.345))


def test_reply_does_not_mention_a_lock_it_did_not_wait_for() -> None:
    (hold,) = commands("/manifest-bot hold").commands
    assert "waited" not in reply_text([Outcome(hold, True, "held")], waited_s=0.0)
    assert "waited" not in reply_text([Outcome(hold, True, "held")], waited_s=None)


@pytest.mark.parametrize("name", ["help", "unknown", "refused", "status", "status-empty", "reply-waited"])
def test_golden_files_exist(name: str) -> None:
    assert (GOLDEN / f"{name}.md").is_file()


def test_promote_reply_names_what_moved_and_why_the_rest_did_not() -> None:
    from bot.core.chatops.replies import Moved, Skipped, not_routed_reason, promotion_text, superseded_reason
    from bot.core.merge import Superseded

    newer = Superseded("t", "ghcr.io/acme/worker", "1.4.0", (1, 4, 0), "older", winner_tag="1.6.0")
    same = Superseded("t", "ghcr.io/acme/api", "2.0.0", (2, 0, 0), "duplicate", winner_tag="2.0.0")
    ignored = Superseded("t", "ghcr.io/acme/cron", "0.9.0", (0, 9, 0), "ignored")
    moved = [Moved("ghcr.io/acme/web", "1.5.0", "prod", "acme/deploy", 12)]
    skipped = [
        Skipped("redis", "7.4.2-alpine", not_routed_reason("prod", "redis")),
        Skipped(
            "ghcr.io/acme/worker",
            "1.4.0",
            superseded_reason("prod", "ghcr.io/acme/worker", "1.4.0", newer, None),
        ),
        Skipped(
            "ghcr.io/acme/api", "2.0.0", superseded_reason("prod", "ghcr.io/acme/api", "2.0.0", same, 12)
        ),
        Skipped(
            "ghcr.io/acme/cron",
            "0.9.0",
            superseded_reason("prod", "ghcr.io/acme/cron", "0.9.0", ignored, None),
        ),
    ]
    message, details = promotion_text("prod", moved, skipped)
    command = commands("/manifest-bot promote to prod").commands[0]
    check("promote", reply_text([Outcome(command, True, message, details)]))
    nothing, why = promotion_text("prod", [], skipped[:1])
    check("promote-nothing", reply_text([Outcome(command, False, nothing, why)]))
