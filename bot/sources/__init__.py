"""One module per webhook source, each with ``verify(headers, body, secrets)`` (raises
SignatureError) and ``parse(headers, body) -> ParseResult``; this registry finds them by name.

Headers are a dict with lower-case names (see ``normalise_headers``).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any, Protocol

import orjson

from bot.errors import BadPayload, UnknownSource
from bot.sources import (
    acr,
    argocd,
    artifactory,
    cdevents,
    distribution,
    dockerhub,
    ecr,
    flux,
    gar,
    generic,
    github,
    gitlab,
    harbor,
    quay,
)
from bot.sources.base import Headers, ParseResult


class Source(Protocol):
    NAME: str

    def verify(self, headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None: ...

    def parse(self, headers: Headers, body: bytes) -> ParseResult: ...

    def detect(self, headers: Headers, payload: Any) -> bool: ...


_MODULES: tuple[ModuleType, ...] = (
    # header-identified sources first, then body shapes from most to least specific
    github,
    gitlab,
    distribution,
    harbor,
    cdevents,
    flux,
    argocd,
    gar,
    ecr,
    acr,
    dockerhub,
    quay,
    artifactory,
    generic,
)
SOURCES: dict[str, Source] = {m.NAME: m for m in _MODULES}  # type: ignore[misc]
NAMES: tuple[str, ...] = tuple(sorted(SOURCES))


def get(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise UnknownSource(f"unknown source {name!r}; known: {', '.join(NAMES)}") from None


def normalise_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


def detect(headers: Headers, body: bytes) -> str:
    """The source that sent this delivery, from its headers and body shape."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    for module in _MODULES:
        if module.detect(headers, payload):
            return module.NAME
    raise BadPayload("cannot tell which source sent this delivery; pass --source")


__all__ = ["NAMES", "SOURCES", "ParseResult", "Source", "detect", "get", "normalise_headers"]
