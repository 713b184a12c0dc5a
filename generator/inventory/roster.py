"""The CSV roster: users read row by row, so that a large roster never sits in memory whole.

Input is untrusted: file size, line length and column count are bounded, bytes must be
UTF-8 text, and every problem names the row, the line and the column.

Rosters come from spreadsheets, so the reader takes them as spreadsheets save them: a UTF-8
byte order mark, CRLF line ends, and the column separator that Excel writes for the system's
locale (``,``; ``;`` in German, French and other locales whose decimal mark is a comma; a tab for
"Unicode text" saved as UTF-8). The separator is the one of ``,``, ``;`` and tab that splits the
header line into the most known column names (ties: that order); a first line ``sep=;`` (Excel's
own marker) names it outright. A header that no separator splits is refused with the character
that seems to stand between its names.
"""
from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Diagnostic, FieldPath, InventoryError, Location, close_matches, excerpt
from ..formats.vocabulary import CLIENTS
from .bounds import DEFAULT_LIMITS, Limits

CSV_COLUMNS = ("email", "name", "login", "groups", "devices", "clients", "language")
SEPARATORS = (",", ";", "\t")
"""The column separators a roster may use, in the order that breaks a tie."""
_SHOWN_SEPARATOR = {",": "','", ";": "';'", "\t": "a tab"}


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One roster row as user data, with the place of each column."""

    row: int           # 1-based data row number (the header is row 0)
    line: int          # physical line number in the file
    data: dict[str, Any]
    file: str
    columns: dict[str, int]      # column name -> 1-based column index
    problems: tuple[Diagnostic, ...] = ()    # what the row's cells break beyond the user schema (e.g. clients)
    shape: tuple[str, ...] | None = None     # the row's cells but the user's own (email, name, login), as written

    def where(self, column: str | None) -> Location:
        return Location(self.file, self.line, self.columns.get(column, 1) if column else 1)

    def where_path(self, path: FieldPath) -> Location:
        """The place of a field path of this row's user: the cell of its column (a device's clients: the
        ``clients`` column's, when the row has one)."""
        if path[:1] == ("devices",) and path[2:3] == ("clients",) and "clients" in self.columns:
            return self.where("clients")
        return self.where(str(path[0]) if path else None)

    def field(self, path: FieldPath) -> str:
        """``row 3, column 'devices', entry 2``."""
        if not path:
            return f"row {self.row}"
        entry = f", entry {path[1] + 1}" if len(path) > 1 and isinstance(path[1], int) else ""
        column = "clients" if path[:1] == ("devices",) and path[2:3] == ("clients",) else path[0]
        return f"row {self.row}, column {column!r}{entry}"


def _bounded_lines(handle: io.BufferedReader, shown: str, limits: Limits) -> Iterator[str]:
    line_no = 0
    while True:
        raw = handle.readline(limits.max_csv_line_chars * 4 + 2)
        if not raw:
            return
        line_no += 1
        if len(raw) > limits.max_csv_line_chars * 4 or (not raw.endswith(b"\n") and handle.peek(1)):
            raise InventoryError([Diagnostic(
                f"line is longer than the limit of {limits.max_csv_line_chars:,} characters",
                Location(shown, line_no, 1))])
        if line_no == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InventoryError([Diagnostic(
                "roster is UTF-16 text (a spreadsheet's \"Unicode Text\"), not UTF-8", Location(shown, 1, 1),
                hint="save it as \"CSV UTF-8\", comma- or semicolon-separated")])
        if line_no == 1 and b"\r" in raw.rstrip(b"\r\n"):
            raise InventoryError([Diagnostic(
                "roster lines end with a carriage return alone (the old Mac format), not a line feed",
                Location(shown, 1, raw.index(b"\r") + 1), hint="save it as \"CSV UTF-8\"")])
        if b"\x00" in raw:
            raise InventoryError([Diagnostic("roster contains a NUL byte: binary data, not text",
                                             Location(shown, line_no, raw.index(b"\x00") + 1))])
        try:
            text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise InventoryError([Diagnostic(
                f"roster is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                Location(shown, line_no, exc.start + 1), hint="save the file as UTF-8")]) from None
        if len(text) > limits.max_csv_line_chars:
            raise InventoryError([Diagnostic(
                f"line is longer than the limit of {limits.max_csv_line_chars:,} characters",
                Location(shown, line_no, 1))])
        yield text


class CsvRecords:
    """A roster's rows as records (lists of cells), with their row and line numbers; the header is read when the
    first row is asked for, and :attr:`columns` then holds each known column's 1-based index. Blank rows are
    skipped; structural problems raise :class:`InventoryError`. :meth:`row` makes a record a :class:`CsvRow`."""

    def __init__(self, path: Path, shown: str, limits: Limits = DEFAULT_LIMITS):
        self.path, self.shown, self.limits = path, shown, limits
        self.columns: dict[str, int] = {}
        self._rows = _Rows({})

    def __iter__(self) -> Iterator[tuple[int, int, list[str]]]:
        """(row, line, record) for each row that is not blank."""
        path, shown, limits = self.path, self.shown, self.limits
        try:
            size = path.stat().st_size
        except OSError:
            raise InventoryError([Diagnostic("roster file not found", Location(shown))]) from None
        if size > limits.max_csv_bytes:
            raise InventoryError([Diagnostic(
                f"roster file is {size:,} bytes, more than the limit of {limits.max_csv_bytes:,} bytes",
                Location(shown))])
        if not path.is_file():
            raise InventoryError([Diagnostic("roster path is not a regular file", Location(shown))])
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise InventoryError([Diagnostic(f"cannot read roster file: {exc.strerror}", Location(shown))]) from None
        with handle:
            lines = _bounded_lines(handle, shown, limits)
            first = next(lines, None)
            skipped = 0
            marker = first.strip() if first is not None else ""
            if marker.startswith("sep=") and len(marker) == 5 and marker[4] in SEPARATORS:
                separator, skipped, first = marker[4], 1, next(lines, None)     # Excel's "sep=;" line
            else:
                separator = sniff_separator(first or "")
            reader = csv.reader(itertools.chain([first] if first is not None else [], lines),
                                delimiter=separator, strict=True)
            try:
                names, self.columns = _header(next(reader, None), shown, limits, skipped + 1, separator)
                self._rows = _Rows(self.columns)
                width = len(names)
                row_no = 0
                for record in reader:
                    if len(record) != width or not record[0] or record[0].isspace():
                        if _blank(record):
                            continue
                        if len(record) != width:
                            raise _field_count(record, width, separator, row_no + 1,
                                               Location(shown, reader.line_num + skipped, 1))
                    row_no += 1
                    yield row_no, reader.line_num + skipped, record
            except csv.Error as exc:
                raise InventoryError([Diagnostic(f"CSV syntax error: {exc}",
                                                 Location(shown, reader.line_num + skipped, 1))]) from None

    def row(self, row_no: int, line: int, record: list[str]) -> CsvRow:
        shape, data, problems = self._rows.data(record, self.shown, line, row_no)
        return CsvRow(row_no, line, data, self.shown, self.columns, problems, shape)


def _blank(record: list[str]) -> bool:
    """Is every cell of the record blank (spaces at most)? Such a row is skipped."""
    return not any(cell and not cell.isspace() for cell in record)


def _field_count(record: list[str], width: int, separator: str, row_no: int, where: Location) -> InventoryError:
    hint = ""
    if separator == ";" and len(record) > width:
        hint = ("with ';' between the columns, a cell that lists several groups or devices is "
                'quoted: "desktop;laptop"')
    return InventoryError([Diagnostic(f"row {row_no} has {len(record)} fields, the header has {width}", where,
                                      hint=hint)])


def iter_csv_users(path: Path, shown: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[CsvRow]:
    """Stream a CSV roster row by row. Structural problems raise :class:`InventoryError`."""
    records = CsvRecords(path, shown, limits)
    for row_no, line, record in records:
        yield records.row(row_no, line, record)


def sniff_separator(header: str) -> str:
    """The separator of ``SEPARATORS`` that splits the header line into the most known column names
    (a tie, or none known: the first of them)."""
    def known(separator: str) -> int:
        try:
            cells = next(csv.reader([header], delimiter=separator), [])
        except csv.Error:
            return 0
        return sum(cell.strip() in CSV_COLUMNS for cell in cells)
    return max(SEPARATORS, key=lambda sep: (known(sep), -SEPARATORS.index(sep)))


def _header(header: list[str] | None, shown: str, limits: Limits, line: int = 1,
            separator: str = ",") -> tuple[list[str], dict[str, int]]:
    """The header's column names, and each known column's 1-based index; problems raise InventoryError."""
    if header is None:
        raise InventoryError([Diagnostic("roster is empty: it needs a header row", Location(shown, line, 1),
                                         hint="columns: " + ", ".join(CSV_COLUMNS))])
    if len(header) > limits.max_csv_columns:
        raise InventoryError([Diagnostic(
            f"header has {len(header):,} columns, more than the limit of {limits.max_csv_columns}",
            Location(shown, line, 1))])
    names = [h.strip() for h in header]
    if len(names) == 1 and names[0] not in CSV_COLUMNS:
        other = _other_separator(names[0])
        if other is not None:
            raise InventoryError([Diagnostic(
                f"the header is one column {excerpt(names[0], 40)}: its names seem separated by {other!r}",
                Location(shown, line, 1),
                hint="separate the columns with ',', ';' or a tab, as a spreadsheet's \"CSV UTF-8\" does")])
    problems = []
    columns: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if name not in CSV_COLUMNS:
            problems.append(Diagnostic(f"unknown column {excerpt(name, 40)}", Location(shown, line, index),
                                       hint=close_matches(name, CSV_COLUMNS) or "columns: " + ", ".join(CSV_COLUMNS)))
        elif name in columns:
            problems.append(Diagnostic(f"column {excerpt(name, 40)} appears twice", Location(shown, line, index)))
        else:
            columns[name] = index
    if "email" not in columns and not problems:
        problems.append(Diagnostic("the header has no 'email' column", Location(shown, line, 1)))
    if "clients" in columns and "devices" not in columns and not problems:
        problems.append(Diagnostic("the 'clients' column needs a 'devices' column: it lists each device's clients",
                                   Location(shown, line, columns["clients"])))
    if problems:
        raise InventoryError(problems)
    return names, columns


def _other_separator(text: str) -> str | None:
    """The character between the known column names of a header read as one column (``email|name``)."""
    for name in sorted(CSV_COLUMNS, key=len, reverse=True):
        at = text.find(name)
        if at >= 0:
            rest = text[at + len(name):].lstrip(" ")
            if rest and not rest[0].isalnum() and rest[0] not in "_-\"'":
                return rest[0]
            before = text[:at].rstrip(" ")
            if before and not before[-1].isalnum() and before[-1] not in "_-\"'":
                return before[-1]
    return None


OWN_COLUMNS = frozenset({"email", "name", "login"})
"""The columns that are the user's own; a large roster repeats the others (groups, devices, clients, language)."""


class _Rows:
    """Rows to user data. The cells besides the user's own are parsed once for every row that has the same ones: such
    rows share their lists (``groups``, ``devices``), which nothing changes."""

    MAX_REMEMBERED = 4096

    def __init__(self, columns: dict[str, int]):
        self.columns = columns
        self.shared = tuple(index - 1 for name, index in columns.items() if name not in OWN_COLUMNS)
        self.remembered: dict[tuple[str, ...], dict[str, Any]] = {}

    def data(self, record: list[str], shown: str, line: int,
             row: int) -> tuple[tuple[str, ...], dict[str, Any], tuple[Diagnostic, ...]]:
        shape = tuple(record[index] for index in self.shared)
        parsed = self.remembered.get(shape)
        if parsed is None:
            data, problems = _row_data(record, self.columns, shown, line, row)
            if not problems:
                if len(self.remembered) >= self.MAX_REMEMBERED:
                    self.remembered.clear()
                self.remembered[shape] = {key: value for key, value in data.items() if key not in OWN_COLUMNS}
            return shape, data, problems
        data = {}
        for name, index in self.columns.items():     # in the order of the columns, as _row_data
            if name in parsed:
                data[name] = parsed[name]
            elif name in OWN_COLUMNS:
                cell = record[index - 1].strip()
                if cell:
                    data[name] = cell
        return shape, data, ()


def _row_data(record: list[str], columns: dict[str, int], shown: str, line: int,
              row: int) -> tuple[dict[str, Any], tuple[Diagnostic, ...]]:
    """One row's non-empty cells by column; ``groups``, ``devices`` and ``clients`` are lists separated by
    ``;``, and ``clients`` goes into the devices. Problems of the ``clients`` cell are returned."""
    data: dict[str, Any] = {}
    for name, index in columns.items():
        cell = record[index - 1].strip()
        if cell == "" or name == "clients":
            continue
        if name == "groups":
            data[name] = [g.strip() for g in cell.split(";") if g.strip()]
        elif name == "devices":
            data[name] = [_csv_device(d.strip()) for d in cell.split(";") if d.strip()]
        else:
            data[name] = cell
    problems: tuple[Diagnostic, ...] = ()
    if "clients" in columns and record[columns["clients"] - 1].strip() and data.get("devices"):
        where = Location(shown, line, columns["clients"])
        data["devices"], problems = _with_clients(data["devices"], record[columns["clients"] - 1], where, row)
    return data, problems


def _with_clients(devices: list[Any], cell: str, where: Location,
                  row: int) -> tuple[list[Any], tuple[Diagnostic, ...]]:
    """The ``clients`` cell: one entry for every device of the row, or one per device (``;`` between
    entries, in the order of ``devices``); an entry lists client names separated by blanks, and an empty
    entry keeps the profile's clients."""
    entries = [entry.split() for entry in cell.split(";")]
    if len(entries) not in (1, len(devices)):
        return devices, (Diagnostic(
            f"{len(entries)} entries for {len(devices)} devices", where, f"row {row}, column 'clients'",
            "give one entry for all devices of the row, or one per device, separated by ';', "
            "e.g. 'thunderbird outlook;apple'"),)
    problems = []
    for number, names in enumerate(entries, start=1):
        for name in names:
            if name not in CLIENTS:
                problems.append(Diagnostic(
                    f"{excerpt(name, 40)} is not a client", where, f"row {row}, column 'clients', entry {number}",
                    close_matches(name, CLIENTS) or "clients: " + ", ".join(CLIENTS)))
    if problems:
        return devices, tuple(problems)
    result = []
    for index, device in enumerate(devices):
        names = entries[index if len(entries) > 1 else 0]
        if not names:
            result.append(device)
            continue
        spec = {"profile": device} if isinstance(device, str) else dict(device)
        spec["clients"] = list(dict.fromkeys(names))
        result.append(spec)
    return result, ()


def _csv_device(text: str) -> Any:
    """``laptop`` is a profile name; ``anna-mac:laptop`` names a device with a profile."""
    if ":" in text:
        name, _, profile = text.partition(":")
        return {"name": name.strip(), "profile": profile.strip()}
    return text
