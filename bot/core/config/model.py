"""The routing config model (pydantic v2, frozen). Every field is documented in
``config/example.yaml``; the attribute docstrings below become descriptions in ``config/schema.json``.

Settings resolve from general to specific: ``defaults`` → ``environments.<env>`` → the rule →
the target (a repo's ``.manifest-bot.yaml`` patches its targets, see ``merge_repo_config``).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from bot.core.chart_names import OCI, chart_key, is_chart
from bot.core.chatops.commands import command_kind
from bot.core.config.refnames import path_problem, ref_problem
from bot.core.durations import parse_seconds
from bot.core.images import canonical_name, parse_image, validate_tag
from bot.core.intents import PinMode
from bot.core.keys import GroupKey
from bot.core.majors import SUFFIX as MAJOR_SUFFIX
from bot.core.patterns import user_regex
from bot.core.platforms import check_platform
from bot.core.pr_limits import Limits
from bot.core.pr_options import TEMPLATE_FIELDS, PrOptions
from bot.core.release_age import parse_age
from bot.core.schedule import check_cron, is_open, opens_at, zone
from bot.core.tag_order import Direction, OrderBy, TagOrder, check_extract
from bot.core.templates import check as check_template
from bot.core.templates import is_jinja
from bot.core.versions import OrderingChoice, Unorderable, parse_range, parse_semver, rejection

PermissionName = Literal["none", "read", "triage", "write", "maintain", "admin"]
PERMISSIONS: tuple[str, ...] = get_args(PermissionName)
CI_PLACEHOLDERS = frozenset({"sha", "short_sha", "branch", "run_number", "run_id", "ref_name"})
#: what a CI rule's image may name: the part of the workflow's or job's name its glob matched
CI_IMAGE_FIELDS = frozenset({"workflow", "job"})
#: a placeholder's stand-in while a CI image pattern is made a glob (a valid name component)
_SLOT = "x0slot0x"
#: canonical names of config images are asked for on every event: remember them
canonical = functools.lru_cache(maxsize=8192)(canonical_name)
_REF_RE = re.compile(r"(env:[A-Za-z_][A-Za-z0-9_]*|file:\S+|setting:[a-z_]+)")
#: the process settings (``MANIFEST_BOT_<NAME>``) a ``setting:<name>`` reference may name: the
#: forge secrets (``bot.settings.Settings`` holds them; a test keeps the two in step)
SECRET_SETTINGS = frozenset({"github_private_key", "github_token", "gitlab_token"})


def _regex(value: str) -> str:
    """A pattern RE2 runs in linear time (``bot.core.patterns``); PatternError is a ValueError
    whose text pydantic reports on the key's line."""
    user_regex(value)
    return value


def _semver_range(value: str) -> str:
    parse_range(value)  # raises ValueError with the message users see
    return value


def _chart_name(value: str) -> str:
    if value.startswith(OCI):
        chart_key(value)  # ValueError with the reason
    elif "://" in value:
        raise ValueError(f"a chart is oci://host/path/name or a chart name (got {value!r})")
    return value


def _helm_repository(value: str) -> str:
    if not value.strip().lower().startswith(("https://", "http://")):
        raise ValueError(f"a Helm repository is an https:// URL (got {value!r})")
    return value


def _image_name(value: str) -> str:
    ref = parse_image(value)  # InvalidReference is a ValueError: pydantic reports its text
    if ref.tag or ref.digest:
        raise ValueError(f"give the image without tag or digest, e.g. {ref.name!r}")
    return value


#: the shortest ``poll`` interval: a registry is not a queue to busy-wait on
MIN_POLL_S = 60.0
#: orderings a poll cannot apply to tags listed from a registry (they need a CI run or a push time)
POLL_UNORDERED = frozenset({"run-number", "push-time"})


def _seconds(value: object) -> float:
    """``90s``, ``5m``, ``1h30m``, ``0s`` or a number of seconds (not negative) → seconds."""
    return parse_seconds(
        value,
        "hms",
        hint="write it as '5m', '1h30m' or '90s'",
        typed="give a duration such as '5m', '1h' or '90s'",
    )


def _duration(value: object) -> float:
    """``90s``, ``5m``, ``1h30m`` or a number of seconds → seconds (at least a minute)."""
    value = _seconds(value)
    if value < MIN_POLL_S:
        raise ValueError(f"poll at most once a minute (got {value:g} s): each poll asks the registry")
    return float(value)


def _tag(value: str) -> str:
    validate_tag(value)  # InvalidReference is a ValueError: pydantic reports its text
    return value


def _secret_ref(value: str) -> str:
    if not _REF_RE.fullmatch(value):
        raise ValueError(
            "must reference a secret, never hold it: 'env:VARIABLE', 'file:/path' or 'setting:<name>'"
        )
    if value.startswith("setting:") and value[8:] not in SECRET_SETTINGS:
        known = ", ".join(sorted(SECRET_SETTINGS))
        raise ValueError(f"unknown setting {value[8:]!r} (a forge secret setting: {known})")
    return value


def _format_fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"bad template {template!r}: {exc}") from None


def _ci_template(value: str) -> str:
    unknown = _format_fields(value) - CI_PLACEHOLDERS
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in sorted(CI_PLACEHOLDERS))
        raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {allowed})")
    return value


def _ci_image(value: str) -> str:
    """An image name that may hold ``{workflow}`` or ``{job}`` (filled from the CI run)."""
    unknown = _format_fields(value) - CI_IMAGE_FIELDS
    if unknown:
        raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {{workflow}}, {{job}})")
    _image_name(value.format(workflow="x", job="x"))
    return value


def _text_template(value: str) -> str:
    unknown = _format_fields(value) - TEMPLATE_FIELDS
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in sorted(TEMPLATE_FIELDS))
        raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {allowed})")
    return value


def _commit_template(value: str) -> str:
    """A ``{placeholder}`` subject as before, or a Jinja template of the whole message."""
    return check_template(value, "commit") if is_jinja(value) else _text_template(value)


def _body_template(value: str) -> str:
    return check_template(value, "body")


def _branch(value: str) -> str:
    problem = ref_problem(value)
    if problem:
        raise ValueError(f"{value!r} is not a valid branch name: {problem}")
    return value


def _branch_part(value: str) -> str:
    problem = ref_problem(value, component=True)
    if problem:
        raise ValueError(f"{value!r} cannot be part of the branch <prefix>/<environment>/<group>: {problem}")
    return value


def _repo_path(value: str) -> str:
    problem = path_problem(value)
    if problem:
        raise ValueError(f"{value!r} {problem}")
    return value


Regex = Annotated[str, AfterValidator(_regex)]
SemverRange = Annotated[str, AfterValidator(_semver_range)]
ImageName = Annotated[str, AfterValidator(_image_name)]
ChartName = Annotated[str, AfterValidator(_chart_name)]
HelmRepository = Annotated[str, AfterValidator(_helm_repository)]
CiImage = Annotated[str, AfterValidator(_ci_image)]
SecretRef = Annotated[str, AfterValidator(_secret_ref)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
#: a name that becomes part of the bot's branch (environments, groups): git's ref rules too
BranchPart = Annotated[Name, AfterValidator(_branch_part)]
Branch = Annotated[str, AfterValidator(_branch)]
RepoPath = Annotated[str, AfterValidator(_repo_path)]
Tag = Annotated[str, AfterValidator(_tag)]
Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": "^(\\d+h)?(\\d+m)?(\\d+s)?$"},
                {"type": "number", "minimum": MIN_POLL_S},
            ],
            "description": "'5m', '1h30m', '90s' or seconds; at least a minute",
        }
    ),
]

Platform = Annotated[str, AfterValidator(check_platform)]
#: ``policy.min_release_age``: ``3d``, ``12h``, ``1d12h``, ``90m``, ``30s`` (at most 90 days)
ReleaseAge = Annotated[
    float,
    BeforeValidator(parse_age),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": "^(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$"},
                {"type": "number", "minimum": 0, "maximum": 7_776_000},
            ],
            "description": "'3d', '12h', '1d12h', '90m', '30s' or seconds; at most 90 days",
        }
    ),
]

#: a wait down to ``0s``
Wait = Annotated[
    float,
    BeforeValidator(_seconds),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": "^(\\d+h)?(\\d+m)?(\\d+s)?$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "'10m', '1h30m', '0s' or seconds",
        }
    ),
]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    def patched(self, patch: Model) -> Model:
        """A copy with every field ``patch`` sets explicitly."""
        return self.model_copy(update={k: getattr(patch, k) for k in patch.model_fields_set})


# --- forges ------------------------------------------------------------------------------------
class GitHubForge(Model):
    name: Name
    """How targets refer to this forge."""
    kind: Literal["github"]
    api_url: str = "https://api.github.com"
    """REST API root; GitHub Enterprise: https://HOST/api/v3."""
    url: str = "https://github.com"
    """Web root: image source labels under it get release notes from this forge. Default: the
    web root of api_url (https://github.com, or https://HOST for https://HOST/api/v3)."""
    app_id: int | None = None
    """GitHub App id (with private_key). Without app_id and token, process settings are used."""
    installation_id: int | None = None
    """Installation id; found from the repository when omitted."""
    private_key: SecretRef | None = None
    """Reference to the App's PEM key: env:VAR, file:/path or setting:github_private_key."""
    token: SecretRef | None = None
    """Reference to a token (instead of an App): env:VAR, file:/path or setting:github_token."""
    bot_login: str | None = None
    """Account whose commits/comments are the bot's own (default: settings.bot_login)."""

    @model_validator(mode="after")
    def _app_pair(self) -> GitHubForge:
        if (self.app_id is None) != (self.private_key is None):
            raise ValueError("app_id and private_key go together: give both or neither")
        return self


class GitLabForge(Model):
    name: Name
    kind: Literal["gitlab"]
    url: str = "https://gitlab.com"
    """GitLab root URL (self-managed: https://gitlab.example.com)."""
    token: SecretRef | None = None
    """Reference to a token: env:VAR, file:/path or setting:gitlab_token."""
    bot_login: str | None = None


class LocalForge(Model):
    name: Name
    kind: Literal["local"]
    path: str
    """Directory holding the local git repositories (one sub-directory per repo)."""
    push_remote: str | None = None
    """Remote to push base branches to after a merge (write-back), if any."""
    permissions: dict[str, PermissionName] = {}
    """Chat-ops permission per user on local repos (there is no forge to ask)."""
    default_permission: PermissionName = "write"
    teams: dict[str, tuple[str, ...]] = {}
    webhooks: Literal["github", "gitlab"] | None = None
    """Take that vendor's PR webhooks (comments, closes) for these repositories, as when a local
    mirror stands in for GitHub or GitLab; the local forge's own events (``manifest-bot local``)
    always reach it."""
    """Chat-ops team membership on local repos: {team: [user, ...]}."""
    bot_login: str | None = None
    git_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60
    """How long one git command may run (a push to push_remote above all) before it is given up
    and retried later."""
    signing_key_file: str | None = None
    """Key file every commit of this forge is signed with, without a passphrase: an SSH private
    key (chmod 600) or, with signing_format openpgp, an armored OpenPGP secret key. A key that
    cannot sign stops the worker at start-up."""
    signing_format: Literal["ssh", "openpgp"] = "ssh"
    """git's gpg.format for signing_key_file: ssh or openpgp (GPG)."""


ForgeConfig = Annotated[GitHubForge | GitLabForge | LocalForge, Field(discriminator="kind")]


# --- policy and PR settings --------------------------------------------------------------------
class Order(Model):
    by: OrderBy
    """semver, numerical (a decimal number) or alphabetical (by code point)."""
    direction: Direction = "ascending"
    """ascending: the highest key is the newest version; descending: the lowest (numerical and
    alphabetical only)."""

    @model_validator(mode="after")
    def _semver_ascends(self) -> Order:
        if self.by == "semver" and self.direction == "descending":
            raise ValueError("semver orders ascending only: use numerical or alphabetical to descend")
        return self


Extract = Annotated[str, AfterValidator(check_extract)]


def _order_shorthand(value: object) -> object:
    """``order: numerical`` is ``order: {by: numerical}``."""
    return {"by": value} if isinstance(value, str) else value


_ORDER_BY = {"enum": list(get_args(OrderBy))}
#: the schema editors see: the shorthand or the mapping (pydantic would show only the mapping)
_ORDER_SCHEMA = {
    "anyOf": [
        _ORDER_BY,
        {
            "type": "object",
            "properties": {"by": _ORDER_BY, "direction": {"enum": list(get_args(Direction))}},
            "required": ["by"],
            "additionalProperties": False,
        },
        {"type": "null"},
    ],
    "default": None,
}
OrderSetting = Annotated[Order | None, BeforeValidator(_order_shorthand), WithJsonSchema(_ORDER_SCHEMA)]


class Policy(Model):
    semver: SemverRange | None = None
    """npm/Cargo-style range the tag must satisfy: '^1.2', '~1.2.3', '>=1.2 <2'."""
    allow: Regex | None = None
    """Tags must match this regular expression (searched; anchor with ^ and $)."""
    deny: Regex | None = None
    """Tags matching this regular expression are refused."""
    prereleases: bool = False
    """Admit semver prereleases such as 1.3.0-rc.1."""
    variants: bool = True
    """Docker variants, as Renovate's docker versioning reads tags: a version tag's suffix that
    names a variant (7.4.2-alpine, 3.12-slim-bookworm) is no prerelease; the tag is compared as its
    version (7.4.2) with tags of the same variant only, and written only where the manifest has
    that variant (a plain tag only where it has a plain version). Suffixes that read as
    prereleases (-rc.1, -beta2) or commit ids stay prereleases. false: every suffix is a semver
    prerelease and any tag may replace any other."""
    ignore: tuple[str, ...] = ()
    """Tags never applied: exact tags or globs ('1.4.0', '1.5.*')."""
    pin: PinMode = "tag"
    """Write the tag, the digest, or both (tag@digest)."""
    ordering: OrderingChoice = "auto"
    """How versions compare: auto (semver tags by semver, CI builds by run number, else push
    time), semver, numeric, lexical, run-number or push-time."""
    allow_scheme_change: bool = False
    """Under ordering auto, let a version of another scheme (a semver tag after CI-run or
    push-time builds, or the reverse) replace the target's current one. Off: it is superseded,
    because keys of different schemes do not compare. Keys of one scheme never go down either way."""
    verify: bool = True
    """Ask the image's registry before writing: a tag it does not have is not written, and the
    group waits for it with backoff (CI may announce before its push finishes) for
    MANIFEST_BOT_REGISTRY_WAIT_S, then gives up with a comment. Off: the event is trusted as it is.
    Digests the pin mode needs are asked for either way."""
    digest: Tag | None = None
    """Follow this mutable tag's digest ('latest', 'stable', 'prod'), as Argo CD Image Updater's
    digest strategy does: a push of the tag updates the target when the registry says its digest
    changed; other tags are refused. Written as tag@digest ('tag' pin), or the digest alone with
    pin 'digest'."""
    extract: Extract | None = None
    """An RE2 pattern with one named group, searched in the tag (Flux filterTags pattern +
    extract): a tag it does not match is not eligible; the group's text is what order reads.
    Needs order."""
    order: OrderSetting = None
    """Order tags by the extracted part (or the whole tag): semver, numerical or alphabetical, or
    {by: numerical, direction: descending}. Set, it replaces ordering; the never-downgrade rule
    compares these keys."""
    platforms: Annotated[tuple[Platform, ...], Field(max_length=16)] = ()
    """A tag is eligible only when its image lists every one of these platforms ('linux/amd64',
    'linux/arm64', 'linux/arm/v7'), as Argo CD Image Updater's platforms: the registry's image
    index (or a single image's config) is read once per digest. Chat-ops commands are not checked."""
    min_release_age: ReleaseAge | None = None
    """A tag is proposed only once it is this old ('3d'; s, m, h or d): its age is what the
    registry says (the org.opencontainers.image.created annotation, else the image config's
    created), or since the bot first saw the tag when it says nothing usable. A younger tag
    waits and the group says from when it is eligible. Chat-ops commands are not held back."""

    @property
    def tag_order(self) -> TagOrder | None:
        """How ``order``/``extract`` key a tag (None: ``ordering`` decides)."""
        if self.order is None:
            return None
        return TagOrder(self.order.by, self.order.direction, self.extract)

    @property
    def effective_pin(self) -> PinMode:
        """The pin mode used: following a digest with pin 'tag' would never change a file, so it
        writes tag@digest."""
        return "tag+digest" if self.digest is not None and self.pin == "tag" else self.pin

    def rejection(self, tag: str) -> str | None:
        if self.digest is not None:  # a followed tag is named explicitly: no other filter applies
            if tag == self.digest:
                return None
            return f"tag {tag!r} is not {self.digest!r}, the tag whose digest this target follows"
        problem = self._order_rejection(tag)
        return problem or rejection(
            tag,
            semver=self.semver,
            allow=self.allow,
            deny=self.deny,
            prereleases=self.prereleases,
            ignore=self.ignore,
            variants=self.variants,
        )

    def _order_rejection(self, tag: str) -> str | None:
        """Why ``extract``/``order`` make the tag ineligible: no match, or a part it cannot order."""
        if self.extract is not None and self.order is None:
            return "policy.extract needs policy.order (semver, numerical or alphabetical)"
        order = self.tag_order
        if order is None:
            return None
        try:
            order.key(tag)
        except Unorderable as exc:
            return str(exc)
        if order.by == "semver" and not self.prereleases:
            version = parse_semver(order.part(tag))
            if version is not None and version.is_prerelease:
                return f"tag {tag!r} is a prerelease and prereleases are off"
        return None


_PR = PrOptions()


class PrLimits(Model):
    open: Annotated[int, Field(ge=1, le=10_000)] | None = None
    """At most this many of the bot's PRs open in the manifest repo (Renovate's prConcurrentLimit)."""
    per_hour: Annotated[int, Field(ge=1, le=10_000)] | None = None
    """At most this many new PRs opened in the repo in any hour (Renovate's prHourlyLimit)."""


class PrSettings(Model):
    title_template: Annotated[str, AfterValidator(_text_template)] = _PR.title_template
    commit_template: Annotated[str, AfterValidator(_commit_template)] = _PR.commit_template
    """The commit subject with {placeholder}s as title_template; or, holding '{{', '{%' or '{#',
    a Jinja template of the whole message over the group's change list (docs/config.md)."""
    body_template: Annotated[str, AfterValidator(_body_template)] | None = _PR.body_template
    """A Jinja template over the group's change list (changes, images, env, group, repo, …)
    replacing the PR body's summary, table and source links; the bot's own sections follow."""
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    """Users (or org/team on GitHub) asked for review."""
    assignees: tuple[str, ...] = ()
    draft: bool = False
    auto_merge: bool = False
    """After the bot writes the PR, turn the forge's own auto-merge on (GitHub auto-merge, GitLab
    merge when pipeline succeeds) with merge_method; where the forge refuses, the bot waits and
    asks again, and says so on the PR."""
    merge_method: Literal["merge", "squash", "rebase"] = _PR.merge_method
    branch_prefix: Branch = _PR.branch_prefix
    """The bot's branches are <branch_prefix>/<environment>/<group> (git's branch-name rules)."""
    mode: Literal["pr", "push"] = _PR.mode
    """pr opens a pull request; push commits straight to the base branch."""
    separate_major: bool = _PR.separate_major
    """A major bump (2.0.0 over 1.x) goes to its own group <group>-major, so a minor update can
    merge while the major one waits for review; both are reconciled and promoted like any other."""
    rebase: Literal["auto", "conflicted", "never"] = _PR.rebase
    """When the base branch moved, rebuild the PR's branch on it: conflicted (only when the base
    changed a file the PR edits), auto (also whenever the PR auto-merges), never (only on the
    rebase command). Otherwise an update appends a commit and approvals stay."""
    limits: PrLimits | None = None
    """Per manifest repo: at most 'open' of the bot's PRs open and 'per_hour' opened in any hour;
    a group over the limit waits in line (first come, first served) to open its PR. Updates of
    open PRs and chat-ops commands are not limited. Set centrally (a repo's own file may not)."""

    def options(self) -> PrOptions:
        data = self.model_dump(exclude={"limits"})
        limits = None if self.limits is None else Limits(self.limits.open, self.limits.per_hour)
        return PrOptions(**data, limits=limits)


# --- rules and targets -------------------------------------------------------------------------
class Discovery(Model):
    include: tuple[RepoPath, ...] = ("**/*.yaml", "**/*.yml")
    """Globs of files searched for the image when a target lists no files."""
    exclude: tuple[RepoPath, ...] = ()


class Target(Model):
    forge: str
    """Name of a forge in 'forges'."""
    repo: str
    """Manifest repo: owner/name, GitLab group/project, or a local repo's directory name."""
    branch: Branch = "main"
    """Base branch the pull request targets."""
    environment: BranchPart | None = None
    group: BranchPart | None = None
    """One PR per group; default: the environment, or 'default'."""
    files: tuple[RepoPath, ...] = ()
    """Paths or globs relative to the repo root; empty = discover files that use the image."""
    discover: Discovery = Discovery()
    marker: str | None = None
    """Edit only values tagged with this setter marker ('namespace:name')."""
    path: str | None = None
    """Edit only this dotted path (spec.template.spec.containers[0].image)."""
    doc: Annotated[int, Field(ge=0)] | None = None
    """With path: the 0-based YAML document in the file."""
    policy: Policy = Policy()
    pr: PrSettings = PrSettings()

    @model_validator(mode="after")
    def _one_selector(self) -> Target:
        if self.marker and self.path:
            raise ValueError("give marker or path, not both")
        if self.doc is not None and not self.path:
            raise ValueError("doc needs path")
        return self

    @property
    def group_name(self) -> str:
        return self.group or self.environment or "default"

    def label(self) -> str:
        return f"{self.forge}:{self.repo}@{self.branch}/{self.group_name}"


class CiMatch(Model):
    repo: str
    """App repo whose CI builds the image (owner/name or GitLab path)."""
    forge: Literal["github", "gitlab", "cdevents"] | None = None
    """Only runs reported by this kind of source (default: any)."""
    branches: tuple[str, ...] = ("*",)
    """Globs of branches whose runs count."""
    tags: tuple[str, ...] = ()
    """Globs of git tags whose runs count (tag pipelines); empty = none."""
    workflows: tuple[str, ...] = ()
    """Globs of workflow / pipeline names; empty = any."""
    jobs: tuple[str, ...] = ()
    """Globs of job names (GitLab pipelines list their jobs); the run counts only when one of
    them succeeded. Empty = no condition on jobs."""
    image: CiImage | None = None
    """The image the run built. It may name {workflow} or {job}: the part of the workflow's (or
    each successful job's) name that the '*' of the matching workflows (jobs) glob matched, or the
    whole name, lower-cased: workflows: ['build-*'] and image: registry.example.com/shop/{workflow}
    map the run of build-api to registry.example.com/shop/api. With {job}, one image per job."""
    images: tuple[ImageName, ...] = ()
    """Instead of image: every image the run built (a monorepo pipeline), all with the same tag."""
    tag: Annotated[str, AfterValidator(_ci_template)]
    """Tag the run pushed: {sha} {short_sha} {branch} {run_number} {run_id} {ref_name}."""

    @model_validator(mode="after")
    def _image_or_images(self) -> CiMatch:
        if (self.image is None) == (not self.images):
            raise ValueError("give image or images (not both)")
        if self.image and "{job}" in self.image and not self.jobs:
            raise ValueError("{job} needs jobs: the globs of the jobs that build images (not tests)")
        return self

    def image_globs(self) -> tuple[str, ...]:
        """Canonical names (globs where the image names a placeholder) of what the rule builds."""
        if self.images:
            return tuple(canonical(i) for i in self.images)
        assert self.image is not None
        if not _format_fields(self.image):
            return (canonical(self.image),)
        filled = canonical(self.image.format(workflow=_SLOT, job=_SLOT))
        return (filled.replace(_SLOT, "*"),)


class Rule(Model):
    name: Name
    image: ImageName | None = None
    """Match pushes of exactly this image (compared normalised: nginx = docker.io/library/nginx)."""
    image_glob: str | None = None
    """Match images whose normalised name fits this glob (ghcr.io/acme/*)."""
    image_regex: Regex | None = None
    """Match images whose normalised name fully matches this regular expression."""
    chart: ChartName | None = None
    """Match this Helm chart instead of an image: an OCI chart as oci://host/path/name (its pushes
    and its registry's tags), or a chart's name with its Helm repository in repository (its
    index.yaml). Edits the chart's version wherever a manifest pins it (HelmRelease,
    OCIRepository, Argo CD, Chart.yaml dependencies, Kustomize helmCharts)."""
    chart_glob: str | None = None
    """Match OCI charts whose oci://host/path/name fits this glob (oci://ghcr.io/acme/charts/*)."""
    repository: HelmRepository | None = None
    """With a chart given by name: the Helm repository serving it (https://charts.example.com),
    whose index.yaml lists its versions."""
    ci: CiMatch | None = None
    """Match finished CI runs instead of registry pushes."""
    policy: Policy = Policy()
    pr: PrSettings = PrSettings()
    rename: bool = False
    """A value a target selects by marker or path that names another image gets this image's name
    (promotion across registries, Flux ':name' markers); off: such a value is left alone (marker)
    or the edit is refused (path)."""
    targets: Annotated[tuple[Target, ...], Field(min_length=1)]
    poll: Duration | None = None
    """Also ask the registry every interval ('5m', '1h', '90s'; at least a minute) for the highest
    tag each target's policy allows, and plan it as a push: a lost webhook is caught within one
    interval. Off by default; needs 'image' or 'chart' (a glob, regex or CI rule names no one
    image to list); a chart of a Helm repository is polled through its index.yaml."""

    @model_validator(mode="after")
    def _one_match(self) -> Rule:
        keys = ("image", "image_glob", "image_regex", "chart", "chart_glob", "ci")
        given = [k for k in keys if getattr(self, k) is not None]
        if len(given) != 1:
            found = f" (found {', '.join(given)})" if given else ""
            raise ValueError(f"give exactly one of {', '.join(keys[:-1])} or ci{found}")
        if self.poll is not None and self.image is None and self.chart is None:
            raise ValueError(
                f"poll needs 'image' or 'chart' (a rule matching by {given[0]} names no one image to list)"
            )
        if self.repository is not None and self.chart is None:
            raise ValueError("repository goes with chart (a chart's name and the Helm repository serving it)")
        if self.chart is not None:
            chart_key(self.chart, self.repository)  # ValueError: pydantic reports it on the rule
        if self.chart_glob is not None and not self.chart_glob.startswith(OCI):
            raise ValueError("chart_glob matches OCI charts: write it as oci://host/path/* ")
        if self.routes_charts:
            _chart_policy(self.policy)
            for target in self.targets:
                _chart_policy(target.policy)
                if target.marker:
                    raise ValueError("a chart rule's target selects charts by name or path, not by marker")
        return self

    @property
    def routes_charts(self) -> bool:
        return self.chart is not None or self.chart_glob is not None

    @functools.cached_property
    def chart_key(self) -> str | None:
        """The key (``bot.core.chart_names``) of the chart this rule names, if it names one."""
        return chart_key(self.chart, self.repository) if self.chart is not None else None

    def matches_image(self, image: str) -> bool:
        """``image`` in any spelling (or a chart key: chart rules match charts only, image rules
        images only); CI rules match the image they build."""
        from fnmatch import fnmatchcase

        if is_chart(image) != self.routes_charts:
            return False
        name = canonical(image)
        if self.chart_key is not None:
            return self.chart_key == name
        if self.chart_glob is not None:
            return fnmatchcase(name, self.chart_glob.lower())
        if self.image is not None:
            return canonical(self.image) == name
        if self.image_glob is not None:
            return fnmatchcase(name, self.image_glob)
        if self.image_regex is not None:
            return user_regex(self.image_regex).fullmatch(name) is not None
        return self.ci is not None and any(fnmatchcase(name, g) for g in self.ci.image_globs())


def _chart_policy(policy: Policy) -> None:
    """A chart's version is written as a version: no digest pin, no followed digest."""
    if policy.pin != "tag" or policy.digest is not None:
        raise ValueError("a chart rule writes versions: policy.pin 'tag' only, no policy.digest")


# --- environments, promotion, chat-ops, repo files -----------------------------------------------
_K8S_NAME = r"[a-z0-9]([-.a-z0-9]*[a-z0-9])?"
_FLUX_OBJECT = re.compile(rf"^[A-Z][A-Za-z0-9]*/{_K8S_NAME}/{_K8S_NAME}$")
_K8S_NAME_RE = re.compile(rf"^{_K8S_NAME}$")


def _flux_object(value: str) -> str:
    if not _FLUX_OBJECT.match(value):
        raise ValueError(f"{value!r} is not Kind/namespace/name (Kustomization/flux-system/apps-dev)")
    return value


def _app_name(value: str) -> str:
    if not _K8S_NAME_RE.match(value):
        raise ValueError(f"{value!r} is not an Argo CD Application name (lower case, digits, '-', '.')")
    return value


#: a Flux object as its events name it: ``Kind/namespace/name``
FluxObject = Annotated[str, AfterValidator(_flux_object)]
AppName = Annotated[str, AfterValidator(_app_name)]


class Deployment(Model):
    """A cluster object that deploys the environment; its reports say what runs there."""

    flux: FluxObject | None = None
    """Kind/namespace/name of a Flux object (Kustomization/flux-system/apps-dev, HelmRelease/...)."""
    argocd: AppName | None = None
    """An Argo CD Application name."""

    @model_validator(mode="after")
    def _one_tool(self) -> Deployment:
        if (self.flux is None) == (self.argocd is None):
            raise ValueError("give flux or argocd (one per entry)")
        return self

    @property
    def key(self) -> tuple[str, str]:
        """(tool, object) as a report names them."""
        return ("flux", self.flux) if self.flux is not None else ("argocd", self.argocd or "")


def _zone(value: str) -> str:
    zone(value)  # ValueError with the hint users see
    return value


CronExpr = Annotated[str, AfterValidator(check_cron)]


class Schedule(Model):
    timezone: Annotated[str, AfterValidator(_zone)] = "UTC"
    """The IANA time zone the expressions are read in ('Europe/Berlin'; daylight saving included)."""
    cron: Annotated[tuple[CronExpr, ...], Field(min_length=1, max_length=32)]
    """5-field cron expressions; a minute matching one of them is inside the window
    ('* 9-16 * * 1-5': 09:00 to 16:59 on weekdays)."""

    def is_open(self, now: datetime) -> bool:
        return is_open(self.cron, self.timezone, now)

    def opens_at(self, now: datetime) -> datetime:
        """``now`` inside the window, else when it next opens (UTC)."""
        return opens_at(self.cron, self.timezone, now)


class Environment(Model):
    pr: PrSettings = PrSettings()
    policy: Policy = Policy()
    promote_only: bool = False
    """Take no registry push or CI run directly: only chat-ops promote (from the stage before it
    in a promotion chain) and rollback change its targets."""
    deployments: tuple[Deployment, ...] = ()
    """Cluster objects whose Flux or Argo CD reports say what this environment runs."""
    schedule: Schedule | None = None
    """When the bot may open or update this environment's PRs (Renovate's schedule): outside, new
    versions wait; a person's chat-ops command still acts at once. Absent: any time."""


class AutoPromotion(Model):
    after_healthy: Wait
    """How long a stage must have been reported healthy at a revision before the next stage gets
    the versions it runs there ('10m'; '0s': as soon as it is)."""


class PromotionChain(Model):
    name: Name
    environments: Annotated[tuple[Name, ...], Field(min_length=2)]
    """Ordered stages, e.g. [dev, staging, prod]."""
    images: tuple[str, ...] = ()
    """Globs of normalised image names using this chain; empty (and no groups) = every image."""
    groups: tuple[str, ...] = ()
    """PR group names using this chain."""
    auto: AutoPromotion | None = None
    """Promote along the chain by itself, each stage once the one before is reported healthy
    (its environments list deployments); off when absent: only chat-ops promote."""
    on_failure: Literal["stop", "rollback"] = "stop"
    """A failed or degraded report stops the chain there; 'rollback' also opens a PR putting that
    stage back at the versions it last ran healthy."""

    def after(self, environment: str) -> str | None:
        """The stage after ``environment`` in this chain (None: the last, or not in it)."""
        envs = self.environments
        return envs[envs.index(environment) + 1] if environment in envs[:-1] else None


def _chatops_command(value: str) -> str:
    command_kind(value)  # ValueError "unknown chat-ops command 'promte'"
    return value


class ChatOpsOverride(Model):
    commands: tuple[Annotated[str, AfterValidator(_chatops_command)], ...] = ()
    """Commands this rule applies to (promote, rollback, merge, ...); empty = every command."""
    environments: tuple[str, ...] = ()
    """Environments it applies to (a PR's own, or the promote target); empty = every one."""
    permission: PermissionName | None = None
    """Least permission that satisfies the rule..."""
    users: tuple[str, ...] = ()
    """...or being one of these users..."""
    teams: tuple[str, ...] = ()
    """...or a member of one of these teams (GitHub org/slug or slug; GitLab group path)."""


class ChatOps(Model):
    enabled: bool = True
    default_permission: PermissionName = "write"
    """Least repo permission any command needs."""
    commands: dict[str, PermissionName] = {}
    """Least permission per command (promote: maintain)."""
    environments: dict[str, PermissionName] = {}
    """Least permission for commands acting on an environment (prod: admin)."""
    allowed_users: tuple[str, ...] = ()
    """When users or teams are listed, only they may run commands (besides the permission)."""
    allowed_teams: tuple[str, ...] = ()
    overrides: tuple[ChatOpsOverride, ...] = ()
    """Rules replacing the default for matching commands/environments; all matching must pass."""


class BotIdentity(Model):
    login: str | None = None
    """Overrides settings.bot_login."""
    command_prefix: str | None = None
    """Overrides settings.command_prefix (/manifest-bot)."""


class RepoFiles(Model):
    path: str = ".manifest-bot.yaml"
    """File read from each manifest repo's base branch."""
    allow: tuple[str, ...] = ()
    """Key paths (globs) a repo file may set: 'pr.labels', 'pr.*', 'environments.*.pr.reviewers'."""


class Defaults(Model):
    policy: Policy = Policy()
    pr: PrSettings = PrSettings()


class RepoEnvironment(Model):
    pr: PrSettings = PrSettings()
    policy: Policy = Policy()


class RepoFile(Model):
    """A manifest repo's own ``.manifest-bot.yaml``; it may set only what ``repo_files.allow`` lists."""

    pr: PrSettings = PrSettings()
    policy: Policy = Policy()
    environments: dict[str, RepoEnvironment] = {}


# --- the whole file ----------------------------------------------------------------------------
class Config(Model):
    version: Literal[1] = 1
    bot: BotIdentity = BotIdentity()
    forges: Annotated[tuple[ForgeConfig, ...], Field(min_length=1)]
    defaults: Defaults = Defaults()
    environments: dict[str, Environment] = {}
    """Declared stages with their PR and policy settings; targets and chains name them."""
    promotion: tuple[PromotionChain, ...] = ()
    rules: tuple[Rule, ...] = ()
    chatops: ChatOps = ChatOps()
    repo_files: RepoFiles | None = None
    """Read .manifest-bot.yaml from manifest repos; absent = never read."""

    def deployed_environment(self, tool: str, obj: str) -> str | None:
        """The environment whose ``deployments`` list the reported object (None: none does)."""
        for name, env in self.environments.items():
            if any(d.key == (tool, obj) for d in env.deployments):
                return name
        return None

    @functools.cached_property
    def separating(self) -> bool:
        """Whether any PR settings set ``separate_major`` (else no target needs resolving them)."""
        prs = [self.defaults.pr, *(e.pr for e in self.environments.values())]
        prs += [r.pr for r in self.rules] + [t.pr for r in self.rules for t in r.targets]
        return any(pr is not None and pr.separate_major for pr in prs)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Config:
        """A copy (a repo file's patch) that works out ``separating`` again from its own settings."""
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("separating", None)
        return copied

    def separates_major(self, rule: Rule, target: Target) -> bool:
        """``pr.separate_major`` of one target: its major bumps go to ``<group>-major``."""
        return self.separating and self.pr_for(rule, target).separate_major

    def target_groups(self, rule: Rule, target: Target) -> tuple[str, ...]:
        """The groups one target's versions go to: its own, and ``<group>-major`` when it separates."""
        name = target.group_name
        return (name, name + MAJOR_SUFFIX) if self.separates_major(rule, target) else (name,)

    def _keys(self, environment: str | None = None) -> set[GroupKey]:
        return {
            GroupKey(t.forge, t.repo, t.branch, group)
            for r in self.rules
            for t in r.targets
            if environment is None or t.environment == environment
            for group in self.target_groups(r, t)
        }

    def environment_groups(self, environment: str) -> tuple[GroupKey, ...]:
        """Every update group whose targets are in ``environment``, sorted."""
        return tuple(sorted(self._keys(environment)))

    def promote_only(self, environment: str | None) -> bool:
        env = self.environments.get(environment or "")
        return env is not None and env.promote_only

    def forge(self, name: str) -> GitHubForge | GitLabForge | LocalForge:
        for forge in self.forges:
            if forge.name == name:
                return forge
        known = ", ".join(f.name for f in self.forges)
        raise KeyError(f"unknown forge {name!r} (configured: {known})")

    def targets_in_repo(self, forge: str, repo: str) -> tuple[Target, ...]:
        """Every target (of every rule) in one manifest repo, in config order."""
        return tuple(t for r in self.rules for t in r.targets if t.forge == forge and t.repo == repo)

    def policy_for(self, rule: Rule, target: Target) -> Policy:
        env = self.environments.get(target.environment or "")
        policy = self.defaults.policy
        for patch in (env.policy if env else None, rule.policy, target.policy):
            if patch is not None:
                policy = policy.patched(patch)
        if rule.routes_charts and (policy.pin != "tag" or policy.digest is not None):  # type: ignore[attr-defined]
            # a chart's version is written as a version: a defaults' or environment's digest
            # pinning is for its images
            policy = policy.model_copy(update={"pin": "tag", "digest": None})
        return policy  # type: ignore[return-value]

    def pr_for(self, rule: Rule, target: Target) -> PrOptions:
        env = self.environments.get(target.environment or "")
        pr = self.defaults.pr
        for patch in (env.pr if env else None, rule.pr, target.pr):
            if patch is not None:
                pr = pr.patched(patch)
        return pr.options()  # type: ignore[attr-defined]

    def promotion_chain(self, image_or_group: str) -> tuple[str, ...]:
        """Ordered environments for an image (any spelling) or a PR group; () when none applies."""
        from fnmatch import fnmatchcase

        try:
            image = canonical_name(image_or_group)
        except ValueError:
            image = image_or_group
        fallback: tuple[str, ...] = ()
        for chain in self.promotion:
            if image_or_group in chain.groups or any(fnmatchcase(image, g) for g in chain.images):
                return chain.environments
            if not chain.images and not chain.groups and not fallback:
                fallback = chain.environments
        return fallback

    def poll_intervals(self) -> dict[str, float]:
        """Every polled image (canonical) or chart (its key) and its interval: the shortest of the
        rules polling it."""
        out: dict[str, float] = {}
        for rule in self.rules:
            if rule.poll is not None and (rule.image is not None or rule.chart_key is not None):
                name = rule.chart_key or canonical(rule.image or "")
                out[name] = min(out.get(name, rule.poll), rule.poll)
        return out

    def forge_names(self, kind: str) -> list[str]:
        """Config forge names an event from a forge of ``kind`` may belong to (events carry the
        forge kind, groups the config's name): forges of that kind, and local forges whose
        ``webhooks`` names it."""
        return [f.name for f in self.forges if kind == f.kind or kind == getattr(f, "webhooks", None)]

    def forge_name_for(self, kind: str, repo: str) -> str:
        """The config's forge for an event of ``kind`` in ``repo``: the one with targets there."""
        names = self.forge_names(kind)
        for name in names:
            if self.targets_in_repo(name, repo):
                return name
        return names[0] if names else kind

    def group_keys(self) -> tuple[GroupKey, ...]:
        """Every update group the targets name, sorted (the resync rebuilds each one Redis lost)."""
        return tuple(sorted(self._keys()))

    def group_targets(self, group_key: GroupKey) -> list[tuple[Rule, Target]]:
        """Every (rule, target) of one update group, in config order."""
        where = (group_key.forge, group_key.repo, group_key.base)
        return [
            (rule, target)
            for rule in self.rules
            for target in rule.targets
            if (target.forge, target.repo, target.branch) == where
            and group_key.group in self.target_groups(rule, target)
        ]

    def pr_for_group(self, group_key: GroupKey, images: Iterable[str] = ()) -> PrOptions:
        """The PR settings of a group now: those of the group's targets whose rule routes one of
        ``images`` (every target of the group when none does). Labels, reviewers and assignees are
        the union, in config order; every other setting is the first such target's. The branch
        prefix and mode come from the group's first target whatever the images, so the group's
        branch never depends on which images its PR holds. A group the config no longer routes
        gets the defaults (and its environment's settings)."""
        pairs = self.group_targets(group_key)
        if not pairs:
            return self._fallback_pr(group_key)
        names = [canonical(i) for i in images]
        chosen = [(r, t) for r, t in pairs if any(r.matches_image(n) for n in names)] or pairs
        options = [self.pr_for(r, t) for r, t in chosen]
        first = self.pr_for(*pairs[0])
        return replace(
            options[0],
            labels=_union(o.labels for o in options),
            reviewers=_union(o.reviewers for o in options),
            assignees=_union(o.assignees for o in options),
            branch_prefix=first.branch_prefix,
            mode=first.mode,
        )

    def _fallback_pr(self, group_key: GroupKey) -> PrOptions:
        env = self.environments.get(group_key.group)
        pr = self.defaults.pr.patched(env.pr) if env is not None else self.defaults.pr
        return pr.options()  # type: ignore[attr-defined]

    def branches_of(self, group_key: GroupKey) -> tuple[str, ...]:
        """The head branches ``<branch_prefix>/<env>/<group>`` the group's targets give its PR."""
        found = [
            self.pr_for(rule, target).branch(target.environment, group_key.group)
            for rule, target in self.group_targets(group_key)
        ]
        return tuple(dict.fromkeys(found))

    def environment_of(self, group_key: GroupKey) -> str | None:
        """The environment of a group's targets (None when no target of the group has one)."""
        for _, target in self.group_targets(group_key):
            if target.environment:
                return target.environment
        return None

    def schedule_of(self, group_key: GroupKey) -> Schedule | None:
        """The maintenance window of a group's environment (None: it may change any time)."""
        env = self.environments.get(self.environment_of(group_key) or "")
        return env.schedule if env is not None else None


def _union(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for group in groups for item in group))
