"""The desired state of one group at one base commit: which files change, to what, and why.

Intents are filtered and pinned by the group's state, then applied with the surgical YAML engine
to the base files (never to the PR branch: a stale branch is regenerated, not rebased).

One bad file blocks only the intents that edit it: an intent whose files cannot be read or
edited safely contributes nothing (all of its files stay as they are) and its error is kept in
``Desired.failed``; a file discovery had to skip because it is over the YAML budget is reported
in ``Desired.problems`` for the intents whose search it was in. The other intents go ahead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core import manifests as engine
from bot.core.group_state import GroupState
from bot.core.intents import UpdateIntent
from bot.core.manifests.budget import BudgetExceeded
from bot.core.manifests.model import Change, Edit, EditResult, Selector
from bot.core.marker import tag_of
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


def effective_intents(intents: Sequence[UpdateIntent], state: GroupState) -> list[UpdateIntent]:
    """Drop ignored versions (a rollback is never ignored), apply pins, in a stable order. A pin
    holds the targets of its own Docker variant (``pin 7.4.1-alpine`` never writes into the plain
    ``7.4`` references of the image, nor ``pin 7.4.1`` into the ``-alpine`` ones)."""
    out = []
    for intent in intents:
        if state.is_ignored(intent):
            continue
        pin = state.pin_for(intent.image)
        pinned = pin is not None and not intent.rollback and _same_variant(intent, pin.tag)
        out.append(dataclasses.replace(intent, tag=pin.tag, digest=pin.digest) if pin and pinned else intent)
    return sorted(out, key=lambda i: (i.image, i.target_key))


def _same_variant(intent: UpdateIntent, tag: str | None) -> bool:
    if intent.variant is None:
        return True
    pinned = version_variant(tag, variants=True)
    return pinned is None or pinned == intent.variant


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
        "state": state.to_dict(),
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
    (never in discovered ones); a marker or path on another image is renamed only with ``rename``."""
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
    if intent.variant is None or all(_fits(c.old, intent.variant) for c in result.changes):
        return result
    refs = engine.select(engine.scan(text, path), edit.selector)
    fitting = [r for r in refs if r.tag is None or _fits(r.tag, intent.variant)]
    if not fitting:
        return EditResult(text)
    edits = [dataclasses.replace(edit, selector=Selector(path=r.path, doc=r.doc)) for r in fitting]
    return engine.edit(text, path, edits)


def _fits(old: str, variant: str) -> bool:
    found = version_variant(tag_of(old), variants=True)
    return found is None or found == variant


def _text(raw: bytes | None, path: str, ref: str) -> str:
    if raw is None:
        raise ManifestError(f"file does not exist on the base branch ({ref[:12]})", file=path)
    BAD_FILES.check(raw, path)  # over the YAML budget before and unchanged: refused at once
    return engine.load_text(raw, path)


@dataclass
class _Applied:
    """The group's edits so far: path → (base bytes, base text, edited text)."""

    texts: dict[str, tuple[bytes, str, str]] = dataclasses.field(default_factory=dict)
    changes: list[Change] = dataclasses.field(default_factory=list)
    rows: list[Row] = dataclasses.field(default_factory=list)


def _apply_intent(
    intent: UpdateIntent, paths: list[str], raws: dict[str, bytes | None], base_sha: str, done: _Applied
) -> int:
    """Apply one intent on top of ``done``, all its files or none; return how many references matched."""
    texts = dict(done.texts)
    changes: list[Change] = []
    matched = 0
    for path in paths:
        if path not in texts:
            text = _text(raws[path], path, base_sha)
            texts[path] = (raws[path] or b"", text, text)
        raw, original, current = texts[path]
        try:
            result = edit_intent(current, path, intent)
        except BudgetExceeded as exc:
            BAD_FILES.remember(raw, exc)
            raise
        for note in result.skipped:
            log.info("%s: %s", intent.group_key, note)
        matched += result.matched
        texts[path] = (raw, original, result.text)
        changes.extend(result.changes)
    done.texts = texts
    done.changes.extend(changes)
    done.rows.extend(Row(c.file, intent.image, c.old, c.new, intent.digest) for c in changes)
    return matched


def desired_state(
    forge: Forge,
    intents: Sequence[UpdateIntent],
    base_sha: str,
    *,
    cache: ScanCache | None = None,
) -> Desired:
    """Apply ``intents`` to the files at ``base_sha``; an intent that fails leaves its files alone
    and is reported (``Desired.failed``/``problems``), the others are applied. When nothing
    changes and some intent failed, its ManifestError/UnsafeEdit propagates (nothing to publish).

    Every file any intent resolves to is read up front in one ``read_many`` (one forge call where
    the forge batches reads), then edited in memory, intent by intent."""
    resolved = [(intent, resolve_files(forge, intent, base_sha, cache=cache)) for intent in intents]
    by_repo: dict[str, list[str]] = {}
    for intent, paths in resolved:
        by_repo.setdefault(intent.repo, []).extend(paths)
    raws = {repo: read_many(forge, repo, paths, base_sha) for repo, paths in by_repo.items()}
    done = _Applied()
    unmatched: list[str] = []
    problems: list[str] = []
    failed: list[ManifestError] = []
    for intent, paths in resolved:
        for path, err in skipped_in_lane(forge, intent, base_sha, cache=cache).items():
            if isinstance(err, BudgetExceeded):
                problems.append(f"{intent.image}: skipped {path}: {err.reason}")
        try:
            matched = _apply_intent(intent, paths, raws[intent.repo], base_sha, done)
        except ManifestError as exc:
            failed.append(exc)
            problems.append(f"{intent.image} not updated: {exc}")
            continue
        if matched == 0:
            unmatched.append(intent.image)
    contents = {}
    for path, (raw, original, edited) in sorted(done.texts.items()):
        if edited != original:
            keep_bom = raw.startswith(_BOM.encode()) and not edited.startswith(_BOM)
            contents[path] = ((_BOM if keep_bom else "") + edited).encode("utf-8")
    if failed and not contents:
        raise failed[0]
    return Desired(
        contents,
        tuple(done.changes),
        tuple(done.rows),
        tuple(unmatched),
        tuple(dict.fromkeys(problems)),
        tuple(failed),
    )
