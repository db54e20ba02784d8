"""The never-downgrade mark of one reference (pure): the highest version any rule's intent wrote
at a file's image reference, so a lower one is never written there again.

``bot.core.merge`` keeps a mark per *target*; two rules reaching one reference (a discovering
glob rule and a rule listing the file) are two targets, each with its own mark. While both are
wanted the higher one owns the reference (``bot.services.desired``); once it landed and its
intent was cleared, only this mark remembers it: a later build of the lower rule, above its own
target's mark but below what the file got, is not written there. As with the target marks, a
chat-ops rollback and a pin are a person's choice and pass (and raise no mark), and keys of
different ordering schemes never compare.

A reference is named by the change the bot made there: file, document and the dotted path of the
scalar it wrote (``images[0].newTag``, ``spec.template.spec.containers[0].image``); a reference
found by a scan (``images[0]``) covers the changes at or under its own path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.images import canonical_name
from bot.core.intents import UpdateIntent
from bot.core.manifests.model import Change, Reference
from bot.core.merge import Mark, comparable

#: a written reference within its file: (document, dotted path of the scalar written)
Spot = tuple[int, str]
#: a reference of a file: (file, document, path)
Ref = tuple[str, int, str]
#: the floors of the files asked for, by file (files without any left out)
FloorReader = Callable[[Sequence[str]], Mapping[str, Mapping[Spot, "Floor"]]]


@dataclass(frozen=True, slots=True)
class Floor:
    """The highest version written at one reference, of one image (canonical name)."""

    image: str
    mark: Mark

    def blocks(self, intent: UpdateIntent) -> bool:
        """Whether writing ``intent`` here would go below what was written: the same image, the
        same ordering scheme, a lower key, and no person's choice (a rollback)."""
        if intent.rollback or canonical_name(intent.image) != self.image:
            return False
        high = self.mark.high(intent.ordering_scheme)
        return high is not None and comparable(intent.ordering_key) < comparable(high)

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "mark": self.mark.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Floor:
        return cls(data["image"], Mark.from_dict(data["mark"]))


def raised(floor: Floor | None, intent: UpdateIntent) -> Floor | None:
    """The reference's new floor once ``intent`` was written there, or None when it stays (a
    rollback, or a version not above it)."""
    if intent.rollback:
        return None
    image = canonical_name(intent.image)
    if floor is None or floor.image != image:
        return Floor(image, Mark.of(intent))
    high = floor.mark.high(intent.ordering_scheme)
    if high is not None and comparable(intent.ordering_key) <= comparable(high):
        return None
    return Floor(image, Mark.of(intent, floor.mark))


def written(intent: UpdateIntent, changes: Iterable[Change]) -> dict[Ref, UpdateIntent]:
    """The references ``changes`` (made for ``intent``) wrote, each with the intent."""
    return {(c.file, c.doc, c.path): intent for c in changes}


def covering(floors: Mapping[Spot, Floor], ref: Reference) -> list[Floor]:
    """The floors of a file a scanned reference covers: written at its path or under it (a
    Kustomize ``images[0]`` covers ``images[0].newTag``)."""
    out = []
    for (doc, path), floor in floors.items():
        if doc == ref.doc and (path == ref.path or path.startswith((f"{ref.path}.", f"{ref.path}["))):
            out.append(floor)
    return out


def encode_file(floors: Mapping[Spot, Floor]) -> str:
    """One file's floors as JSON (a Redis hash value)."""
    return json.dumps([[doc, path, f.to_dict()] for (doc, path), f in sorted(floors.items())])


def decode_file(raw: str | bytes) -> dict[Spot, Floor]:
    return {(int(doc), str(path)): Floor.from_dict(f) for doc, path, f in json.loads(raw)}
