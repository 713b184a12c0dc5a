"""Read the inventory's files into plain Python data plus a position map.

Every value read from YAML keeps the place it came from (``positions`` maps a
field path tuple to a :class:`Location`), so that later stages can point at the
exact line. Input is untrusted: size, nesting depth, alias expansion and line
length are bounded, duplicate keys are errors, and bytes must be UTF-8 text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Diagnostic, FieldPath, InventoryError, Location, excerpt, shown_path
from .bounds import DEFAULT_LIMITS, Limits


def format_path(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.isprintable():           # a key with control characters is shown escaped, never raw
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Document:
    """A loaded YAML document and the position of each of its values."""

    data: Any
    positions: dict[FieldPath, Location]
    file: str
    key_positions: dict[FieldPath, Location] = field(default_factory=dict)

    def where_key(self, path: FieldPath) -> Location:
        """The position of the key that introduces ``path`` (falls back to its value)."""
        loc = self.key_positions.get(tuple(path))
        return loc if loc is not None else self.where(path)

    def where(self, path: FieldPath) -> Location:
        """The position of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            loc = self.positions.get(path)
            if loc is not None:
                return loc
            path = path[:-1]
        return self.positions.get((), Location(self.file, 1, 1))


def _read_text(path: Path, max_bytes: int, kind: str) -> str:
    shown = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InventoryError([Diagnostic(f"{kind} file not found", Location(shown))]) from None
    except OSError as exc:
        raise InventoryError([Diagnostic(f"cannot read {kind} file: {exc.strerror}", Location(shown))]) from None
    if not path.is_file():
        raise InventoryError([Diagnostic(f"{kind} path is not a regular file", Location(shown))])
    if size > max_bytes:
        raise InventoryError([Diagnostic(
            f"{kind} file is {size:,} bytes, more than the limit of {max_bytes:,} bytes",
            Location(shown), hint="split the roster or raise the limit")])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InventoryError([Diagnostic(f"cannot read {kind} file: {exc.strerror}", Location(shown))]) from None
    return decode_text(raw, shown, kind)


def decode_text(raw: bytes, shown: str, kind: str) -> str:
    """Decode UTF-8 (optional BOM), refusing binary data with the place of the first bad byte."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        col = nul - (raw.rfind(b"\n", 0, nul) + 1) + 1
        raise InventoryError([Diagnostic(f"{kind} file contains a NUL byte: binary data, not text",
                                         Location(shown, line, col))])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InventoryError([Diagnostic(
            f"{kind} file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            Location(shown, line, col), hint="save the file as UTF-8")]) from None


class _TooManyNodes(yaml.YAMLError):
    def __init__(self, limit: int):
        super().__init__(f"the document holds more than {limit:,} values")


class _DepthLimitedLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses documents nested deeper than ``max_depth``."""

    max_depth = DEFAULT_LIMITS.max_depth
    max_nodes = DEFAULT_LIMITS.max_nodes

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:  # PyYAML hook
        self._depth += 1
        self._nodes += 1
        if self._nodes > self.max_nodes:
            raise _TooManyNodes(self.max_nodes)
        if self._depth > self.max_depth:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.YAMLError(f"nesting deeper than {self.max_depth} levels at line {mark.line + 1}")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _mark_loc(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class _Converter:
    """Turn a composed YAML node graph into data, recording positions and problems."""

    def __init__(self, loader: yaml.SafeLoader, file: str, limits: Limits):
        self.loader = loader
        self.file = file
        self.limits = limits
        self.positions: dict[FieldPath, Location] = {}
        self.key_positions: dict[FieldPath, Location] = {}
        self.problems: list[Diagnostic] = []

    def expanded_size(self, root: yaml.Node) -> tuple[int, int]:
        """Node count with aliases expanded, and without; linear thanks to memoisation."""
        memo: dict[int, int] = {}
        unique = 0
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            key = id(node)
            if key in memo and not done:
                continue
            children = self._children(node)
            if not done:
                if key in memo:
                    continue
                memo[key] = -1  # in progress
                unique += 1
                stack.append((node, True))
                for child in children:
                    if id(child) not in memo:
                        stack.append((child, False))
            else:
                memo[key] = 1 + sum(max(memo.get(id(c), 1), 1) for c in children)
        return memo[id(root)], unique

    @staticmethod
    def _children(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        return []

    def convert(self, node: yaml.Node, path: FieldPath) -> Any:
        self.positions[path] = _mark_loc(self.file, node.start_mark)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, str) and len(value) > self.limits.max_value_chars:
            self.problems.append(Diagnostic(
                f"value is {len(value):,} characters long, more than the limit of {self.limits.max_value_chars:,}",
                self.positions[path], format_path(path)))
        return value

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        explicit: set[str] = set()
        merges: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merges.append((key_node, value_node))
                continue
            key = self.loader.construct_object(key_node, deep=True) if isinstance(key_node, yaml.ScalarNode) else None
            key_loc = _mark_loc(self.file, key_node.start_mark)
            if not isinstance(key, str):
                self.problems.append(Diagnostic(
                    f"mapping keys must be text, found {key!r}" if key is not None else "mapping keys must be text",
                    key_loc, format_path(path)))
                continue
            if key in explicit:
                first = self.positions.get(path + (key,))
                self.problems.append(Diagnostic(
                    f"duplicate key {key!r}", key_loc, format_path(path + (key,)),
                    hint=f"first defined at line {first.line}" if first else ""))
                continue
            explicit.add(key)
            self.key_positions[path + (key,)] = key_loc
            result[key] = self.convert(value_node, path + (key,))
        for key_node, value_node in merges:
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    self.problems.append(Diagnostic("a merge key '<<' needs a mapping or a list of mappings",
                                                    _mark_loc(self.file, key_node.start_mark), format_path(path)))
                    continue
                merged = self._mapping(source, path)
                for key, value in merged.items():
                    if key not in result:
                        result[key] = value
        return result


def load_yaml(path: Path, kind: str = "inventory", limits: Limits = DEFAULT_LIMITS,
              shown: str | None = None) -> Document:
    """Load one YAML document with positions. Raises :class:`InventoryError`."""
    shown = shown or shown_path(path)
    text = _read_text(path, limits.max_yaml_bytes, kind)
    return load_yaml_text(text, shown, limits)


def load_yaml_text(text: str, shown: str, limits: Limits = DEFAULT_LIMITS) -> Document:
    loader_cls = type("Loader", (_DepthLimitedLoader,), {"max_depth": limits.max_depth,
                                                         "max_nodes": limits.max_nodes})
    try:
        loader = loader_cls(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise InventoryError([Diagnostic(
            f"YAML syntax error: the character U+{exc.character:04X} is not allowed in YAML",
            Location(shown, line, col), hint="remove control characters; write them as escapes if meant")]) from None
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _mark_loc(shown, mark) if mark else Location(shown)
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        offending = text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
        hint = f"offending line: {excerpt(offending.strip())}" if offending.strip() else ""
        raise InventoryError([Diagnostic(f"YAML syntax error: {message}", loc, hint=hint)]) from None
    except _TooManyNodes as exc:
        raise InventoryError([Diagnostic(str(exc), Location(shown, 1, 1),
                                         hint="put long user lists into a CSV roster (users_file)")]) from None
    except yaml.YAMLError as exc:
        raise InventoryError([Diagnostic(f"YAML error: {exc}", Location(shown))]) from None
    except RecursionError:
        raise InventoryError([Diagnostic("document nested too deeply", Location(shown))]) from None
    finally:
        loader.dispose()
    if root is None:
        return Document({}, {(): Location(shown, 1, 1)}, shown, {})
    converter = _Converter(loader, shown, limits)
    expanded, unique = converter.expanded_size(root)
    if expanded - unique > limits.max_alias_expansion:
        raise InventoryError([Diagnostic(
            f"YAML aliases expand to {expanded:,} values ({unique:,} written): refused as an alias bomb",
            Location(shown, 1, 1), hint=f"the limit is {limits.max_alias_expansion:,} values added by aliases")])
    try:
        data = converter.convert(root, ())
    except yaml.MarkedYAMLError as exc:   # e.g. an unknown tag such as !python/object
        mark = exc.problem_mark or exc.context_mark
        raise InventoryError([Diagnostic(f"YAML error: {exc.problem or exc.context}",
                                         _mark_loc(shown, mark) if mark else Location(shown))]) from None
    if converter.problems:
        raise InventoryError(converter.problems)
    return Document(data, converter.positions, shown, converter.key_positions)
