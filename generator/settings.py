"""The settings table: every setting a layer may set, declared once.

One row per setting drives the missing-setting check (``REQUIRED`` settings that no layer
sets), the defaults, the semantic text rules, the resolved model (``Device.values``, in
table order) and ``show``. The JSON Schema states the same settings for editors and for
validation; ``tests/test_registry.py`` holds the two together.

A new setting touches this table, ``schemas/inventory.schema.json`` and the formats that
render it (plus the limitations of those that cannot), nothing else.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import textrules

LAYERS = ("profile", "settings", "group", "user", "device")
"""Where a setting can be written, lowest to highest."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()
"""The default of a setting that some layer must set."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its dotted name under ``settings:``, its type, default and rules."""

    name: str
    type: str                       # enum | bool | int | clients | text
    default: object
    choices: tuple[str, ...] = ()   # enum: the allowed values
    minimum: int | None = None      # int
    maximum: int | None = None
    nullable: bool = False          # null is a value of its own ("never")
    text_rule: str = ""             # text: "line" (one line) or "multiline" (LF line breaks allowed)
    only_for: tuple[str, str] | None = None   # (setting, value): applies only when that setting has that value
    layers: tuple[str, ...] = LAYERS

    def applies(self, values: Mapping[str, object]) -> bool:
        if self.only_for is None:
            return True
        other, wanted = self.only_for
        return values.get(other) == wanted

    def text_problem(self, value: object) -> str | None:
        """Why a text value may not reach a generated file, or None."""
        if self.type != "text" or not isinstance(value, str):
            return None
        return textrules.text_problem(value, multiline=self.text_rule == "multiline")


SETTINGS: tuple[Setting, ...] = (   # what each one means: the schema's descriptions and the README
    Setting("protocol", "enum", REQUIRED, choices=("pop3", "imap")),
    Setting("clients", "clients", REQUIRED),
    Setting("bcc_self", "bool", False),
    Setting("fetch_automatically", "bool", True),
    Setting("check_interval_minutes", "int", 10, minimum=1, maximum=1440),
    Setting("thunderbird_file", "enum", "prefs.js", choices=("prefs.js", "user.js")),
    Setting("signature", "text", None, nullable=True, text_rule="multiline"),
    Setting("pop3.leave_on_server", "bool", True, only_for=("protocol", "pop3")),
    Setting("pop3.delete_after_days", "int", 28, minimum=1, maximum=65535, nullable=True, only_for=("protocol", "pop3")),
)

BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}
INDEX: dict[str, int] = {setting.name: index for index, setting in enumerate(SETTINGS)}
