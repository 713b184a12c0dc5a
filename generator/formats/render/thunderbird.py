"""Thunderbird ``prefs.js``: ``user_pref()`` lines creating account, identity and SMTP server."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import cast

from ...model import Device, Finding, Organization, Pop3Policy, Server, Site, User
from ...oauth2 import needs_own_provider
from ..engine import render_text

CLIENT = "thunderbird"

# nsMsgSocketType: incoming socketType and SMTP try_ssl. 1 (legacy "if available") is never generated.
SOCKET_TYPE = {"none": 0, "starttls": 2, "ssl": 3}
# nsMsgAuthMethod, as in the account settings UI (Thunderbird 153: mailnews/base/public/MailNewsTypes2.idl;
# OAuth2 = 10).
AUTH_METHOD = {"password": 3, "cram-md5": 4, "ntlm": 6, "oauth2": 10}


def js_literal(value: object) -> str:
    """A JavaScript literal: strings quoted and escaped, ints and booleans bare (what ``json.dumps`` writes)."""
    if type(value) is str:
        return _quoted(value).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if not isinstance(value, str):
        raise TypeError(f"prefs.js cannot carry {type(value).__name__}")
    # json's own string encoder (that of json.dumps with ensure_ascii=False) escapes \\, " and every control
    # character; U+2028/U+2029 end a line in old JS parsers.
    return _quoted(value).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_quoted: Callable[[str], str] = json.encoder.encode_basestring


def custom_provider_finding(device: Device) -> list[Finding]:
    """Thunderbird 153 finds an OAuth2 provider only by the server's host name, in its built-in table or in one
    registered by a WebExtension's ``oauth_provider`` manifest key (``OAuth2Providers.registerProvider``, fed by
    ``chrome/messenger/content/messenger/parent/ext-oauth_provider.js`` in omni.ja); no pref names an issuer for
    IMAP, POP3 or SMTP (the ``experimental.mail.ews.overrideOAuth`` overrides serve Exchange only)."""
    own = device.oauth2
    hosts = sorted({s.host for s in (device.incoming, device.outgoing) if needs_own_provider(s)})
    if own is None or not hosts:
        return []
    return [Finding(
        "thunderbird-oauth2-custom-provider",
        f"Thunderbird knows no identity provider for {' and '.join(hosts)}: the account is set up to sign in with "
        "OAuth2, but Thunderbird can only do so once an extension registers the provider. Deploy a Thunderbird "
        "extension whose manifest.json has an 'oauth_provider' entry (issuer "
        f"{own.issuer}, clientId {own.client_id}, authorizationEndpoint {own.authorization_endpoint}, "
        f"tokenEndpoint {own.token_endpoint}, hostnames {', '.join(hosts)}, scopes '{own.scopes}') through the "
        "ExtensionSettings policy, before users start Thunderbird with this account.",
        device.user.email, device.name, CLIENT)]


def limitations(org: Organization, device: Device) -> list[Finding]:
    """prefs.js expresses the whole pattern but an own identity provider; a user.js cannot add an outgoing server
    to a profile in use."""
    found = custom_provider_finding(device)
    if device.setting("thunderbird_file") != "user.js":
        return found
    smtp = device.outgoing
    return found + [Finding(
        "thunderbird-userjs-smtp",
        "user.js appends the account to the profile's own accounts, but Thunderbird 128 and later no longer "
        "append outgoing servers from prefs (mail.smtpservers.appendsmtpservers is gone), so the account has no "
        f"outgoing server: in Account Settings > Outgoing Server (SMTP), add {smtp.host} port {smtp.port} "
        f"({smtp.security}) and choose it for this account, or deploy the account site-wide instead.",
        device.user.email, device.name, CLIENT)]


def context(org: Organization, device: Device) -> dict[str, object]:
    user = device.user
    incoming, smtp = device.incoming, device.outgoing
    return {
        "org": org,
        "device": device,
        "user": user,
        "incoming": incoming,
        "smtp": smtp,
        "socket_type": SOCKET_TYPE[incoming.security],
        "auth_method": AUTH_METHOD[incoming.auth],
        "smtp_try_ssl": SOCKET_TYPE[smtp.security],
        "smtp_auth_method": AUTH_METHOD[smtp.auth],
        "pop3": device.pop3,
    }


# How the user gets the file in place, by file and handout language (``code`` in backquotes).
INSTALL = {
    "prefs.js": {
        "en": "Thunderbird: IT copies this file into a new Thunderbird profile before its first start (or deploys it "
              "centrally); do not start Thunderbird with this account before.",
        "de": "Thunderbird: Die IT kopiert diese Datei vor dem ersten Start in ein neues Thunderbird-Profil (oder "
              "verteilt sie zentral); starten Sie Thunderbird mit diesem Konto nicht vorher.",
    },
    "user.js": {
        "en": "Thunderbird: IT puts this file into your Thunderbird profile folder; at the next start Thunderbird "
              "adds this account next to the ones you already have.",
        "de": "Thunderbird: Die IT legt diese Datei in Ihren Thunderbird-Profilordner; beim nächsten Start fügt "
              "Thunderbird dieses Konto zu Ihren bisherigen hinzu.",
    },
}


def install(device: Device) -> dict[str, str]:
    return INSTALL[filename(device)]


# prefs.js describes the new profile's only account under Thunderbird's own first keys.
PREFS_KEYS = {"account": "account1", "server": "server1", "identity": "id1", "smtp": "smtp1"}


def keys(device: Device) -> dict[str, str]:
    """user.js: account, server, identity and SMTP keys of its own, stable for the user and device."""
    digest = hashlib.sha256(f"{device.user.email.casefold()}/{device.name.casefold()}".encode()).hexdigest()[:10]
    return {"account": f"mailprofiles_acct_{digest}", "server": f"mailprofiles_srv_{digest}",
            "identity": f"mailprofiles_id_{digest}", "smtp": f"mailprofiles_smtp_{digest}"}


def filename(device: Device) -> str:
    """``thunderbird_file``: prefs.js for a new profile, user.js for one already in use."""
    return str(device.setting("thunderbird_file"))


def prepared_lines(values: dict[str, object]) -> tuple[str, str]:
    """The ``user_pref`` lines of the built-in template around ``mail.identity.<id>.valid`` (which it writes
    itself): those of the account and its server, and those of the identity and the SMTP server, each value
    written once as its JavaScript literal (``js``). The template puts them in as they are, a block each."""
    device = cast(Device, values["device"])
    user = cast(User, values["user"])
    incoming, smtp = cast(Server, values["incoming"]), cast(Server, values["smtp"])
    org = cast(Organization, values["org"])
    pop3 = cast("Pop3Policy | None", values["pop3"])
    key = cast(dict[str, str], values["keys"])
    account, server, identity, smtp_key = key["account"], key["server"], key["identity"], key["smtp"]
    js = js_literal
    email, login, org_name, smtp_js = js(user.email), js(user.login), js(org.name), js(smtp_key)
    fetch = js(device.fetch_automatically)
    bcc = device.bcc_self
    if values["append"]:
        head = (f'user_pref("mail.accountmanager.appendaccounts", {js(account)});\n'
                'user_pref("mailnews.append_preconfig_accounts.version", 1);\n'
                f'user_pref("mail.smtpservers.appendsmtpservers", {smtp_js});\n'
                'user_pref("mail.append_preconfig_smtpservers.version", 1);\n')
    else:
        account_js = js(account)
        head = (f'user_pref("mail.accountmanager.accounts", {account_js});\n'
                f'user_pref("mail.accountmanager.defaultaccount", {account_js});\n'
                'user_pref("mail.account.lastKey", 1);\n')
    at = f'user_pref("mail.server.{server}.'
    lines = [head,
             f'user_pref("mail.account.{account}.server", {js(server)});\n'
             f'user_pref("mail.account.{account}.identities", {js(identity)});\n'
             f'{at}type", {js(device.protocol)});\n'
             f'{at}name", {email});\n'
             f'{at}hostname", {js(incoming.host)});\n'
             f'{at}port", {js(incoming.port)});\n'
             f'{at}socketType", {js(values["socket_type"])});\n'
             f'{at}authMethod", {js(values["auth_method"])});\n'
             f'{at}userName", {login});\n'
             f'{at}login_at_startup", {fetch});\n'
             f'{at}check_new_mail", {fetch});\n'
             f'{at}check_time", {js(device.check_interval_minutes)});']
    if pop3:
        days = pop3.delete_after_days
        lines.append(f'\n{at}download_on_biff", {fetch});\n'
                     f'{at}leave_on_server", {js(pop3.leave_on_server)});\n'
                     f'{at}delete_by_age_from_server", {js(pop3.leave_on_server and days is not None)});')
        if days is not None:
            lines.append(f'\n{at}num_days_to_leave_on_server", {js(days)});')
    at = f'user_pref("mail.identity.{identity}.'
    rest = [f'{at}fullName", {js(user.name)});\n'
            f'{at}useremail", {email});\n'
            f'{at}organization", {org_name});\n'
            f'{at}smtpServer", {smtp_js});\n'
            f'{at}doBcc", {js(bcc)});\n'
            f'{at}doBccList", {email if bcc else js("")});\n']
    signature = device.signature
    if signature is not None:
        rest.append(f'{at}htmlSigFormat", false);\n{at}htmlSigText", {js(signature)});\n')
    if not values["append"]:
        rest.append(f'user_pref("mail.smtpservers", {smtp_js});\nuser_pref("mail.smtp.defaultserver", {smtp_js});\n')
    at = f'user_pref("mail.smtpserver.{smtp_key}.'
    rest.append(f'{at}type", "smtp");\n'
                f'{at}description", {org_name});\n'
                f'{at}hostname", {js(smtp.host)});\n'
                f'{at}port", {js(smtp.port)});\n'
                f'{at}try_ssl", {js(values["smtp_try_ssl"])});\n'
                f'{at}authMethod", {js(values["smtp_auth_method"])});\n'
                f'{at}username", {login});')
    return "".join(lines), "".join(rest)


def render(site: Site, device: Device) -> bytes:
    org = site.organization
    values = context(org, device)
    values["append"] = filename(device) == "user.js"
    values["keys"] = keys(device) if values["append"] else PREFS_KEYS
    values["account_prefs"], values["identity_prefs"] = prepared_lines(values)
    text = render_text(site, CLIENT, "prefs.js.j2", values, filters=(("js", js_literal),))
    return text.encode("utf-8")
