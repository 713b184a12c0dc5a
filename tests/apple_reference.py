"""Derive the verifier's rule table from Apple's own payload schema files."""
from __future__ import annotations

from pathlib import Path

import yaml

REFERENCE = Path(__file__).resolve().parent / "apple"   # copies of Apple's files, with their license
FILES = {"TopLevel": "TopLevel.yaml", "CommonPayloadKeys": "CommonPayloadKeys.yaml",
         "com.apple.mail.managed": "com.apple.mail.managed.yaml"}


def _rule(item: dict) -> dict:
    rule = {"type": item["type"].strip("<>"), "presence": item.get("presence", "optional")}
    if "rangelist" in item:
        rule["rangelist"] = item["rangelist"]
    if "format" in item:
        rule["format"] = item["format"]
    unsupported = sorted(os for os, info in (item.get("supportedOS") or {}).items()
                         if isinstance(info, dict) and info.get("introduced") == "n/a")
    if unsupported:
        rule["unsupported_on"] = unsupported
    return rule


def derive_rules(folder: Path = REFERENCE) -> dict:
    rules = {}
    for name, file in FILES.items():
        data = yaml.safe_load((folder / file).read_text(encoding="utf-8"))
        rules[name] = {item["key"]: _rule(item) for item in data["payloadkeys"]}
    return rules
