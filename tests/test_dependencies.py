"""The declared lower bounds carry the security fixes the product relies on, and the sandbox holds on them.

Each row names the oldest release that is safe for the way mailprofiles uses the package, and why. A bound
below it in pyproject.toml fails here, so a careless "relax the pin" cannot reintroduce the hole.
"""
from __future__ import annotations

import re
from importlib import metadata

import pytest
from conftest import BASE, ROOT, run_cli

SECURITY_FLOORS = {
    # Site templates run in Jinja2's sandbox: 3.1.6 stops the |attr filter from reaching str.format
    # (CVE-2025-27516); 3.1.5 closed the sandbox escapes through indirect str.format calls and template
    # file names (CVE-2024-56326, CVE-2024-56201); 3.1.4 the xmlattr key injection (CVE-2024-34064).
    "jinja2": ((3, 1, 6), "sandbox escape through |attr('format') (CVE-2025-27516)"),
    # Signing reads certificates and keys the admin hands over; 50.0.0 is the newest release carrying a
    # security fix (CVE-2026-69247); 44.0.1 and 43.0.1 shipped fixed OpenSSL builds in the wheels.
    "cryptography": ((50, 0, 0), "X.509 and key parsing of untrusted files (CVE-2026-69247)"),
    # Inventories are untrusted YAML: 5.4 removed arbitrary code through full_load (CVE-2020-14343); 6.0.1
    # is the first 6.x that builds on current Python and Cython.
    "pyyaml": ((6, 0, 1), "untrusted YAML (CVE-2020-14343), builds on current Python"),
    # import-autoconfig reads untrusted XML only through defusedxml.
    "defusedxml": ((0, 7, 1), "untrusted XML (entity expansion, external entities)"),
    "asn1crypto": ((1, 5, 1), "re-reads the CMS signature of every signed profile"),
    # The verifiers parse every handout, profile, autoconfig and Autodiscover file with libxml2 (no DTD, no
    # entities, no network): 5.4.0's wheels moved to libxml2 2.13.8 for several CVEs, 6.0.2's to 2.14.6, the newest fixed release.
    "lxml": ((6, 0, 2), "libxml2 in the wheels with its parser fixes (2.14.6)"),
}
TEST_FLOORS = {
    # The tests' SMTP server: 1.4.5 fixed SMTP smuggling (CVE-2024-27305), 1.4.6 the STARTTLS command
    # injection (CVE-2024-34083).
    "aiosmtpd": ((1, 4, 6), "SMTP smuggling (CVE-2024-27305), STARTTLS injection (CVE-2024-34083)"),
}


def _bounds(requirements: list[str]) -> dict[str, tuple[int, ...]]:
    found = {}
    for line in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9.]+)", line.replace(" ", ""))
        assert match, f"every dependency has a lower bound: {line!r}"
        found[match[1].lower()] = tuple(int(part) for part in match[2].split("."))
    return found


def _list(name: str) -> list[str]:
    """The strings of pyproject.toml's list ``name = [...]`` (tomllib is not in Python 3.10)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(rf"^{name} = \[(.*?)^\]", text, re.S | re.M)
    assert block, name
    return re.findall(r'^\s*"([^"]+)",', block[1], re.M)


PROJECT = {"dependencies": _list("dependencies"), "optional-dependencies": {"test": _list("test")}}


@pytest.mark.parametrize("floors, requirements", [
    (SECURITY_FLOORS, PROJECT["dependencies"]),
    (TEST_FLOORS, PROJECT["optional-dependencies"]["test"]),
], ids=["runtime", "test"])
def test_lower_bounds_carry_the_security_fixes(floors, requirements):
    bounds = _bounds(requirements)
    for name, (floor, why) in floors.items():
        assert name in bounds, f"{name} is not declared"
        assert bounds[name] >= floor, f"{name}>={'.'.join(map(str, bounds[name]))} admits releases without: {why}"


def test_the_installed_packages_satisfy_the_bounds():
    for name, bound in _bounds(PROJECT["dependencies"]).items():
        installed = tuple(int(part) for part in re.findall(r"\d+", metadata.version(name))[:len(bound)])
        assert installed >= bound, f"{name} {metadata.version(name)} is installed, {bound} is required"


SECRET = "passphrase-that-must-stay-secret"
ESCAPES = [
    # CVE-2025-27516: str.format reached through the attr filter, with a Jinja global whose module imports os.
    '{{ "{0.__init__.__globals__[os].environ[MAILPROFILES_SIGN_PASSPHRASE]}"|attr("format")(cycler) }}',
    # CVE-2024-56326: str.format stored and called indirectly.
    '{% set f = "{0.__init__.__globals__[os].environ[MAILPROFILES_SIGN_PASSPHRASE]}".format %}{{ f(cycler) }}',
    '{{ cycler.__init__.__globals__.os.environ.MAILPROFILES_SIGN_PASSPHRASE }}',
]


@pytest.mark.parametrize("escape", ESCAPES, ids=["attr-format", "stored-format", "plain-globals"])
def test_a_site_template_cannot_read_the_environment(write_inventory, tmp_path, escape):
    """With Jinja2 3.1.5 the first escape puts the passphrase into every handout; 3.1.6 refuses it."""
    folder = write_inventory(BASE + "templates_dir: site\nusers:\n  - {email: a@example.com, devices: [desktop]}\n")
    (folder / "site" / "handout").mkdir(parents=True)
    page = (ROOT / "templates" / "handout" / "handout.html.j2").read_text(encoding="utf-8")
    assert page.count("<body>") == 1
    (folder / "site" / "handout" / "handout.html.j2").write_text(page.replace("<body>", f"<body><p>{escape}</p>"),
                                                                  encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli("generate", str(folder), "-o", str(out), env={"MAILPROFILES_SIGN_PASSPHRASE": SECRET})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "SecurityError" in result.stderr, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert not out.exists()
