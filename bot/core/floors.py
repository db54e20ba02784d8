"""The never-downgrade mark of one reference (pure): the highest version any rule's intent wrote
at a file's image reference, so a lower one is never written there again.

``bot.core.merge`` keeps a mark per *target*; two rules reaching one reference (a discovering
glob rule and a rule listing the file) are two targets, each with its own mark. While both are
wanted the higher one owns the reference (``bot.services.desired``); once it landed and its
intent was cleared, only this mark remembers it: a later build of the lower rule, above its own
target's mark but below what the file got, is not written there. A mark rises when the version
lands on the base branch — the PR that wrote it merged (what its branch wrote per reference is
kept until then: ``bot.store.floors``), or the bot pushed it there (``pr.mode: push``)
— never for a PR still open or closed unmerged. As with the target marks, a chat-ops rollback
and a pin are a person's choice and pass (and raise no mark), and keys of different ordering
schemes never compare.

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


def raised(floor: Floor | None, new: Floor) -> Floor | None:
    """The reference's floor once ``new`` landed there, or None when it stays (not above it)."""
    if floor is None or floor.image != new.image:
        return new
    high = floor.mark.high(new.mark.scheme)
    if high is not None and comparable(new.mark.key) <= comparable(high):
        return None
    return Floor(new.image, _over(floor.mark, new.mark))


def _over(old: Mark, new: Mark) -> Mark:
    """``new``, remembering ``old``'s highest keys of the other schemes (as ``Mark.of`` does)."""
    others = dict(old.others)
    if old.scheme != new.scheme:
        kept = others.get(old.scheme)
        others[old.scheme] = old.key if kept is None or comparable(old.key) >= comparable(kept) else kept
    others.pop(new.scheme, None)
    return Mark(new.scheme, new.key, new.tag, new.digest, tuple(sorted(others.items())))


def written(intent: UpdateIntent, changes: Iterable[Change]) -> dict[Ref, Floor]:
    """The references ``changes`` (made for ``intent``) wrote, each with the mark its version
    sets there; none for a rollback (a person's choice goes down without raising anything)."""
    if intent.rollback:
        return {}
    floor = Floor(canonical_name(intent.image), Mark.of(intent))
    return {(c.file, c.doc, c.path): floor for c in changes}


def ref_key(ref: Ref) -> str:
    """A reference as one string (a JSON key)."""
    file, doc, path = ref
    return f"{file}\0{doc}\0{path}"


def parse_ref_key(text: str) -> Ref:
    file, doc, path = text.split("\0", 2)
    return file, int(doc), path


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
