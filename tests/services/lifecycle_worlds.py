"""One small test-side "world" per forge, so the same lifecycle tests run on local git, GitHub and
GitLab: the forge under test plus what a test needs to act like a person (push to a branch) and to
look at what a user would see (branches, PR records and comments, how many writes were made).

- ``local``: a bare repository on disk driven by ``LocalGitForge`` (real git);
- ``github`` / ``gitlab``: the real adapters over the stateful fakes in ``tests/fakes`` behind
  ``responses``; "writes" are the requests that can change something (REST non-GET, GraphQL
  mutations).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import responses

from bot.core.intents import UpdateIntent
from bot.core.ports import Forge, ForgeInfo, PrUpdate
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import TokenCredentials
from bot.forges.gitlab.adapter import GitLabForge
from tests.fakes.git_model import Git, Person
from tests.fakes.github_api import GH, GitHubFake
from tests.fakes.gitlab_api import BOT_NAME, GL, GitLabFake
from tests.forges.local_fixture import commit_count, git, human_commit
from tests.services.lifecycle_fixture import FILES, REPO, intent, make_forge

KINDS = ("local", "github", "gitlab")


@dataclass(frozen=True, slots=True)
class PrView:
    """A PR as a user sees it on the forge."""

    number: int
    state: str
    title: str
    body: str
    labels: tuple[str, ...]
    comments: tuple[tuple[str, str], ...]  # (author, body), oldest first


class World:
    kind: str
    forge: Forge
    bot: str  # how the forge names the author of the bot's commits

    def intent(self, image: str = "ghcr.io/acme/api", tag: str = "1.1.0", **over: Any) -> UpdateIntent:
        return intent(image, tag, forge=self.kind, **over)

    def human_commit(self, branch: str, files: Mapping[str, str | None], *, who: str = "Alice") -> str:
        raise NotImplementedError

    def commit_count(self) -> int:
        raise NotImplementedError

    def reset_branch(self, branch: str, to: str) -> None:
        """Point ``branch`` at ``to``'s head (what a force push, or a half-done ref move, leaves)."""
        raise NotImplementedError

    def edit_pr_body(self, number: int, body: str) -> None:
        """A person rewrites the PR description (the bot's hidden marker goes with it)."""
        raise NotImplementedError

    def prs(self) -> list[PrView]:
        raise NotImplementedError

    def pr(self, number: int) -> PrView:
        return next(p for p in self.prs() if p.number == number)

    def comments(self, number: int) -> list[str]:
        return [body for _author, body in self.pr(number).comments]

    def snapshot(self, branch: str) -> tuple[object, ...]:
        """Everything a write would change: refs, PRs with their comments, commits, writes."""
        return (
            self.forge.branch_head(REPO, "main"),
            self.forge.branch_head(REPO, branch),
            self.commit_count(),
            repr(self.prs()),
            self.writes(),
        )

    def writes(self) -> object:
        """Changes with every write the forge accepted (a request count, or record timestamps)."""
        raise NotImplementedError

    def racing(self) -> Forge:
        """The same forge, except that someone pushes to the branch between our read and our write."""
        return Racing(self)  # type: ignore[return-value]


class Racing:
    def __init__(self, world: World) -> None:
        self._world = world

    def __getattr__(self, name: str) -> Any:
        return getattr(self._world.forge, name)

    def commit_files(self, repo: str, branch: str, **kw: Any) -> str:
        if self._world.forge.branch_head(repo, branch) is not None:
            self._world.human_commit(branch, {"race": "1\n"}, who="Racer")
        return self._world.forge.commit_files(repo, branch, **kw)


class LocalWorld(World):
    kind = "local"
    bot = "manifest-bot[bot]"

    def __init__(self, tmp_path: Path) -> None:
        self.local = make_forge(tmp_path)
        self.forge = self.local
        self._writes = 0

    def human_commit(self, branch: str, files: Mapping[str, str | None], *, who: str = "Alice") -> str:
        return human_commit(self.local, REPO, branch, files, who=who)

    def commit_count(self) -> int:
        return commit_count(self.local, REPO, "--all")

    def reset_branch(self, branch: str, to: str) -> None:
        git(self.local.repo_path(REPO), "update-ref", f"refs/heads/{branch}", f"refs/heads/{to}")

    def edit_pr_body(self, number: int, body: str) -> None:
        self.local.update_pr(REPO, number, PrUpdate(body=body))

    def prs(self) -> list[PrView]:
        out = []
        for p in self.local.list_prs(REPO):
            record = self.local.pr_record(REPO, p.number)
            comments = tuple((c["author"], c["body"]) for c in record["comments"])
            out.append(PrView(p.number, p.state, p.title, p.body, p.labels, comments))
        return out

    def writes(self) -> object:
        # no requests to count: every write to a PR record stamps its updated_at
        return [self.local.pr_record(REPO, p.number).get("updated_at") for p in self.local.list_prs(REPO)]


class FakeWorld(World):
    """GitHub or GitLab: the real adapter against the fake, through ``responses``."""

    def __init__(self, kind: str, rsps: responses.RequestsMock) -> None:
        self.kind = kind
        self.rsps = rsps
        self.git = Git({k: v.encode() for k, v in FILES.items()})
        if kind == "github":
            self.bot = "manifest-bot[bot]"
            self.fake: GitHubFake | GitLabFake = GitHubFake(self.git, bot=self.bot)
            self.fake.install(rsps)
            info = ForgeInfo(name="github", kind="github", bot_login=self.bot)
            self.forge = GitHubForge(info, TokenCredentials("ghs_test"), api_url=GH)
        else:
            self.bot = BOT_NAME
            self.fake = GitLabFake(self.git)
            self.fake.install(rsps)
            info = ForgeInfo(name="gitlab", kind="gitlab", bot_login=self.bot)
            self.forge = GitLabForge(info, "glpat-test", url=GL)

    def human_commit(self, branch: str, files: Mapping[str, str | None], *, who: str = "Alice") -> str:
        # GitHub links a pushed commit to the pusher's account; GitLab only keeps name and email
        login = who if self.kind == "github" else None
        person = Person(who, f"{who.lower()}@example.com", login)
        changes = {k: (v.encode() if v is not None else None) for k, v in files.items()}
        return self.git.push(branch, changes, author=person, message=f"edit by {who}")

    def commit_count(self) -> int:
        return len(self.git.commits)

    def reset_branch(self, branch: str, to: str) -> None:
        self.git.refs[branch] = self.git.refs[to]

    def edit_pr_body(self, number: int, body: str) -> None:
        self.git.prs[number].body = body

    def prs(self) -> list[PrView]:
        return [
            PrView(
                p.number,
                p.state,
                p.title,
                p.body,
                tuple(p.labels),
                tuple((c.author, c.body) for c in p.comments),
            )
            for p in self.git.prs.values()
        ]

    def writes(self) -> int:
        return sum(1 for call in self.rsps.calls if _is_write(call.request))


def _is_write(request: Any) -> bool:
    if request.method == "GET":
        return False
    if str(request.url).endswith("/graphql"):
        return json.loads(request.body)["query"].lstrip().startswith("mutation")
    return True


@contextmanager
def make_world(kind: str, tmp_path: Path) -> Iterator[World]:
    if kind == "local":
        yield LocalWorld(tmp_path)
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeWorld(kind, rsps)
