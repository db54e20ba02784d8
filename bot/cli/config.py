"""``manifest-bot check-config`` and ``manifest-bot explain``: is the routing config right (and a
manifest repo's own ``.manifest-bot.yaml`` with it), and what would an event change? Neither writes
anything anywhere.

Both warn about targets that discover their files in the whole repository (no ``files``, no
``discover.include``) and, given a checkout (``--repo-dir``), list the files such a target would
touch; and about rules that overlap (``bot.core.overlaps``: targets of two rules reaching one
reference), naming both."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bot import sources
from bot.cli.manifests import unified_diff
from bot.cli.status import connect, redis_options, settings_for
from bot.core.chart_names import chart_key, ref_matches
from bot.core.config import Config, apply_repo_patch, load_config, read_repo_file
from bot.core.config.model import Discovery, LocalForge, Rule, Target
from bot.core.events import Delivery, Event, ImagePushed, event_from_dict, event_to_dict
from bot.core.images import canonical_name, parse_image
from bot.core.intents import PlanResult, Skip, UpdateIntent
from bot.core.keys import GroupKey
from bot.core.lanes import claimed_by_others, unscoped
from bot.core.manifests import load_text
from bot.core.manifests.model import Reference
from bot.core.overlaps import Ref, listed_refs, overlaps
from bot.core.planning import plan, reach
from bot.core.platforms import missing
from bot.core.ports import ForgeInfo, Registry
from bot.core.release_age import age_text, eligible_at, shown
from bot.core.versions import parse_instant
from bot.deps import build_registry
from bot.errors import BotError, ConfigError, InvalidReference, NotFound, SettingsError, WebhookError
from bot.forges.local.signing import load_signing
from bot.services.desired import edit_intent
from bot.services.files import ScanCache, glob_regex, resolve_files
from bot.services.pr_limits import assess, limits_of
from bot.services.scans import load_and_scan, scan_all
from bot.services.shared_values import moves_all, shared_by
from bot.settings import Settings
from bot.store.groups import GroupStore
from bot.store.intents import IntentStore
from bot.store.pr_slots import PrSlots

EXIT_INVALID = 2


def _config_path(given: Path | None) -> Path:
    if given is not None:
        return given
    path = Settings.from_env().config_path
    if path is None:
        raise click.UsageError("no config file: pass one or set MANIFEST_BOT_CONFIG_PATH")
    return path


def _load(path: Path) -> Config:
    """The config, or exit 2 after printing every problem as file:line: path: message."""
    try:
        return load_config(path.read_text(encoding="utf-8-sig"), str(path))
    except OSError as exc:
        click.echo(f"{path}: cannot read: {exc.strerror}", err=True)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        click.echo(f"{path}: invalid ({len(exc.problems)} problem{'s' * (len(exc.problems) != 1)})", err=True)
    raise SystemExit(EXIT_INVALID)


@click.command("check-config")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--repo-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A manifest checkout: list the files each whole-repository discovery would touch in it, "
    "and the images a target's shared Helm value moves.",
)
@click.option(
    "--repo-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also check a manifest repo's own .manifest-bot.yaml against FILE.",
)
@click.option(
    "--repo", "repo_name", help="With --repo-dir or --repo-file: which manifest repo it is ([forge:]repo)."
)
def check_config(
    file: Path | None, repo_dir: Path | None, repo_file: Path | None, repo_name: str | None
) -> None:
    """Validate the routing config FILE (default $MANIFEST_BOT_CONFIG_PATH) and, with --repo-file,
    a manifest repo's own file: every key it may not set or sets wrongly is a problem.

    Prints each problem as file:line: key.path: message and exits 2; exits 0 when valid. A target
    that discovers files without discover.include gets a warning (and, with --repo-dir, the list
    of files it would touch).
    """
    path = _config_path(file)
    config = _load(path)
    _check_signing(path, config)
    checkout = _Checkout(repo_dir) if repo_dir else None
    for line in _discovery_warnings(config, checkout, repo_name):
        click.echo(line, err=True)
    for line in _shared_warnings(config, checkout, repo_name) if checkout else []:
        click.echo(line, err=True)
    refs = listed_refs(config) + (_checkout_refs(config, checkout, repo_name) if checkout else [])
    for overlap in overlaps(config, refs):
        click.echo(f"warning: {overlap.describe()}", err=True)
    targets = sum(len(r.targets) for r in config.rules)
    click.echo(f"{path}: ok ({len(config.forges)} forges, {len(config.rules)} rules, {targets} targets)")
    if repo_file is None:
        return
    forge, repo = _repo_of(config, repo_name)
    patch = read_repo_file(config, _text(repo_file), str(repo_file), forge=forge, repo=repo)
    for problem in patch.problems:
        click.echo(problem, err=True)
    if patch.problems:
        noun = "problem" if len(patch.problems) == 1 else "problems"
        click.echo(f"{repo_file}: {len(patch.problems)} {noun}; the bot leaves those keys out", err=True)
        raise SystemExit(EXIT_INVALID)
    click.echo(f"{repo_file}: ok (for {forge}:{repo})")


def _check_signing(path: Path, config: Config) -> None:
    """Every local forge's signing key signs (one throw-away commit each), else exit 2 saying why."""
    problems = []
    for forge in config.forges:
        if isinstance(forge, LocalForge) and forge.signing_key_file:
            try:
                load_signing(forge.name, forge.signing_key_file, forge.signing_format)
            except SettingsError as exc:
                problems.append(f"{path}: {exc}")
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(EXIT_INVALID)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: cannot read: {exc}") from None


def _repo_of(config: Config, given: str | None) -> tuple[str, str]:
    """(forge, repo) a repo file belongs to: ``given`` ([forge:]repo), else the config's only one."""
    repos = sorted({(t.forge, t.repo) for r in config.rules for t in r.targets})
    if given is not None:
        found = [(f, r) for f, r in repos if given in (r, f"{f}:{r}")]
        if len(found) == 1:
            return found[0]
        known = ", ".join(f"{f}:{r}" for f, r in repos) or "none"
        raise click.UsageError(f"--repo {given!r} names no single manifest repo of the config ({known})")
    if len(repos) != 1:
        known = ", ".join(f"{f}:{r}" for f, r in repos) or "none"
        raise click.UsageError(f"name the manifest repo with --repo (the config has: {known})")
    return repos[0]


def _discovery_warnings(config: Config, checkout: _Checkout | None, repo: str | None) -> list[str]:
    out: list[str] = []
    for i, rule in enumerate(config.rules):
        for j, target in enumerate(rule.targets):
            if not unscoped(target):
                continue
            others = claimed_by_others(config, target)
            what = f"the marker {target.marker}" if target.marker else _images(rule)
            out.append(
                f"warning: rules[{i}] ({rule.name}) targets[{j}] ({target.label()}) discovers files without "
                f"discover.include: it may edit any YAML file of {target.repo} that uses {what}"
                + (f", except {', '.join(others)} (other environments')" if others else "")
            )
            if checkout is not None and repo in (None, target.repo, f"{target.forge}:{target.repo}"):
                touched = _would_touch(checkout, rule, target, others)
                out.append(f"  would touch: {', '.join(touched) if touched else 'no file of the checkout'}")
    return out


def _shared_warnings(config: Config, checkout: _Checkout, repo: str | None) -> list[str]:
    """A target whose ``path`` is a value several images of a chart read moves them all."""
    out = []
    for i, rule in enumerate(config.rules):
        for j, target in enumerate(rule.targets):
            if repo not in (None, target.repo, f"{target.forge}:{target.repo}"):
                continue
            for file, found in shared_by(checkout, target.repo, "", target.files, target.path).items():
                out.append(
                    f"warning: rules[{i}] ({rule.name}) targets[{j}] ({target.label()}): "
                    + moves_all(file, target.path or "", found)
                )
    return out


def _checkout_refs(config: Config, checkout: _Checkout, repo_name: str | None) -> list[Ref]:
    """Every image reference of the checkout's YAML files, as references of the manifest repo it
    is (``--repo``, else the config's only one; none when that cannot be told)."""
    repos = {(t.forge, t.repo) for r in config.rules for t in r.targets}
    if repo_name is None and len(repos) != 1:
        return []
    forge, repo = _repo_of(config, repo_name)
    out = []
    for path in checkout.list_tree("", ""):
        if not path.endswith((".yaml", ".yml")):
            continue
        try:
            found = load_and_scan(checkout.read_file("", path, ""), path)
        except BotError:
            continue
        for ref in found:
            try:
                out.append(Ref(forge, repo, path, canonical_name(ref.image), ref.marker))
            except InvalidReference:
                continue  # a placeholder, not an image: nothing routes it
    return out


def _images(rule: Rule) -> str:
    if rule.ci is not None:
        return rule.ci.image or ", ".join(rule.ci.images)
    if rule.routes_charts:
        return f"the chart {rule.chart_key}" if rule.chart_key else f"charts matching {rule.chart_glob}"
    return rule.image or f"images matching {rule.image_glob or rule.image_regex}"


def _would_touch(checkout: _Checkout, rule: Rule, target: Target, others: tuple[str, ...]) -> list[str]:
    """Files of the checkout the target's discovery selects (by its marker, else its rule's images)."""
    excluded = [glob_regex(g.lstrip("/")) for g in (*target.discover.exclude, *others)]
    out = []
    for path in checkout.list_tree("", ""):
        if not path.endswith((".yaml", ".yml")) or any(r.match(path) for r in excluded):
            continue
        try:
            refs = scan_all(checkout.read_file("", path, ""), path)
        except BotError:
            continue
        if any(r.marker == target.marker if target.marker else _matches(rule, r) for r in refs):
            out.append(path)
    return out


def _matches(rule: Rule, ref: Reference) -> bool:
    """Whether the rule routes what ``ref`` names: an image, or (a chart rule) the chart of one of
    the keys it names, as the engine selects it (a glob rule: a chart written as ``oci://…``)."""
    try:
        if not ref.is_chart:
            return bool(ref.image) and rule.matches_image(ref.image)
        if rule.chart_key is not None:
            return ref_matches(ref.image, ref.repository, rule.chart_key)
        return ref.image.startswith("oci://") and rule.matches_image(chart_key(ref.image))
    except ValueError:
        return False


# --- explain -----------------------------------------------------------------------------------
class _Checkout:
    """A read-only view of a manifest repo checkout with the two Forge methods file resolution uses."""

    info = ForgeInfo(name="checkout", kind="local")

    def __init__(self, root: Path) -> None:
        self.root = root

    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root.resolve()) or not target.is_file():
            raise NotFound(f"{path}: not in the checkout")
        return target.read_bytes()

    def list_tree(self, repo: str, ref: str) -> list[str]:
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in self.root.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(self.root).parts
        )


def _read_events(
    data: bytes, source_name: str | None, headers: tuple[str, ...]
) -> tuple[list[Event], str | None, str | None]:
    """(events, delivery id, received at) from a Delivery/event JSON or a raw webhook body."""
    header_map = sources.normalise_headers(tuple(p.strip() for p in h.split(":", 1)) for h in headers)  # type: ignore[misc]
    if source_name is None:
        try:
            payload: Any = json.loads(data)
        except ValueError as exc:
            raise click.UsageError(f"--event: not JSON ({exc})") from None
        if isinstance(payload, dict) and "events" in payload and "id" in payload:
            delivery = Delivery.from_dict(payload)
            return list(delivery.events), delivery.id, delivery.received_at
        if isinstance(payload, dict) and "kind" in payload:
            return [event_from_dict(payload)], None, None
        if isinstance(payload, list) and all(isinstance(e, dict) and "kind" in e for e in payload):
            return [event_from_dict(e) for e in payload], None, None
        source_name = sources.detect(header_map, data)
    result = sources.get(source_name).parse(header_map, data)
    if result.ignored_reason:
        click.echo(f"delivery ignored by {source_name}: {result.ignored_reason}")
    return list(result.events), result.delivery_id, None


def _describe(intent: UpdateIntent) -> str:
    version = intent.tag or ""
    if intent.digest:
        version += f"@{intent.digest}"
    where = ", ".join(intent.files) if intent.files else "auto-discovered files"
    selector = f" marker {intent.marker}" if intent.marker else f" path {intent.path}" if intent.path else ""
    return (
        f"intent: {intent.group_key} (env {intent.environment or '-'}): {intent.image} -> {version}"
        f" [pin {intent.pin}, {intent.ordering_scheme} {list(intent.ordering_key)}] in {where}{selector}"
    )


def _print_plan(result: PlanResult, *, checkout: bool = False) -> None:
    for intent in result.intents:
        click.echo(_describe(intent))
        if _discovers_everywhere(intent):
            hint = "" if checkout else " (pass --repo-dir to list them)"
            click.echo(
                f"warning: {intent.group_key} discovers files without discover.include: it may edit any "
                f"YAML file of {intent.repo} that uses {intent.image}{hint}"
            )
    for skip in result.skips:
        scope = " -> ".join(x for x in (f"rule {skip.rule}" if skip.rule else "", skip.target or "") if x)
        click.echo(f"skip: {f'[{scope}] ' if scope else ''}{skip.reason}")


def _diff(checkout: _Checkout, intent: UpdateIntent) -> None:
    try:
        files = resolve_files(checkout, intent, "checkout", cache=ScanCache())  # type: ignore[arg-type]
    except BotError as exc:
        click.echo(f"# {intent.group_key}: {exc}")
        return
    if _discovers_everywhere(intent):
        click.echo(f"# {intent.group_key}: would touch: {', '.join(files) if files else 'no file'}")
    for file, found in shared_by(checkout, intent.repo, "checkout", intent.files, intent.path).items():
        click.echo(f"# {intent.group_key}: warning: {moves_all(file, intent.path or '', found)}")
    if not files:
        click.echo(f"# {intent.group_key}: no file in the checkout references {intent.image}")
    for path in files:
        try:
            text = load_text(checkout.read_file(intent.repo, path, "checkout"), path)
            result = edit_intent(text, path, intent)
        except BotError as exc:
            click.echo(f"# {path}: {exc}")
            continue
        for note in result.skipped:
            click.echo(f"# note: {note}")
        if not result.changed:
            why = "already up to date" if result.matched else "nothing selected"
            click.echo(f"# {path}: no change ({why})")
            continue
        click.echo(unified_diff(path, text, result.text), nl=False)


def _discovers_everywhere(intent: UpdateIntent) -> bool:
    return not intent.files and tuple(intent.discover_include) == Discovery().include


def _for_checkout(intents: tuple[UpdateIntent, ...], repo: str | None) -> list[UpdateIntent]:
    if repo is not None:
        return [i for i in intents if repo in (i.repo, f"{i.forge}:{i.repo}")]
    repos = sorted({f"{i.forge}:{i.repo}" for i in intents})
    if len(repos) > 1:
        raise click.UsageError(f"the intents target several repos ({', '.join(repos)}); pass --repo")
    return list(intents)


def _image_event(image: str, tag: str | None, digest: str | None) -> ImagePushed:
    if image.startswith("oci://"):  # a push of an OCI chart (only chart rules route it)
        try:
            key = chart_key(image)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--image") from None
        if tag is None:
            raise click.UsageError("--image oci://… needs --tag (the chart's version)")
        return ImagePushed(image=key, tag=tag, digest=digest, source="cli")
    try:
        ref = parse_image(image)
    except InvalidReference as exc:
        raise click.BadParameter(str(exc), param_hint="--image") from None
    tag, digest = tag or ref.tag, digest or ref.digest
    if tag is None and digest is None:
        raise click.UsageError("--image needs --tag (or IMAGE:TAG / IMAGE@DIGEST)")
    return ImagePushed(image=ref.canonical_name, tag=tag, digest=digest, source="cli")


@click.command("explain")
@click.option(
    "--event", "event_file", type=click.File("rb"), help="Delivery/event JSON, or a raw webhook body."
)
@click.option(
    "--source", "source_name", type=click.Choice(sources.NAMES), help="Read --event as this sender's body."
)
@click.option(
    "-H", "--header", "headers", multiple=True, help="With --source: a request header 'Name: value'."
)
@click.option(
    "--image",
    help="Explain a push of this image (with --tag and/or --digest); oci://host/path/name: of an OCI chart.",
)
@click.option("--tag")
@click.option("--digest")
@click.option(
    "--repo-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Manifest checkout."
)
@click.option("--repo", "repo_name", help="With --repo-dir: which manifest repo the checkout is.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--received-at", help="Delivery time (ISO 8601) for push-time ordering.")
@click.option(
    "--at",
    "at_time",
    help="Answer as at this moment (ISO 8601; default now): environments' schedules, with "
    "--registry policy.min_release_age, and with --redis pr.limits.",
)
@click.option(
    "--registry",
    "ask_registry",
    is_flag=True,
    help="Ask each image's registry as the worker would (the tag exists? its digest) "
    "(MANIFEST_BOT_REGISTRY_* settings). Without it no registry is asked, and explain says so.",
)
@redis_options
def explain(**opts: Any) -> None:
    """Print the intents and skips an event would produce and, with --repo-dir, the diff each
    intent would make in that checkout. Nothing is written, queued or sent; a registry is asked
    only with --registry."""
    if (opts["event_file"] is None) == (opts["image"] is None):
        raise click.UsageError("give exactly one of --event or --image")
    config = _load(_config_path(opts["config_file"]))
    if opts["image"] is not None:
        events: list[Event] = [_image_event(opts["image"], opts["tag"], opts["digest"])]
        delivery_id, received = None, opts["received_at"]
    else:
        try:
            events, delivery_id, received = _read_events(
                opts["event_file"].read(), opts["source_name"], opts["headers"]
            )
        except (WebhookError, ValueError, KeyError, TypeError) as exc:
            raise click.ClickException(f"cannot read the event: {exc}") from None
        received = opts["received_at"] or received
    checkout = _Checkout(opts["repo_dir"]) if opts["repo_dir"] else None
    if checkout is not None:
        config = _with_repo_file(config, checkout, opts["repo_name"], events)
    for event in events:
        click.echo(f"event: {json.dumps({'kind': event.kind, **_fields(event)}, sort_keys=True)}")
        result = plan(event, config, delivery_id=delivery_id, received_at=received)
        now = _moment(opts["at_time"])
        result = _registry_says(result, ask=opts["ask_registry"], now=now)
        _print_plan(result, checkout=checkout is not None)
        _print_schedules(config, result.intents, now)
        _print_limits(config, result.intents, now, opts["redis_url"], opts["prefix"])
        if checkout is not None:
            images = {i.image for i in result.intents}
            refs = [r for r in _checkout_refs(config, checkout, opts["repo_name"]) if r.image in images]
            for overlap in overlaps(config, refs):
                click.echo(f"warning: {overlap.describe()}")
            for intent in _for_checkout(result.intents, opts["repo_name"]):
                _diff(checkout, intent)


def _moment(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        return parse_instant(text)
    except (ValueError, OverflowError) as exc:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time: {exc}", param_hint="--at") from None


def _print_schedules(config: Config, intents: Sequence[UpdateIntent], now: datetime) -> None:
    """For each group outside its environment's schedule at ``now``: until when its PR waits."""
    for key in dict.fromkeys(i.group_key for i in intents):
        schedule = config.schedule_of(GroupKey.parse(key))
        if schedule is None or schedule.is_open(now):
            continue
        opens = schedule.opens_at(now).strftime("%Y-%m-%dT%H:%M:%SZ")
        at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(
            f"note: {key} is outside its schedule at {at}: its PR opens or updates from {opens}"
            " (a person's chat-ops command acts at once)"
        )


def _print_limits(
    config: Config, intents: Sequence[UpdateIntent], now: datetime, redis_url: str | None, prefix: str | None
) -> None:
    """For each group under ``pr.limits``: whether it would open its PR at ``now``, as the running
    bot's Redis stands (read only; with ``--redis``), else that it depends on that."""
    keys = [k for k in dict.fromkeys(i.group_key for i in intents) if limits_of(config, k) is not None]
    if not keys:
        return
    at = shown(now.timestamp())
    if redis_url is None:
        for key in keys:
            click.echo(
                f"note: {key} opens a PR only within pr.limits; whether it may at {at} depends on the "
                "running bot's PRs: pass --redis (and --prefix) to ask its Redis"
            )
        return
    settings = settings_for(redis_url, prefix)
    conn = connect(settings)
    if conn is None:
        raise click.ClickException("cannot read the bot's state for pr.limits")
    groups, intents_store, slots = (
        GroupStore(conn, settings),
        IntentStore(conn, settings),
        PrSlots(conn, settings),
    )
    for key in keys:
        found, _ = assess(
            config, key, groups=groups, intents=intents_store, slots=slots, now=now.timestamp(), wants=True
        )
        if found is None:
            click.echo(f"note: {key} has its PR open at {at}: pr.limits does not hold its update back")
        elif found.go:
            click.echo(f"note: {key} may open its PR at {at} (within pr.limits)")
        else:
            click.echo(f"note: at {at} {key} {found.reason}")


def _asks_registry(intent: UpdateIntent) -> bool:
    """The worker asks the registry before merging this intent (``bot.services.registry_gate``)."""
    if intent.tag is not None and (intent.min_age_s > 0 or intent.platforms):
        return True
    return intent.verify or (intent.pin != "tag" and intent.digest is None and intent.tag is not None)


def _registry_says(result: PlanResult, *, ask: bool, now: datetime) -> PlanResult:
    """``result`` as the registry gate would leave it (with ``ask``): a tag the registry lacks is
    not written (skipped here, with why), a digest the pin mode needs is filled. Without ``ask``,
    one line says what the worker would ask and that nobody asked."""
    asked = [i for i in result.intents if _asks_registry(i)]
    if not asked:
        return result
    if not ask:
        for intent in asked:
            if intent.platforms:
                click.echo(
                    f"note: asked no registry: {intent.image}:{intent.tag} is written only when its image "
                    f"is built for {', '.join(intent.platforms)} (policy.platforms); pass --registry to ask"
                )
            if intent.min_age_s > 0:
                click.echo(
                    f"note: asked no registry: {intent.image}:{intent.tag} is written only once it is "
                    f"{age_text(intent.min_age_s)} old (policy.min_release_age); pass --registry to "
                    "ask when it was built"
                )
            digest = " and writes its digest" if intent.pin != "tag" else ""
            click.echo(
                f"note: asked no registry: the worker first checks that {intent.image}:{intent.tag} "
                f"exists{digest} (pin {intent.pin}); pass --registry to ask it now"
            )
        return result
    client = build_registry(Settings.from_env())
    kept: list[UpdateIntent] = []
    skips = list(result.skips)
    for intent in result.intents:
        if not _asks_registry(intent) or intent.tag is None:
            kept.append(intent)
            continue
        try:
            found = client.resolve(intent.image, intent.tag, fresh=True)
        except BotError as exc:
            raise click.ClickException(f"registry: {intent.image}:{intent.tag}: {exc}") from None
        if found is None:
            why = (
                f"{intent.image}:{intent.tag} is not in its registry: the worker waits for it, then gives up"
            )
            skips.append(Skip(why, target=intent.group_key, image=intent.image, tag=intent.tag))
            continue
        click.echo(f"registry: {intent.image}:{intent.tag} is {found.digest}")
        unfit = _unfit(client, intent, found.digest) or _too_new(client, intent, found.digest, now)
        if unfit is not None:
            skips.append(Skip(unfit, target=intent.group_key, image=intent.image, tag=intent.tag))
            continue
        kept.append(replace(intent, digest=found.digest) if intent.pin != "tag" else intent)
    return PlanResult(tuple(kept), tuple(skips))


def _unfit(client: Registry, intent: UpdateIntent, digest: str) -> str | None:
    """Why ``intent``'s image is not written for ``policy.platforms`` (None: it lists them all)."""
    if not intent.platforms:
        return None
    what = f"{intent.image}:{intent.tag}"
    try:
        listed = client.platforms(intent.image, digest) or ()
    except BotError as exc:
        raise click.ClickException(f"registry: {what}: {exc}") from None
    absent = missing(intent.platforms, listed)
    if not absent:
        click.echo(f"registry: {what} is built for {', '.join(listed)} (policy.platforms: every one)")
        return None
    has = ", ".join(listed) or "no platform"
    needs = ", ".join(absent)
    return f"{what} is built for {has}: policy.platforms also needs {needs}; the worker does not write it"


def _too_new(client: Registry, intent: UpdateIntent, digest: str, now: datetime) -> str | None:
    """Why ``intent`` waits at ``now`` for ``policy.min_release_age`` (None: old enough)."""
    if intent.min_age_s <= 0 or intent.tag is None:
        return None
    what, age = f"{intent.image}:{intent.tag}", age_text(intent.min_age_s)
    try:
        released = client.released(intent.image, digest)
    except BotError as exc:
        raise click.ClickException(f"registry: {what}: {exc}") from None
    if released is None:
        click.echo(
            f"note: the registry says nothing usable about when {what} was built: the worker counts "
            f"policy.min_release_age {age} from when it first sees it"
        )
        return None
    eligible = eligible_at(released, intent.min_age_s)
    if eligible <= now.timestamp():
        click.echo(f"registry: {what} was built {shown(released)}: old enough (policy.min_release_age {age})")
        return None
    return (
        f"{what} was built {shown(released)}: at {shown(now.timestamp())} it is younger than "
        f"policy.min_release_age {age}; the worker waits and writes it from {shown(eligible)}"
    )


def _with_repo_file(
    config: Config, checkout: _Checkout, repo_name: str | None, events: list[Event]
) -> Config:
    """``config`` with the checkout's own ``.manifest-bot.yaml`` applied, as the worker would
    apply the file at the base commit; its left-out keys are printed."""
    if config.repo_files is None:
        return config
    path = checkout.root / config.repo_files.path
    if not path.is_file():
        return config
    reached = sorted({(f, r, b) for event in events for f, r, b in reach(event, config)})
    if repo_name is not None:
        reached = [x for x in reached if repo_name in (x[1], f"{x[0]}:{x[1]}")]
    if len({(f, r) for f, r, _ in reached}) > 1:
        repos = ", ".join(sorted({f"{f}:{r}" for f, r, _ in reached}))
        raise click.UsageError(f"the event reaches several repos ({repos}); pass --repo for the checkout")
    if not reached:
        return config
    forge, repo, _branch = reached[0]
    patch = read_repo_file(config, _text(path), config.repo_files.path, forge=forge, repo=repo)
    click.echo(f"repo file: {config.repo_files.path} applied to {forge}:{repo}")
    for problem in patch.problems:
        click.echo(f"repo file: left out: {problem}")
    return apply_repo_patch(config, patch, forge=forge, repo=repo)


def _fields(event: Event) -> dict[str, Any]:
    return {k: v for k, v in event_to_dict(event).items() if v is not None and k != "kind"}


commands: list[click.Command] = [check_config, explain]
