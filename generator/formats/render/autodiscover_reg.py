"""``autodiscover.reg``: points classic Outlook for Windows at the user's own ``autodiscover.xml``.

Outlook 2016 and later (``Office\\16.0``: 2016, 2019, 2021, 2024 and Microsoft 365) look for an Autodiscover answer
in a local file before anything else when ``PreferLocalXML`` is 1 under
``HKEY_CURRENT_USER\\Software\\Microsoft\\Office\\16.0\\Outlook\\AutoDiscover`` (Microsoft, "Outlook 2016
implementation of Autodiscover", support article 3211279, step 2 "Check for local data preference"); the file for
a domain is named by a string value (REG_SZ) under the same key whose name is the domain and whose data is the
file's full path (Microsoft, "Unexpected Autodiscover behavior when you have registry settings under the
\\AutoDiscover key", learn.microsoft.com/outlook/troubleshoot/profiles-and-accounts/unexpected-autodiscover-behavior).

The file is what Registry Editor itself writes when it exports a key (Microsoft support article 310516, "How to add,
modify, or delete registry subkeys and values by using a .reg file"): the header ``Windows Registry Editor Version
5.00``, a blank line, ``[key]``, then ``"name"=dword:00000001`` and ``"name"="text"`` lines; UTF-16LE with the FF FE
byte-order mark and CRLF line ends, as regedit's Unicode export. In a quoted name or text a backslash is written
``\\\\`` and a quote ``\\"``; nothing else has an escape, so a line break (which would start a new line of the file)
or another control character cannot be written and is refused by the filter (``reg_string``).

The path is the fixed one of ``render/autodiscover.py`` (``local_path``): the user saves the device's
``autodiscover.xml`` there, then opens this file (Registry Editor asks to confirm) or runs ``reg import``.
"""
from __future__ import annotations

from collections.abc import Mapping

from ...errors import UnrepresentableValue
from ...model import Device, Finding, Organization, Site
from ...textrules import text_problem
from ..engine import render_text
from .autodiscover import SKIPS, local_path
from .outlook import client_limitations

FOLDER = "outlook-autodiscover-reg"
TEMPLATE = f"{FOLDER}/autodiscover.reg.j2"


def reg_string(value: object) -> str:
    """A quoted .reg name or REG_SZ text: ``\\`` and ``"`` escaped; what has no escape (line breaks and other
    control characters) is refused. A string is written once per distinct text (the domain is in every file)."""
    if type(value) is str:
        written = _WRITTEN.get(value)
        if written is not None:
            return written
    if not isinstance(value, str):
        raise TypeError(f"a .reg string cannot carry {type(value).__name__}")
    problem = text_problem(value)
    if problem or "\r" in value or "\n" in value or "\x00" in value:
        raise UnrepresentableValue(f"value {value!r} cannot be written to a .reg file: {problem or 'a line break'}")
    written = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if type(value) is str:
        if len(_WRITTEN) >= _WRITTEN_ENTRIES:
            _WRITTEN.clear()
        _WRITTEN[value] = written
    return written


# Strings already written (``reg_string`` depends on the value alone).
_WRITTEN: dict[str, str] = {}
_WRITTEN_ENTRIES = 4096


def limitations(org: Organization, device: Device) -> list[Finding]:
    """Only what stops the pair: without its autodiscover.xml (an OAuth2 sign-in) the file is not made either.
    What the XML cannot say is its own format's to say."""
    return [f for f in client_limitations(org, device) if f.code in SKIPS]


def install(device: Device) -> Mapping[str, str]:
    return {
        "en": "then open {file} (Registry Editor asks to confirm; or `reg import autodiscover.reg`), start Outlook "
              "and add the account with your address (File › Add Account): Outlook takes the settings from the file "
              "above and asks for your password.",
        "de": "dann {file} öffnen (der Registrierungs-Editor fragt nach; oder `reg import autodiscover.reg`), "
              "Outlook starten und das Konto mit Ihrer Adresse hinzufügen (Datei › Konto hinzufügen): Outlook "
              "übernimmt die Einstellungen aus der Datei oben und fragt nach Ihrem Passwort.",
    }


def render(site: Site, device: Device) -> bytes:
    context = {"domain": device.user.domain, "path": local_path(device)}
    text = render_text(site, FOLDER, "autodiscover.reg.j2", context, filters=(("reg", reg_string),))
    # Registry Editor's Unicode form: UTF-16LE with the byte-order mark, CRLF.
    return b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le")
