"""Chat-ops handlers that choose versions: ignore/unignore, pin/unpin, promote, rollback."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bot.core.chatops.commands import Command, IgnoreScope
from bot.core.chatops.decisions import (
    Promotion,
    Refusal,
    Version,
    ignore_mark,
    narrow,
    next_environment,
    promotion_target,
    resolve_image,
)
from bot.core.chatops.replies import (
    Moved,
    Outcome,
    Skipped,
    not_routed_reason,
    promotion_text,
    refused_by_policy_reason,
    superseded_reason,
)
from bot.core.group_state import GroupState, IgnoreMark, Pin
from bot.core.images import canonical_name
from bot.core.intents import Origin, Skip, UpdateIntent
from bot.core.keys import GroupKey, TargetKey
from bot.core.marker import parse_marker
from bot.core.merge import MergeOutcome
from bot.core.ports import PullRequest
from bot.core.render import short_image
from bot.services.chatops.context import Context, done, environment, group_key, reconcile, update_state
from bot.services.shared_values import shared_by


# --- what this PR holds ------------------------------------------------------------------------
def pr_versions(ctx: Context) -> list[Version]:
    """The PR's versions: its group's active intents, else what its branch last applied."""
    key = group_key(ctx)
    active = ctx.deps.intents.snapshot(key).active
    if active:
        return [Version.of(i) for _, i in sorted(active.items())]
    applied = ctx.deps.groups.get(key).applied
    return [
        Version(t, TargetKey.parse(t).image, m.tag, m.digest, m.scheme, m.key)
        for t, m in sorted(applied.items())
    ]


def _same_image(a: str, b: str) -> bool:
    return canonical_name(a) == canonical_name(b)


def _images(versions: Sequence[Version]) -> list[str]:
    return sorted({v.image for v in versions})


def _close_label(number: int) -> str:
    return f" (PR #{number} closed)"


def next_env(chain: Sequence[str], env: str | None) -> str | None:
    return next_environment(chain, env)


# --- ignore ------------------------------------------------------------------------------------
def ignore(ctx: Context, command: Command) -> Outcome:
    scope = command.scope or IgnoreScope.VERSION
    chosen = narrow(pr_versions(ctx), command.image)
    if scope is IgnoreScope.IMAGE:
        chosen = [next(v for v in chosen if v.image == image) for image in _images(chosen)]
    marks = [ignore_mark(scope, v) for v in chosen]

    def add(state: GroupState) -> GroupState:
        kept = tuple(m for m in state.ignored if m not in marks)
        return dataclasses.replace(state, ignored=kept + tuple(dict.fromkeys(marks)))

    state = update_state(ctx, add)
    labels = ", ".join(dict.fromkeys(m.label for m in marks))
    return done(command, f"ignoring {labels}{_pins_kept(state, marks)}", reconcile(ctx), speak=True)


def _pins_kept(state: GroupState, marks: Sequence[IgnoreMark]) -> str:
    """What an ignore does to the pins of its images: nothing, and the reply says so."""
    pins = [p for p in (state.pin_for(i) for i in dict.fromkeys(m.image for m in marks)) if p is not None]
    if not pins:
        return ""
    held = ", ".join(f"`{short_image(p.image)}` stays pinned to `{p.tag or p.digest}`" for p in pins)
    return f"; {held}: a pin wins over ignores (`unpin` to let the ignore apply)"


def unignore(ctx: Context, command: Command) -> Outcome:
    removed: list[IgnoreMark] = []
    ignored = ctx.deps.groups.get(group_key(ctx)).state.ignored
    image = resolve_image([m.image for m in ignored], command.image) if command.image and ignored else None

    def wanted(mark: IgnoreMark) -> bool:
        if image is not None and not _same_image(mark.image, image):
            return False
        if command.scope is IgnoreScope.IMAGE:
            return mark.up_to is None
        if command.scope is IgnoreScope.VERSION:
            return mark.up_to is not None
        return True

    def drop(state: GroupState) -> GroupState:
        removed[:] = [m for m in state.ignored if wanted(m)]
        return dataclasses.replace(state, ignored=tuple(m for m in state.ignored if not wanted(m)))

    update_state(ctx, drop)
    if not removed:
        return Outcome(command, False, "nothing of that kind is ignored in this group")
    labels = ", ".join(m.label or f"`{m.image}`" for m in removed)
    return done(command, f"no longer ignoring {labels}", reconcile(ctx), speak=True)


def forget_close_ignores(ctx: Context) -> None:
    """Lift the ignores a ``close`` command recorded for this PR (``reopen`` undoes ``close``)."""
    suffix = _close_label(ctx.event.pr_number)
    update_state(
        ctx,
        lambda s: dataclasses.replace(s, ignored=tuple(m for m in s.ignored if not m.label.endswith(suffix))),
    )


def ignore_for_close(ctx: Context) -> None:
    """Ignore exactly the PR's versions (and below), labelled so ``reopen`` can lift them."""
    suffix = _close_label(ctx.event.pr_number)
    marks = tuple(
        dataclasses.replace(
            ignore_mark(IgnoreScope.VERSION, v), label=f"`{short_image(v.image)}` {v.tag}{suffix}"
        )
        for v in pr_versions(ctx)
    )
    update_state(ctx, lambda s: dataclasses.replace(s, ignored=s.ignored + marks))


# --- pin ---------------------------------------------------------------------------------------
def pin(ctx: Context, command: Command) -> Outcome:
    """Pin one of the PR's images: the one named (full or short name, ``resolve_image``), or the
    only one it has. A name the PR does not update is refused, never guessed."""
    tag = command.tag or ""
    images = _images(narrow(pr_versions(ctx), None))
    if command.image is not None:
        image = resolve_image(images, command.image)
    elif len(images) > 1:
        names = ", ".join(f"`{short_image(i)}`" for i in images)
        raise Refusal(f"this PR updates several images ({names}); say which: `pin <image>:{tag}`")
    else:
        image = images[0]

    def set_pin(state: GroupState) -> GroupState:
        others = tuple(p for p in state.pinned if not _same_image(p.image, image))
        pinned = Pin(canonical_name(image), tag, by=ctx.event.author, at=ctx.event.created_at)
        return dataclasses.replace(state, pinned=(*others, pinned))

    update_state(ctx, set_pin)
    return done(command, f"pinned `{short_image(image)}` to `{tag}`", reconcile(ctx), speak=True)


def unpin(ctx: Context, command: Command) -> Outcome:
    removed: list[Pin] = []

    pinned = ctx.deps.groups.get(group_key(ctx)).state.pinned
    if not pinned:
        return Outcome(command, False, "nothing is pinned in this group")
    wanted = resolve_image([p.image for p in pinned], command.image) if command.image else None

    def drop(state: GroupState) -> GroupState:
        removed[:] = [p for p in state.pinned if wanted is None or _same_image(p.image, wanted)]
        return dataclasses.replace(state, pinned=tuple(p for p in state.pinned if p not in removed))

    update_state(ctx, drop)
    if not removed:
        return Outcome(command, False, "nothing is pinned in this group")
    names = ", ".join(f"`{short_image(p.image)}`" for p in removed)
    return done(command, f"unpinned {names}; newer versions apply again", reconcile(ctx), speak=True)


# --- promote and rollback ----------------------------------------------------------------------
def promote_target(ctx: Context, command: Command) -> str:
    env = environment(ctx)
    record = ctx.deps.groups.get(group_key(ctx))
    chains = [
        c
        for c in (ctx.deps.chain_for(record.group), *map(ctx.deps.chain_for, _images(pr_versions(ctx))))
        if c
    ]
    return promotion_target(list(dict.fromkeys(tuple(c) for c in chains)), env, command.environment)


def _origin(ctx: Context, command: Command, *, promoted_from: str | None = None) -> Origin:
    """Who asked, on which PR; a promotion also says the environment it came from."""
    return Origin(
        source="chatops",
        delivery_id=f"comment:{ctx.event.comment_id}",
        link=ctx.pr.url if ctx.pr else None,
        actor=ctx.event.author,
        from_pr=ctx.event.pr_number,
        from_environment=promoted_from,
    )


def _apply(ctx: Context, intents: Sequence[UpdateIntent]) -> dict[str, MergeOutcome]:
    """Merge intents, reconcile each changed group; each group's merge outcome."""
    outcomes = ctx.deps.intents.merge(intents)
    for key, outcome in outcomes.items():
        if not outcome.changed:
            continue
        parsed = GroupKey.parse(key)
        if (parsed.forge, parsed.repo) == (ctx.deps.forge_name, ctx.event.repo):
            ctx.deps.reconcile(key)
        else:
            ctx.deps.enqueue_reconcile(key)
    return outcomes


def _promotable(ctx: Context, command: Command) -> list[Version]:
    """What the source environment runs, or will once this PR merges: what the PR's branch holds
    (never a version the group wants that did not reach it: held back, ignored, or overruled by a
    higher one); for a merged PR, what it brought (its marker)."""
    known = held_versions(ctx)
    if not known:
        known = [
            Version(image, image, new, None, "semver", (), None)
            for image, (_old, new) in marked_tags(ctx.pr).items()
            if new is not None
        ]
    return narrow(known, command.image)


def held_versions(ctx: Context) -> list[Version]:
    """The versions the open PR's branch holds (``GroupRecord.held``). A pinned one carries no
    ordering key (its key is the pinned-over version's): the target environment orders its tag."""
    if ctx.pr is None or ctx.pr.state != "open":
        return []
    key = group_key(ctx)
    record = ctx.deps.groups.get(key)
    if record.pr_number != ctx.pr.number:
        return []
    active = ctx.deps.intents.snapshot(key).active
    out = []
    for target, mark in sorted(record.holds.items()):
        intent = active.get(target)
        exact = intent is not None and (intent.tag, intent.digest) == (mark.tag, mark.digest)
        image = intent.image if intent is not None else TargetKey.parse(target).image
        out.append(
            Version(target, image, mark.tag, mark.digest, mark.scheme, mark.key if exact else (), intent)
        )
    # overlapping rules' targets hold one version of the image at one reference: promoted once
    once: dict[tuple[str, str | None, str | None], Version] = {}
    for version in sorted(out, key=lambda v: not v.key):  # an exact one (ordering key known) first
        once.setdefault((canonical_name(version.image), version.tag, version.digest), version)
    return [v for v in out if once[(canonical_name(v.image), v.tag, v.digest)] is v]


def _plan_skips(target: str, version: Version, skips: Sequence[Skip]) -> list[Skipped]:
    """Why the planner took ``version`` to none (or not all) of ``target``'s targets."""
    image, shown = short_image(version.image), version.tag or version.digest or "?"
    out = []
    for skip in skips:
        routed = skip.target is not None or skip.rule is not None
        why = refused_by_policy_reason(target, skip.reason) if routed else not_routed_reason(target, image)
        out.append(Skipped(image, shown, why))
    return out


def plan_promotion(ctx: Context, command: Command) -> Promotion:
    """What ``promote`` will change (worked out once per command: authorisation checks exactly
    the groups and environments the handler then writes)."""
    if command in ctx.plans:
        return ctx.plans[command]
    target = promote_target(ctx, command)
    chosen = _promotable(ctx, command)
    planned: list[UpdateIntent] = []
    skipped: list[Skipped] = []
    for v in chosen:
        ordering = (v.scheme, v.key) if v.key else None
        plan = ctx.deps.plan_for(v.image, v.tag, v.digest, target, rollback=False, ordering=ordering)
        planned += plan.intents
        skipped += _plan_skips(target, v, plan.skips)
    if not planned:
        why = "; ".join(f"`{s.image}` {s.version}: {s.reason}" for s in skipped) or "no targets"
        raise Refusal(f"nothing to promote to `{target}`: {why}")
    origin = _origin(ctx, command, promoted_from=environment(ctx) or "?")
    promotion = Promotion(
        target, tuple(chosen), tuple(dataclasses.replace(i, origin=origin) for i in planned), tuple(skipped)
    )
    ctx.plans[command] = promotion
    return promotion


def promote(ctx: Context, command: Command) -> Outcome:
    """Promote, then say what moved (with its PR) and what did not, each with the reason."""
    promotion = plan_promotion(ctx, command)
    target = promotion.target
    moved: list[Moved] = []
    skipped = list(promotion.skipped)
    confirmed = ctx.deps.confirm(promotion.intents)  # the registry has it (digests filled where pinned)
    for intent, reason in confirmed.refused:
        skipped.append(Skipped(short_image(intent.image), intent.tag or "?", reason))
    for key, outcome in _apply(ctx, confirmed.ready).items():
        record = ctx.deps.groups.get(key)
        for intent in outcome.active.values():
            version = intent.tag or intent.digest or "?"
            image = short_image(intent.image)
            also, shared = _shared(ctx, intent, image)
            moved.append(Moved(image, version, record.group, record.repo, record.pr_number, also, shared))
        for s in outcome.superseded:
            applied = record.applied.get(s.target)
            in_pr = record.pr_number if applied is not None and applied.tag == s.winner_tag else None
            image, version = short_image(s.image), s.tag or "?"
            why = superseded_reason(target, image, version, s, in_pr)
            skipped.append(Skipped(image, version, why, already=s.reason in ("older", "duplicate")))
    message, details = promotion_text(target, moved, skipped)
    note = ctx.deps.health_note(environment(ctx) or "")
    if note is not None:
        details = (*details, f"note: {note}")
    settled = not moved and all(s.already for s in skipped)  # nothing left to do: not a failure
    return Outcome(command, bool(moved) or settled, message, details, speak=True)


def _shared(ctx: Context, intent: UpdateIntent, image: str) -> tuple[tuple[str, ...], str]:
    """The other images a promoted value moves (a chart value several images read), and it."""
    if not intent.path or intent.forge != ctx.deps.forge_name:
        return (), ""
    found = shared_by(ctx.deps.forge, intent.repo, intent.base_branch, intent.files, intent.path)
    names = [short_image(r.image) for readers in found.values() for r in readers]
    others = tuple(n for n in dict.fromkeys(names) if n != image)
    return others, " ".join(f"{file} {intent.path}" for file in found)


def marked_tags(pr: PullRequest | None) -> dict[str, tuple[str | None, str | None]]:
    """canonical image → (old tag, new tag) the PR applies, from its hidden marker."""
    marker = parse_marker(pr.body) if pr is not None else None
    return marker.tags() if marker is not None else {}


def _rollback_images(
    ctx: Context, command: Command, table: dict[str, tuple[str | None, str | None]]
) -> list[str]:
    known = pr_versions(ctx)
    if known:
        return _images(narrow(known, command.image))
    if command.image is not None:  # a merged PR: its versions live only in its marker now
        return [resolve_image(list(table), command.image) if table else canonical_name(command.image)]
    if not table:
        raise Refusal("this PR shows no versions to roll back; name one: `rollback <image>:<tag>`")
    return sorted(table)


def rollback(ctx: Context, command: Command) -> Outcome:
    env = environment(ctx)
    key = group_key(ctx)
    table = marked_tags(ctx.pr)
    templates = {v.image: v.intent for v in pr_versions(ctx) if v.intent is not None}
    intents: list[UpdateIntent] = []
    for image in _rollback_images(ctx, command, table):
        tag = command.tag or table.get(canonical_name(image), (None, None))[0]
        if tag is None:
            raise Refusal(
                f"I do not know the version before this PR for `{short_image(image)}`; "
                "name it: `rollback <tag>`"
            )
        planned = (
            ctx.deps.plan_for(image, tag, None, env, rollback=True, ordering=None).intents if env else ()
        )
        mine = [i for i in planned if i.group_key == key]
        if not mine and image in templates:
            template = templates[image]
            assert template is not None
            mine = [dataclasses.replace(template, tag=tag, digest=None)]
        if not mine:
            raise Refusal(f"no target of this group takes `{short_image(image)}`")
        intents += [dataclasses.replace(i, rollback=True, origin=_origin(ctx, command)) for i in mine]
    confirmed = ctx.deps.confirm(intents)  # the registry has it (digests filled where pinned)
    if confirmed.refused:
        why = "; ".join(
            dict.fromkeys(
                f"`{short_image(i.image)}` `{i.tag}` is {reason}" for i, reason in confirmed.refused
            )
        )
        raise Refusal(f"nothing rolled back: {why}")
    intents = confirmed.ready
    _apply(ctx, intents)
    what = ", ".join(f"`{short_image(i.image)}` to `{i.tag}`" for i in {i.image: i for i in intents}.values())
    error = ctx.deps.groups.get(key).state.last_error
    return done(command, f"rolling back {what}", error, speak=True)
