"""The bundle manifest: everything the edge runtime knows about a model comes from here.

`convert/` writes it through `Manifest.write`, `edge/` reads it through `Manifest.load`. A bundle is a
folder holding `manifest.json`, `features.tflite`, `step.tflite` and (optionally) `float/` reference
models. Nothing about a model is hard-coded in the runtime: labels, sizes, frame rate, tensor names and
quantization parameters are all read from the manifest and checked against the model files at load time
(see `edge.bundle`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "gesture-bundle"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"

ACTIONS = ("play", "pause", "play_pause", "volume_up", "volume_down", "mute", "stop", "next", "previous")
"""Every action a sink understands."""

DEFAULT_ACTIONS = {
    "Swipe": "play",
    "Stop": "pause",
    "Thumbs Up": "volume_up",
    "Thumbs Down": "volume_down",
}
"""The reference design's bindings."""

CELLS = ("lstm", "gru")
NORMALIZATIONS = ("unit", "mobilenet", "none")
"""How the trained model expected pixels: unit = x/255, mobilenet = x/127.5 - 1, none = raw 0..255."""
DTYPES = ("uint8", "int8", "int16", "float32")

# Role names of the tensors of each model. The manifest maps each role to the tensor's signature name.
FEATURE_INPUTS = ("frame",)
FEATURE_OUTPUTS = ("features",)
STEP_INPUTS = {"lstm": ("features", "h", "c"), "gru": ("features", "h")}
STEP_OUTPUTS = {"lstm": ("probs", "h", "c"), "gru": ("probs", "h")}


class ManifestError(ValueError):
    """A manifest that is missing, unreadable or does not match its bundle. The message is one line."""


@dataclass(frozen=True)
class TensorSpec:
    """One signature input or output of a model file."""

    name: str
    """The tensor's name in the model's signature (what a signature runner is called with)."""
    shape: tuple[int, ...]
    dtype: str
    """One of DTYPES."""
    scale: float = 0.0
    """Quantization scale; 0.0 for a float tensor."""
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale > 0.0


@dataclass(frozen=True)
class ModelSpec:
    """One model file of the bundle and its signature."""

    file: str
    """Path relative to the bundle folder."""
    sha256: str
    signature: str
    """Signature key, e.g. 'serving_default'."""
    inputs: dict[str, TensorSpec]
    """Role -> tensor (roles: FEATURE_INPUTS or STEP_INPUTS[cell])."""
    outputs: dict[str, TensorSpec]
    size_bytes: int = 0


@dataclass(frozen=True)
class Manifest:
    """What the edge runtime needs to know about a converted model."""

    labels: tuple[str, ...]
    """Class names in the step model's output order."""
    actions: dict[str, str]
    """Default gesture -> action map (a config file may override it)."""
    frames_per_clip: int
    """T: the recurrent model was trained on clips of this many frames, from zero state."""
    model_fps: float
    """Frame rate of the clips as the model saw them in training; the camera is paced to it."""
    input_height_px: int
    input_width_px: int
    color_order: str
    """'RGB' (what the frame model expects)."""
    normalization: str
    """What the trained model expected (folded into features.tflite; kept for the record)."""
    cell: str
    """'lstm' or 'gru'."""
    state_size: int
    feature_size: int
    quantization: str
    """'int8' or 'int16x8' (step model activations)."""
    features: ModelSpec
    step: ModelSpec
    float_features: ModelSpec | None = None
    float_step: ModelSpec | None = None
    background_label: str | None = None
    """The no-gesture class, when the model has one."""
    created_by: dict[str, str] = field(default_factory=dict)
    """Converter, TensorFlow and Keras versions, creation time."""
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    # ----------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_json(cls, data: Any, source: str = MANIFEST_NAME) -> Manifest:
        """Build and validate a manifest from parsed JSON; errors name `source` and the field."""
        return _parse_manifest(data, source)

    @classmethod
    def load(cls, bundle_dir: str | os.PathLike[str]) -> Manifest:
        path = Path(bundle_dir) / MANIFEST_NAME
        if not Path(bundle_dir).is_dir():
            raise ManifestError(f"{bundle_dir}: bundle folder not found")
        if not path.is_file():
            raise ManifestError(f"{path}: not found (is {bundle_dir} a bundle made by gesture-convert?)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"{path}: not valid JSON ({exc})") from None
        return _parse_manifest(data, str(path))

    def write(self, bundle_dir: str | os.PathLike[str]) -> Path:
        """Write manifest.json atomically (temp file + rename)."""
        _parse_manifest(self.to_json(), "manifest being written")  # never write what we could not read
        path = Path(bundle_dir) / MANIFEST_NAME
        write_text_atomic(path, json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n")
        return path

    def model_specs(self) -> dict[str, ModelSpec]:
        """Every model file of the bundle by key: features, step, float_features, float_step."""
        specs = {"features": self.features, "step": self.step}
        if self.float_features is not None:
            specs["float_features"] = self.float_features
        if self.float_step is not None:
            specs["float_step"] = self.float_step
        return specs

    def verify_files(self, bundle_dir: str | os.PathLike[str]) -> None:
        """Check every model file exists and matches its sha256."""
        for key, spec in self.model_specs().items():
            path = Path(bundle_dir) / spec.file
            if not path.is_file():
                raise ManifestError(f"{path}: missing (manifest field {key}.file)")
            digest = sha256_file(path)
            if digest != spec.sha256:
                raise ManifestError(
                    f"{path}: sha256 {digest[:12]}… does not match manifest field {key}.sha256 "
                    f"{spec.sha256[:12]}… (file changed after conversion?)"
                )

    @property
    def gesture_labels(self) -> tuple[str, ...]:
        return tuple(label for label in self.labels if label != self.background_label)


# --------------------------------------------------------------------------------------------------
# Helpers shared by the writer and the reader.


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


class _Reader:
    """Typed field access that names the source and the dotted field path in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, expected: str, got: Any) -> ManifestError:
        shown = json.dumps(got) if not isinstance(got, _Missing) else "nothing"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return ManifestError(f"{self.source}: field {where}: expected {expected}, got {shown}")

    def obj(self, data: Any, where: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(where, "an object", data)
        return data

    def field(self, obj: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...], expected: str,
              optional: bool = False, default: Any = None) -> Any:
        full = f"{where}.{key}" if where else key
        value = obj.get(key, _MISSING)
        if isinstance(value, _Missing):
            if optional:
                return default
            raise self.fail(full, expected, value)
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(full, expected, value)
        if not isinstance(value, kind):
            raise self.fail(full, expected, value)
        return value


class _Missing:
    pass


_MISSING = _Missing()


def _positive_int(r: _Reader, obj: dict[str, Any], key: str, where: str) -> int:
    value = r.field(obj, key, where, int, "a positive integer")
    if value <= 0:
        raise r.fail(f"{where}.{key}" if where else key, "a positive integer", value)
    return value


def _one_of(r: _Reader, obj: dict[str, Any], key: str, where: str, allowed: tuple[str, ...]) -> str:
    expected = "one of " + ", ".join(allowed)
    value = r.field(obj, key, where, str, expected)
    if value not in allowed:
        raise r.fail(f"{where}.{key}" if where else key, expected, value)
    return value


def _parse_tensor(r: _Reader, data: Any, where: str) -> TensorSpec:
    data = r.obj(data, where)
    name = r.field(data, "name", where, str, "a tensor name")
    shape = r.field(data, "shape", where, list, "a list of positive integers")
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise r.fail(f"{where}.shape", "a list of positive integers", shape)
    dtype = _one_of(r, data, "dtype", where, DTYPES)
    scale = r.field(data, "scale", where, (int, float), "a number >= 0", optional=True, default=0.0)
    if scale < 0:
        raise r.fail(f"{where}.scale", "a number >= 0", scale)
    zero_point = r.field(data, "zero_point", where, int, "an integer", optional=True, default=0)
    if dtype != "float32" and dtype != "uint8" and scale == 0:
        raise r.fail(f"{where}.scale", f"a quantization scale > 0 for a {dtype} tensor", scale)
    return TensorSpec(name=name, shape=tuple(shape), dtype=dtype, scale=float(scale), zero_point=zero_point)


def _parse_model(r: _Reader, data: Any, where: str, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> ModelSpec:
    data = r.obj(data, where)
    file = r.field(data, "file", where, str, "a path relative to the bundle")
    if Path(file).is_absolute() or ".." in Path(file).parts:
        raise r.fail(f"{where}.file", "a path inside the bundle", file)
    sha = r.field(data, "sha256", where, str, "a hex sha256")
    if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
        raise r.fail(f"{where}.sha256", "64 lowercase hex digits", sha)
    signature = r.field(data, "signature", where, str, "a signature key")
    specs = {}
    for part, roles in (("inputs", inputs), ("outputs", outputs)):
        table = r.obj(r.field(data, part, where, dict, f"an object with {', '.join(roles)}"), f"{where}.{part}")
        if set(table) != set(roles):
            raise r.fail(f"{where}.{part}", f"exactly the roles {', '.join(roles)}", sorted(table))
        specs[part] = {role: _parse_tensor(r, table[role], f"{where}.{part}.{role}") for role in roles}
    size = r.field(data, "size_bytes", where, int, "an integer", optional=True, default=0)
    return ModelSpec(file=file, sha256=sha, signature=signature, inputs=specs["inputs"],
                     outputs=specs["outputs"], size_bytes=size)


def _parse_manifest(data: Any, source: str) -> Manifest:
    r = _Reader(source)
    data = r.obj(data, "(top level)")
    fmt = r.field(data, "format", "", str, f"'{FORMAT}'")
    if fmt != FORMAT:
        raise r.fail("format", f"'{FORMAT}'", fmt)
    version = r.field(data, "format_version", "", int, f"{FORMAT_VERSION}")
    if version != FORMAT_VERSION:
        raise r.fail("format_version", f"{FORMAT_VERSION} (this runtime reads only that version)", version)
    labels = r.field(data, "labels", "", list, "a list of class names")
    if len(labels) < 2 or not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise r.fail("labels", "at least two distinct non-empty class names", labels)
    background = r.field(data, "background_label", "", (str, type(None)), "a label or null", optional=True)
    if background is not None and background not in labels:
        raise r.fail("background_label", "one of the labels or null", background)
    actions = r.field(data, "actions", "", dict, "an object gesture -> action")
    for gesture, action in actions.items():
        if gesture not in labels or gesture == background:
            raise r.fail(f"actions.{gesture}", "a gesture label of this model", gesture)
        if action not in ACTIONS:
            raise r.fail(f"actions.{gesture}", "one of " + ", ".join(ACTIONS), action)
    frames = _positive_int(r, data, "frames_per_clip", "")
    fps = r.field(data, "model_fps", "", (int, float), "a frame rate > 0")
    if not 0 < fps <= 240:
        raise r.fail("model_fps", "a frame rate in (0, 240]", fps)
    height = _positive_int(r, data, "input_height_px", "")
    width = _positive_int(r, data, "input_width_px", "")
    color = _one_of(r, data, "color_order", "", ("RGB",))
    normalization = _one_of(r, data, "normalization", "", NORMALIZATIONS)
    cell = _one_of(r, data, "cell", "", CELLS)
    state_size = _positive_int(r, data, "state_size", "")
    feature_size = _positive_int(r, data, "feature_size", "")
    quantization = _one_of(r, data, "quantization", "", ("int8", "int16x8"))
    features = _parse_model(r, data.get("features"), "features", FEATURE_INPUTS, FEATURE_OUTPUTS)
    step = _parse_model(r, data.get("step"), "step", STEP_INPUTS[cell], STEP_OUTPUTS[cell])
    float_features = float_step = None
    if data.get("float_features") is not None:
        float_features = _parse_model(r, data["float_features"], "float_features", FEATURE_INPUTS, FEATURE_OUTPUTS)
    if data.get("float_step") is not None:
        float_step = _parse_model(r, data["float_step"], "float_step", STEP_INPUTS[cell], STEP_OUTPUTS[cell])
    created_by = r.field(data, "created_by", "", dict, "an object", optional=True, default={})

    # Cross-field consistency: the shapes must agree with the scalar fields.
    frame = features.inputs["frame"]
    if tuple(frame.shape) != (1, height, width, 3):
        raise r.fail("features.inputs.frame.shape", f"[1, {height}, {width}, 3]", list(frame.shape))
    if frame.dtype != "uint8" or frame.scale not in (0.0, 1.0) or frame.zero_point != 0:
        raise r.fail("features.inputs.frame", "uint8 with scale 1.0 and zero point 0 (raw camera pixels)",
                     {"dtype": frame.dtype, "scale": frame.scale, "zero_point": frame.zero_point})
    if features.outputs["features"].shape[-1] != feature_size:
        raise r.fail("features.outputs.features.shape", f"last dimension {feature_size} (feature_size)",
                     list(features.outputs["features"].shape))
    if step.inputs["features"].shape[-1] != feature_size:
        raise r.fail("step.inputs.features.shape", f"last dimension {feature_size} (feature_size)",
                     list(step.inputs["features"].shape))
    for role in STEP_INPUTS[cell][1:]:
        for part, spec in (("inputs", step.inputs[role]), ("outputs", step.outputs[role])):
            if spec.shape[-1] != state_size:
                raise r.fail(f"step.{part}.{role}.shape", f"last dimension {state_size} (state_size)",
                             list(spec.shape))
    if step.outputs["probs"].shape[-1] != len(labels):
        raise r.fail("step.outputs.probs.shape", f"last dimension {len(labels)} (one per label)",
                     list(step.outputs["probs"].shape))
    return Manifest(
        labels=tuple(labels), actions=dict(actions), frames_per_clip=frames, model_fps=float(fps),
        input_height_px=height, input_width_px=width, color_order=color, normalization=normalization,
        cell=cell, state_size=state_size, feature_size=feature_size, quantization=quantization,
        features=features, step=step, float_features=float_features, float_step=float_step,
        background_label=background, created_by={str(k): str(v) for k, v in created_by.items()},
        format=fmt, format_version=version,
    )
