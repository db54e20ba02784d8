"""The demo's registry chapter, when ``docker-registry`` and ``skopeo`` exist: real pushes, the
registry delivering its own notification, and a version CI announced before its push, which the
bot waits for instead of writing.

``registry.example.com`` and ``ghcr.io`` are two local ``docker-registry`` processes
(``bot.demo.registry``); the bot reaches them through ``MANIFEST_BOT_REGISTRY_ENDPOINTS`` and
asks them before writing (``verify``), so the PR's Digest column holds the digests they answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack

from bot.core.events import ImagePushed
from bot.demo import payloads, release_story
from bot.demo.model import Echo, Run
from bot.demo.registry import DemoRegistry, free_port, running_registry
from bot.demo.repo import REPO
from bot.sources.base import REGISTRY_HEADER, TOKEN_HEADER
from bot.store.deliveries import DeliveryRecord, DeliveryStore
from bot.store.groups import GroupStore
from bot.store.waiting import WaitingStore

SHOP = "registry.example.com"
GHCR = "ghcr.io"
NAMES = (SHOP, GHCR)
POLL_S = 0.05
Step = Callable[[], None] | None


def ports() -> dict[str, int]:
    """A free loopback port per registry (the settings name them before the registries start)."""
    return {name: free_port() for name in NAMES}


def settings_overrides(chosen: dict[str, int], deadline_s: float) -> dict[str, object]:
    return {
        "registry_endpoints": {name: f"127.0.0.1:{port}" for name, port in chosen.items()},
        "registry_retry_s": 0.2,  # CI announced before the push: ask again at once
        "registry_wait_s": max(deadline_s, 30.0),
    }


def start(stack: ExitStack, run: Run, base_url: str, chosen: dict[str, int], token: str) -> None:
    """Both registries; the shop's notifies the demo's web app, as a registry:2 in production."""
    headers = {TOKEN_HEADER: token, REGISTRY_HEADER: SHOP}
    run.registries[SHOP] = stack.enter_context(
        running_registry(
            run.workdir / "registry-shop",
            SHOP,
            chosen[SHOP],
            notify_url=f"{base_url}/webhooks/distribution",
            headers=headers,
        )
    )
    ghcr = running_registry(run.workdir / "registry-ghcr", GHCR, chosen[GHCR])
    run.registries[GHCR] = stack.enter_context(ghcr)


def describe(run: Run) -> str:
    return ", ".join(f"{name} on {reg.host}" for name, reg in run.registries.items())


def push(run: Run, name: str, repository: str, tag: str) -> str:
    registry: DemoRegistry = run.registries[name]
    digest = registry.push(repository, tag, release_story.labels(run.releases, repository, tag))
    run.pushed[f"{registry.image(repository)}:{tag}"] = digest
    return digest


def _until(what: str, found: Callable[[], object], step: Step, deadline_s: float) -> object:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if step is not None:
            step()
        value = found()
        if value:
            return value
        time.sleep(POLL_S)  # the work runs in the worker (or in step): this only paces the checks
    raise TimeoutError(what)


def _notification(run: Run, image: str, tag: str) -> DeliveryRecord | None:
    for record in DeliveryStore(run.redis.conn, run.settings).recent(50):
        pushed = [e for e in record.events if isinstance(e, ImagePushed)]
        if record.source == "distribution" and any((e.image, e.tag) == (image, tag) for e in pushed):
            return record
    return None


def await_notification(
    run: Run, image: str, tag: str, step: Step, deadline_s: float
) -> DeliveryRecord | None:
    """The registry's own notification of ``image:tag``, once the web app recorded it (its delivery
    is then awaited with the demo's own)."""
    try:
        record = _until(f"{image}:{tag}", lambda: _notification(run, image, tag), step, deadline_s)
    except TimeoutError:
        run.problems.append(f"the registry never notified the push of {image}:{tag}")
        return None
    assert isinstance(record, DeliveryRecord)
    if record.id not in run.delivery_ids:
        run.delivery_ids.append(record.id)
    return record


def _waiting(run: Run, image: str, tag: str) -> str | None:
    store = WaitingStore(run.redis.conn, run.settings)
    for group_key in GroupStore(run.redis.conn, run.settings).groups_of("local", REPO):
        for entry in store.entries(group_key):
            if (entry.intent.image, entry.intent.tag) == (image, tag):
                shown = entry.shown()
                return f"waiting for {shown.image}:{shown.tag} in {shown.registry} ({entry.reason})"
    return None


def chapter_one(
    run: Run,
    send: Callable[[payloads.Post], None],
    keys: dict[str, str],
    *,
    step: Step,
    deadline_s: float,
    echo: Echo,
) -> None:
    """A real push notified by the registry itself; a curl announcing a tag before its push."""
    web = f"{SHOP}/shop/web"
    digest = push(run, SHOP, "shop/web", "1.4.0")
    echo(f"  → skopeo pushed {web}:1.4.0 to {run.registries[SHOP].host}: {digest}")
    record = await_notification(run, web, "1.4.0", step, deadline_s)
    if record is not None:
        echo(f"  → the registry notified /webhooks/distribution itself (delivery {record.id})")
    worker = f"{SHOP}/shop/worker"
    send(payloads.generic_push(keys["generic"], worker, "2.1.0", note=" (CI announces it before its push)"))
    try:
        line = _until(f"{worker}:2.1.0 waiting", lambda: _waiting(run, worker, "2.1.0"), step, deadline_s)
        echo(f"  … the bot does not write it yet: {line}")
    except TimeoutError:
        run.problems.append(f"the bot did not wait for {worker}:2.1.0, announced before its push")
    digest = push(run, SHOP, "shop/worker", "2.1.0")
    echo(f"  → skopeo pushed {worker}:2.1.0: {digest}")
    await_notification(run, worker, "2.1.0", step, deadline_s)


def push_ci_images(run: Run, runs: tuple[tuple[int, str], ...], echo: Echo) -> None:
    """What the green CI runs pushed before they finished (the failed #46 never pushed), after the
    build dev runs now (``run-40``: its labels give the PR's compare link)."""
    push(run, GHCR, "example/api", "run-40")
    echo(f"  → {GHCR}/example/api:run-40, the build dev runs now, is in the registry (skopeo)")
    tags = [f"run-{n}" for n, conclusion in sorted(runs) if conclusion == "success"]
    for tag in tags:
        push(run, GHCR, "example/api", tag)
    echo(f"  → the green runs pushed {GHCR}/example/api:{tags[0]} … {tags[-1]} (skopeo, {len(tags)} images)")
