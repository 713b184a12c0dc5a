"""The handout's data: page.j2 reads rows made for it; with a site folder the pages are the same bytes, and a site's
own templates read each device and notice as a dict."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import BASE, EXAMPLES, ROOT

from generator import generate

CASES = ROOT / "tests" / "cases"


def _pages(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.html"))}


@pytest.mark.parametrize("source", [EXAMPLES, CASES / "oauth2" / "m365", CASES / "oauth2" / "google",
                                    CASES / "oauth2" / "own-idp", CASES / "valid" / "tricky-characters",
                                    CASES / "valid" / "unsafe-device-names"], ids=lambda path: path.name)
def test_a_site_folder_without_handout_templates_gives_the_same_pages(source, tmp_path):
    folder = tmp_path / "inventory"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("expected.json"))
    inventory = folder / "inventory.yaml"
    text = inventory.read_text(encoding="utf-8")
    if source == EXAMPLES:       # and a file per group
        text = text.replace("  identifier: com.example\n", "  identifier: com.example\n  group_handouts: true\n", 1)
    inventory.write_text(text, encoding="utf-8")
    generate(folder, tmp_path / "built-in")
    inventory.write_text(text + "\ntemplates_dir: site\n", encoding="utf-8")
    (folder / "site" / "thunderbird").mkdir(parents=True)
    generate(folder, tmp_path / "site")
    built_in, site = _pages(tmp_path / "built-in"), _pages(tmp_path / "site")
    assert built_in and built_in == site
    assert source != EXAMPLES or "handouts/sales.html" in site


def test_a_site_handout_reads_devices_and_notices_as_dicts(write_inventory, tmp_path):
    shell = (ROOT / "templates" / "handout" / "handout.html.j2").read_text(encoding="utf-8")
    listing = ("<!-- {% for d in devices %}[{{ d.name }} {{ d.profile }} {{ d.incoming.protocol }} {{ d.incoming.host }}"
               ":{{ d.incoming.port }} {{ d.incoming.security }} {{ d.outgoing.host }} {{ d.incoming.login }} "
               "{{ d.archive }} {{ d.days }} {{ d.bcc }} {{ d.sign_in }}"
               "{% for f in d.files %} {{ f.format }}={{ f.path }}/{{ f.skipped }}/{{ f.instead }}{% endfor %}"
               "{% for s in d.steps %} {{ s.code }}:{{ s.client }}:{{ s.days }}{% endfor %}]{% endfor %}"
               "{% for n in notices %} {{ n.code }}{% endfor %} -->\n")
    folder = write_inventory(BASE + "templates_dir: site\n"
                             "users:\n  - {email: a@example.com, name: Anna, devices: [desktop, phone]}\n")
    (folder / "site" / "handout").mkdir(parents=True)
    (folder / "site" / "handout" / "handout.html.j2").write_text(shell.replace("</body>", listing + "</body>"),
                                                                  encoding="utf-8")
    out = tmp_path / "out"
    generate(folder, out)
    page = (out / "a@example.com" / "handout.html").read_text(encoding="utf-8")
    shown = page[page.index("<!-- ") + 5:page.index(" -->")]
    assert shown.startswith("[desktop desktop POP3 pop.example.com:995 ssl smtp.example.com a@example.com True 28 "
                            "False None thunderbird=desktop/prefs.js/False/False")
    assert "][phone phone IMAP imap.example.com:993 ssl smtp.example.com a@example.com False None True None " \
           "apple=phone/mail.mobileconfig/False/False apple-no-bcc:apple:None]" in shown
    assert shown.endswith("]")       # no notice: the desktop keeps the archive
