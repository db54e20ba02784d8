"""A Redis client that counts every command it sends, pipelined and scripted ones included (a
``redis.Connection`` subclass through redis-py's public ``connection_class``), for tests and
benchmarks that bound what an operation costs Redis. Counting happens in this process only, so
other clients of a shared Redis do not disturb it (``INFO commandstats`` would count them too)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis


@dataclass
class Commands:
    """The names of the commands sent, in order (``EVALSHA`` for a script)."""

    sent: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sent)

    def since(self, mark: int) -> list[str]:
        return self.sent[mark:]

    def by_name(self, mark: int = 0) -> dict[str, int]:
        return dict(Counter(self.since(mark)))


def _name(args: tuple[Any, ...]) -> str:
    first = args[0]
    return (first.decode() if isinstance(first, bytes) else str(first)).split(" ", 1)[0].upper()


class _CountingConnection(redis.Connection):
    commands: Commands  # set on the subclass each client gets

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        self.commands.sent.append(_name(args))
        super().send_command(*args, **kwargs)

    def pack_commands(self, commands: Any) -> Any:  # a pipeline's (MULTI and EXEC included)
        commands = list(commands)
        self.commands.sent.extend(_name(tuple(c)) for c in commands)
        return super().pack_commands(commands)


def counting_redis(url: str) -> tuple[redis.Redis, Commands]:
    """A client of ``url`` whose commands are counted in the returned ``Commands``, connected (the
    connection handshake is not counted)."""
    commands = Commands()
    cls = type("CountingConnection", (_CountingConnection,), {"commands": commands})
    pool = redis.ConnectionPool.from_url(url, connection_class=cls)
    conn = redis.Redis(connection_pool=pool)
    conn.ping()
    commands.sent.clear()
    return conn, commands
