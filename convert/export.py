"""gesture-convert: export a trained MobileNet+LSTM/GRU clip model to a full-integer TFLite bundle.

    gesture-convert MODEL --calib DIR [--val DIR] --out BUNDLE_DIR

The clip model is split where time enters (see `convert.structure`): `features.tflite` runs once per camera
frame (uint8 RGB in, scale 1.0 / zero point 0, normalization folded in; int8 features out) and `step.tflite`
is one LSTM/GRU step plus the Dense head (features, h[, c] -> probs, h[, c]). Both are full-integer, calibrated
on real clips: a few hundred frames for the frame model and the real (x, h, c) trajectories of the float model
over whole clips for the step model. `float/` holds float32 references of the same two models.

The bundle is validated before it is handed over: the Keras clip model and the int8 bundle, run through the
edge runtime's own code, classify the validation clips; report.md/report.json hold accuracy, top-1 agreement,
probability differences, confusion matrices, sizes and every flip with the float model's margin. The gate
counts clips (`convert.report.gate`): agreement shown below --min-agreement at 95% confidence exits 1 but
keeps the bundle for inspection; too few clips to tell either way is said loudly (exit 0), with how many
clips would be enough. Everything is written to a temp folder beside --out and renamed at the end.

Exit status: 0 done; 1 bundle written but agreement shown below --min-agreement; 2 bad input or failed
conversion.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from convert.data import DatasetError
from edge import __version__
from edge.cliargs import OneLineParser, add_log_level, add_version, int_arg, number_arg
from edge.errors import one_line
from edge.fileio import make_temp_dir, replace_dir, write_bytes_atomic
from edge.manifest import (
    LABEL,
    STEP_INPUTS,
    STEP_OUTPUTS,
    Manifest,
    ManifestError,
    ModelSpec,
    TensorSpec,
    read_decision_file,
    sha256_file,
)
from edge.validate import Invalid, message
from edge.vocab import ACTIONS, BACKGROUND, DEFAULT_ACTIONS, NORMALIZATIONS, QUANTIZATION_MODES

logger = logging.getLogger(__name__)

PROG = "gesture-convert"
INPUT_SCALE_CHOICES = NORMALIZATIONS
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
DECISION_FILE = "decision.json"
"""Decision settings beside a model that gesture-convert carries into the manifest (like labels.json)."""
DEFAULT_FPS = 10.0
"""Used (with a warning) when neither --fps nor labels.json says: 20 frames sampled from 2 s clips."""
DEFAULT_CALIB_FRAMES = 300
BACKGROUND_DEFAULT = BACKGROUND
EXIT_OK, EXIT_DISAGREE, EXIT_ERROR = 0, 1, 2


class ExportError(ValueError):
    """A user-facing problem (bad input, unsupported model, failed conversion). The message is one line."""


@dataclass(frozen=True)
class ExportSettings:
    """Everything gesture-convert was asked to do."""

    model: Path
    """Trained Keras clip model (.keras or legacy .h5)."""
    calib: Path
    """Calibration clips: a case-study root (train split) or a folder of clip folders."""
    out: Path
    """Bundle folder to create."""
    val: Path | None = None
    """Validation clips; default: the val split of --calib, else the calibration clips themselves."""
    input_scale: str | None = None
    """What the model's input expects: unit (x/255), mobilenet (x/127.5-1), none (raw); None: detect."""
    labels: str | None = None
    """labels.json path or 'a,b,c'; None: labels.json next to the model."""
    fps: float | None = None
    """Frame rate of the training clips as the model saw them; None: from labels.json, else 10.0."""
    calib_frames: int = DEFAULT_CALIB_FRAMES
    """About this many frames (whole clips) calibrate the frame model; their trajectories the step model."""
    mode: str = "int8"
    """Step model activations: int8, or int16x8 (16-bit activations, 8-bit weights)."""
    min_agreement: float = 0.97
    """Top-1 agreement float vs int8 shown below this (95% confidence) exits 1 (the bundle is kept)."""
    force: bool = False
    """Replace an existing --out."""
    seed: int = 1
    """Seeds the choice of calibration clips."""
    num_threads: int = 2
    """Interpreter threads for validation."""
    decision: Path | None = None
    """Decision settings to carry in the manifest (a "decision" block: `gesture-bench tune --save-decision`, or a
    tuned bundle's manifest.json); None: decision.json beside the model when there is one."""


@dataclass(frozen=True)
class LabelInfo:
    """Class names and the training facts labels.json may carry."""

    labels: tuple[str, ...]
    source: str
    background: str | None
    actions: dict[str, str]
    model_fps: float | None = None
    frames: int | None = None
    size_px: tuple[int, int] | None = None
    normalization: str | None = None


@dataclass(frozen=True)
class ExportResult:
    out: Path
    report: dict[str, Any]
    passed: bool


# --------------------------------------------------------------------------------------------------------------
# Cheap checks (before TensorFlow is imported).


def _labels_from_list(names: Sequence[Any], source: str) -> tuple[str, ...]:
    if len(names) < 2 or not all(isinstance(n, str) and n.strip() for n in names):
        raise ExportError(f"{source}: expected at least two non-empty class names, got {list(names)[:8]}")
    labels = tuple(n.strip() for n in names)
    if len(set(labels)) != len(labels):
        raise ExportError(f"{source}: class names must be distinct, got {list(labels)}")
    for label in labels:  # the same check as the edge's manifest reader: a newline in a label forges log lines
        try:
            LABEL(label)
        except Invalid as exc:
            raise ExportError(message(f"{source}: class name", exc.expected, label)) from None
    return labels


def _actions_for(labels: tuple[str, ...], background: str | None, data: Any, source: str) -> dict[str, str]:
    if data is None:
        return {g: a for g, a in DEFAULT_ACTIONS.items() if g in labels and g != background}
    if not isinstance(data, dict):
        raise ExportError(f"{source}: field actions: expected an object gesture -> action")
    for gesture, action in data.items():
        if gesture not in labels or gesture == background:
            raise ExportError(f"{source}: field actions: '{gesture}' is not a gesture label ({', '.join(labels)})")
        if action not in ACTIONS:
            raise ExportError(f"{source}: field actions.{gesture}: expected one of {', '.join(ACTIONS)}, "
                              f"got {action!r}")
    return dict(data)


def read_labels(value: str | None, model: Path) -> LabelInfo | None:
    """--labels (a labels.json or 'a,b,c'), else labels.json beside the model, else None."""
    if value is None:
        candidate = model.parent / "labels.json"
        if not candidate.is_file():
            return None
        path = candidate
    elif value.lower().endswith(".json") or Path(value).is_file():
        path = Path(value)
    else:
        labels = _labels_from_list(value.split(","), "--labels")
        background = BACKGROUND_DEFAULT if BACKGROUND_DEFAULT in labels else None
        return LabelInfo(labels, "--labels", background, _actions_for(labels, background, None, "--labels"))
    if not path.is_file():
        raise ExportError(f"--labels {path}: file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not readable JSON ({one_line(exc)})") from None
    if isinstance(data, list):
        data = {"labels": data}
    if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
        raise ExportError(f"{path}: expected {{\"labels\": [...], ...}} or a list of class names")
    labels = _labels_from_list(data["labels"], f"{path}: field labels")
    if "background_label" in data:
        background = data["background_label"]
        if background is not None and background not in labels:
            raise ExportError(f"{path}: field background_label: expected one of the labels or null, got {background!r}")
    else:
        background = BACKGROUND_DEFAULT if BACKGROUND_DEFAULT in labels else None
    actions = _actions_for(labels, background, data.get("actions"), str(path))
    fps = data.get("model_fps")
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 240):
        raise ExportError(f"{path}: field model_fps: expected a frame rate in (0, 240], got {fps!r}")
    frames = data.get("frames")
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
        raise ExportError(f"{path}: field frames: expected a positive integer, got {frames!r}")
    size = data.get("size_px")
    size_px = None
    if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size):
        size_px = (int(size[0]), int(size[1]))
    elif isinstance(size, int):
        size_px = (size, size)
    normalization = data.get("normalization") if isinstance(data.get("normalization"), str) else None
    return LabelInfo(labels, str(path), background, actions, None if fps is None else float(fps), frames, size_px,
                     normalization)


def check_inputs(s: ExportSettings) -> None:
    """Everything that can be checked without TensorFlow; ExportError (one line) otherwise."""
    if not s.model.exists():
        raise ExportError(f"{s.model}: model file not found")
    if s.model.is_dir() or s.model.suffix.lower() not in MODEL_SUFFIXES:
        raise ExportError(f"{s.model}: expected a Keras model file (.keras, or legacy .h5)")
    if s.out.exists() and (not s.out.is_dir() or any(s.out.iterdir())) and not s.force:
        raise ExportError(f"--out {s.out}: already exists (use --force to replace it)")
    out = s.out.resolve()
    for what, path in (("calibration clips", s.calib), ("validation clips", s.val), ("model", s.model)):
        if path is None:
            continue
        if out == path.resolve() or out in path.resolve().parents:
            raise ExportError(f"--out {s.out}: would replace the folder holding the {what}; choose another")
    if s.calib_frames < 1:
        raise ExportError(f"--calib-frames: expected >= 1, got {s.calib_frames}")
    if not 0.0 <= s.min_agreement <= 1.0:
        raise ExportError(f"--min-agreement: expected 0..1, got {s.min_agreement}")
    if s.fps is not None and not 0 < s.fps <= 240:
        raise ExportError(f"--fps: expected a frame rate in (0, 240], got {s.fps}")
    if s.mode not in QUANTIZATION_MODES:
        raise ExportError(f"--mode: expected one of {', '.join(QUANTIZATION_MODES)}, got {s.mode}")


# --------------------------------------------------------------------------------------------------------------
# The conversion.


def _progress(stream: Any) -> Callable[[Iterator, int, str], Iterator]:
    from tqdm import tqdm

    def wrap(items: Iterator, total: int, desc: str) -> Iterator:
        return iter(tqdm(items, total=total, desc=desc, file=stream, leave=False, disable=None, unit="it"))

    return wrap


def load_keras_model(path: Path) -> Any:
    """keras.models.load_model, with any failure as one line."""
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - zip, HDF5, deserialization errors all mean "not loadable"
        detail = one_line(exc, with_type=True, limit=200)
        raise ExportError(f"{path}: cannot load it as a Keras model ({detail})") from None


def _model_spec(file: str, data: bytes, roles_in: Sequence[str], roles_out: Sequence[str],
                batched: bool = False) -> ModelSpec:
    """The manifest entry of one converted file, read from the file itself; `batched`: it must have a dynamic
    batch dimension (the step model: the runtime steps every live state in one call)."""
    from convert.quantize import ConversionError, dynamic_batch, signature_specs

    signature, inputs, outputs = signature_specs(data)
    if set(inputs) != set(roles_in) or set(outputs) != set(roles_out):
        raise ConversionError(f"{file}: signature has inputs {sorted(inputs)} and outputs {sorted(outputs)}, "
                              f"expected {sorted(roles_in)} and {sorted(roles_out)}")
    dynamic = dynamic_batch(data)
    if dynamic != batched:
        raise ConversionError(f"{file}: batch dimension came out {'dynamic' if dynamic else 'fixed'}, expected "
                              f"{'dynamic' if batched else 'fixed'}")
    return ModelSpec(file=file, sha256=hashlib.sha256(data).hexdigest(), signature=signature,
                     inputs={role: inputs[role] for role in roles_in},
                     outputs={role: outputs[role] for role in roles_out}, size_bytes=len(data),
                     dynamic_batch=dynamic)


def _tensor_json(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype, "scale": spec.scale,
            "zero_point": spec.zero_point}


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    versions = {"converter": f"{PROG} {__version__}", "tensorflow": tf.__version__, "keras": keras.__version__}
    try:
        from importlib.metadata import version

        versions["ai_edge_litert"] = version("ai-edge-litert")
    except Exception:  # noqa: BLE001 - informative only
        pass
    versions["created_utc"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return versions


@contextlib.contextmanager
def _as_export_error(*types: type[BaseException]) -> Iterator[None]:
    """Re-raise the given exception types as ExportError (same one-line message)."""
    try:
        yield
    except types as exc:
        raise ExportError(one_line(exc)) from None


@dataclass(frozen=True)
class _Clips:
    calib: tuple[Any, ...]
    val: tuple[Any, ...]
    val_source: str


def _find_clips(s: ExportSettings) -> _Clips:
    from convert.calib import ClipError, discover

    with _as_export_error(ClipError):
        calib_set = discover(s.calib, "--calib")
        val_set = discover(s.val, "--val") if s.val is not None else None
    if not calib_set.train:
        raise ExportError(f"--calib {s.calib}: the case-study root has no train split (train.csv) to calibrate on")
    if val_set is not None:
        return _Clips(calib_set.train, val_set.val or val_set.train, str(s.val))
    if calib_set.val:
        return _Clips(calib_set.train, calib_set.val, f"{s.calib} (val split)")
    logger.warning("no validation clips (no --val, no val split in %s): validating on the calibration clips, "
                   "which says little about accuracy", s.calib)
    return _Clips(calib_set.train, calib_set.train, f"{s.calib} (calibration clips)")


@dataclass(frozen=True)
class _Facts:
    """What the bundle will say about the model, resolved from the model, labels.json and the flags."""

    parts: Any
    input_scale: str
    normalization: str
    frames: int
    size_hw: tuple[int, int]
    fps: float


def _resolve_facts(s: ExportSettings, model: Any, labels: LabelInfo) -> _Facts:
    from convert import structure

    try:
        parts = structure.analyze(model)
    except structure.UnsupportedModel as exc:
        raise ExportError(f"{s.model}: unsupported architecture: {exc}") from None
    if s.input_scale is not None:
        input_scale = s.input_scale
        if parts.leading_rescale is not None and input_scale != "none":
            logger.warning("%s starts with a Rescaling layer (it takes raw pixels); --input-scale %s scales "
                           "pixels once more before it", s.model, input_scale)
    elif parts.leading_rescale is not None:
        input_scale = "none"
    else:
        raise ExportError(f"{s.model}: no leading Rescaling layer, so the pixel scale it was trained on is unknown: "
                          f"pass --input-scale unit (pixels/255, as in the reference notebook), mobilenet "
                          f"(pixels/127.5 - 1) or none (raw 0..255)")
    normalization = structure.normalization_name(parts, input_scale)
    if len(labels.labels) != parts.num_classes:
        raise ExportError(f"{labels.source}: {len(labels.labels)} class names ({', '.join(labels.labels)}) but the "
                          f"model outputs {parts.num_classes} classes")
    frames = parts.frames or labels.frames
    if frames is None:
        raise ExportError(f"{s.model}: accepts clips of any length and {labels.source} has no 'frames': cannot tell "
                          f"how many frames per clip it was trained on")
    if labels.frames is not None and labels.frames != frames:
        logger.warning("%s says frames %d, the model takes %d: using %d", labels.source, labels.frames, frames,
                       frames)
    size_hw = (parts.height_px, parts.width_px)
    if labels.size_px is not None and labels.size_px != size_hw:
        logger.warning("%s says size_px %s, the model takes %s: using the model's", labels.source,
                       list(labels.size_px), list(size_hw))
    if labels.normalization is not None and labels.normalization != normalization:
        logger.warning("%s says normalization '%s' but the model with --input-scale %s does '%s'", labels.source,
                       labels.normalization, input_scale, normalization)
    fps = s.fps or labels.model_fps
    if fps is None:
        fps = DEFAULT_FPS
        logger.warning("frame rate unknown (no --fps, no model_fps in labels): assuming %.1f fps, the rate of %d "
                       "frames sampled from a 2 s clip; pass --fps to set it", fps, frames)
    logger.info("model: %s %d cells after TimeDistributed '%s', %d frames of %dx%d, %d classes, input scale %s",
                parts.cell.upper(), parts.state_size, parts.backbone_name, frames, size_hw[1], size_hw[0],
                parts.num_classes, input_scale)
    return _Facts(parts, input_scale, normalization, frames, size_hw, float(fps))


@dataclass(frozen=True)
class _Converted:
    models: dict[str, bytes]
    """Bundle-relative file name -> TFLite bytes."""
    feature_size: int
    calibration: dict[str, Any]
    split_diff: float


def _convert_models(s: ExportSettings, model: Any, facts: _Facts, clips: _Clips,
                    timing: dict[str, float]) -> _Converted:
    """Calibration data, the split check, the four conversions and the full-integer check."""
    from convert import calib as calib_mod
    from convert import structure
    from convert.quantize import (
        ConversionError,
        convert_features,
        convert_step,
        quiet_native_stderr,
        non_integer_ops,
        step_calibration_samples,
    )

    t = time.monotonic()
    parts = facts.parts
    with _as_export_error(calib_mod.ClipError):
        calib_clips, used = calib_mod.load_calibration(clips.calib, s.calib_frames, facts.frames, facts.size_hw,
                                                       s.seed, f"--calib {s.calib}")
    frame_model = structure.build_frame_model(parts, facts.input_scale)
    feature_size = int(frame_model.outputs[0].shape[-1])
    step_model = structure.build_step_model(parts, feature_size)
    with _as_export_error(structure.UnsupportedModel):
        split_diff = structure.check_split(model, frame_model, step_model, parts, calib_clips[:2], facts.input_scale)
    logger.info("split check: clip model vs frame + step models, max |diff| %.2g", split_diff)

    frames = list(calib_clips.reshape(-1, *calib_clips.shape[2:]))
    stretched = calib_mod.full_range_frame(calib_clips)
    if stretched is not None:  # the uint8 input gets scale 1.0 / zero point 0 only if 255 is seen
        frames.append(stretched)
    quiet = logging.getLogger().getEffectiveLevel() > logging.DEBUG
    models: dict[str, bytes] = {}
    with (quiet_native_stderr(quiet) as visible, tempfile.TemporaryDirectory(prefix="gesture-convert.") as work,
          _as_export_error(ConversionError)):
        progress = _progress(visible)
        samples = step_calibration_samples(frame_model, step_model, calib_clips, parts.cell, progress)
        timing["calibration_data"] = time.monotonic() - t
        t = time.monotonic()
        models["float/features.tflite"], models["features.tflite"] = convert_features(
            frame_model, facts.size_hw, frames, work, progress)
        models["float/step.tflite"], models["step.tflite"] = convert_step(
            step_model, parts.cell, feature_size, parts.state_size, samples, work, s.mode, progress)
    timing["convert"] = time.monotonic() - t
    for name in ("features.tflite", "step.tflite"):
        bad = non_integer_ops(models[name])
        if bad:
            raise ExportError(f"{name} is not full-integer: {len(bad)} op(s) touch float tensors "
                              f"({', '.join(bad[:4])})")
    calibration = {"source": str(s.calib), "clips": len(used), "frames": len(frames), "steps": len(samples),
                   "full_range_frame_added": stretched is not None, "seed": s.seed}
    return _Converted(models, feature_size, calibration, split_diff)


def _write_manifest(s: ExportSettings, tmp: Path, facts: _Facts, labels: LabelInfo, conv: _Converted) -> Manifest:
    from convert.quantize import ConversionError

    cell = facts.parts.cell
    in_roles, out_roles = STEP_INPUTS[cell], STEP_OUTPUTS[cell]
    models = conv.models
    (tmp / "float").mkdir()
    for name, data in models.items():
        write_bytes_atomic(tmp / name, data)
    with _as_export_error(ConversionError):
        features = _model_spec("features.tflite", models["features.tflite"], ["frame"], ["features"])
        step = _model_spec("step.tflite", models["step.tflite"], in_roles, out_roles, batched=True)
        float_features = _model_spec("float/features.tflite", models["float/features.tflite"], ["frame"],
                                     ["features"])
        float_step = _model_spec("float/step.tflite", models["float/step.tflite"], in_roles, out_roles, batched=True)
    created_by = _versions()
    created_by["source_model"] = s.model.name
    manifest = Manifest(
        labels=labels.labels, actions=labels.actions, frames_per_clip=facts.frames, model_fps=facts.fps,
        input_height_px=facts.size_hw[0], input_width_px=facts.size_hw[1], color_order="RGB",
        normalization=facts.normalization, cell=cell, state_size=facts.parts.state_size,
        feature_size=conv.feature_size, quantization=s.mode, features=features, step=step,
        float_features=float_features, float_step=float_step, background_label=labels.background,
        created_by=created_by, source_model=str(s.model.resolve()), source_model_sha256=sha256_file(s.model),
    )
    with _as_export_error(ManifestError):
        manifest.write(tmp)
    return manifest


def _validate(s: ExportSettings, tmp: Path, facts: _Facts, labels: LabelInfo, clips: _Clips) -> Any:
    """The Keras clip model's layers vs the bundle run by the edge runtime, on every readable validation clip."""
    from convert import calib as calib_mod
    from convert.report import evaluate
    from convert.structure import build_frame_model, clip_probs
    from edge.bundle import BundleError

    frame_model = build_frame_model(facts.parts, facts.input_scale)

    def keras_probs(batch_uint8: np.ndarray) -> np.ndarray:
        return clip_probs(frame_model, facts.parts, batch_uint8)

    try:
        evaluation = evaluate(tmp, keras_probs, calib_mod.iter_clips(clips.val, facts.frames, facts.size_hw),
                              labels.labels, s.num_threads, _progress(sys.stderr), len(clips.val))
    except BundleError as exc:
        raise ExportError(f"the edge runtime rejects the new bundle: {exc}") from None
    if not evaluation.clip_names:
        raise ExportError(f"{clips.val_source}: no readable validation clips")
    return evaluation


def _report(s: ExportSettings, facts: _Facts, labels: LabelInfo, conv: _Converted, manifest: Manifest,
            summary: dict[str, Any], timing: dict[str, float]) -> dict[str, Any]:
    sizes = {name: len(data) for name, data in conv.models.items()}
    sizes["int8_total"] = sizes["features.tflite"] + sizes["step.tflite"]
    sizes["float_total"] = sizes["float/features.tflite"] + sizes["float/step.tflite"]
    tensors = {f"{key}.{part}.{role}": _tensor_json(spec)
               for key, model_spec in (("features", manifest.features), ("step", manifest.step))
               for part, table in (("inputs", model_spec.inputs), ("outputs", model_spec.outputs))
               for role, spec in table.items()}
    return {
        "source_model": str(s.model),
        "bundle": str(s.out),
        "labels": list(labels.labels),
        "background_label": labels.background,
        "cell": facts.parts.cell,
        "state_size": facts.parts.state_size,
        "feature_size": conv.feature_size,
        "quantization": s.mode,
        "input_scale": facts.input_scale,
        "normalization": facts.normalization,
        "frames_per_clip": facts.frames,
        "model_fps": facts.fps,
        "input_size_px": list(facts.size_hw),
        "validation": summary,
        "model_sizes_bytes": sizes,
        "tensors": tensors,
        "calibration": conv.calibration,
        "split_check_max_abs_diff": conv.split_diff,
        "timing_s": {k: round(v, 2) for k, v in timing.items()},
        "created_by": dict(manifest.created_by),
    }


def read_decision(s: ExportSettings, labels: LabelInfo) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The decision block the bundle will carry: --decision, else decision.json beside the model, else none."""
    path = s.decision
    if path is None:
        path = s.model.parent / DECISION_FILE
        if not path.is_file():
            return None, {}
    elif not path.is_file():
        raise ExportError(f"--decision {path}: file not found")
    block, tuning = read_decision_file(path, labels.labels, labels.background)
    logger.info("decision settings from %s: %s", path, block)
    return block, {**tuning, "carried_from": str(path)}


def export_bundle(s: ExportSettings) -> ExportResult:
    """Convert, validate and write the bundle; ExportError (one line) on any user-facing problem."""
    started, started_cpu = time.monotonic(), time.process_time()
    check_inputs(s)
    labels = read_labels(s.labels, s.model)
    if labels is None:
        raise ExportError(f"{s.model}: class names unknown: pass --labels labels.json or --labels a,b,c (in the "
                          f"model's output order), or put labels.json next to the model")
    decision = read_decision(s, labels)  # before the slow part: a bad file fails at once
    clips = _find_clips(s)

    timing: dict[str, float] = {}
    t = time.monotonic()
    model = load_keras_model(s.model)
    facts = _resolve_facts(s, model, labels)
    timing["load"] = time.monotonic() - t

    s.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(s.out)
    try:
        converted = _convert_models(s, model, facts, clips, timing)
        manifest = _write_manifest(s, tmp, facts, labels, converted)
        if decision[0] is not None:
            manifest = dataclasses.replace(manifest, decision=decision[0], decision_tuning=decision[1])
            with _as_export_error(ManifestError):
                manifest.write(tmp)
        t = time.monotonic()
        evaluation = _validate(s, tmp, facts, labels, clips)
        timing["validate"] = time.monotonic() - t
        timing["total"] = time.monotonic() - started
        timing["total_cpu"] = time.process_time() - started_cpu

        from convert.report import summarize, write_report

        summary = summarize(evaluation, s.min_agreement)
        summary["source"] = clips.val_source
        report = _report(s, facts, labels, converted, manifest, summary, timing)
        write_report(tmp, report)
        replace_dir(tmp, s.out)  # --out is replaced only now, when --force allowed it
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(out=s.out, report=report, passed=bool(summary["passed"]))


# --------------------------------------------------------------------------------------------------------------
# CLI


def main(argv: Sequence[str] | None = None) -> int:
    """gesture-convert: export a trained clip model to a full-integer TFLite bundle for the edge runtime."""
    parser = OneLineParser(
        prog=PROG, description=main.__doc__,
        epilog="Exit status: 0 done (too few clips for the gate to decide: a warning); 1 bundle written but the "
               "clips show float/int8 agreement below --min-agreement at 95% confidence (look at OUT/report.md); "
               "2 bad input or failed conversion (nothing written).")
    parser.add_argument("model", type=Path, metavar="MODEL", help="trained Keras clip model (.keras or legacy .h5)")
    parser.add_argument("--calib", type=Path, required=True, metavar="DIR",
                        help="calibration clips: a case-study root (its train split) or a folder of clip folders")
    parser.add_argument("--val", type=Path, metavar="DIR",
                        help="validation clips (default: the val split of --calib)")
    parser.add_argument("--out", type=Path, required=True, metavar="BUNDLE_DIR", help="bundle folder to create")
    parser.add_argument("--input-scale", choices=INPUT_SCALE_CHOICES,
                        help="what the model's input expects: unit = pixels/255 (reference notebook), mobilenet = "
                             "pixels/127.5-1, none = raw 0..255 (default: none when the model starts with a "
                             "Rescaling layer, else required)")
    parser.add_argument("--labels", metavar="JSON|A,B,C",
                        help="class names in output order: a labels.json or a comma list "
                             "(default: labels.json next to the model)")
    parser.add_argument("--fps", type=number_arg(0, 240, lo_open=True),
                        help="frame rate of the clips as the model saw them (default: model_fps of labels.json, "
                             f"else {DEFAULT_FPS} with a warning)")
    parser.add_argument("--calib-frames", type=int_arg(1), default=DEFAULT_CALIB_FRAMES, metavar="N",
                        help="calibrate on about N frames, taken as whole clips across classes "
                             f"(default {DEFAULT_CALIB_FRAMES})")
    parser.add_argument("--mode", choices=QUANTIZATION_MODES, default="int8",
                        help="step model activations (default int8; the frame model is always int8)")
    parser.add_argument("--min-agreement", type=number_arg(0, 1), default=0.97, metavar="FRACTION",
                        help="exit 1 when the validation clips show float/int8 top-1 agreement below this at 95%% "
                             "confidence (exact binomial bound; too few clips to tell is a loud warning, exit 0) "
                             "(default 0.97)")
    parser.add_argument("--decision", type=Path, metavar="FILE.json",
                        help="decision settings for the manifest (a \"decision\" block, from gesture-bench tune "
                             f"--save-decision or a tuned bundle's manifest.json) (default: {DECISION_FILE} next to "
                             "the model, if any)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out")
    parser.add_argument("--seed", type=int, default=1, help="seed for choosing calibration clips (default 1)")
    add_version(parser)
    add_log_level(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if args.log_level != "debug":
        for noisy in ("tensorflow", "absl", "h5py"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    settings = ExportSettings(
        model=args.model, calib=args.calib, out=args.out, val=args.val, input_scale=args.input_scale,
        labels=args.labels, fps=args.fps, calib_frames=args.calib_frames, mode=args.mode,
        min_agreement=args.min_agreement, force=args.force, seed=args.seed, decision=args.decision)
    try:
        result = export_bundle(settings)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing written", file=sys.stderr)
        return 130
    except (ExportError, ManifestError, DatasetError, OSError) as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    from convert.report import gate_line

    v = result.report["validation"]
    for warning in v.get("warnings", []):  # loud: a model at chance or giving one class makes the gate moot
        print(f"{PROG}: WARNING: {warning}", file=sys.stderr)
    line = (f"top-1 agreement float/int8 {100 * v['top1_agreement']:.1f}% on {v['clips']} clips; accuracy float "
            f"{_fmt_pct(v['float_keras']['accuracy'])}, int8 {_fmt_pct(v['int8']['accuracy'])}; "
            + gate_line(v).replace("**", ""))
    if not result.passed:
        print(f"{PROG}: error: {line}: agreement below --min-agreement {settings.min_agreement:g}; the bundle is "
              f"kept for inspection in {result.out} (see {result.out / 'report.md'})", file=sys.stderr)
        return EXIT_DISAGREE
    if v["gate"]["verdict"] == "inconclusive":
        print(f"{PROG}: WARNING: the agreement gate is inconclusive on {v['clips']} clips; validate on more "
              f"(--val DIR) for a verdict", file=sys.stderr)
    print(f"{line}; wrote {result.out} (report: {result.out / 'report.md'})")
    return EXIT_OK


def _fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


if __name__ == "__main__":
    sys.exit(main())
