"""The CSV roster: users read row by row, so that a large roster never sits in memory whole.

Input is untrusted: file size, line length and column count are bounded, bytes must be
UTF-8 text, and every problem names the row, the line and the column.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Diagnostic, FieldPath, InventoryError, Location, close_matches, excerpt
from .bounds import DEFAULT_LIMITS, Limits

CSV_COLUMNS = ("email", "name", "login", "groups", "devices", "language")


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One roster row as user data, with the place of each column."""

    row: int           # 1-based data row number (the header is row 0)
    line: int          # physical line number in the file
    data: dict[str, Any]
    file: str
    columns: dict[str, int]      # column name -> 1-based column index

    def where(self, column: str | None) -> Location:
        return Location(self.file, self.line, self.columns.get(column, 1) if column else 1)

    def where_path(self, path: FieldPath) -> Location:
        """The place of a field path of this row's user: the cell of its column."""
        return self.where(str(path[0]) if path else None)

    def field(self, path: FieldPath) -> str:
        """``row 3, column 'devices', entry 2``."""
        if not path:
            return f"row {self.row}"
        entry = f", entry {path[1] + 1}" if len(path) > 1 and isinstance(path[1], int) else ""
        return f"row {self.row}, column {path[0]!r}{entry}"


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


def iter_csv_users(path: Path, shown: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[CsvRow]:
    """Stream a CSV roster row by row. Structural problems raise :class:`InventoryError`."""
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
        reader = csv.reader(lines, strict=True)
        try:
            names, columns = _header(next(reader, None), shown, limits)
            row_no = 0
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue
                row_no += 1
                if len(record) != len(names):
                    raise InventoryError([Diagnostic(
                        f"row {row_no} has {len(record)} fields, the header has {len(names)}",
                        Location(shown, reader.line_num, 1))])
                yield CsvRow(row_no, reader.line_num, _row_data(record, columns), shown, columns)
        except csv.Error as exc:
            raise InventoryError([Diagnostic(f"CSV syntax error: {exc}", Location(shown, reader.line_num, 1))]) from None


def _header(header: list[str] | None, shown: str, limits: Limits) -> tuple[list[str], dict[str, int]]:
    """The header's column names, and each known column's 1-based index; problems raise InventoryError."""
    if header is None:
        raise InventoryError([Diagnostic("roster is empty: it needs a header row", Location(shown, 1, 1),
                                         hint="columns: " + ", ".join(CSV_COLUMNS))])
    if len(header) > limits.max_csv_columns:
        raise InventoryError([Diagnostic(
            f"header has {len(header):,} columns, more than the limit of {limits.max_csv_columns}",
            Location(shown, 1, 1))])
    names = [h.strip() for h in header]
    problems = []
    columns: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if name not in CSV_COLUMNS:
            problems.append(Diagnostic(f"unknown column {excerpt(name, 40)}", Location(shown, 1, index),
                                       hint=close_matches(name, CSV_COLUMNS) or "columns: " + ", ".join(CSV_COLUMNS)))
        elif name in columns:
            problems.append(Diagnostic(f"column {excerpt(name, 40)} appears twice", Location(shown, 1, index)))
        else:
            columns[name] = index
    if "email" not in columns and not problems:
        problems.append(Diagnostic("the header has no 'email' column", Location(shown, 1, 1)))
    if problems:
        raise InventoryError(problems)
    return names, columns


def _row_data(record: list[str], columns: dict[str, int]) -> dict[str, Any]:
    """One row's non-empty cells by column; ``groups`` and ``devices`` are lists separated by ``;``."""
    data: dict[str, Any] = {}
    for name, index in columns.items():
        cell = record[index - 1].strip()
        if cell == "":
            continue
        if name == "groups":
            data[name] = [g.strip() for g in cell.split(";") if g.strip()]
        elif name == "devices":
            data[name] = [_csv_device(d.strip()) for d in cell.split(";") if d.strip()]
        else:
            data[name] = cell
    return data


def _csv_device(text: str) -> Any:
    """``laptop`` is a profile name; ``anna-mac:laptop`` names a device with a profile."""
    if ":" in text:
        name, _, profile = text.partition(":")
        return {"name": name.strip(), "profile": profile.strip()}
    return text
