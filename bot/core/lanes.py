"""Discovery lanes: which files a target that discovers its files must leave to the targets of
other environments in the same repository and branch (pure).

Files another environment's target lists are always theirs. A target discovering without
``discover.include`` (an *unscoped* target) also leaves the include globs of other environments'
discovering targets. Two unscoped targets of different environments discovering the same image
cannot tell their files apart: such an intent is not planned, with the reason.

The index behind this is built once per config object (the planner asks for every event).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from bot.core.config.model import Config, Rule, Target
from bot.core.rule_index import rules_for


def discovery_lanes(config: Config, target: Target, image: str) -> tuple[str, ...] | str:
    """Globs a discovering target must leave to other environments in its repo and branch, or why
    it may not discover at all.

    Files another environment's target lists are always theirs. A target discovering without
    ``discover.include`` also leaves the include globs of other environments' discovering
    targets; and when one of those discovers this image without ``include`` too, neither can
    tell its files from the other's: the intent is skipped with that reason."""
    if target.files:
        return ()
    lanes = _lanes(config)
    if unscoped(target):
        for env, rule in lanes.unscoped_others(target):
            if lanes.matches(rule, image):
                return (
                    f"environment {env or 'default'!r} also discovers {image} in "
                    f"{target.repo} without discover.include; set discover.include (or files) on these "
                    "targets so that each edits only its own files"
                )
    return lanes.claimed(target)


def unscoped(target: Target) -> bool:
    """The target discovers its files in the whole repository (no ``files``, no ``discover.include``)."""
    return not target.files and "include" not in target.discover.model_fields_set


def claimed_by_others(config: Config, target: Target) -> tuple[str, ...]:
    """Paths and globs other environments' targets in the same repo and branch list, and (for an
    unscoped target) the include globs of their discovering targets."""
    return _lanes(config).claimed(target)


class _Lanes:
    """What each environment claims in each (forge, repo, branch) of one config."""

    def __init__(self, config: Config) -> None:
        self.config = config
        #: place → environment → (listed paths and globs, include globs of scoped discovery)
        self.claims: dict[tuple[str, str, str], dict[str | None, tuple[list[str], list[str]]]] = {}
        #: place → environment → rules of its targets that discover without include
        self.unscoped: dict[tuple[str, str, str], dict[str | None, list[Rule]]] = {}
        for rule in config.rules:
            for t in rule.targets:
                place = (t.forge, t.repo, t.branch)
                files, includes = self.claims.setdefault(place, {}).setdefault(t.environment, ([], []))
                if t.files:
                    files.extend(f.lstrip("/") for f in t.files)
                elif unscoped(t):
                    self.unscoped.setdefault(place, {}).setdefault(t.environment, []).append(rule)
                else:
                    includes.extend(t.discover.include)
        self._claimed: dict[int, tuple[str, ...]] = {}

    def unscoped_others(self, target: Target) -> Iterator[tuple[str | None, Rule]]:
        for env, rules in self.unscoped.get((target.forge, target.repo, target.branch), {}).items():
            if env != target.environment:
                yield from ((env, rule) for rule in rules)

    def claimed(self, target: Target) -> tuple[str, ...]:
        known = self._claimed.get(id(target))
        if known is None:
            out: list[str] = []
            place = (target.forge, target.repo, target.branch)
            for env, (files, includes) in self.claims.get(place, {}).items():
                if env != target.environment:
                    out.extend(files)
                    out.extend(includes if unscoped(target) else ())
            known = self._claimed[id(target)] = tuple(dict.fromkeys(out))
        return known

    def matches(self, rule: Rule, image: str) -> bool:
        """``rule.matches_image(image)``, through the config's rule index."""
        return any(r is rule for r in rules_for(self.config, image))


_LANES: OrderedDict[int, _Lanes] = OrderedDict()


def _lanes(config: Config) -> _Lanes:
    """The lane index of ``config``, built once per config object (a few are kept)."""
    lanes = _LANES.get(id(config))
    if lanes is None or lanes.config is not config:
        lanes = _LANES[id(config)] = _Lanes(config)
        while len(_LANES) > 4:
            _LANES.popitem(last=False)
    return lanes
