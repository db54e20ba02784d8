"""Read many files of one repository at one ref in as few forge calls as the forge allows."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.ports import BatchReader, Forge
from bot.errors import NotFound


def read_many(forge: Forge, repo: str, paths: Sequence[str], ref: str) -> dict[str, bytes | None]:
    """path → bytes, or None when the path does not exist at ``ref``; every path is a key.

    One ``read_files`` call when the forge is a ``BatchReader`` (GitHub, local git), else one
    ``read_file`` per path (GitLab).
    """
    wanted = list(dict.fromkeys(paths))
    if not wanted:
        return {}
    if isinstance(forge, BatchReader):
        found = forge.read_files(repo, wanted, ref)
        return {path: found.get(path) for path in wanted}
    out: dict[str, bytes | None] = {}
    for path in wanted:
        try:
            out[path] = forge.read_file(repo, path, ref)
        except NotFound:
            out[path] = None
    return out
