"""``init``: write the bundled example inventory into a folder, never through a link."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import OutputError
from .resources import data_dir

FILES = ("inventory.yaml", "users.csv", "inventory.schema.json")
MODELINE = b"# yaml-language-server: $schema=inventory.schema.json\n"
"""Editors with the YAML language server (VS Code and others) complete keys and flag errors with it."""


def write_example(directory: Path, force: bool = False) -> list[Path]:
    """Write ``inventory.yaml`` (with the editor's schema line), ``users.csv`` and the schema beside them.

    An existing file is kept unless ``force``.

    A link, FIFO or other non-file at a target is refused, and so is a target folder that is a file.
    """
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{directory} exists and is not a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {directory}: {exc.strerror or exc}") from None
    targets = [directory / name for name in FILES]
    for target in targets:
        if target.is_symlink():
            raise OutputError(f"{target} is a symbolic link; init never writes through one")
        if target.exists() and not target.is_file():
            raise OutputError(f"{target} exists and is not a regular file")
        if target.exists() and not force:
            raise OutputError(f"{target} already exists; use --force to overwrite it")
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | (os.O_TRUNC if force else os.O_EXCL)
    for name, target in zip(FILES, targets):
        if name == "inventory.schema.json":
            content = (data_dir("schemas") / name).read_bytes()
        else:
            content = (data_dir("examples") / name).read_bytes()
        if name == "inventory.yaml":
            content = MODELINE + content
        try:
            fd = os.open(target, flags, 0o644)
            try:
                os.write(fd, content)
            finally:
                os.close(fd)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    return targets
