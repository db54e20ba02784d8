"""What git accepts as a branch name, and which paths stay inside a repository (pure).

The bot's branch is ``<branch_prefix>/<environment>/<group>`` and its base is a target's
``branch``: each is checked with the rules of ``git check-ref-format --branch`` when the config is
loaded, so ``check-config`` refuses what git would refuse at the first push instead of failing
then. ``files`` and discovery globs are relative to the repository root and may not leave it.
"""

from __future__ import annotations

import re

#: characters git never allows in a ref: controls, space, ~ ^ : ? * [ and backslash
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def ref_problem(name: str, *, component: bool = False) -> str | None:
    """Why git refuses ``name`` as a branch name (or, ``component``, as one ``/``-free part of
    one), or None when it is fine."""
    if not name:
        return "must not be empty"
    if component and "/" in name:
        return "must not contain '/'"
    bad = _FORBIDDEN.search(name)
    if bad:
        shown = repr(bad.group()) if bad.group().isprintable() else "a control character"
        return f"git refuses {shown} in branch names"
    for needle, what in (("..", "'..'"), ("@{", "'@{'"), ("//", "'//'")):
        if needle in name:
            return f"git refuses {what} in branch names"
    if name == "@" or name.startswith(("-", "/")) or name.endswith(("/", ".")):
        return "git refuses branch names that are '@', start with '-' or '/', or end with '/' or '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return f"git refuses a branch name part starting with '.' ({part!r})"
        if part.endswith(".lock"):
            return f"git refuses a branch name part ending in '.lock' ({part!r})"
    return None


def path_problem(path: str) -> str | None:
    """Why ``path`` (a file or glob relative to the repository root) would leave the repository
    or cannot name a file in it, or None."""
    if not path.strip():
        return "must not be empty"
    if "\x00" in path:
        return "must not contain NUL"
    if path.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[\\/]", path):
        return "must be relative to the repository root, not absolute"
    if any(part == ".." for part in re.split(r"[\\/]", path)):
        return "must stay inside the repository ('..' is not allowed)"
    return None
