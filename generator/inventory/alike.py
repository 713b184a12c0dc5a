"""Roster rows alike: a row whose cells but the user's own (``email``, ``name``, ``login``) are those of a row
loaded before without a problem is loaded from what that row left.

Such a row's groups, devices, clients and language were parsed, checked against the schema and stage 2, resolved
and found plain (``Resolver.shaped``) when the first row of its kind was loaded: what is left to decide is the
user's own cells. They are checked here as the schema and :func:`checks.check_user` check them, and as long as
each passes, the user is made from them and the earlier row's layout of devices. A row that any check would
give a message goes the whole way instead (``load.py``), so every problem is reported as it is for any row.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from .. import textrules
from ..errors import UnsafeName
from ..model import Layout, User
from ..paths import safe_component
from .checks import Seen
from .roster import OWN_COLUMNS

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@([^@]+)")
"""An address whose local part ``textrules.email_problem`` accepts (dot-separated atoms, one ``@``); its domain
is judged by that function, once per domain."""

_FAST_NAME = 66
"""An ASCII address up to this long is a safe file name as it is or percent-encoded (at most 3 characters for each,
within ``paths.MAX_COMPONENT``)."""


@dataclass(frozen=True, slots=True)
class _Known:
    """What a row of one shape left: its user's groups and language, and the layout of its devices."""

    groups: tuple[str, ...]
    language: str
    layout: Layout


class AlikeRows:
    """The shapes (``CsvRow.shape``) of rows loaded without a problem, and the users of further rows of those
    shapes."""

    MAX_REMEMBERED = 4096

    def __init__(self, shown: str, columns: dict[str, int], lengths: dict[str, tuple[int, float]], seen: Seen):
        shared = tuple(index - 1 for name, index in columns.items() if name not in OWN_COLUMNS)
        self.shape_of: Any = itemgetter(*shared) if len(shared) > 1 else lambda record: tuple(
            record[index] for index in shared)
        self.email = columns["email"] - 1
        self.name = columns.get("name", 0) - 1      # -1: no such column
        self.login = columns.get("login", 0) - 1
        self.bounds = {key: lengths[key] for key in OWN_COLUMNS if key in columns}
        self.seen = seen
        seen.file, seen.column = shown, columns["email"]      # where a row's address is: the line is recorded
        self.known: dict[object, _Known] = {}
        self.domains: dict[str, bool] = {}

    @staticmethod
    def usable(columns: dict[str, int], lengths: dict[str, tuple[int, float]]) -> bool:
        """Can the own cells of a roster with these columns be checked here (each a plain string of the schema)?"""
        return all(key in lengths for key in OWN_COLUMNS if key in columns)

    def learn(self, shape: object, user: User, layout: Layout) -> None:
        """A row of ``shape`` was loaded without a problem, its devices plain: ``layout``."""
        if shape not in self.known:
            if len(self.known) >= self.MAX_REMEMBERED:
                self.known.clear()
            self.known[shape] = _Known(user.groups, user.language, layout)

    def user(self, line: int, record: list[str]) -> tuple[User, Layout] | None:
        """The user of a row of a known shape and the shape's layout, its address and login recorded as used; None
        when the shape is not known or any check of the user's own cells would say something."""
        known = self.known.get(self.shape_of(record))
        if known is None:
            return None
        email = record[self.email].strip()
        name = record[self.name].strip() if self.name >= 0 else ""
        login = record[self.login].strip() if self.login >= 0 else ""
        bounds = self.bounds
        low, high = bounds["email"]
        if not low <= len(email) <= high or not _plain(email):
            return None
        if name:
            low, high = bounds["name"]
            if not low <= len(name) <= high or not _plain(name):
                return None
        if login:
            low, high = bounds["login"]
            if not low <= len(login) <= high or not _plain(login) or textrules.login_problem(login) is not None:
                return None
        if not self._address(email):
            return None
        folded = email.casefold()
        if folded == email:
            folded = email      # one string, not two, for each of a million addresses
        login_key = folded if not login or login == email else login.casefold()
        seen = self.seen
        if folded in seen.emails or login_key in seen.logins:
            return None
        seen.emails[folded] = seen.logins[login_key] = line
        return User(email, name or email, login or email, known.groups, known.language), known.layout

    def _address(self, email: str) -> bool:
        """Would ``textrules.email_problem`` and ``paths.safe_component`` accept ``email``?"""
        match = _ADDRESS.fullmatch(email)
        if match is None or len(match.group(1)) > 64:
            return False
        domain = match.group(2)
        good = self.domains.get(domain)
        if good is None:
            if len(self.domains) >= self.MAX_REMEMBERED:
                self.domains.clear()
            good = self.domains[domain] = textrules.email_problem("a@" + domain) is None
        if not good:
            return False
        if len(email) <= _FAST_NAME and email.isascii():
            return True
        try:
            safe_component(email)
        except UnsafeName:
            return False
        return True


def _plain(text: str) -> bool:
    """Does ``textrules.text_problem`` accept ``text``, a stripped cell (printable ASCII, checked here)?"""
    if text.isascii() and text.isprintable():
        return not (len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'")
    return textrules.text_problem(text) is None
