"""A Helm repository's ``index.yaml`` read for what the bot needs: each chart's versions and
their digests.

An index is YAML (``apiVersion: v1``, ``entries: {<chart>: [{version, digest, …}, …]}``), often
megabytes (one mapping of a dozen keys per version). Loading it into Python objects costs about a
second for 5,000 versions, so it is read from libyaml's event stream instead (PyYAML's C parser
when built with it), keeping only ``entries.<chart>[].version`` and ``.digest``: nothing is built
for the rest, aliases are never expanded (an alias where a version belongs is skipped), and the
caller bounds the bytes first. A JSON index is YAML too.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from bot.errors import ValidationFailed

try:  # PyYAML built with libyaml: the C event parser
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - a PyYAML without libyaml parses in Python, slower
    _Loader = yaml.SafeLoader

#: chart → version → the chart archive's digest (``sha256:<hex>``, "" when the index gives none)
Index = Mapping[str, Mapping[str, str]]
_WANTED = frozenset({"version", "digest"})


def parse_index(
    data: bytes, what: str, *, sources: dict[str, dict[str, str]] | None = None
) -> dict[str, dict[str, str]]:
    """Every chart's versions in an ``index.yaml``; ValidationFailed when it is not one.
    ``sources``, when given, is filled with chart → version → the first of its ``sources`` URLs
    (the release notes' stand-in for an image's source label)."""
    try:
        return _walk(yaml.parse(data, Loader=_Loader), sources)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValidationFailed(f"{what}: not a Helm repository index (unreadable YAML{where})") from None


def _walk(events: object, sources: dict[str, dict[str, str]] | None) -> dict[str, dict[str, str]]:
    """Depth 1 is the top mapping, 2 ``entries``, 3 a chart's list, 4 one version's mapping."""
    charts: dict[str, dict[str, str]] = {}
    depth = 0
    key: list[str | None] = [None] * 8  # the pending key at each mapping depth (None: a key is next)
    is_map = [False] * 8
    in_entries = False
    chart = ""
    entry: dict[str, str] = {}
    scalar, mapping_start, mapping_end = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.MappingEndEvent
    sequence_start, sequence_end = yaml.SequenceStartEvent, yaml.SequenceEndEvent
    for event in events:  # type: ignore[attr-defined]
        kind = type(event)
        if kind is scalar:
            if depth and is_map[depth] and key[depth] is None:
                key[depth] = event.value
                continue
            if depth == 4 and in_entries and key[4] in _WANTED:
                entry[key[4]] = event.value  # type: ignore[index]
            elif depth == 5 and in_entries and key[4] == "sources" and not is_map[5]:
                entry.setdefault("source", event.value)
            if depth and is_map[depth]:
                key[depth] = None
        elif kind is mapping_start or kind is sequence_start:
            if depth == 7:
                raise ValidationFailed("index.yaml nests deeper than a Helm index does")
            depth += 1
            is_map[depth] = kind is mapping_start
            key[depth] = None
            if depth == 2:
                in_entries = key[1] == "entries" and kind is mapping_start
            elif depth == 3 and in_entries:
                chart = key[2] or ""
            elif depth == 4:
                entry = {}
        elif kind is mapping_end or kind is sequence_end:
            if depth == 4 and in_entries and is_map[4] and is_map[3] is False and "version" in entry:
                digest = entry.get("digest", "")
                charts.setdefault(chart, {})[entry["version"]] = f"sha256:{digest}" if _hex64(digest) else ""
                if sources is not None and "source" in entry:
                    sources.setdefault(chart, {})[entry["version"]] = entry["source"]
            depth -= 1
            if depth and is_map[depth]:
                key[depth] = None
        elif kind is yaml.AliasEvent and depth and is_map[depth]:
            key[depth] = None if key[depth] is not None else ""
    return charts


def _hex64(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
