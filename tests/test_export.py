"""gesture-convert: the split is exact, the int8 files are full-integer, the bundle is complete, bad input is refused.

Tiny models (64x64 input so MobileNet's 2x2 output meets the reference MaxPooling2D((2, 2)), alpha 0.25,
5 frames, 12 cells, weights=None) are built here and converted by the real CLI in a subprocess, once per
module. Random-weight models say nothing about int8 accuracy; that is checked on the demo model. Refusals
that need a model loaded call `main()` in this process (see `convert_cli`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import CALIB_DIR, DEMO_MODEL, ROOT, run_cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
from keras import layers

from convert import structure
from convert.calib import load_clip_tolerant
from convert.data import ClipRef, frame_files, load_clip, read_casestudy
from edge.bundle import load_bundle
from edge.manifest import FORMAT_VERSION, Manifest
from edge.stream import StreamingClassifier, classify_window, classify_window_raw

FRAMES, SIZE_PX, CELLS = 5, 64, 12
CLASSES5 = ("Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture")
CLASSES4 = CLASSES5[:4]
CONVERT = [sys.executable, "-m", "convert.export"]
BUNDLE_FILES = ("manifest.json", "features.tflite", "step.tflite", "float/features.tflite", "float/step.tflite",
                "report.md", "report.json")


# ---- tiny models and data ----------------------------------------------------------------------------------------


def _all_layers(layer):
    yield layer
    inner = getattr(layer, "layer", None)
    if inner is not None:
        yield from _all_layers(inner)
    for child in getattr(layer, "layers", []):
        yield from _all_layers(child)


def warm_up(model, scale: str) -> None:
    """Set every BatchNormalization's moving statistics from one batch, so random-weight activations neither
    vanish (untrained MobileNet features are all zero otherwise) nor explode."""
    for layer in _all_layers(model):
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.0
    clips = np.random.default_rng(7).integers(0, 256, (4, FRAMES, SIZE_PX, SIZE_PX, 3)).astype(np.uint8)
    model(structure.preprocess_clip(clips, scale), training=True)


def mobilenet():
    return keras.applications.MobileNet(input_shape=(SIZE_PX, SIZE_PX, 3), alpha=0.25, include_top=False,
                                        weights=None)


def ours_model(cell: str = "lstm", classes: int = 5):
    """Like gesture-train's: Input -> TimeDistributed(Rescaling to [-1, 1]) -> MobileNet ... -> RNN -> head."""
    model = keras.Sequential(name=f"ours_{cell}")
    model.add(keras.Input((FRAMES, SIZE_PX, SIZE_PX, 3), name="clip"))
    model.add(layers.TimeDistributed(layers.Rescaling(1 / 127.5, offset=-1.0)))
    _add_body(model, cell, classes)
    warm_up(model, "none")
    return model


def reference_model(cell: str = "lstm", classes: int = 4):
    """As the reference notebook builds it: no Rescaling (trained on pixels / 255), input_shape on the layer."""
    model = keras.Sequential(name=f"reference_{cell}")
    with warnings.catch_warnings():  # Keras 3 prefers an Input layer; the notebook's way must load all the same
        warnings.simplefilter("ignore", UserWarning)
        model.add(layers.TimeDistributed(mobilenet(), input_shape=(FRAMES, SIZE_PX, SIZE_PX, 3)))
    _add_body(model, cell, classes, backbone=False)
    warm_up(model, "unit")
    return model


def _add_body(model, cell: str, classes: int, backbone: bool = True) -> None:
    if backbone:
        model.add(layers.TimeDistributed(mobilenet()))
    model.add(layers.TimeDistributed(layers.BatchNormalization()))
    model.add(layers.TimeDistributed(layers.MaxPooling2D((2, 2))))
    model.add(layers.TimeDistributed(layers.Flatten()))
    model.add(layers.LSTM(CELLS) if cell == "lstm" else layers.GRU(CELLS))
    model.add(layers.Dropout(0.25))
    model.add(layers.Dense(8, activation="relu"))
    model.add(layers.Dropout(0.25))
    model.add(layers.Dense(classes, activation="softmax"))


def tie_head(model) -> None:
    """Make the last Dense output a near tie between classes 0 and 1 for every input: float top-1 is class 1
    (p 0.50025 vs 0.49975); int8 probabilities (steps of 1/256) cannot separate them, so int8 top-1 is class 0."""
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    bias = np.full_like(bias, -12.0)
    bias[0], bias[1] = 0.0, 1e-3
    dense.set_weights([np.zeros_like(kernel), bias])


def write_clip(folder: Path, label_index: int, seed: int, frames: int = 30) -> None:
    """A 120x160 JPEG clip (not the model size: the converter must resize): textured room + a moving hand blob."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    room = cv2.GaussianBlur(rng.integers(20, 230, (120, 160, 3)).astype(np.uint8), (0, 0), 4)
    for i in range(frames):
        img = room.copy()
        t = i / (frames - 1)
        x, y = [(20 + 120 * t, 60), (80, 60), (80, 30 + 60 * t), (80, 90 - 60 * t), (140 - 120 * t, 60),
                (80 + 10 * np.sin(6 * t), 70)][label_index]
        cv2.circle(img, (int(x), int(y)), 14, (90, 140, 220), -1)
        cv2.imwrite(str(folder / f"{i + 1:05d}.jpg"), img)


def write_casestudy(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    names = {0: "Left Swipe_new", 1: "Right Swipe_new", 2: "Stop_new", 3: "Thumbs Down_new", 4: "Thumbs Up_new",
             5: "No gesture"}
    for split_index, (split, count) in enumerate(per_class.items()):
        lines = []
        for n in range(count):
            index = n % 6
            folder = f"{split}_{n:03d}"
            write_clip(root / split / folder, index, seed * 1000 + split_index * 100 + n)
            lines.append(f"{folder};{names[index]};{index}\n")
        (root / f"{split}.csv").write_text("".join(lines))
    return root


def corrupt_frame(folder: Path, index: int) -> Path:
    path = frame_files(folder)[index]
    path.write_bytes(b"this is not a JPEG" * 10)
    return path


def no_leftovers(out: Path) -> list[str]:
    """Entries a failed run could have left: the bundle itself or its temp folders beside it."""
    if not out.parent.exists():
        return []
    return [p.name for p in out.parent.iterdir() if p.name == out.name or p.name.startswith(f".{out.name}.")]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("gesture-convert: error:")]


# ---- fixtures: three real conversions ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Models, data and the three converted bundles shared by this module."""
    root = tmp_path_factory.mktemp("export")
    keras.utils.set_random_seed(3)
    data = write_casestudy(root / "data", {"train": 12, "val": 6})
    bad_calib = corrupt_frame(data / "train" / "train_000", 0)  # sampled index 0: must be skipped, re-sampled
    bad_val = corrupt_frame(data / "val" / "val_001", 7)

    ours_dir = root / "ours"
    ours_dir.mkdir()
    ours = ours_model("lstm")
    ours.save(ours_dir / "model.keras")
    (ours_dir / "labels.json").write_text(json.dumps({
        "labels": list(CLASSES5), "background_label": "No gesture",
        "actions": {"Swipe": "play", "Stop": "pause", "Thumbs Up": "volume_up", "Thumbs Down": "volume_down"},
        "frames": FRAMES, "size_px": [SIZE_PX, SIZE_PX], "model_fps": 10.0, "normalization": "mobilenet",
        "arch": "mobilenet_lstm"}))

    ref_lstm = reference_model("lstm")
    ref_lstm.save(root / "reference_lstm.h5")
    ref_gru = reference_model("gru")
    tie_head(ref_gru)
    ref_gru.save(root / "reference_gru.keras")
    labels_file = root / "elsewhere" / "classes.json"
    labels_file.parent.mkdir()
    labels_file.write_text(json.dumps(list(CLASSES4)))

    stale = root / "b_ref_lstm"
    stale.mkdir()
    (stale / "stale.txt").write_text("from an earlier run")

    runs = {
        # Random weights: float/int8 agreement means nothing here (the demo model test checks it).
        "ours": run_cli(CONVERT + [str(ours_dir / "model.keras"), "--calib", str(data), "--out", str(root / "b_ours"),
                                   "--min-agreement", "0"]),
        "ref_lstm": run_cli(CONVERT + [str(root / "reference_lstm.h5"), "--calib", str(data), "--out", str(stale),
                                       "--input-scale", "unit", "--labels", ",".join(CLASSES4), "--fps", "12.5",
                                       "--mode", "int16x8", "--force", "--min-agreement", "0"]),
        "ref_gru": run_cli(CONVERT + [str(root / "reference_gru.keras"), "--calib", str(data), "--val", str(data),
                                      "--out", str(root / "b_ref_gru"), "--input-scale", "unit",
                                      "--labels", str(labels_file), "--calib-frames", "20"]),
    }
    bundles = {"ours": root / "b_ours", "ref_lstm": stale, "ref_gru": root / "b_ref_gru"}
    return {"root": root, "data": data, "runs": runs, "bundles": bundles, "models": {
        "ours": ours_dir / "model.keras", "ref_lstm": root / "reference_lstm.h5",
        "ref_gru": root / "reference_gru.keras"}, "bad_calib": bad_calib, "bad_val": bad_val}


def _ok(work: dict, key: str) -> Path:
    proc = work["runs"][key]
    assert proc.returncode == 0, f"{key}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return work["bundles"][key]


def _val_clips(work: dict, count: int = 3) -> list[np.ndarray]:
    refs = [r for r in read_casestudy(work["data"], "val") if r.folder.name != "val_001"][:count]
    return [load_clip(ref, FRAMES, (SIZE_PX, SIZE_PX)) for ref in refs]


# ---- the shared bundle ------------------------------------------------------------------------------------------


def test_bundle_is_complete_and_manifest_filled(work: dict) -> None:
    bundle = _ok(work, "ours")
    for name in BUNDLE_FILES:
        assert (bundle / name).is_file(), name
    assert no_leftovers(bundle) == [bundle.name]
    m = Manifest.load(bundle)
    m.verify_files(bundle)
    assert m.labels == CLASSES5 and m.background_label == "No gesture"
    assert m.actions == {"Swipe": "play", "Stop": "pause", "Thumbs Up": "volume_up", "Thumbs Down": "volume_down"}
    assert (m.frames_per_clip, m.model_fps, m.input_height_px, m.input_width_px) == (FRAMES, 10.0, SIZE_PX, SIZE_PX)
    assert (m.color_order, m.normalization, m.cell, m.quantization) == ("RGB", "mobilenet", "lstm", "int8")
    assert (m.state_size, m.feature_size) == (CELLS, 256)  # MobileNet 0.25 at 64 px: 2x2x256, pooled to 1x1
    for key, spec in m.model_specs().items():
        assert spec.size_bytes == (bundle / spec.file).stat().st_size > 0, key
        assert spec.signature == "serving_default"
    assert set(m.step.inputs) == {"features", "h", "c"} and set(m.step.outputs) == {"probs", "h", "c"}
    assert m.step.outputs["probs"].shape == (1, 5)
    # The step models take a batch of states (resized at load time); the feature models keep batch 1.
    assert m.format_version == FORMAT_VERSION == 2
    assert m.step.dynamic_batch and m.float_step.dynamic_batch
    assert not m.features.dynamic_batch and not m.float_features.dynamic_batch
    assert {"converter", "tensorflow", "keras"} <= set(m.created_by)
    # The float references take the same pixels; the float step is plain float32.
    assert m.float_step.inputs["h"].dtype == "float32" and not m.float_step.inputs["h"].quantized


def test_warnings_for_unreadable_and_resized_frames(work: dict) -> None:
    proc = work["runs"]["ours"]
    _ok(work, "ours")
    assert work["bad_calib"].parent.name in proc.stderr and "unreadable" in proc.stderr
    assert work["bad_val"].parent.name in proc.stderr
    report = json.loads((work["bundles"]["ours"] / "report.json").read_text())
    assert report["validation"]["clips"] == 6  # the clip with a broken frame is re-sampled, not dropped


def _frame_and_step(model, scale: str):
    parts = structure.analyze(model)
    frame_model = structure.build_frame_model(parts, scale)
    step_model = structure.build_step_model(parts, int(frame_model.outputs[0].shape[-1]))
    return parts, frame_model, step_model


def test_split_equals_clip_model_float(work: dict) -> None:
    """Keras clip model on a clip == frame model per frame + T steps from zero state (Keras and float TFLite)."""
    bundle = _ok(work, "ours")
    model = keras.models.load_model(work["models"]["ours"], compile=False)
    clips = np.stack(_val_clips(work))
    expected = np.asarray(model(clips.astype(np.float32), training=False))
    assert expected.std(axis=0).max() > 1e-4, "degenerate test model: same output for every clip"
    parts, frame_model, step_model = _frame_and_step(model, "none")
    keras_split = structure.run_split(frame_model, step_model, parts, clips.astype(np.float32))
    np.testing.assert_allclose(keras_split, expected, atol=1e-5, rtol=0)
    reference = load_bundle(bundle, precision="float")
    tflite_split = np.stack([classify_window(reference, clip) for clip in clips])
    np.testing.assert_allclose(tflite_split, expected, atol=1e-5, rtol=0)


def test_split_equals_clip_model_for_reference_gru(work: dict) -> None:
    model = keras.models.load_model(work["models"]["ref_gru"], compile=False)
    clips = np.stack(_val_clips(work))
    expected = np.asarray(model(structure.preprocess_clip(clips, "unit"), training=False))
    parts, frame_model, step_model = _frame_and_step(model, "unit")
    assert parts.cell == "gru" and parts.leading_rescale is None
    got = structure.run_split(frame_model, step_model, parts, clips.astype(np.float32))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def _op_walk(path: Path) -> list[tuple[str, list[str], list[str]]]:
    """(op name, input dtypes, output dtypes) of every op, read from the flatbuffer through the TFLite schema."""
    from convert.quantize import model_ops

    return model_ops(path.read_bytes())


@pytest.mark.parametrize("key", ["ours", "ref_lstm", "ref_gru"])
def test_int8_files_are_full_integer(work: dict, key: str) -> None:
    """No op reads or writes a float tensor. Allowed: int8/int16 activations, int32 biases/shapes/axes; the one
    QUANTIZE allowed is uint8 -> int8 on the frame input (a zero-point shift, no float); no DEQUANTIZE at all."""
    bundle = work["bundles"][key]
    assert work["runs"][key].returncode in (0, 1), work["runs"][key].stderr[-2000:]
    activation = "int16" if key == "ref_lstm" else "int8"
    for name, compute_ops in (("features.tflite", {"CONV_2D", "DEPTHWISE_CONV_2D"}),
                              ("step.tflite", {"FULLY_CONNECTED"})):
        ops = _op_walk(bundle / name)
        assert compute_ops <= {op for op, _, _ in ops}, (name, ops)
        for op, ins, outs in ops:
            assert not {"float32", "float16", "float64", "object"} & set(ins + outs), (name, op, ins, outs)
            assert op != "DEQUANTIZE", (name, op)
            if op == "QUANTIZE":
                assert name == "features.tflite" and (ins, outs) == (["uint8"], ["int8"]), (name, op, ins, outs)
        quantize_ops = [op for op, _, _ in ops if op == "QUANTIZE"]
        assert len(quantize_ops) == (1 if name == "features.tflite" else 0), (name, quantize_ops)
        if name == "step.tflite":
            assert any(op == "FULLY_CONNECTED" and ins[0] == activation for op, ins, _ in ops), ops


@pytest.mark.parametrize("key", ["ours", "ref_lstm", "ref_gru"])
def test_feature_input_is_raw_uint8_pixels(work: dict, key: str) -> None:
    from ai_edge_litert.interpreter import Interpreter

    bundle = work["bundles"][key]
    runner = Interpreter(model_path=str(bundle / "features.tflite")).get_signature_runner("serving_default")
    (name, frame), = runner.get_input_details().items()
    assert name == "frame" and np.dtype(frame["dtype"]) == np.uint8
    assert frame["quantization"] == (1.0, 0)
    (name, features), = runner.get_output_details().items()
    assert name == "features" and np.dtype(features["dtype"]) == np.int8
    spec = Manifest.load(bundle).features.inputs["frame"]
    assert (spec.dtype, spec.scale, spec.zero_point) == ("uint8", 1.0, 0)


@pytest.mark.parametrize("precision", ["int8", "float"])
@pytest.mark.parametrize("key", ["ours", "ref_lstm", "ref_gru"])
def test_batched_step_streams_equal_windows(work: dict, key: str, precision: str) -> None:
    """LSTM int8, LSTM int16x8 and GRU int8 (and their float references): streams at hop 1, 2, 3 and T step
    every live state in one call and give every window bit for bit as the windowed path (the same step file
    at batch 1); the step model resized to every batch size 1..T gives the same rows as batch 1."""
    assert work["runs"][key].returncode in (0, 1), work["runs"][key].stderr[-2000:]
    bundle = load_bundle(work["bundles"][key], precision=precision)
    frames = np.concatenate(_val_clips(work, 3))  # 15 frames of three clips, played as one stream
    for hop in (1, 2, 3, FRAMES):
        stream = StreamingClassifier(bundle, hop_frames=hop)
        calls = bundle.step.invocations
        windows = [w for i, f in enumerate(frames) for w in stream.push(f, i / 10)]
        assert bundle.step.invocations - calls == len(frames) and bundle.step.batch == -(-FRAMES // hop)
        assert [w.start_index for w in windows] == list(range(0, len(frames) - FRAMES + 1, hop))
        for w in windows:
            clip = frames[w.start_index: w.end_index + 1]
            np.testing.assert_array_equal(w.probs_q, classify_window_raw(bundle, clip)[1])
    step = bundle.step
    rng = np.random.default_rng(5)
    rows = {}
    for role, spec in step.spec.inputs.items():
        shape = (FRAMES * 2, *spec.shape[1:])
        if spec.dtype == "float32":
            rows[role] = rng.normal(size=shape).astype(np.float32)
        else:
            info = np.iinfo(spec.dtype)
            rows[role] = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(spec.dtype)
    single = [step.run({role: v[i:i + 1] for role, v in rows.items()}) for i in range(FRAMES * 2)]
    for batch in range(1, FRAMES + 1):
        for first in range(0, FRAMES * 2 - batch + 1, batch):
            out = step.run({role: v[first:first + batch] for role, v in rows.items()})
            for role, value in out.items():
                for j in range(batch):
                    np.testing.assert_array_equal(value[j], single[first + j][role][0], err_msg=f"{role} b{batch}")


def test_report_matches_the_edge_runtime(work: dict) -> None:
    """report.json's int8 numbers are what edge.stream.classify_window gives on the validation clips."""
    bundle = _ok(work, "ours")
    report = json.loads((bundle / "report.json").read_text())
    v = report["validation"]
    int8 = load_bundle(bundle)
    model = keras.models.load_model(work["models"]["ours"], compile=False)
    refs = read_casestudy(work["data"], "val")
    clips = [load_clip_tolerant(ref, FRAMES, (SIZE_PX, SIZE_PX)) for ref in refs]
    int8_top = np.array([classify_window(int8, clip).argmax() for clip in clips])
    float_probs = np.asarray(model(np.stack(clips).astype(np.float32), training=False))
    truth = np.array([CLASSES5.index(ref.label) for ref in refs])
    assert v["clips"] == v["labelled_clips"] == len(refs)
    assert v["top1_agreement"] == pytest.approx(np.mean(int8_top == float_probs.argmax(1)))
    assert v["float_keras"]["accuracy"] == pytest.approx(np.mean(float_probs.argmax(1) == truth))
    assert v["int8"]["accuracy"] == pytest.approx(np.mean(int8_top == truth))
    for key in ("float_keras", "int8"):
        assert np.asarray(v[key]["confusion"]).shape == (5, 5)
        assert np.asarray(v[key]["confusion"]).sum(axis=1).tolist() == np.bincount(truth, minlength=5).tolist()
    assert v["float_tflite_vs_keras_max_abs_diff"] < 1e-5
    assert 0 <= v["prob_abs_diff"]["mean"] <= v["prob_abs_diff"]["max"] <= 1


def _check_report_fields(bundle: Path) -> dict:
    report = json.loads((bundle / "report.json").read_text())
    v = report["validation"]
    for key in ("clips", "labelled_clips", "float_keras", "int8", "top1_agreement", "accuracy_drop_points",
                "prob_abs_diff", "min_agreement", "passed", "float_tflite_vs_keras_max_abs_diff"):
        assert key in v, key
    for key in ("accuracy", "confusion"):
        assert key in v["float_keras"] and key in v["int8"], key
    sizes = report["model_sizes_bytes"]
    for name in ("features.tflite", "step.tflite", "float/features.tflite", "float/step.tflite"):
        assert sizes[name] == (bundle / name).stat().st_size
    assert sizes["int8_total"] < sizes["float_total"]
    md = (bundle / "report.md").read_text()
    assert "top-1 agreement" in md and "## Per-class" in md and "accuracy" in md
    return report


def test_report_fields_ours(work: dict) -> None:
    report = _check_report_fields(_ok(work, "ours"))
    assert report["validation"]["accuracy_drop_points"] is not None


def test_reference_lstm_h5_int16x8_replaces_stale_bundle(work: dict) -> None:
    bundle = _ok(work, "ref_lstm")
    assert not (bundle / "stale.txt").exists()
    assert no_leftovers(bundle) == [bundle.name]
    m = Manifest.load(bundle)
    assert (m.cell, m.quantization, m.normalization, m.model_fps) == ("lstm", "int16x8", "unit", 12.5)
    assert m.labels == CLASSES4 and m.background_label is None
    assert {t.dtype for t in (*m.step.inputs.values(), *m.step.outputs.values())} == {"int16"}
    assert all(t.zero_point == 0 for t in m.step.inputs.values())  # int16 quantization is symmetric
    report = _check_report_fields(bundle)
    assert report["validation"]["labelled_clips"] == 5  # the "No gesture" clip is not a class of this model
    int8 = load_bundle(bundle)
    probs = classify_window(int8, _val_clips(work, 1)[0])
    assert probs.shape == (4,) and abs(float(probs.sum()) - 1) < 0.05


def test_low_agreement_exits_1_and_keeps_the_bundle(work: dict) -> None:
    """A head tied between two classes: float picks class 1, int8 (1/256 steps) cannot, so agreement is 0."""
    proc = work["runs"]["ref_gru"]
    bundle = work["bundles"]["ref_gru"]
    assert proc.returncode == 1, proc.stderr[-3000:]
    errors = error_lines(proc.stderr)
    assert len(errors) == 1 and "agreement" in errors[0] and str(bundle / "report.md") in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    for name in BUNDLE_FILES:
        assert (bundle / name).is_file(), name
    report = _check_report_fields(bundle)
    assert report["validation"]["passed"] is False and report["validation"]["top1_agreement"] == 0.0
    assert report["cell"] == "gru" and report["calibration"]["clips"] == 4  # 20 frames = 4 clips of 5
    m = Manifest.load(bundle)
    assert set(m.step.inputs) == {"features", "h"} and set(m.step.outputs) == {"probs", "h"}
    load_bundle(bundle)  # the edge runtime accepts it


@pytest.mark.convert
def test_one_class_model_is_warned_and_every_flip_listed(work: dict) -> None:
    """The tied head answers Stop (class 1) for every clip: the gate's verdict comes with a loud warning, and
    report.md lists every flip with the float model's margin (0.50025 - 0.49975)."""
    proc = work["runs"]["ref_gru"]
    bundle = work["bundles"]["ref_gru"]
    report = json.loads((bundle / "report.json").read_text())
    v = report["validation"]
    n = v["clips"]
    warning = f"the float model predicts Stop for {n} of {n} validation clips"
    assert any(w.startswith(warning) for w in v["warnings"]), v["warnings"]
    assert f"gesture-convert: WARNING: {warning}" in proc.stderr
    assert f"**WARNING: {warning}" in (bundle / "report.md").read_text()
    g = v["gate"]
    assert (g["verdict"], g["clips"], g["flips"], g["confidence"]) == ("fail", n, n, 0.95)
    assert g["upper_bound"] == pytest.approx(1 - 0.05 ** (1 / n), abs=1e-6) and g["lower_bound"] == 0.0
    assert len(v["disagreements"]) == n
    assert all(d["float"] == "Stop" and d["float_margin"] == pytest.approx(0.0005, abs=2e-4)
               for d in v["disagreements"])
    md = (bundle / "report.md").read_text()
    assert md.count("| Stop (") == n and "FAIL" in md
    # a random-weight model is not said to be fine either: its report carries the gate and any warnings
    ours = json.loads((_ok(work, "ours") / "report.json").read_text())["validation"]
    assert ours["gate"]["target"] == 0.0 and ours["gate"]["verdict"] == "pass" and "warnings" in ours


# ---- the demo model ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_model_int8_matches_float(demo_bundle: Path) -> None:
    """The shipped demo model: top-1 agreement >= 99% and accuracy drop <= 1 point on the synthetic val clips.

    No skip: `demo_bundle` fails when models/demo/model.keras is missing (it is part of the repository)."""
    assert DEMO_MODEL.is_file()
    report = json.loads((demo_bundle / "report.json").read_text())
    v = report["validation"]
    assert v["labelled_clips"] >= 10 and "val split" in v["source"], (v["labelled_clips"], v["source"])
    assert v["top1_agreement"] >= 0.99, v["disagreements"]
    assert v["accuracy_drop_points"] <= 1.0, (v["float_keras"]["accuracy"], v["int8"]["accuracy"])
    assert Manifest.load(demo_bundle).frames_per_clip == 20 and CALIB_DIR.is_dir()


# ---- bad input: one line, non-zero exit, nothing written ----------------------------------------------------------


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Small calibration sets and (cheap, MobileNet-free) models for the refusals."""
    root = tmp_path_factory.mktemp("bad")
    data = write_casestudy(root / "data", {"train": 4, "val": 2}, seed=5)
    unreadable = write_casestudy(root / "unreadable", {"train": 3}, seed=6)
    for folder in (unreadable / "train").iterdir():
        for path in frame_files(folder)[2:]:  # 2 readable frames left of 30, 5 needed
            path.write_bytes(b"garbage")
    (root / "empty").mkdir()
    (root / "corrupt.keras").write_bytes(np.random.default_rng(1).bytes(4096))
    (root / "corrupt.h5").write_bytes(np.random.default_rng(2).bytes(4096))
    return {"root": root, "data": data, "unreadable": unreadable}


def _small_cnn():
    frame = keras.Input((16, 16, 3))
    return keras.Model(frame, layers.Conv2D(4, 3, strides=2)(frame), name="cnn")


def _bad_model(kind: str, rescaling: bool = True):
    x = keras.Input((FRAMES, 16, 16, 3))
    body = [layers.TimeDistributed(layers.Rescaling(1 / 255))] if rescaling else []
    body += [layers.TimeDistributed(_small_cnn()), layers.TimeDistributed(layers.Flatten())]
    if kind == "conv3d":
        body = [layers.Conv3D(4, 3), layers.GlobalAveragePooling3D()]
    elif kind == "no_rnn":
        body += [layers.GlobalAveragePooling1D()]
    elif kind == "bidirectional":
        body += [layers.Bidirectional(layers.LSTM(4))]
    elif kind == "stacked":
        body += [layers.LSTM(4, return_sequences=True), layers.LSTM(4)]
    elif kind == "return_sequences":
        body += [layers.GRU(4, return_sequences=True), layers.Flatten()]
    elif kind == "good":
        body += [layers.LSTM(4)]
    return keras.Sequential([x, *body, layers.Dense(4, activation="softmax")])


ARCH_FOUND = {
    "conv3d": "Conv3D",
    "no_rnn": "no recurrent layer",
    "bidirectional": "Bidirectional(LSTM)",
    "stacked": "2 stacked recurrent layers",
    "return_sequences": "return_sequences=True",
}


@dataclass
class Run:
    returncode: int
    stderr: str


def convert_cli(args: list[str], how: str, capsys=None, caplog=None) -> Run:
    """Run gesture-convert as a subprocess ('cli'), or its main() in this process ('main').

    Refusals that need a model loaded run main() here: a subprocess pays a TensorFlow import (~5 s) each. The
    subprocess contract (exit status, one stderr line, no traceback) is covered by the 'cli' cases.
    """
    if how == "cli":
        proc = run_cli(CONVERT + args)
        return Run(proc.returncode, proc.stderr)
    from convert.export import main

    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        code = main(args)
    return Run(code, capsys.readouterr().err + caplog.text)


def _expect_refusal(run: Run, out: Path, *needles: str) -> str:
    assert run.returncode == 2, (run.returncode, run.stderr[-3000:])
    assert "Traceback" not in run.stderr, run.stderr
    errors = error_lines(run.stderr)
    assert len(errors) == 1, run.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    assert no_leftovers(out) == [], no_leftovers(out)
    return errors[0]


@pytest.mark.parametrize("kind,how", [("conv3d", "cli"), ("no_rnn", "main"), ("bidirectional", "main"),
                                      ("stacked", "main"), ("return_sequences", "main")])
def test_unsupported_architectures_are_refused(bad: dict, tmp_path: Path, kind: str, how: str, capsys,
                                               caplog) -> None:
    path = tmp_path / f"{kind}.keras"
    _bad_model(kind).save(path)
    out = tmp_path / "out" / "bundle"
    run = convert_cli([str(path), "--calib", str(bad["data"]), "--out", str(out), "--labels", "a,b,c,d"], how,
                      capsys, caplog)
    line = _expect_refusal(run, out, "unsupported architecture", ARCH_FOUND[kind], "supported:")
    assert str(path) in line


@pytest.mark.parametrize("name,how", [("corrupt.keras", "cli"), ("corrupt.h5", "main"), ("missing.keras", "cli")])
def test_unloadable_model_files(bad: dict, tmp_path: Path, name: str, how: str, capsys, caplog) -> None:
    out = tmp_path / "bundle"
    run = convert_cli([str(bad["root"] / name), "--calib", str(bad["data"]), "--out", str(out), "--labels",
                       "a,b,c,d"], how, capsys, caplog)
    _expect_refusal(run, out, name, "not found" if name.startswith("missing") else "cannot load")


@pytest.fixture(scope="module")
def good_small(bad: dict) -> Path:
    path = bad["root"] / "small.keras"
    _bad_model("good").save(path)
    return path


@pytest.mark.parametrize("case,how", [("empty", "cli"), ("missing", "cli"), ("no_labels", "cli"),
                                      ("out_exists", "cli"), ("out_holds_calib", "cli"), ("too_few_readable", "main"),
                                      ("labels_mismatch", "main"), ("no_input_scale", "main")])
def test_bad_inputs(bad: dict, good_small: Path, tmp_path: Path, case: str, how: str, capsys, caplog) -> None:
    out = tmp_path / "bundle"
    calib = {"empty": bad["root"] / "empty", "missing": bad["root"] / "nope",
             "too_few_readable": bad["unreadable"]}.get(case, bad["data"])
    labels = {"labels_mismatch": ["--labels", "a,b,c"], "no_labels": []}.get(case, ["--labels", "a,b,c,d"])
    force = []
    if case == "out_exists":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "out_holds_calib":  # --force must never remove the calibration data (or the model)
        out, force = bad["root"], ["--force"]
    model = good_small
    if case == "no_input_scale":
        model = tmp_path / "reference_style.keras"
        _bad_model("good", rescaling=False).save(model)  # no Rescaling: the input scale is unknown
    run = convert_cli([str(model), "--calib", str(calib), "--out", str(out), *labels, *force], how, capsys, caplog)
    needles = {
        "empty": (str(calib), "empty"),
        "missing": (str(calib), "not found"),
        "too_few_readable": ("usable calibration clip",),
        "labels_mismatch": ("3 class names", "4 classes"),
        "no_labels": ("--labels",),
        "out_exists": (str(out), "--force"),
        "out_holds_calib": (str(out), "would replace"),
        "no_input_scale": ("--input-scale unit",),
    }[case]
    if case in ("out_exists", "out_holds_calib"):
        assert run.returncode == 2 and len(error_lines(run.stderr)) == 1, run.stderr
        assert all(n in error_lines(run.stderr)[0] for n in needles), error_lines(run.stderr)
        assert (out / "keep.txt").read_text() == "mine" if case == "out_exists" else (calib / "train.csv").is_file()
        assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")] == []
    else:
        _expect_refusal(run, out, *needles)
    if case == "too_few_readable":
        assert "unreadable" in run.stderr  # each skipped clip was named in a warning first


def test_help_and_version() -> None:
    proc = run_cli(CONVERT + ["--help"], check=True)
    for option in ("--calib", "--val", "--out", "--input-scale", "--labels", "--fps", "--calib-frames", "--mode",
                   "--min-agreement", "--force", "--seed", "--log-level"):
        assert option in proc.stdout, option
    proc = run_cli(CONVERT + ["--version"], check=True)
    assert proc.stdout.startswith("gesture-convert ")


# ---- pieces (in process, fast) ----------------------------------------------------------------------------------


def test_tolerant_loader_resizes_skips_and_gives_up(tmp_path: Path) -> None:
    write_clip(tmp_path / "clip", 0, seed=1, frames=8)
    ref = ClipRef(tmp_path / "clip", "Swipe", frame_files(tmp_path / "clip"), "test")
    clip = load_clip_tolerant(ref, 5, (32, 48))
    assert clip.shape == (5, 32, 48, 3) and clip.dtype == np.uint8  # 120x160 JPEGs resized (W=48, H=32)
    expected = cv2.cvtColor(cv2.resize(cv2.imread(str(ref.frame_files[0])), (48, 32), interpolation=cv2.INTER_AREA),
                            cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(clip[0], expected)
    corrupt_frame(tmp_path / "clip", 0)
    corrupt_frame(tmp_path / "clip", 7)
    clip = load_clip_tolerant(ref, 5, (32, 48))
    assert clip.shape == (5, 32, 48, 3)  # re-sampled from the 6 readable frames
    np.testing.assert_array_equal(clip[0], cv2.cvtColor(cv2.resize(cv2.imread(str(ref.frame_files[1])), (48, 32),
                                                                   interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    corrupt_frame(tmp_path / "clip", 1)
    corrupt_frame(tmp_path / "clip", 2)
    assert load_clip_tolerant(ref, 5, (32, 48)) is None  # 4 readable frames left, 5 needed


def test_analyze_recognises_types_not_names() -> None:
    model = _bad_model("good")
    for index, layer in enumerate(model.layers):  # names that would fool a name-based reader
        layer.name = f"lstm_{index}" if index < 3 else f"mobilenet_{index}"
    parts = structure.analyze(model)
    assert (parts.cell, parts.state_size, parts.num_classes, parts.frames) == ("lstm", 4, 4, FRAMES)
    assert parts.leading_rescale == pytest.approx((1 / 255, 0.0))
    assert structure.normalization_name(parts, "none") == "unit"
    assert len(parts.frame_layers) == 3 and len(parts.head) == 1


def test_decision_settings_beside_the_model_or_given_travel_into_the_manifest(tmp_path: Path) -> None:
    from convert.export import ExportError, ExportSettings, read_decision, read_labels

    model = tmp_path / "model.keras"
    model.write_bytes(b"")
    (tmp_path / "labels.json").write_text((ROOT / "models" / "demo" / "labels.json").read_text())
    labels = read_labels(None, model)
    settings = ExportSettings(model=model, calib=tmp_path, out=tmp_path / "b")
    assert read_decision(settings, labels) == (None, {})  # nothing beside the model: no block
    block = {"threshold": 0.9, "consecutive_windows": 3}
    (tmp_path / "decision.json").write_text(json.dumps({"decision": block, "decision_tuning": {"k": 1}}))
    assert read_decision(settings, labels) == (block, {"k": 1, "carried_from": str(tmp_path / "decision.json")})
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"decision": {"threshold": 0.7}}))
    given = dataclasses.replace(settings, decision=other)
    assert read_decision(given, labels) == ({"threshold": 0.7}, {"carried_from": str(other)})
    with pytest.raises(ExportError, match="--decision .*missing.json: file not found"):
        read_decision(dataclasses.replace(settings, decision=tmp_path / "missing.json"), labels)
