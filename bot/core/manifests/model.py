"""Types shared by the YAML locate/edit engine and its callers (pure).

The engine's public functions (implemented in this package, re-exported from its ``__init__``)::

    scan(text: str, file: str = "<input>") -> list[Reference]
    select(refs, selector: Selector) -> list[Reference]
    edit(text: str, file: str, edits: Sequence[Edit]) -> EditResult   # raises ManifestError/UnsafeEdit
    load_text(data: bytes, file: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str  # size/binary/utf-8 checks
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RefKind = Literal[
    "container",
    "kustomize",
    "helm",
    "marker",
    "compose",
    "argocd",
    "volume",
    "ci",
    "helmrelease-chart",
    "ocirepository-chart",
    "argocd-chart",
    "chart-dependency",
    "kustomize-helmchart",
]
#: chart references (bot.core.manifests.charts): ``image`` holds the chart, ``tag`` its version
CHART_KINDS: frozenset[RefKind] = frozenset(
    {"helmrelease-chart", "ocirepository-chart", "argocd-chart", "chart-dependency", "kustomize-helmchart"}
)
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reference:
    """One image (or chart, see ``CHART_KINDS``) reference found in a file."""

    file: str
    doc: int  # 0-based document index over the whole file
    path: str  # spec.template.spec.containers[0].image
    kind: RefKind
    line: int  # 1-based, of the value's first character
    column: int  # 1-based
    image: str  # as written (no tag/digest); canonical form via bot.core.images.canonical_name
    tag: str | None
    digest: str | None
    marker: str | None = None  # "ns:name" of a setter marker on this value, if any
    #: byte/char spans of the scalar(s) this reference is made of, into the decoded text
    spans: tuple[tuple[int, int], ...] = ()
    #: a chart reference's repository as its entry writes it (Argo CD ``repoURL``, a dependency's
    #: ``repository``, Kustomize ``repo``); None when it names none (``bot.core.chart_names``)
    repository: str | None = None

    @property
    def is_chart(self) -> bool:
        return self.kind in CHART_KINDS


@dataclass(frozen=True, slots=True)
class Selector:
    """Exactly one of image / chart / chart_key / marker / path is set."""

    image: str | None = None  # normalised match, never a prefix match; never selects a chart
    chart: str | None = None  # a chart's name, or its ``oci://`` reference (``oci://`` optional)
    #: a rule's chart key (``bot.core.chart_names``): the references ``ref_matches`` says it is
    chart_key: str | None = None
    marker: str | None = None  # "ns:name"
    path: str | None = None  # dotted, [i] for list items
    doc: int | None = None  # with path; 0-based over all documents (None = 0)


@dataclass(frozen=True, slots=True)
class Edit:
    selector: Selector
    tag: str | None = None
    digest: str | None = None
    #: with tag only: drop an existing digest (a digest pinned to the old tag would be wrong)
    clear_digest: bool = True
    #: the image this version belongs to. A selected reference naming another image (a marker or
    #: a path on someone else's image) is refused, unless ``rename``: then its name becomes this
    image: str | None = None
    rename: bool = False
    #: may add what is not written: a missing ``tag``/``newTag``/``newName`` key, or a tag on a
    #: reference written without one. Off for auto-discovered files (``EditResult.skipped`` says)
    insert: bool = True


@dataclass(frozen=True, slots=True)
class Change:
    """One scalar changed; PR text, commit messages and logs are rendered from these."""

    file: str
    doc: int
    path: str
    old: str
    new: str
    image: str | None = None  # canonical image name when known
    aliases: tuple[str, ...] = ()  # other paths changed through a YAML anchor/alias
    chart: str | None = None  # the chart, for a chart reference's version (``image`` is None)


@dataclass(frozen=True, slots=True)
class EditResult:
    text: str
    changes: tuple[Change, ...] = field(default_factory=tuple)
    matched: int = 0  # references the selectors matched (0 → "nothing matched")
    #: why matched references or unreadable documents were left alone (placeholders, a tag not
    #: added in a discovered file, a templated document), one line each
    skipped: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)
