"""The central rule: an edit that would change what was not selected, or leave an invalid
reference, is refused and returns nothing half done; values left alone on purpose are listed."""

from __future__ import annotations

import pytest

from bot.core.manifests import Edit, Selector, edit, scan
from bot.core.manifests.loader import compose
from bot.core.manifests.locate import locate
from bot.core.manifests.verify import reference_problem
from bot.errors import ManifestError, UnsafeEdit

D1 = "sha256:" + "1f" * 32
D2 = "sha256:" + "2e" * 32


@pytest.mark.parametrize(
    ("text", "change", "message"),
    [
        pytest.param(
            "spec:\n  helm:\n    parameters:\n      - name: image.repository\n        value: nginx\n",
            Edit(Selector(path="spec.helm.parameters[0].value"), tag="1.27"),
            "there is no tag there and none can be added",
            id="name-slot-path-without-a-tag-place",
        ),
        pytest.param(
            "global:\n  imageRegistry: docker.io\n",
            Edit(Selector(path="global.imageRegistry"), tag="1.27"),
            "holds an image name, not a version",
            id="path-on-a-registry-key",
        ),
        pytest.param(
            "deploy:\n  repository: nginx\n",
            Edit(Selector(path="deploy.repository"), tag="1.27"),
            "holds an image name, not a version",
            id="path-on-a-repository-key",
        ),
        pytest.param(
            f"p:\n  - name: thing\n    value: nginx@{D1}\n",
            Edit(Selector(path="p[0].value"), tag="1.27"),
            "cannot tell whether",
            id="path-on-name-or-tag-with-digest",
        ),
        pytest.param(
            "images:\n  - name: web\n    newName: ghcr.io/acme/web:1.0\n    newTag: '1.0'\n",
            Edit(Selector(image="ghcr.io/acme/web"), tag="1.1"),
            "carries a tag or digest and newTag/digest is set",
            id="kustomize-new-name-with-tag-and-new-tag",
        ),
        pytest.param(
            "image:\n  repository: nginx:1.25\n  tag: '1.25'\n",
            Edit(Selector(path="image"), tag="1.27"),
            "is not an image name",
            id="helm-repository-carrying-a-tag",
        ),
        pytest.param(
            "app:\n  image: ghcr.io/acme/app:1.0\n",
            Edit(Selector(path="app.image"), tag="2.0", image="ghcr.io/acme/other"),
            "names ghcr.io/acme/app, not ghcr.io/acme/other; a name is changed only when a rename",
            id="path-on-another-image-without-rename",
        ),
        pytest.param(
            "images:\n  - name: web\n    newTag: CONTAINER_IMAGES_TAG\n",
            Edit(Selector(path="images[0].newTag"), tag="1.1"),
            "placeholder",
            id="path-on-a-placeholder-reference",
        ),
        pytest.param(
            "settings:\n  version: ${APP_VERSION}\n",
            Edit(Selector(path="settings.version"), tag="1.1"),
            "holds a placeholder ('${APP_VERSION}')",
            id="path-on-a-placeholder-scalar",
        ),
    ],
)
def test_refused_edits_raise_and_change_nothing(text: str, change: Edit, message: str) -> None:
    with pytest.raises(ManifestError) as err:
        edit(text, "x.yaml", [change])
    assert message in err.value.reason


@pytest.mark.parametrize(
    "text",
    [
        "images:\n  - name: ghcr.io/acme/web\n    newTag: CONTAINER_IMAGES_TAG\n",
        "app:\n  image: ghcr.io/acme/web:IMAGE_TAG\n",
        "image:\n  repository: ghcr.io/acme/web\n  tag: '{{ .Values.tag }}'\n",
        "image:\n  repository: ghcr.io/acme/web\n  tag: <tag>\n",
    ],
)
def test_placeholders_are_never_replaced(text: str) -> None:
    result = edit(text, "x.yaml", [Edit(Selector(image="ghcr.io/acme/web"), tag="1.1")])
    assert (result.text, result.changed, result.matched) == (text, False, 0)
    (note,) = result.skipped
    assert "is a placeholder another tool fills in; left alone" in note


@pytest.mark.parametrize(
    "text",
    [
        "image:\n  repository: ghcr.io/acme/web\n  pullPolicy: Always\n",
        "spec:\n  containers:\n    - image: ghcr.io/acme/web\n",
        "images:\n  - name: ghcr.io/acme/web\n",
    ],
)
def test_no_tag_is_added_without_insert(text: str) -> None:
    change = Edit(Selector(image="ghcr.io/acme/web"), tag="1.1", insert=False)
    result = edit(text, "x.yaml", [change])
    assert (result.text, result.changed, result.matched) == (text, False, 0)
    (note,) = result.skipped
    assert "only in files a target lists" in note
    assert edit(text, "x.yaml", [Edit(Selector(image="ghcr.io/acme/web"), tag="1.1")]).changed


def test_a_marker_on_another_image_is_left_alone_unless_renaming() -> None:
    text = (
        'a:\n  image: ghcr.io/acme/worker-a:1.0 # {"$imagepolicy": "acme:workers"}\n'
        'b:\n  image: ghcr.io/acme/worker-b:1.0 # {"$imagepolicy": "acme:workers"}\n'
    )
    push_b = Edit(Selector(marker="acme:workers"), tag="2.0", image="ghcr.io/acme/worker-b")
    result = edit(text, "x.yaml", [push_b])
    assert result.text == text.replace("worker-b:1.0", "worker-b:2.0")
    (note,) = result.skipped
    assert "a.image: names ghcr.io/acme/worker-a, not ghcr.io/acme/worker-b" in note
    renamed = edit(
        text, "x.yaml", [Edit(push_b.selector, tag="2.0", image="ghcr.io/acme/worker-b", rename=True)]
    )
    assert renamed.text.count("ghcr.io/acme/worker-b:2.0") == 2


def test_a_tag_bump_leaves_an_unset_digest_as_written() -> None:
    for unset in ("~", '""', "0", ""):
        text = f"image:\n  repository: a/b\n  tag: '1'\n  digest: {unset}\n".replace(": \n", ":\n")
        result = edit(text, "x.yaml", [Edit(Selector(image="a/b"), tag="2")])
        assert result.text == text.replace("'1'", "'2'")


def test_rename_needs_a_name_and_a_valid_one() -> None:
    text = "settings:\n  version: 1.0.0\n"
    with pytest.raises(ManifestError, match="without tag or digest"):
        edit(text, "x.yaml", [Edit(Selector(path="settings.version"), tag="1", image="a/b:1", rename=True)])
    # a tag chosen by path has no name written next to it: the tag changes, nothing is renamed
    result = edit(
        text, "x.yaml", [Edit(Selector(path="settings.version"), tag="1.1", image="a/b", rename=True)]
    )
    assert result.text == "settings:\n  version: 1.1\n".replace("1.1", '"1.1"')


def _found(text: str):  # a Found, private type
    (found,) = locate(compose(text, "x"), "x")
    return found


@pytest.mark.parametrize(
    ("after", "expected", "problem"),
    [
        ("image: a/b:2\n", ("a/b", "2", None), None),
        ("image: a/c:2\n", ("a/b", "2", None), "image would name a/c, not a/b"),
        ("image: a/b:2\n", ("a/b", "2", D1), f"image would read as :2, not :2@{D1}"),
        (
            "image: {repository: a/b, tag: 2}\n",
            ("a/b", "2", None),
            "image would no longer read as a container image reference",
        ),
        ("other: 1\n", ("a/b", "2", None), "image would no longer read as a container image reference"),
    ],
)
def test_reference_problem_compares_name_version_and_shape(
    after: str, expected: tuple[str, str | None, str | None], problem: str | None
) -> None:
    before = _found("spec:\n  containers:\n    - image: a/b:1\n")
    again = {f.ref.path: f for f in locate(compose(f"spec:\n  containers:\n    - {after}", "x"), "x")}
    got = reference_problem(before, again.get(before.ref.path), expected)
    assert got == (None if problem is None else problem.replace("image", before.ref.path, 1))


def test_reference_problem_refuses_an_invalid_result() -> None:
    before = _found("image: {repository: a/b, tag: '1'}\n")
    again = _found("image: {repository: a/b, tag: 'not a tag'}\n")
    assert "would not be a valid reference" in (
        reference_problem(before, again, ("a/b", "not a tag", None)) or ""
    )


def test_refused_edit_in_one_of_several_edits_returns_nothing() -> None:
    text = "a:\n  image: acme/a:1\nb:\n  image:\n    repository: nginx:1.25\n    tag: '1'\n"
    with pytest.raises(UnsafeEdit):
        edit(
            text, "x.yaml", [Edit(Selector(image="acme/a"), tag="2"), Edit(Selector(path="b.image"), tag="2")]
        )
    assert [r.tag for r in scan(text)] == ["1", "1"]
