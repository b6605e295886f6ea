"""Convert the frame and step Keras models to TFLite: float32 references and full-integer models.

Both models are exported through a `tf.function` with named `TensorSpec`s returning a dict, so each file has
one signature ('serving_default') whose input and output names are the manifest's role names: `frame` ->
`features`; `features`, `h`[, `c`] -> `probs`, `h`[, `c`]. TFLite sorts signature inputs by name, so
calibration samples are dicts keyed by those names and the runtime uses signature runners, never positions.

The step model's batch dimension is dynamic (None in its `TensorSpec`s): the converter then emits
shape-agnostic ops (no RESHAPE with a baked batch of 1, which XNNPACK refuses to resize), and the runtime
resizes it at load time to the number of live states, ceil(T / hop), which depends on the runtime's hop.
Its rows are independent (per-tensor activation scales), so every batch size gives the same rows bit for
bit (tested in tests/test_stream.py).

The int8 frame input is uint8 with scale 1.0 and zero point 0 (raw camera pixels): the int8 frame model is
converted from a float32 graph whose input holds pixel values 0..255, calibrated on frames spanning exactly
0..255, with `inference_input_type=tf.uint8`. The calibrated int8 input range [0, 255] gives scale 1.0 and
zero point -128, which the converter shifts to uint8 zero point 0 (a QUANTIZE op uint8 -> int8 that only
subtracts 128). `convert_features` fails loudly if that did not happen. The float references take the same
pixel values as float32 (the edge runtime casts).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from edge.errors import one_line
from edge.manifest import STEP_INPUTS, STEP_OUTPUTS, TensorSpec
from edge.vocab import QUANTIZATION_MODES

logger = logging.getLogger(__name__)

SIGNATURE = "serving_default"
MODES = QUANTIZATION_MODES
INTEGER_DTYPES = ("uint8", "int8", "int16", "int32", "int64")
"""Tensor types an op of a full-integer model may touch (int32: biases, shapes, axes)."""


class ConversionError(RuntimeError):
    """The TFLite converter failed or produced something unusable. The message is one line."""


@contextlib.contextmanager
def quiet_native_stderr(enabled: bool = True) -> Iterator[io.TextIOBase]:
    """Send what TensorFlow's C++ side prints on fd 2 (converter chatter) nowhere while converting.

    Yields a text stream on the real stderr for progress bars that must stay visible meanwhile. Disabled
    (everything shown) at --log-level debug.
    """
    sys.stderr.flush()
    if not enabled:
        yield sys.stderr
        return
    saved = os.dup(2)
    visible = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0), write_through=True)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
            yield visible
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        visible.close()


ProgressFn = Callable[[Iterator, int, str], Iterator]
"""Wraps an iterator of `total` items with a progress display titled `desc`: progress(items, total, desc)."""


def no_progress(items: Iterator, total: int, desc: str) -> Iterator:
    """The ProgressFn that shows nothing."""
    return items


def _saved_model(model: Any, fn: Any, directory: str) -> str:
    """Write `fn` as the 'serving_default' signature of a SavedModel that freezes the Keras 3 variables.

    One SavedModel serves both the float and the integer conversion (saving costs more than converting).
    """
    module = tf.Module()
    module.variables_to_freeze = [getattr(v, "value", v) for v in model.variables]
    module.serve = fn
    tf.saved_model.save(module, directory, signatures={SIGNATURE: fn.get_concrete_function()})
    return directory


def _convert(saved_model: str, *, quantize: str | None = None,
             representative: Callable[[], Iterator[dict]] | None = None, input_type: Any = None,
             output_type: Any = None, what: str) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=[SIGNATURE])
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        if quantize == "int16x8":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        else:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = input_type
        converter.inference_output_type = output_type
    try:
        return bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001 - the converter raises many types; report one line
        raise ConversionError(f"converting {what} failed: {one_line(exc, limit=300)} (--log-level debug shows the "
                              f"converter's own output)") from None


def convert_features(frame_model: Any, size_hw: tuple[int, int], calibration: Sequence[np.ndarray], workdir: str,
                     progress: ProgressFn = no_progress) -> tuple[bytes, bytes]:
    """(float32, int8) features.tflite: frame (1, H, W, 3) pixel values 0..255 -> features (1, F).

    The int8 model takes uint8 (scale 1.0, zero point 0); the float reference takes the same values as float32.
    `calibration`: frames (H, W, 3) with pixel values 0..255 (uint8 or float), spanning exactly 0..255.
    """
    height, width = size_hw

    @tf.function(input_signature=[tf.TensorSpec((1, height, width, 3), tf.float32, name="frame")])
    def serve(frame):
        return {"features": frame_model(frame, training=False)}

    saved = _saved_model(frame_model, serve, os.path.join(workdir, "features_savedmodel"))

    def representative() -> Iterator[dict[str, np.ndarray]]:
        for frame in progress(iter(calibration), len(calibration), "calibrating features.tflite"):
            yield {"frame": np.asarray(frame, dtype=np.float32).reshape(1, height, width, 3)}

    float_model = _convert(saved, what="the float frame model")
    int8_model = _convert(saved, quantize="int8", representative=representative, input_type=tf.uint8,
                          output_type=tf.int8, what="the int8 frame model")
    _, inputs, _ = signature_specs(int8_model)
    frame = inputs["frame"]
    if frame.dtype != "uint8" or not np.isclose(frame.scale, 1.0, rtol=1e-6, atol=0) or frame.zero_point != 0:
        raise ConversionError(f"features.tflite: frame input came out {frame.dtype} scale {frame.scale} zero point "
                              f"{frame.zero_point}, expected uint8 scale 1.0 zero point 0 (calibration frames must "
                              f"span 0..255)")
    return float_model, int8_model


def convert_step(step_model: Any, cell: str, feature_size: int, state_size: int,
                 samples: Sequence[dict[str, np.ndarray]], workdir: str, mode: str = "int8",
                 progress: ProgressFn = no_progress) -> tuple[bytes, bytes]:
    """(float32, integer) step.tflite: (features, h[, c]) -> (probs, h[, c]), batch dimension dynamic.

    `samples`: calibration dicts {features: (1, F), h: (1, N)[, c: (1, N)]} from real trajectories.
    """
    if mode not in MODES:
        raise ValueError(f"mode '{mode}': expected one of {', '.join(MODES)}")
    in_names, out_names = STEP_INPUTS[cell], STEP_OUTPUTS[cell]
    sizes = {"features": feature_size, "h": state_size, "c": state_size}
    specs = [tf.TensorSpec((None, sizes[name]), tf.float32, name=name) for name in in_names]

    @tf.function(input_signature=specs)
    def serve(*args):
        outputs = step_model(list(args), training=False)
        return dict(zip(out_names, outputs))

    saved = _saved_model(step_model, serve, os.path.join(workdir, "step_savedmodel"))

    def representative() -> Iterator[dict[str, np.ndarray]]:
        for sample in progress(iter(samples), len(samples), "calibrating step.tflite"):
            yield {name: np.asarray(sample[name], dtype=np.float32).reshape(1, sizes[name]) for name in in_names}

    io_type = tf.int16 if mode == "int16x8" else tf.int8
    float_model = _convert(saved, what="the float step model")
    int_model = _convert(saved, quantize=mode, representative=representative, input_type=io_type,
                         output_type=io_type, what=f"the {mode} step model")
    return float_model, int_model


def _interpreter(model: bytes) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=model)


def _tensor_spec(name: str, detail: dict[str, Any]) -> TensorSpec:
    scale, zero_point = detail["quantization"]
    return TensorSpec(name=name, shape=tuple(int(d) for d in detail["shape"]), dtype=np.dtype(detail["dtype"]).name,
                      scale=float(scale), zero_point=int(zero_point))


def signature_specs(model: bytes) -> tuple[str, dict[str, TensorSpec], dict[str, TensorSpec]]:
    """(signature key, inputs by name, outputs by name) read from the converted model itself."""
    interpreter = _interpreter(model)
    signatures = interpreter.get_signature_list()
    if list(signatures) != [SIGNATURE]:
        raise ConversionError(f"converted model has signatures {sorted(signatures)}, expected ['{SIGNATURE}']")
    runner = interpreter.get_signature_runner(SIGNATURE)
    inputs = {name: _tensor_spec(name, d) for name, d in runner.get_input_details().items()}
    outputs = {name: _tensor_spec(name, d) for name, d in runner.get_output_details().items()}
    return SIGNATURE, inputs, outputs


def dynamic_batch(model: bytes) -> bool:
    """Whether every signature input and output has a resizable (-1) first dimension; mixed is an error."""
    runner = _interpreter(model).get_signature_runner(SIGNATURE)
    details = [*runner.get_input_details().items(), *runner.get_output_details().items()]
    dynamic = {name: int(d["shape_signature"][0]) == -1 for name, d in details}
    if len(set(dynamic.values())) != 1:
        raise ConversionError(f"converted model has a batch dimension resizable only for "
                              f"{sorted(n for n, v in dynamic.items() if v)}, expected all or none")
    return next(iter(dynamic.values()))


def model_ops(model: bytes) -> list[tuple[str, list[str], list[str]]]:
    """(op name, input dtypes, output dtypes) of every op of every subgraph, read from the flatbuffer itself.

    Through the TFLite schema's generated reader, so no interpreter internals are needed (the interpreter's
    public API has no op-level view).
    """
    from tensorflow.lite.python import schema_py_generated as schema

    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    types = {value: name.lower() for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
    root = schema.Model.GetRootAs(model, 0)
    codes = []
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        # Builtin codes above 127 live in BuiltinCode; older files only fill DeprecatedBuiltinCode.
        builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
        custom = code.CustomCode()
        codes.append(custom.decode() if custom else names.get(builtin, f"BUILTIN_{builtin}"))
    ops = []
    for g in range(root.SubgraphsLength()):
        graph = root.Subgraphs(g)
        dtypes = [types.get(graph.Tensors(t).Type(), "unknown") for t in range(graph.TensorsLength())]
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            ins = [dtypes[i] for i in op.InputsAsNumpy() if i >= 0] if op.InputsLength() else []
            outs = [dtypes[i] for i in op.OutputsAsNumpy() if i >= 0] if op.OutputsLength() else []
            ops.append((codes[op.OpcodeIndex()], ins, outs))
    return ops


def non_integer_ops(model: bytes) -> list[str]:
    """Ops of a model that compute in (or convert to/from) floating point: empty for a full-integer model.

    Every tensor an op reads or writes must be an integer type; a QUANTIZE from float or a DEQUANTIZE would
    touch a float tensor and is listed, while QUANTIZE uint8 -> int8 (the frame input's requantize) is not.
    """
    bad = []
    for name, ins, outs in model_ops(model):
        dtypes = ins + outs
        if name == "DEQUANTIZE" or any(d not in INTEGER_DTYPES for d in dtypes):
            bad.append(f"{name}({', '.join(dtypes)})")
    return bad


def step_calibration_samples(frame_model: Any, step_model: Any, clips_uint8: np.ndarray, cell: str,
                             progress: ProgressFn = no_progress,
                             batch_frames: int = 32) -> list[dict[str, np.ndarray]]:
    """Real (x_t, h_t[, c_t]) of the float models over whole clips from zero state, one dict per step.

    The step model's state inputs must be calibrated on the states it really produces along a clip (random
    or zero states would give the wrong ranges); features come from the float frame model.
    """
    n_clips, frames = clips_uint8.shape[:2]
    flat = clips_uint8.reshape(-1, *clips_uint8.shape[2:])
    chunks = progress(iter(range(0, len(flat), batch_frames)), -(-len(flat) // batch_frames), "calibration features")
    features = np.concatenate([np.asarray(frame_model(flat[i:i + batch_frames].astype(np.float32), training=False))
                               for i in chunks]).reshape(n_clips, frames, -1)
    roles = STEP_INPUTS[cell][1:]
    state_size = int(step_model.inputs[1].shape[-1])
    state = {role: np.zeros((n_clips, state_size), np.float32) for role in roles}
    per_step = []
    for t in range(frames):
        per_step.append({"features": features[:, t], **state})
        outputs = step_model([features[:, t], *(state[r] for r in roles)], training=False)
        state = {role: np.asarray(value) for role, value in zip(roles, outputs[1:])}
    # Clip-major order: whole trajectories one after the other.
    return [{name: step[name][i:i + 1] for name in step} for i in range(n_clips) for step in per_step]
