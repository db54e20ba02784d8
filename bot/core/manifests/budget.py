"""The work budget of one YAML document, checked before anything resolves an alias or a merge (pure).

Aliases and ``<<`` merge keys let a small file describe a huge tree: 9 aliases of 9 aliases …
(the "billion laughs"), or ``aN: &aN {<<: [*aN-1, *aN-1]}`` over 40 levels, where resolving the
merges naively takes 2^40 steps. Before any walk, :func:`expansion` computes — in one pass over
the distinct nodes, each visited once, with memoised sizes — how many nodes a full resolution
would visit (every alias expanded, every merge source copied), and refuses the document when
that exceeds ``ALIAS_FACTOR`` × its distinct nodes + ``ALIAS_BUDGET``. Every later pass (locate,
markers, verify) visits at most that many nodes, so the work per file is bounded by its size.
"""

from __future__ import annotations

import yaml

from bot.errors import ManifestError

MERGE_TAG = "tag:yaml.org,2002:merge"
#: a document may expand to at most ALIAS_FACTOR × its distinct nodes + ALIAS_BUDGET node visits
ALIAS_BUDGET = 10_000
ALIAS_FACTOR = 10


class BudgetExceeded(ManifestError):
    """A document whose aliases or merge keys expand past the budget (a YAML bomb).

    ``steps`` is how much work the check itself did (distinct nodes and edges looked at)."""

    def __init__(self, message: str, *, file: str | None, line: int | None, steps: int) -> None:
        super().__init__(message, file=file, line=line)
        self.steps = steps


class _Expansion:
    def __init__(self, file: str, cap: int) -> None:
        self.file = file
        self.cap = cap  # sizes saturate here: numbers stay small whatever the nesting
        self.sizes: dict[int, int] = {}
        self.active: set[int] = set()
        self.steps = 0

    def size(self, node: yaml.Node) -> int:
        """Nodes a full resolution visits from ``node`` (itself included), at most ``cap``."""
        key = id(node)
        known = self.sizes.get(key)
        if known is not None:
            return known
        if isinstance(node, yaml.ScalarNode):
            self.steps += 1
            self.sizes[key] = 1
            return 1
        if key in self.active:
            raise ManifestError("recursive alias", file=self.file, line=node.start_mark.line + 1)
        self.active.add(key)
        total = 1
        for child, weight in self._children(node):
            self.steps += 1
            total = min(self.cap, total + self.size(child) - weight)
        self.active.discard(key)
        self.sizes[key] = total
        return total

    @staticmethod
    def _children(node: yaml.Node) -> list[tuple[yaml.Node, int]]:
        """(child, 0) for items and values; (merge source, 1) for a ``<<`` source mapping, whose
        own node is not visited but whose entries are copied into the merging mapping."""
        if isinstance(node, yaml.SequenceNode):
            return [(item, 0) for item in node.value]
        out: list[tuple[yaml.Node, int]] = []
        for k, v in node.value:
            if k.tag != MERGE_TAG:
                out.append((v, 0))
                continue
            sources = v.value if isinstance(v, yaml.SequenceNode) else [v]
            out.extend((src, 1) for src in sources if isinstance(src, yaml.MappingNode))
        return out


def expansion(root: yaml.Node, file: str, text_length: int) -> tuple[int, int]:
    """(node visits a full resolution of ``root`` makes, distinct nodes); raise BudgetExceeded for
    a YAML bomb and ManifestError for a recursive alias or a document nested too deeply."""
    check = _Expansion(file, cap=ALIAS_FACTOR * (text_length + 1) + ALIAS_BUDGET + 1)
    try:
        visits = check.size(root)
    except RecursionError:
        raise ManifestError("document nested too deeply", file=file) from None
    limit = ALIAS_FACTOR * len(check.sizes) + ALIAS_BUDGET
    if visits > limit:
        raise BudgetExceeded(
            f"aliases and merge keys expand to over {limit} nodes from {len(check.sizes)} "
            "(possible alias bomb); refusing to process",
            file=file,
            line=root.start_mark.line + 1,
            steps=check.steps,
        )
    return visits, len(check.sizes)
