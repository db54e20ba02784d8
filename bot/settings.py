"""Typed, frozen process settings from the environment and secret files (pydantic-settings).

Every variable is ``MANIFEST_BOT_<FIELD>`` (upper case) and is documented in
``config/example.env``. Any variable may instead be given as ``MANIFEST_BOT_<FIELD>_FILE`` naming a
file that holds the value (Kubernetes/Docker secrets). Webhook secrets are per source:
``MANIFEST_BOT_WEBHOOK_SECRET_<SOURCE>`` holds one or more comma-separated secrets (several are
accepted at once while rotating). Lists are comma-separated, registry endpoints ``host=endpoint``
pairs. Settings load once, at start-up, and fail naming the variable; an unknown ``MANIFEST_BOT_*``
variable is refused (a misspelt name must not pass for a default), but ``MANIFEST_BOT_TEST_*`` are
the tests' own (``MANIFEST_BOT_TEST_REDIS_URL``) and ignored.

``Settings(...)`` and ``Settings.model_validate(...)`` take only what they are given; ``from_env``
reads an environment through :class:`EnvironmentSource`, a pydantic-settings source for what the
library's own environment source does not do (``_FILE`` for every variable, secrets per source,
unknown names refused, a mapping other than ``os.environ``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.errors import SettingsError

ENV_PREFIX = "MANIFEST_BOT_"
SECRET_PREFIX = f"{ENV_PREFIX}WEBHOOK_SECRET_"
#: the tests' own variables (tests/conftest.py): ignored here, never refused
TEST_PREFIX = f"{ENV_PREFIX}TEST_"


def _words(value: object) -> object:
    """``"a, B"`` -> ``{"a", "b"}``: a comma list from the environment (names compare lower case)."""
    if isinstance(value, str):
        return frozenset(w.strip().lower() for w in value.split(",") if w.strip())
    return value


def _pairs(value: object) -> object:
    """``"host=endpoint,host2=endpoint2"`` -> a dict (its shape is checked by the field's validator)."""
    if isinstance(value, str):
        pairs = (p.partition("=") for p in value.split(",") if p.strip())
        return {h.strip(): e.strip() for h, _, e in pairs}
    return value


def _secret_lists(value: object) -> object:
    """``{"github": "a, b"}`` -> ``{"github": ("a", "b")}``."""
    if not isinstance(value, Mapping):
        return value
    return {
        source: tuple(s.strip() for s in v.split(",") if s.strip()) if isinstance(v, str) else v
        for source, v in value.items()
    }


CommaWords = Annotated[frozenset[str], BeforeValidator(_words)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # --- storage and queues ------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: every Redis key, rq queue name and deterministic job id starts with this (tests isolate by it)
    redis_prefix: str = "mb"
    job_timeout_s: int = 300
    #: a repo lock (and the periodic leader's) dies this long after its holder stops heartbeating
    lock_timeout_s: int = Field(default=15, ge=1)
    retry_max: int = Field(default=5, ge=0)
    retry_base_s: float = 2.0
    retry_cap_s: float = 300.0
    delivery_ttl_s: int = 7 * 24 * 3600
    #: delivery records kept at most (the newest; older ones go as new ones arrive, so Redis
    #: memory stays flat under a steady stream); a redelivery of a forgotten one runs again,
    #: which changes nothing (merges are idempotent, a comment's commands run once)
    delivery_keep: int = Field(default=2000, ge=10)
    #: refuse readiness when Redis runs without AOF persistence (a restart would lose accepted work)
    redis_require_aof: bool = True

    # --- periodic jobs (bot.jobs.periodic; every worker ticks them, one run at a time) ----------
    #: lost deliveries and jobs, stale coalescing markers, orphaned lock waiters, groups left dirty
    sweep_interval_s: float = Field(default=60.0, gt=0)
    #: the longest wait between two retries of a group left dirty (backoff from sweep_interval_s)
    dirty_retry_cap_s: float = Field(default=3600.0, gt=0)
    #: every group: base moved without a push, PR merged or closed without an event
    resync_interval_s: float = Field(default=300.0, gt=0)
    #: groups observed per resync run (the next run goes on where this one stopped)
    resync_batch: int = Field(default=50, ge=1)
    #: missed webhooks: GitHub App deliveries to redeliver, GitLab project hooks to check
    recovery_interval_s: float = Field(default=300.0, gt=0)
    #: GitHub: redeliveries asked for per run / pages of 100 deliveries read per run
    recovery_max_redeliveries: int = Field(default=20, ge=0)
    recovery_max_pages: int = Field(default=5, ge=1)
    #: GitLab: projects whose hooks are read per run
    recovery_max_projects: int = Field(default=50, ge=1)
    #: GitHub: deliveries older than this are never redelivered (GitHub keeps them 3 days)
    recovery_max_age_s: float = Field(default=86400.0, gt=0, le=3 * 86400)

    # --- routing config ------------------------------------------------------------------------
    config_path: Path | None = None

    # --- intake ------------------------------------------------------------------------------
    #: source -> its secrets (``MANIFEST_BOT_WEBHOOK_SECRET_<SOURCE>``)
    webhook_secrets: Annotated[dict[str, tuple[SecretStr, ...]], BeforeValidator(_secret_lists)] = Field(
        default_factory=dict
    )
    #: sources the operator explicitly allows to deliver without a secret
    allow_unsigned: CommaWords = frozenset()
    max_body_bytes: int = 1024 * 1024

    # --- forges (credentials; which repos live where is in the routing config) -----------------
    github_app_id: int | None = None
    github_private_key: SecretStr | None = None
    github_token: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    gitlab_url: str = "https://gitlab.com"
    gitlab_token: SecretStr | None = None
    #: the bot's account: its own comments and commits are recognised by it
    bot_login: str = "manifest-bot[bot]"
    command_prefix: str = "/manifest-bot"

    # --- container registries (bot.registry: verify tags, resolve digests, list tags) ----------
    #: a Docker ``config.json`` (``auths`` with ``auth`` or ``identitytoken``); re-read when it
    #: changes, so a sidecar can refresh short-lived ECR/GAR/ACR tokens in it
    docker_config: Path | None = None
    #: registries reached over plain HTTP besides localhost and 127.0.0.0/8 (``host[:port]``)
    insecure_registries: CommaWords = frozenset()
    #: seconds a resolved (image, tag) → digest stays cached (0 = no cache)
    registry_cache_ttl_s: float = Field(default=30.0, ge=0)
    #: seconds one registry request may take in all (connect, headers, body): a total deadline
    registry_timeout_s: float = Field(default=15.0, gt=0)
    #: a repository with more tags than this is refused instead of listed (bounds one poll)
    registry_max_tags: int = Field(default=10_000, ge=1)
    #: a Helm repository's ``index.yaml`` larger than this many bytes is refused, not read
    helm_index_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    #: where a registry answers when not at its own name: host -> ``host[:port]`` (an in-cluster
    #: address or proxy; the plain-HTTP rule applies to the endpoint)
    registry_endpoints: Annotated[dict[str, str], BeforeValidator(_pairs)] = Field(default_factory=dict)
    #: a registry whose token service is on another host: host -> realm host (Docker Hub's
    #: auth.docker.io and GitLab.com's are known); credentials go to no other realm
    registry_token_realms: Annotated[dict[str, str], BeforeValidator(_pairs)] = Field(default_factory=dict)
    #: a verified tag the registry does not have yet is asked again with backoff for this long
    #: (CI may announce before its push finishes), then given up with a comment on the group's PR
    registry_wait_s: float = Field(default=900.0, gt=0)
    #: the first of those retries; each next one waits twice as long, up to five minutes
    registry_retry_s: float = Field(default=5.0, gt=0)
    #: when set, every rule's ``poll`` runs at this interval instead of its own (tests, the demo)
    poll_interval_s: float | None = Field(default=None, gt=0)

    # --- web ---------------------------------------------------------------------------------
    status_token: SecretStr | None = None  # bearer token for GET / (none = open)
    #: a worker serves its own /metrics on this port (None = off)
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    #: the address it listens on: this host only unless configured (a pod sets 0.0.0.0)
    worker_metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("registry_endpoints", "registry_token_realms")
    @classmethod
    def _endpoints_shape(cls, v: dict[str, str]) -> dict[str, str]:
        for host, endpoint in v.items():
            if not host or not endpoint or any(c in host + endpoint for c in " /,="):
                example = "registry.example.com=10.0.0.5:5000"
                raise ValueError(f"give host=host[:port] pairs such as {example}, not {host}={endpoint}")
        return {h.lower(): e for h, e in v.items()}

    @field_validator("redis_prefix")
    @classmethod
    def _prefix_shape(cls, v: str) -> str:
        if not v or any(c in v for c in " :{}"):
            raise ValueError("must be non-empty and contain no spaces, ':' or braces")
        return v

    def key(self, *parts: str | int) -> str:
        """A Redis key in our namespace: ``<prefix>:<part>:<part>``."""
        return ":".join((self.redis_prefix, *map(str, parts)))

    def queue(self, name: str) -> str:
        """An rq queue name in our namespace (``events``, ``reconcile``, ``commands``)."""
        return f"{self.redis_prefix}-{name}"

    def secrets_for(self, source: str) -> tuple[str, ...]:
        return tuple(s.get_secret_value() for s in self.webhook_secrets.get(source, ()))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The arguments only: settings built in code never pick up the process environment."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build from ``environ`` (default ``os.environ``), ``overrides`` winning; raise SettingsError
        naming the variable."""
        values = EnvironmentSource(cls, os.environ if environ is None else environ)()
        try:
            return cls(**{**values, **overrides})
        except ValidationError as exc:
            problems = [f"{_variable(err['loc'])}: {err['msg']}" for err in exc.errors()]
            raise SettingsError("invalid settings: " + "; ".join(problems)) from None


class EnvironmentSource(PydanticBaseSettingsSource):
    """The ``MANIFEST_BOT_*`` variables of one environment as field values (strings, parsed by the
    fields); ``<NAME>_FILE`` read from its file. Raises SettingsError naming a variable that is no
    setting or a file that cannot be read."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.values: dict[str, Any] = {}
        secrets: dict[str, str] = {}
        for variable, raw in sorted(environ.items()):
            if not variable.startswith(ENV_PREFIX) or variable.startswith(TEST_PREFIX):
                continue
            name = variable.removesuffix("_FILE")
            field = name[len(ENV_PREFIX) :].lower()
            is_secret = name.startswith(SECRET_PREFIX)
            if not is_secret and (field not in settings_cls.model_fields or field == "webhook_secrets"):
                raise SettingsError(f"{variable}: unknown setting (see config/example.env)")
            value = _read(variable, raw) if variable != name else raw
            if is_secret:
                secrets[name[len(SECRET_PREFIX) :].lower()] = value
            else:
                self.values[field] = value
        if secrets:
            self.values["webhook_secrets"] = secrets

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def _read(variable: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{variable}: cannot read {path}: {exc.strerror}") from exc


def _variable(loc: tuple[int | str, ...]) -> str:
    """The variable a validation error's location stands for."""
    if loc[0] == "webhook_secrets" and len(loc) > 1:
        return f"{SECRET_PREFIX}{str(loc[1]).upper()}"
    return ENV_PREFIX + ".".join(str(p) for p in loc).upper()
