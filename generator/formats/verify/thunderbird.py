"""prefs.js: a strict ``user_pref`` line parser and the account-graph rules of Thunderbird."""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import chain, filterfalse
from operator import methodcaller
from typing import Any

from ...errors import ReadBackError
from ...model import Device, Organization
from .common import Connection, Settings, check_connection, expect

_LINE = re.compile(r'^user_pref\("((?:[^"\\]|\\.)*)",\s*(.*)\);$')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "0": "\0"}
# nsMsgSocketType and nsMsgAuthMethod, restated from the Thunderbird source.
SOCKET = {0: "none", 2: "starttls", 3: "ssl"}
AUTH = {3: "password", 4: "cram-md5", 6: "ntlm", 10: "oauth2"}


Prefs = dict[str, bool | int | str]
_MISSING = object()
_RAW_FORBIDDEN = re.compile('[\x00-\x1f"\u2028\u2029]')
_NAME = re.compile(r"[A-Za-z0-9._\-]+")
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


def _string(text: str, where: str) -> str:
    """Decode the body of a double-quoted JavaScript string literal."""
    if "\\" not in text:
        bad = _RAW_FORBIDDEN.search(text)
        if bad is None:
            return text
        if bad.group() == '"':
            raise ReadBackError(f"{where}: unescaped quote inside a string")
        raise ReadBackError(f"{where}: raw control character U+{ord(bad.group()):04X} inside a string")
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text):
                raise ReadBackError(f"{where}: dangling backslash")
            nxt = text[i + 1]
            if nxt == "u":
                digits = text[i + 2:i + 6]
                if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                    raise ReadBackError(f"{where}: bad \\u escape")
                code = int(digits, 16)
                i += 6
                if 0xD800 <= code < 0xDC00 and text[i:i + 2] == "\\u":
                    low = int(text[i + 2:i + 6], 16)
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                out.append(chr(code))
                continue
            if nxt == "x":
                digits = text[i + 2:i + 4]
                if not re.fullmatch(r"[0-9a-fA-F]{2}", digits):
                    raise ReadBackError(f"{where}: bad \\x escape")
                out.append(chr(int(digits, 16)))
                i += 4
                continue
            if nxt not in _ESCAPES:
                raise ReadBackError(f"{where}: unknown escape \\{nxt}")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        if ch == '"':
            raise ReadBackError(f"{where}: unescaped quote inside a string")
        if ord(ch) < 0x20 or ch in "\u2028\u2029":
            raise ReadBackError(f"{where}: raw control character U+{ord(ch):04X} inside a string")
        out.append(ch)
        i += 1
    return "".join(out)


def _value(text: str, where: str) -> bool | int | str:
    if text in ("true", "false"):
        return text == "true"
    if _INTEGER.fullmatch(text):
        return int(text)
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return _string(text[1:-1], where)
    raise ReadBackError(f"{where}: value {text!r} is not a bare int, bare boolean or string literal")


# A line as the renderer's lines are, read in one match: a plain name, then a bare boolean or integer or a string
# without escapes or characters a string may not hold raw. Any other line takes the general path below, which
# reads these lines to the same values.
_PLAIN_LINE = re.compile(r'user_pref\("([A-Za-z0-9._\-]+)", (?:(true)|(false)|(-?(?:0|[1-9][0-9]*))|'
                         r'"([^"\\\x00-\x1f\u2028\u2029]*)")\);')


# A line of the renderer's form with its line feed: a plain name, and a bare boolean or integer or a string whose
# characters a string may hold raw (or, in a file with a backslash, escaped: what the escape says is read by
# ``_string``): name and value text. The line is 17 characters more than the two, so lines found whose lengths add
# up to the text's are all of it.
_PLAIN_PAIR = re.compile(r'user_pref\("([A-Za-z0-9._\-]+)", (true|false|-?(?:0|[1-9][0-9]*)|'
                         r'"[^"\\\x00-\x1f\u2028\u2029]*")\);\n')
_ESCAPED_PAIR = re.compile(r'user_pref\("([A-Za-z0-9._\-]+)", (true|false|-?(?:0|[1-9][0-9]*)|'
                           r'"(?:[^"\\\x00-\x1f\u2028\u2029]|\\[^\x00-\x1f\u2028\u2029])*")\);\n')
_PLAIN_FRAME = len('user_pref("", );\n')


def _quick_prefs(text: str) -> dict[str, bool | int | str] | None:
    """The prefs of a file in the renderer's form (comment or blank lines, then plain lines, each set once), read
    in one pass; None for any other file, which the general reader reads."""
    start = text.find("user_pref(")
    if start < 0 or (start and text[start - 1] != "\n"):
        return None
    for line in text[:start - 1].split("\n") if start else ():
        if line.strip() and not line.startswith("//"):
            return None
    body = text[start:]
    escaped = "\\" in body
    pairs = (_ESCAPED_PAIR if escaped else _PLAIN_PAIR).findall(body)
    if sum(map(len, chain.from_iterable(pairs))) + _PLAIN_FRAME * len(pairs) != len(body):
        return None
    prefs: dict[str, bool | int | str] = {
        name: value[1:-1] if value[0] == '"' else True if value == "true" else False if value == "false"
        else int(value) for name, value in pairs}
    if len(prefs) != len(pairs):
        return None
    if escaped:
        for name, value in pairs:
            if "\\" in value:
                try:
                    prefs[name] = _string(value[1:-1], "")
                except (ReadBackError, ValueError):     # what the general reader then says, at its line
                    return None
    return prefs


@lru_cache(maxsize=16)
def parse_prefs(content: bytes) -> dict[str, bool | int | str]:
    """Every pref of a prefs.js file. Only ``user_pref`` lines, ``//`` comments and blank lines are allowed."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadBackError(f"prefs.js is not UTF-8 (byte {exc.start})") from None
    if "\r" in text:
        raise ReadBackError("prefs.js contains a CR character")
    quick = _quick_prefs(text)
    if quick is not None:
        return quick
    prefs: dict[str, bool | int | str] = {}
    plain_line = _PLAIN_LINE.fullmatch
    for number, line in enumerate(text.split("\n"), start=1):
        plain = plain_line(line)
        value: bool | int | str
        if plain is not None:
            name, kind = plain.group(1), plain.lastindex
            value = True if kind == 2 else False if kind == 3 else int(plain.group(4)) if kind == 4 \
                else plain.group(5)
        else:
            if not line.strip() or line.startswith("//"):
                continue
            where = f"line {number}"
            match = _LINE.match(line)
            if not match:
                raise ReadBackError(f"{where}: not a user_pref line: {line[:80]!r}")
            name = _string(match.group(1), where)
            if not name.isascii() or not _NAME.fullmatch(name):
                raise ReadBackError(f"{where}: pref name {name!r} has characters outside [A-Za-z0-9._-]")
            if name in prefs:
                raise ReadBackError(f"{where}: pref {name!r} is set twice")
            value = _value(match.group(2).strip(), where)
        if name in prefs:
            raise ReadBackError(f"line {number}: pref {name!r} is set twice")
        prefs[name] = value
    return prefs


def _get(prefs: Prefs, name: str, kind: type) -> Any:
    value = prefs.get(name, _MISSING)
    if type(value) is kind:          # the kind itself (a bool is not taken for an int): what the checks below pass
        return value
    if value is _MISSING:
        raise ReadBackError(f"missing pref {name}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ReadBackError(f"pref {name} must be a bare integer, found {value!r}")
    if kind is not int and not isinstance(value, kind):
        raise ReadBackError(f"pref {name} must be a {kind.__name__}, found {value!r}")
    return value


# user.js: the lists a profile already has are appended to, never replaced; the append versions are reset
# to the default (1) so that Thunderbird appends at every start (and skips what it already has).
APPEND = {"mail.accountmanager.appendaccounts": "mailnews.append_preconfig_accounts.version",
          "mail.smtpservers.appendsmtpservers": "mail.append_preconfig_smtpservers.version"}
REPLACING = ("mail.accountmanager.accounts", "mail.accountmanager.defaultaccount", "mail.smtpservers",
             "mail.smtp.defaultserver", "mail.account.lastKey")


def _listed(prefs: Prefs) -> tuple[str, list[str]]:
    """The account, and the SMTP servers it may use: from the profile's lists (prefs.js) or the appends (user.js)."""
    if "mail.accountmanager.appendaccounts" in prefs:
        for name in REPLACING:
            if name in prefs:
                raise ReadBackError(f"{name} in a user.js would replace what the profile already has")
        for listing, version in APPEND.items():
            if _get(prefs, version, int) != 1:
                raise ReadBackError(f"{version} must be 1, so that {listing} is applied at every start")
        accounts = [a for a in _get(prefs, "mail.accountmanager.appendaccounts", str).split(",") if a]
        if len(accounts) != 1:
            raise ReadBackError(f"expected exactly one account in mail.accountmanager.appendaccounts, found {accounts}")
        if not accounts[0].startswith("mailprofiles_"):
            raise ReadBackError("a user.js account key must be one of ours (mailprofiles_...), never a profile's own")
        return accounts[0], [s for s in _get(prefs, "mail.smtpservers.appendsmtpservers", str).split(",") if s]
    accounts = [a for a in _get(prefs, "mail.accountmanager.accounts", str).split(",") if a]
    if len(accounts) != 1 or len(set(accounts)) != len(accounts):
        raise ReadBackError(f"expected exactly one account in mail.accountmanager.accounts, found {accounts}")
    if _get(prefs, "mail.accountmanager.defaultaccount", str) != accounts[0]:
        raise ReadBackError("mail.accountmanager.defaultaccount does not name the listed account")
    servers = [s for s in _get(prefs, "mail.smtpservers", str).split(",") if s]
    if _get(prefs, "mail.smtp.defaultserver", str) not in servers:
        raise ReadBackError("mail.smtp.defaultserver is not listed in mail.smtpservers")
    return accounts[0], servers


_GRAPH_PREFIXES = ("mail.account.", "mail.server.", "mail.identity.", "mail.smtpserver.")


def _graph(prefs: Prefs) -> tuple[str, str, str]:
    """Follow accounts -> server/identity -> SMTP server; returns (server, identity, smtp) keys."""
    account, servers = _listed(prefs)
    server = _get(prefs, f"mail.account.{account}.server", str)
    if _get(prefs, f"mail.server.{server}.type", str) not in ("pop3", "imap"):
        raise ReadBackError(f"mail.server.{server}.type must be pop3 or imap")
    identities = [i for i in _get(prefs, f"mail.account.{account}.identities", str).split(",") if i]
    if len(identities) != 1:
        raise ReadBackError(f"expected one identity, found {identities}")
    identity = identities[0]
    smtp = _get(prefs, f"mail.identity.{identity}.smtpServer", str)
    if smtp not in servers:
        raise ReadBackError(f"identity SMTP server {smtp!r} is not listed in mail.smtpservers")
    if len({account, server, identity, smtp}) != 4:
        raise ReadBackError("account, server, identity and SMTP keys must be distinct")
    # Every pref must belong to the graph: nothing stray.
    allowed = (f"mail.account.{account}.", f"mail.server.{server}.", f"mail.identity.{identity}.",
               f"mail.smtpserver.{smtp}.")
    for name in filterfalse(methodcaller("startswith", allowed), prefs):
        if name.startswith(_GRAPH_PREFIXES) and name != "mail.account.lastKey":
            raise ReadBackError(f"pref {name} belongs to no account of the graph")
    return server, identity, smtp


def read_settings(content: bytes) -> Settings:
    return _read(content)[1]


@lru_cache(maxsize=16)
def _read(content: bytes) -> tuple[tuple[str, str, str], Settings]:
    """The account graph's keys (server, identity, SMTP server) and the connection, read once per file."""
    prefs = parse_prefs(content)
    server, identity, smtp = _graph(prefs)
    socket = _get(prefs, f"mail.server.{server}.socketType", int)
    try_ssl = _get(prefs, f"mail.smtpserver.{smtp}.try_ssl", int)
    if socket not in SOCKET or try_ssl not in SOCKET:
        raise ReadBackError(f"socket type {socket}/{try_ssl} is not one of {sorted(SOCKET)}")
    incoming = Connection(_get(prefs, f"mail.server.{server}.type", str), _get(prefs, f"mail.server.{server}.hostname", str),
                        _get(prefs, f"mail.server.{server}.port", int), SOCKET[socket],
                        _get(prefs, f"mail.server.{server}.userName", str))
    outgoing = Connection("smtp", _get(prefs, f"mail.smtpserver.{smtp}.hostname", str),
                        _get(prefs, f"mail.smtpserver.{smtp}.port", int), SOCKET[try_ssl],
                        _get(prefs, f"mail.smtpserver.{smtp}.username", str))
    return (server, identity, smtp), Settings(incoming, outgoing, _get(prefs, f"mail.identity.{identity}.useremail", str),
                                              _get(prefs, f"mail.identity.{identity}.fullName", str))


def verify(content: bytes, org: Organization, device: Device) -> list[str]:
    prefs = parse_prefs(content)
    (server, identity, smtp), settings = _read(content)
    problems: list[str] = []
    check_connection(problems, settings, device)
    want_in, want_out = device.incoming, device.outgoing
    expect(problems, "identity email", settings.email, device.user.email)
    expect(problems, "identity name", settings.name, device.user.name)
    auth_in = _get(prefs, f"mail.server.{server}.authMethod", int)
    auth_out = _get(prefs, f"mail.smtpserver.{smtp}.authMethod", int)
    expect(problems, "incoming authMethod", AUTH.get(auth_in), want_in.auth)
    expect(problems, "SMTP authMethod", AUTH.get(auth_out), want_out.auth)
    do_bcc = _get(prefs, f"mail.identity.{identity}.doBcc", bool)
    expect(problems, "doBcc", do_bcc, device.bcc_self)
    if device.bcc_self:
        bcc_list = [a.strip() for a in _get(prefs, f"mail.identity.{identity}.doBccList", str).split(",")]
        expect(problems, "doBccList", bcc_list, [device.user.email])
    signature = prefs.get(f"mail.identity.{identity}.htmlSigText")
    expect(problems, "htmlSigText", signature, device.signature)
    if signature is not None:
        expect(problems, "htmlSigFormat (plain text)", _get(prefs, f"mail.identity.{identity}.htmlSigFormat", bool),
               False)
    for legacy in ("bcc_self", "bcc_other", "bcc_other_list"):
        if f"mail.identity.{identity}.{legacy}" in prefs:
            problems.append(f"legacy pref {legacy} must not be generated")
    if device.protocol == "pop3":
        pop3 = device.pop3
        assert pop3 is not None
        leave = _get(prefs, f"mail.server.{server}.leave_on_server", bool)
        by_age = _get(prefs, f"mail.server.{server}.delete_by_age_from_server", bool)
        expect(problems, "leave_on_server", leave, pop3.leave_on_server)
        wants_age = pop3.leave_on_server and pop3.delete_after_days is not None
        expect(problems, "delete_by_age_from_server", by_age, wants_age)
        if wants_age:
            expect(problems, "num_days_to_leave_on_server",
                   _get(prefs, f"mail.server.{server}.num_days_to_leave_on_server", int), pop3.delete_after_days)
        expect(problems, "download_on_biff", _get(prefs, f"mail.server.{server}.download_on_biff", bool),
               device.fetch_automatically)
    else:
        for pop_only in ("leave_on_server", "delete_by_age_from_server", "num_days_to_leave_on_server",
                         "download_on_biff"):
            if f"mail.server.{server}.{pop_only}" in prefs:
                problems.append(f"POP3-only pref {pop_only} in an IMAP account")
    expect(problems, "login_at_startup", _get(prefs, f"mail.server.{server}.login_at_startup", bool),
           device.fetch_automatically)
    expect(problems, "check_new_mail", _get(prefs, f"mail.server.{server}.check_new_mail", bool),
           device.fetch_automatically)
    expect(problems, "check_time", _get(prefs, f"mail.server.{server}.check_time", int), device.check_interval_minutes)
    if "password" in "\n".join(prefs).lower():         # no name holds a line break: one look at them all
        problems.extend(f"pref {name} carries a password" for name in prefs if "password" in name.lower())
    return problems
