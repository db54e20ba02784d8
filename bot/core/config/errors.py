"""Turn pydantic errors into ``file:line: key.path: message`` lines users can act on (pure).

Pydantic reports a location as a tuple of keys and indices (plus union tags such as ``github``
that have no counterpart in the file). We walk the ruamel.yaml round-trip tree along that tuple,
keeping the line of the deepest key we reach, and print the path as written: ``rules[0].policy``.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

Loc = tuple[int | str, ...]


def locate(root: Any, loc: Loc) -> tuple[int, str, Any]:
    """(1-based line, printable path, deepest node reached) for a pydantic location."""
    node, line, path = root, _start_line(root), ""
    for step in loc:
        if isinstance(node, dict) and step in node:
            line = _key_line(node, step, line)
            path += f".{step}" if path else str(step)
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            line = node.lc.item(step)[0] + 1 if hasattr(node, "lc") else line
            path += f"[{step}]"
            node = node[step]
        elif isinstance(step, str) and not isinstance(node, dict | list):
            break  # a union tag below a scalar: nothing more to walk
        elif isinstance(step, str) and isinstance(node, dict) and _is_union_tag(step):
            continue  # discriminated-union tag ("github"), not a key in the file
        elif isinstance(step, str):
            path += f".{step}" if path else step
        else:
            path += f"[{step}]"
    return line, path or "(top level)", node


def _key_line(node: Any, key: int | str, default: int) -> int:
    """The line of ``key`` in a mapping; a key it has through a merge key (``<<: *anchor``) has no
    line of its own there, so the mapping's line stands."""
    lc = getattr(node, "lc", None)
    try:
        return int(lc.key(key)[0]) + 1 if lc is not None else default
    except (KeyError, TypeError):
        return default


def _start_line(node: Any) -> int:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else 1


_UNION_TAGS = frozenset({"github", "gitlab", "local"})


def _is_union_tag(step: str) -> bool:
    return step in _UNION_TAGS


def _unwrap(tp: Any, step: int | str) -> Any:
    """The type one location step below ``tp`` (None when unknown)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _unwrap(args[0], step)
    if origin in (Union, types.UnionType):
        for arg in args:
            if _model_kind(arg) == step:
                return arg
        models = [a for a in args if a is not type(None)]
        return _unwrap(models[0], step) if len(models) == 1 else None
    if origin is tuple and isinstance(step, int):
        return args[0]
    if origin is dict and isinstance(step, str):
        return args[1]
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(step, str):
        field = tp.model_fields.get(step)
        return field.annotation if field else None
    return None


def _model_kind(tp: Any) -> str | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel) and "kind" in tp.model_fields:
        kinds = get_args(tp.model_fields["kind"].annotation)
        return kinds[0] if kinds else None
    return None


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    tp: Any = root
    for step in loc:
        if _model_kind(tp) == step:
            continue
        tp = _unwrap(tp, step)
        if tp is None:
            return None
    while get_origin(tp) in (Union, types.UnionType, Annotated):
        members = [a for a in get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(members) != 1:
            return None
        tp = members[0]
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unknown_key(root: type[BaseModel], loc: Loc) -> str:
    key = str(loc[-1])
    model = _model_at(root, loc[:-1])
    if model is None:
        return f"unknown key {key!r}"
    allowed = sorted(model.model_fields)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r} ({hint}allowed: {', '.join(allowed)})"


def _message(root: type[BaseModel], err: Any) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(root, err["loc"])
    if kind == "missing":
        return f"missing required key {err['loc'][-1]!r}"
    if kind == "too_short":
        least = err["ctx"]["min_length"]
        return f"needs at least {least} item{'s' if least != 1 else ''}"
    if kind == "union_tag_not_found":
        return "missing 'kind' (github, gitlab or local)"
    if kind == "union_tag_invalid":
        return f"unknown forge kind {err['ctx']['tag']!r} (expected github, gitlab or local)"
    if kind == "string_type" and isinstance(value, int | float | date) and not isinstance(value, bool):
        what = "a date" if isinstance(value, date) else "a number"
        return f"expected text, but YAML read {what} ({value}); put the value in quotes to keep it as written"
    if kind == "string_pattern_mismatch":
        return f"{value!r} must start with a letter or digit and hold only letters, digits, '.', '_', '-'"
    if kind == "literal_error":
        return f"{value!r} is not one of {err['ctx']['expected']}"
    if kind in ("value_error", "assertion_error"):
        return str(err["ctx"]["error"]) if "ctx" in err else msg
    return msg[0].lower() + msg[1:] if msg else kind


def problems_from(exc: ValidationError, root_model: type[BaseModel], data: Any, file: str) -> list[str]:
    """One ``file:line: path: message`` line per distinct problem, in file order."""
    seen: dict[tuple[int, str, str], None] = {}
    errors = exc.errors()
    for err in errors:
        if err["type"] == "too_short" and any(_below(e["loc"], err["loc"]) for e in errors):
            continue  # pydantic also counts the items it just rejected; the item errors say it all
        loc = tuple(err["loc"])
        if err["type"] == "union_tag_invalid":
            loc = (*loc, "kind")
        line, path, _ = locate(data, loc)
        seen.setdefault((line, path, _message(root_model, err)), None)
    return [f"{file}:{line}: {path}: {msg}" for line, path, msg in sorted(seen, key=lambda p: p[0])]


def _below(loc: Loc, parent: Loc) -> bool:
    return len(loc) > len(parent) and tuple(loc[: len(parent)]) == tuple(parent)


def format_problems(problems: Sequence[tuple[Loc, str]], data: Any, file: str) -> list[str]:
    """Problems found after validation (cross references), given as (location, message)."""
    out = []
    for loc, msg in problems:
        line, path, _ = locate(data, loc)
        out.append((line, f"{file}:{line}: {path}: {msg}"))
    return [text for _, text in sorted(out, key=lambda p: p[0])]
