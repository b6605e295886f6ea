"""Checked reading of parsed files (the TOML config, the JSON bundle manifest): one wording for every problem.

A `Check` knows what it expects ('an integer in 1..16') and turns a parsed value into the field's value or
raises `Invalid`; `message()` words every problem the same way, `FIELD: expected X, got Y`, and each reader
puts its own place in front (the config file and line, the manifest file). A dataclass declares each field
once, with its check and its key in the file (`checked`, `section`, `computed`); `read_fields` walks those
fields, so adding a field is one edit and the file format cannot forget it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

SHOW_MAX_CHARS = 60
"""Longer values are cut in messages: an error stays one readable line."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""The value of a key that is not there at all (shown as 'nothing')."""


def show(value: Any) -> str:
    """A value as it appears in a message: JSON (true, "text", [1, 2]), shortened; a missing one as 'nothing'."""
    if value is MISSING:
        return "nothing"
    text = json.dumps(value, default=str)
    return text if len(text) <= SHOW_MAX_CHARS else text[: SHOW_MAX_CHARS - 3] + "..."


def message(label: str, expected: str, value: Any) -> str:
    """The one wording: `LABEL: expected EXPECTED, got VALUE`."""
    return f"{label}: expected {expected}, got {show(value)}"


class Invalid(ValueError):
    """A value that fails its check: where (key path), what was expected, what was found."""

    def __init__(self, path: Sequence[str], expected: str, value: Any) -> None:
        self.path, self.expected, self.value = tuple(path), expected, value
        super().__init__(message(".".join(self.path) or "(top level)", expected, value))


class UnknownKey(ValueError):
    """A key that no field reads (only where unknown keys are errors)."""

    def __init__(self, path: Sequence[str], allowed: Sequence[str]) -> None:
        self.path, self.allowed = tuple(path), tuple(allowed)
        super().__init__(f"unknown key {'.'.join(self.path)} (allowed: {', '.join(self.allowed)})")


# -- checks -------------------------------------------------------------------------------------------------


class Check:
    """Turns a parsed value into a field's value, or raises Invalid naming `expected`."""

    expected = "a value"

    def __call__(self, value: Any, path: Sequence[str] = ()) -> Any:
        return value

    def fail(self, value: Any, path: Sequence[str]) -> Invalid:
        return Invalid(path, self.expected, value)

    def parse_text(self, text: str) -> Any:
        """The value a command-line argument stands for (before the check); Invalid if it is not one."""
        return text


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Integer(Check):
    """An integer within [lo, hi] (either bound may be open-ended: None)."""

    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self.lo, self.hi = lo, hi
        if lo is not None and hi is not None:
            self.expected = f"an integer in {lo}..{hi}"
        elif lo == 1:
            self.expected = "a positive integer"
        elif lo is not None:
            self.expected = f"an integer >= {lo}"
        elif hi is not None:
            self.expected = f"an integer <= {hi}"
        else:
            self.expected = "an integer"

    def __call__(self, value: Any, path: Sequence[str] = ()) -> int:
        if not _is_int(value) or (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise self.fail(value, path)
        return value

    def parse_text(self, text: str) -> Any:
        try:
            return int(text)
        except ValueError:
            raise self.fail(text, ()) from None


class Number(Check):
    """A finite number within its bounds (open or closed, or none), returned as a float."""

    def __init__(self, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False, what: str = "a number") -> None:
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open
        if lo is not None and hi is not None:
            self.expected = f"{what} in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        elif lo is not None:
            self.expected = f"{what} {'>' if lo_open else '>='} {lo:g}"
        elif hi is not None:
            self.expected = f"{what} {'<' if hi_open else '<='} {hi:g}"
        else:
            self.expected = what

    def __call__(self, value: Any, path: Sequence[str] = ()) -> float:
        if not _is_number(value):
            raise self.fail(value, path)
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            raise self.fail(value, path)
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            raise self.fail(value, path)
        return float(value)

    def parse_text(self, text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            raise self.fail(text, ()) from None


class Boolean(Check):
    expected = "true or false"

    def __call__(self, value: Any, path: Sequence[str] = ()) -> bool:
        if not isinstance(value, bool):
            raise self.fail(value, path)
        return value


class String(Check):
    """A string; `non_empty`: not blank; `pattern`: matching it whole; `what`: how to call it in messages."""

    def __init__(self, *, non_empty: bool = False, pattern: str | None = None, what: str | None = None) -> None:
        self.non_empty, self.pattern = non_empty, re.compile(pattern) if pattern else None
        self.expected = what or ("a non-empty string" if non_empty else "a string")

    def __call__(self, value: Any, path: Sequence[str] = ()) -> str:
        if not isinstance(value, str) or (self.non_empty and not value.strip()):
            raise self.fail(value, path)
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise self.fail(value, path)
        return value


class PrintableAscii(Check):
    """1 to `max_chars` printable ASCII characters (what a CEC OSD name may hold)."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.expected = f"1 to {max_chars} printable ASCII characters"

    def __call__(self, value: Any, path: Sequence[str] = ()) -> str:
        if (not isinstance(value, str) or not 1 <= len(value) <= self.max_chars
                or not all(32 <= ord(c) < 127 for c in value)):
            raise self.fail(value, path)
        return value


class OneOf(Check):
    """One of a fixed set of strings."""

    def __init__(self, options: Sequence[str]) -> None:
        self.options = tuple(options)
        self.expected = "one of " + ", ".join(json.dumps(o) for o in self.options)

    def __call__(self, value: Any, path: Sequence[str] = ()) -> str:
        if not isinstance(value, str) or value not in self.options:
            raise self.fail(value, path)
        return value


class Exactly(Check):
    """This one value (a format name, a format version); `note` says why in the message."""

    def __init__(self, value: Any, note: str = "") -> None:
        self.value = value
        self.expected = json.dumps(value) + (f" ({note})" if note else "")

    def __call__(self, value: Any, path: Sequence[str] = ()) -> Any:
        if type(value) is not type(self.value) or value != self.value:
            raise self.fail(value, path)
        return value


class Nullable(Check):
    """`check`, or null (None)."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.expected = f"{check.expected} or null"

    def __call__(self, value: Any, path: Sequence[str] = ()) -> Any:
        if value is None:
            return None
        try:
            return self.check(value, path)
        except Invalid:
            raise self.fail(value, path) from None


class StringList(Check):
    """A list of non-blank strings, returned as a tuple; optionally distinct, from `choices`, at least
    `min_items` long."""

    def __init__(self, *, min_items: int = 0, distinct: bool = False, choices: Sequence[str] | None = None,
                 what: str = "strings") -> None:
        self.min_items, self.distinct = min_items, distinct
        self.choices = tuple(choices) if choices is not None else None
        size = {0: "a list of ", 1: "a non-empty list of "}.get(min_items, f"a list of at least {min_items} ")
        items = ("values from " + ", ".join(json.dumps(c) for c in self.choices) if self.choices is not None
                 else f"non-empty {what}")
        self.expected = size + ("distinct " if distinct else "") + items

    def __call__(self, value: Any, path: Sequence[str] = ()) -> tuple[str, ...]:
        if not isinstance(value, list) or len(value) < self.min_items:
            raise self.fail(value, path)
        for item in value:
            if not isinstance(item, str) or not item.strip() or (self.choices is not None and item not in self.choices):
                raise self.fail(value, path)
        if self.distinct and len(set(value)) != len(value):
            raise self.fail(value, path)
        return tuple(value)


class ListOf(Check):
    """A list whose every item passes `item` (at least `min_items` of them), returned as a tuple."""

    def __init__(self, item: Check, *, min_items: int = 0, what: str) -> None:
        self.item, self.min_items, self.expected = item, min_items, what

    def __call__(self, value: Any, path: Sequence[str] = ()) -> tuple[Any, ...]:
        if not isinstance(value, list) or len(value) < self.min_items:
            raise self.fail(value, path)
        try:
            return tuple(self.item(v, path) for v in value)
        except Invalid:
            raise self.fail(value, path) from None


class Table(Check):
    """A table (JSON object) with free keys, or keys from `keys`; every value passes `values` (if given).
    Errors name the entry: decision.thresholds."Thumbs Up"."""

    def __init__(self, values: Check | None = None, *, keys: Sequence[str] | None = None,
                 word: str = "a table") -> None:
        self.values, self.keys, self.expected = values, tuple(keys) if keys is not None else None, word

    def __call__(self, value: Any, path: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(value, path)
        out = {}
        for key, item in value.items():
            if self.keys is not None and key not in self.keys:
                raise UnknownKey(tuple(path) + (key,), self.keys)
            if not key.strip():
                raise Invalid(tuple(path) + (key,), "a non-empty name", key)
            out[key] = self.values(item, tuple(path) + (key,)) if self.values is not None else item
        return out


# -- fields that say how they are read ----------------------------------------------------------------------

_KIND = "validate.kind"
_CHECK = "validate.check"
_KEY = "validate.key"
_REQUIRED = "validate.required"
_SECTION = "validate.section"


def checked(check: Check, *, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING,
            key: str | Sequence[str] | None = None, required: bool | None = None) -> Any:
    """A dataclass field read from a file through `check`; `key`: its name (or path of names, e.g.
    ('repeat', 'enabled') for a key in a sub-table) when it differs from the field's name; `required`: must be
    in the file (default: when the field has no default)."""
    metadata = {_KIND: "checked", _CHECK: check, _KEY: (key,) if isinstance(key, str) else key,
                _REQUIRED: required}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def section(cls: type, *, key: str | None = None) -> Any:
    """A dataclass field holding another such dataclass, read from the sub-table `key` (default its name)."""
    return dataclasses.field(default_factory=cls, metadata={_KIND: "section", _SECTION: cls,
                                                            _KEY: (key,) if key else None})


def computed(*, default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field the program sets (or reads by hand), not `read_fields`: no key of its own."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={_KIND: "computed"})


class SchemaError(TypeError):
    """A dataclass field that does not say how it is read: a programming error, not a user's."""


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """How one field is read: its key path (relative to its table), check or section class."""

    name: str
    key: tuple[str, ...]
    check: Check | None
    section: type | None
    required: bool


def field_specs(cls: type) -> Iterator[FieldSpec]:
    """The read fields of dataclass `cls`, in order (computed ones left out); SchemaError for a field that
    has no `checked`/`section`/`computed` declaration."""
    for f in dataclasses.fields(cls):
        kind = f.metadata.get(_KIND)
        if kind is None:
            raise SchemaError(f"{cls.__name__}.{f.name}: declare it with checked(), section() or computed() "
                              f"(edge.validate) so that it is read from the file")
        if kind == "computed":
            continue
        key = f.metadata[_KEY] or (f.name,)
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        required = f.metadata.get(_REQUIRED)
        yield FieldSpec(name=f.name, key=tuple(key), check=f.metadata.get(_CHECK), section=f.metadata.get(_SECTION),
                        required=(not has_default) if required is None else required)


def key_paths(cls: type, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key `read_fields` reads for `cls` (sections recursed; a free table: the table itself)."""
    paths: list[tuple[str, ...]] = []
    for spec in field_specs(cls):
        if spec.section is not None:
            paths += key_paths(spec.section, prefix + spec.key)
        else:
            paths.append(prefix + spec.key)
    return paths


@functools.cache
def _layout(cls: type) -> dict[str, FieldSpec | dict[str, FieldSpec]]:
    """First key part -> the field read there, or (a sub-table of several fields) second part -> field.
    Checks the sections' fields too, so that a field without a declaration fails every read, not only reads of
    files that happen to set its table."""
    layout: dict[str, Any] = {}
    for spec in field_specs(cls):
        if spec.section is not None:
            _layout(spec.section)
        taken = layout.get(spec.key[0])
        if len(spec.key) > 2:
            raise SchemaError(f"{cls.__name__}.{spec.name}: keys nest at most one sub-table deep")
        if taken is not None and (len(spec.key) == 1 or isinstance(taken, FieldSpec) or spec.key[1] in taken):
            raise SchemaError(f"{cls.__name__}.{spec.name}: key {'.'.join(spec.key)} is read by another field too")
        if len(spec.key) == 1:
            layout[spec.key[0]] = spec
        else:
            layout.setdefault(spec.key[0], {})[spec.key[1]] = spec
    return layout


def read_field(spec: FieldSpec, value: Any, path: tuple[str, ...], *, strict: bool = True,
               table: str = "a table") -> Any:
    """One field's value from its raw value at `path`."""
    if spec.section is not None:
        return spec.section(**read_fields(spec.section, value, path, strict=strict, table=table))
    assert spec.check is not None
    return spec.check(value, path)


def read_fields(cls: type, data: Any, path: tuple[str, ...] = (), *, strict: bool = True,
                table: str = "a table") -> dict[str, Any]:
    """Read the fields of dataclass `cls` from the parsed table `data` (keys in the file's order): field name
    -> value for each key present. Raises Invalid (a bad or missing required value) or, when `strict`,
    UnknownKey. `table` names a table in messages ('a table' in TOML, 'an object' in JSON)."""
    if not isinstance(data, dict):
        raise Invalid(path, table, data)
    layout = _layout(cls)
    out: dict[str, Any] = {}
    for key, raw in data.items():
        entry = layout.get(key)
        if entry is None:
            if strict:
                raise UnknownKey(path + (key,), list(layout))
            continue
        if isinstance(entry, FieldSpec):
            out[entry.name] = read_field(entry, raw, path + (key,), strict=strict, table=table)
            continue
        if not isinstance(raw, dict):
            raise Invalid(path + (key,), table, raw)
        for sub, value in raw.items():
            spec = entry.get(sub)
            if spec is None:
                if strict:
                    raise UnknownKey(path + (key, sub), list(entry))
                continue
            out[spec.name] = read_field(spec, value, path + (key, sub), strict=strict, table=table)
    for spec in field_specs(cls):
        if spec.required and spec.name not in out:
            expected = table if spec.section is not None else spec.check.expected  # type: ignore[union-attr]
            raise Invalid(path + spec.key, expected, MISSING)
    return out
