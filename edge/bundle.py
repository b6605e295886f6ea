"""Load a bundle made by gesture-convert and check it against its manifest.

`load_bundle` verifies file hashes, then opens each model with the chosen backend and checks that its
signature has exactly the tensors the manifest promises (names, shapes, dtypes, quantization). Any mismatch
is a `BundleError` with one line naming the file and field.

At run time the models are called through their signature: tensor indexes are looked up by signature name
once, then the hot path sets and gets those tensors through `edge.tflite` (a SignatureRunner call would also
resize and re-allocate on every invocation). The step model's batch dimension is dynamic (manifest field
`step.dynamic_batch`): `run` resizes it to the batch it is given, so the stream steps every live state in
one call and the windowed path runs the very same file at batch 1.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge import tflite
from edge.backend import Backend, BackendUnavailable, resolve_backend
from edge.errors import one_line
from edge.manifest import STEP_INPUTS, Manifest, ManifestError, ModelSpec, TensorSpec
from edge.vocab import PRECISIONS

logger = logging.getLogger(__name__)

_DTYPES: dict[str, type[np.number[Any]]] = {"uint8": np.uint8, "int8": np.int8, "int16": np.int16,
                                             "float32": np.float32}


class BundleError(ManifestError):
    """A bundle that cannot be used. The message is one line naming the file and field."""


class Requantizer:
    """Maps a tensor from one model's quantization to another's, without new arrays.

    int8 -> int8 (the usual case) is a 256-entry lookup table indexed by the values' bit patterns (an
    unsigned view, so no index array is built); int16 -> int16 a 65536-entry one; float sides quantize or
    dequantize. The table is computed once from the manifest's scales, so the mapping is exactly the same at
    every frame and for every row of a batch (which is what makes streaming bit-exact with windowing).
    """

    def __init__(self, src: TensorSpec, dst: TensorSpec) -> None:
        self.src, self.dst = src, dst
        self._lut: np.ndarray | None = None
        self._src_dtype = np.dtype(_DTYPES[src.dtype])
        self._view = np.dtype(f"uint{8 * self._src_dtype.itemsize}")
        """The unsigned type of src's width: its values are the table's indexes."""
        if src.quantized and dst.quantized:
            patterns = np.arange(1 << (8 * self._src_dtype.itemsize), dtype=self._view).view(self._src_dtype)
            self._lut = quantize((patterns.astype(np.float64) - src.zero_point) * src.scale, dst)

    def __call__(self, value: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write `value` (in src's encoding, any shape that broadcasts to `out`'s) into `out` (dst's encoding)."""
        if self._lut is not None:
            if value.dtype != self._src_dtype:
                raise ValueError(f"requantize: expected {self._src_dtype} values ({self.src.name}), got {value.dtype}")
            if value.shape != out.shape:
                value = np.broadcast_to(value, out.shape)
            np.take(self._lut, value.view(self._view), axis=None, out=out, mode="clip")  # clip: out not buffered
        elif self.src.quantized:
            out[...] = (value.astype(np.float32) - self.src.zero_point) * self.src.scale
        elif self.dst.quantized:
            out[...] = quantize(value, self.dst)
        else:
            out[...] = value
        return out


def quantize(value: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float values -> spec's integer encoding (round half to even, as TFLite's reference kernels do)."""
    info = np.iinfo(spec.dtype)  # the manifest's dtype name is numpy's (a _DTYPES key)
    q = np.round(np.asarray(value, dtype=np.float64) / spec.scale) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(_DTYPES[spec.dtype])


def dequantize(value: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """spec's encoding -> float32."""
    if not spec.quantized:
        return np.asarray(value, dtype=np.float32)
    return ((np.asarray(value, dtype=np.float32) - spec.zero_point) * spec.scale).astype(np.float32)


def zero_of(spec: TensorSpec, batch: int | None = None) -> np.ndarray:
    """A tensor holding real 0.0 in spec's encoding (the zero point for an integer tensor); `batch` replaces
    the first dimension."""
    shape = spec.shape if batch is None else (batch, *spec.shape[1:])
    return np.full(shape, spec.zero_point if spec.quantized else 0, dtype=_DTYPES[spec.dtype])


class SignatureModel:
    """One .tflite file bound to its signature; tensors addressed by role (see edge.manifest)."""

    def __init__(self, path: Path, key: str, spec: ModelSpec, backend: Backend, num_threads: int | None,
                 tensor_access: str = "auto") -> None:
        self.path, self.key, self.spec = path, key, spec
        self.invocations = 0
        """How many times the model ran (the bench checks the per-frame count)."""
        self.rows = 0
        """How many batch rows it ran: for the step model, how many states were stepped."""
        self.batch = 1
        """The batch size the model is allocated for now."""
        try:
            self.interpreter = backend.interpreter(str(path), num_threads=num_threads)
            runner = self.interpreter.get_signature_runner(spec.signature)
        except ValueError as exc:
            detail = one_line(exc)
            raise BundleError(f"{path}: not a usable TFLite model for signature '{spec.signature}' "
                              f"({detail})") from None
        except RuntimeError as exc:
            detail = one_line(exc)
            raise BundleError(f"{path}: the {backend.name} runtime cannot load it ({detail})") from None
        inputs = runner.get_input_details()
        outputs = runner.get_output_details()
        self._check("inputs", spec.inputs, inputs)
        self._check("outputs", spec.outputs, outputs)
        # Allocate once through the runner (also proves the model runs), then bind tensor indexes by name.
        try:
            runner(**{t.name: zero_of(t) for t in spec.inputs.values()})
        except Exception as exc:  # noqa: BLE001 - any failure to run is a bundle error here
            raise BundleError(f"{path}: fails to run ({one_line(exc)})") from None
        try:
            self.access = tflite.bind(self.interpreter, runner, tensor_access, what=str(path))
        except ValueError as exc:
            raise BundleError(one_line(exc)) from None
        self._in_index = {role: int(inputs[t.name]["index"]) for role, t in spec.inputs.items()}
        self._out_index = {role: int(outputs[t.name]["index"]) for role, t in spec.outputs.items()}
        self._batch_role = next(iter(spec.inputs))

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
            signature = got.get("shape_signature")
            if signature is not None and len(signature) and (int(signature[0]) == -1) != self.spec.dynamic_batch:
                batch = "resizable" if int(signature[0]) == -1 else "fixed"
                raise BundleError(f"{self.path}: tensor '{tensor.name}' has a {batch} batch dimension, manifest "
                                  f"field {self.key}.dynamic_batch says {str(self.spec.dynamic_batch).lower()} "
                                  f"(re-convert with gesture-convert)")
            dtype = np.dtype(got["dtype"]).name
            if dtype != tensor.dtype:
                raise BundleError(f"{self.path}: tensor '{tensor.name}' is {dtype}, "
                                  f"manifest field {where}.dtype says {tensor.dtype}")
            scale, zero_point = got["quantization"]
            if tensor.quantized or scale:
                if not np.isclose(scale, tensor.scale, rtol=1e-6, atol=0) or zero_point != tensor.zero_point:
                    raise BundleError(f"{self.path}: tensor '{tensor.name}' quantization ({scale}, {zero_point}) "
                                      f"differs from manifest field {where} ({tensor.scale}, {tensor.zero_point})")

    def resize_batch(self, batch: int) -> None:
        """Re-allocate every input for `batch` rows (a dynamic-batch model only)."""
        if not self.spec.dynamic_batch:
            raise BundleError(f"{self.path}: batch fixed at 1 (manifest field {self.key}.dynamic_batch is false), "
                              f"asked for {batch}")
        if batch < 1:
            raise ValueError(f"batch: expected >= 1, got {batch}")
        self.access.resize({self._in_index[role]: (batch, *t.shape[1:]) for role, t in self.spec.inputs.items()})
        logger.debug("%s: resized to batch %d", self.path.name, batch)
        self.batch = batch

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Set every input role, invoke, return every output role (small copies).

        The batch is the inputs' first dimension; a dynamic-batch model is resized when it changes.
        """
        batch = inputs[self._batch_role].shape[0]
        if batch != self.batch:
            self.resize_batch(batch)
        self.invocations += 1
        self.rows += batch
        access = self.access
        for role, value in inputs.items():
            access.set(self._in_index[role], value)
        access.invoke()
        return {role: access.get(index) for role, index in self._out_index.items()}

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

    def zero_state(self, batch: int = 1) -> dict[str, np.ndarray]:
        """`batch` fresh states: every state tensor holds real 0.0 (its zero point when quantized)."""
        return {role: zero_of(self.spec.inputs[role], batch) for role in self.state_roles}


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
                precision: str = "int8", tensor_access: str = "auto") -> Bundle:
    """Load and verify the bundle at `path`; `precision='float'` loads its float/ reference models.

    `tensor_access`: how tensors are set and read (`edge.tflite`): auto, fast or public.
    """
    path = Path(path)
    if precision not in PRECISIONS:
        raise BundleError(f"precision '{precision}': expected one of {', '.join(PRECISIONS)}")
    manifest = Manifest.load(path)
    if precision == "float":
        if manifest.float_features is None or manifest.float_step is None:
            raise BundleError(f"{path / 'manifest.json'}: fields float_features/float_step missing "
                              "(this bundle has no float reference models)")
        specs = {"features": manifest.float_features, "step": manifest.float_step}
        keys = {"features": "float_features", "step": "float_step"}
    else:
        specs = {"features": manifest.features, "step": manifest.step}
        keys = {"features": "features", "step": "step"}
    # Only the files this precision uses: the float/ references are optional on the Pi.
    manifest.verify_files(path, keys=tuple(keys.values()))
    try:
        chosen = resolve_backend(backend)
    except BackendUnavailable as exc:
        raise BundleError(str(exc)) from None
    if not specs["step"].dynamic_batch:
        raise BundleError(f"{path / 'manifest.json'}: field {keys['step']}.dynamic_batch is false: the step model "
                          f"must step a batch of states (re-convert with gesture-convert)")
    features = FeatureModel(path / specs["features"].file, keys["features"], specs["features"], chosen, num_threads,
                            tensor_access)
    step = StepModel(path / specs["step"].file, keys["step"], specs["step"], chosen, num_threads, tensor_access)
    roles = STEP_INPUTS[manifest.cell][1:]
    return Bundle(
        path=path, manifest=manifest, backend=chosen, precision=precision, features=features, step=step,
        features_to_step=Requantizer(features.spec.outputs["features"], step.spec.inputs["features"]),
        state_feedback={role: Requantizer(step.spec.outputs[role], step.spec.inputs[role]) for role in roles},
    )
