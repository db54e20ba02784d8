"""What the demo prints at the end: every bot PR with its branch diff, then a summary; and the
checks that the story really happened (``verify``), so the demo fails loudly instead of lying."""

from __future__ import annotations

from collections import Counter

from bot.core.marker import without_marker
from bot.core.ports import PullRequest
from bot.demo import release_story
from bot.demo.model import Echo, Run
from bot.demo.registry import INSTALL_HINT
from bot.demo.repo import REPO, bot_commits, diff, diffstat
from bot.forges.local.adapter import LocalGitForge
from bot.store.deliveries import DeliveryStore
from bot.web.status_data import failed_jobs

#: with real registries: the versions whose registry digest the dev PR must show
PINNED_IN_DEV = (
    "registry.example.com/shop/web:1.4.0",
    "registry.example.com/shop/worker:2.1.0",
    "ghcr.io/example/api:run-45",
)
#: what each PR's diff must show: (environment, text that must appear, text that must not)
EXPECTED = {
    "dev": (("1.4.0", "run-45", "2.1.0"), ("run-46", "run-44", "run-41")),
    "staging": (("1.4.0", "run-45", "2.1.0"), ("run-46",)),
}


def local_forge(run: Run) -> LocalGitForge:
    """The demo's forge, as the person at the keyboard sees it (the repos under ``repos/``)."""
    return LocalGitForge(run.repo.parents[1], name="local")


def pull_requests(run: Run) -> list[PullRequest]:
    return sorted(local_forge(run).list_prs(REPO), key=lambda pr: pr.number)


def conversation(run: Run, number: int) -> list[str]:
    """The PR's comments, one line each, with the bot's reactions."""
    lines = []
    for item in local_forge(run).pr_record(REPO, number).get("comments", []):
        reactions = "".join(f" [{r['content']}]" for r in item.get("reactions", []))
        first = (item.get("body") or "").strip().splitlines()[:1]
        lines.append(f"  @{item.get('author')}: {first[0] if first else ''}{reactions}")
    return lines


def _environment(pr: PullRequest) -> str:
    return pr.head_branch.rsplit("/", 1)[-1]


def verify(run: Run) -> None:
    """Add a problem for every claim of the story the repository does not bear out."""
    prs = {(_environment(pr)): pr for pr in pull_requests(run) if pr.state == "open"}
    for env, (present, absent) in EXPECTED.items():
        pr = prs.get(env)
        if pr is None:
            run.problems.append(f"no open {env} pull request")
            continue
        text = diff(run.repo, pr.head_branch)
        added = "\n".join(line for line in text.splitlines() if line.startswith("+"))
        run.problems.extend(f"{env} PR #{pr.number} lacks {v}" for v in present if v not in added)
        run.problems.extend(f"{env} PR #{pr.number} applies {v}" for v in absent if v in added)
    dev = prs.get("dev")
    if dev is not None and run.registries:
        for ref in PINNED_IN_DEV:
            digest = run.pushed.get(ref, "?")
            if f"`{digest[:19]}…`" not in dev.body:
                run.problems.append(f"dev PR #{dev.number} does not show the digest of {ref} ({digest})")
    commands = [c for c in conversation(run, dev.number) if "promote" in c] if dev else []
    if dev and not any("[rocket]" in c for c in commands):
        run.problems.append(f"the promote comment on dev PR #{dev.number} was not acknowledged with rocket")
    if dev is not None and run.releases is not None:
        run.problems.extend(release_story.problems(dev.body, run.releases))
    for row in failed_jobs(run.redis.conn, run.settings):
        run.problems.append(f"failed job {row.function}: {row.reason}")


def _intent_counts(run: Run) -> Counter[str]:
    """Versions planned / accepted / superseded, from the deliveries' recorded outcomes."""
    store = DeliveryStore(run.redis.conn, run.settings)
    totals: Counter[str] = Counter()
    for delivery_id in run.delivery_ids:
        record = store.record(delivery_id)
        for outcome in record.outcomes if record is not None else ():
            if outcome.status in ("done", "skipped"):
                continue  # an event that updates no image, or a version routed nowhere
            totals["intents"] += 1
            if outcome.status in ("accepted", "superseded"):
                totals[outcome.status] += 1
    return totals


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counter.items()))


def summary_lines(run: Run) -> list[str]:
    store = DeliveryStore(run.redis.conn, run.settings)
    sources = Counter(post.source for post, _, _ in run.posted)
    answers = Counter(
        "duplicate" if answer.get("duplicate") else "ignored" if "ignored" in answer else "accepted"
        for _, status, answer in run.posted
        if status in (200, 202)
    )
    outcomes = Counter(r.status for d in run.delivery_ids if (r := store.record(d)) is not None)
    jobs = _intent_counts(run)
    prs = pull_requests(run)
    intents = f"{jobs['intents']} planned, {jobs['accepted']} accepted, {jobs['superseded']} superseded"
    return [
        f"deliveries     {len(run.posted)} posted ({_counts(sources)}): {_counts(answers)}",
        f"events         {_counts(outcomes)} (delivery outcomes after the worker)",
        f"intents        {intents} (older builds never applied)",
        f"pull requests  {len(prs)}: " + ", ".join(f"#{p.number} {_environment(p)} ({p.state})" for p in prs),
        f"commits        {bot_commits(run.repo)} by the bot, on {len(prs)} branch(es)",
        f"redis          {run.redis.description}",
        _registry_line(run, store),
        f"elapsed        {run.elapsed_s:.2f} s from the first delivery to quiescence",
        "result         " + ("OK" if not run.problems else f"{len(run.problems)} problem(s)"),
    ]


def _registry_line(run: Run, store: DeliveryStore) -> str:
    if not run.registries:
        return f"registry       none: the sample webhooks were trusted ({INSTALL_HINT} for a real one)"
    pushes = sum(r.pushes for r in run.registries.values())
    records = (store.record(d) for d in run.delivery_ids)
    notified = sum(1 for r in records if r is not None and r.source == "distribution")
    return f"registry       {pushes} images pushed, {notified} notifications sent by the registry itself"


def print_report(run: Run, echo: Echo) -> None:
    for pr in pull_requests(run):
        echo(f"\n== PR #{pr.number} [{pr.state}] {pr.head_branch} → {pr.base_branch}: {pr.title}")
        if pr.labels:
            echo(f"labels: {', '.join(pr.labels)}")
        echo("body:")
        for line in without_marker(pr.body.rstrip()).splitlines():
            echo(f"  | {line}")
        talk = conversation(run, pr.number)
        if talk:
            echo("conversation:")
            for line in talk:
                echo(line)
        echo(diffstat(run.repo, pr.head_branch).rstrip())
        echo(diff(run.repo, pr.head_branch).rstrip())
    echo("\n== summary")
    for line in summary_lines(run):
        echo(line)
    if run.problems:
        echo("\n== problems")
        for problem in run.problems:
            echo(f"- {problem}")
        log = run.workdir / "worker.log"
        if log.exists():
            echo("\n== worker log (last lines)")
            echo("\n".join(log.read_text(errors="replace").splitlines()[-30:]))
