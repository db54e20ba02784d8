"""Registry truth before merging: a planned version is merged only once its registry has it.

Planned intents (``bot.core.planning``) say what the registry must confirm: ``verify`` (the tag
must exist), a digest the pin mode needs and the event lacks, and — for a target following a
mutable tag's digest (scheme ``digest``) — the digest the tag points at *now* (asked fresh: a late
webhook's digest may be stale). ``RegistryGate.admit`` asks (one lookup per image and tag, and a
registry that failed once is not asked again in the same batch) and sorts each intent:

- **ready**: the registry has it; the digest it answered is filled in (shown in the PR, written
  when the pin mode says so) and the intent is merged as before;
- **waiting**: the tag is not there yet, the registry did not answer (``Transient``: never a
  silent skip), or it refused anonymous access (Docker Hub answers 401, not 404, for a repository
  that does not exist yet: it may simply not be pushed yet). The intent waits in
  ``bot.store.waiting`` and ``retry`` asks again with backoff (``MANIFEST_BOT_REGISTRY_RETRY_S``,
  doubling, at most 5 minutes) until ``MANIFEST_BOT_REGISTRY_WAIT_S`` has passed; then it is
  given up with a comment on the group's PR;
- **failed**: the registry refused us for good (credentials, permissions): recorded on the group
  and commented at once;
- **not for these platforms** (``policy.platforms``): the registry has it, but its image index
  (or single image) does not list every platform required: recorded on the group and commented,
  like a refusal (one manifest request per digest, cached by the client);
- **too new** (``policy.min_release_age``): the registry has it, but it was released (the image's
  ``created``, else when the bot first saw the tag at that digest: ``bot.store.first_seen``) less
  than the minimum age ago. It waits in ``bot.store.waiting`` with the instant it becomes eligible
  (its next question then; it is never given up before that), whether or not the caller waits
  for absent tags (a poll too: the tag exists).

Nothing here holds the repo lock or sleeps: a waiting version is simply not merged, so the rest of
its group goes on; the job layer schedules the retries (``bot.jobs.registry``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from bot.core.chart_names import is_chart
from bot.core.images import canonical_name
from bot.core.intents import UpdateIntent
from bot.core.planning import DIGEST_SCHEME
from bot.core.platforms import missing
from bot.core.ports import Registry, ResolvedImage
from bot.core.release_age import age_text, eligible_at, shown
from bot.core.render import gave_up_comment, platforms_comment, registry_error_comment
from bot.errors import AnonymousDenied, BotError, NotFound, Transient, ValidationFailed
from bot.services.reconcile import ReconcileDeps, record_failure
from bot.store.first_seen import FirstSeen
from bot.store.waiting import WaitEntry, WaitingStore

log = logging.getLogger(__name__)

#: the longest wait between two questions about one waiting version
MAX_BACKOFF_S = 300.0
NOT_THERE = "the registry does not have it"
ANONYMOUS = (
    "the registry refused anonymous access, as Docker Hub does for a repository that does not exist "
    "yet (if it is private, give the bot credentials for it: MANIFEST_BOT_DOCKER_CONFIG)"
)

Lookup = ResolvedImage | BotError | None


@dataclass(frozen=True, slots=True)
class Failure:
    """A version the registry refused to confirm: recorded on its group, commented on its PR."""

    group_key: str
    error: BotError
    comment: str


@dataclass
class GateOutcome:
    ready: list[UpdateIntent] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    #: groups whose waiting versions changed (their PR body and status page show them)
    changed: set[str] = field(default_factory=set)
    #: group → when to ask its registry again
    retry_at: dict[str, float] = field(default_factory=dict)
    waiting: int = 0  # versions waiting after this call (new or still)
    dropped: int = 0  # not in the registry and not waited for (a poll plans only what exists)
    refused: int = 0  # not waited for: the group already waits for MAX_PER_GROUP versions
    asked: int = 0  # registry lookups made


@dataclass
class Confirmed:
    """What ``RegistryGate.confirm`` found: the intents the registry has (digests filled), and the
    others with why."""

    ready: list[UpdateIntent] = field(default_factory=list)
    refused: list[tuple[UpdateIntent, str]] = field(default_factory=list)
    asked: int = 0


def registry_of(image: str) -> str:
    """The registry host an image (or a chart key) lives in, as users name it (``ghcr.io``,
    ``docker.io``, a Helm repository's host)."""
    if is_chart(image):
        return image.split("://", 1)[1].split("/", 1)[0]
    return canonical_name(image).split("/", 1)[0]


def follows_digest(intent: UpdateIntent) -> bool:
    return intent.ordering_scheme == DIGEST_SCHEME


def needs_digest(intent: UpdateIntent) -> bool:
    return intent.pin in ("digest", "tag+digest") and intent.digest is None


def needs_registry(intent: UpdateIntent) -> bool:
    """Whether the registry must be asked before ``intent`` is merged (a version known only by its
    digest cannot be asked about by tag, and comes from the registry's own notification)."""
    if intent.tag is None:
        return False
    return (
        intent.verify
        or follows_digest(intent)
        or needs_digest(intent)
        or intent.min_age_s > 0
        or bool(intent.platforms)
    )


class _Lookups:
    """One question per (image, tag) per call; a registry that did not answer is not asked again."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.answers: dict[tuple[str, str, bool], Lookup] = {}
        self.released_at: dict[tuple[str, str], float | Transient | None] = {}
        self.down: dict[str, Transient] = {}
        self.asked = 0

    def get(self, image: str, tag: str, *, fresh: bool) -> Lookup:
        key = (image, tag, fresh)
        if key in self.answers:
            return self.answers[key]
        host = registry_of(image)
        if host in self.down:
            return self.down[host]
        self.asked += 1
        answer: Lookup
        try:
            answer = self.registry.resolve(image, tag, fresh=fresh)
        except Transient as exc:  # RateLimited too
            self.down[host] = exc
            answer = exc
        except BotError as exc:
            answer = exc
        self.answers[key] = answer
        return answer

    def platforms(self, image: str, digest: str) -> tuple[str, ...] | BotError | None:
        """The platforms the registry lists for the image (None: the digest is gone)."""
        host = registry_of(image)
        if host in self.down:
            return self.down[host]
        try:
            return self.registry.platforms(image, digest)
        except Transient as exc:
            self.down[host] = exc
            return exc
        except BotError as exc:
            return exc

    def released(self, image: str, digest: str) -> float | Transient | None:
        """When the registry says the image was built; None when it says nothing usable (or
        refused to say: the tag itself resolved, so its age falls back to the bot's first sight)."""
        key = (image, digest)
        if key in self.released_at:
            return self.released_at[key]
        host = registry_of(image)
        if host in self.down:
            return self.down[host]
        answer: float | Transient | None
        try:
            answer = self.registry.released(image, digest)
        except Transient as exc:
            self.down[host] = exc
            answer = exc
        except BotError as exc:
            log.warning("no release time for %s@%s: %s", image, digest, exc.message)
            answer = None
        self.released_at[key] = answer
        return answer


def _waitable(answer: Lookup) -> str | None:
    """Why a version is worth asking about again, or None when the registry refused for good."""
    if answer is None:
        return NOT_THERE
    if isinstance(answer, AnonymousDenied):
        return ANONYMOUS
    if isinstance(answer, Transient):
        return f"the registry did not answer ({answer.message})"
    return None


def _with_digest(intent: UpdateIntent, found: ResolvedImage) -> UpdateIntent:
    """The registry's digest, unless the event carried one (a followed tag: the registry's now)."""
    if (intent.digest is not None and not follows_digest(intent)) or not found.digest:
        return intent  # (a Helm repository's index may give no digest)
    return replace(intent, digest=found.digest)


def _unfit(intent: UpdateIntent, lookups: _Lookups) -> Failure | str | None:
    """``policy.platforms``: a Failure when the image (its digest known) lacks a required
    platform, a reason to wait when the registry did not say, None when it lists them all."""
    if not intent.platforms or intent.digest is None:
        return None
    listed = lookups.platforms(intent.image, intent.digest)
    if isinstance(listed, Transient):
        return f"the registry did not say which platforms it has ({listed.message})"
    if isinstance(listed, BotError):
        return _refused(intent, listed)
    absent = missing(intent.platforms, listed or ())
    if not absent:
        return None
    tag, what = intent.tag or "", f"{intent.image}:{intent.tag}"
    has = ", ".join(listed or ()) or "no platform"
    message = f"{what} is built for {has}: policy.platforms also needs {', '.join(absent)}; not written"
    comment = platforms_comment(intent.image, tag, list(listed or ()), absent)
    return Failure(intent.group_key, ValidationFailed(message), comment)


def _refused(intent: UpdateIntent, error: BotError) -> Failure:
    registry, tag = registry_of(intent.image), intent.tag or ""
    message = f"cannot verify {intent.image}:{tag} in {registry}: {error.message}"
    comment = registry_error_comment(intent.image, tag, registry, error.message)
    return Failure(intent.group_key, type(error)(message), comment)


def _gave_up(entry: WaitEntry, now: float) -> Failure:
    intent, tag = entry.intent, entry.intent.tag or ""
    waited = _duration(now - entry.since)
    what = f"{intent.image}:{tag} in {entry.registry}"
    message = f"gave up waiting for {what} after {waited}: {entry.reason}"
    comment = gave_up_comment(intent.image, tag, entry.registry, waited, entry.reason)
    return Failure(intent.group_key, NotFound(message), comment)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if minutes else f"{max(round(seconds), 1)} s"


class RegistryGate:
    def __init__(
        self,
        registry: Registry,
        store: WaitingStore,
        *,
        wait_s: float,
        retry_s: float,
        clock: Callable[[], float] = time.time,
        first_seen: FirstSeen | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.wait_s = wait_s
        self.retry_s = retry_s
        self.clock = clock
        self.first_seen = first_seen or FirstSeen(store.conn, store.settings)

    def backoff(self, attempts: int) -> float:
        return min(self.retry_s * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S)

    def admit(
        self, intents: Sequence[UpdateIntent], *, wait: bool = True, listed: Iterable[str] = ()
    ) -> GateOutcome:
        """Ask the registry about every intent that needs it. ``wait=False`` (a poll) drops what the
        registry does not have instead of waiting; ``listed`` tags were just listed, so they exist."""
        out, lookups, now = GateOutcome(), _Lookups(self.registry), self.clock()
        known = frozenset(listed)
        new: list[WaitEntry] = []
        for intent in intents:
            existing = intent.tag in known and not (
                needs_digest(intent) or follows_digest(intent) or intent.min_age_s > 0
            )
            if not needs_registry(intent) or existing:
                out.ready.append(intent)
                continue
            answer = lookups.get(intent.image, intent.tag or "", fresh=follows_digest(intent))
            if isinstance(answer, ResolvedImage):
                found = _with_digest(intent, answer)
                unfit = _unfit(found, lookups)
                if isinstance(unfit, Failure):
                    out.failures.append(unfit)
                    continue
                young = unfit or self._too_new(intent, found, lookups, now)
                if young is None:
                    out.ready.append(found)
                elif isinstance(young, str):
                    new.append(self._entry(intent, now, young))
                else:
                    new.append(young)
                continue
            reason = _waitable(answer)
            if reason is None:
                assert isinstance(answer, BotError)
                out.failures.append(_refused(intent, answer))
            elif wait:
                new.append(self._entry(intent, now, reason))
            else:
                out.dropped += 1
        self._remember(new, out)
        out.asked = lookups.asked
        return out

    def _too_new(
        self, intent: UpdateIntent, found: UpdateIntent, lookups: _Lookups, now: float
    ) -> WaitEntry | None:
        """A waiting entry for ``intent`` when ``found`` (it with the registry's digest) is younger
        than its minimum age, or its release time could not be asked; None when it may be written.
        The entry keeps ``intent`` as planned: asked again, the tag may point elsewhere."""
        if found.min_age_s <= 0 or found.tag is None or found.digest is None:
            return None
        released = lookups.released(found.image, found.digest)
        if isinstance(released, Transient):
            why = f"the registry did not say when it was built ({released.message})"
            return self._entry(intent, now, why)
        source = "built"
        if released is None:
            released, source = self.first_seen.since(found.image, found.tag, found.digest, now), "first seen"
        eligible = eligible_at(released, found.min_age_s)
        if eligible <= now:
            return None
        reason = (
            f"{source} {shown(released)}, younger than policy.min_release_age {age_text(found.min_age_s)}"
        )
        registry = registry_of(intent.image)
        return WaitEntry(intent, registry, now, eligible + self.wait_s, eligible, 1, reason, eligible)

    def confirm(self, intents: Sequence[UpdateIntent]) -> Confirmed:
        """Ask the registry about every intent that needs it, now and once, as ``admit`` does,
        for a person waiting on the answer (chat-ops ``rollback``, ``promote``): what it has comes
        back ready (the digest filled where the pin mode needs one), the rest refused with why —
        never waited for (the reply says it at once)."""
        out, lookups = Confirmed(), _Lookups(self.registry)
        for intent in intents:
            if not needs_registry(intent):
                out.ready.append(intent)
                continue
            answer = lookups.get(intent.image, intent.tag or "", fresh=follows_digest(intent))
            if isinstance(answer, ResolvedImage):
                out.ready.append(_with_digest(intent, answer))
                continue
            host = registry_of(intent.image)
            if answer is None:
                out.refused.append((intent, f"not in {host}: {NOT_THERE}"))
                continue
            reason = _waitable(answer) or (answer.message if isinstance(answer, BotError) else str(answer))
            out.refused.append((intent, f"not confirmed by {host}: {reason}"))
        out.asked = lookups.asked
        return out

    def _entry(self, intent: UpdateIntent, now: float, reason: str) -> WaitEntry:
        registry = registry_of(intent.image)
        return WaitEntry(intent, registry, now, now + self.wait_s, now + self.backoff(1), 1, reason)

    def _remember(self, new: list[WaitEntry], out: GateOutcome) -> None:
        if not new:
            return
        added, refused = self.store.add(new)
        out.waiting, out.refused = len(added), len(refused)
        for entry in added:
            out.changed.add(entry.group_key)
            soonest = out.retry_at.get(entry.group_key, entry.next_at)
            out.retry_at[entry.group_key] = min(soonest, entry.next_at)
        for entry in refused:
            image, tag = entry.intent.image, entry.intent.tag
            log.warning("not waiting for %s:%s: its group waits for too many versions already", image, tag)

    def retry(self, group_key: str) -> GateOutcome:
        """Ask again about the group's waiting versions that are due; admit, keep or give up each."""
        out, lookups, now = GateOutcome(), _Lookups(self.registry), self.clock()
        entries = self.store.entries(group_key)
        keep: list[WaitEntry] = []
        drop: list[WaitEntry] = []
        for entry in entries:
            if entry.next_at > now:
                keep.append(entry)
                continue
            intent = entry.intent
            answer = lookups.get(intent.image, intent.tag or "", fresh=True)
            if isinstance(answer, ResolvedImage):
                found = _with_digest(intent, answer)
                unfit = _unfit(found, lookups)
                if isinstance(unfit, Failure):
                    out.failures.append(unfit)
                    drop.append(entry)
                    continue
                if unfit is None:
                    young = self._too_new(intent, found, lookups, now)
                    if young is not None:  # still too new (or re-pushed since): it waits on
                        keep.append(replace(young, since=entry.since, attempts=entry.attempts + 1))
                    else:
                        out.ready.append(found)
                        drop.append(entry)
                    continue
                reason: str | None = unfit  # the registry did not say which platforms: ask again
            else:
                reason = _waitable(answer)
                if reason is None:
                    assert isinstance(answer, BotError)
                    out.failures.append(_refused(intent, answer))
                    drop.append(entry)
                    continue
            if now >= entry.until:
                out.failures.append(_gave_up(replace(entry, reason=reason), now))
                drop.append(entry)
            else:
                keep.append(entry.later(min(now + self.backoff(entry.attempts + 1), entry.until), reason))
        if drop or keep:
            self.store.update(group_key, [e for e in keep if e not in entries], drop)
        if drop:
            out.changed.add(group_key)
        if keep:
            out.retry_at[group_key] = min(e.next_at for e in keep)
        out.waiting, out.asked = len(keep), lookups.asked
        return out


def settle(deps: ReconcileDeps, outcome: GateOutcome) -> list[str]:
    """Record each failure on its group (commented once on its PR) and mark the groups whose waiting
    versions changed as needing a reconcile, so their PR body shows it; returns those groups."""
    for failure in outcome.failures:
        record_failure(deps, failure.group_key, failure.error, comment=failure.comment)
    for group_key in sorted(outcome.changed):
        deps.intents.bump(group_key)
    return sorted(outcome.changed)


@dataclass(frozen=True)
class Admission:
    """The event path's registry gate (``bot.services.events.Admit``): the intents the registry
    confirmed now, and the groups whose waiting versions changed (failures recorded on their
    groups; their retries are due in the waiting store, which the leader watches)."""

    gate: RegistryGate
    deps: ReconcileDeps

    def __call__(self, intents: list[UpdateIntent]) -> tuple[list[UpdateIntent], list[str]]:
        outcome = self.gate.admit(intents)
        return outcome.ready, self.settle(outcome)

    def settle(self, outcome: GateOutcome) -> list[str]:
        return settle(self.deps, outcome)
