"""Our Autodiscover answers against a real automx2 (from the package index), answering Outlook's POST over HTTP.

automx2 runs as its own Flask application on 127.0.0.1 with an SQLite database, seeded the way its documentation
says (``docs/dbconfig.adoc``: a POST of version-2 JSON to ``/initdb/``) with the inventory's domain and servers.
Then the test sends what Outlook sends (``POST /autodiscover/autodiscover.xml`` with ``EMailAddress`` and
``AcceptableResponseSchema`` in the request schema's namespace) for each Outlook user, and compares automx2's
answer field by field with the files we make for the same user: the user's own ``autodiscover.xml`` and the
domain's. Both are read with the tests' own reader (``readers.read_autodiscover``, the standard library's parser).

Where the two differ, the difference is ours by design and named in ``EXPLAINED``:

* ``SSL`` for a STARTTLS server: automx2 writes ``off`` next to ``<Encryption>TLS</Encryption>``; we write ``on``.
  [MS-OXDSCLI] lets ``Encryption`` override ``SSL``, so Outlook reads the same from both; a client that reads only
  ``SSL`` would, with ours, try TLS and fail instead of sending the password in clear.
* ``DomainRequired``, ``SPA``, ``AuthRequired``, ``UsePOPAuth``, ``SMTPLast``: automx2 leaves them out; we write
  them. Absent, Microsoft's POX reference makes ``SPA`` and ``AuthRequired`` default to ``on`` (``SPA`` on would
  ask Outlook for NTLM), so we say ``SPA off`` for a password login.
* ``<User>``: automx2 writes one only with an LDAP lookup; the user's own file carries the display name and the
  address, so Outlook's form is filled in.
* ``LoginName``: automx2 fills in the login per request (its ``user_name`` column, ``%EMAILLOCALPART%`` here);
  the domain's file is one static answer for every user and names none (warning ``autodiscover-domain-login``),
  while the user's own file names the same login as automx2.
* automx2 lists every server of the domain (IMAP, POP3, SMTP); the user's own file lists the device's incoming
  protocol and SMTP.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from mailservers import free_port, stop_process
from readers import read_autodiscover

from generator import generate

pytest.importorskip("automx2", reason="automx2 is in the test extra (pyproject.toml)")

INVENTORY = """\
organization: {name: Example GmbH, identifier: com.example}
servers:
  imap: {host: imap.example.com, port: 993, security: ssl}
  pop3: {host: pop.example.com, port: 995, security: ssl}
  smtp: {host: smtp.example.com, port: 587, security: starttls}
users:
  - {email: anna@example.com, name: Anna Muster, login: anna, devices: [desktop, laptop]}
  - {email: ben@example.com, name: Ben Beispiel, login: ben, devices: [laptop]}
"""
# The same domain and servers for automx2 (its JSON seed, version 2: 993/995/465 are SSL, any other port STARTTLS).
SEED = {"version": 2, "provider": "Example GmbH", "domains": [{"name": "example.com"}],
        "servers": [{"type": "imap", "name": "imap.example.com", "port": 993, "prio": 10},
                    {"type": "pop", "name": "pop.example.com", "port": 995, "prio": 20},
                    {"type": "smtp", "name": "smtp.example.com", "port": 587, "prio": 10}]}
REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
"""
COMPARED = ("Type", "Server", "Port", "Encryption")
# (element, automx2's value, ours) where we differ on purpose, for a STARTTLS server and for any server.
EXPLAINED = {
    "SSL": {"TLS": ("off", "on")},
    "DomainRequired": (None, "off"), "SPA": (None, "off"), "AuthRequired": (None, "on"),
    "UsePOPAuth": (None, "on"), "SMTPLast": (None, "off"),
}


def _http(url: str, data: bytes | None = None, content_type: str | None = None, method: str = "GET") -> bytes:
    request = urllib.request.Request(url, data=data, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status
        body: bytes = response.read()
        return body


@pytest.fixture()
def automx2(tmp_path):
    """A real automx2 on 127.0.0.1, its SQLite database seeded with the inventory's domain and servers."""
    database = tmp_path / "automx2.sqlite"
    conf = tmp_path / "automx2.conf"
    conf.write_text(f"[automx2]\nloglevel = WARNING\ndb_uri = sqlite:///{database}\nproxy_count = 0\n")
    port = free_port()
    env = dict(os.environ, AUTOMX2_CONF=str(conf), HOME=str(tmp_path), FLASK_APP="automx2.server:app")
    process = subprocess.Popen([sys.executable, "-m", "flask", "run", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _http(base + "/")
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"automx2 did not start: {process.stderr.read().decode()[-2000:]}"
                                         if process.stderr else "automx2 did not start") from None
                time.sleep(0.2)
        assert b"prepared" in _http(base + "/initdb/", json.dumps(SEED).encode(), "application/json", "POST")
        # The logins are the part before the @: automx2's user_name column, written as its documentation's
        # "manually create the appropriate database records" (the JSON seed sets %EMAILADDRESS%).
        with sqlite3.connect(database) as db:
            assert db.execute("UPDATE server SET user_name = '%EMAILLOCALPART%'").rowcount == 3
        yield base
    finally:
        stop_process(process)


def _ask(base: str, address: str) -> dict:
    """automx2's answer to Outlook's POST for ``address``."""
    body = _http(base + "/autodiscover/autodiscover.xml", REQUEST.format(address=address).encode(), "text/xml",
                 "POST")
    return read_autodiscover(body)


def _differences(theirs: dict, ours: dict) -> list[str]:
    """What differs between two Protocol elements and is not explained in EXPLAINED."""
    wrong = [f"{key}: automx2 {theirs.get(key)!r}, ours {ours.get(key)!r}" for key in COMPARED
             if theirs.get(key) != ours.get(key)]
    for key in sorted((set(theirs) | set(ours)) - set(COMPARED) - {"LoginName"}):
        explained = EXPLAINED.get(key)
        if isinstance(explained, dict):
            explained = explained.get(ours.get("Encryption", ""), (ours.get(key), ours.get(key)))
        if (theirs.get(key), ours.get(key)) != explained:
            wrong.append(f"{key}: automx2 {theirs.get(key)!r}, ours {ours.get(key)!r}, not explained")
    return wrong


def test_our_answers_say_what_a_real_automx2_says(automx2, tmp_path):
    folder = tmp_path / "inv"
    folder.mkdir()
    (folder / "inventory.yaml").write_text(INVENTORY)
    out = tmp_path / "out"
    result = generate(folder, out)
    domain_file = read_autodiscover((out / "autodiscover/example.com/autodiscover.xml").read_bytes())
    assert any(f.code == "autodiscover-domain-login" for f in result.findings)
    compared = 0
    for user in ("anna@example.com", "ben@example.com"):
        theirs = _ask(automx2, user)
        local_part = user.partition("@")[0]
        assert theirs["user"] is None            # automx2 writes <User> only from LDAP
        assert [p["Type"] for p in theirs["protocols"]] == ["IMAP", "SMTP", "POP3"]   # by prio, then as seeded
        by_type = {p["Type"]: p for p in theirs["protocols"]}
        assert {p["LoginName"] for p in theirs["protocols"]} == {local_part}
        # The domain's file: the same servers, ports and encryption; no login (a static answer is no user's).
        assert sorted(p["Type"] for p in domain_file["protocols"]) == sorted(by_type)
        for ours in domain_file["protocols"]:
            assert "LoginName" not in ours
            assert _differences(by_type[ours["Type"]], ours) == [], (user, ours["Type"])
            compared += 1
        # The user's own files: each Outlook device's answer, login included.
        for path in sorted(out.glob(f"{user}/*/autodiscover.xml")):
            mine = read_autodiscover(path.read_bytes())
            assert mine["user"]["AutoDiscoverSMTPAddress"] == user
            for ours in mine["protocols"]:
                assert ours["LoginName"] == by_type[ours["Type"]]["LoginName"] == local_part
                assert _differences(by_type[ours["Type"]], ours) == [], (path, ours["Type"])
                compared += 1
    # anna: desktop (POP3) and laptop (IMAP), ben: laptop; each with SMTP; and the domain's three, per user
    assert compared == 2 * 3 + 3 * 2


def test_automx2_answers_nothing_for_another_domain(automx2):
    """The seed is what the comparison rests on: a domain automx2 was not given gets no settings (204)."""
    request = urllib.request.Request(automx2 + "/autodiscover/autodiscover.xml", method="POST",
                                     data=REQUEST.format(address="x@example.org").encode(),
                                     headers={"Content-Type": "text/xml"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204

