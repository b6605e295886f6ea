"""The manifest schema: round trip, atomic write, and one-line errors naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from edge.fileio import write_bytes_atomic
from edge.manifest import FORMAT_VERSION, Manifest, ManifestError, sha256_file


def tensor(name, shape, dtype="int8", scale=0.05, zero_point=-3):
    return {"name": name, "shape": list(shape), "dtype": dtype, "scale": scale, "zero_point": zero_point}


def model(file, inputs, outputs):
    return {"file": file, "sha256": "0" * 64, "signature": "serving_default", "inputs": inputs, "outputs": outputs,
            "size_bytes": 10}


def valid_manifest() -> dict:
    labels = ["Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture"]
    return {
        "format": "gesture-bundle", "format_version": FORMAT_VERSION, "labels": labels,
        "background_label": "No gesture",
        "actions": {"Swipe": "play", "Stop": "pause", "Thumbs Up": "volume_up", "Thumbs Down": "volume_down"},
        "frames_per_clip": 20, "model_fps": 10.0, "input_height_px": 128, "input_width_px": 128,
        "color_order": "RGB", "normalization": "mobilenet", "cell": "lstm", "state_size": 128,
        "feature_size": 1024, "quantization": "int8",
        "features": model("features.tflite", {"frame": tensor("frame", (1, 128, 128, 3), "uint8", 1.0, 0)},
                          {"features": tensor("features", (1, 1024))}),
        "step": model("step.tflite",
                      {"features": tensor("features", (1, 1024)), "h": tensor("h", (1, 128)),
                       "c": tensor("c", (1, 128))},
                      {"probs": tensor("probs", (1, 5), scale=1 / 256, zero_point=-128),
                       "h": tensor("h_out", (1, 128)), "c": tensor("c_out", (1, 128))}),
        "created_by": {"converter": "test"},
    }


def test_round_trip(tmp_path: Path) -> None:
    manifest = Manifest.from_json(valid_manifest())
    manifest.write(tmp_path)
    again = Manifest.load(tmp_path)
    assert again == manifest
    assert again.gesture_labels == ("Swipe", "Stop", "Thumbs Down", "Thumbs Up")
    assert again.step.outputs["probs"].quantized
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left behind


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m.update(format_version=FORMAT_VERSION + 1), "format_version"),
        (lambda m: m.update(format="other"), "format"),
        (lambda m: m.pop("labels"), "labels"),
        (lambda m: m.update(labels=["A"]), "labels"),
        (lambda m: m.update(background_label="Nope"), "background_label"),
        (lambda m: m["actions"].update(Swipe="explode"), "actions.Swipe"),
        (lambda m: m.update(frames_per_clip=0), "frames_per_clip"),
        (lambda m: m.update(model_fps=-1), "model_fps"),
        (lambda m: m.update(cell="rnn"), "cell"),
        (lambda m: m["step"]["inputs"].pop("c"), "step.inputs"),
        (lambda m: m["features"]["inputs"]["frame"].update(scale=0.5), "features.inputs.frame"),
        (lambda m: m["features"]["outputs"]["features"].update(shape=[1, 7]), "features.outputs.features.shape"),
        (lambda m: m["step"]["outputs"]["probs"].update(shape=[1, 4]), "step.outputs.probs.shape"),
        (lambda m: m["step"]["inputs"]["h"].update(dtype="int4"), "step.inputs.h.dtype"),
        (lambda m: m["step"]["inputs"]["h"].update(scale=0), "step.inputs.h.scale"),
        (lambda m: m["step"].update(sha256="xyz"), "step.sha256"),
        (lambda m: m["step"].update(file="../evil.tflite"), "step.file"),
    ],
)
def test_bad_fields_name_the_field(mutate, field: str) -> None:
    data = copy.deepcopy(valid_manifest())
    mutate(data)
    with pytest.raises(ManifestError) as info:
        Manifest.from_json(data, "bundle/manifest.json")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("bundle/manifest.json: field ")
    assert field in message


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="bundle folder not found"):
        Manifest.load(tmp_path / "missing")
    with pytest.raises(ManifestError, match="manifest.json: not found"):
        Manifest.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        Manifest.load(tmp_path)


def test_verify_files_catches_changed_and_missing_files(tmp_path: Path) -> None:
    data = valid_manifest()
    for key in ("features", "step"):
        path = tmp_path / data[key]["file"]
        path.write_bytes(key.encode())
        data[key]["sha256"] = sha256_file(path)
    manifest = Manifest.from_json(data)
    manifest.verify_files(tmp_path)
    (tmp_path / "step.tflite").write_bytes(b"changed")
    with pytest.raises(ManifestError, match=r"step.tflite: sha256 .* manifest field step.sha256"):
        manifest.verify_files(tmp_path)
    (tmp_path / "step.tflite").unlink()
    with pytest.raises(ManifestError, match=r"step.tflite: missing"):
        manifest.verify_files(tmp_path)


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    target.write_text("old")

    with pytest.raises(TypeError):
        write_bytes_atomic(target, object())  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
