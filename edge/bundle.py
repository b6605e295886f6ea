"""Load a bundle made by gesture-convert and check it against its manifest.

`load_bundle` verifies file hashes, then opens each model with the chosen backend and checks that its
signature has exactly the tensors the manifest promises (names, shapes, dtypes, quantization). Any mismatch
is a `BundleError` with one line naming the file and field.

At run time the models are called through their signature: tensor indexes are looked up by signature name
once, then the hot path sets/gets those tensors directly (a SignatureRunner call would also resize and
re-allocate on every invocation).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.backend import Backend, BackendUnavailable, resolve_backend
from edge.manifest import STEP_INPUTS, Manifest, ManifestError, ModelSpec, TensorSpec

logger = logging.getLogger(__name__)

PRECISIONS = ("int8", "float")
_DTYPES = {"uint8": np.uint8, "int8": np.int8, "int16": np.int16, "float32": np.float32}


class BundleError(ManifestError):
    """A bundle that cannot be used. The message is one line naming the file and field."""


class Requantizer:
    """Maps a tensor from one model's quantization to another's, without new large arrays.

    int8 -> int8 (the usual case) is a 256-entry lookup table; int16 -> int16 a 65536-entry one; float
    sides quantize or dequantize. The table is computed once from the manifest's scales, so the mapping is
    exactly the same at every frame (which is what makes streaming bit-exact with windowing).
    """

    def __init__(self, src: TensorSpec, dst: TensorSpec) -> None:
        self.src, self.dst = src, dst
        self.dst_dtype = _DTYPES[dst.dtype]
        self._lut: np.ndarray | None = None
        self._offset = 0
        if src.quantized and dst.quantized:
            info = np.iinfo(_DTYPES[src.dtype])
            values = np.arange(info.min, info.max + 1, dtype=np.float64)
            self._lut = quantize((values - src.zero_point) * src.scale, dst)
            self._offset = -info.min

    def __call__(self, value: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write `value` (in src's encoding) into `out` (in dst's encoding)."""
        if self._lut is not None:
            np.take(self._lut, value.astype(np.int32) + self._offset, out=out)
        elif self.src.quantized:
            out[...] = (value.astype(np.float32) - self.src.zero_point) * self.src.scale
        elif self.dst.quantized:
            out[...] = quantize(value, self.dst)
        else:
            out[...] = value
        return out


def quantize(value: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float values -> spec's integer encoding (round half to even, as TFLite's reference kernels do)."""
    info = np.iinfo(_DTYPES[spec.dtype])
    q = np.round(np.asarray(value, dtype=np.float64) / spec.scale) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(_DTYPES[spec.dtype])


def dequantize(value: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """spec's encoding -> float32."""
    if not spec.quantized:
        return np.asarray(value, dtype=np.float32)
    return ((np.asarray(value, dtype=np.float32) - spec.zero_point) * spec.scale).astype(np.float32)


def zero_of(spec: TensorSpec) -> np.ndarray:
    """A tensor holding real 0.0 in spec's encoding: the zero point for an integer tensor."""
    return np.full(spec.shape, spec.zero_point if spec.quantized else 0, dtype=_DTYPES[spec.dtype])


class SignatureModel:
    """One .tflite file bound to its signature; tensors addressed by role (see edge.manifest)."""

    def __init__(self, path: Path, key: str, spec: ModelSpec, backend: Backend, num_threads: int | None) -> None:
        self.path, self.key, self.spec = path, key, spec
        self.invocations = 0
        """How many times the model ran (the bench checks the per-frame count)."""
        try:
            self.interpreter = backend.interpreter(str(path), num_threads=num_threads)
            runner = self.interpreter.get_signature_runner(spec.signature)
        except ValueError as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BundleError(f"{path}: not a usable TFLite model for signature '{spec.signature}' ({detail})") from None
        except RuntimeError as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BundleError(f"{path}: the {backend.name} runtime cannot load it ({detail})") from None
        inputs = runner.get_input_details()
        outputs = runner.get_output_details()
        self._check("inputs", spec.inputs, inputs)
        self._check("outputs", spec.outputs, outputs)
        # Allocate once through the runner (also proves the model runs), then bind tensor indexes by name.
        try:
            runner(**{t.name: zero_of(t) for t in spec.inputs.values()})
        except Exception as exc:  # noqa: BLE001 - any failure to run is a bundle error here
            raise BundleError(f"{path}: fails to run ({str(exc).strip().splitlines()[0]})") from None
        self._runner = runner
        self._wrapper = getattr(runner, "_interpreter_wrapper", None)
        self._subgraph = getattr(runner, "_subgraph_index", None)
        self._in_index = {role: inputs[t.name]["index"] for role, t in spec.inputs.items()}
        self._out_index = {role: outputs[t.name]["index"] for role, t in spec.outputs.items()}
        self._fast = self._wrapper is not None and self._subgraph is not None

    def _check(self, part: str, expected: dict[str, TensorSpec], actual: dict[str, dict[str, Any]]) -> None:
        names = {t.name for t in expected.values()}
        if set(actual) != names:
            raise BundleError(f"{self.path}: signature '{self.spec.signature}' {part} are {sorted(actual)}, "
                              f"manifest field {self.key}.{part} expects {sorted(names)}")
        for role, tensor in expected.items():
            got = actual[tensor.name]
            where = f"{self.key}.{part}.{role}"
            if tuple(int(d) for d in got["shape"]) != tuple(tensor.shape):
                raise BundleError(f"{self.path}: tensor '{tensor.name}' has shape {list(got['shape'])}, "
                                  f"manifest field {where}.shape says {list(tensor.shape)}")
            dtype = np.dtype(got["dtype"]).name
            if dtype != tensor.dtype:
                raise BundleError(f"{self.path}: tensor '{tensor.name}' is {dtype}, "
                                  f"manifest field {where}.dtype says {tensor.dtype}")
            scale, zero_point = got["quantization"]
            if tensor.quantized or scale:
                if not np.isclose(scale, tensor.scale, rtol=1e-6, atol=0) or zero_point != tensor.zero_point:
                    raise BundleError(f"{self.path}: tensor '{tensor.name}' quantization ({scale}, {zero_point}) "
                                      f"differs from manifest field {where} ({tensor.scale}, {tensor.zero_point})")

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Set every input role, invoke, return every output role (small copies)."""
        self.invocations += 1
        if not self._fast:
            result = self._runner(**{self.spec.inputs[r].name: v for r, v in inputs.items()})
            return {role: result[t.name] for role, t in self.spec.outputs.items()}
        for role, value in inputs.items():
            self._wrapper.SetTensor(self._in_index[role], value, self._subgraph)
        self._wrapper.Invoke(self._subgraph)
        return {role: self._wrapper.GetTensor(index, self._subgraph) for role, index in self._out_index.items()}

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


class FeatureModel(SignatureModel):
    """uint8 RGB frame (H, W, 3) in, feature vector out."""

    def extract(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Features of one model-sized RGB uint8 frame, in the feature model's output encoding."""
        spec = self.spec.inputs["frame"]
        if spec.dtype == "uint8":
            return self.run({"frame": frame_rgb.reshape(spec.shape)})["features"]
        if getattr(self, "_frame_buffer", None) is None:  # a float reference model: 0..255 as float32
            self._frame_buffer = np.empty(spec.shape, dtype=_DTYPES[spec.dtype])
        np.copyto(self._frame_buffer, frame_rgb.reshape(spec.shape), casting="unsafe")
        return self.run({"frame": self._frame_buffer})["features"]


class StepModel(SignatureModel):
    """One recurrent step: (features, h[, c]) in -> (probs, h[, c]) out."""

    @property
    def state_roles(self) -> tuple[str, ...]:
        return tuple(r for r in self.spec.inputs if r != "features")

    def zero_state(self) -> dict[str, np.ndarray]:
        """A fresh state: every state tensor holds real 0.0 (its zero point when quantized)."""
        return {role: zero_of(self.spec.inputs[role]) for role in self.state_roles}


@dataclass
class Bundle:
    """A loaded, verified bundle: the two models plus the glue between them."""

    path: Path
    manifest: Manifest
    backend: Backend
    precision: str
    features: FeatureModel
    step: StepModel
    features_to_step: Requantizer
    """Feature model output encoding -> step model features input encoding."""
    state_feedback: dict[str, Requantizer]
    """Step output h/c encoding -> step input h/c encoding."""

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.labels

    @property
    def frames_per_clip(self) -> int:
        return self.manifest.frames_per_clip

    @property
    def input_size_hw(self) -> tuple[int, int]:
        return self.manifest.input_height_px, self.manifest.input_width_px

    def probabilities(self, probs: np.ndarray) -> np.ndarray:
        """Step output probs (any encoding) -> float32 class probabilities, shape (num_classes,)."""
        return dequantize(probs, self.step.spec.outputs["probs"]).reshape(-1)


def load_bundle(path: str | os.PathLike[str], backend: str = "auto", num_threads: int | None = 2,
                precision: str = "int8") -> Bundle:
    """Load and verify the bundle at `path`; `precision='float'` loads its float/ reference models."""
    path = Path(path)
    if precision not in PRECISIONS:
        raise BundleError(f"precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    manifest = Manifest.load(path)
    manifest.verify_files(path)
    if precision == "float":
        if manifest.float_features is None or manifest.float_step is None:
            raise BundleError(f"{path / 'manifest.json'}: fields float_features/float_step missing "
                              "(this bundle has no float reference models)")
        specs = {"features": manifest.float_features, "step": manifest.float_step}
        keys = {"features": "float_features", "step": "float_step"}
    else:
        specs = {"features": manifest.features, "step": manifest.step}
        keys = {"features": "features", "step": "step"}
    try:
        chosen = resolve_backend(backend)
    except BackendUnavailable as exc:
        raise BundleError(str(exc)) from None
    features = FeatureModel(path / specs["features"].file, keys["features"], specs["features"], chosen, num_threads)
    step = StepModel(path / specs["step"].file, keys["step"], specs["step"], chosen, num_threads)
    roles = STEP_INPUTS[manifest.cell][1:]
    return Bundle(
        path=path, manifest=manifest, backend=chosen, precision=precision, features=features, step=step,
        features_to_step=Requantizer(features.spec.outputs["features"], step.spec.inputs["features"]),
        state_feedback={role: Requantizer(step.spec.outputs[role], step.spec.inputs[role]) for role in roles},
    )
