"""PR body and commit message templates over a group's whole change (pure).

``pr.commit_template`` (when it holds ``{{``, ``{%`` or ``{#``) and ``pr.body_template`` are
Jinja2 templates rendered by its ``SandboxedEnvironment`` with ``StrictUndefined``: a name or an
attribute the bot does not give is an error, never an empty string. What they see (``SAMPLE`` is
one of each, and what ``check-config`` renders them against):

- ``env``, ``group``, ``repo``, ``base_branch``, ``count`` (how many images change);
- ``changes``: one per edited value, ``{file, image, short_image, old, new, digest, links}``;
- ``images``: one per image, ``{image, short_image, old, new, digest, links}``;
- ``links``: ``[{text, url}]`` (the CI run or source PR, the commit, the release's changes).

A template may print, branch (``if``), loop (``for``, at most ``MAX_LOOP_DEPTH`` deep) and use the
filters in ``FILTERS``; it may not assign (``set``), define macros, call anything, include other
templates, or multiply, raise to a power or ``%``-format: each of those can make a short template
cost unbounded time or memory, and a repo's own file may set templates when the central config
allows it. Every filter's result and the whole output are bounded (``MAX_OUTPUT`` characters: a
longer rendering is cut, and ``check-config`` refuses one whose sample already is).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

Kind = Literal["commit", "body"]
#: the longest template accepted, and the most characters a rendering gives
MAX_TEMPLATE = 8_000
MAX_OUTPUT = 16_000
MAX_LOOP_DEPTH = 2
CUT = "\n… (cut: the template renders more than 16000 characters)\n"
#: filters that neither call out, nor pad, nor depend on chance; their results are bounded too
FILTERS = (
    "abs", "batch", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
    "groupby", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
    "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr", "slice", "sort",
    "string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper",
    "urlencode", "wordcount",
)  # fmt: skip
_ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.Getattr,
    nodes.Getitem, nodes.Slice, nodes.For, nodes.If, nodes.Filter, nodes.Test, nodes.Compare,
    nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.CondExpr,
    nodes.Concat, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword, nodes.Add,
    nodes.Sub, nodes.Div, nodes.FloorDiv,
)  # fmt: skip
_REFUSED = {
    nodes.Assign: "'set' is not available",
    nodes.AssignBlock: "'set' is not available",
    nodes.Macro: "macros are not available",
    nodes.CallBlock: "macros are not available",
    nodes.Call: "calls are not available (use a filter: {{ c.image | upper }})",
    nodes.Mul: "'*' is not available",
    nodes.Pow: "'**' is not available",
    nodes.Mod: "'%' is not available",
    nodes.FilterBlock: "filter blocks are not available (use a filter on an expression)",
}

_LINKS = [{"text": "CI run", "url": "https://github.com/acme/api/actions/runs/42"}]
_SAMPLE_CHANGES = [
    {
        "file": "envs/prod/api.yaml",
        "image": "ghcr.io/acme/api",
        "short_image": "api",
        "old": "1.3.2",
        "new": "1.4.0",
        "digest": "sha256:" + "ab" * 32,
        "links": _LINKS,
    },
    {
        "file": "envs/prod/worker.yaml",
        "image": "ghcr.io/acme/worker",
        "short_image": "worker",
        "old": "2.0.0",
        "new": "2.1.0",
        "digest": None,
        "links": [],
    },
]
#: what every template sees, with one of each kind of value (a change without digest or links)
SAMPLE: Mapping[str, Any] = {
    "env": "prod",
    "group": "prod",
    "repo": "acme/deploy",
    "base_branch": "main",
    "count": 2,
    "changes": _SAMPLE_CHANGES,
    "images": [{k: v for k, v in c.items() if k != "file"} for c in _SAMPLE_CHANGES],
}
NAMES = tuple(SAMPLE)
CHANGE_FIELDS = tuple(_SAMPLE_CHANGES[0])
IMAGE_FIELDS = tuple(k for k in CHANGE_FIELDS if k != "file")


class TemplateProblem(ValueError):
    """A template that cannot be used, or a rendering that failed; the text says why."""


def is_jinja(text: str) -> bool:
    """Whether a commit template is Jinja (``{{ … }}``, ``{% … %}``, ``{# … #}``) rather than
    today's ``{placeholder}`` form."""
    return any(mark in text for mark in ("{{", "{%", "{#"))


def _bounded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps Jinja's pass_context/pass_environment marks
    def run(*args: Any, **kwargs: Any) -> Any:
        out = func(*args, **kwargs)
        if isinstance(out, str) and len(out) > MAX_OUTPUT:
            raise TemplateProblem(f"the filter {name!r} gives more than {MAX_OUTPUT} characters")
        return out

    return run


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()  # range, lipsum, cycler, …: nothing a template can call
    env.filters = {name: _bounded(name, env.filters[name]) for name in FILTERS}
    return env


_ENV = _environment()


def _walk(node: nodes.Node, depth: int = 0) -> Iterator[str]:
    """Why each node the sandbox should not run is refused."""
    if isinstance(node, nodes.For):
        if node.recursive:
            yield "recursive loops are not available"
        depth += 1
        if depth > MAX_LOOP_DEPTH:
            yield f"loops nest at most {MAX_LOOP_DEPTH} deep"
    for kind, why in _REFUSED.items():
        if isinstance(node, kind):
            yield why
            return
    if not isinstance(node, _ALLOWED_NODES):
        yield f"'{type(node).__name__}' is not available"
        return
    for child in node.iter_child_nodes():
        yield from _walk(child, depth)


@functools.lru_cache(maxsize=256)
def compiled(text: str) -> Any:
    """The template, checked (cached: a config's few templates are compiled once)."""
    if len(text) > MAX_TEMPLATE:
        raise TemplateProblem(f"a template is at most {MAX_TEMPLATE} characters (it has {len(text)})")
    try:
        tree = _ENV.parse(text)
    except TemplateError as exc:
        line = f" (template line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        raise TemplateProblem(f"not a valid template{line}: {exc.message}") from None
    problems = list(dict.fromkeys(_walk(tree)))
    if problems:
        raise TemplateProblem("; ".join(problems))
    try:
        unknown = sorted(meta.find_undeclared_variables(tree) - set(NAMES))
        if not unknown:
            return _ENV.from_string(tree)
    except TemplateError as exc:  # an unknown filter or test
        raise TemplateProblem(f"{exc.message} (filters: {', '.join(FILTERS)})") from None
    raise TemplateProblem(f"unknown name {unknown[0]!r} (known: {', '.join(NAMES)})")


def render(text: str, context: Mapping[str, Any]) -> str:
    """``text`` rendered over ``context`` (``SAMPLE``'s shape), cut at ``MAX_OUTPUT`` characters."""
    template = compiled(text)
    out: list[str] = []
    size = 0
    try:
        for piece in template.generate(**context):
            size += len(piece)
            if size > MAX_OUTPUT:
                out.append(piece[: max(0, MAX_OUTPUT - (size - len(piece)))])
                out.append(CUT)
                break
            out.append(piece)
    except TemplateProblem:
        raise
    except TemplateError as exc:
        raise TemplateProblem(_undefined_hint(exc.message or str(exc))) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:  # 1 / 0, a bad sort key
        raise TemplateProblem(f"the template failed: {type(exc).__name__}: {exc}") from None
    return "".join(out)


def _undefined_hint(message: str) -> str:
    if "has no attribute" in message:
        return (
            f"{message} (a change has {', '.join(CHANGE_FIELDS)}; an image {', '.join(IMAGE_FIELDS)}; "
            "a link text, url)"
        )
    return message


def check(text: str, kind: Kind) -> str:
    """``text`` when it renders against ``SAMPLE`` as a ``kind`` template; TemplateProblem says why."""
    out = render(text, SAMPLE)
    if out.endswith(CUT):
        raise TemplateProblem(f"renders more than {MAX_OUTPUT} characters for a two-image sample")
    if kind == "commit" and not out.strip():
        raise TemplateProblem("renders an empty commit message for the sample")
    return text
