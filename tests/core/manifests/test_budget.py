"""The YAML budget: aliases and merge keys are counted before anything resolves them, so a small
hostile file is refused after a number of steps proportional to its size (issue #12, item 5).
Bounds are checked on counted steps, never on elapsed time."""

from __future__ import annotations

import pytest

from bot.core.manifests import Edit, Selector, edit, scan
from bot.core.manifests.budget import BudgetExceeded
from bot.core.manifests.loader import compose


def merge_bomb(levels: int = 40) -> str:
    """The reported shape: ``aN: &aN {<<: [*aN-1, *aN-1]}``; a naive resolution takes 2^levels."""
    lines = ["a0: &a0 {k: v}"]
    lines += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\nimage: ghcr.io/acme/app:1.0\n"


def test_the_merge_key_bomb_is_refused_after_few_steps() -> None:
    text = merge_bomb()
    assert len(text.encode()) < 1300  # the 1.2 KB file of the report
    with pytest.raises(BudgetExceeded) as err:
        scan(text, "bomb.yaml")
    assert "possible alias bomb" in err.value.reason
    assert err.value.file == "bomb.yaml"
    # each of the ~120 distinct nodes and alias edges is looked at once: not 2^40 steps
    assert err.value.steps < 500


def test_the_bomb_refuses_edits_too_and_nothing_is_returned() -> None:
    with pytest.raises(BudgetExceeded):
        edit(merge_bomb(), "bomb.yaml", [Edit(Selector(image="ghcr.io/acme/app"), tag="2.0")])


@pytest.mark.parametrize("levels", [20, 40, 80])
def test_steps_grow_with_the_file_not_with_the_expansion(levels: int) -> None:
    with pytest.raises(BudgetExceeded) as err:
        compose(merge_bomb(levels), "bomb.yaml")
    assert err.value.steps <= 4 * (levels + 1) + 4


def test_sequence_alias_bomb_is_refused_too() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 8)}]" for i in range(1, 9)]
    with pytest.raises(BudgetExceeded) as err:
        scan("\n".join(lines) + "\n", "laughs.yaml")
    assert err.value.steps < 200


def test_ordinary_anchors_and_merges_are_within_budget() -> None:
    parts = ["defaults: &defaults\n  pullPolicy: IfNotPresent\n  resources: {cpu: 100m}\n"]
    for i in range(300):
        parts.append(f"svc{i}:\n  <<: *defaults\n  image: ghcr.io/acme/svc{i}:1.{i}\n")
    refs = scan("".join(parts), "values.yaml")
    assert len(refs) == 300
