"""Rendering a unit leaves no garbage in cycles, which is why ``Plan.render`` pauses the cycle collector meanwhile."""
from __future__ import annotations

import gc
from pathlib import Path

import pytest
from conftest import ROOT

from generator.inventory.load import load_inventory
from generator.plan.planner import Plan

CASES = Path(__file__).resolve().parent / "cases"
INVENTORIES = [ROOT / "examples", ROOT / "examples" / "multi-domain", *sorted((CASES / "oauth2").iterdir()),
               *sorted((CASES / "valid").iterdir())]


@pytest.mark.parametrize("folder", INVENTORIES, ids=lambda folder: folder.name)
def test_rendering_every_unit_leaves_no_garbage_in_cycles(folder):
    plan = Plan(load_inventory(folder), None)
    units = plan.units()
    made = 0
    gc.collect()
    collecting = gc.isenabled()
    gc.disable()
    try:
        for unit in units:
            rendered = plan.render(unit)
            assert not rendered.failures and not rendered.template_errors
            made += len(rendered.planned)
        del rendered
        found = gc.collect()
    finally:
        if collecting:
            gc.enable()
    assert made > 0
    assert found == 0, f"rendering {folder.name} left {found} objects in cycles for the collector"


def test_the_collector_runs_again_after_a_unit():
    plan = Plan(load_inventory(ROOT / "examples"), None)
    assert gc.isenabled()
    plan.render(plan.units()[0])
    assert gc.isenabled()
