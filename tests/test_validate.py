"""edge.validate (one wording for every bad value), edge.errors.one_line and edge.vocab (one home each)."""

from __future__ import annotations

import ast
import copy
import dataclasses
import re
from pathlib import Path

import pytest

from edge import vocab
from edge.config import ConfigError, config_from_dict
from edge.errors import one_line
from edge.manifest import Manifest, ManifestError
from edge.validate import (MISSING, Boolean, Exactly, Integer, Invalid, ListOf, Nullable, Number, OneOf,
                           PrintableAscii, SchemaError, String, StringList, Table, UnknownKey, checked, computed,
                           key_paths, message, read_fields, section, show)
from test_manifest import valid_manifest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("check,expected", [
    (Integer(1, 16), "an integer in 1..16"),
    (Integer(1), "a positive integer"),
    (Integer(0), "an integer >= 0"),
    (Integer(), "an integer"),
    (Number(0, 1, lo_open=True), "a number in (0, 1]"),
    (Number(0, 0.5, hi_open=True), "a number in [0, 0.5)"),
    (Number(0, lo_open=True), "a number > 0"),
    (Number(0, 240, lo_open=True, what="a frame rate"), "a frame rate in (0, 240]"),
    (Boolean(), "true or false"),
    (String(non_empty=True), "a non-empty string"),
    (PrintableAscii(14), "1 to 14 printable ASCII characters"),
    (OneOf(("tv", "audio")), 'one of "tv", "audio"'),
    (Exactly(1, "this runtime reads only that version"), "1 (this runtime reads only that version)"),
    (Nullable(String(what="a label")), "a label or null"),
    (StringList(what="gesture names"), "a list of non-empty gesture names"),
    (StringList(min_items=1, distinct=True, choices=("log", "cec")),
     'a non-empty list of distinct values from "log", "cec"'),
    (StringList(min_items=2, distinct=True, what="class names"), "a list of at least 2 distinct non-empty class names"),
])
def test_checks_say_what_they_expect(check, expected) -> None:
    assert check.expected == expected


@pytest.mark.parametrize("check,good,bad", [
    (Integer(1, 16), [1, 16], [0, 17, 2.0, True, "2", None]),
    (Number(0, 1, lo_open=True), [1, 0.5, 1e-9], [0, 1.5, float("nan"), float("inf"), False, "0.5"]),
    (Boolean(), [True, False], [1, 0, "true"]),
    (String(non_empty=True), ["x"], ["", "  ", 3]),
    (String(pattern="[0-9a-f]{4}"), ["00af"], ["00AF", "00afx", "0af"]),
    (PrintableAscii(3), ["abc", " a"], ["", "abcd", "é", "a\n"]),
    (OneOf(("a", "b")), ["a"], ["c", None, ["a"]]),
    (Exactly("fmt"), ["fmt"], ["other", 1]),
    (Exactly(1), [1], [2, 1.0, True]),
    (Nullable(Integer(1)), [None, 3], [0, "x"]),
    (StringList(min_items=1, distinct=True, choices=("a", "b")), [["a"], ["b", "a"]], [[], ["a", "a"], ["c"], "a"]),
    (ListOf(Integer(1), min_items=1, what="positive integers"), [[1, 2]], [[], [0], [1, "2"], (1,)]),
    (Table(Integer(0)), [{}, {"x": 1}], [{"x": -1}, {" ": 1}, [], "x"]),
])
def test_checks_accept_and_refuse(check, good, bad) -> None:
    for value in good:
        check(value, ("k",))
    for value in bad:
        with pytest.raises(Invalid) as info:
            check(value, ("k",))
        assert info.value.path[0] == "k"


def test_values_come_back_as_the_field_types() -> None:
    assert Number(0, 10)(3) == 3.0 and isinstance(Number(0, 10)(3), float)
    assert StringList()(["a", "b"]) == ("a", "b")
    assert ListOf(Integer(1), what="x")([1, 2]) == (1, 2)
    assert Table(Number(0, 1), keys=("a",))({"a": 1}) == {"a": 1.0}
    with pytest.raises(UnknownKey) as info:
        Table(Number(0, 1), keys=("a", "b"))({"c": 1}, ("t",))
    assert (info.value.path, info.value.allowed) == (("t", "c"), ("a", "b"))


def test_one_wording_and_value_display() -> None:
    assert message("runtime.num_threads", "an integer in 1..16", 99) == \
        "runtime.num_threads: expected an integer in 1..16, got 99"
    assert show(True) == "true" and show("t\u00e9") == '"t\\u00e9"' and show(float("nan")) == "NaN"
    assert show(MISSING) == "nothing" and show({"a": [1]}) == '{"a": [1]}'
    long = show("x" * 100)
    assert len(long) == 60 and long.endswith("...")


def test_config_and_manifest_word_a_bad_value_the_same_way() -> None:
    with pytest.raises(ConfigError) as config_error:
        config_from_dict({"runtime": {"num_threads": 0}}, source="c.toml")
    data = copy.deepcopy(valid_manifest())
    data["frames_per_clip"] = 0
    with pytest.raises(ManifestError) as manifest_error:
        Manifest.from_json(data, "b/manifest.json")
    assert str(config_error.value) == "c.toml: key 'runtime.num_threads': expected an integer in 1..16, got 0"
    assert str(manifest_error.value) == "b/manifest.json: field frames_per_clip: expected an integer in 1..1000, got 0"
    wording = re.compile(r"^.+: expected .+, got .+$")
    assert wording.match(str(config_error.value)) and wording.match(str(manifest_error.value))


@dataclasses.dataclass(frozen=True)
class _Inner:
    level: int = checked(Integer(0, 9), default=1)


@dataclasses.dataclass(frozen=True)
class _Outer:
    name: str = checked(String(non_empty=True))
    inner: _Inner = section(_Inner)
    grouped: bool = checked(Boolean(), default=False, key=("group", "flag"))
    note: str = computed(default="")


def test_read_fields_walks_declared_fields() -> None:
    assert key_paths(_Outer) == [("name",), ("inner", "level"), ("group", "flag")]
    values = read_fields(_Outer, {"name": "x", "inner": {"level": 4}, "group": {"flag": True}})
    assert _Outer(**values) == _Outer(name="x", inner=_Inner(level=4), grouped=True)
    with pytest.raises(Invalid) as info:
        read_fields(_Outer, {"inner": {}})
    assert str(info.value) == 'name: expected a non-empty string, got nothing'  # required: it has no default
    with pytest.raises(Invalid) as info:
        read_fields(_Outer, {"name": "x", "group": 3}, table="an object")
    assert str(info.value) == "group: expected an object, got 3"
    with pytest.raises(UnknownKey) as unknown:
        read_fields(_Outer, {"name": "x", "group": {"flg": True}})
    assert (unknown.value.path, unknown.value.allowed) == (("group", "flg"), ("flag",))
    with pytest.raises(UnknownKey) as unknown:
        read_fields(_Outer, {"name": "x", "note": "set by the program"})
    assert unknown.value.allowed == ("name", "inner", "group")
    assert read_fields(_Outer, {"name": "x", "extra": 1}, strict=False) == {"name": "x"}


def test_a_field_without_a_declaration_is_a_schema_error() -> None:
    @dataclasses.dataclass(frozen=True)
    class Plain:
        count: int = 1

    with pytest.raises(SchemaError, match=r"Plain\.count"):
        read_fields(Plain, {})

    @dataclasses.dataclass(frozen=True)
    class Twice:
        a: int = checked(Integer(), default=1, key="x")
        b: int = checked(Integer(), default=2, key="x")

    with pytest.raises(SchemaError, match=r"Twice\.b: key x is read by another field too"):
        read_fields(Twice, {})


@pytest.mark.parametrize("exc,plain,typed", [
    (ValueError("bad value\nsecond line"), "bad value", "ValueError: bad value"),
    (RuntimeError("\n  \n  indented first\nnext"), "indented first", "RuntimeError: indented first"),
    (KeyError(), "KeyError", "KeyError"),
    (OSError(""), "OSError", "OSError"),
])
def test_one_line(exc, plain, typed) -> None:
    assert one_line(exc) == plain
    assert one_line(exc, with_type=True) == typed
    assert one_line(ValueError("x" * 50), limit=10) == "xxxxxxx..."


def test_vocabularies_agree_with_each_other() -> None:
    assert vocab.CLASSES == vocab.GESTURES + (vocab.BACKGROUND,)
    assert set(vocab.DEFAULT_ACTIONS) == set(vocab.GESTURES)
    assert set(vocab.DEFAULT_ACTIONS.values()) <= set(vocab.ACTIONS)
    assert set(vocab.REPEAT_GESTURES) <= set(vocab.GESTURES)
    assert set(vocab.CASESTUDY_LABELS) == set(vocab.CASESTUDY_CLASSES)
    for index, name in vocab.CASESTUDY_LABELS.items():
        merged = name.removesuffix("_new").replace("Left ", "").replace("Right ", "")
        assert merged == vocab.CASESTUDY_CLASSES[index]
    assert set(vocab.CASESTUDY_CLASSES.values()) == set(vocab.CLASSES)
    assert vocab.NORMALIZATIONS == ("unit", "mobilenet", "none")
    scale, offset = vocab.NORMALIZATION_SCALES["mobilenet"]
    assert (0 * scale + offset, 255 * scale + offset) == (-1.0, 1.0)


def _literal(node: ast.AST):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _copies(paths: list[Path]) -> list[str]:
    """Tuple/dict literals in `paths` equal to a table of edge.vocab (REPEAT_GESTURES is a default, not a table:
    ("Thumbs Up", "Thumbs Down") also means 'the thumb gestures' in the renderer)."""
    tables = {name: value for name, value in vars(vocab).items()
              if name.isupper() and name != "REPEAT_GESTURES" and isinstance(value, (tuple, dict))}
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.Dict)):
                value = _literal(node)
                found += [f"{path.name}:{node.lineno} = vocab.{name}"
                          for name, table in tables.items() if value is not None and value == table]
    return found


def test_no_module_redefines_a_vocabulary() -> None:
    # Each table lives in edge/vocab.py only; a copy elsewhere is how two of them drifted apart.
    paths = [p for p in sorted([*(ROOT / "edge").rglob("*.py"), *(ROOT / "convert").rglob("*.py")])
             if p.name != "vocab.py"]
    assert len(paths) > 20
    assert _copies(paths) == []


def test_the_copy_check_would_see_a_copy(tmp_path: Path) -> None:
    module = tmp_path / "mine.py"
    module.write_text('MODES = ("int8", "int16x8")\nACTS = {"Swipe": "play", "Stop": "pause", '
                      '"Thumbs Up": "volume_up", "Thumbs Down": "volume_down"}\n')
    assert _copies([module]) == ["mine.py:1 = vocab.QUANTIZATION_MODES", "mine.py:2 = vocab.DEFAULT_ACTIONS"]
