"""``OUT/manifest.json``: what a run wrote, one JSON object per line, streamed both ways.

Each artifact entry has a ``kind`` (the scope of its format: ``device``, ``user``, ...),
the fields that name what it was made for (``user``, ``device``, ``profile``, ``client``,
``protocol`` for device artifacts), its ``path`` relative to OUT and its ``sha256``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .paths import safe_relative
from .safefs import OutDir

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
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
    signed: bool | None = None
    group: str | None = None

    def to_json(self) -> dict[str, str | bool]:
        data: dict[str, str | bool] = {"kind": self.kind}
        for key in ("user", "group", "device", "profile", "client", "protocol", "domain"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        data["path"] = self.path
        data["sha256"] = self.sha256
        if self.signed:
            data["signed"] = True
        return data


_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TEXT_FIELDS = ("kind", "user", "group", "device", "profile", "client", "protocol", "domain")


def _valid_entry(entry: object) -> bool:
    """An artifact entry as mailprofiles writes it: a safe path inside OUT, a sha256, text fields."""
    return (isinstance(entry, dict) and isinstance(entry.get("path"), str) and safe_relative(entry["path"])
            and isinstance(entry.get("sha256"), str) and bool(_SHA256.match(entry["sha256"]))
            and all(isinstance(entry.get(key, ""), str) for key in _TEXT_FIELDS))


def parse_manifest(raw: bytes) -> dict[str, Any]:
    """A manifest's data with only well-formed artifact entries; ``dropped`` counts the others.

    Raises ValueError when the bytes are not a manifest of this version at all.
    """
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("artifacts"), list):
        raise ValueError("not a mailprofiles manifest of version 1")
    entries = data["artifacts"]
    data["artifacts"] = [entry for entry in entries if _valid_entry(entry)]
    data["dropped"] = len(entries) - len(data["artifacts"])
    return data


def read_manifest(outdir: OutDir | None) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The previous run's artifact entries, and notes on what was not trusted.

    A missing manifest means no earlier run. One that cannot be read as a manifest (or entries with
    unsafe paths or wrong types) is not trusted: those files are never removed, and a note says so.
    A link, FIFO or device at manifest.json, or one over the size limit, is refused (OutputError).
    """
    raw = outdir.read(MANIFEST, MAX_MANIFEST_BYTES) if outdir is not None else None
    if raw is None:
        return [], ()
    try:
        data = parse_manifest(raw)
    except (ValueError, UnicodeDecodeError):
        return [], (f"{outdir.shown(MANIFEST) if outdir else MANIFEST} is not a readable manifest: it is "
                    "replaced, and no earlier file is removed",)
    notes: tuple[str, ...] = ()
    if data["dropped"]:
        notes = (f"ignored {data['dropped']} malformed entries of {MANIFEST} (wrong types or paths outside the "
                 "output folder): their files are never removed",)
    return data["artifacts"], notes


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


def hashed(chunks: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    """The chunks, unchanged, with ``digest`` updated on the way."""
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
