"""``OUT/manifest.json``: what a run wrote, one JSON object per line, streamed both ways.

Each artifact entry has a ``kind`` (the scope of its format: ``device``, ``user``, ...),
the fields that name what it was made for (``user``, ``device``, ``profile``, ``client``,
``protocol`` for device artifacts), its ``path`` relative to OUT and its ``sha256``; where
known, the fingerprint of its inputs (``inputs``) and the ``size`` and ``mtime_ns`` of the
file as written. Entries are sorted by path.

The previous manifest is read entry by entry (:class:`Previous`), and the new one is compared
with it byte by byte as it is produced (:class:`Sink`): a run that changes nothing writes
nothing, and neither side is ever held in memory whole. Anyone who can write OUT can edit the
manifest, so the new one never takes an entry from the old one's text: it is made from the
plan and the run index (``generator/index.py``), and the old one only says what it lists that
mailprofiles has no record of writing. Its ``warnings`` are each command's (``generate``, ``fleet``):
a run writes its own and carries the other command's over from the old manifest as it reads them
(type-checked text, see :func:`warning_entries`; no file is written, kept or removed because of one).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from ..bounded import read_at_most
from ..errors import OutputError
from ..jsontext import dumps, quoted
from ..model import Finding, quick_init
from ..paths import safe_relative
from .safefs import OutDir

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
WRITE_BLOCK = 1 << 20        # a new manifest or index is written in blocks of this size
VERSION = 1


@quick_init
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
    inputs: str | None = None        # not in the manifest (see generator/index.py): the fingerprint of
    size: int | None = None          # what the file is made from, and the size and modification time
    mtime_ns: int | None = None      # it was written with

    def __reduce__(self) -> tuple[type[ArtifactRecord], tuple[Any, ...]]:
        """Pickled as its fields in order (a worker sends one per file; the dataclass's own state is slower)."""
        return ArtifactRecord, (self.kind, self.path, self.sha256, self.user, self.device, self.profile, self.client,
                                self.protocol, self.domain, self.signed, self.group, self.inputs, self.size,
                                self.mtime_ns)

    def made(self, sha256: str, signed: bool | None) -> ArtifactRecord:
        """The record of the rendered file: its hash and whether it is signed (made field by field:
        ``dataclasses.replace`` takes three times as long, for every file of a run)."""
        return ArtifactRecord(self.kind, self.path, sha256, self.user, self.device, self.profile, self.client,
                              self.protocol, self.domain, signed, self.group, self.inputs, self.size, self.mtime_ns)

    def written(self, size: int, mtime_ns: int) -> ArtifactRecord:
        """The record with the size and modification time the file was written with."""
        return ArtifactRecord(self.kind, self.path, self.sha256, self.user, self.device, self.profile, self.client,
                              self.protocol, self.domain, self.signed, self.group, self.inputs, size, mtime_ns)

    def to_json(self) -> dict[str, str | bool]:
        """The manifest entry: kind, the fields that apply (user, group, device, profile, client, protocol,
        domain, in this order), path, sha256, and ``signed`` when it is (written out field by field: made for
        every file of a run)."""
        data: dict[str, str | bool] = {"kind": self.kind}
        if self.user is not None:
            data["user"] = self.user
        if self.group is not None:
            data["group"] = self.group
        if self.device is not None:
            data["device"] = self.device
        if self.profile is not None:
            data["profile"] = self.profile
        if self.client is not None:
            data["client"] = self.client
        if self.protocol is not None:
            data["protocol"] = self.protocol
        if self.domain is not None:
            data["domain"] = self.domain
        data["path"] = self.path
        data["sha256"] = self.sha256
        if self.signed:
            data["signed"] = True
        return data

    def entry_text(self) -> str:
        """``to_json`` as JSON text (the same text as encoding its dict), made field by field: one per file of a run."""
        text = '{"kind": ' + quoted(self.kind)
        if self.user is not None:
            text += ', "user": ' + quoted(self.user)
        if self.group is not None:
            text += ', "group": ' + quoted(self.group)
        if self.device is not None:
            text += ', "device": ' + quoted(self.device)
        if self.profile is not None:
            text += ', "profile": ' + quoted(self.profile)
        if self.client is not None:
            text += ', "client": ' + quoted(self.client)
        if self.protocol is not None:
            text += ', "protocol": ' + quoted(self.protocol)
        if self.domain is not None:
            text += ', "domain": ' + quoted(self.domain)
        return f'{text}, "path": {quoted(self.path)}, "sha256": {quoted(self.sha256)}' + \
            (', "signed": true}' if self.signed else "}")


_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TEXT_FIELDS = ("kind", "user", "group", "device", "profile", "client", "protocol", "domain")


def well_typed(entry: Any) -> bool:
    """An artifact entry as mailprofiles writes it: a text path, a sha256, text fields (the path is not checked)."""
    if type(entry) is not dict or type(entry.get("path")) is not str:
        return False
    sha = entry.get("sha256")
    if type(sha) is not str or not _SHA256.match(sha):
        return False
    return all(type(entry[key]) is str for key in _TEXT_FIELDS if key in entry)


_WARNING_FIELDS = ("user", "device", "client", "code", "message", "acknowledged")
_WARNINGS_KEY = b'"warnings": ['


def well_typed_warning(entry: Any) -> bool:
    """A warning as mailprofiles writes it: the command it is of, a code, a message, the other fields text or null."""
    return (type(entry) is dict and type(entry.get("command")) is str and type(entry.get("code")) is str
            and type(entry.get("message")) is str and set(entry) <= {"command", *_WARNING_FIELDS}
            and all(entry.get(key) is None or type(entry[key]) is str for key in _WARNING_FIELDS))


def warning_entries(command: str, findings: Iterable[Finding], others: Callable[[], list[dict[str, Any]]]
                    ) -> Iterator[dict[str, Any]]:
    """The manifest's warnings: the run's own findings, then the other commands' as the old manifest lists them
    (``others`` is called once the old manifest's entries are read), by command, so that ``generate`` and ``fleet`` sharing
    an output folder each keep the other's."""
    old = others()     # each command's warnings together, the commands in the order of their names
    yield from (w for w in old if w["command"] < command)
    for finding in findings:
        yield {"command": command, **finding.to_json()}
    yield from (w for w in old if w["command"] > command)


def _valid_entry(entry: object) -> bool:
    """A well-typed entry whose path is a safe path inside OUT."""
    return well_typed(entry) and safe_relative(entry["path"])  # type: ignore[index]


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


MAX_LINE_BYTES = 1024 * 1024
_HEADER = b'{\n  "version": 1,\n  "artifacts": ['
Entry = tuple[dict[str, Any], bytes]       # a previous entry, and its JSON exactly as it was written


class SortedLines:
    """JSON objects one per line after a fixed header, sorted by ``path``, read one at a time.

    Entries that fail ``valid`` (given the parsed line and its bytes), or come out of order, are
    skipped and counted in ``dropped``. The reading stops at a line starting with ``]`` or at the
    end of the file.
    """

    def __init__(self, fd: int | None, header: bytes, valid: Callable[[Any, bytes], bool]):
        self.fd, self.header, self.valid = fd, header, valid
        self.dropped = 0

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def lines(self, handle: BinaryIO) -> Iterator[Entry]:
        last = ""
        while True:
            line = handle.readline(MAX_LINE_BYTES)
            text = line.strip()
            if not line or text.startswith(b"]"):
                break
            if not text:
                continue
            raw = text[:-1] if text.endswith(b",") else text
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            if not self.valid(entry, raw) or entry["path"] <= last:
                self.dropped += 1
                continue
            last = entry["path"]
            yield entry, raw


class Previous(SortedLines):
    """The previous run's manifest entries, read one at a time, sorted by path: claims, never trusted.

    A missing manifest means no earlier run. No entry's file is ever removed because of it (only
    the run index says what mailprofiles wrote); entries with wrong types or out of order are
    counted in ``notes``. A path is checked where it would be used, for an entry the index does
    not list (an unsafe one counts as malformed: call :meth:`unsafe`).
    """

    def __init__(self, outdir: OutDir | None, command: str | None = None):
        """``command``: the run's; the old manifest's warnings of that command are not kept (the run makes its
        own), so a large roster's warnings are not held twice."""
        super().__init__(outdir.open_regular(MANIFEST, MAX_MANIFEST_BYTES) if outdir is not None else None,
                         _HEADER, lambda entry, raw: well_typed(entry))
        self.notes: list[str] = []
        self.warnings: list[dict[str, Any]] = []    # the old manifest's warnings, once its entries are read
        self._command = command
        self._ours = b'{"command": ' + json.dumps(command).encode() + b"," if command is not None else None
        self._shown = outdir.shown(MANIFEST) if outdir is not None else MANIFEST

    def __iter__(self) -> Iterator[Entry]:
        if self.fd is None:
            return
        with os.fdopen(self.fd, "rb", closefd=False) as handle:
            head = handle.read(len(_HEADER))
            if head != _HEADER:
                yield from self._whole(head + read_at_most(handle, MAX_MANIFEST_BYTES + 1 - len(head)))
                return
            yield from self.lines(handle)
            if handle.readline(MAX_LINE_BYTES).strip() == _WARNINGS_KEY:
                for line in iter(lambda: handle.readline(MAX_LINE_BYTES).strip(), b""):
                    if line.startswith(b"]"):
                        break
                    self._warning(line[:-1] if line.endswith(b",") else line)

    def _warning(self, raw: bytes | dict[str, Any]) -> None:
        if self._ours is not None and isinstance(raw, bytes) and raw.startswith(self._ours):
            return        # the run's own command's, as this program writes them: not even parsed
        try:
            entry = json.loads(raw) if isinstance(raw, bytes) else raw
        except ValueError:
            return
        if well_typed_warning(entry) and (self._command is None or entry["command"] != self._command):
            self.warnings.append(entry)

    def others(self, command: str) -> list[dict[str, Any]]:
        """The old manifest's warnings of the other commands (each command's findings are its own)."""
        return [w for w in self.warnings if w["command"] != command]

    def unsafe(self) -> None:
        """An entry's path leads outside OUT: it is dropped like any malformed entry."""
        self.dropped += 1

    def report(self) -> list[str]:
        """What was not trusted, once the entries are read."""
        if self.dropped:
            self._dropped(self.dropped)
            self.dropped = 0
        return self.notes

    def _whole(self, raw: bytes) -> Iterator[Entry]:
        """Any other layout of the same JSON (a manifest reformatted by a tool): parsed whole, then sorted."""
        if len(raw) > MAX_MANIFEST_BYTES:
            raise OutputError(f"{self._shown} is more than {MAX_MANIFEST_BYTES:,} bytes; it is not read: move it "
                              "away and run again")
        try:
            data = parse_manifest(raw)
        except (ValueError, UnicodeDecodeError):
            self.notes.append(f"{self._shown} is not a readable manifest: it is replaced, and no earlier file is "
                              "removed")
            return
        entries: dict[str, dict[str, Any]] = {}
        for entry in data["artifacts"]:
            entries.setdefault(entry["path"], entry)
        if data["dropped"] or len(entries) < len(data["artifacts"]):
            self._dropped(data["dropped"] + len(data["artifacts"]) - len(entries))
        for warning in data.get("warnings") or []:
            self._warning(warning)
        for path in sorted(entries):
            yield entries[path], dumps(entries[path]).encode("utf-8")

    def _dropped(self, count: int) -> None:
        self.notes.append(f"ignored {count} malformed entries of {MANIFEST} (wrong types, paths outside the "
                          "output folder, or out of order): their files are never removed")


class Sink:
    """Takes a new file (the manifest, the run index) chunk by chunk and compares it with the old one as it goes.

    Nothing is written while the new manifest equals a prefix of the old one; at the first
    difference the staged manifest is created (with the equal prefix copied from the old file)
    and everything after is written to it. ``finish`` says whether the manifest changed.
    """

    def __init__(self, old: int | None, create: Callable[[], int] | None):
        self._create = create                      # () -> fd of the staged file; None in check mode
        self._old = old                            # the old file, read from its start (closed here)
        self._oldfile = os.fdopen(self._old, "rb", closefd=False) if self._old is not None else None
        self._equal = self._old is not None        # everything so far equals the old manifest
        self._offset = 0
        self._fd: int | None = None
        self._pending = bytearray()                # written to the staged file, not yet passed to the kernel
        if not self._equal:
            self._diverge()

    def write(self, chunk: bytes) -> None:
        if self._equal:
            assert self._oldfile is not None
            if self._oldfile.read(len(chunk)) == chunk:
                self._offset += len(chunk)
                return
            self._diverge()
        if self._fd is not None:
            self._pending += chunk          # written in blocks, not one system call per entry
            if len(self._pending) >= WRITE_BLOCK:
                self._flush()

    def _flush(self) -> None:
        if self._fd is not None and self._pending:
            _write_all(self._fd, self._pending)
        self._pending.clear()

    def _diverge(self) -> None:
        self._equal = False
        self._fd = self._create() if self._create is not None else None
        if self._fd is not None and self._old is not None and self._offset:
            position = 0
            while position < self._offset:
                block = os.pread(self._old, min(1 << 20, self._offset - position), position)
                if not block:
                    raise OutputError("the old manifest changed while it was read")
                _write_all(self._fd, block)
                position += len(block)

    def finish(self) -> bool:
        """True when the new file differs from the old one (it is then complete in the stage)."""
        if self._equal:
            assert self._oldfile is not None
            if self._oldfile.read(1):
                self._diverge()
        self._flush()
        self.close()
        return not self._equal

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._oldfile is not None:
            self._oldfile.close()
            self._oldfile = None
        if self._old is not None:
            os.close(self._old)
            self._old = None


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def manifest_chunks(artifacts: Iterable[dict[str, Any] | bytes], warnings: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """The manifest as UTF-8 chunks, one JSON object per line, so a big one never sits in memory whole."""
    yield _HEADER
    for key, items in (("artifacts", artifacts), ("warnings", warnings)):
        if key == "warnings":
            yield b'\n  ],\n  "warnings": ['
        separator = b"\n    "
        for item in items:   # an entry as data, or as the JSON it was read as
            yield separator + (item if isinstance(item, bytes) else dumps(item).encode())
            separator = b",\n    "
    yield b"\n  ]\n}\n"
