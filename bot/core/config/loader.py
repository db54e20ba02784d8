"""Load the routing config from YAML text (pure); a manifest repo's own file: ``repo_file``.

Every problem becomes one ``file:line: key.path: message`` line in ``ConfigError.problems``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.core.config.errors import Loc, format_problems, problems_from
from bot.core.config.model import POLL_UNORDERED, Config, RepoFile
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
            if policy.extract is not None and policy.order is None:
                msg = "policy.extract needs policy.order: semver, numerical or alphabetical"
                yield ("rules", i, "targets", j), msg + " (the named group's text is what it orders)"
            unordered = policy.order is None and policy.ordering in POLL_UNORDERED
            if rule.poll is not None and policy.digest is None and unordered:
                msg = f"poll cannot order listed tags by {policy.ordering} (a tag carries no run or time)"
                yield ("rules", i, "poll"), msg + ": use semver, numeric, lexical or policy.digest"
    for i, chain in enumerate(config.promotion):
        for k, env in enumerate(chain.environments):
            if env not in known_envs:
                yield ("promotion", i, "environments", k), f"unknown environment {env!r}"
    for i, chain in enumerate(config.promotion):
        if chain.auto is None and chain.on_failure == "stop":
            continue
        for env in chain.environments[:-1] if chain.auto else chain.environments:
            found = config.environments.get(env)
            if found is None or not found.deployments:
                what = "auto" if chain.auto else "on_failure"
                msg = f"{what} needs reports from {env!r}: list environments.{env}.deployments"
                yield ("promotion", i, what), msg
    listed: dict[tuple[str, str], str] = {}
    for name, env in config.environments.items():
        for k, deployment in enumerate(env.deployments):
            other = listed.setdefault(deployment.key, name)
            if other != name or deployment.key in [d.key for d in env.deployments[:k]]:
                tool, obj = deployment.key
                msg = f"{tool} {obj!r} already deploys environment {other!r}"
                yield ("environments", name, "deployments", k, tool), msg
    for env in config.chatops.environments:
        if env not in known_envs:
            yield ("chatops", "environments", env), f"unknown environment {env!r}"
    if config.repo_files:
        for k, pattern in enumerate(config.repo_files.allow):
            if pattern.split(".")[0] not in RepoFile.model_fields:
                msg = f"{pattern!r} names no repo-file key (start with pr., policy. or environments.)"
                yield ("repo_files", "allow", k), msg
