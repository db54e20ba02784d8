"""Reconcile one update group: observe → diff → act, under the manifest repo's lock.

Level-triggered and idempotent: read the group's active intents and generation, let the PR
lifecycle service (``bot.services.lifecycle.sync_group``) make the repo match them on the
current base, record the generation as applied, and go round again while the generation moved
meanwhile. Running it twice does nothing the second time (``applied == generation`` costs one
Redis round trip and no forge call).

- The lock is never waited for (``bot.store.locks.turn``): when another worker holds it, the group
  registers as a waiter (the holder hands it back on release so the job layer wakes it at once)
  and the caller is told how long the lock may still live, for a delayed fallback run.
- ``Conflict`` (a compare-and-swap lost) means "observe again", up to ``MAX_CONFLICTS`` in a row;
  then it is treated as transient.
- Intents store *what* is wanted; *where* (discovery includes, excludes) is taken from the
  routing config in use at every sync (``placed_now``), so a fixed config and ``jobs retry`` take
  effect at once.
- A group Redis has no record of (never reconciled, or Redis lost it) is synced with
  ``rebuild=True``: when its PR's marker keeps people's decisions, they are restored first
  (``bot.services.rebuild``) and the group is observed again with them, so a push after a
  FLUSHALL never overwrites a pin, an ignore or a hold.
- ``Transient``/``RateLimited`` propagate (the job retries with backoff); a permanent ``BotError``
  is recorded on the group and commented once on its PR, then propagates.

Whether an error is worth retrying is decided once, by :func:`is_transient`: a ``BotError`` says
so itself (``permanent``: git ref and index locks, timeouts, 5xx, rate limits and lost
compare-and-swaps are not), Redis errors and timeouts are transient, anything else (a bug) is not.
The job layer asks again with backoff (``bot.jobs.dispatch``); the last error stays on the group
for the status page meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Protocol

import redis

from bot.core.floors import Floor, FloorReader, Ref
from bot.core.group_state import GroupState
from bot.core.intents import UpdateIntent
from bot.core.kept import Decisions
from bot.core.keys import GroupKey
from bot.core.merge import Mark, Superseded
from bot.core.planning import placed
from bot.core.ports import Forge, MergeMethod, PullRequest
from bot.core.render import error_comment, repo_file_comment
from bot.errors import BotError, Conflict, Transient
from bot.logs import redact
from bot.metrics import RECONCILE_RUNS, RECONCILE_SECONDS
from bot.services.auto_merge import auto_merge
from bot.services.config_source import ConfigSource
from bot.services.lifecycle import PrConfig, default_pr, sync_group
from bot.services.pr_limits import verdict as limit_verdict
from bot.services.rebuild import restore
from bot.services.release_notes import NotesSource
from bot.services.scans import ScanCache
from bot.settings import Settings
from bot.store.groups import GroupRecord, GroupStore
from bot.store.intents import IntentStore, Snapshot
from bot.store.locks import RepoLock, turn
from bot.store.pr_slots import PrSlots
from bot.store.waiting import WaitingStore

log = logging.getLogger(__name__)

MAX_ROUNDS = 10
MAX_CONFLICTS = 5


class Syncer(Protocol):
    def __call__(
        self,
        forge: Forge,
        intents: Sequence[UpdateIntent],
        *,
        state: GroupState,
        force: bool = False,
        recreate: bool = False,
        command_prefix: str = ...,
        pr_config: PrConfig = ...,
        head_branch: str | None = ...,
        cache: ScanCache | None = ...,
        decisions: Decisions | None = ...,
        rebuild: bool = ...,
        notes: NotesSource = ...,
        floors: FloorReader | None = ...,
    ) -> Any: ...


@dataclass
class ReconcileDeps:
    settings: Settings
    conn: redis.Redis
    forge_for: Callable[[str], Forge]
    #: the routing config (central file and repo files); None: defaults (tests without a config)
    config: ConfigSource | None = None
    sync: Syncer = sync_group
    #: what discovery has scanned (None: the process-wide cache, shared with no other process)
    scans: ScanCache | None = None
    #: seconds since the epoch: whether an environment's schedule is open (tests inject it)
    clock: Callable[[], float] = time.time
    #: the PR body's release notes (None: none, and the syncer is not asked for them)
    notes: NotesSource | None = None
    #: (forge, repo, PR, merge method) → the bot's wait for a PR whose forge did not take
    #: auto-merge started now (False: it was waiting already); None: no waiting (``pr.auto_merge``)
    wait_for_merge: Callable[[str, str, int, str], bool] | None = None

    @cached_property
    def intents(self) -> IntentStore:
        return IntentStore(self.conn, self.settings)

    @cached_property
    def groups(self) -> GroupStore:
        return self.intents.groups

    @cached_property
    def slots(self) -> PrSlots:
        return PrSlots(self.conn, self.settings)

    @cached_property
    def waiting(self) -> WaitingStore:
        return WaitingStore(self.conn, self.settings)


@dataclass
class Report:
    group_key: str
    deferred: bool = False  # the repo lock was held by someone else
    lock_ttl_s: float = 0.0  # with deferred: how long the holder's lock may still live
    rounds: int = 0  # how many times sync ran
    generation: int = 0  # the generation the repo now matches
    waiters: list[str] = field(default_factory=list)  # groups to wake (handed back on release)
    pr_number: int | None = None
    #: nothing written: the group's schedule is closed until then (seconds since the epoch)
    waits_until: float | None = None
    #: ``pr.auto_merge`` after a write: on (the forge took it), waiting (the bot's wait), refused
    auto_merge: str | None = None
    #: a sync opened the group's PR (it had none before): ``pr.limits`` counts it
    opened: bool = False


def repo_lock(deps: ReconcileDeps, forge: str, repo: str) -> RepoLock:
    """The write lock of one manifest repository (reconcile and chat-ops commands take it)."""
    key = deps.settings.key("lock", forge, repo)
    return RepoLock(deps.conn, key, timeout_s=deps.settings.lock_timeout_s)


def lock_for(deps: ReconcileDeps, key: GroupKey) -> RepoLock:
    """The lock of the repository a group lives in."""
    return repo_lock(deps, key.forge, key.repo)


def reconcile(
    deps: ReconcileDeps,
    group_key: str,
    *,
    force: bool = False,
    recreate: bool = False,
    on_locked: Callable[[str], None] | None = None,
    wake: Callable[[list[str]], None] | None = None,
) -> Report:
    """Take the repo lock (or queue behind it and return ``deferred``) and reconcile.
    ``on_locked`` runs once the lock is held, before the intents are read; ``wake`` gets the
    waiters handed back when the lock is released, also when the reconcile raised (without it
    they are left in ``Report.waiters``)."""
    key = GroupKey.parse(group_key)  # once: typed from here on
    lock = lock_for(deps, key)
    handed_back: list[str] = []
    with turn(lock, group_key, wake or handed_back.extend) as held:
        if not held:
            return Report(group_key, deferred=True, lock_ttl_s=lock.held_ms() / 1000)
        if on_locked is not None:
            on_locked(group_key)
        waits = None if force or recreate else closed_until(deps, key) or limited_until(deps, group_key)
        if waits is not None:
            report = Report(group_key, waits_until=waits)
        else:
            report = reconcile_locked(deps, group_key, force=force, recreate=recreate, lock=lock)
            if report.opened:  # pr.limits counts the openings
                deps.slots.opened(key.forge, key.repo, group_key, deps.clock())
    report.waiters = handed_back
    return report


def limited_until(deps: ReconcileDeps, group_key: str) -> float | None:
    """When to ask again if ``pr.limits`` keeps the group from opening its PR now (its reason and
    place in line are recorded on the group); None: reconcile now (``bot.services.pr_limits``)."""
    config = deps.config.current() if deps.config is not None else None
    found = limit_verdict(
        config, group_key, groups=deps.groups, intents=deps.intents, slots=deps.slots, now=deps.clock()
    )
    return None if found is None or found.go else found.until


def closed_until(deps: ReconcileDeps, key: GroupKey) -> float | None:
    """When the group's environment's schedule opens, if it is closed now and the group has
    versions to write (recorded on the group for the status views); None: sync now. Only
    automatic reconciles ask: a person's chat-ops command reconciles at once
    (``reconcile_locked``)."""
    config = deps.config.current() if deps.config is not None else None
    schedule = config.schedule_of(key) if config is not None else None
    if schedule is None:
        return None
    group_key = str(key)
    now = datetime.fromtimestamp(deps.clock(), UTC)
    if schedule.is_open(now) or not deps.intents.dirty(group_key):
        return None
    opens = schedule.opens_at(now).timestamp()
    if deps.groups.get(group_key).waits_until != opens:
        deps.groups.set_fields(group_key, waits_until=opens)
    return opens


def reconcile_locked(
    deps: ReconcileDeps,
    group_key: str,
    *,
    force: bool = False,
    recreate: bool = False,
    lock: RepoLock | None = None,
) -> Report:
    """Reconcile while the caller holds the repo lock (chat-ops commands call this too)."""
    report = Report(group_key)
    conflicts = 0
    while report.rounds < MAX_ROUNDS:
        snap = deps.intents.snapshot(group_key)
        report.generation = snap.applied
        if not (snap.dirty or force or recreate):
            return report
        if lock is not None and lock.lost.is_set():
            raise Transient(f"lost the lock on {lock.key} (held past its timeout)")
        try:
            report.pr_number, rebuilt = _sync_once(
                deps, group_key, snap, force=force, recreate=recreate, report=report
            )
        except Conflict as exc:
            conflicts += 1
            if conflicts >= MAX_CONFLICTS:
                raise Transient(f"the branch kept moving under us: {exc.message}") from exc
            log.info("conflict on %s (%s); observing again", group_key, exc.message)
            continue
        except BotError as exc:
            if exc.permanent:
                record_failure(deps, group_key, exc)
            raise
        report.rounds += 1
        report.generation = deps.intents.mark_applied(group_key, snap.generation)
        if not rebuilt:  # a rebuild round wrote nothing: the next one does what was asked
            force = recreate = False
    # still moving after MAX_ROUNDS: leave it dirty, the caller queues another run
    return report


def _sync_once(
    deps: ReconcileDeps, group_key: str, snap: Snapshot, *, force: bool, recreate: bool, report: Report
) -> tuple[int | None, bool]:
    """One sync of the group; (its open PR's number, whether Redis was rebuilt instead)."""
    record = deps.groups.get(group_key)
    if not snap.active:
        return record.pr_number, False  # nothing wanted (a merged PR satisfied everything)
    if record.queued is not None and record.pr_number is not None and not (force or recreate):
        # in the forge's merge queue / train: rewriting the branch would drop it from the queue;
        # the versions wait for the PR to merge or leave (a webhook bumps the group then)
        log.info("%s: PR #%s is in the %s; not rewritten", group_key, record.pr_number, record.queued)
        return record.pr_number, False
    forge = deps.forge_for(record.forge)
    intents = sorted(placed_now(deps, snap.active.values()), key=lambda i: i.target_key)
    state = waiting_state(deps, group_key, record.state)
    images = sorted({i.image for i in intents})
    pr_config = deps.config.pr_config(record.key, images) if deps.config is not None else default_pr
    started = time.perf_counter()
    extra = {"notes": deps.notes} if deps.notes is not None else {}
    try:
        result = deps.sync(
            forge,
            intents,
            state=state,
            force=force,
            recreate=recreate,
            command_prefix=deps.settings.command_prefix,
            pr_config=pr_config,
            head_branch=record.head_branch if record.pr_number is not None else None,
            cache=deps.scans,
            decisions=Decisions.of(record.state, snap.active.values(), snap.marks, record.ran),
            rebuild=not record.known,
            **extra,
            floors=deps.intents.floors.reader(group_key),
        )
    except Conflict:
        RECONCILE_RUNS.labels(outcome="conflict").inc()
        raise
    except BotError:
        RECONCILE_RUNS.labels(outcome="error").inc()
        raise
    finally:
        RECONCILE_SECONDS.observe(time.perf_counter() - started)
    RECONCILE_RUNS.labels(outcome=result.action).inc()
    if result.action == "rebuild":  # nothing was written: restore, then observe again with it
        if not restore(deps.intents, group_key, result.pr, result.found):
            deps.intents.bump(group_key)  # someone wrote the record meanwhile: go round anyway
        return record.pr_number, True
    below = _keep_floors(deps, group_key, result)
    pr = result.pr
    number = pr.number if pr is not None and result.action != "closed" and pr.state == "open" else None
    report.opened = report.opened or (record.pr_number is None and number is not None)
    applied = {t: Mark.of(i) for t, i in snap.active.items() if t not in below}
    problems: tuple[str, ...] | None = getattr(result, "problems", ())
    written: tuple[UpdateIntent, ...] | None = getattr(result, "written", None)
    notes_left_out: tuple[str, ...] | None = getattr(result, "notes_left_out", None)
    repo_file = _repo_file_notes(deps, replace(record, pr_number=number), result.base_sha)

    def change(rec: GroupRecord) -> GroupRecord:
        # one bad file fails only its intents: what failed stays recorded until a sync has none
        error = rec.state.last_error if problems is None else ("\n".join(problems) or None)
        state = rec.state if rec.state.last_error == error else replace(rec.state, last_error=error)
        return replace(
            rec,
            state=state,
            error_commented=None,
            pr_number=number,
            pr_url=pr.url if pr is not None and number is not None else None,
            head_branch=pr.head_branch if pr is not None else rec.head_branch,
            applied=applied if number is not None else {},
            held=_held(rec, written, getattr(result, "covered", {})) if number is not None else {},
            blocked=(getattr(result, "why", None) or "a person committed to the branch")
            if result.action == "blocked"
            else None,
            waits_until=None,  # written: whatever waited for the schedule is done
            limited=None if number is not None else rec.limited,  # its PR is open: no line to wait in
            base_sha=result.base_sha or rec.base_sha,  # the resync notices the base moving past it
            repo_file_problems=repo_file[0] if repo_file else rec.repo_file_problems,
            repo_file_commented=repo_file[1] if repo_file else rec.repo_file_commented,
            notes_left_out=(
                () if number is None else rec.notes_left_out if notes_left_out is None else notes_left_out
            ),
        )

    deps.groups.update(group_key, change, complete=True)  # the group's one write of the reconcile
    if pr is not None and number is not None and result.action in _WROTE and not state.hold:
        options = pr_config(result.base_sha)
        if options.auto_merge:
            tell = result.action == "opened"
            report.auto_merge = _auto_merge(
                deps, record.forge, forge, record.repo, pr=pr, method=options.merge_method, tell=tell
            )
    return number, False


def _keep_floors(deps: ReconcileDeps, group_key: str, result: Any) -> list[str]:
    """Record the marks of the references the sync wrote (landed when pushed; held until its PR
    merges) and drop the intents below another rule's landed version; the targets dropped."""
    landed: Mapping[Ref, Floor] | None = getattr(result, "landed", None)
    if result.action == "pushed" and landed:  # on the base branch now: it landed
        deps.intents.floors.raise_(group_key, landed)
    elif landed is not None:  # what the PR's branch wrote lands if it merges (none: no PR)
        open_pr = result.pr is not None and result.action != "closed" and result.pr.state == "open"
        deps.intents.floors.hold(group_key, landed if open_pr else {})
    return below_floors(deps, group_key, getattr(result, "below", ()))


#: the actions that wrote the PR's branch: the forge's auto-merge is (re)asked for after them
_WROTE = ("opened", "updated", "regenerated")


def _auto_merge(
    deps: ReconcileDeps,
    forge_name: str,
    forge: Forge,
    repo: str,
    *,
    pr: PullRequest,
    method: MergeMethod,
    tell: bool,
) -> str:
    """``pr.auto_merge``: the forge's own, else the bot's wait (``bot.services.auto_merge``)."""
    later = deps.wait_for_merge
    wait = (lambda number, how: later(forge_name, repo, number, how)) if later is not None else None
    return auto_merge(forge, repo, pr, method, wait=wait, tell=tell)


def below_floors(
    deps: ReconcileDeps, group_key: str, below: Sequence[tuple[UpdateIntent, str, Floor]]
) -> list[str]:
    """Drop the intents whose every reference already has a higher version (another rule's, that
    landed: ``bot.core.floors``), saying so in the superseded log; the targets dropped."""
    lost = [
        (
            intent,
            Superseded(
                target=intent.target_key,
                image=intent.image,
                tag=intent.tag,
                key=intent.ordering_key,
                reason="older",
                winner_tag=floor.mark.tag,
                delivery_id=intent.origin.delivery_id,
                where=path,
            ),
        )
        for intent, path, floor in below
    ]
    dropped = deps.intents.supersede(group_key, lost)
    for intent, record in lost:
        if intent.target_key in dropped:
            log.info("%s: %s %s %s", group_key, intent.image, intent.tag, record.describe())
    return dropped


def _held(
    record: GroupRecord, written: Sequence[UpdateIntent] | None, covered: Mapping[str, UpdateIntent]
) -> dict[str, Mark]:
    """What the PR's branch holds per target after a sync: the intents it wrote (pins applied),
    and at a target of an overlapping rule the version the intent that took its references wrote;
    or, when the sync left the branch as it was (a no-op, a hold), what it held before."""
    if written is None:
        return record.held
    return {
        **{t: Mark.of(owner) for t, owner in covered.items()},
        **{i.target_key: Mark.of(i) for i in written},
    }


def placed_now(deps: ReconcileDeps, intents: Iterable[UpdateIntent]) -> list[UpdateIntent]:
    """The intents searching where the routing config in use says (``bot.core.planning.placed``):
    an exclude added since they were merged applies at once."""
    if deps.config is None:
        return list(intents)
    config = deps.config.current()
    return [placed(config, i) for i in intents]


def waiting_state(deps: ReconcileDeps, group_key: str, state: GroupState) -> GroupState:
    """The group's state with the versions waiting for their registry (the PR body lists them)."""
    waiting = tuple(e.shown() for e in deps.waiting.entries(group_key))
    return replace(state, waiting=waiting) if waiting or state.waiting else state


def _repo_file_notes(
    deps: ReconcileDeps, record: GroupRecord, base_sha: str
) -> tuple[tuple[str, ...], str | None] | None:
    """What the repo's own file at ``base_sha`` asks for and cannot have, for the group (status
    page), and what was said about it: commented once per PR and set of problems on the open PR,
    forgotten once the file is fixed. ``record`` is the group as this reconcile leaves it (only
    this function decides the two fields). None without a routing config: nothing changes."""
    if deps.config is None:
        return None
    problems = deps.config.repo_problems(record.forge, record.repo, base_sha)
    text = redact(repo_file_comment(problems)) if problems else None
    said = f"{record.pr_number}:{hashlib.sha256(text.encode()).hexdigest()[:16]}" if text else None
    commented = record.repo_file_commented if problems else None
    if said is not None and text is not None and record.pr_number is not None and commented != said:
        try:
            deps.forge_for(record.forge).comment(record.repo, record.pr_number, text)
            commented = said
        except BotError as exc:  # still shown on the group; the comment is tried again next time
            log.warning("could not comment on %s#%s: %s", record.repo, record.pr_number, exc)
    return problems, commented


def is_transient(error: BaseException) -> bool:
    """The one answer to "retry this?" for a reconcile (see the module docstring)."""
    if isinstance(error, BotError):
        return not error.permanent
    return isinstance(error, redis.RedisError | TimeoutError | ConnectionError) or (
        type(error).__name__ == "JobTimeoutException"  # rq's job timeout: a slow forge, not a bug
    )


def record_transient(deps: ReconcileDeps, group_key: str, error: BaseException, *, retry_in_s: float) -> None:
    """Show a transient failure on the group (status page, PR body); no PR comment for it."""
    what = error.message if isinstance(error, BotError) else type(error).__name__
    text = f"{what} (temporary: trying again in {max(round(retry_in_s), 1)} s)"
    try:
        deps.groups.update(group_key, lambda rec: replace(rec, state=replace(rec.state, last_error=text)))
    except redis.RedisError as exc:  # the retry matters more than the note
        log.warning("could not record the error on %s: %s", group_key, type(exc).__name__)


def record_failure(
    deps: ReconcileDeps, group_key: str, error: BotError, *, comment: str | None = None
) -> None:
    """Record a permanent error on the group and comment it once on the open PR (``comment``, else
    the error's usual text)."""
    text, message = redact(comment or error_comment(error)), redact(error.message)  # stored, shown: redacted
    record = deps.groups.update(
        group_key, lambda rec: replace(rec, state=replace(rec.state, last_error=message))
    )
    if record.pr_number is None or record.error_commented == text:
        return
    try:
        deps.forge_for(record.forge).comment(record.repo, record.pr_number, text)
    except BotError as exc:  # the error stays recorded on the group; the comment is best effort
        log.warning("could not comment the error on %s#%s: %s", record.repo, record.pr_number, exc)
        return
    deps.groups.set_fields(group_key, error_commented=text)
