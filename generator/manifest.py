"""``OUT/manifest.json``: what a run wrote, one JSON object per line, streamed both ways.

Each artifact entry has a ``kind`` (the scope of its format: ``device``, ``user``, ...),
the fields that name what it was made for (``user``, ``device``, ``profile``, ``client``,
``protocol`` for device artifacts), its ``path`` relative to OUT and its ``sha256``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .paths import safe_relative

MANIFEST = "manifest.json"
VERSION = 1


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """One manifest entry. Fields that do not apply to the artifact's kind are None and not written."""

    kind: str
    path: str
    sha256: str
    user: str | None = None
    device: str | None = None
    profile: str | None = None
    client: str | None = None
    protocol: str | None = None
    domain: str | None = None

    def to_json(self) -> dict[str, str]:
        data = {"kind": self.kind}
        for key in ("user", "device", "profile", "client", "protocol", "domain"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        data["path"] = self.path
        data["sha256"] = self.sha256
        return data


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The previous manifest, or None when there is none or it is unreadable."""
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("artifacts"), list):
        return None
    # Only entries that name a file inside the output folder count; a tampered path is ignored.
    data["artifacts"] = [entry for entry in data["artifacts"]
                         if isinstance(entry, dict) and isinstance(entry.get("path"), str)
                         and safe_relative(entry["path"])]
    return data


def manifest_chunks(artifacts: Iterable[dict[str, Any]], warnings: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """The manifest as UTF-8 chunks, one JSON object per line, so a big one never sits in memory whole."""
    yield b'{\n  "version": 1,\n  "artifacts": ['
    for key, items in (("artifacts", artifacts), ("warnings", warnings)):
        if key == "warnings":
            yield b'\n  ],\n  "warnings": ['
        separator = b"\n    "
        for item in items:
            yield separator + json.dumps(item, ensure_ascii=False).encode("utf-8")
            separator = b",\n    "
    yield b"\n  ]\n}\n"


def write_chunks(chunks: Iterable[bytes], target: Path | None) -> str:
    """sha256 of the chunks, written to ``target`` on the way when given."""
    digest = hashlib.sha256()
    handle = open(target, "wb") if target is not None else None
    try:
        for chunk in chunks:
            digest.update(chunk)
            if handle is not None:
                handle.write(chunk)
    finally:
        if handle is not None:
            handle.close()
    return digest.hexdigest()


def file_sha256(path: Path) -> str | None:
    """sha256 of a file read in blocks, or None when it does not exist."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return digest.hexdigest()
