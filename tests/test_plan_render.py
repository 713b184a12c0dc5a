"""Rendering a unit leaves no garbage in cycles, which is why ``Plan.render`` pauses the cycle collector meanwhile;
rendering units together (``Plan.render_units``) gives what rendering each alone gives, failures in the same order."""
from __future__ import annotations

import dataclasses
import gc
from pathlib import Path

import pytest
from conftest import ROOT

from generator.errors import SiteTemplateError, UnrepresentableValue
from generator.inventory.load import load_inventory
from generator.plan.planner import Item, Plan

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


def _breaking(fmt, position):
    """``fmt`` (same name) whose file fails one way or another by ``position``: a value it cannot carry, a site
    template that does not render, two broken rules, or none."""
    way = position % 4

    def render(site, subject):
        if way == 0:
            raise UnrepresentableValue(f"{fmt.name} #{position} cannot carry a value")
        if way == 1:
            raise SiteTemplateError(f"{fmt.name} #{position} does not render", f"site/{fmt.name}.j2", position)
        return fmt.render(site, subject)

    def verify(content, org, subject):
        return [f"{fmt.name} #{position}: first rule", f"{fmt.name} #{position}: second rule"] if way == 2 \
            else fmt.verify(content, org, subject)

    return dataclasses.replace(fmt, render=render, verify=verify)


def test_rendering_units_together_keeps_each_units_failures_in_the_order_of_its_files():
    """``render_units`` makes the files format by format across the units; each unit's files, failures and site
    template errors come out as rendering the unit alone: in the order of its files, the cross-check's after."""
    plan = Plan(load_inventory(ROOT / "examples"), None)
    units = plan.units()
    lists, failures, errors, position = [], [], [], 0
    for unit in units:
        items, own, templates = [], [], []
        for item in plan.items(unit):
            items.append(Item(_breaking(item.fmt, position), item.subject, item.record, item.label))
            name, way = item.fmt.name, position % 4
            if way == 0:
                own.append(f"{item.label}: {name} #{position} cannot carry a value")
            elif way == 1:
                templates.append(f"template error while making {item.label}: SiteTemplateError: {name} #{position} "
                                 "does not render")
            elif way == 2:
                own += [f"{item.label}: {name} #{position}: first rule", f"{item.label}: {name} #{position}: second rule"]
            position += 1
        lists.append(items)
        failures.append(own)
        errors.append(templates)
    together = plan.render_units(units, lists)
    assert together == [plan.render(unit, items) for unit, items in zip(units, lists)]
    for rendered, own, templates in zip(together, failures, errors):
        assert rendered.failures[:len(own)] == own
        assert not any(failure in own for failure in rendered.failures[len(own):])
        assert [error.message for error in rendered.template_errors] == templates
    assert sum(1 for own in failures if own) > 1 and sum(1 for templates in errors if templates) > 1
    assert len({failure.split(": ")[1].split(" #")[0] for own in failures for failure in own}) > 1
    assert len({item.fmt.name for items in lists for item in items}) > 2
