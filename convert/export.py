"""gesture-convert: a trained Keras clip model -> a full-integer TFLite bundle for the edge runtime.

The clip model (TimeDistributed(MobileNet ...) -> LSTM/GRU -> Dense head) is split in two:
- `features.tflite`: one uint8 RGB frame in (the normalization folded in, input scale 1.0 / zero point 0, so
  the runtime feeds raw camera pixels), int8 feature vector out;
- `step.tflite`: one recurrent step, built from `LSTMCell`/`GRUCell` with the trained weights plus the dense
  head: (features, h[, c]) in -> (probs, h[, c]) out. A Keras LSTM layer would convert to a WHILE loop, whose
  int8 conversion fails, and stateful RNNs are not convertible; a cell with explicit state is.
Calibration: a few hundred frames for the feature model; for the step model, real (x, h, c) trajectories made
by running the float models over whole calibration clips from zero state. The report's int8 figures are
produced by the edge runtime's own classes (`edge.bundle`, `edge.stream`), the code that runs on the Pi.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from convert.data import CLASS_ORDER, ClipRef, DatasetError, frame_files, load_clip, read_casestudy  # noqa: E402
from edge import __version__  # noqa: E402
from edge.manifest import (  # noqa: E402
    DEFAULT_ACTIONS, STEP_INPUTS, STEP_OUTPUTS, Manifest, ManifestError, ModelSpec, TensorSpec, sha256_file,
    write_text_atomic,
)

logger = logging.getLogger(__name__)

NORMALIZATION_LAYERS = {"unit": (1 / 255.0, 0.0), "mobilenet": (1 / 127.5, -1.0)}
SUPPORTED = ("a Sequential/functional clip model: TimeDistributed frame layers (optional Rescaling, a MobileNet "
             "or other 2-D CNN, BatchNormalization, MaxPooling2D, Flatten) -> one LSTM or GRU "
             "(return_sequences=False) -> Dropout/Dense head")
SIGNATURE = "serving_default"
MIN_CALIB_CLIPS = 2


class ConvertError(ValueError):
    """A conversion problem; the message is one line naming the file or option."""


@dataclass(frozen=True)
class ConvertSettings:
    model: Path
    calib: Path
    val: Path | None
    out: Path
    input_scale: str | None
    labels: str | None
    fps: float | None
    calib_frames: int
    mode: str
    min_agreement: float
    force: bool
    seed: int


@dataclass
class Structure:
    """What the exporter found in the clip model."""

    frame_layers: list
    rnn: object
    head: list
    cell: str
    normalization: str
    """unit | mobilenet | none: what the trained model expects its pixels to be."""
    prepend: tuple[float, float] | None
    """A Rescaling (scale, offset) to put in front, when the model has none inside."""
    frames: int
    size_hw: tuple[int, int]


def _keras():
    import keras

    return keras


def load_keras_model(path: Path):
    """Load a .keras or legacy .h5 model; one-line errors."""
    if not path.is_file():
        raise ConvertError(f"{path}: model file not found")
    if path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ConvertError(f"{path}: expected a .keras or .h5 Keras model file")
    keras = _keras()
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds for a corrupt file
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ConvertError(f"{path}: not a readable Keras model ({detail})") from None


def analyse(model, input_scale: str | None) -> Structure:
    """Recognise the clip model by layer types; refuse anything else with what was found."""
    keras = _keras()
    layers = list(model.layers)
    kinds = [type(layer).__name__ for layer in layers]
    found = " -> ".join(k if k != "TimeDistributed" else f"TimeDistributed({type(l.layer).__name__})"
                        for k, l in zip(kinds, layers))
    rnn_types = (keras.layers.LSTM, keras.layers.GRU)
    if any(isinstance(layer, keras.layers.Bidirectional) for layer in layers):
        raise ConvertError(f"unsupported model: a Bidirectional RNN ({found}); supported: {SUPPORTED}")
    rnns = [i for i, layer in enumerate(layers) if isinstance(layer, (keras.layers.RNN, *rnn_types))]
    if not rnns:
        conv3d = any(isinstance(layer, keras.layers.Conv3D) for layer in layers)
        what = "a Conv3D clip model" if conv3d else "no recurrent layer"
        raise ConvertError(f"unsupported model: {what} ({found}); supported: {SUPPORTED}")
    if len(rnns) > 1:
        raise ConvertError(f"unsupported model: stacked RNNs ({found}); supported: {SUPPORTED}")
    index = rnns[0]
    rnn = layers[index]
    if not isinstance(rnn, rnn_types):
        raise ConvertError(f"unsupported model: recurrent layer {type(rnn).__name__} ({found}); supported: {SUPPORTED}")
    if rnn.return_sequences:
        raise ConvertError(f"unsupported model: {type(rnn).__name__} with return_sequences=True at the end "
                           f"({found}); supported: {SUPPORTED}")
    if getattr(rnn, "go_backwards", False) or getattr(rnn, "stateful", False):
        raise ConvertError(f"unsupported model: a go_backwards/stateful {type(rnn).__name__}; supported: {SUPPORTED}")
    before, head = layers[:index], layers[index + 1:]
    if not before or not all(isinstance(layer, keras.layers.TimeDistributed) for layer in before):
        raise ConvertError(f"unsupported model: layers before the RNN must all be TimeDistributed ({found}); "
                           f"supported: {SUPPORTED}")
    allowed_head = (keras.layers.Dense, keras.layers.Dropout, keras.layers.Activation, keras.layers.Softmax)
    if not head or not all(isinstance(layer, allowed_head) for layer in head):
        raise ConvertError(f"unsupported model: after the RNN only Dense/Dropout/Activation layers ({found}); "
                           f"supported: {SUPPORTED}")
    frame_layers = [layer.layer for layer in before]
    shape = model.input_shape
    if len(shape) != 5 or shape[-1] != 3 or None in shape[1:]:
        raise ConvertError(f"unsupported model: input shape {shape}, expected (batch, frames, H, W, 3)")
    normalization, prepend = "none", None
    first = frame_layers[0]
    if isinstance(first, keras.layers.Rescaling):
        pair = (float(np.asarray(first.scale).reshape(-1)[0]), float(np.asarray(first.offset).reshape(-1)[0]))
        matches = [name for name, ref in NORMALIZATION_LAYERS.items() if np.allclose(pair, ref, rtol=1e-4)]
        normalization = matches[0] if matches else f"rescaling({pair[0]:.6g}, {pair[1]:.6g})"
        if input_scale not in (None, "none") and matches and input_scale != matches[0]:
            raise ConvertError(f"--input-scale {input_scale}: the model already normalizes its input "
                               f"({normalization}); leave the flag out")
    else:
        if input_scale is None:
            raise ConvertError("the model has no Rescaling layer in front: say how it was trained with "
                               "--input-scale unit (pixels/255, as in the reference notebook), mobilenet "
                               "(pixels/127.5-1) or none (raw 0..255)")
        normalization = input_scale
        prepend = NORMALIZATION_LAYERS.get(input_scale)
    cell = "lstm" if isinstance(rnn, keras.layers.LSTM) else "gru"
    return Structure(frame_layers=frame_layers, rnn=rnn, head=head, cell=cell, normalization=normalization,
                     prepend=prepend, frames=int(shape[1]), size_hw=(int(shape[2]), int(shape[3])))


def build_feature_model(s: Structure):
    """Functional frame model: uint8-valued (1, H, W, 3) float input -> {'features': (1, F)}."""
    keras = _keras()
    frame = keras.Input((*s.size_hw, 3), batch_size=1, name="frame")
    x = frame
    if s.prepend is not None:
        x = keras.layers.Rescaling(s.prepend[0], offset=s.prepend[1], name="folded_normalization")(x)
    for layer in s.frame_layers:
        x = layer(x)
    return keras.Model(frame, {"features": x}, name="features")


def build_step_model(s: Structure, feature_size: int):
    """Functional single step: features, h[, c] -> {'probs', 'h_out'[, 'c_out']}, the trained weights copied."""
    keras = _keras()
    rnn = s.rnn
    units = rnn.units
    features = keras.Input((feature_size,), batch_size=1, name="features")
    h = keras.Input((units,), batch_size=1, name="h")
    common = dict(activation=rnn.activation, recurrent_activation=rnn.recurrent_activation, use_bias=rnn.use_bias)
    if s.cell == "lstm":
        c = keras.Input((units,), batch_size=1, name="c")
        cell = keras.layers.LSTMCell(units, **common)
        out, (h2, c2) = cell(features, [h, c])
        inputs, outputs = [features, h, c], {"h_out": h2, "c_out": c2}
    else:
        cell = keras.layers.GRUCell(units, reset_after=rnn.cell.reset_after, **common)
        out, h2 = cell(features, h)
        h2 = h2[0] if isinstance(h2, (list, tuple)) else h2
        inputs, outputs = [features, h], {"h_out": h2}
    cell.set_weights(rnn.cell.get_weights())
    x = out
    for layer in s.head:
        x = layer(x)
    outputs["probs"] = x
    return keras.Model(inputs, outputs, name="step")


OUTPUT_NAMES = {"features": "features", "probs": "probs", "h": "h_out", "c": "c_out"}


def read_calibration(root: Path, frames: int, size_hw: tuple[int, int]) -> tuple[list[ClipRef], list[np.ndarray]]:
    """Clips from a case-study root (its train split) or a folder of clip folders; unreadable clips skipped."""
    if not root.is_dir():
        raise ConvertError(f"{root}: calibration folder not found")
    if (root / "train.csv").is_file():
        refs = read_casestudy(root, "train")
    else:
        refs = [ClipRef(p, "", frame_files(p), str(p)) for p in sorted(root.iterdir()) if p.is_dir()]
        refs = [r for r in refs if r.frame_files]
    if not refs:
        raise ConvertError(f"{root}: no calibration clips (expected a case-study layout or folders of frames)")
    return load_clips(refs, frames, size_hw, str(root))


def load_clips(refs: list[ClipRef], frames: int, size_hw: tuple[int, int], where: str):
    kept, clips = [], []
    for ref in refs:
        try:
            clips.append(load_clip(ref, frames, size_hw))
            kept.append(ref)
        except DatasetError as exc:
            logger.warning("skipping clip: %s", exc)
    if len(clips) < MIN_CALIB_CLIPS:
        raise ConvertError(f"{where}: only {len(clips)} readable clips of {len(refs)}, need at least "
                           f"{MIN_CALIB_CLIPS} with {frames} frames each")
    return kept, clips


def _progress(iterable, total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit="sample", file=sys.stderr, leave=False)


def convert_model(keras_model, representative: Iterator | None, uint8_input: bool, mode: str = "int8") -> bytes:
    """TFLite bytes: float (representative None) or full-integer."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        if mode == "int16x8":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int16
        else:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8 if uint8_input else tf.int8
            converter.inference_output_type = tf.int8
    return converter.convert()


def float_ops(path: Path) -> list[str]:
    """Ops of a .tflite file that read or write a float32 tensor (none in a full-integer model)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    dtypes = {t["index"]: np.dtype(t["dtype"]) for t in interpreter.get_tensor_details()}
    bad = []
    for op in interpreter._get_ops_details():  # noqa: SLF001 - the public API has no op list
        tensors = [i for i in list(op["inputs"]) + list(op["outputs"]) if i >= 0]
        if any(dtypes.get(i) == np.float32 for i in tensors):
            bad.append(op["op_name"])
    return bad


def tensor_specs(path: Path, roles: dict[str, str], part: str) -> dict[str, TensorSpec]:
    """Role -> TensorSpec read from the converted model's signature."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner(SIGNATURE)
    details = runner.get_input_details() if part == "inputs" else runner.get_output_details()
    specs = {}
    for role, name in roles.items():
        d = details[name]
        scale, zero_point = d["quantization"]
        specs[role] = TensorSpec(name=name, shape=tuple(int(v) for v in d["shape"]), dtype=np.dtype(d["dtype"]).name,
                                 scale=float(scale), zero_point=int(zero_point))
    return specs


def model_spec(bundle: Path, file: str, cell: str, kind: str) -> ModelSpec:
    path = bundle / file
    if kind == "features":
        inputs = tensor_specs(path, {"frame": "frame"}, "inputs")
        outputs = tensor_specs(path, {"features": "features"}, "outputs")
    else:
        inputs = tensor_specs(path, {r: r for r in STEP_INPUTS[cell]}, "inputs")
        outputs = tensor_specs(path, {r: OUTPUT_NAMES[r] for r in STEP_OUTPUTS[cell]}, "outputs")
    return ModelSpec(file=file, sha256=sha256_file(path), signature=SIGNATURE, inputs=inputs, outputs=outputs,
                     size_bytes=path.stat().st_size)


def resolve_labels(settings: ConvertSettings, num_classes: int) -> tuple[list[str], dict]:
    """Labels in output order and the labels.json metadata (fps, actions, background)."""
    meta: dict = {}
    text = settings.labels
    default = settings.model.with_name("labels.json")
    if text is None and default.is_file():
        text = str(default)
    if text is None:
        if num_classes in (4, 5):
            labels = list(CLASS_ORDER[:num_classes])
            logger.warning("no --labels and no labels.json beside the model: assuming %s", labels)
        else:
            raise ConvertError(f"the model has {num_classes} classes: give --labels labels.json or --labels a,b,c")
    elif text.endswith(".json") or Path(text).is_file():
        try:
            meta = json.loads(Path(text).read_text())
            labels = list(meta["labels"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConvertError(f"{text}: expected a JSON object with a 'labels' list ({exc})") from None
    else:
        labels = [part.strip() for part in text.split(",") if part.strip()]
    if len(labels) != num_classes:
        raise ConvertError(f"--labels: {len(labels)} labels ({', '.join(labels)}) but the model has {num_classes} classes")
    return labels, meta


def representative_frames(clips: list[np.ndarray], count: int, seed: int) -> list[np.ndarray]:
    frames = np.concatenate(clips)
    order = np.random.default_rng(seed).permutation(len(frames))[:count]
    return [frames[i] for i in sorted(order)]


def trajectories(feature_model, step_model, clips: list[np.ndarray], cell: str) -> list[dict[str, np.ndarray]]:
    """(x_t, h_t[, c_t]) for every step of every clip, the float models fed their own state back."""
    samples = []
    units = step_model.input_shape[1][-1]
    for clip in _progress(clips, len(clips), "calibration trajectories"):
        feats = [feature_model(clip[t: t + 1].astype(np.float32), training=False)["features"].numpy()
                 for t in range(len(clip))]
        state = {"h": np.zeros((1, units), np.float32)}
        if cell == "lstm":
            state["c"] = np.zeros((1, units), np.float32)
        for x in feats:
            samples.append({"features": x.astype(np.float32), **{k: v.copy() for k, v in state.items()}})
            out = step_model({"features": x, **state}, training=False)
            state = {k: out[OUTPUT_NAMES[k]].numpy() for k in state}
    return samples


def export(settings: ConvertSettings) -> tuple[Path, dict]:
    """Convert, verify, report; returns the bundle path and the report (written even if agreement is low)."""
    started = time.monotonic()
    model = load_keras_model(settings.model)
    structure = analyse(model, settings.input_scale)
    num_classes = int(model.output_shape[-1])
    labels, meta = resolve_labels(settings, num_classes)
    fps = settings.fps or float(meta.get("model_fps") or 0) or None
    if fps is None:
        raise ConvertError("the clips' frame rate is unknown: give --fps (frames per second as the model saw them)")
    calib_refs, calib_clips = read_calibration(settings.calib, structure.frames, structure.size_hw)
    val_root = settings.val or settings.calib
    if (val_root / "val.csv").is_file():
        val_refs, val_clips = load_clips(read_casestudy(val_root, "val"), structure.frames, structure.size_hw,
                                         str(val_root))
    elif settings.val is not None:
        val_refs, val_clips = read_calibration(settings.val, structure.frames, structure.size_hw)
    else:  # hold out the last fifth of the calibration clips
        cut = max(1, len(calib_clips) // 5)
        val_refs, val_clips = calib_refs[-cut:], calib_clips[-cut:]
        calib_refs, calib_clips = calib_refs[:-cut], calib_clips[:-cut]
    logger.info("calibration: %d clips; validation: %d clips", len(calib_clips), len(val_clips))

    feature_model = build_feature_model(structure)
    feature_size = int(feature_model.outputs[0].shape[-1])
    step_model = build_step_model(structure, feature_size)

    settings.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{settings.out.name}.", dir=settings.out.parent))
    try:
        (tmp / "float").mkdir()
        frames = representative_frames(calib_clips, settings.calib_frames, settings.seed)

        def frame_data():
            for frame in _progress(frames, len(frames), "calibrating features"):
                yield {"frame": frame[None].astype(np.float32)}

        (tmp / "features.tflite").write_bytes(convert_model(feature_model, frame_data, uint8_input=True))
        samples = trajectories(feature_model, step_model, calib_clips, structure.cell)

        def step_data():
            for sample in _progress(samples, len(samples), "calibrating step"):
                yield sample

        (tmp / "step.tflite").write_bytes(convert_model(step_model, step_data, False, settings.mode))
        (tmp / "float" / "features.tflite").write_bytes(convert_model(feature_model, None, False))
        (tmp / "float" / "step.tflite").write_bytes(convert_model(step_model, None, False))
        for name in ("features.tflite", "step.tflite"):
            bad = float_ops(tmp / name)
            if bad:
                raise ConvertError(f"{name}: not full-integer, float ops {sorted(set(bad))} (unsupported layer?)")
        import keras
        import tensorflow as tf

        background = meta.get("background_label", "No gesture" if "No gesture" in labels else None)
        actions = meta.get("actions") or {g: a for g, a in DEFAULT_ACTIONS.items() if g in labels}
        manifest = Manifest(
            labels=tuple(labels), actions={g: a for g, a in actions.items() if g in labels and g != background},
            frames_per_clip=structure.frames, model_fps=fps, input_height_px=structure.size_hw[0],
            input_width_px=structure.size_hw[1], color_order="RGB", normalization=structure.normalization
            if structure.normalization in ("unit", "mobilenet", "none") else "none",
            cell=structure.cell, state_size=int(structure.rnn.units), feature_size=feature_size,
            quantization=settings.mode,
            features=model_spec(tmp, "features.tflite", structure.cell, "features"),
            step=model_spec(tmp, "step.tflite", structure.cell, "step"),
            float_features=model_spec(tmp, "float/features.tflite", structure.cell, "features"),
            float_step=model_spec(tmp, "float/step.tflite", structure.cell, "step"),
            background_label=background,
            created_by={"converter": f"gesture-convert {__version__}", "tensorflow": tf.__version__,
                        "keras": keras.__version__, "source_model": settings.model.name,
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        )
        frame_spec = manifest.features.inputs["frame"]
        if (frame_spec.dtype, frame_spec.scale, frame_spec.zero_point) != ("uint8", 1.0, 0):
            raise ConvertError(f"features.tflite: input quantization ({frame_spec.scale}, {frame_spec.zero_point}) is "
                               "not (1.0, 0): calibration frames do not span 0..255")
        manifest.write(tmp)
        report = make_report(tmp, model, labels, val_refs, val_clips, settings, time.monotonic() - started)
        write_text_atomic(tmp / "report.json", json.dumps(report, indent=1) + "\n")
        write_text_atomic(tmp / "report.md", report_markdown(report))
        if settings.out.exists():
            shutil.rmtree(settings.out)
        tmp.rename(settings.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return settings.out, report


def make_report(bundle_dir: Path, model, labels: list[str], refs: list[ClipRef], clips: list[np.ndarray],
                settings: ConvertSettings, elapsed_s: float) -> dict:
    """Float Keras clip model vs the int8 streaming path run by the edge runtime itself."""
    from edge.bundle import load_bundle
    from edge.stream import classify_window

    bundle = load_bundle(bundle_dir)
    float_probs = model.predict(np.stack(clips).astype(np.float32), batch_size=8, verbose=0)
    int8_probs = np.stack([classify_window(bundle, clip) for clip in clips])
    float_top, int8_top = float_probs.argmax(1), int8_probs.argmax(1)
    truth = np.array([labels.index(r.label) if r.label in labels else -1 for r in refs])
    known = truth >= 0
    n = len(labels)

    def confusion(pred: np.ndarray) -> list[list[int]]:
        matrix = np.zeros((n, n), dtype=int)
        np.add.at(matrix, (truth[known], pred[known]), 1)
        return matrix.tolist()

    def size(name: str) -> int:
        return (bundle_dir / name).stat().st_size

    diff = np.abs(float_probs - int8_probs)
    return {
        "model": str(settings.model), "calibration": str(settings.calib), "validation_clips": len(clips),
        "labelled_clips": int(known.sum()), "labels": labels, "mode": settings.mode,
        "float_accuracy": float(np.mean(float_top[known] == truth[known])) if known.any() else None,
        "int8_accuracy": float(np.mean(int8_top[known] == truth[known])) if known.any() else None,
        "top1_agreement": float(np.mean(float_top == int8_top)),
        "mean_abs_prob_diff": float(diff.mean()), "max_abs_prob_diff": float(diff.max()),
        "confusion_float": confusion(float_top), "confusion_int8": confusion(int8_top),
        "sizes_bytes": {"features_int8": size("features.tflite"), "step_int8": size("step.tflite"),
                        "features_float": size("float/features.tflite"), "step_float": size("float/step.tflite")},
        "min_agreement": settings.min_agreement, "backend": bundle.backend.name,
        "conversion_s": round(elapsed_s, 1),
    }


def report_markdown(r: dict) -> str:
    """The human-readable report."""
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    lines = [
        f"# Conversion report: {Path(r['model']).name}", "",
        f"Validation clips: {r['validation_clips']} ({r['labelled_clips']} labelled); int8 path run by the edge "
        f"runtime ({r['backend']}), mode {r['mode']}.", "",
        "| metric | value |", "|---|---|",
        f"| float Keras clip-model accuracy | {pct(r['float_accuracy'])} |",
        f"| int8 streaming-path accuracy | {pct(r['int8_accuracy'])} |",
        f"| top-1 agreement int8 vs float | {pct(r['top1_agreement'])} (minimum {pct(r['min_agreement'])}) |",
        f"| mean / max abs probability difference | {r['mean_abs_prob_diff']:.4f} / {r['max_abs_prob_diff']:.4f} |",
        f"| features.tflite int8 / float | {r['sizes_bytes']['features_int8'] / 1024:.0f} KiB / "
        f"{r['sizes_bytes']['features_float'] / 1024:.0f} KiB |",
        f"| step.tflite int8 / float | {r['sizes_bytes']['step_int8'] / 1024:.0f} KiB / "
        f"{r['sizes_bytes']['step_float'] / 1024:.0f} KiB |",
        f"| conversion time | {r['conversion_s']} s |", "",
    ]
    for key, title in (("confusion_float", "float"), ("confusion_int8", "int8")):
        lines += [f"## Per-class confusion ({title}; rows true, columns predicted)", "",
                  "| | " + " | ".join(r["labels"]) + " |", "|---" * (len(r["labels"]) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(str(v) for v in row) + " |" for label, row in zip(r["labels"], r[key])]
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """gesture-convert: export a trained clip model to a full-integer TFLite bundle for the edge runtime."""
    parser = argparse.ArgumentParser(prog="gesture-convert", description=main.__doc__)
    parser.add_argument("model", type=Path, help="trained Keras clip model (.keras or .h5)")
    parser.add_argument("--calib", type=Path, required=True, help="calibration clips (case-study layout or clip folders)")
    parser.add_argument("--val", type=Path, help="validation clips for the report (default: calib's val split)")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument("--input-scale", choices=("unit", "mobilenet", "none"),
                        help="normalization the model was trained with (default: detect a leading Rescaling)")
    parser.add_argument("--labels", help="labels.json, or a,b,c,... in output order (default: labels.json beside MODEL)")
    parser.add_argument("--fps", type=float, help="frame rate of the clips as the model saw them (default: labels.json)")
    parser.add_argument("--calib-frames", type=int, default=300, help="frames to calibrate the feature model")
    parser.add_argument("--mode", choices=("int8", "int16x8"), default="int8", help="step model activations")
    parser.add_argument("--min-agreement", type=float, default=0.97, help="fail below this int8/float top-1 agreement")
    parser.add_argument("--force", action="store_true", help="replace an existing --out folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.out.exists() and not args.force:
        print(f"gesture-convert: error: {args.out}: exists (use --force to replace it)", file=sys.stderr)
        return 2
    if args.calib_frames < 10 or not 0 <= args.min_agreement <= 1 or (args.fps is not None and args.fps <= 0):
        print("gesture-convert: error: --calib-frames >= 10, --min-agreement in [0, 1], --fps > 0 expected",
              file=sys.stderr)
        return 2
    settings = ConvertSettings(
        model=args.model, calib=args.calib, val=args.val, out=args.out, input_scale=args.input_scale,
        labels=args.labels, fps=args.fps, calib_frames=args.calib_frames, mode=args.mode,
        min_agreement=args.min_agreement, force=args.force, seed=args.seed)
    try:
        out, report = export(settings)
    except (ConvertError, DatasetError, ManifestError) as exc:
        print(f"gesture-convert: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(report_markdown(report).split("## Per-class")[0].rstrip())
    print(f"\nwrote {out} (manifest.json, features.tflite, step.tflite, float/, report.md, report.json)")
    if report["top1_agreement"] < settings.min_agreement:
        print(f"gesture-convert: error: int8/float top-1 agreement {report['top1_agreement']:.3f} is below "
              f"--min-agreement {settings.min_agreement}; see {out / 'report.md'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
