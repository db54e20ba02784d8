"""``pr.commit_template`` and ``pr.body_template`` (issue 25 item 7): Jinja2's sandbox over the
group's whole change — every edited value and every image with its source links — with unknown
names refused by check-config on their line, what could make a short template unbounded refused,
and the output cut at a bound; today's ``{placeholder}`` templates keep working."""

from __future__ import annotations

import pytest

from bot.core.config import load_config
from bot.core.intents import Origin
from bot.core.pr_options import PrOptions
from bot.core.render import BodyInput, Row, commit_message, pr_body, template_context
from bot.core.templates import CUT, MAX_OUTPUT, SAMPLE, TemplateProblem, render
from bot.errors import ConfigError
from tests.core.test_render import DIGEST, MARKER, intent

CI = "https://github.com/acme/api/actions/runs/42"
COMMIT = """\
{{ env }}: {{ count }} image{{ 's' if count != 1 }}
{% for c in changes %}
- {{ c.file }}: {{ c.image }} {{ c.old }} -> {{ c.new }}{% if c.digest %} ({{ c.digest[:19] }}){% endif %}
{%- for l in c.links %} [{{ l.text }}]({{ l.url }}){% endfor %}
{%- endfor %}
"""


def two_images() -> tuple[list, list[Row]]:  # type: ignore[type-arg]
    origin = Origin(link=CI, commit="d" * 40, app_repo="acme/api", source="github")
    api = intent("ghcr.io/acme/api", "1.4.0", digest=DIGEST, origin=origin)
    web = intent("docker.io/library/nginx", "1.27.1")
    rows = [
        Row(
            "envs/staging/api.yaml",
            "ghcr.io/acme/api",
            "ghcr.io/acme/api:1.3.2",
            "ghcr.io/acme/api:1.4.0",
            DIGEST,
        ),
        Row("envs/staging/nginx.yaml", "docker.io/library/nginx", "nginx:1.27.0", "nginx:1.27.1"),
    ]
    return [api, web], rows


def test_a_commit_template_ranges_over_every_change_of_a_multi_image_group() -> None:
    intents, rows = two_images()

    message = commit_message(intents, rows, PrOptions(commit_template=COMMIT))

    assert message == (
        "staging: 2 images\n\n"
        f"- envs/staging/api.yaml: ghcr.io/acme/api 1.3.2 -> 1.4.0 ({DIGEST[:19]}) [CI run]({CI})"
        " [changes](https://github.com/acme/api/compare/1.3.2...1.4.0)"
        f" [commit dddddddddddd](https://github.com/acme/api/commit/{'d' * 40})\n"
        "- envs/staging/nginx.yaml: nginx 1.27.0 -> 1.27.1\n"
    )


def test_a_placeholder_commit_template_keeps_its_subject_and_list() -> None:
    intents, rows = two_images()
    message = commit_message(intents, rows, PrOptions(commit_template="deploy({env}): {count} images"))
    assert message.splitlines()[0] == "deploy(staging): 2 images"
    assert "- envs/staging/nginx.yaml: nginx:1.27.0 -> nginx:1.27.1" in message


def test_a_body_template_replaces_the_summary_and_the_bot_keeps_its_sections() -> None:
    intents, rows = two_images()
    template = (
        "Bumps in **{{ env }}**:\n{% for i in images %}\n* {{ i.short_image }} → {{ i.new }}{% endfor %}"
    )

    body = pr_body(BodyInput(intents, rows, MARKER, template=template))

    assert body.startswith("Bumps in **staging**:\n\n* nginx → 1.27.1\n* api → 1.4.0\n")
    assert "| File | Image |" not in body  # the bot's table is what the template replaces
    assert "<summary>Commands</summary>" in body and body.rstrip().endswith("-->")  # the marker last


def test_the_context_has_exactly_what_check_config_renders_against() -> None:
    intents, rows = two_images()
    context = template_context(intents, rows)
    assert set(context) == set(SAMPLE)
    assert [set(c) for c in context["changes"]] == [set(SAMPLE["changes"][0])] * 2
    assert [set(i) for i in context["images"]] == [set(SAMPLE["images"][0])] * 2


def test_a_long_rendering_is_cut_at_the_bound() -> None:
    intents, rows = two_images()
    many = rows * 400
    out = render(
        "{% for c in changes %}{% for d in changes %}{{ c.file }}{% endfor %}{% endfor %}",
        template_context(intents, many),
    )
    assert len(out) <= MAX_OUTPUT + len(CUT) and out.endswith(CUT)


def test_a_filter_result_is_bounded() -> None:
    grow = "{{ changes[0].file" + " | replace('', 'xx')" * 12 + " }}"
    with pytest.raises(TemplateProblem, match="the filter 'replace' gives more than"):
        render(grow, SAMPLE)


CONFIG = """\
forges: [{{name: local, kind: local, path: /tmp/x}}]
defaults:
  pr:
    {key}: {value}
rules:
  - name: api
    image: ghcr.io/acme/api
    targets: [{{forge: local, repo: deploy, files: [a.yaml]}}]
"""


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "body_template",
            "'{{ chnages }}'",
            "unknown name 'chnages' (known: env, group, repo, base_branch, count, changes, images)",
        ),
        (
            "body_template",
            "'{% for c in changes %}{{ c.imag }}{% endfor %}'",
            "has no attribute 'imag' (a change has file, image, short_image, old, new, digest, links",
        ),
        ("body_template", "'{% for c in changes %}'", "not a valid template"),
        ("body_template", "'{% set x = 1 %}'", "'set' is not available"),
        ("body_template", "'{{ range(10) }}'", "calls are not available"),
        ("body_template", "'{{ env * 1000 }}'", "'*' is not available"),
        ("body_template", "'{{ env | center(100) }}'", "No filter named 'center'"),
        ("body_template", "'{% macro m() %}{% endmacro %}'", "macros are not available"),
        ("body_template", "'{% include \"x\" %}'", "'Include' is not available"),
        (
            "body_template",
            "'" + "{% for a in changes %}" * 3 + "{% endfor %}" * 3 + "'",
            "loops nest at most 2 deep",
        ),
        ("body_template", "'" + "x" * 8001 + "'", "a template is at most 8000 characters"),
        ("commit_template", "'{{ \"\" }}'", "renders an empty commit message"),
        ("commit_template", "'{{ changes[5].file }}'", "list object has no element 5"),
        ("commit_template", "'bump {imag}'", "unknown placeholder {imag}"),
    ],
)
def test_check_config_refuses_a_bad_template_on_its_line(key: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(CONFIG.format(key=key, value=value), "bot.yaml")
    problems = exc.value.problems
    assert any(p.startswith(f"bot.yaml:4: defaults.pr.{key}") and expected in p for p in problems), problems


def test_check_config_takes_a_template_that_renders_the_sample() -> None:
    config = load_config(
        CONFIG.format(key="commit_template", value=repr(COMMIT).replace("\\n", "\\n")), "bot.yaml"
    )
    assert config.defaults.pr.commit_template == COMMIT
