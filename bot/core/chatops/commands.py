"""Chat-ops comment parser (pure): a PR comment in, typed commands out.

A command is a line that starts with the configured prefix (``/manifest-bot``) or a mention of the
bot (``@manifest-bot`` or ``@manifest-bot[bot]``), anywhere in the comment, on a line a reader sees
as plain prose: never inside a quote, code, an HTML comment or an element such as ``<pre>``
(``bot.core.chatops.prose`` decides, the way GitHub and GitLab render the comment). Several
commands in one comment run in the order written. A line that addresses the bot with words we do
not understand becomes an ``Unknown`` (the handler answers it with the help text). Comments
written by the bot itself or by any other bot are ignored as a whole, so two bots can never talk
to each other in a loop.
"""

from __future__ import annotations

import difflib
import enum
import re
from dataclasses import dataclass, replace

from bot.core.chatops.prose import prose_lines
from bot.core.chatops.spans import code
from bot.core.images import TAG_RE

DEFAULT_PREFIX = "/manifest-bot"
#: GitHub's own limit for a comment; a longer one (GitLab allows 1,000,000) is not read for commands,
#: so parsing a comment never costs more than this much Markdown
MAX_COMMENT_CHARS = 65_536


class CommandKind(enum.Enum):
    HELP = "help"
    STATUS = "status"
    REBASE = "rebase"
    RECREATE = "recreate"
    RETRY = "retry"
    HOLD = "hold"
    UNHOLD = "unhold"
    MERGE = "merge"
    SQUASH_MERGE = "squash and merge"
    CANCEL_MERGE = "cancel merge"
    CLOSE = "close"
    REOPEN = "reopen"
    IGNORE = "ignore"
    UNIGNORE = "unignore"
    PIN = "pin"
    UNPIN = "unpin"
    PROMOTE = "promote"
    ROLLBACK = "rollback"


def command_kind(name: str | CommandKind) -> CommandKind:
    """A command kind by the name the config uses (``promote``, ``squash-and-merge``, ``cancel_merge``)."""
    if isinstance(name, CommandKind):
        return name
    wanted = " ".join(name.lower().replace("_", " ").replace("-", " ").split())
    for kind in CommandKind:
        if wanted in {kind.value, kind.name.lower().replace("_", " ")}:
            return kind
    raise ValueError(f"unknown chat-ops command {name!r}")


class IgnoreScope(enum.Enum):
    """What ``ignore this …`` / ``unignore …`` covers. ``ALL`` only appears on a bare ``unignore``."""

    VERSION = "version"
    MAJOR = "major"
    MINOR = "minor"
    PATCH = "patch"
    IMAGE = "image"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    line: int  # 1-based line of the comment it was written on
    text: str  # the line as written, for replies
    scope: IgnoreScope | None = None  # ignore / unignore
    tag: str | None = None  # pin / rollback
    image: str | None = None  # optional image a command is narrowed to (groups with several images)
    environment: str | None = None  # promote target; None = the next one in the chain


@dataclass(frozen=True, slots=True)
class Unknown:
    """A line addressed to the bot that is not a command; ``reason`` says what was wrong."""

    line: int
    text: str
    reason: str
    #: the command it most likely meant (``promte`` → ``promote``), when one is close
    suggestion: str | None = None


Item = Command | Unknown


@dataclass(frozen=True, slots=True)
class ParsedComment:
    items: tuple[Item, ...] = ()
    #: set when the whole comment was skipped (the bot's own comment, another bot's)
    ignored: str | None = None
    #: commands a later line of the comment undoes, never run (``bot.core.chatops.fold``)
    undone: tuple[Command, ...] = ()
    #: lines addressed to the bot past the per-comment limit, refused
    over_limit: int = 0

    @property
    def commands(self) -> tuple[Command, ...]:
        return tuple(i for i in self.items if isinstance(i, Command))

    @property
    def unknown(self) -> tuple[Unknown, ...]:
        return tuple(i for i in self.items if isinstance(i, Unknown))


# --- grammar -----------------------------------------------------------------------------------
_WORD_SPLIT = re.compile(r"\s+")
_SCOPES = {s.value: s for s in IgnoreScope if s is not IgnoreScope.ALL}
_LEVELS = frozenset({IgnoreScope.MAJOR, IgnoreScope.MINOR, IgnoreScope.PATCH})
_PLAIN = {
    ("help",): CommandKind.HELP,
    ("status",): CommandKind.STATUS,
    ("rebase",): CommandKind.REBASE,
    ("recreate",): CommandKind.RECREATE,
    ("retry",): CommandKind.RETRY,
    ("hold",): CommandKind.HOLD,
    ("unhold",): CommandKind.UNHOLD,
    ("merge",): CommandKind.MERGE,
    ("squash", "and", "merge"): CommandKind.SQUASH_MERGE,
    ("cancel", "merge"): CommandKind.CANCEL_MERGE,
    ("close",): CommandKind.CLOSE,
    ("reopen",): CommandKind.REOPEN,
    ("unpin",): CommandKind.UNPIN,
}
#: every command's first word (a mistyped one gets a did-you-mean)
_KEYWORDS = sorted({words[0] for words in _PLAIN} | {"ignore", "unignore", "pin", "rollback", "promote"})
_ENV_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_IMAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}")
_VERSION_LIKE = re.compile(r"[vV]?\d")


def _split_version(word: str) -> tuple[str | None, str | None]:
    """``1.2.3`` → (None, tag); ``ghcr.io/acme/app:1.2.3`` → (image, tag); bad → (None, None)."""
    if "/" in word or ":" in word:
        image, sep, tag = word.rpartition(":")
        if not sep or "/" in tag or not _IMAGE_RE.fullmatch(image):
            return None, None
        return (image, tag) if TAG_RE.fullmatch(tag) else (None, None)
    return (None, word) if TAG_RE.fullmatch(word) else (None, None)


def _parse_ignore(args: list[str], raw: list[str], line: int, text: str) -> Item:
    skip = 1 if args[:1] == ["this"] else 0
    args, raw = args[skip:], raw[skip:]
    if not args:
        return Unknown(line, text, "say what to ignore: this version, major, minor, patch version or image")
    scope = _SCOPES.get("image" if args[0] == "dependency" else args[0])
    if scope is None:
        return Unknown(line, text, f"cannot ignore {code(' '.join(raw))}")
    used = 2 if scope in _LEVELS and args[1:2] == ["version"] else 1
    return _narrowed(Command(CommandKind.IGNORE, line, text, scope=scope), raw[used:])


def _narrowed(command: Command, rest: list[str]) -> Item:
    """Attach an optional trailing image name (``… of ghcr.io/acme/api``) to ``command``."""
    if rest[:1] and rest[0].lower() == "of":
        rest = rest[1:]
    if not rest:
        return command
    if len(rest) > 1 or not _IMAGE_RE.fullmatch(rest[0]):
        return Unknown(command.line, command.text, f"{code(' '.join(rest))} is not an image name")
    return replace(command, image=rest[0])


def _parse_unignore(args: list[str], raw: list[str], line: int, text: str) -> Item:
    if not args:
        return Command(CommandKind.UNIGNORE, line, text, scope=IgnoreScope.ALL)
    scope = {"version": IgnoreScope.VERSION, "versions": IgnoreScope.VERSION, "image": IgnoreScope.IMAGE}
    if args[0] not in scope:
        return Unknown(line, text, "use `unignore`, `unignore version` or `unignore image`")
    return _narrowed(Command(CommandKind.UNIGNORE, line, text, scope=scope[args[0]]), raw[1:])


def _names_image(word: str) -> bool:
    """``podinfo``, ``acme/api`` or ``oci://…`` before a tag; never a version (``pin 1.0 2.0`` is
    two tags) nor the word ``to``."""
    if not _IMAGE_RE.fullmatch(word) or word.lower() == "to":
        return False
    return "/" in word or not _VERSION_LIKE.match(word)


def _parse_versioned(kind: CommandKind, args: list[str], line: int, text: str, raw: list[str]) -> Item:
    if not args:
        if kind is CommandKind.PIN:
            return Unknown(line, text, "say which tag to pin, e.g. `pin 1.4.2`")
        return Command(kind, line, text)
    if len(raw) == 2 and _names_image(raw[0]) and TAG_RE.fullmatch(raw[1]):
        return Command(kind, line, text, tag=raw[1], image=raw[0])  # ``pin podinfo 6.5.1``
    if len(args) > 1:
        return Unknown(line, text, f"{kind.value} takes one tag, got {code(' '.join(raw))}")
    image, tag = _split_version(raw[0])
    if tag is None:
        return Unknown(line, text, f"{code(raw[0])} is not a valid tag")
    return Command(kind, line, text, tag=tag, image=image)


def _parse_promote(args: list[str], line: int, text: str, raw: list[str]) -> Item:
    if args[:1] == ["to"]:
        args, raw = args[1:], raw[1:]
        if not args:
            return Unknown(line, text, "say which environment to promote to")
    if not args:
        return Command(CommandKind.PROMOTE, line, text)
    if len(args) > 1 or not _ENV_RE.fullmatch(raw[0]):
        return Unknown(line, text, f"{code(' '.join(raw))} is not an environment name")
    return Command(CommandKind.PROMOTE, line, text, environment=raw[0])


def parse_words(raw_words: list[str], line: int, text: str) -> Item:
    """Parse the words after the prefix (case-insensitive keywords; tags keep their case)."""
    raw = [w.rstrip(".!,;") if i == len(raw_words) - 1 else w for i, w in enumerate(raw_words)]
    raw = [w for w in raw if w]
    words = [w.lower() for w in raw]
    if not words:
        return Command(CommandKind.HELP, line, text)
    plain = _PLAIN.get(tuple(words))
    if plain is not None:
        return Command(plain, line, text)
    head, args, raw_args = words[0], words[1:], raw[1:]
    if head == "ignore":
        return _parse_ignore(args, raw_args, line, text)
    if head == "unignore":
        return _parse_unignore(args, raw_args, line, text)
    if head == "pin":
        return _parse_versioned(CommandKind.PIN, args, line, text, raw_args)
    if head == "unpin":
        return _narrowed(Command(CommandKind.UNPIN, line, text), raw_args)
    if head == "rollback":
        return _parse_versioned(CommandKind.ROLLBACK, args, line, text, raw_args)
    if head == "promote":
        return _parse_promote(args, line, text, raw_args)
    meant = difflib.get_close_matches(head, _KEYWORDS, n=1, cutoff=0.75) if head not in _KEYWORDS else []
    if meant:
        guess = " ".join([meant[0], *raw_args])
        return Unknown(line, text, f"unknown command {code(raw[0])}; did you mean {code(guess)}?", guess)
    return Unknown(line, text, f"unknown command {code(' '.join(raw))}")


def _addresses(prefix: str, bot_login: str | None) -> tuple[str, ...]:
    names = [prefix.lower()]
    if bot_login:
        login = bot_login.lower().lstrip("@")
        names.append(f"@{login}")
        if login.endswith("[bot]"):
            names.append(f"@{login[: -len('[bot]')]}")
    return tuple(dict.fromkeys(names))


def is_bot_author(author: str, bot_login: str | None) -> bool:
    """True for the bot itself and anything that looks like a bot account."""
    name = author.lower()
    own = (bot_login or "").lower().removesuffix("[bot]")
    return name.endswith("[bot]") or (bool(own) and name.removesuffix("[bot]") == own)


def parse_comment(
    body: str,
    *,
    author: str,
    author_is_bot: bool = False,
    prefix: str = DEFAULT_PREFIX,
    bot_login: str | None = None,
) -> ParsedComment:
    """All commands in ``body`` in the order written (see the module docstring for the rules)."""
    if author_is_bot or is_bot_author(author, bot_login):
        return ParsedComment(ignored=f"comment by bot account {author}")
    if len(body) > MAX_COMMENT_CHARS:
        return ParsedComment(ignored=f"comment longer than {MAX_COMMENT_CHARS} characters")
    addresses = _addresses(prefix, bot_login)
    items: list[Item] = []
    for number, line in prose_lines(body):
        first, _, rest = line.partition(" ")
        if first.lower().rstrip(":,") not in addresses:
            continue
        items.append(parse_words(_WORD_SPLIT.split(rest.strip()) if rest.strip() else [], number, line))
    return ParsedComment(items=tuple(items))
