"""``--shard K/N``: one of N disjoint parts of the roster, so that N machines (or processes) share a run.

A user belongs to shard ``int(sha256(casefolded address)[:8]) mod N``: a stable hash, the same on
every machine, Python version and run (Python's own ``hash()`` of a string is salted per process).
K counts from 0, so a Kubernetes Indexed Job's ``JOB_COMPLETION_INDEX`` is the shard as it is.

- Each shard writes its own output folder: every folder has its own lock, journal, run index and
  manifest, so shards run at the same time without sharing any state, and a shard can only ever
  remove files of its own folder.
- The files made from every user (a domain's autoconfig, the organization's files: the scopes
  other than device and user) are made by shard 0 alone, from the whole inventory, so they are
  the same bytes as an unsharded run's.
- A user's files depend on that user alone, so the union of the N folders' files is the
  unsharded run's, byte for byte. Each folder's manifest lists its own files, and the warnings
  of its own users (shard 0 also those that name no user): the N manifests' entries and
  warnings together are the unsharded manifest's.
- With ``--limit`` both select: the users of the shard that the patterns match.

A folder remembers its shard (``.mailprofiles/shard``): a run of another shard, or without
``--shard``, into a folder that holds a shard's output is refused (:func:`check_folder`), so
that mixing up two folders never removes another shard's files as stale. Changing N moves most
users to another shard: run each shard into a new folder.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..errors import UsageError
from ..model import Finding

_SHAPE = re.compile(r"^\s*(\d{1,6})\s*/\s*(\d{1,6})\s*$")
MAX_SHARDS = 100_000


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (from 0) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def has(self, email: str) -> bool:
        """Is the user with this address in this shard?"""
        return shard_of(email, self.count) == self.index

    @property
    def makes_shared(self) -> bool:
        """Does this shard make the files made from every user (domain and organization scopes)?"""
        return self.index == 0

    def reports(self, finding: Finding) -> bool:
        """Is the warning this shard's to report: one of its users', or (shard 0) one that names no user?"""
        return self.has(finding.user) if finding.user is not None else self.makes_shared


def shard_of(email: str, count: int) -> int:
    """The shard (from 0) of the user with this address, among ``count``."""
    digest = hashlib.sha256(email.casefold().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(text: str | None) -> Shard | None:
    """``K/N`` with 0 <= K < N (None: no ``--shard``); anything else is a usage error that says what is wanted."""
    if text is None:
        return None
    found = _SHAPE.match(text)
    if found is None:
        raise UsageError(f"--shard {text!r} is not K/N: give the shard number K (from 0) and the number of "
                         "shards N, e.g. --shard 0/4 ... --shard 3/4")
    index, count = int(found.group(1)), int(found.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise UsageError(f"--shard {text!r}: the number of shards N must be from 1 to {MAX_SHARDS:,}")
    if index >= count:
        raise UsageError(f"--shard {text!r}: the shard number K counts from 0, so it must be below N "
                         f"(0 to {count - 1})")
    return Shard(index, count)


def check_folder(recorded: str | None, shard: Shard | None, written: bool, shown: str) -> None:
    """Refuse a run whose shard is not the one the output folder holds.

    ``recorded``: the shard the folder remembers (None: none); ``written``: the folder's run index
    lists files (a folder with none may change hands); ``shown``: the folder, for the message.
    """
    wanted = str(shard) if shard is not None else None
    if not written or recorded == wanted:
        return
    held = f"shard {recorded}'s output" if recorded is not None else "the output of a run without --shard"
    this = f"shard {wanted}" if wanted is not None else "a run without --shard"
    raise UsageError(f"{shown} holds {held}; {this} would remove those files as stale, so it is refused. "
                     "Give each shard its own output folder; after changing the number of shards, run each "
                     "shard into a new folder (most users move to another shard) and remove the old folders")
