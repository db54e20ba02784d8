"""Render a new scalar value in the style of the one it replaces (pure).

A plain value stays plain unless the new text would load as something other than a string in
YAML 1.1 (PyYAML, Helm's Go yaml v2) or YAML 1.2 (core schema): ``4.0``, ``8031783``, ``1e3``,
``true``, ``on``, ``y``, ``No`` (YAML 1.1 booleans in any case), ``null``, ``0o17``,
``2024-01-01``, ``1:20``. Then it takes the quote style the
file already uses (double quotes if none). Quoted values keep their quotes.
"""

from __future__ import annotations

import re

import yaml

_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"
_YAML12_NON_STRING = re.compile(
    r"""(?x)
    null|Null|NULL|~|true|True|TRUE|false|False|FALSE
    |[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+
    |[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
    """
)
#: YAML 1.1 booleans as Go's yaml.v2 (Helm) and other 1.1 readers load them, in any case
_YAML11_BOOL = re.compile(r"(?i)y|n|yes|no|on|off|true|false")
#: characters a plain scalar may not start with, and sequences it may not contain
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_FLOW_CHARS = frozenset(",[]{}")


def loads_as_string(value: str) -> bool:
    """True when ``value`` written plain loads as the same string in YAML 1.1 and 1.2."""
    if _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != _STR:
        return False
    return not (_YAML12_NON_STRING.fullmatch(value) or _YAML11_BOOL.fullmatch(value))


def plain_is_safe(value: str) -> bool:
    if not value or value != value.strip() or value[0] in _INDICATORS:
        return False
    if ": " in value or " #" in value or value.endswith(":") or "\n" in value or "\t" in value:
        return False
    if any(c in _FLOW_CHARS for c in value):
        return False
    return loads_as_string(value)


def quote(value: str, style: str) -> str:
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render(value: str, style: str | None, preferred_quote: str) -> str:
    """Text for ``value`` replacing a scalar written in ``style`` (None = plain)."""
    if style in ("'", '"'):
        return quote(value, style)
    if plain_is_safe(value):
        return value
    return quote(value, preferred_quote)


def preferred_quote(styles: list[str | None]) -> str:
    """The quote style a file already uses for its scalars (double quotes if none or a tie)."""
    single = sum(1 for s in styles if s == "'")
    double = sum(1 for s in styles if s == '"')
    return "'" if single > double else '"'
