"""The never-downgrade mark of one reference (``bot.core.floors``)."""

from __future__ import annotations

from dataclasses import replace

from bot.core import manifests as engine
from bot.core.floors import Floor, covering, decode_file, encode_file, parse_ref_key, raised, ref_key, written
from bot.core.manifests.model import Change, Edit, Selector
from tests.core.test_merge import IMAGE, intent

KUSTOMIZATION = f"images:\n- name: {IMAGE}\n  newTag: 1.0.0\n- name: ghcr.io/acme/web\n  newTag: 2.0.0\n"


def floor_at(tag: str, key: tuple, **kw: object) -> Floor:
    change = Change("k.yaml", 0, "images[0].newTag", "1.0.0", tag)
    [floor] = written(intent(tag, key, **kw), [change]).values()  # type: ignore[arg-type]
    return floor


def test_a_lower_version_of_the_same_image_and_scheme_is_kept_below_it() -> None:
    floor = floor_at("1.2.0", (1, 2, 0))
    assert floor.blocks(intent("1.1.6", (1, 1, 6)))
    assert not floor.blocks(intent("1.2.0", (1, 2, 0)))  # the same version again (a new digest) passes
    assert not floor.blocks(intent("1.2.1", (1, 2, 1)))
    assert not floor.blocks(intent("1.1.6", (1, 1, 6), rollback=True))  # a person's choice
    assert not floor.blocks(intent("1.1.6", (1, 1, 6), image="ghcr.io/acme/other"))
    assert not floor.blocks(replace(intent("41", (41,)), ordering_scheme="run-number"))  # never compared


def test_it_only_rises_remembers_other_schemes_and_survives_its_json() -> None:
    floor = floor_at("1.2.0", (1, 2, 0))
    assert raised(floor, floor_at("1.1.9", (1, 1, 9))) is None
    higher = raised(floor, floor_at("1.3.0", (1, 3, 0)))
    assert higher is not None and higher.mark.tag == "1.3.0"
    # a rollback lands nothing (it goes down on purpose)
    change = Change("k.yaml", 0, "images[0].newTag", "1.3.0", "1.0.0")
    assert written(intent("1.0.0", (1, 0, 0), rollback=True), [change]) == {}
    # another scheme takes over, and the semver mark is still there for semver intents
    run = replace(floor_at("41", (41,)), mark=replace(floor_at("41", (41,)).mark, scheme="run-number"))
    mixed = raised(higher, run)
    assert mixed is not None and mixed.blocks(intent("1.2.9", (1, 2, 9)))
    assert decode_file(encode_file({(0, "image"): mixed})) == {(0, "image"): mixed}
    ref = ("envs/dev/a@b.yaml", 2, "images[0].newTag")
    assert parse_ref_key(ref_key(ref)) == ref


def test_a_scanned_reference_covers_the_scalars_written_under_it() -> None:
    result = engine.edit(KUSTOMIZATION, "k.yaml", [Edit(Selector(image=IMAGE), tag="1.2.0", image=IMAGE)])
    landed = written(intent("1.2.0", (1, 2, 0)), result.changes)
    assert list(landed) == [("k.yaml", 0, "images[0].newTag")]
    floors = {(0, path): floor for (_, _, path), floor in landed.items()}
    api, web = engine.scan(KUSTOMIZATION, "k.yaml")
    assert [f.mark.tag for f in covering(floors, api)] == ["1.2.0"]
    assert covering(floors, web) == []
