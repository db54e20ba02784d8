"""Rules that overlap: two rules whose targets reach the same image reference in one file of one
repo, branch and environment (pure).

The bot writes one version there, the highest either rule's policy allows
(``bot.services.desired``: one owner per reference), so an overlap is not an error; but a rule
whose narrower policy is overruled by another rule is rarely what its author meant, so
``check-config`` and ``explain`` name both rules. From the config alone the references are the
files targets list, with the images their rules name; a checkout (``--repo-dir``) gives every
reference of every file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.config.model import Config, Rule, Target
from bot.core.globs import glob_regex, is_glob
from bot.core.images import canonical_name
from bot.core.lanes import discovery_lanes
from bot.core.rule_index import rules_for


@dataclass(frozen=True, slots=True)
class Ref:
    """An image reference in a file of a manifest repo (``marker``: its setter marker, if any)."""

    forge: str
    repo: str
    file: str
    image: str
    marker: str | None = None


@dataclass(frozen=True, slots=True)
class Overlap:
    ref: Ref
    branch: str
    environment: str | None
    rules: tuple[str, ...]  # two or more, in config order

    def describe(self) -> str:
        names = " and ".join(repr(r) for r in self.rules)
        env = f", environment {self.environment}" if self.environment else ""
        return (
            f"rules {names} both set {self.ref.image} in {self.ref.forge}:{self.ref.repo}@{self.branch} "
            f"{self.ref.file}{env}: the highest version their policies allow is written there; give "
            "one of them discover.exclude (or narrower files) if that is not what you meant"
        )


def overlaps(config: Config, refs: Iterable[Ref]) -> list[Overlap]:
    """Every reference of ``refs`` that targets of more than one rule reach, per branch and
    environment, once."""
    found: dict[tuple[Ref, str, str | None], tuple[str, ...]] = {}
    for ref in dict.fromkeys(refs):
        reached: dict[tuple[str, str | None], list[str]] = {}
        for rule in rules_for(config, ref.image):
            for target in rule.targets:
                if _reaches(config, rule, target, ref):
                    names = reached.setdefault((target.branch, target.environment), [])
                    if rule.name not in names:
                        names.append(rule.name)
        for (branch, env), names in reached.items():
            if len(names) > 1:
                found[(ref, branch, env)] = tuple(names)
    return [Overlap(ref, branch, env, names) for (ref, branch, env), names in found.items()]


def listed_refs(config: Config) -> list[Ref]:
    """The references the config alone names: each file a target lists (not a glob), with each
    image its rule names literally."""
    out: list[Ref] = []
    for rule in config.rules:
        images = _literal_images(rule)
        for target in rule.targets:
            for path in target.files:
                if not is_glob(path):
                    out.extend(
                        Ref(target.forge, target.repo, path.lstrip("/"), i, target.marker) for i in images
                    )
    return out


def _literal_images(rule: Rule) -> tuple[str, ...]:
    if rule.chart_key is not None:
        return (rule.chart_key,)
    if rule.image is not None:
        return (canonical_name(rule.image),)
    if rule.ci is not None:
        return tuple(n for n in rule.ci.image_globs() if not is_glob(n))
    return ()


def _reaches(config: Config, rule: Rule, target: Target, ref: Ref) -> bool:
    if (target.forge, target.repo) != (ref.forge, ref.repo) or config.promote_only(target.environment):
        return False
    if target.marker is not None and target.marker != ref.marker:
        return False
    path = ref.file
    if any(glob_regex(g.lstrip("/")).match(path) for g in target.discover.exclude):
        return False
    if target.files:
        return any(glob_regex(f.lstrip("/")).match(path) for f in target.files)
    lanes = discovery_lanes(config, target, ref.image)
    if isinstance(lanes, str) or any(glob_regex(g.lstrip("/")).match(path) for g in lanes):
        return False
    return any(glob_regex(g.lstrip("/")).match(path) for g in target.discover.include)
