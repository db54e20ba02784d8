"""The desired state of one group at one base commit: which files change, to what, and why.

Intents are filtered and pinned by the group's state, then applied with the surgical YAML engine
to the base files (never to the PR branch: a stale branch is regenerated, not rebased).

One bad reference fails only its edit: a file an intent cannot read or edit safely (a
placeholder, an alias bomb, a missing file) stays as it is for that intent and its error is kept in
``Desired.failed``; the intent's other files and the other intents go ahead. A file discovery had
to skip because it is over the YAML budget is reported in ``Desired.problems`` for the intents
whose search it was in.

One owner per reference: when rules overlap (a discovering rule and a rule listing the file both
reach an image), the intents are applied each image's highest version first, and a reference
one intent has taken is never edited by another: the branch holds the highest version the
policies allow, and the PR table lists each reference once. Once that version landed and its
intent was cleared, the reference's own mark (``bot.core.floors``: the highest version that
landed there, by any rule) keeps a later, lower build of the other rule from going back below it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cmp_to_key

from bot.core import floors as refmarks
from bot.core import majors
from bot.core import manifests as engine
from bot.core.chart_names import is_chart
from bot.core.floors import Floor, FloorReader, Ref, Spot
from bot.core.group_state import GroupState
from bot.core.images import canonical_name
from bot.core.intents import UpdateIntent
from bot.core.manifests.budget import BudgetExceeded
from bot.core.manifests.model import Change, Edit, EditResult, Reference, Selector
from bot.core.marker import tag_of
from bot.core.merge import comparable
from bot.core.ports import Forge
from bot.core.pr_options import DEFAULT_PR, PrOptions
from bot.core.render import Row
from bot.core.versions import version_variant
from bot.errors import ManifestError
from bot.services.files import ScanCache, resolve_files, skipped_in_lane
from bot.services.reads import read_many
from bot.services.scans import BAD_FILES

log = logging.getLogger(__name__)
#: bump when the PR text layout changes, so every open PR's text is refreshed once
RENDER_VERSION = 3
_BOM = "\ufeff"
#: intent fields that never reach the branch or the PR text (a re-delivery must stay a no-op)
_UNRENDERED = frozenset({"ordering_key", "ordering_scheme"})
_RENDERED_ORIGIN = frozenset({"link", "commit", "app_repo", "source", "actor", "from_pr", "from_environment"})


@dataclass(frozen=True, slots=True)
class Desired:
    contents: dict[str, bytes]  # only files that differ from the base
    changes: tuple[Change, ...]
    rows: tuple[Row, ...]
    unmatched: tuple[str, ...]  # images whose selectors matched nothing in their files
    #: one line per intent that failed (its files left as they are) or file discovery skipped
    problems: tuple[str, ...] = ()
    failed: tuple[ManifestError, ...] = ()  # the errors of the intents that failed
    #: the intents that changed at least one reference: what the branch holds over the base
    written: tuple[UpdateIntent, ...] = ()
    #: each reference written (file, document, path) → the mark its version sets there once it
    #: lands (``bot.core.floors``; pins and rollbacks, people's choices, are left out)
    landed: dict[Ref, Floor] = dataclasses.field(default_factory=dict)
    #: intents that wrote nothing because every reference they reach already had a higher version
    #: (its mark: ``bot.core.floors``), with the file and mark of the highest of those
    below: tuple[tuple[UpdateIntent, str, Floor], ...] = ()
    #: intents of overlapping rules that wrote nothing because a higher-ranked intent of the same
    #: image took their references (target key → that intent): the branch holds its version there
    covered: dict[str, UpdateIntent] = dataclasses.field(default_factory=dict)


def fingerprint(
    intents: Sequence[UpdateIntent], state: GroupState, command_prefix: str, options: PrOptions = DEFAULT_PR
) -> str:
    """A digest of everything the branch, the PR text and its labels are made from (besides the
    base sha): the intents, the group's state, and the PR options of the config now."""
    rendered = []
    for intent in intents:
        item = {k: v for k, v in intent.to_dict().items() if k not in _UNRENDERED}
        item["origin"] = {k: v for k, v in item["origin"].items() if k in _RENDERED_ORIGIN}
        rendered.append(item)
    data = {
        "v": RENDER_VERSION,
        "intents": rendered,
        "state": dataclasses.replace(state, last_error=None).to_dict(),  # the body shows this sync's problems
        "prefix": command_prefix,
        "pr": dataclasses.asdict(options),
    }
    raw = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:20]


def content_digest(contents: dict[str, bytes]) -> str:
    """A digest of the desired files (path and bytes), recorded in the PR marker."""
    h = hashlib.sha256()
    for path, data in sorted(contents.items()):
        h.update(path.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:20]


def edit_for(intent: UpdateIntent) -> Edit:
    """The engine's edit for an intent. Tags and keys are added only in files a target lists
    (never in discovered ones); a marker or path on another image is renamed only with ``rename``.
    A chart key's intent edits the version of the chart references it stands for."""
    if is_chart(intent.image):  # a chart's version: never renamed, never added
        selector = (
            Selector(path=intent.path, doc=intent.doc) if intent.path else Selector(chart_key=intent.image)
        )
        return Edit(selector, tag=intent.tag, digest=None, clear_digest=True, insert=False)
    if intent.marker:
        selector = Selector(marker=intent.marker)
    elif intent.path:
        selector = Selector(path=intent.path, doc=intent.doc)
    else:
        selector = Selector(image=intent.image)
    common = {"image": intent.image, "rename": intent.rename, "insert": bool(intent.files)}
    if intent.pin == "digest" and intent.digest:
        return Edit(selector, tag=None, digest=intent.digest, clear_digest=False, **common)
    if intent.pin == "tag+digest" and intent.digest:
        return Edit(selector, tag=intent.tag, digest=intent.digest, clear_digest=False, **common)
    return Edit(selector, tag=intent.tag, digest=None, clear_digest=True, **common)


def edit_intent(text: str, path: str, intent: UpdateIntent) -> EditResult:
    """Apply one intent to one file. An intent of a Docker variant (``intent.variant``) edits only
    references whose tag is of that variant, or is no version at all: ``7.4.2-alpine`` never
    replaces ``7.4.1`` or ``7.4.1-slim``, and ``7.4.2`` never replaces ``7.4.1-alpine``. The
    common case (every selected reference fits) costs one edit; a file mixing variants is scanned
    and edited reference by reference."""
    edit = edit_for(intent)
    result = engine.edit(text, path, [edit])
    if all(_fits(c.old, intent) for c in result.changes):
        return result
    refs = engine.select(engine.scan(text, path), edit.selector)
    fitting = [r for r in refs if _ref_fits(r.tag, intent)]
    if not fitting:
        # found, but of another variant or (pr.separate_major) another major: not "unmatched"
        return EditResult(text, matched=len(refs) if intent.lane is not None else 0)
    edits = [dataclasses.replace(edit, selector=Selector(path=r.path, doc=r.doc)) for r in fitting]
    return engine.edit(text, path, edits)


def _fits(old: str, intent: UpdateIntent) -> bool:
    """Whether a reference now at ``old`` takes the intent: its variant, and its lane's major."""
    return _ref_fits(tag_of(old), intent)


def _ref_fits(tag: str | None, intent: UpdateIntent) -> bool:
    if not majors.fits(intent, tag):
        return False
    if intent.variant is None or tag is None:
        return True
    found = version_variant(tag, variants=True)
    return found is None or found == intent.variant


def _text(raw: bytes | None, path: str, ref: str) -> str:
    if raw is None:
        raise ManifestError(f"file does not exist on the base branch ({ref[:12]})", file=path)
    BAD_FILES.check(raw, path)  # over the YAML budget before and unchanged: refused at once
    return engine.load_text(raw, path)


@dataclass
class _Applied:
    """The group's edits so far: path → (base bytes, base text, edited text); and, in files more
    than one intent of an image reaches, the spans of the references each one owns."""

    texts: dict[str, tuple[bytes, str, str]] = dataclasses.field(default_factory=dict)
    changes: list[Change] = dataclasses.field(default_factory=list)
    rows: list[Row] = dataclasses.field(default_factory=list)
    owned: dict[str, list[tuple[int, int]]] = dataclasses.field(default_factory=dict)
    contended: set[str] = dataclasses.field(default_factory=set)
    #: per file, the marks of the references versions landed at (``bot.core.floors``)
    floors: Mapping[str, Mapping[Spot, Floor]] = dataclasses.field(default_factory=dict)
    #: target keys a pin holds: a person's choice, never kept below a reference's mark
    exempt: frozenset[str] = frozenset()
    landed: dict[Ref, Floor] = dataclasses.field(default_factory=dict)

    def floors_against(self, path: str, intent: UpdateIntent) -> dict[Spot, Floor]:
        """The marks of ``path`` that keep ``intent`` from some of its references (none: {})."""
        if intent.target_key in self.exempt:
            return {}
        found = self.floors.get(path, {})
        return {k: f for k, f in found.items() if f.blocks(intent)}


def outranks(a: UpdateIntent, b: UpdateIntent) -> bool:
    """Whether ``a``'s version wins over ``b``'s where both reach one reference: the higher key of
    one ordering scheme, as the merge decides within one target; across schemes, or when either is
    a rollback (a person's choice), the later decision."""
    if a.ordering_scheme == b.ordering_scheme and not (a.rollback or b.rollback):
        return comparable(a.ordering_key) > comparable(b.ordering_key)
    return (a.origin.received_at or "") > (b.origin.received_at or "")


_Resolved = tuple[UpdateIntent, list[str]]


def _ranked(resolved: Sequence[_Resolved]) -> list[_Resolved]:
    """The intents (with their files) in their order, each image's winners first: where intents
    of several targets reach one reference, the first one owns it."""

    def order(a: _Resolved, b: _Resolved) -> int:
        return -1 if outranks(a[0], b[0]) else 1 if outranks(b[0], a[0]) else 0

    by_image: dict[str, list[_Resolved]] = {}
    for pair in resolved:
        by_image.setdefault(canonical_name(pair[0].image), []).append(pair)
    return [pair for same in by_image.values() for pair in sorted(same, key=cmp_to_key(order))]


def _contended(resolved: Sequence[_Resolved]) -> set[str]:
    """Files that more than one intent of one image (and variant) reaches."""
    seen: dict[tuple[str, str, str], int] = {}
    for intent, paths in resolved:
        for path in paths:
            key = (path, canonical_name(intent.image), intent.variant or "")
            seen[key] = seen.get(key, 0) + 1
    return {path for (path, _, _), n in seen.items() if n > 1}


def _owned_edit(
    text: str,
    original: str,
    path: str,
    intent: UpdateIntent,
    owned: list[tuple[int, int]],
    *,
    above: Mapping[Spot, Floor] | None = None,
) -> tuple[EditResult, list[Floor]]:
    """Edit only the references of ``intent`` no higher-ranked intent took (found on the base text,
    whose paths the edits so far keep) and none of whose marks (``above``) is higher; take them.
    Also the marks that kept it from references."""
    edit = edit_for(intent)
    refs = engine.select(engine.scan(original, path), edit.selector)
    if intent.variant is not None or intent.lane is not None:
        refs = [r for r in refs if _ref_fits(r.tag, intent)]
    kept: list[Floor] = []

    def free(ref: Reference) -> bool:
        if any(_overlaps(span, taken) for span in ref.spans for taken in owned):
            return False
        over = refmarks.covering(above, ref) if above else []
        kept.extend(over)
        return not over

    mine = [r for r in refs if free(r)]
    owned.extend(span for r in mine for span in r.spans)
    if len(mine) == len(refs):
        return edit_intent(text, path, intent), kept
    if not mine:
        return EditResult(text, matched=len(refs)), kept
    edits = [dataclasses.replace(edit, selector=Selector(path=r.path, doc=r.doc)) for r in mine]
    result = engine.edit(text, path, edits)
    return dataclasses.replace(result, matched=len(refs)), kept


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _apply_intent(
    intent: UpdateIntent,
    paths: list[str],
    raws: dict[str, bytes | None],
    base_sha: str,
    done: _Applied,
) -> tuple[int, list[ManifestError], list[tuple[str, Floor]]]:
    """Apply one intent on top of ``done``, file by file: a file that cannot be read or edited
    safely stays as it is and its error is returned; return how many references matched, and
    the marks that kept it from references of a higher version."""
    matched = 0
    failed: list[ManifestError] = []
    kept: list[tuple[str, Floor]] = []
    for path in paths:
        try:
            if path not in done.texts:
                text = _text(raws[path], path, base_sha)
                done.texts[path] = (raws[path] or b"", text, text)
            raw, original, current = done.texts[path]
            above = done.floors_against(path, intent)
            try:
                if path in done.contended or above:
                    owned = done.owned.setdefault(path, []) if path in done.contended else []
                    result, over = _owned_edit(current, original, path, intent, owned, above=above)
                    kept.extend((path, f) for f in over)
                else:
                    result = edit_intent(current, path, intent)
            except BudgetExceeded as exc:
                BAD_FILES.remember(raw, exc)
                raise
        except ManifestError as exc:
            failed.append(exc)
            continue
        for note in result.skipped:
            log.info("%s: %s", intent.group_key, note)
        matched += result.matched
        done.texts[path] = (raw, original, result.text)
        done.changes.extend(result.changes)
        done.rows.extend(Row(c.file, intent.image, c.old, c.new, intent.digest) for c in result.changes)
        if intent.target_key not in done.exempt:
            done.landed.update(refmarks.written(intent, result.changes))
    return matched, failed, kept


def desired_state(
    forge: Forge,
    intents: Sequence[UpdateIntent],
    base_sha: str,
    *,
    cache: ScanCache | None = None,
    floors: FloorReader | None = None,
    exempt: frozenset[str] = frozenset(),
) -> Desired:
    """Apply ``intents`` to the files at ``base_sha``; a file an intent cannot read or edit safely
    is left as it is and reported (``Desired.failed``/``problems``), every other edit is made.
    When nothing changes and some edit failed, its ManifestError/UnsafeEdit propagates (nothing to
    publish). Where intents of several targets (overlapping rules) reach one reference, the
    highest version owns it (``outranks``): each reference is written once, by one intent; and
    never below its mark (``floors``: ``bot.core.floors``), unless a pin holds the intent's
    target (``exempt``) or it is a rollback.

    Every file any intent resolves to is read up front in one ``read_many`` (one forge call where
    the forge batches reads), then edited in memory, intent by intent."""
    resolved = [(intent, resolve_files(forge, intent, base_sha, cache=cache)) for intent in intents]
    by_repo: dict[str, list[str]] = {}
    for intent, paths in resolved:
        by_repo.setdefault(intent.repo, []).extend(paths)
    raws = {repo: read_many(forge, repo, paths, base_sha) for repo, paths in by_repo.items()}
    reached = [path for _, paths in resolved for path in paths]
    marks = floors(reached) if floors is not None and reached else {}
    done = _Applied(contended=_contended(resolved), floors=marks, exempt=exempt)
    below: list[tuple[UpdateIntent, str, Floor]] = []
    unmatched: list[str] = []
    problems: list[str] = []
    failed: list[ManifestError] = []
    written: list[UpdateIntent] = []
    quiet: list[tuple[UpdateIntent, list[str]]] = []  # matched, wrote nothing, no error, no mark
    for intent, paths in _ranked(resolved):
        for path, err in skipped_in_lane(forge, intent, base_sha, cache=cache).items():
            if isinstance(err, BudgetExceeded):
                problems.append(f"{intent.image}: skipped {path}: {err.reason}")
        before = len(done.changes)
        matched, errors, kept = _apply_intent(intent, paths, raws[intent.repo], base_sha, done)
        if len(done.changes) > before:
            written.append(intent)
        elif kept and not errors:
            path, floor = max(kept, key=lambda pair: comparable(pair[1].mark.key))
            below.append((intent, path, floor))
        elif matched and not errors:
            quiet.append((intent, paths))
        failed.extend(errors)
        problems.extend(f"{intent.image} not updated: {exc}" for exc in errors)
        if matched == 0 and not errors:
            unmatched.append(intent.image)
    contents = {}
    for path, (raw, original, edited) in sorted(done.texts.items()):
        if edited != original:
            keep_bom = raw.startswith(_BOM.encode()) and not edited.startswith(_BOM)
            contents[path] = ((_BOM if keep_bom else "") + edited).encode("utf-8")
    if failed and not contents:
        raise failed[0]
    reaches = {id(i): set(paths) for i, paths in resolved}
    covered: dict[str, UpdateIntent] = {}
    for intent, paths in quiet:
        for owner in written:  # highest-ranked first
            same_image = canonical_name(owner.image) == canonical_name(intent.image)
            if same_image and reaches[id(owner)] & set(paths):
                covered.setdefault(intent.target_key, owner)
    return Desired(
        contents,
        tuple(done.changes),
        tuple(done.rows),
        tuple(unmatched),
        tuple(dict.fromkeys(problems)),
        tuple(failed),
        tuple(written),
        done.landed,
        tuple(below),
        covered,
    )
