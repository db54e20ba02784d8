"""The error tree. Each error carries a message a user can act on.

HTTP mapping lives in ``bot.web`` (one table), PR-comment mapping in ``bot.core.render``; nothing
else decides how an error looks to the outside world.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error we raise on purpose."""

    #: permanent errors are not retried; they are recorded on the group and commented once
    permanent: bool = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- input -------------------------------------------------------------------------------------
class InvalidReference(BotError, ValueError):
    """An image reference, tag or digest that does not follow the OCI grammar."""


class ManifestError(BotError):
    """A manifest that cannot be read or edited safely. ``file`` and ``line`` locate it."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        where = file or "<input>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.reason = message


class UnsafeEdit(ManifestError):
    """The edited document would differ in data somewhere other than the intended paths."""


class ConfigError(BotError):
    """The routing config is invalid. ``problems`` holds one human-readable line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class SettingsError(BotError):
    """A process setting (environment variable or secret file) is missing or malformed."""


# --- intake ------------------------------------------------------------------------------------
class WebhookError(BotError):
    """A delivery we refuse; ``status`` is the HTTP status the sender sees."""

    status = 400


class SignatureError(WebhookError):
    status = 401


class PayloadTooLarge(WebhookError):
    status = 413


class UnknownSource(WebhookError):
    status = 404


class BadPayload(WebhookError):
    status = 400


class StoreUnavailable(BotError):
    """Redis cannot be reached; the web process answers 503 so the sender retries."""

    permanent = False


# --- forges ------------------------------------------------------------------------------------
class ForgeError(BotError):
    """Base of errors raised by forge adapters (library exceptions never leak past them)."""


class NotFound(ForgeError):
    pass


class Conflict(ForgeError):
    """A compare-and-swap lost: the branch moved. Observe again; not a failure."""

    permanent = False


class PermissionDenied(ForgeError):
    pass


class AuthError(ForgeError):
    pass


class AnonymousDenied(AuthError):
    """A registry answered 401 to anonymous access. Docker Hub answers so for a repository that does
    not exist (yet) as for a private one, so it may mean "not pushed yet" as well as "needs
    credentials" (``bot.services.registry_gate`` waits on it)."""


class Transient(ForgeError):
    """A 5xx, a timeout or a dropped connection: retry with backoff."""

    permanent = False


class RateLimited(Transient):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ValidationFailed(ForgeError):
    """The forge rejected our request as invalid (GitHub 422, GitLab 400)."""
