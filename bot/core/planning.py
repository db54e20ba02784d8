"""The planner: one event + the routing config → update intents, or the reasons there are none (pure).

``plan`` handles registry pushes (``ImagePushed``) and finished CI runs (``CiFinished``); every
other event kind plans nothing, and no event reaches a ``promote_only`` environment.
``plan_for_environment`` serves promote and rollback (chat-ops and automatic).
Each intent carries an ordering key (see ``bot.core.versions``) so that a late, older build can
never replace a newer one; only a rollback intent may go backwards.

The planner asks no registry. An event intent carries what the registry must confirm before it is
merged (``bot.services.registry_gate``): ``verify`` (the tag must exist), a digest the pin mode
needs and the event lacks (CI events never carry one), and, for a target following a mutable tag's
digest (policy ``digest``), the scheme ``digest``: one constant key per tag, so only a new digest
is news. Promote and rollback intents carry the same (their callers ask the registry before
merging, as for an event). ``poll_tags`` chooses what a registry poll plans, through the same
policy checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from bot.core.chart_names import OCI, is_chart
from bot.core.config.model import POLL_UNORDERED, CiMatch, Config, Policy, Rule, Target, canonical
from bot.core.events import CiFinished, Event, ImagePushed
from bot.core.images import canonical_name, validate_tag
from bot.core.intents import OrderingKey, Origin, PlanResult, Skip, UpdateIntent
from bot.core.keys import GroupKey
from bot.core.lanes import discovery_lanes
from bot.core.majors import lanes
from bot.core.merge import comparable
from bot.core.rule_index import push_rules_for, rules_for
from bot.core.versions import (
    OrderingChoice,
    Scheme,
    Unorderable,
    choose_scheme,
    comparable_tag,
    ordering_key,
    version_variant,
)
from bot.errors import InvalidReference

_UNSAFE_TAG_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
#: CI statuses (``bot.core.events.CI_STATUSES``) that mean the run failed; the others (cancelled,
#: skipped, neutral…) did not succeed
_FAILED = frozenset({"failure", "timed_out"})
#: the ordering scheme of a target following a tag's digest: one key per tag, a new digest is news
DIGEST_SCHEME = "digest"


@dataclass(frozen=True, slots=True)
class _Version:
    """What one event says about an image, before any target's policy is applied."""

    image: str  # canonical
    tag: str | None
    digest: str | None
    origin: Origin
    run_number: int | None = None
    run_id: int | str | None = None
    when: str | None = None


def plan(
    event: Event, config: Config, *, delivery_id: str | None = None, received_at: str | None = None
) -> PlanResult:
    """Intents for every target the event reaches, and a Skip for each one it does not."""
    if isinstance(event, ImagePushed):
        return _plan_push(event, config, delivery_id, received_at)
    if isinstance(event, CiFinished):
        return _plan_ci(event, config, delivery_id, received_at)
    return PlanResult(skips=(Skip(f"{event.kind} events do not update images"),))


def reach(event: Event, config: Config) -> set[tuple[str, str, str]]:
    """(forge, repo, branch) of every target a rule matching ``event`` has: where a manifest repo's
    own file may change what ``plan`` decides, so it is read before planning."""
    rules: Sequence[Rule]
    if isinstance(event, ImagePushed):
        rules = [rule for name in pushed_names(event) for rule in push_rules_for(config, name)]
    elif isinstance(event, CiFinished) and event.status == "success":
        rules = [r for r in config.rules if r.ci is not None and _ci_matches(r, event)]
    else:
        return set()
    return {
        (t.forge, t.repo, t.branch)
        for r in rules
        for t in r.targets
        if not config.promote_only(t.environment)
    }


def pushed_names(event: ImagePushed) -> tuple[str, ...]:
    """What a registry push may be: the image, and the OCI chart of the same repository (a Helm
    chart pushed to an OCI registry is an OCI artifact its notifications cannot tell from an
    image; the registry gate asks its config). A push that names a chart key is that chart only."""
    if is_chart(event.image):
        return (canonical_name(event.image),)
    image = canonical_name(event.image)
    return (image, OCI + image)


def _plan_push(
    event: ImagePushed, config: Config, delivery_id: str | None, received: str | None
) -> PlanResult:
    origin = Origin(delivery_id=delivery_id, source=event.source, received_at=received)
    names = pushed_names(event)
    pairs = [
        (rule, _Version(name, event.tag, event.digest, origin, when=event.pushed_at or received))
        for name in names
        for rule in push_rules_for(config, name)
    ]
    if not pairs:
        return PlanResult(skips=(Skip(f"no rule routes {names[0]}", image=names[0], tag=event.tag),))
    return _collect(config, pairs)


def _plan_ci(event: CiFinished, config: Config, delivery_id: str | None, received: str | None) -> PlanResult:
    what = f"CI run for {event.repo}" + (f"@{event.sha[:7]}" if event.sha else f" ({event.run_id})")
    if event.status != "success":
        outcome = "failed" if event.status in _FAILED else "did not succeed"
        return PlanResult(skips=(Skip(f"{what} {outcome} (status {event.status!r}); nothing to update"),))
    rules = [r for r in config.rules if r.ci is not None and _ci_matches(r, event)]
    if not rules:
        where = f"branch {event.branch!r}" if event.branch else f"tag {event.tag!r}"
        return PlanResult(skips=(Skip(f"no rule matches {what} ({where}, workflow {event.workflow!r})"),))
    origin = Origin(
        delivery_id=delivery_id,
        source=event.forge,
        link=event.link,
        commit=event.sha,
        app_repo=event.repo,
        received_at=received,
    )
    pairs: list[tuple[Rule, _Version]] = []
    skips: list[Skip] = []
    when = event.finished_at or received
    for rule in rules:
        assert rule.ci is not None
        try:
            tag = render_tag(rule.ci.tag, event)
            images = ci_images(rule.ci, event)
        except ValueError as exc:
            skips.append(Skip(str(exc), rule=rule.name))
            continue
        for image in images:
            pairs.append((rule, _Version(image, tag, None, origin, event.run_number, event.run_id, when)))
    result = _collect(config, pairs)
    return PlanResult(result.intents, (*skips, *result.skips))


def _ci_matches(rule: Rule, event: CiFinished) -> bool:
    ci = rule.ci
    if ci is None or ci.repo.lower() != event.repo.lower():
        return False
    if ci.forge is not None and ci.forge != event.forge:
        return False
    if ci.workflows and not any(fnmatchcase(event.workflow or "", w) for w in ci.workflows):
        return False
    if ci.jobs and not any(fnmatchcase(job, j) for job in event.jobs for j in ci.jobs):
        return False
    if event.branch is not None:
        return any(fnmatchcase(event.branch, b) for b in ci.branches)
    if event.tag is not None:
        return any(fnmatchcase(event.tag, t) for t in ci.tags)
    return "*" in ci.branches  # a run naming no ref (CDEvents without customData): rules open to any branch


def ci_images(ci: CiMatch, event: CiFinished) -> list[str]:
    """Canonical names of the images a matching run built: ``images``, or ``image`` with
    ``{workflow}`` / ``{job}`` filled (one per successful job matching ``jobs``). ValueError says
    what the event lacks or which name is not a valid image."""
    if ci.images:
        return [canonical(i) for i in ci.images]
    assert ci.image is not None
    template = ci.image
    workflow = ""
    if "{workflow}" in template:
        if not event.workflow:
            raise ValueError(f"image {template!r} needs {{workflow}}, which this CI event lacks")
        workflow = _captured(event.workflow, ci.workflows)
    jobs = [""]
    if "{job}" in template:
        jobs = [_captured(j, ci.jobs) for j in event.jobs if any(fnmatchcase(j, g) for g in ci.jobs)]
    out = []
    for job in dict.fromkeys(jobs):
        name = template.format(workflow=workflow, job=job)
        try:
            out.append(canonical_name(name))
        except InvalidReference as exc:
            raise ValueError(f"image {template!r} gave {name!r}, not an image name: {exc}") from None
    return out


_NAME_CHARS = re.compile(r"[^a-z0-9._-]+")


def _captured(name: str, globs: tuple[str, ...]) -> str:
    """What the ``*`` of the first glob matching ``name`` matched (the whole name when the glob
    has no single ``*``), lower-cased, other characters than an image path allows made ``-``."""
    part = name
    for glob in globs:
        if fnmatchcase(name, glob):
            if glob.count("*") == 1 and not any(c in glob for c in "?["):
                head, tail = glob.split("*")
                part = name[len(head) : len(name) - len(tail)]
            break
    return _NAME_CHARS.sub("-", part.lower()).strip("-._")


def _safe(value: str) -> str:
    """Branch names may hold '/' and other characters a docker tag cannot: they become '-'."""
    return _UNSAFE_TAG_CHARS.sub("-", value)


def render_tag(template: str, event: CiFinished) -> str:
    """Fill ``{sha} {short_sha} {branch} {run_number} {run_id} {ref_name}``; ValueError explains."""
    ref_name = event.tag or event.branch
    values = {
        "sha": event.sha,
        "short_sha": event.sha[:7] if event.sha else None,
        "branch": _safe(event.branch) if event.branch else None,
        "run_number": event.run_number,
        "run_id": event.run_id,
        "ref_name": _safe(ref_name) if ref_name else None,
    }
    missing = [k for k, v in values.items() if v is None and "{" + k + "}" in template]
    if missing:
        raise ValueError(f"tag template {template!r} needs {{{missing[0]}}}, which this CI event lacks")
    tag = template.format(**{k: "" if v is None else str(v) for k, v in values.items()})
    try:
        return validate_tag(tag)
    except InvalidReference as exc:
        raise ValueError(f"tag template {template!r} gave an invalid tag: {exc}") from None


def _collect(config: Config, pairs: list[tuple[Rule, _Version]]) -> PlanResult:
    """Apply each rule's targets; the first rule to reach a target wins it."""
    intents: list[UpdateIntent] = []
    skips: list[Skip] = []
    claimed: dict[tuple[str, str], str] = {}
    for rule, version in pairs:
        for target in rule.targets:
            if config.promote_only(target.environment):
                reason = (
                    f"environment {target.environment!r} is promote-only: only promote and rollback change it"
                )
                skips.append(Skip(reason, rule=rule.name, target=target.label()))
                continue
            outcome = _intent(config, rule, target, version)
            if isinstance(outcome, Skip):
                skips.append(outcome)
                continue
            for intent in _split(config, rule, target, outcome):
                key = (intent.group_key, intent.target_key)
                if key in claimed:
                    reason = f"target already planned by rule {claimed[key]!r}"
                    skips.append(Skip(reason, rule=rule.name, target=target.label()))
                    continue
                claimed[key] = rule.name
                intents.append(intent)
    return PlanResult(tuple(intents), tuple(skips))


def _split(config: Config, rule: Rule, target: Target, intent: UpdateIntent) -> tuple[UpdateIntent, ...]:
    """The intent in each group it goes to: with ``pr.separate_major``, its own and
    ``<group>-major`` (``bot.core.majors``)."""
    if intent.rollback or not config.separates_major(rule, target):
        return (intent,)
    return lanes(intent, variants=config.policy_for(rule, target).variants)


def _pin_problem(pin: str, tag: str | None, digest: str | None) -> str | None:
    """Why the version cannot be written in this pin mode (a missing digest of a tag is asked from
    the registry before merging)."""
    if pin in ("tag", "tag+digest") and tag is None:
        return f"pin {pin!r} needs a tag; this event carries only a digest"
    if pin in ("digest", "tag+digest") and digest is None and tag is None:
        return f"pin {pin!r} needs a digest; this event carries none"
    return None


def _followed(policy: Policy, version: _Version) -> _Version:
    """A target following a tag's digest: a push of the image by digest alone stands for "where does
    the tag point now?"; the registry answers that (the event's digest may belong to another tag)."""
    if policy.digest is not None and version.tag is None:
        return replace(version, tag=policy.digest, digest=None)
    return version


def _intent(
    config: Config,
    rule: Rule,
    target: Target,
    version: _Version,
    *,
    rollback: bool = False,
    chatops: bool = False,
    ordering: tuple[Scheme, OrderingKey] | None = None,
) -> UpdateIntent | Skip:
    policy = config.policy_for(rule, target)

    def skip(reason: str) -> Skip:
        return Skip(reason, rule=rule.name, target=target.label(), image=version.image, tag=version.tag)

    if not chatops:
        version = _followed(policy, version)
    pin = policy.effective_pin
    problem = _pin_problem(pin, version.tag, version.digest)
    if problem is None and version.tag is not None and not rollback:
        problem = policy.rejection(version.tag)
    where = _where(config, target, version.image)
    if problem is None and isinstance(where, str):
        problem = where
    if problem is not None:
        return skip(problem)
    assert not isinstance(where, str)
    if ordering is None and policy.digest is not None:
        ordering = (DIGEST_SCHEME, (policy.digest,))  # type: ignore[assignment]
    if ordering is None:
        try:
            ordering = _policy_order(policy, version, fallback=chatops)
        except Unorderable as exc:
            if not rollback:
                return skip(str(exc))
            ordering = ("push-time", ())  # a rollback does not compete on order
    follows = policy.digest is not None
    return UpdateIntent(
        forge=target.forge,
        repo=target.repo,
        base_branch=target.branch,
        group=target.group_name,
        environment=target.environment,
        files=target.files,
        image=version.image,
        tag=version.tag,  # with pin 'digest': shown in the PR and asked of the registry, not written
        digest=version.digest,  # known: shown in the PR; written only when the pin mode says so
        ordering_scheme=ordering[0],
        ordering_key=ordering[1],
        pin=pin,
        marker=target.marker,
        path=target.path,
        doc=target.doc,
        rollback=rollback,
        allow_scheme_change=policy.allow_scheme_change or _explicit(policy) or follows,
        rename=rule.rename,
        discover_include=where[0],
        exclude=where[1],
        verify=policy.verify,
        min_age_s=0.0 if chatops or rollback else policy.min_release_age or 0.0,
        platforms=() if chatops or rollback else policy.platforms,
        origin=version.origin,
        variant=version_variant(version.tag, variants=policy.variants),
    )


def _where(config: Config, target: Target, image: str) -> tuple[tuple[str, ...], tuple[str, ...]] | str:
    """Where a target's intent for ``image`` searches and never edits (discovery includes, exclude
    globs with the other environments' lanes), or why it may not discover at all."""
    lanes = discovery_lanes(config, target, image)
    if isinstance(lanes, str):
        return lanes
    return (() if target.files else target.discover.include), (*target.discover.exclude, *lanes)


def placed(config: Config, intent: UpdateIntent) -> UpdateIntent:
    """``intent`` searching where its target does in ``config`` now: an intent stores *what* is
    wanted, and the reconcile takes *where* (discovery includes, excludes, lanes) from the current
    config, so a fixed config applies to versions merged before it. The target is the group's
    target for the image with the same selector (files, marker, path); an intent none matches, or
    whose target may not discover any more, is returned as it is."""
    for rule, target in config.group_targets(GroupKey.parse(intent.group_key)):
        same = (target.files, target.marker, target.path, target.doc) == (
            intent.files,
            intent.marker,
            intent.path,
            intent.doc,
        )
        if same and rule.matches_image(intent.image):
            where = _where(config, target, intent.image)
            if isinstance(where, str):
                return intent
            if (intent.discover_include, intent.exclude) == where:
                return intent
            return replace(intent, discover_include=where[0], exclude=where[1])
    return intent


def _explicit(policy: Policy) -> bool:
    """Whether the operator chose the ordering (``ordering`` or ``order``): changing it is allowed."""
    return policy.ordering != "auto" or policy.order is not None


def _policy_order(policy: Policy, version: _Version, *, fallback: bool) -> tuple[Scheme, OrderingKey]:
    """The version's (scheme, key) under the policy: ``order`` (by the ``extract``ed part) when set,
    else ``ordering``."""
    tag_order = policy.tag_order
    if tag_order is None:
        return _order(policy.ordering, version, fallback=fallback, variants=policy.variants)
    if version.tag is None:
        raise Unorderable(f"order {tag_order.by} needs a tag; this event has only a digest")
    return tag_order.scheme, tag_order.key(version.tag)  # type: ignore[return-value]


def _order(
    choice: OrderingChoice, version: _Version, *, fallback: bool, variants: bool
) -> tuple[Scheme, OrderingKey]:
    """The version's (scheme, key); a variant tag by its version. With ``fallback`` (chat-ops: no
    CI run at hand), a scheme the tag alone cannot satisfy falls back to the request's time."""
    tag = comparable_tag(version.tag, variants=variants)
    scheme = choose_scheme(choice, tag, run_number=version.run_number, run_id=version.run_id)
    run, when = version.run_number, version.when
    try:
        return scheme, ordering_key(scheme, tag, run_number=run, run_id=version.run_id, when=when)
    except Unorderable:
        if not fallback or scheme == "push-time":
            raise
    return "push-time", ordering_key("push-time", None, when=when)


def plan_for_environment(
    config: Config,
    image: str,
    tag: str | None,
    digest: str | None,
    environment: str,
    *,
    origin: Origin,
    rollback: bool = False,
    ordering: tuple[Scheme, OrderingKey] | None = None,
) -> PlanResult:
    """Intents putting ``image`` at ``tag``/``digest`` in every target of ``environment``.

    Promote applies the target's policy (a denied tag is not promoted). Rollback is an explicit
    human choice of a known version: it skips the tag filters and is marked ``rollback=True``.
    ``ordering`` carries the key of the version being promoted (from the source environment's
    intent); without it the key is computed from the tag, falling back to the origin's time.
    """
    name = canonical_name(image)
    pairs = [
        (rule, target)
        for rule in rules_for(config, name)
        for target in rule.targets
        if target.environment == environment
    ]
    if not pairs:
        return PlanResult(skips=(Skip(f"no target for {name} in environment {environment!r}"),))
    version = _Version(name, tag, digest, origin, when=origin.received_at)
    intents: list[UpdateIntent] = []
    skips: list[Skip] = []
    seen: set[tuple[str, str]] = set()
    for rule, target in pairs:
        outcome = _intent(config, rule, target, version, rollback=rollback, chatops=True, ordering=ordering)
        if isinstance(outcome, Skip):
            skips.append(outcome)
            continue
        for intent in _split(config, rule, target, outcome):
            if (intent.group_key, intent.target_key) not in seen:
                seen.add((intent.group_key, intent.target_key))
                intents.append(intent)
    return PlanResult(tuple(intents), tuple(skips))


# --- polling -------------------------------------------------------------------------------------
def poll_tags(config: Config, image: str, tags: Iterable[str] | None) -> tuple[str, ...]:
    """What a registry poll of ``image`` plans as pushes: for every target of the push rules the
    image reaches, the tag it follows the digest of, or the highest of ``tags`` its policy allows
    in each Docker variant (``7.4.2-alpine`` competes only with other ``-alpine`` tags, and the
    planner writes it only where the manifest has that variant; ``None``: the tags were not listed,
    because every target follows a digest). Under ordering ``auto`` only version tags order by the
    tag alone; ``run-number`` and ``push-time`` cannot. Distinct tags, in config order."""
    name = canonical_name(image)
    listed = tuple(tags) if tags is not None else ()
    chosen: dict[str, None] = {}
    for rule in push_rules_for(config, name):
        for target in rule.targets:
            policy = config.policy_for(rule, target)
            for best in (policy.digest,) if policy.digest else _highest(policy, listed):
                chosen.setdefault(best)
    return tuple(chosen)


def needs_tag_list(config: Config, image: str) -> bool:
    """Whether a poll of ``image`` must list its tags (some target does not follow a digest)."""
    name = canonical_name(image)
    return any(
        config.policy_for(rule, target).digest is None
        for rule in push_rules_for(config, name)
        for target in rule.targets
    )


def _highest(policy: Policy, tags: Iterable[str]) -> list[str]:
    """The highest tag the policy allows in each variant (plain versions first, then variants by
    name); with variants off, one highest over all tags."""
    best: dict[str, tuple[tuple[tuple[int, int | str], ...], str]] = {}
    tag_order = policy.tag_order
    for tag in tags:
        if policy.rejection(tag) is not None:
            continue
        if tag_order is not None:  # eligible, so the key exists
            variant = version_variant(tag, variants=policy.variants) or ""
            ordered = comparable(tag_order.key(tag))
            if variant not in best or ordered > best[variant][0]:
                best[variant] = (ordered, tag)
            continue
        comparable_version = comparable_tag(tag, variants=policy.variants)
        scheme = choose_scheme(policy.ordering, comparable_version)
        if scheme in POLL_UNORDERED:
            continue
        try:
            key = comparable(ordering_key(scheme, comparable_version))
        except Unorderable:
            continue
        variant = version_variant(tag, variants=policy.variants) or ""
        if variant not in best or key > best[variant][0]:
            best[variant] = (key, tag)
    return [best[v][1] for v in sorted(best)]
