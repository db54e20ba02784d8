"""Per-comment bounds (folding, the command limit) and the one code span every echo goes in."""

from __future__ import annotations

import pytest

from bot.core.chatops.commands import Command, parse_comment
from bot.core.chatops.fold import MAX_COMMANDS, bounded
from bot.core.chatops.spans import MAX_ECHO_CHARS, code


def kept(*lines: str) -> list[str]:
    parsed = bounded(parse_comment("\n".join(f"/manifest-bot {line}" for line in lines), author="alice"))
    return [i.text.removeprefix("/manifest-bot ") for i in parsed.items if isinstance(i, Command)]


@pytest.mark.parametrize(
    ("lines", "runs"),
    [
        (["hold", "unhold", "hold"], ["hold"]),
        (["close", "reopen"], ["reopen"]),
        (["pin 1.0.0", "unpin"], ["unpin"]),
        (["pin a/b:1.0", "pin c/d:2.0", "unpin a/b"], ["pin c/d:2.0", "unpin a/b"]),
        (["unpin", "pin a/b:1.0"], ["unpin", "pin a/b:1.0"]),  # a pin of one image leaves the unpin
        (["status", "hold", "status"], ["hold", "status"]),
        (["rollback", "rollback"], ["rollback", "rollback"]),  # each steps back once more
        (["merge", "cancel merge"], ["merge", "cancel merge"]),  # a merge cannot be undone
        (["ignore this image", "unignore image"], ["ignore this image", "unignore image"]),
    ],
)
def test_commands_a_later_line_undoes_are_folded(lines: list[str], runs: list[str]) -> None:
    assert kept(*lines) == runs


def test_at_most_the_limit_of_lines_is_taken_and_the_rest_counted() -> None:
    parsed = bounded(parse_comment("\n".join(f"/manifest-bot rollback {i}.0" for i in range(25)), author="a"))
    assert len(parsed.items) == MAX_COMMANDS
    assert parsed.over_limit == 25 - MAX_COMMANDS


def test_folding_a_long_comment_is_linear() -> None:
    body = "\n".join(["/manifest-bot pin 1.0.0", "/manifest-bot unpin"] * 1300)
    parsed = bounded(parse_comment(body, author="alice"))
    assert [c.text for c in parsed.commands] == ["/manifest-bot unpin"]
    assert len(parsed.undone) == 2599


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("pin 1.0", "`pin 1.0`"),
        ("a `b` c", "``a `b` c``"),
        ("``x", "``` ``x ```"),
        ("two\nlines", "`two lines`"),
    ],
)
def test_an_echo_is_one_code_span_no_backtick_leaves(text: str, span: str) -> None:
    assert code(text) == span


def test_an_echo_is_bounded() -> None:
    assert len(code("x" * 10_000)) == MAX_ECHO_CHARS + 2
