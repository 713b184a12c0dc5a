"""Records made a few times per file (manifest entries, planned files, changes) are set up field by field through
their slots (``model.quick_init``): the same frozen instances, compared and hashed by their fields, as the
dataclass's own ``__init__`` makes."""
from __future__ import annotations

import dataclasses
import pickle

import pytest

from generator.model import quick_init
from generator.output.manifest import ArtifactRecord
from generator.output.reconcile import Change
from generator.plan.planner import Item, Planned


@dataclasses.dataclass(frozen=True, slots=True)
class _Plain:
    a: str
    b: int = 2
    c: str | None = None


_Quick = quick_init(dataclasses.make_dataclass("_Quick", [("a", str), ("b", int, 2), ("c", "str | None", None)],
                                               frozen=True, slots=True))


@pytest.mark.parametrize(("args", "kwargs"), [(("x",), {}), (("x", 5), {}), (("x",), {"c": "y"}), ((), {"a": "x", "b": 7,
                                                                                                       "c": "z"})])
def test_a_quick_init_sets_what_the_dataclass_init_sets(args, kwargs):
    quick, plain = _Quick(*args, **kwargs), _Plain(*args, **kwargs)
    assert dataclasses.astuple(quick) == dataclasses.astuple(plain)
    assert hash(quick) == hash(dataclasses.replace(quick)) and quick == dataclasses.replace(quick)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.a = "changed"   # type: ignore[misc]
    with pytest.raises(TypeError):
        _Quick(*args, **kwargs, d=1)    # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Quick()                        # type: ignore[call-arg]


def test_a_quick_init_refuses_what_it_cannot_make():
    @dataclasses.dataclass(frozen=True, slots=True)
    class Listed:
        items: list[str] = dataclasses.field(default_factory=list)
    with pytest.raises(TypeError):
        quick_init(Listed)


def test_the_records_of_a_run_keep_every_field():
    values = {f.name: f"v{n}" for n, f in enumerate(dataclasses.fields(ArtifactRecord))}
    record = ArtifactRecord(**values)
    assert dataclasses.asdict(record) == values
    assert ArtifactRecord(*values.values()) == record and hash(ArtifactRecord(*values.values())) == hash(record)
    assert ArtifactRecord("device", "p", "s") == ArtifactRecord(kind="device", path="p", sha256="s", user=None)
    assert pickle.loads(pickle.dumps(record)) == record
    assert Change("p", "created") == Change("p", "created", "") and Change("p", "created").diff == ""
    planned = Planned(record, b"x", None)   # type: ignore[arg-type]
    assert planned.template == "built-in"
    assert Item(None, "s", record, "l").label == "l"   # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.path = "q"   # type: ignore[misc]
