"""Handouts people print: a group's handouts in one file, the device heading, the Apple texts' language."""
from __future__ import annotations

import json
import plistlib

from conftest import BASE, EXAMPLES

from generator import all_findings, generate, load_inventory
from generator.formats.registry import named
from generator.plan.scopes import group_targets

USERS = ("users:\n"
         "  - {email: a@example.com, name: Anna, groups: [g, h], devices: [desktop, {name: pad, profile: phone}]}\n"
         "  - {email: b@example.com, name: Ben, language: de, groups: [g], devices: [laptop]}\n"
         "  - {email: c@example.com, name: Cem, devices: [phone]}\n"
         "groups: {g: {}, h: {}}\n")
GROUPS = BASE.replace("identifier: com.example}", "identifier: com.example, group_handouts: true}") + USERS


def test_a_file_per_group_holds_its_users_handouts_and_is_in_the_manifest(write_inventory, tmp_path):
    folder = write_inventory(GROUPS)
    out = tmp_path / "out"
    generate(folder, out)
    manifest = {e["path"]: e for e in json.loads((out / "manifest.json").read_text())["artifacts"]}
    files = sorted(path for path in manifest if path.startswith("handouts/"))
    assert files == ["handouts/_no-group.html", "handouts/g.html", "handouts/h.html"]
    assert {k: manifest["handouts/g.html"][k] for k in ("kind", "group")} == {"kind": "group-handout", "group": "g"}
    g = (out / "handouts/g.html").read_text(encoding="utf-8")
    assert g.count('<article class="handout"') == 2 and g.index("a@example.com") < g.index("b@example.com")
    assert '<article class="handout" lang="de">' in g and g.startswith('<!DOCTYPE html>\n<html lang="en">')
    # each user's part is that user's page as it stands alone
    alone = (out / "b@example.com/handout.html").read_text(encoding="utf-8")
    part = alone[alone.index("<article"):alone.index("</article>")]
    assert part in g
    assert "a@example.com" in (out / "handouts/h.html").read_text(encoding="utf-8")        # in both of her groups
    assert "c@example.com" in (out / "handouts/_no-group.html").read_text(encoding="utf-8")
    assert generate(folder, out).count("unchanged") == len(manifest)
    write_inventory(GROUPS.replace("name: Ben,", "name: Benedikt,"))
    changed = generate(folder, out)     # Ben's page, and the one group file he is in
    assert sorted(c.path for c in changed.changes if c.path.endswith(".html")) == [
        "b@example.com/handout.html", "handouts/g.html"]
    assert "Benedikt" in (out / "handouts/g.html").read_text(encoding="utf-8")
    # --limit leaves the groups' files as they are; without group_handouts they are gone
    (out / "handouts/g.html").write_text("edited")
    assert "handouts/g.html" not in [c.path for c in generate(folder, out, limit="b@example.com").changes]
    write_inventory(BASE + USERS)
    removed = generate(folder, out)
    assert not (out / "handouts/h.html").exists() and (out / "handouts/g.html").read_text() == "edited"
    assert any("handouts/g.html: it was changed after mailprofiles wrote it" in alert for alert in removed.alerts)


def _inputs(folder) -> dict[str, str | None]:
    from generator.plan.planner import Plan

    plan = Plan(load_inventory(folder), None)
    return {item.record.path: item.record.inputs for unit in plan.units() for item in plan.items(unit)}


def test_a_groups_file_is_fingerprinted_by_its_users_pages(write_inventory):
    """An unchanged group's file is not made again; a change of one user's page changes only that user's groups'."""
    before = _inputs(write_inventory(GROUPS))
    assert before["handouts/g.html"] and before["handouts/h.html"] and before["handouts/_no-group.html"]
    ben = _inputs(write_inventory(GROUPS.replace("name: Ben,", "name: Benedikt,")))
    assert [p for p in before if p.startswith("handouts/") and before[p] != ben[p]] == ["handouts/g.html"]
    anna = _inputs(write_inventory(GROUPS.replace("name: Anna,", "name: Anna M,")))
    assert [p for p in before if p.startswith("handouts/") and before[p] != anna[p]] == ["handouts/g.html",
                                                                                         "handouts/h.html"]


def test_the_group_verifier_holds_each_users_part_to_the_handouts_rules(write_inventory, tmp_path):
    folder = write_inventory(GROUPS)
    inventory = load_inventory(folder)
    fmt = named("group-handout")
    findings = all_findings(inventory)
    target = next(t for t in group_targets(inventory, fmt, None, findings) if t.names["group"] == "g")
    out = tmp_path / "out"
    generate(folder, out)
    page = (out / "handouts/g.html").read_bytes()
    org = inventory.organization
    assert fmt.check(page, org, target.subject) == []
    first_end = page.index(b"</article>") + len(b"</article>")
    for mutation, rule in [
        (page[:page.index(b"<article")] + page[first_end:], "the file has 1 <article> handouts, expected 2"),
        (page.replace(b'lang="de"', b'lang="en"'), "b@example.com: <article lang> is 'en', expected 'de'"),
        (page.replace(b'<html lang="en"', b'<html lang="de"'), "<html lang> is ['de'], expected ['en']"),
        (page.replace(b"<code>b@example.com</code>", b"<code>x</code>"), "b@example.com: the login"),
        (page.replace(b"</body>", b"<script>x()</script></body>"), "<script> is not allowed"),
    ]:
        assert any(rule in problem for problem in fmt.check(mutation, org, target.subject)), rule


def test_the_device_heading_names_the_profile_only_when_it_is_not_the_name():
    from conftest import ROOT

    page = (ROOT / "tests/golden/example/jurgen.muller@example.com/handout.html").read_text(encoding="utf-8")
    assert "<h2>Gerät „desktop“</h2>" in page and "<h2>Gerät „jurgen-mac“ (laptop)</h2>" in page
    css = page[page.index("<style>"):page.index("</style>")]
    assert ".device + .device, .handout + .handout { page-break-before: always; break-before: page; }" in css


def test_apple_profile_texts_are_in_the_users_language(tmp_path):
    out = tmp_path / "out"
    generate(EXAMPLES, out)
    german = plistlib.loads((out / "jurgen.muller@example.com/jurgen-mac/mail.mobileconfig").read_bytes())
    english = plistlib.loads((out / "anna@example.com/phone/mail.mobileconfig").read_bytes())
    assert german["PayloadDescription"] == \
        "IMAP-E-Mail-Konto jurgen.muller@example.com für Jürgen Müller auf dem Gerät jurgen-mac."
    assert german["PayloadContent"][0]["PayloadDisplayName"] == "IMAP-Konto jurgen.muller@example.com"
    assert english["PayloadDescription"] == "IMAP mail account anna@example.com for Anna Muster on device phone."
    assert english["PayloadContent"][0]["PayloadDescription"] == \
        "Mail account anna@example.com (IMAP imap.example.com, SMTP smtp2.example.com)"


def test_the_handout_lists_only_the_files_of_the_devices_clients(write_inventory, tmp_path):
    folder = write_inventory(BASE + "users_file: users.csv\n", **{"users.csv": (
        'email,devices,clients\na@example.com,desktop;laptop,"thunderbird;outlook apple"\n')})
    out = tmp_path / "out"
    generate(folder, out)
    page = (out / "a@example.com/handout.html").read_text(encoding="utf-8")
    assert "desktop/prefs.js" in page and "laptop/outlook.prf" in page and "laptop/mail.mobileconfig" in page
    assert "desktop/outlook.prf" not in page and "desktop/mail.mobileconfig" not in page
    assert "laptop/prefs.js" not in page
