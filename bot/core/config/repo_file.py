"""A manifest repo's own ``.manifest-bot.yaml``, merged into the central config (pure).

The central config's ``repo_files.allow`` lists the key paths a repo file may set. Reading a repo
file never fails as a whole: every key that is not allowed, not valid, or not settable there is
reported as one ``file:line: key.path: message`` problem and left out, and everything else
applies (``read_repo_file``). The service shows the problems on the group's status and comments
them once on its PR, so nothing a repo asks for is dropped without a word.

``merge_repo_config`` is the strict form for ``check-config --repo-file`` and tests: it raises
ConfigError listing every problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.core.config.errors import Loc, format_problems, problems_from
from bot.core.config.loader import parse_yaml
from bot.core.config.model import Config, Model, RepoFile, Target
from bot.errors import ConfigError

#: keys the bot needs before it can read a repo file (it finds the group's branch with them)
CENTRAL_ONLY = {
    "branch_prefix": "the bot's branch name is needed before the repo file can be read; set it centrally",
    "mode": "whether the bot opens a PR or pushes is decided before the repo file is read; set it centrally",
    "limits": "PR limits count every group of the repo before its file is read; set them centrally",
}
#: rounds of dropping invalid keys and validating again (each round drops at least one key)
_MAX_ROUNDS = 50
_LINE = re.compile(r":(\d+): ")


@dataclass(frozen=True, slots=True)
class RepoPatch:
    """What one repo file changes (only keys that passed every check), and what it could not."""

    file: RepoFile = field(default_factory=RepoFile)
    problems: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.file.model_fields_set


def read_repo_file(central: Config, text: str, file: str, *, forge: str, repo: str) -> RepoPatch:
    """The usable part of a repo file for ``forge``/``repo``, and a problem line for the rest."""
    try:
        data = parse_yaml(text, file)
    except ConfigError as exc:
        return RepoPatch(problems=tuple(exc.problems))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        what = type(data).__name__
        return RepoPatch(problems=(f"{file}:1: (top level): expected a mapping of keys, got {what}",))
    plain = _plain(data)
    repo_file, problems = _validate_leniently(plain, data, file)
    refused = list(_refusals(central, repo_file, forge, repo))
    for loc, _ in refused:
        _drop(plain, loc)
    if refused:
        repo_file = RepoFile.model_validate(plain)  # a subset of valid keys stays valid
    problems += format_problems(refused, data, file)
    return RepoPatch(repo_file, _by_line(problems))


def apply_repo_patch(
    config: Config, patch: RepoPatch, *, forge: str, repo: str, branch: str | None = None
) -> Config:
    """``config`` with the patch applied to the targets in ``forge``/``repo`` (on ``branch`` only,
    when given: a repo file is read at one branch's head). Its settings win over the central
    file's for those targets."""
    if patch.empty:
        return config

    def mine(t: Target) -> bool:
        return t.forge == forge and t.repo == repo and branch in (None, t.branch)

    rules = tuple(
        rule.model_copy(
            update={"targets": tuple(_patch_target(t, patch.file) if mine(t) else t for t in rule.targets)}
        )
        if any(mine(t) for t in rule.targets)
        else rule
        for rule in config.rules
    )
    return config.model_copy(update={"rules": rules})


def merge_repo_config(
    central: Config, repo_text: str, file: str, *, forge: str, repo: str, branch: str | None = None
) -> Config:
    """``central`` with the repo file applied; ConfigError listing every problem when it has any."""
    patch = read_repo_file(central, repo_text, file, forge=forge, repo=repo)
    if patch.problems:
        noun = "problem" if len(patch.problems) == 1 else "problems"
        raise ConfigError(f"{file}: {len(patch.problems)} {noun} in the config", list(patch.problems))
    return apply_repo_patch(central, patch, forge=forge, repo=repo, branch=branch)


# --- validation --------------------------------------------------------------------------------
def _validate_leniently(plain: dict[str, Any], data: Any, file: str) -> tuple[RepoFile, list[str]]:
    """Validate; drop each key pydantic refuses (reporting it) and validate again."""
    problems: list[str] = []
    for _ in range(_MAX_ROUNDS):
        try:
            return RepoFile.model_validate(plain), problems
        except ValidationError as exc:
            problems += problems_from(exc, RepoFile, data, file)
            dropped = [_drop(plain, _field_of(tuple(err["loc"]))) for err in exc.errors()]
            if not any(dropped):
                break
    return RepoFile(), problems  # nothing could be salvaged: nothing of the file applies


def _refusals(central: Config, repo_file: RepoFile, forge: str, repo: str) -> Iterator[tuple[Loc, str]]:
    allow = central.repo_files.allow if central.repo_files else None
    for loc in _set_paths(repo_file):
        dotted = ".".join(map(str, loc))
        if allow is None:
            yield loc, "repo files are off: the central config has no 'repo_files' section"
        elif (central_key := _central_only(loc)) is not None:
            yield loc, f"cannot be set in a repo file: {CENTRAL_ONLY[central_key]}"
        elif not any(fnmatchcase(dotted, pattern) for pattern in allow):
            permitted = ", ".join(allow) or "nothing"
            yield loc, f"not allowed by the central config (repo_files.allow permits: {permitted})"
    targets = central.targets_in_repo(forge, repo)
    for env in repo_file.environments:
        if not any(t.environment == env for t in targets):
            yield ("environments", env), f"no target in {repo} has environment {env!r}"


def _central_only(loc: Loc) -> str | None:
    """The ``pr`` key of ``loc`` that only the central config may set (``pr.limits.open``)."""
    for parent, key in pairwise(loc):
        if parent == "pr" and key in CENTRAL_ONLY:
            return str(key)
    return None


def _set_paths(model: BaseModel, prefix: Loc = ()) -> Iterator[Loc]:
    """Location of every leaf the repo file sets explicitly."""
    for name in sorted(model.model_fields_set):
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _set_paths(value, (*prefix, name))
        elif isinstance(value, dict):
            for key, sub in value.items():
                yield from _set_paths(sub, (*prefix, name, key))
        else:
            yield (*prefix, name)


def _plain(node: Any) -> Any:
    """ruamel's round-trip tree as plain dicts and lists (to drop keys from freely)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _field_of(loc: Loc) -> Loc:
    """The key a problem belongs to: list positions belong to their list."""
    while loc and isinstance(loc[-1], int):
        loc = loc[:-1]
    return loc


def _drop(plain: dict[str, Any], loc: Loc) -> bool:
    """Remove the key at ``loc``; False when there is none."""
    node: Any = plain
    for step in loc[:-1]:
        if not isinstance(node, dict) or step not in node:
            return False
        node = node[step]
    if not loc or not isinstance(node, dict) or loc[-1] not in node:
        return False
    del node[loc[-1]]
    return True


def _by_line(problems: list[str]) -> tuple[str, ...]:
    def line(text: str) -> int:
        found = _LINE.search(text)
        return int(found.group(1)) if found else 0

    return tuple(sorted(dict.fromkeys(problems), key=line))


def _patch_target(target: Target, repo_file: RepoFile) -> Target:
    policy: Model = target.policy.patched(repo_file.policy)
    pr: Model = target.pr.patched(repo_file.pr)
    env = repo_file.environments.get(target.environment or "")
    if env is not None:
        policy, pr = policy.patched(env.policy), pr.patched(env.pr)
    return target.model_copy(update={"policy": policy, "pr": pr})
