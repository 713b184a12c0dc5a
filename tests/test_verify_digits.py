"""A number in an Autodiscover answer or an autoconfig file is ASCII digits: Python's ``isdigit`` and ``int``
also take other scripts' digits (``int("٩٩٣")`` is 993), which no mail program reads as a port."""
from __future__ import annotations

import pytest
from conftest import BASE

from generator import load_inventory
from generator.formats.registry import named
from generator.formats.subjects import DomainDevices

NOT_ASCII = ["\u0669\u0669\u0663", "\uff19\uff19\uff13", "99\u00b3", "\u00b2"]   # Arabic-Indic, full width, superscripts


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inventory")
    (folder / "inventory.yaml").write_text(
        BASE + "users:\n  - {email: anna@example.com, name: Anna Muster, devices: [desktop, laptop]}\n",
        encoding="utf-8")
    return load_inventory(folder)


@pytest.mark.parametrize("digits", NOT_ASCII)
def test_an_autodiscover_port_in_other_digits_is_refused(inventory, digits):
    fmt = named("outlook-autodiscover")
    device = next(d for d in inventory.devices if d.name == "laptop")
    content = fmt.render(inventory.site, device)
    assert fmt.check(content, inventory.site.organization, device) == []
    altered = content.replace(b"<Port>993</Port>", f"<Port>{digits}</Port>".encode(), 1)
    assert altered != content
    problems = fmt.check(altered, inventory.site.organization, device)
    assert problems and "<Port>" in problems[0] and "1..65535" in problems[0], problems


@pytest.mark.parametrize("digits", NOT_ASCII)
def test_an_autoconfig_port_or_day_count_in_other_digits_is_refused(inventory, digits):
    fmt = named("autoconfig")
    subject = DomainDevices("example.com", tuple(inventory.devices))
    content = fmt.render(inventory.site, subject)
    organization = inventory.site.organization
    assert fmt.check(content, organization, subject) == []
    port = content.replace(b"<port>993</port>", f"<port>{digits}</port>".encode(), 1)
    assert port != content
    problems = fmt.check(port, organization, subject)
    assert problems and "port" in problems[0] and "1..65535" in problems[0], problems
    days = content.replace(b"daysToLeaveMessagesOnServer>28<", f"daysToLeaveMessagesOnServer>{digits}<".encode(), 1)
    assert days != content
    problems = fmt.check(days, organization, subject)
    assert problems and "is not a number of days" in problems[0], problems
