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
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge.errors import one_line
from edge.fileio import write_text_atomic
from edge.readfile import MIB, ReadRefused, read_small_text
from edge.settings import decision_fields
from edge.validate import (MISSING, Boolean, Check, Exactly, Integer, Invalid, ListOf, Nullable, Number, OneOf, String,
                           StringList, Table, UnknownKey, checked, computed, field_specs, message, read_fields)
from edge.vocab import ACTIONS, NORMALIZATIONS, QUANTIZATION_MODES

FORMAT = "gesture-bundle"
FORMAT_VERSION = 2
"""2: the step model takes a batch of states (ModelSpec.dynamic_batch); 1 had a fixed batch of 1."""
MANIFEST_NAME = "manifest.json"

CELLS = ("lstm", "gru")
COLOR_ORDERS = ("RGB",)
DTYPES = ("uint8", "int8", "int16", "float32")

# Role names of the tensors of each model. The manifest maps each role to the tensor's signature name.
FEATURE_INPUTS = ("frame",)
FEATURE_OUTPUTS = ("features",)
STEP_INPUTS = {"lstm": ("features", "h", "c"), "gru": ("features", "h")}
STEP_OUTPUTS = {"lstm": ("probs", "h", "c"), "gru": ("probs", "h")}


MANIFEST_MAX_BYTES = 1 * MIB
"""A manifest is a few KiB; a larger file is not one (and is not read into memory)."""
MAX_FRAMES_PER_CLIP = 1000
"""Bounds that keep a hand-edited manifest from allocating absurd buffers (T states of the step model)."""
MAX_INPUT_PX = 4096
MAX_VECTOR_SIZE = 1 << 20
MODEL_FPS_RANGE = (1.0, 240.0)
LABEL = String(pattern=r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,100}",
               what="a class name of 1 to 100 characters without control characters")
"""One class name (no newline or other control character: labels end up in log lines and messages)."""


class _Labels(Check):
    """At least two distinct class names, each one a LABEL."""

    expected = "a list of at least 2 distinct class names without control characters"

    def __call__(self, value: Any, path: Sequence[str] = ()) -> tuple[str, ...]:
        labels = StringList(min_items=2, distinct=True, what="class names")(value, path)
        for index, label in enumerate(labels):
            LABEL(label, (*path, str(index)))
        return labels


class ManifestError(ValueError):
    """A manifest that is missing, unreadable or does not match its bundle. The message is one line."""


_OBJECT = "an object"
"""What JSON calls a table, in messages."""


class _BundlePath(Check):
    """A relative path that stays inside the bundle folder."""

    expected = "a relative path inside the bundle"

    def __call__(self, value: Any, path: Sequence[str] = ()) -> str:
        if not isinstance(value, str) or not value or Path(value).is_absolute() or ".." in Path(value).parts:
            raise self.fail(value, path)
        return value


@dataclass(frozen=True)
class TensorSpec:
    """One signature input or output of a model file."""

    name: str = checked(String(what="a tensor name"))
    """The tensor's name in the model's signature (what a signature runner is called with)."""
    shape: tuple[int, ...] = checked(ListOf(Integer(1), min_items=1, what="a list of positive integers"))
    dtype: str = checked(OneOf(DTYPES))
    """One of DTYPES."""
    scale: float = checked(Number(0), default=0.0)
    """Quantization scale; 0.0 for a float tensor."""
    zero_point: int = checked(Integer(), default=0)

    @property
    def quantized(self) -> bool:
        return self.scale > 0.0


@dataclass(frozen=True)
class ModelSpec:
    """One model file of the bundle and its signature."""

    file: str = checked(_BundlePath())
    """Path relative to the bundle folder."""
    sha256: str = checked(String(pattern="[0-9a-f]{64}", what="64 lowercase hex digits"))
    signature: str = checked(String(what="a signature key"))
    """Signature key, e.g. 'serving_default'."""
    inputs: dict[str, TensorSpec] = computed()
    """Role -> tensor (roles: FEATURE_INPUTS or STEP_INPUTS[cell]; read by hand: they depend on the cell)."""
    outputs: dict[str, TensorSpec] = computed()
    size_bytes: int = checked(Integer(0), default=0)
    dynamic_batch: bool = checked(Boolean(), default=False)
    """True: the first dimension of every input and output is a batch resizable at load time (the shapes here
    say 1). The step model has it, so one invocation steps every live state (edge.stream)."""


@dataclass(frozen=True)
class Manifest:
    """What the edge runtime needs to know about a converted model."""

    labels: tuple[str, ...] = checked(_Labels())
    """Class names in the step model's output order."""
    actions: dict[str, str] = checked(Table(OneOf(ACTIONS), word="an object gesture -> action"))
    """Default gesture -> action map (a config file may override it)."""
    frames_per_clip: int = checked(Integer(1, MAX_FRAMES_PER_CLIP))
    """T: the recurrent model was trained on clips of this many frames, from zero state."""
    model_fps: float = checked(Number(*MODEL_FPS_RANGE, what="a frame rate"))
    """Frame rate of the clips as the model saw them in training; the camera is paced to it."""
    input_height_px: int = checked(Integer(1, MAX_INPUT_PX))
    input_width_px: int = checked(Integer(1, MAX_INPUT_PX))
    color_order: str = checked(OneOf(COLOR_ORDERS))
    """'RGB' (what the frame model expects)."""
    normalization: str = checked(OneOf(NORMALIZATIONS))
    """What the trained model expected (folded into features.tflite; kept for the record)."""
    cell: str = checked(OneOf(CELLS))
    """'lstm' or 'gru'."""
    state_size: int = checked(Integer(1, MAX_VECTOR_SIZE))
    feature_size: int = checked(Integer(1, MAX_VECTOR_SIZE))
    quantization: str = checked(OneOf(QUANTIZATION_MODES))
    """'int8' or 'int16x8' (step model activations)."""
    features: ModelSpec = computed()
    """Read by hand, like the other model specs: their tensor roles depend on `cell`."""
    step: ModelSpec = computed()
    float_features: ModelSpec | None = computed(default=None)
    float_step: ModelSpec | None = computed(default=None)
    background_label: str | None = checked(Nullable(String(non_empty=True, what="a label")), default=None)
    """The no-gesture class, when the model has one."""
    created_by: dict[str, str] = checked(Table(word=_OBJECT), default_factory=dict)
    """Converter, TensorFlow and Keras versions, creation time."""
    decision: dict[str, Any] | None = computed(default=None)
    """Decision settings chosen for this model (`gesture-bench tune --save-to-bundle`), keyed like a config
    file's [decision] table and checked like it, plus gesture names this model has; the runtime applies them
    under a config file's (`edge.settings.resolve_decision`). Not hashed: writing it keeps the bundle valid."""
    decision_tuning: dict[str, Any] = checked(Table(word=_OBJECT), default_factory=dict)
    """How the decision block was chosen (budget, footage, held-out figures), for people."""
    source_model: str | None = checked(Nullable(String(non_empty=True, what="a file path")), default=None)
    """Absolute path of the Keras clip model this bundle was converted from, as gesture-convert found it (the
    `keras` variant of gesture-bench runs it); a record only: the runtime never reads the file."""
    source_model_sha256: str | None = checked(Nullable(String(pattern="[0-9a-f]{64}", what="64 lowercase hex digits")),
                                              default=None)
    """sha256 of that file at conversion time (gesture-bench warns when the file there has changed)."""
    format: str = checked(Exactly(FORMAT), default=FORMAT, required=True)
    format_version: int = checked(Exactly(FORMAT_VERSION, "this runtime reads only that version: re-convert the model "
                                                           "with gesture-convert"),
                                  default=FORMAT_VERSION, required=True)

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
        if not path.exists():  # anything else that is there is refused by read_small_text, saying what it is
            raise ManifestError(f"{path}: not found (is {bundle_dir} a bundle made by gesture-convert?)")
        data = _read_json(path, "a manifest")
        try:
            return _parse_manifest(data, str(path))
        except RecursionError:  # a value nested deeply enough to exhaust the stack while checked or shown
            raise ManifestError(f"{path}: not a manifest: a value is nested too deeply to check") from None

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

    def verify_files(self, bundle_dir: str | os.PathLike[str], keys: Sequence[str] | None = None) -> None:
        """Check every model file (or those of `keys`, e.g. only the int8 ones) exists and matches its sha256."""
        for key, spec in self.model_specs().items():
            if keys is not None and key not in keys:
                continue
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


def _read(cls: type, data: Any, path: tuple[str, ...]) -> dict[str, Any]:
    # Unknown keys are not errors: a newer converter may add fields this runtime does not need.
    return read_fields(cls, data, path, strict=False, table=_OBJECT)


def _parse_tensor(data: Any, path: tuple[str, ...]) -> TensorSpec:
    tensor = TensorSpec(**_read(TensorSpec, data, path))
    if tensor.dtype not in ("float32", "uint8") and tensor.scale == 0:
        raise Invalid(path + ("scale",), f"a quantization scale > 0 for a {tensor.dtype} tensor", tensor.scale)
    return tensor


def _parse_model(data: Any, path: tuple[str, ...], inputs: tuple[str, ...], outputs: tuple[str, ...]) -> ModelSpec:
    values = _read(ModelSpec, data, path)
    for part, roles in (("inputs", inputs), ("outputs", outputs)):
        table = Table(word=f"an object with {', '.join(roles)}")(data.get(part, MISSING), path + (part,))
        if set(table) != set(roles):
            raise Invalid(path + (part,), f"exactly the roles {', '.join(roles)}", sorted(table))
        values[part] = {role: _parse_tensor(table[role], path + (part, role)) for role in roles}
    return ModelSpec(**values)


def _parse_manifest(data: Any, source: str) -> Manifest:
    try:
        return _manifest_fields(data)
    except Invalid as exc:
        raise ManifestError(message(f"{source}: field {'.'.join(exc.path) or '(top level)'}", exc.expected,
                                    exc.value)) from None
    except UnknownKey as exc:  # only where unknown keys are errors: the decision block
        raise ManifestError(f"{source}: field {'.'.join(exc.path)}: unknown key (allowed: "
                            f"{', '.join(exc.allowed)})") from None


def _manifest_fields(data: Any) -> Manifest:
    if isinstance(data, dict):
        # The format first: a manifest of another format or version fails on that, not on a field it changed.
        for spec in field_specs(Manifest):
            if spec.name in ("format", "format_version"):
                spec.check(data.get(spec.key[0], MISSING), spec.key)  # type: ignore[misc]
    values = _read(Manifest, data, ())
    labels, background = values["labels"], values.get("background_label")
    if background is not None and background not in labels:
        raise Invalid(("background_label",), "one of the labels or null", background)
    for gesture in values["actions"]:
        if gesture not in labels or gesture == background:
            raise Invalid(("actions", gesture), "a gesture label of this model", gesture)
    cell = values["cell"]
    values["features"] = _parse_model(data.get("features", MISSING), ("features",), FEATURE_INPUTS, FEATURE_OUTPUTS)
    values["step"] = _parse_model(data.get("step", MISSING), ("step",), STEP_INPUTS[cell], STEP_OUTPUTS[cell])
    if data.get("float_features") is not None:
        values["float_features"] = _parse_model(data["float_features"], ("float_features",), FEATURE_INPUTS,
                                                FEATURE_OUTPUTS)
    if data.get("float_step") is not None:
        values["float_step"] = _parse_model(data["float_step"], ("float_step",), STEP_INPUTS[cell], STEP_OUTPUTS[cell])
    values["created_by"] = {str(k): str(v) for k, v in values.get("created_by", {}).items()}
    if data.get("decision") is not None:
        values["decision"] = _parse_decision(data["decision"], labels, background)
    manifest = Manifest(**values)
    _check_shapes(manifest)
    return manifest


def _read_json(path: str | os.PathLike[str], what: str) -> Any:
    """The JSON in `path` (a regular file of at most MANIFEST_MAX_BYTES); ManifestError (one line) otherwise."""
    try:
        return json.loads(read_small_text(path, MANIFEST_MAX_BYTES))
    except ReadRefused as exc:
        raise ManifestError(f"{path}: cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ManifestError(f"{path}: not {what}: JSON nested too deeply to parse") from None


def read_decision_file(path: str | os.PathLike[str], labels: Sequence[str],
                       background: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(decision, decision_tuning) from a JSON file holding a "decision" block, e.g. what `gesture-bench tune
    --save-decision` writes or a tuned bundle's manifest.json; checked against `labels`. ManifestError (one
    line naming the file) when it cannot be read or is not one."""
    data = _read_json(path, "a decision file")
    if not isinstance(data, dict) or not isinstance(data.get("decision"), dict):
        raise ManifestError(f"{path}: expected a JSON object with a \"decision\" block (from gesture-bench tune "
                            "--save-decision, or a tuned bundle's manifest.json)")
    tuning = data.get("decision_tuning", {})
    if not isinstance(tuning, dict):
        raise ManifestError(f"{path}: field decision_tuning: expected a JSON object, got {type(tuning).__name__}")
    try:
        return _parse_decision(data["decision"], labels, background), tuning
    except Invalid as exc:
        raise ManifestError(message(f"{path}: field {'.'.join(exc.path)}", exc.expected, exc.value)) from None
    except ValueError as exc:  # UnknownKey and the other checks' errors
        raise ManifestError(f"{path}: {one_line(exc)}") from None


def _parse_decision(block: Any, labels: Sequence[str], background: str | None) -> dict[str, Any]:
    """The decision block, checked as a config's [decision] table is; every gesture it names must be one of
    this model's. Returned as written (JSON types)."""
    fields = decision_fields(block)
    gestures = [label for label in labels if label != background]
    named = [(("decision", "thresholds", g), g) for g in fields.get("thresholds", {})]
    named += [(("decision", "repeat", "gestures"), g) for g in fields.get("repeat_gestures", ())]
    for path, gesture in named:
        if gesture not in gestures:
            raise Invalid(path, "a gesture label of this model (" + ", ".join(gestures) + ")", gesture)
    return json.loads(json.dumps(block))


def _check_shapes(m: Manifest) -> None:
    """Cross-field consistency: the tensor shapes must agree with the scalar fields."""
    frame = m.features.inputs["frame"]
    height, width = m.input_height_px, m.input_width_px
    if tuple(frame.shape) != (1, height, width, 3):
        raise Invalid(("features", "inputs", "frame", "shape"), f"[1, {height}, {width}, 3]", list(frame.shape))
    if frame.dtype != "uint8" or frame.scale not in (0.0, 1.0) or frame.zero_point != 0:
        raise Invalid(("features", "inputs", "frame"), "uint8 with scale 1.0 and zero point 0 (raw camera pixels)",
                      {"dtype": frame.dtype, "scale": frame.scale, "zero_point": frame.zero_point})
    for path, tensor in ((("features", "outputs", "features", "shape"), m.features.outputs["features"]),
                         (("step", "inputs", "features", "shape"), m.step.inputs["features"])):
        if tensor.shape[-1] != m.feature_size:
            raise Invalid(path, f"last dimension {m.feature_size} (feature_size)", list(tensor.shape))
    for role in STEP_INPUTS[m.cell][1:]:
        for part, tensor in (("inputs", m.step.inputs[role]), ("outputs", m.step.outputs[role])):
            if tensor.shape[-1] != m.state_size:
                raise Invalid(("step", part, role, "shape"), f"last dimension {m.state_size} (state_size)",
                              list(tensor.shape))
    if m.step.outputs["probs"].shape[-1] != len(m.labels):
        raise Invalid(("step", "outputs", "probs", "shape"), f"last dimension {len(m.labels)} (one per label)",
                      list(m.step.outputs["probs"].shape))
