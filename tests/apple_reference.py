"""Derive the verifier's rule table from Apple's own payload schema files.

``python apple_reference.py`` (in tests/) rewrites ``generator/formats/verify/apple_rules.json`` from the copies in
``tests/apple/``; ``tests/test_verify.py`` holds the shipped table to them.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

REFERENCE = Path(__file__).resolve().parent / "apple"   # copies of Apple's files, with their license
SHIPPED = Path(__file__).resolve().parent.parent / "generator" / "formats" / "verify" / "apple_rules.json"
COMMIT = "b6202ca2fbd31286a52eb160b67a4db7b4fe1f1f"
FILES = {"TopLevel": "TopLevel.yaml", "CommonPayloadKeys": "CommonPayloadKeys.yaml",
         "com.apple.mail.managed": "com.apple.mail.managed.yaml",
         "com.apple.eas.account": "com.apple.eas.account.yaml",
         "com.apple.google-oauth": "com.apple.google-oauth.yaml",
         "com.apple.ManagedClient.preferences": "com.apple.ManagedClient.preferences.yaml"}
# Payloads whose nested keys are checked too (their subkeys are part of the rule table).
NESTED = ("com.apple.ManagedClient.preferences",)


def _rule(item: dict, nested: bool = False) -> dict:
    rule = {"type": item["type"].strip("<>"), "presence": item.get("presence", "optional")}
    if nested and item.get("subkeys"):
        rule["subkeys"] = {sub["key"]: _rule(sub, nested) for sub in item["subkeys"]}
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
        rules[name] = {item["key"]: _rule(item, name in NESTED) for item in data["payloadkeys"]}
    return rules


def shipped_text(folder: Path = REFERENCE) -> str:
    """The rule table as shipped: the derived rules, where they come from and Apple's license notice."""
    table = derive_rules(folder)
    names = ", ".join(f"{file}" if index else f"mdm/profiles/{file}" for index, file in enumerate(FILES.values()))
    table["_source"] = (f"Derived from apple/device-management (branch release, commit {COMMIT}): {names}. "
                        "Regenerate with tests/apple_reference.py; tests/test_verify.py checks it against the "
                        "reference files.")
    table["_license"] = (folder / "LICENSE.txt").read_text(encoding="utf-8")
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    SHIPPED.write_text(shipped_text(), encoding="utf-8")
