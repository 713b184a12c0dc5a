"""The handout as a person sees it: printed by a real browser (headless Chromium) to PDF, read with pdftotext."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BASE, EXAMPLES, ROOT

from generator import InventoryError, generate, load_inventory
from generator.formats.verify.handout import verify

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _pdf_text(html: Path, tmp_path: Path) -> str:
    """Print ``html`` with headless Chromium and return the PDF's text."""
    return _pdf(html, tmp_path)[0]


def _pdf(html: Path, tmp_path: Path) -> tuple[str, int]:
    """Print ``html`` with headless Chromium: the PDF's text and its number of pages."""
    if CHROMIUM is None or shutil.which("pdftotext") is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and pdftotext are installed by .ci/run")
        pytest.skip("chromium or pdftotext is not installed")
    pdf = tmp_path / (html.parent.name + ".pdf")
    profile = tmp_path / "chromium-profile"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri()],
                   check=True, capture_output=True, timeout=120)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    pages = int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))
    return " ".join(text.split()), pages


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    out = tmp_path_factory.mktemp("handouts") / "out"
    generate(EXAMPLES, out)
    return out


def test_english_handout_in_a_browser(example, tmp_path):
    text = _pdf_text(example / "anna@example.com" / "handout.html", tmp_path)
    assert "Your mail setup" in text and "Anna Muster <anna@example.com>" in text
    assert "pop.example.com, port 995, SSL/TLS" in text and "smtp2.example.com, port 587, STARTTLS" in text
    assert "imap.example.com, port 993, SSL/TLS" in text and "User name anna" in text
    assert "outlook.exe /importprf outlook.prf" in text
    assert "Settings › Apps › Mail › Always Bcc Myself: on" in text                 # apple-no-bcc, on the phone
    assert "keep a copy on the server and remove it after 28 days" in text          # apple-no-pop-retention
    assert "leaves it on the server for 28 days" in text and "sent (Bcc) to your own address" in text
    assert "password" in text and "secret" not in text.lower()


def test_german_handout_in_a_browser(example, tmp_path):
    text = _pdf_text(example / "jurgen.muller@example.com" / "handout.html", tmp_path)
    assert "Ihre E-Mail-Einrichtung" in text and "Jürgen Müller <jurgen.muller@example.com>" in text
    assert "Posteingang" in text and "pop.example.com, Port 995, SSL/TLS" in text
    assert "Postausgang" in text and "smtp.example.com, Port 465, SSL/TLS" in text
    assert "Benutzername jurgen.muller@example.com" in text
    assert "„Immer Bcc an mich“ einschalten" in text                                 # apple-no-bcc on the Mac
    assert "Outlook für Windows: outlook.exe /importprf outlook.prf" in text
    assert "nach 28 Tagen entfernen" in text and "28 Tage auf dem Server" in text


def test_handout_is_self_contained_and_escaped(write_inventory, tmp_path):
    folder = write_inventory(BASE + "users:\n  - email: a@example.com\n"
                             "    name: '<script>alert(1)</script> <img src=http://x/y.png>'\n"
                             "    devices: [{name: '<b>pad</b>', profile: phone}]\n")
    out = tmp_path / "out"
    generate(folder, out)
    page = (out / "a@example.com" / "handout.html").read_bytes()
    assert b"<script>" not in page and b"<img" not in page and b"&lt;script&gt;" in page
    assert b"http" not in page.replace(b"http://x/y.png", b"")      # nothing loaded from elsewhere
    text = _pdf_text(out / "a@example.com" / "handout.html", tmp_path)
    assert "<script>alert(1)</script>" in text and "Device “<b>pad</b>” (phone)" in text


def test_the_verifier_refuses_what_a_page_must_not_have(example):
    inventory = load_inventory(EXAMPLES)
    from generator import all_findings
    from generator.plan.scopes import findings_of, user_devices

    anna = [d for d in inventory.devices if d.user.email == "anna@example.com"]
    subject = user_devices(anna[0].user, tuple(anna), findings_of(all_findings(inventory), "anna@example.com"))
    page = (example / "anna@example.com" / "handout.html").read_bytes()
    assert verify(page, inventory.organization, subject) == []
    for mutation, rule in [
        (page.replace(b"</body>", b"<script>x()</script></body>"), "<script> is not allowed"),
        (page.replace(b"<style>", b"<link rel=stylesheet href='https://cdn.example/x.css'><style>"), "<link>"),
        (page.replace(b"<style>", b"<style>@import url(https://x/y.css);"), "loads from elsewhere"),
        (page.replace(b'lang="en"', b'lang="de"'), "<html lang>"),
        (page.replace(b"smtp2.example.com</code>, port 587", b"smtp2.example.com</code>, port 25"),
         "smtp smtp2.example.com:587 is not on the page"),
        (page.replace(b"<p>", b"<p onclick='x()'>", 1), "event handler onclick"),
        (page.replace(b"<ol>\n  <li>", b"<ol>\n  <li>Step</li>\n  <li>", 1), "manual steps per device"),
    ]:
        assert any(rule in problem for problem in verify(mutation, inventory.organization, subject)), rule


def test_a_device_cannot_take_the_name_of_the_handout(write_inventory):
    folder = write_inventory(BASE + "users:\n  - {email: a@example.com, devices: [{name: Handout.html, profile: phone}]}\n")
    with pytest.raises(InventoryError, match="is the name of a file made per user"):
        load_inventory(folder)


def test_printed_one_device_per_page_and_a_groups_file_at_once(example, tmp_path):
    """Anna's two devices print on two pages, each naming her; a group's file prints each of its users' devices on
    a page of its own, each user in the user's language, and the device heading is not repeated."""
    text, pages = _pdf(example / "anna@example.com" / "handout.html", tmp_path)
    assert pages == 2 and text.count("Anna Muster <anna@example.com>") == 2
    assert "Device “desktop” File to install" in text and "(desktop)" not in text
    multi = tmp_path / "multi"
    generate(ROOT / "examples" / "multi-domain", multi)
    text, pages = _pdf(multi / "handouts" / "example-net.html", tmp_path)
    assert pages == 3          # Ben: desktop and laptop; Chloé: laptop
    assert "Ben Beispiel <ben@example.net>" in text and "Gerät „desktop“" in text and "Gerät „laptop“" in text
    assert "Chloé Dupont <chloe@example.net>" in text and "Device “laptop”" in text
    # only the files of each device's clients (the roster's clients column): Ben's desktop only Outlook
    assert "desktop/outlook.prf" in text and "desktop/prefs.js" not in text and "desktop/mail.mobileconfig" not in text
