"""Load the routing config from YAML text and merge a manifest repo's own file into it (pure).

Every problem becomes one ``file:line: key.path: message`` line in ``ConfigError.problems``.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.core.config.errors import Loc, format_problems, problems_from
from bot.core.config.model import POLL_UNORDERED, Config, Model, RepoFile, Target
from bot.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def parse_yaml(text: str, file: str) -> Any:
    """Round-trip parse (keeps line marks); duplicate keys and syntax errors are ConfigErrors."""
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        problem = f"{file}:{line}: (yaml): {what.splitlines()[0] if what else 'invalid YAML'}"
        raise ConfigError(f"{file}: not valid YAML", [problem]) from None
    except YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML", [f"{file}:1: (yaml): {exc}"]) from None


def _fail(file: str, problems: list[str]) -> ConfigError:
    noun = "problem" if len(problems) == 1 else "problems"
    return ConfigError(f"{file}: {len(problems)} {noun} in the config", problems)


def _validate(model: type[M], data: Any, file: str) -> M:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(file, [f"{file}:1: (top level): expected a mapping of keys, got {type(data).__name__}"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _fail(file, problems_from(exc, model, data, file)) from None


def load_config(text: str, file: str) -> Config:
    """Parse and validate the central config; raise ConfigError listing every problem found."""
    data = parse_yaml(text, file)
    config = _validate(Config, data, file)
    problems = format_problems(list(cross_check(config)), data, file)
    if problems:
        raise _fail(file, problems)
    return config


def _duplicates(names: list[str]) -> Iterator[tuple[int, str]]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield i, name
        seen.add(name)


def cross_check(config: Config) -> Iterator[tuple[Loc, str]]:
    """References between sections: forge names, environments, unique names, repo-file keys."""
    for i, name in _duplicates([f.name for f in config.forges]):
        yield ("forges", i, "name"), f"forge name {name!r} is used twice"
    for i, name in _duplicates([r.name for r in config.rules]):
        yield ("rules", i, "name"), f"rule name {name!r} is used twice"
    forges = [f.name for f in config.forges]
    declared = set(config.environments)
    used = {t.environment for r in config.rules for t in r.targets if t.environment}
    known_envs = declared or used
    for i, rule in enumerate(config.rules):
        for j, target in enumerate(rule.targets):
            if target.forge not in forges:
                msg = f"unknown forge {target.forge!r} (configured: {', '.join(forges)})"
                yield ("rules", i, "targets", j, "forge"), msg
            if declared and target.environment and target.environment not in declared:
                msg = f"unknown environment {target.environment!r} (declared: {', '.join(sorted(declared))})"
                yield ("rules", i, "targets", j, "environment"), msg
            policy = config.policy_for(rule, target)
            if rule.poll is not None and policy.digest is None and policy.ordering in POLL_UNORDERED:
                msg = f"poll cannot order listed tags by {policy.ordering} (a tag carries no run or time)"
                yield ("rules", i, "poll"), msg + ": use semver, numeric, lexical or policy.digest"
    for i, chain in enumerate(config.promotion):
        for k, env in enumerate(chain.environments):
            if env not in known_envs:
                yield ("promotion", i, "environments", k), f"unknown environment {env!r}"
    for env in config.chatops.environments:
        if env not in known_envs:
            yield ("chatops", "environments", env), f"unknown environment {env!r}"
    if config.repo_files:
        for k, pattern in enumerate(config.repo_files.allow):
            if pattern.split(".")[0] not in RepoFile.model_fields:
                msg = f"{pattern!r} names no repo-file key (start with pr., policy. or environments.)"
                yield ("repo_files", "allow", k), msg


# --- repo files ----------------------------------------------------------------------------------
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


def merge_repo_config(central: Config, repo_text: str, file: str, *, forge: str, repo: str) -> Config:
    """``central`` with the repo file applied to the targets in ``forge``/``repo``.

    Only keys matching ``repo_files.allow`` may be set; any other key is refused with its line.
    The repo file's settings win over the central file's for those targets.
    """
    data = parse_yaml(repo_text, file)
    repo_file = _validate(RepoFile, data, file)
    targets = central.targets_in_repo(forge, repo)
    refused: list[tuple[Loc, str]] = []
    allow = central.repo_files.allow if central.repo_files else None
    for loc in _set_paths(repo_file):
        dotted = ".".join(map(str, loc))
        if allow is None:
            refused.append((loc, "repo files are off: the central config has no 'repo_files' section"))
        elif not any(fnmatchcase(dotted, pattern) for pattern in allow):
            permitted = ", ".join(allow) or "nothing"
            msg = f"not allowed by the central config (repo_files.allow permits: {permitted})"
            refused.append((loc, msg))
    for env in repo_file.environments:
        if not any(t.environment == env for t in targets):
            refused.append((("environments", env), f"no target in {repo} has environment {env!r}"))
    if refused:
        raise _fail(file, format_problems(refused, data, file))
    rules = tuple(
        rule.model_copy(
            update={
                "targets": tuple(
                    _patch_target(t, repo_file) if t.forge == forge and t.repo == repo else t
                    for t in rule.targets
                )
            }
        )
        for rule in central.rules
    )
    return central.model_copy(update={"rules": rules})


def _patch_target(target: Target, repo_file: RepoFile) -> Target:
    policy: Model = target.policy.patched(repo_file.policy)
    pr: Model = target.pr.patched(repo_file.pr)
    env = repo_file.environments.get(target.environment or "")
    if env is not None:
        policy, pr = policy.patched(env.policy), pr.patched(env.pr)
    return target.model_copy(update={"policy": policy, "pr": pr})
