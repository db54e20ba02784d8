"""Which images a target's value moves: a Helm value read by several images of its chart moves
them all (``bot.core.manifests.shared``). Read through the two Forge methods a manifest checkout
also has (``list_tree``, ``read_file``), so ``check-config``/``explain --repo-dir`` and the worker
say the same thing."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from typing import Protocol

from bot.core.manifests import load_text
from bot.core.manifests.shared import Reader, chart_templates, readers
from bot.errors import BotError
from bot.services.reads import read_many


class Tree(Protocol):
    def list_tree(self, repo: str, ref: str) -> list[str]: ...
    def read_file(self, repo: str, path: str, ref: str) -> bytes: ...


def value_readers(forge: Tree, repo: str, ref: str, file: str, path: str) -> list[Reader]:
    """The images of the chart's templates that read ``path`` of the values ``file`` at ``ref``
    (empty when the file is not a chart's values file, or it cannot be read)."""
    try:
        templates = chart_templates(forge.list_tree(repo, ref), file)
        if not templates:
            return []
        texts = read_many(forge, repo, [file, *templates], ref)  # type: ignore[arg-type]
        decoded = {p: load_text(raw, p) for p, raw in texts.items() if raw is not None}
    except BotError:
        return []
    values = decoded.pop(file, None)
    return [] if values is None else readers(file, values, path, decoded)


def shared_by(
    forge: Tree, repo: str, ref: str, files: Sequence[str], path: str | None
) -> dict[str, list[Reader]]:
    """For a target (or intent) with a ``path``: each of its listed ``files`` (not globs) whose
    value there is read by more than one image, with those images."""
    if not path:
        return {}
    out = {}
    for file in files:
        if glob.has_magic(file):
            continue
        found = value_readers(forge, repo, ref, file, path)
        if len({r.image for r in found}) > 1:
            out[file] = found
    return out


def moves_all(file: str, path: str, found: list[Reader]) -> str:
    """The words for a shared value: what moving it moves."""
    images = list(dict.fromkeys(r.image for r in found))
    return (
        f"{file} {path} is read by {len(images)} images of its chart, so moving it moves them all: "
        + ", ".join(images)
    )
