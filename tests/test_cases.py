"""Every folder under tests/cases/ is a test: invalid ones with their exact messages, valid ones with their outputs."""
from __future__ import annotations

import html
import json
import sys
from pathlib import Path

import pytest
from readers import read_autoconfig, read_autodiscover, read_plist, read_prefs, read_prf, read_reg_values

from generator import cli, generate, load_inventory

CASES = Path(__file__).resolve().parent / "cases"
INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.is_dir())
VALID = sorted(p for p in (CASES / "valid").iterdir() if p.is_dir())


def _run(monkeypatch, capsys, folder: Path, *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", ["mailprofiles", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_there_are_enough_cases():
    assert len(INVALID) >= 40 and len(VALID) >= 5


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case(case, monkeypatch, capsys, tmp_path):
    expected = (case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert expected, "a case needs its expected message"
    code, out, err = _run(monkeypatch, capsys, case, "validate", ".")
    assert code == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.endswith("nothing was written.")]
    assert lines == expected
    for line in lines:   # FILE:LINE:COL: field: message
        file, line_no, col, _ = line.split(":", 3)
        assert (case / file).exists() and int(line_no) >= 1 and int(col) >= 1
    code, out, err = _run(monkeypatch, capsys, case, "generate", ".", "-o", str(tmp_path / "out"))
    assert code == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", VALID, ids=[p.name for p in VALID])
def test_valid_case(case, tmp_path):
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    out = tmp_path / "out"
    result = generate(case, out)
    assert sorted(a.path for a in result.artifacts) == expected["paths"]
    assert sorted({f.code for f in result.findings}) == expected["warnings"]
    inventory = load_inventory(case)
    devices = {(d.user.email, d.name): d for d in inventory.devices}
    org = inventory.organization
    for artifact in result.artifacts:
        path = (out / artifact.path).resolve()
        assert out.resolve() in path.parents, "an artifact escaped the output folder"
        if artifact.kind == "handout":
            assert artifact.user in html.unescape(path.read_text(encoding="utf-8"))
            continue
        if artifact.kind == "autoconfig":
            assert read_autoconfig(path.read_bytes())["domain"] == artifact.domain
            continue
        if artifact.kind == "autodiscover":
            answer = read_autodiscover(path.read_bytes())
            assert answer["user"] is None and all("LoginName" not in p for p in answer["protocols"])
            continue
        device = devices[(artifact.user, artifact.device)]
        data = path.read_bytes()
        user = device.user
        if artifact.client == "thunderbird":
            prefs = read_prefs(data)
            assert prefs["mail.identity.id1.fullName"] == user.name
            assert prefs["mail.identity.id1.organization"] == org.name
            assert prefs["mail.server.server1.userName"] == user.login
            assert not any(name.startswith("mail.evil") for name in prefs)
        elif artifact.client == "apple":
            plist = read_plist(data)
            mail = plist["PayloadContent"][0]
            assert mail["EmailAccountName"] == user.name and mail["EmailAddress"] == user.email
            assert plist["PayloadOrganization"] == org.name
            assert mail["IncomingMailServerUsername"] == user.login
        elif artifact.path.endswith("/autodiscover.xml"):
            answer = read_autodiscover(data)
            assert answer["user"] == {"DisplayName": user.name, "AutoDiscoverSMTPAddress": user.email}
            assert {p["LoginName"] for p in answer["protocols"]} == {user.login}
        elif artifact.path.endswith("/autodiscover.reg"):
            (values,) = read_reg_values(data).values()
            assert values["PreferLocalXML"] == 1 and set(values) == {"PreferLocalXML", user.domain}
        else:
            prf = read_prf(data)
            assert prf["account1"]["displayname"] == user.name
            assert prf["account1"]["organization"] == org.name
            assert set(prf) == {"general", "service list", "internet account list", "account1",
                                "i_mail" if device.protocol == "pop3" else "imap_i_mail"}
    again = generate(case, out)
    assert again.count("unchanged") == len(result.artifacts) and not again.manifest_changed
