"""Typed keys of update groups and targets, and their one string form.

A group key names one pull request: ``forge:repo:base:group`` (the config's forge name, the
manifest repo, its base branch, the group name; repo names hold no ``:``, group names may). A
target key names one place a group edits: ``image|selector|files``, ``|~variant`` for the
tags of one Docker variant (``bot.core.versions``), and ``|^major`` for the versions of one major
in a group whose majors go apart (``pr.separate_major``, ``bot.core.majors``). Both travel as
strings (Redis keys, rq job arguments, the PR marker): build and read them here, never by
splitting by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VARIANT = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True, order=True)
class GroupKey:
    forge: str
    repo: str
    base: str
    group: str

    @classmethod
    def parse(cls, text: str) -> GroupKey:
        parts = text.split(":", 3)
        if len(parts) != 4 or not all(parts):
            raise ValueError(f"not a group key (forge:repo:base:group): {text!r}")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.forge}:{self.repo}:{self.base}:{self.group}"


@dataclass(frozen=True, slots=True, order=True)
class TargetKey:
    image: str
    #: a setter marker, ``<doc>:<dotted path>``, or "" (selected by image name)
    selector: str = ""
    files: tuple[str, ...] = ()
    #: the Docker variant of the target's tags ("" for every tag: keys stored before variants)
    variant: str = ""
    #: with ``pr.separate_major``: the major of the group's versions here (None: any)
    major: int | None = None

    @classmethod
    def parse(cls, text: str) -> TargetKey:
        major: int | None = None
        head, sep, tail = text.rpartition("|^")
        if sep and tail.isdigit():
            text, major = head, int(tail)
        head, sep, variant = text.rpartition("|~")
        if not (sep and _VARIANT.fullmatch(variant)):
            head, variant = text, ""
        image, sep, rest = head.partition("|")
        selector, _, files = rest.rpartition("|") if sep else ("", "", "")
        return cls(image, selector, tuple(f for f in files.split(",") if f), variant, major)

    def __str__(self) -> str:
        text = f"{self.image}|{self.selector}|{','.join(sorted(self.files))}"
        text = f"{text}|~{self.variant}" if self.variant else text
        return f"{text}|^{self.major}" if self.major is not None else text
