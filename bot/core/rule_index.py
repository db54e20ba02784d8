"""The rules that can match an image, looked up by its canonical name (pure).

Planning a push, choosing what a poll plans and telling discovery lanes apart all ask "which
rules route this image?". Asking ``Rule.matches_image`` of every rule costs images × rules;
this index answers it by one dict lookup for the rules that name one image literally (``image``,
an ``image_glob`` without wildcards, a CI rule's ``images`` or placeholder-free ``image``) and
asks ``matches_image`` only of the rules that match by pattern (globs with wildcards, regexes,
CI image templates). Answers keep config order (the first rule to reach a target wins it).

The index of a config is built once per config object (``rule_index``) and remembers the answer
for the images asked most recently.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from bot.core.config.model import Config, Rule, canonical

_GLOB_CHARS = frozenset("*?[")
#: answers remembered per index (images asked most recently)
_ANSWERS = 4096
#: indexes remembered (the central config, and merges of it with a few repo files)
_INDEXES = 16


@dataclass(frozen=True, slots=True)
class Matching:
    """The rules routing one image, in config order."""

    rules: tuple[Rule, ...]  # every rule (CI rules match the images they build)
    push: tuple[Rule, ...]  # the registry-push rules among them (no ``ci``)


def _literals(rule: Rule) -> tuple[str, ...] | None:
    """The canonical names a rule matches exactly, or None when it matches by pattern."""
    if rule.chart_key is not None:
        return (rule.chart_key,)
    if rule.chart_glob is not None:
        return None
    if rule.image is not None:
        return (canonical(rule.image),)
    if rule.image_glob is not None:
        return None if _GLOB_CHARS & set(rule.image_glob) else (rule.image_glob,)
    if rule.ci is not None:
        names = rule.ci.image_globs()
        return None if any(_GLOB_CHARS & set(n) for n in names) else names
    return None  # image_regex


class RuleIndex:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._by_name: dict[str, list[tuple[int, Rule]]] = {}
        self._patterns: list[tuple[int, Rule]] = []
        for position, rule in enumerate(config.rules):
            names = _literals(rule)
            if names is None:
                self._patterns.append((position, rule))
                continue
            for name in dict.fromkeys(names):
                self._by_name.setdefault(name, []).append((position, rule))
        self._answers: OrderedDict[str, Matching] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def pattern_rules(self) -> int:
        """How many rules are asked by pattern for every new image."""
        return len(self._patterns)

    def matching(self, image: str) -> Matching:
        """The rules routing ``image`` (any spelling)."""
        name = canonical(image)
        with self._lock:
            known = self._answers.get(name)
            if known is not None:
                self._answers.move_to_end(name)
                return known
        found = list(self._by_name.get(name, ()))
        found += [(p, r) for p, r in self._patterns if r.matches_image(name)]
        rules = tuple(r for _, r in sorted(found, key=lambda pair: pair[0]))
        answer = Matching(rules, tuple(r for r in rules if r.ci is None))
        with self._lock:
            self._answers[name] = answer
            while len(self._answers) > _ANSWERS:
                self._answers.popitem(last=False)
        return answer


_BUILT: OrderedDict[int, RuleIndex] = OrderedDict()
_BUILT_LOCK = threading.Lock()


def rule_index(config: Config) -> RuleIndex:
    """The index of ``config``, built on its first use (kept for the configs used most recently;
    an entry holds its config, so an id is never reused while it is kept)."""
    with _BUILT_LOCK:
        index = _BUILT.get(id(config))
        if index is not None and index.config is config:
            _BUILT.move_to_end(id(config))
            return index
    index = RuleIndex(config)
    with _BUILT_LOCK:
        _BUILT[id(config)] = index
        while len(_BUILT) > _INDEXES:
            _BUILT.popitem(last=False)
    return index


def rules_for(config: Config, image: str) -> tuple[Rule, ...]:
    """Every rule of ``config`` routing ``image``, CI rules included, in config order."""
    return rule_index(config).matching(image).rules


def push_rules_for(config: Config, image: str) -> tuple[Rule, ...]:
    """The registry-push rules of ``config`` routing ``image``, in config order."""
    return rule_index(config).matching(image).push
