"""Small pieces of the robustness work of issue 15: the one class-name rule (converter and manifest reader),
the manifest's bounds and the defensive file reader. The whole paths are tested through the real CLI in
tests/test_cli_edge.py and tests/test_service.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edge.manifest import LABEL, MANIFEST_NAME, Manifest, ManifestError
from edge.readfile import ReadRefused, read_small_text
from edge.validate import Invalid

CONTROL = ["Stop\nINFO edge.app: forged", "Stop\r", "St\top", "Stop\x00", "Stop\x1b[2J", "Stop\u0085", "Stop\u2028"]


def test_a_class_name_with_a_control_character_is_refused_at_conversion(tmp_path: Path) -> None:
    from convert.export import ExportError, read_labels

    labels = tmp_path / "labels.json"
    for bad in CONTROL:
        name = bad if bad.strip() == bad else bad + "x"  # the converter strips the ends of a name first
        labels.write_text(json.dumps({"labels": ["Swipe", name, "Thumbs Up"]}))
        with pytest.raises(ExportError) as info:
            read_labels(str(labels), tmp_path / "model.keras")
        assert str(info.value) == (f"{labels}: field labels: class name: expected {LABEL.expected}, got "
                                   f"{json.dumps(name)}")
    with pytest.raises(ExportError, match="--labels: class name: expected"):
        read_labels("Swipe,St\top,Thumbs Up", tmp_path / "model.keras")
    assert read_labels("Swipe, No gesture ,Thumbs Up", tmp_path / "model.keras").labels == (
        "Swipe", "No gesture", "Thumbs Up")


def test_a_class_name_with_a_control_character_is_refused_at_load(tmp_path: Path) -> None:
    for bad in CONTROL:
        with pytest.raises(Invalid):
            LABEL(bad)
    for good in ("Swipe", "No gesture", "Daumen hoch 👍", "Wischen – links"):
        assert LABEL(good) == good


def manifest_dir(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir(exist_ok=True)
    (folder / MANIFEST_NAME).write_text(text)
    return folder


def test_manifest_json_that_is_not_a_small_flat_enough_file(tmp_path: Path) -> None:
    folder = manifest_dir(tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ManifestError) as info:
        Manifest.load(folder)
    assert str(info.value) == f"{folder / MANIFEST_NAME}: not a manifest: JSON nested too deeply to parse"
    (folder / MANIFEST_NAME).write_text(" " * (2 << 20))
    with pytest.raises(ManifestError, match=r"manifest.json: cannot read it: larger than 1 MiB"):
        Manifest.load(folder)
    (folder / MANIFEST_NAME).unlink()
    os.mkfifo(folder / MANIFEST_NAME)
    with pytest.raises(ManifestError, match=r"manifest.json: cannot read it: not a regular file \(a FIFO\)$"):
        Manifest.load(folder)


def test_read_small_text_refuses_what_is_not_a_small_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    latin1 = tmp_path / "latin1"
    latin1.write_bytes(b"caf\xe9")
    cases = {fifo: "not a regular file (a FIFO)", Path("/dev/zero"): "not a regular file (a character device)",
             tmp_path: "it is a directory", tmp_path / "missing": "no such file", big: "larger than 100 bytes",
             latin1: "not UTF-8 text (unexpected end of data at byte 3)"}
    for path, reason in cases.items():
        with pytest.raises(ReadRefused) as info:
            read_small_text(path, 100)
        assert str(info.value).startswith(reason), (path, str(info.value))
    small = tmp_path / "small"
    small.write_text("ok\n")
    assert read_small_text(small, 3) == "ok\n"
