"""Several mail domains in one organization: the example, and the fleet's address pattern per group."""
from __future__ import annotations

from conftest import BASE, EXAMPLES, ROOT
from golden_files import assert_matches_golden
from readers import read_autoconfig

from generator import generate, validate
from generator.pipeline import fleet

MULTI = EXAMPLES / "multi-domain"
GOLDEN = ROOT / "tests" / "golden" / "multi-domain"


def test_the_multi_domain_example_validates_and_matches_its_golden_files(tmp_path):
    assert validate(MULTI).valid
    result = generate(MULTI, tmp_path / "out")
    assert_matches_golden(tmp_path / "out", GOLDEN)
    domains = {a.domain: a.path for a in result.artifacts if a.kind == "autoconfig"}
    assert sorted(domains) == ["example.com", "example.net"]
    hosts = {domain: {s["hostname"] for s in read_autoconfig((tmp_path / "out" / path).read_bytes())["servers"].values()}
             for domain, path in domains.items()}
    assert hosts == {"example.com": {"imap.example.com", "pop.example.com", "smtp.example.com"},
                     "example.net": {"mail.example.net"}}


def test_each_domains_fleet_set_forms_addresses_on_its_domain(tmp_path):
    out = tmp_path / "fleet"
    result = fleet(MULTI, out, "jamf-pro")
    net = (out / "fleet/example-net/laptop/thunderbird/mailprofiles.cfg").read_text()
    com = (out / "fleet/_no-group/laptop/thunderbird/mailprofiles.cfg").read_text()
    assert '"" + login + "@example.net"' in net and '"mail.example.net"' in net
    assert '"" + login + "@example.com"' in com and '"imap.example.com"' in com
    # the group takes the top-level login rule (local-part), as it sets none of its own
    assert "var userName = login;" in net
    assert not any(f.code == "fleet-pattern-domain" for f in result.findings)


TWO_DOMAINS = BASE + ('fleet: {address_pattern: "{login}@example.com"}\n'
                      "groups:\n  net:\n    servers: {imap: {host: mail.example.net}}\n{net_fleet}"
                      "users:\n  - {email: a@example.com, devices: [laptop]}\n"
                      "  - {email: b@example.net, groups: [net], devices: [laptop]}\n")


def test_a_group_without_its_own_pattern_takes_the_top_level_one_and_is_warned_of_another_domain(
        write_inventory, tmp_path):
    folder = write_inventory(TWO_DOMAINS.replace("{net_fleet}", ""))
    result = fleet(folder, tmp_path / "out", "jamf-pro")
    cfg = (tmp_path / "out/fleet/net/laptop/thunderbird/mailprofiles.cfg").read_text()
    assert '"" + login + "@example.com"' in cfg       # made, with the pattern it inherits ...
    (warning,) = [f for f in result.findings if f.code == "fleet-pattern-domain"]
    assert warning.user == "net" and warning.message == (   # ... and the run says it is the wrong domain
        "the users of this group are on example.net, but the top-level fleet.address_pattern '{login}@example.com' "
        "forms addresses on example.com: set the group's own pattern (groups.net.fleet.address_pattern, "
        "e.g. '{login}@example.net')")
    folder = write_inventory(TWO_DOMAINS.replace("{net_fleet}", '    fleet: {address_pattern: "{login}@example.net"}\n'))
    result = fleet(folder, tmp_path / "out2", "jamf-pro")
    assert not any(f.code == "fleet-pattern-domain" for f in result.findings)
    assert '"" + login + "@example.net"' in (tmp_path / "out2/fleet/net/laptop/thunderbird/mailprofiles.cfg").read_text()


def test_without_any_pattern_a_group_still_gets_no_autoconfig_files(write_inventory, tmp_path):
    folder = write_inventory(BASE + "groups: {g: {}}\nusers:\n  - {email: a@example.com, groups: [g], devices: [laptop]}\n")
    result = fleet(folder, tmp_path / "out", "jamf-pro")
    files = tmp_path / "out/fleet/g/laptop/thunderbird"
    assert not (files / "mailprofiles.cfg").exists() and not (files / "defaults").exists()
    assert (files / "distribution" / "policies.json").exists()      # the policies need no pattern
    assert any(f.code == "fleet-thunderbird-no-pattern" and f.user == "g" for f in result.findings)
