"""The container the rq job functions of this process use.

rq calls module-level functions with primitive arguments, so a job reaches the process's
composition (config, forges, stores, scheduler) through this one handle. ``manifest-bot worker``
installs the container it built at start-up (forked job processes inherit it); the demo and the
tests install theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.deps import Container

_current: Container | None = None


def install(container: Container | None) -> None:
    """Make ``container`` the one rq jobs in this process use (None uninstalls)."""
    global _current  # noqa: PLW0603 - the single process-wide handle rq job functions need
    _current = container


def current() -> Container:
    if _current is None:
        raise RuntimeError("no container installed: run jobs with `manifest-bot worker`")
    return _current
