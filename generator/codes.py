"""Every warning code a run can give, in one table: what an inventory may acknowledge (``acknowledge:``).

The findings are made where their knowledge lives (the policy lints in ``inventory/lints.py``, each format's
limitations in ``formats/render/``, the fleet's forms in ``fleet.py``); their codes are listed here, and
``tests/test_codes.py`` holds this table against every code those places can emit, both ways.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Finding

WARNING_CODES: Mapping[str, str] = {
    # policy (inventory/lints.py): the user's devices measured against the pattern
    "no-archive": "no device of the user keeps the archive (no POP3 desktop)",
    "multiple-pop3": "several POP3 devices of one user split the archive",
    "pop3-deletes-mail": "a POP3 device deletes mail the user's IMAP devices still need",
    "no-bcc-to-archive": "a mobile device does not Bcc the own address, so its sent mail misses the archive",
    "unusual-port": "a server port that does not fit its security the usual way",
    "insecure-connection": "a connection without encryption",
    # Apple profiles (formats/render/apple.py, apple_oauth2.py)
    "apple-no-bcc": "Apple's mail payload has no Bcc to the own address",
    "apple-no-pop-retention": "Apple's mail payload has no POP3 retention",
    "apple-tls-mode": "Apple's mail payload cannot ask for STARTTLS or implicit TLS as written",
    "apple-no-signature": "Apple's mail payload has no signature",
    "apple-no-fetch-schedule": "Apple's mail payload has no fetch schedule",
    "apple-no-oauth2-payload": "no Apple profile: no Apple payload signs in as the servers ask",
    "apple-oauth2-exchange": "the Apple profile sets up an Exchange account for Microsoft 365 OAuth2",
    "apple-oauth2-google": "the Apple profile sets up a Google account for Google OAuth2",
    # Outlook PRF (formats/render/outlook.py)
    "outlook-incoming-starttls": "no PRF: a PRF cannot ask for STARTTLS on the incoming server",
    "outlook-no-bcc": "a PRF has no Bcc to the own address",
    "outlook-no-oauth2": "no PRF: a PRF cannot sign in with OAuth2",
    "outlook-no-cram-md5": "Outlook has no CRAM-MD5",
    "outlook-no-fetch-schedule": "a PRF has no fetch schedule",
    "outlook-no-signature": "a PRF has no signature",
    # Outlook Autodiscover (formats/render/autodiscover.py)
    "outlook-autodiscover-pop-retention": "autodiscover.xml cannot say how long POP3 mail stays on the server",
    "autodiscover-split-domain": "the users of one domain have different servers; one Autodiscover answer names one",
    "autodiscover-domain-login": "a domain's Autodiscover answer names no login",
    "autodiscover-pop-and-imap": "a domain's Autodiscover answer lists IMAP and POP3; Outlook sets up one",
    "autodiscover-no-bcc": "an Autodiscover answer has no Bcc to the own address",
    "autodiscover-no-pop-retention": "an Autodiscover answer has no POP3 retention",
    "autodiscover-no-fetch-schedule": "an Autodiscover answer has no check schedule",
    "autodiscover-no-signature": "an Autodiscover answer has no signature",
    "autodiscover-no-oauth2": "an Autodiscover answer cannot make Outlook sign in with OAuth2",
    # Thunderbird (formats/render/thunderbird.py)
    "thunderbird-oauth2-custom-provider": "Thunderbird needs an extension to know the own identity provider",
    "thunderbird-userjs-smtp": "a user.js cannot add the outgoing server to a profile in use",
    # Thunderbird policies (formats/render/thunderbird_policies.py, for the fleet)
    "thunderbird-policies-new-profiles": "the policies give the account to new profiles only",
    "thunderbird-policies-variables": "policies.json and policies.reg keep the MDM's variables as written",
    "thunderbird-policies-number-one": "the Preferences policy turns the number 1 into true",
    # autoconfig files (formats/render/autoconfig.py)
    "autoconfig-split-domain": "the users of one domain have different servers; one autoconfig file lists one",
    "autoconfig-custom-logins": "logins follow no rule an autoconfig file can carry",
    "autoconfig-no-bcc": "the autoconfig format has no Bcc to the own address",
    "autoconfig-pop-keep-forever": "the autoconfig format cannot say 'never delete from the server'",
    "autoconfig-no-fetch-schedule": "the autoconfig format has no check interval",
    "autoconfig-no-signature": "the autoconfig format has no signature",
    "autoconfig-split-pop-policy": "the POP3 users of one domain keep mail on the server differently",
    "autoconfig-oauth2-provider": "the autoconfig file names an OAuth2 sign-in a client must know the provider of",
    # handouts (formats/render/handout.py)
    "handout-no-auth": "the handouts do not name the authentication method",
    # fleet (fleet.py: each device format's fleet form)
    "fleet-outlook-per-user": "the fleet has no Outlook file (a PRF has no per-user variables)",
    "fleet-thunderbird-no-pattern": "no fleet.address_pattern, so the fleet has no Thunderbird files",
    "fleet-pattern-domain": "a group's users are on other domains than its fleet.address_pattern forms",
}


def acknowledge(findings: Iterable[Finding], reasons: Mapping[str, str],
                group_reasons: Mapping[str, Mapping[str, str]], groups_of: Mapping[str, tuple[str, ...]]
                ) -> tuple[Finding, ...]:
    """The findings, each with the reason it is acknowledged for, where the inventory gives one.

    ``reasons``: the organization's (top-level ``acknowledge:``); ``group_reasons``: each group's, which come
    first for the findings of their users; ``groups_of``: the groups of the name in a finding's ``user`` field
    (a user's email, or a fleet set's group).
    """
    if not reasons and not group_reasons:
        return tuple(findings)
    out = []
    for finding in findings:
        reason = None
        for group in groups_of.get(finding.user or "", ()):
            reason = reason or group_reasons.get(group, {}).get(finding.code)
        reason = reason or reasons.get(finding.code)
        out.append(finding if reason is None else finding.with_reason(reason))
    return tuple(out)
