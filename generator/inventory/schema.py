"""JSON Schema validation, with every error mapped back to its place in the input."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from ..errors import Diagnostic, FieldPath, Where, close_matches
from ..resources import data_dir
from .read import format_path

INVENTORY_ID = "urn:mailprofiles:schema:inventory"


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    folder = data_dir("schemas")
    result: dict[str, dict[str, Any]] = {}
    for name in ("inventory", "profile"):
        with open(folder / f"{name}.schema.json", encoding="utf-8") as handle:
            result[name] = json.load(handle)
    return result


@cache
def _registry() -> Registry:
    schemas = _schemas()
    return Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values())


def _inline(node: Any, registry: Registry, base: str) -> Any:
    """Replace every ``$ref`` by its target (our schemas are not recursive).

    Resolving references is most of jsonschema's cost per instance; validating a
    100,000-row roster against an inlined schema is several times faster.
    """
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            uri, _, fragment = ref.partition("#")
            resolved = registry.resolver(base_uri=base).lookup(ref)
            inner = _inline(resolved.contents, registry, uri or base)
            rest = {k: _inline(v, registry, base) for k, v in node.items() if k != "$ref"}
            return {**inner, **rest} if rest else inner
        return {k: _inline(v, registry, base) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, registry, base) for v in node]
    return node


def _is_integer(checker: object, instance: object) -> bool:
    """An integer is an int: YAML's ``993.0`` is a float, and the renderers would write it as one."""
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


@cache
def validator(kind: str) -> Draft202012Validator:
    """``inventory``, ``profile`` or ``user`` (one roster entry)."""
    if kind == "user":
        schema, base = {"$ref": f"{INVENTORY_ID}#/$defs/user"}, INVENTORY_ID
    else:
        schema = _schemas()[kind]
        base = schema["$id"]
    inlined = _inline(schema, _registry(), base)
    inlined.pop("$id", None)
    validator: Draft202012Validator = _Validator(inlined)
    return validator


FieldName = Callable[[FieldPath], str]

_FAST_KEYWORDS = {"type", "additionalProperties", "required", "properties", "title", "description"}
_STRING_KEYWORDS = {"type", "minLength", "maxLength", "title", "description"}


class RowCheck:
    """Is a roster row valid against the user schema? Decided property by property, by the same validator.

    A row of a large roster repeats the values of many others (the same devices, the same groups):
    each property's value is checked once against its subschema and the answer reused, so a
    100,000-row roster does not go through the whole schema 100,000 times. Only the answer is
    decided here: a row that is not valid gets its diagnostics from the full validator, so the
    errors and their positions are exactly those of :func:`schema_diagnostics`.
    """

    MAX_REMEMBERED = 4096

    def __init__(self) -> None:
        schema: dict[str, Any] = validator("user").schema  # type: ignore[assignment]
        exact = set(schema) <= _FAST_KEYWORDS and schema.get("type") == "object" \
            and schema.get("additionalProperties") is False
        self.required = tuple(schema.get("required", ()))
        self.properties = {key: _Validator(sub) for key, sub in schema.get("properties", {}).items()} if exact else None
        self.remembered: dict[tuple[str, object], bool] = {}
        self.leaves: dict[tuple[str, object], bool] = {}     # the validator's answers for parts of values
        self.structure = {key: _Structure(sub, self.leaves) for key, sub in schema.get("properties", {}).items()} \
            if exact else {}
        # Properties that are plain strings with length bounds: checked by len() (code points, as the
        # validator counts them); a string property with any other keyword goes through the validator.
        self.lengths: dict[str, tuple[int, float]] = {}
        for key, sub in (schema.get("properties", {}) if exact else {}).items():
            if sub.get("type") == "string" and set(sub) <= _STRING_KEYWORDS:
                self.lengths[key] = (sub.get("minLength", 0), sub.get("maxLength", float("inf")))

    def valid(self, data: Any, shape: tuple[str, ...] | None = None) -> bool:
        """``shape``: the row's cells but the user's own (``roster.py``), which decide every value that is not a
        string: rows of one shape share the answer for those."""
        if self.properties is None or not isinstance(data, dict):
            return not any(True for _ in validator("user").iter_errors(data))
        if any(key not in data for key in self.required):
            return False
        for key, value in data.items():
            check = self.properties.get(key)
            if check is None:
                return False
            if isinstance(value, str):
                bounds = self.lengths.get(key)
                if bounds is not None:
                    if not bounds[0] <= len(value) <= bounds[1]:
                        return False
                    continue
                memo: tuple[str, object] = (key, ("str", value))
            else:
                memo = (key, _frozen(value) if shape is None else ("row", shape))
            answer = self.remembered.get(memo)
            if answer is None:
                if len(self.remembered) >= self.MAX_REMEMBERED:
                    self.remembered.clear()
                if len(self.leaves) >= self.MAX_REMEMBERED:
                    self.leaves.clear()
                answer = self.remembered[memo] = self.structure[key].valid(value)
            if not answer:
                return False
        return True


_TYPES: dict[str, type] = {"string": str, "object": dict, "array": list}


class _Structure:
    """Is a value valid against a subschema? Decided by its structure where the subschema only says the type, the
    keys, the length of strings and lists, the items, or one of branches told apart by their type (a list of
    devices, each a name or a mapping); anything else by the validator, whose answer is remembered per value. So a
    value that differs from the others only in a string (a device's name) costs no walk through the validator."""

    def __init__(self, schema: dict[str, Any], remembered: dict[tuple[str, object], bool]):
        self.remembered = remembered
        self.kind = "other"
        keys = set(schema) - {"title", "description"}
        kind = schema.get("type")
        if kind == "string" and keys <= {"type", "minLength", "maxLength"}:
            self.kind, self.low, self.high = "string", schema.get("minLength", 0), schema.get("maxLength", float("inf"))
        elif kind == "object" and keys <= {"type", "properties", "additionalProperties", "required"} \
                and schema.get("additionalProperties") is False:
            self.kind, self.required = "object", tuple(schema.get("required", ()))
            self.properties = {key: _Structure(sub, remembered) for key, sub in schema.get("properties", {}).items()}
        elif kind == "array" and keys <= {"type", "items", "minItems"} and isinstance(schema.get("items"), dict):
            self.kind, self.low, self.items = "array", schema.get("minItems", 0), _Structure(schema["items"], remembered)
        elif keys == {"oneOf"}:
            kinds = [branch.get("type") for branch in schema["oneOf"]]
            if all(k in _TYPES for k in kinds) and len(set(kinds)) == len(kinds):   # one branch per type
                self.kind = "one"
                self.branches = {_TYPES[str(k)]: _Structure(b, remembered) for k, b in zip(kinds, schema["oneOf"])}
        if self.kind == "other":
            self.validator = _Validator(schema)

    def valid(self, value: Any) -> bool:
        if self.kind == "string":
            return isinstance(value, str) and self.low <= len(value) <= self.high
        if self.kind == "object":
            return isinstance(value, dict) and all(key in value for key in self.required) and all(
                key in self.properties and self.properties[key].valid(item) for key, item in value.items())
        if self.kind == "array":
            return isinstance(value, list) and len(value) >= self.low and all(self.items.valid(v) for v in value)
        if self.kind == "one":
            return any(branch.valid(value) for kind, branch in self.branches.items() if isinstance(value, kind))
        memo = (f"{id(self)}", _frozen(value))
        answer = self.remembered.get(memo)
        if answer is None:
            answer = self.remembered[memo] = bool(self.validator.is_valid(value))
        return answer


def _frozen(value: Any) -> object:
    """A hashable value that equals another exactly when the JSON values are equal, types included."""
    if isinstance(value, dict):
        return ("map", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("list", tuple(_frozen(v) for v in value))
    return (type(value).__name__, value)


def schema_diagnostics(data: Any, kind: str, where: Where, field_name: FieldName = format_path,
                       key_where: Where | None = None, limit: int | None = None) -> list[Diagnostic]:
    """The schema problems of ``data`` as diagnostics, with file positions; at most ``limit`` of them.

    ``key_where`` gives the position of a mapping key (for unknown keys); defaults to ``where``.
    """
    out: list[Diagnostic] = []
    for error in validator(kind).iter_errors(data):
        for leaf in _leaves(error):
            out.append(_diagnostic(leaf, where, field_name, key_where or where))
        if limit is not None and len(out) >= limit:
            break
    return out


def _leaves(error: ValidationError) -> Iterable[ValidationError]:
    """For oneOf/anyOf, descend into the branch that fits the value's type."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        instance = error.instance
        fitting = [e for e in error.context if not (e.validator == "type" and not e.relative_path)]
        if fitting:
            for sub in fitting:
                yield from _leaves(sub)
            return
        kinds = sorted({str(e.validator_value) for e in error.context if e.validator == "type"})
        error.message = f"expected {' or '.join(kinds)}, found {_describe(instance)}"
    yield error


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _diagnostic(error: ValidationError, where: Where, field_name: FieldName, key_where: Where) -> Diagnostic:
    path: FieldPath = tuple(error.absolute_path)
    kind = error.validator
    hint = ""
    message = error.message
    schema: Any = error.schema           # jsonschema types these as unions of its own sentinels
    expected: Any = error.validator_value
    instance: Any = error.instance
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extras = sorted(k for k in instance if k not in allowed)
        key = extras[0] if extras else "?"
        path = path + (key,)
        message = f"unknown key {key!r}"
        hint = close_matches(key, allowed) or ("allowed keys: " + ", ".join(allowed))
        if len(extras) > 1:
            message += f" (and {len(extras) - 1} more: {', '.join(map(repr, extras[1:]))})"
        return Diagnostic(message, key_where(path), field_name(path), hint)
    elif kind == "required":
        missing = [k for k in expected if k not in instance]
        message = f"missing required key {missing[0]!r}" if missing else message
    elif kind == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        message = f"expected {wanted}, found {_describe(instance)}"
    elif kind == "enum":
        allowed = [str(v) for v in expected]
        message = f"{instance!r} is not one of {', '.join(map(repr, allowed))}"
        if isinstance(instance, str):
            hint = close_matches(instance, allowed)
    elif kind in ("minimum", "maximum"):
        low = schema.get("minimum")
        high = schema.get("maximum")
        message = f"{instance} is out of range {low}..{high}"
    elif kind == "uniqueItems":
        seen, dup = set(), None
        for item in instance:
            marker = json.dumps(item, sort_keys=True, default=str)
            if marker in seen:
                dup = item
                break
            seen.add(marker)
        message = f"{dup!r} is listed twice"
    elif kind == "minItems":
        message = "needs at least one entry"
    elif kind == "minLength":
        message = "must not be empty" if expected == 1 else f"is shorter than {expected} characters"
    elif kind == "maxLength":
        message = f"is longer than {expected} characters"
    return Diagnostic(message, where(path), field_name(path), hint)
