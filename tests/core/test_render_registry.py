"""What a group waiting for its registry says: the PR body's list (golden), the give-up comment and
the comment when the registry refuses the bot."""

from __future__ import annotations

from bot.core.group_state import GroupState, Waiting
from bot.core.render import BodyInput, Row, gave_up_comment, pr_body, registry_error_comment
from tests.core.test_render import DIGEST, MARKER, golden, intent


def test_the_pr_body_lists_the_versions_waiting_for_their_registry() -> None:
    api = intent("ghcr.io/acme/api", "1.4.0", digest=DIGEST)
    rows = [
        Row("envs/staging/api.yaml", "ghcr.io/acme/api", "ghcr.io/acme/api:1.3.2", "ghcr.io/acme/api:1.4.0")
    ]
    waiting = (
        Waiting("docker.io/library/nginx", "1.27.1", "docker.io", "2024-05-02 10:17:11 UTC"),
        Waiting("ghcr.io/acme/web", "sha-0123456", "ghcr.io", "2024-05-02 10:20:00 UTC"),
    )
    body = pr_body(BodyInput([api], rows, MARKER, GroupState(waiting=waiting)))
    assert "- waiting for `nginx:1.27.1` in `docker.io` until 2024-05-02 10:17:11 UTC" in body
    golden("waiting_body.md", body)


def test_the_pr_body_says_from_when_a_too_new_version_is_written() -> None:
    api = intent("ghcr.io/acme/api", "1.4.0", digest=DIGEST)
    rows = [
        Row("envs/staging/api.yaml", "ghcr.io/acme/api", "ghcr.io/acme/api:1.3.2", "ghcr.io/acme/api:1.4.0")
    ]
    young = Waiting("ghcr.io/acme/web", "2.0.0", "ghcr.io", "2024-05-05 10:20:00 UTC", "2024-05-05T10:19:00Z")
    absent = Waiting("docker.io/library/nginx", "1.27.1", "docker.io", "2024-05-02 10:17:11 UTC")

    body = pr_body(BodyInput([api], rows, MARKER, GroupState(waiting=(young, absent))))

    too_new = body.split("**Too new**", 1)[1]
    assert "- `ghcr.io/acme/web:2.0.0` from 2024-05-05T10:19:00Z" in too_new
    assert "nginx" not in too_new and "- waiting for `nginx:1.27.1` in `docker.io`" in body
    assert "acme/web:2.0.0` in" not in body  # not listed as missing from its registry


def test_a_group_that_never_waits_keeps_its_state_text() -> None:
    assert "waiting" not in GroupState().to_dict()  # PR fingerprints of such groups do not move
    state = GroupState(waiting=(Waiting("ghcr.io/acme/web", "1", "ghcr.io", "later"),))
    assert GroupState.from_dict(state.to_dict()) == state


def test_registry_comments_say_what_was_not_written_and_what_to_do() -> None:
    gave_up = gave_up_comment(
        "ghcr.io/acme/api", "sha-0123456", "ghcr.io", "15 minutes", "the registry does not have it"
    )
    assert gave_up == (
        "I waited 15 minutes for `ghcr.io/acme/api:sha-0123456` in `ghcr.io`, but the registry does not "
        "have it, so I did not write it. Push the image and announce it again (re-run the CI job or the "
        "webhook) to try once more."
    )
    refused = registry_error_comment("nginx", "1.27", "docker.io", "HTTP 401: docker.io did not accept x")
    assert refused.startswith(
        "I could not check `nginx:1.27` in `docker.io`, so I did not write it: HTTP 401"
    )
    assert "MANIFEST_BOT_DOCKER_CONFIG" in refused
