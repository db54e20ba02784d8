"""Group state in Redis: one JSON record per update group, plus an index of groups per repo.

The record holds what reconcile and chat-ops need between runs: the group's ``GroupState``
(ignored versions, pins, hold, last error — read by merging and by the PR lifecycle service), the
blocked flag, whether the last error was already commented on the PR, the open PR number and
branch, the versions the open PR applies (cleared from the intents when it merges), and the
comments on it whose commands ran. Updates are read-modify-write under WATCH/MULTI, so
concurrent writers never lose each other's changes.

A group Redis does not know (``GroupRecord.known`` False: no record, never reconciled or lost
with Redis, or only a ``partial`` one an error note wrote meanwhile) is rebuilt from its PR's
marker (``bot.services.rebuild``, ``adopt``) before a reconcile writes its record, so a FLUSHALL
never turns a person's decisions into "none".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import redis

from bot.core.group_state import GroupState
from bot.core.kept import Ran
from bot.core.keys import GroupKey
from bot.core.merge import Mark
from bot.settings import Settings

MAX_WATCH_RETRIES = 200


@dataclass(frozen=True)
class GroupRecord:
    group_key: str
    state: GroupState = field(default_factory=GroupState)
    blocked: str | None = None  # why the bot stopped rewriting the branch (a human committed)
    error_commented: str | None = None  # the error text already commented on the PR
    pr_number: int | None = None
    pr_url: str | None = None  # the open PR's web page (the status page links it)
    head_branch: str | None = None
    #: target -> version the open PR's branch applies (cleared from intents when it merges)
    applied: dict[str, Mark] = field(default_factory=dict)
    #: target -> version the open PR's branch holds over the base (pins applied; ignored versions
    #: and references another rule's higher version owns left out): what the status views show
    held: dict[str, Mark] = field(default_factory=dict)
    #: the base branch head the last reconcile built on (the resync notices it moving)
    base_sha: str | None = None
    #: what the manifest repo's own config file asks for and cannot have (status page, PR comment)
    repo_file_problems: tuple[str, ...] = ()
    #: the comment about them already posted on the PR
    repo_file_commented: str | None = None
    #: comments on the open PR whose commands ran (written into its marker with the next update)
    ran: Ran = field(default_factory=Ran)
    #: written by something else than a reconcile or a rebuild (an error note) while Redis did
    #: not know the group: its decisions are still to be rebuilt
    partial: bool = False
    #: the group has versions to write and its environment's schedule is closed: when it opens
    #: (seconds since the epoch; None: not waiting)
    waits_until: float | None = None
    #: False when Redis holds no record for the group (never written, or lost): not stored itself
    stored: bool = field(default=True, compare=False)

    @property
    def known(self) -> bool:
        """Redis knows the group: a reconcile or a rebuild wrote its record."""
        return self.stored and not self.partial

    @property
    def holds(self) -> dict[str, Mark]:
        """What the open PR's branch holds per target (a record written before ``held`` existed:
        what its PR applies, the best it knows; an open PR always holds something)."""
        return self.held or self.applied

    @property
    def key(self) -> GroupKey:
        return GroupKey.parse(self.group_key)

    @property
    def forge(self) -> str:
        return self.key.forge

    @property
    def repo(self) -> str:
        return self.key.repo

    @property
    def base_branch(self) -> str:
        return self.key.base

    @property
    def group(self) -> str:
        return self.key.group

    def to_json(self) -> str:
        fields = (
            "group_key", "blocked", "error_commented", "pr_number", "pr_url", "base_sha",
            "repo_file_commented",
        )  # fmt: skip
        data = {f: getattr(self, f) for f in fields}
        data["repo_file_problems"] = list(self.repo_file_problems)
        data["head_branch"] = self.head_branch
        data["state"] = self.state.to_dict()
        data["applied"] = {t: m.to_dict() for t, m in self.applied.items()}
        if self.held:
            data["held"] = {t: m.to_dict() for t, m in self.held.items()}
        if self.ran != Ran():
            data["ran"] = self.ran.to_dict()
        if self.partial:
            data["partial"] = True
        if self.waits_until is not None:
            data["waits_until"] = self.waits_until
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, group_key: str, raw: bytes | str | None) -> GroupRecord:
        if raw is None:
            return cls(group_key=group_key, stored=False)
        data = json.loads(raw)
        data["group_key"] = group_key
        data["state"] = GroupState.from_dict(data.get("state") or {})
        data["applied"] = {t: Mark.from_dict(m) for t, m in data.get("applied", {}).items()}
        data["held"] = {t: Mark.from_dict(m) for t, m in data.get("held", {}).items()}
        data["repo_file_problems"] = tuple(data.get("repo_file_problems") or ())
        data["ran"] = Ran.from_dict(data.get("ran") or {})
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class GroupStore:
    def __init__(self, conn: redis.Redis, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    # --- keys ----------------------------------------------------------------------------------
    def record_key(self, group_key: str) -> str:
        return self.settings.key("group", group_key)

    def index_key(self, forge: str, repo: str) -> str:
        return self.settings.key("repo-groups", forge, repo)

    def branch_key(self, forge: str, repo: str, branch: str) -> str:
        return self.settings.key("pr-branch", forge, repo, branch)

    # --- reads ---------------------------------------------------------------------------------
    def get(self, group_key: str) -> GroupRecord:
        return GroupRecord.from_json(group_key, self.conn.get(self.record_key(group_key)))

    def get_many(self, group_keys: Sequence[str]) -> dict[str, GroupRecord]:
        """The records of ``group_keys`` in one round trip (an unknown group: an empty record)."""
        if not group_keys:
            return {}
        raw = self.conn.mget([self.record_key(key) for key in group_keys])
        return {key: GroupRecord.from_json(key, value) for key, value in zip(group_keys, raw, strict=True)}

    def groups_of(self, forge: str, repo: str, base_branch: str | None = None) -> list[str]:
        """Every group we know for a repo (optionally only those on ``base_branch``), sorted."""
        keys = sorted(m.decode() for m in self.conn.smembers(self.index_key(forge, repo)))
        if base_branch is None:
            return keys
        return [k for k in keys if GroupKey.parse(k).base == base_branch]

    def all_keys(self) -> list[str]:
        """Every group the store knows, over all repos (the per-repo indexes), sorted."""
        keys: set[str] = set()
        for index in self.conn.scan_iter(match=self.settings.key("repo-groups", "*"), count=500):
            keys.update(m.decode() for m in self.conn.smembers(index))
        return sorted(keys)

    def group_for_branch(self, forge: str, repo: str, head_branch: str) -> str | None:
        raw = self.conn.get(self.branch_key(forge, repo, head_branch))
        return raw.decode() if raw is not None else None

    # --- writes --------------------------------------------------------------------------------
    def register(self, group_key: str, pipe: redis.client.Pipeline | None = None) -> None:
        key = GroupKey.parse(group_key)
        (pipe or self.conn).sadd(self.index_key(key.forge, key.repo), group_key)

    def update(
        self, group_key: str, change: Callable[[GroupRecord], GroupRecord], *, complete: bool = False
    ) -> GroupRecord:
        """Apply ``change`` atomically (optimistic: retried when another writer got in between).
        ``complete``: the writer knows the whole group (a reconcile); any other writer that
        creates the record leaves it ``partial``."""
        key = self.record_key(group_key)
        with self.conn.pipeline() as pipe:
            for _ in range(MAX_WATCH_RETRIES):
                try:
                    pipe.watch(key)
                    old = GroupRecord.from_json(group_key, pipe.get(key))
                    new = change(old)
                    if complete or not old.stored:
                        new = replace(new, partial=not complete)
                    pipe.multi()
                    pipe.set(key, new.to_json())
                    self.register(group_key, pipe)
                    if new.head_branch:
                        parsed = GroupKey.parse(group_key)
                        pipe.set(self.branch_key(parsed.forge, parsed.repo, new.head_branch), group_key)
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue
        raise RuntimeError(f"group {group_key}: too much contention updating its state")

    def set_fields(self, group_key: str, **fields: Any) -> GroupRecord:
        return self.update(group_key, lambda rec: replace(rec, **fields))

    def adopt(self, record: GroupRecord) -> bool:
        """Write ``record`` (rebuilt from the group's PR) unless Redis knows the group by now; a
        partial record's error notes are kept. True when written."""
        adopted: list[bool] = []

        def change(rec: GroupRecord) -> GroupRecord:
            adopted[:] = [not rec.known]
            if rec.known:
                return rec
            state = replace(record.state, last_error=rec.state.last_error)
            return replace(
                record,
                state=state,
                blocked=rec.blocked,
                error_commented=rec.error_commented,
                repo_file_problems=rec.repo_file_problems,
                repo_file_commented=rec.repo_file_commented,
            )

        self.update(record.group_key, change, complete=True)
        return adopted == [True]
