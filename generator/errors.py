"""The one error vocabulary: every problem the core reports on purpose is defined here.

Problems in the input are values (:class:`Diagnostic`, with file, line, column and the
field path); the exceptions below carry them, or say which part of the run refused.
"""
from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"

# The command's exit codes (the README's table is held to this one by a test).
EXIT_OK = 0
EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_WOULD_CHANGE = 4
EXIT_STRICT = 5
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_OK: "success: done, valid, or (with --check) nothing would change",
    EXIT_INPUT: "invalid input, an output folder that cannot be written, or a failed server check",
    EXIT_USAGE: "wrong usage: an unknown option, a missing argument",
    EXIT_INTERNAL: "internal error: a bug in mailprofiles (--debug shows the traceback); nothing was written",
    EXIT_WOULD_CHANGE: "--check: files or the manifest would change",
    EXIT_STRICT: "--strict: warnings that the inventory does not acknowledge; nothing was written",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value came from: file, 1-based line and column."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column or 1}"
        return self.file


FieldPath = tuple[str | int, ...]
"""A path into the input: ``("users", 3, "devices", 1)``."""

Where = Callable[[FieldPath], Location]
"""The position of a field path inside one document (or one roster row)."""


def within(where: Where, prefix: FieldPath) -> Where:
    """``where`` for paths relative to ``prefix``."""
    return lambda path: where(prefix + path)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in the input, with its place, the field path and a hint."""

    message: str
    location: Location | None = None
    field: str = ""
    hint: str = ""
    severity: str = ERROR
    code: str = ""

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location or Location("")
        return (loc.file, loc.line, loc.column, self.field, self.message)

    def format(self) -> str:
        parts = []
        if self.location is not None:
            parts.append(f"{self.location}:")
        if self.field:
            parts.append(f"{self.field}:")
        parts.append(self.message)
        text = " ".join(parts)
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_json(self) -> dict[str, object]:
        loc = self.location
        return {
            "severity": self.severity,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
            "code": self.code,
        }


class MailprofilesError(Exception):
    """Base of the errors the core raises on purpose."""

    exit_code = 3


class InventoryError(MailprofilesError):
    """The input is invalid; carries every diagnostic found."""

    exit_code = 1

    def __init__(self, diagnostics: Iterable[Diagnostic], limit: int | None = None):
        found = sorted(diagnostics, key=Diagnostic.sort_key)
        shown = found if limit is None else found[:limit]
        self.diagnostics = tuple(shown)
        self.more = len(found) - len(shown)     # problems found but not listed
        text = "\n".join(d.format() for d in self.diagnostics)
        super().__init__(text + (f"\n... and more problems (the listing stops at {len(shown)})" if self.more else ""))


class VerificationError(MailprofilesError):
    """A rendered artifact failed its independent verifier: a bug in mailprofiles."""

    exit_code = 3

    def __init__(self, failures: Iterable[str]):
        self.failures = tuple(failures)
        super().__init__("\n".join(self.failures))


class OutputError(MailprofilesError):
    """The output directory cannot be written as asked; OUT is as it was unless the message says otherwise."""

    exit_code = 1


class PartialOutput(OutputError):
    """A failure after the commit point: some changes are in OUT, the rest wait in the journal."""

    def __init__(self, out: object, done: int, total: int, reason: str, interrupted: bool = False):
        self.interrupted = interrupted
        if interrupted:
            self.exit_code = 130
        super().__init__(f"{'interrupted' if interrupted else 'failed'} while moving the new files in: the output "
                         f"at {out} is partly updated ({done} of {total} changes done"
                         + ("" if interrupted else f"; {reason}") + "). manifest.json describes what is on disk "
                         "now; run the same command again (after fixing the cause) to complete the update")


class WorkerDied(MailprofilesError):
    """A worker process that rendered for the run died (e.g. killed when memory ran out), before the commit point."""

    exit_code = 1

    def __init__(self, how: str):
        super().__init__(f"a worker process died ({how}) while rendering; nothing was written: the output is "
                         "intact. Free some memory or use fewer --jobs (-j 1 renders in one process), and run again")


class InputFileError(MailprofilesError):
    """A file named on the command line cannot be used (e.g. a CA file that is not PEM)."""

    exit_code = 1


class UsageError(MailprofilesError):
    """An option or argument that cannot be used as given."""

    exit_code = 2


class SiteTemplateError(Exception):
    """A site template that cannot be read or rendered (a limit, a link out, any error while rendering): the
    site's input problem, at the template's file and line (0: not known). Not a Jinja2 class, so that loading
    an inventory imports no template engine."""

    def __init__(self, message: str, filename: str, lineno: int = 0):
        super().__init__(message)
        self.message, self.filename, self.lineno = message, filename, lineno


class UnsafeName(ValueError):
    """A user or device name that cannot become a safe file name."""


class UnrepresentableValue(ValueError):
    """A value that the target format cannot carry; the validator should have refused it."""


class ReadBackError(Exception):
    """A rendered file cannot be read back at all by its format's verifier (one problem of that file; the run's
    problems together are a :class:`VerificationError`)."""


def shown_path(path: str | os.PathLike[str]) -> str:
    """A file as every message names it: relative to the working directory when it lies below it, else absolute."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:      # another drive (Windows)
        return absolute
    return absolute if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


def excerpt(text: str, limit: int = 60) -> str:
    """A short, escaped quotation of input text for a message (never a whole line of a foreign file)."""
    shown = repr(text[:limit])
    return shown + ("…" if len(text) > limit else "")


def close_matches(word: str, candidates: Iterable[str]) -> str:
    """A "did you mean" hint, or an empty string."""
    found = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean {found[0]!r}?" if found else ""


def close_addresses(wanted: str, users: Iterable[tuple[str, str]], n: int = 3) -> list[str]:
    """The addresses of the users (address, full name) closest to a mistyped address, best first, at most
    ``n``; none when nothing is close. Case-insensitive. An address is held part by part (the worse of the
    part before the ``@`` and the domain counts, so a shared domain alone is not close); a word without
    ``@`` is held against the part before the ``@`` and the full name."""
    def ratio(a: str, b: str) -> float:
        matcher = difflib.SequenceMatcher(None, a, b)
        return matcher.ratio() if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6 else 0.0

    word = wanted.casefold()
    local, at, domain = word.rpartition("@") if "@" in word else (word, "", "")
    best: dict[str, float] = {}
    for address, name in users:
        their_local, _, their_domain = address.casefold().rpartition("@")
        if at:
            score = min(ratio(local, their_local), ratio(domain, their_domain))
        else:
            score = max(ratio(word, their_local), ratio(word, name.casefold()))
        if score >= 0.6:
            best[address] = max(best.get(address, 0.0), score)
    return [address for address, _ in sorted(best.items(), key=lambda item: (-item[1], item[0]))[:n]]


def fail_if(errors: list[Diagnostic], limit: int | None = None) -> None:
    """Raise the collected errors at once (the first ``limit`` listed, the rest counted); nothing when none."""
    if errors:
        raise InventoryError(errors, limit)
