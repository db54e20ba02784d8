"""Bounds on what one comment may ask (pure): commands that cancel each other are folded, and at
most ``MAX_COMMANDS`` lines addressed to the bot are taken from one comment.

A later command *undoes* an earlier one when it sets the same state: ``hold``/``unhold``,
``close``/``reopen``, ``pin``/``unpin`` of the same image (one without an image covers them all),
or when it is the same command again (anything but ``rollback``, which steps back once more each
time). Only the last of them runs: the end state is the one the comment asks for, and a comment
alternating ``pin <the base's version>`` (the PR closes) and ``unpin`` (a PR opens) opens and
closes nothing in between. ``merge`` and ``cancel merge`` are not folded (a merge may happen at
once and cannot be undone), nor are ``ignore``/``unignore`` with different scopes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.chatops.commands import Command, CommandKind, ParsedComment

#: lines addressed to the bot that one comment may run (the rest are refused in the reply)
MAX_COMMANDS = 10

_SLOTS = {
    CommandKind.HOLD: "hold",
    CommandKind.UNHOLD: "hold",
    CommandKind.CLOSE: "open",
    CommandKind.REOPEN: "open",
    CommandKind.PIN: "pin",
    CommandKind.UNPIN: "pin",
}


@dataclass(frozen=True, slots=True)
class Folded:
    kept: tuple[Command, ...]
    #: commands a later line of the same comment undoes: never run
    undone: tuple[Command, ...]


def fold(commands: Sequence[Command]) -> Folded:
    """The commands that still matter once later lines have spoken, in the order written (one pass
    from the last line back: linear in the comment)."""
    said: set[tuple[object, ...]] = set()  # what later lines set: exact commands and state slots
    kept: list[Command] = []
    undone: list[Command] = []
    for command in reversed(commands):
        slot = _SLOTS.get(command.kind)
        exact = ("exact", command.kind, command.scope, command.tag, command.image, command.environment)
        covered = slot is not None and ((slot, None) in said or (slot, command.image) in said)
        repeated = command.kind is not CommandKind.ROLLBACK and exact in said
        (undone if covered or repeated else kept).append(command)
        said.add(exact)
        if slot is not None:
            said.add((slot, command.image if slot == "pin" else None))
    return Folded(tuple(reversed(kept)), tuple(reversed(undone)))


def bounded(parsed: ParsedComment) -> ParsedComment:
    """``parsed`` folded, then cut to its first ``MAX_COMMANDS`` lines (commands and unknown lines
    alike: an unknown line is echoed in the reply, so it costs too)."""
    folded = fold(parsed.commands)
    kept_ids = {id(c) for c in folded.kept}
    items = [i for i in parsed.items if not isinstance(i, Command) or id(i) in kept_ids]
    return replace(
        parsed,
        items=tuple(items[:MAX_COMMANDS]),
        undone=folded.undone,
        over_limit=max(0, len(items) - MAX_COMMANDS),
    )
