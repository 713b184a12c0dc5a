"""Fingerprints of what a file is made from, so that a rerun skips what did not change.

A file's fingerprint is a hash of everything its renderer can see: the run's salt (the
product's code and built-in templates, the site's templates, the organization, the
signer's certificates) and the subject's representation (a device with its user, servers
and resolved settings; a user with all devices and warnings). Where a value came from
(file and line) is left out, so a line moved in the inventory re-renders nothing. Formats
made from many users at once (per domain, per organization) have no fingerprint and are
always rendered.
"""
from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from ..errors import Diagnostic, InventoryError, Location
from ..formats import registry as formats
from ..inventory.bounds import DEFAULT_LIMITS, confined_files
from ..model import Device, Site
from ..version import __version__

_PACKAGE = Path(__file__).resolve().parent


def _tree(digest: hashlib._Hash, root: Path, suffixes: tuple[str, ...] | None, limit: int) -> None:
    """Hash every regular file below ``root`` (links are not followed), by path, in a stable order."""
    total = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if suffixes is not None and not name.endswith(suffixes):
                continue
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            total += len(data)
            if total > limit:
                raise ValueError(f"the templates below {root} hold more than {limit:,} bytes")
            digest.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
            digest.update(data)


def _site(digest: hashlib._Hash, root: Path, roots: tuple[str, ...]) -> None:
    """Hash what every file below the site's folder holds, by path, links followed (what a template may read);
    a file that may not be read (see :func:`limits.confined_files`) is refused as the loader refuses it."""
    allowed = tuple(Path(r).resolve() for r in roots or (str(root),))
    for path, data, problem in confined_files(root, allowed, DEFAULT_LIMITS):
        if problem is not None:
            raise InventoryError([Diagnostic(problem, Location(str(path)), "templates_dir")])
        digest.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)


@cache
def _product() -> bytes:
    """The version, every module and every shipped template: a new build re-renders everything."""
    digest = hashlib.sha256(__version__.encode())
    _tree(digest, _PACKAGE, (".py", ".j2", ".json", ".yaml", ".yml"), 1 << 30)
    for name in ("templates", "profiles", "schemas"):
        folder = _PACKAGE.parent / name
        if not (_PACKAGE / "_data").is_dir() and folder.is_dir():
            _tree(digest, folder, None, 1 << 30)
    return digest.digest()


def _code_name(function: object) -> str:
    return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', type(function).__name__)}"


def run_salt(site: Site) -> bytes:
    """What every file of a run is made from besides its subject (a format's functions by name, too)."""
    digest = hashlib.sha256(_product())
    for fmt in formats.FORMATS:      # looked up now: the registry is the table of record
        digest.update(f"{fmt.name}:{_code_name(fmt.render)}:{_code_name(fmt.verify)}\0".encode())
    digest.update(repr(site.organization).encode())
    if site.templates_dir:
        _site(digest, Path(site.templates_dir), site.template_roots)
    signer = site.signer
    if signer is not None:
        digest.update(b"signed\0")
        digest.update(signer.identity())
    return digest.digest()


def fingerprint(salt: bytes, fmt_name: str, subject: object, text: str | None = None) -> str:
    """The fingerprint of one file: the run's salt, the format and the subject (``text``: its representation,
    when the caller has it already)."""
    digest = salted_hash(salt, fmt_name)
    digest.update((repr(subject) if text is None else text).encode())
    return digest.hexdigest()[:32]


def salted_hash(salt: bytes, fmt_name: str) -> hashlib._Hash:
    """The hash of a fingerprint of ``fmt_name`` with the text still to come: :func:`fingerprint` is the hex digest of
    a copy of it with the UTF-8 text added, cut the same way (tests/test_core_fingerprint.py)."""
    return hashlib.sha256(salt + fmt_name.encode() + b"\0")


def device_text(device: Device, shared: dict[int, str]) -> str:
    """A device as its fingerprint sees it: everything but where its values came from.

    ``shared`` remembers the text of the objects devices share (servers and resolved values are
    one object for every device resolved from the same layers), by identity, for one run.
    """
    parts = []
    for part in (device.incoming, device.outgoing, device.values):
        text = shared.get(id(part))
        if text is None:
            text = shared[id(part)] = repr(part)
        parts.append(text)
    return f"Device({device.user!r}, {device.name!r}, {device.profile!r}, {', '.join(parts)})"
