"""Recognise a trained MobileNet+LSTM/GRU clip model and split it into a frame model and a step model.

The clip model (T, H, W, 3) -> class probabilities is cut where time enters:

* frame model: one frame (H, W, 3) -> feature vector, i.e. every `TimeDistributed` layer before the recurrent
  layer, unwrapped (the input normalization, the CNN sub-model, BatchNormalization, pooling, Flatten);
* step model: (features, h[, c]) -> (probs, h[, c]), an `LSTMCell`/`GRUCell` carrying the trained weights,
  followed by the trained Dense head (Dropout is the identity at inference).

Running the frame model on each frame and T steps from zero state computes exactly what the clip model
computes; `check_split` verifies that numerically before anything is converted.

Structure is recognised by layer *types*, never names. Anything else (a Conv3D model, no recurrent layer,
Bidirectional, stacked RNNs, an RNN returning sequences) is refused with one line naming what was found.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from keras import layers

from edge.vocab import NORMALIZATION_SCALES

logger = logging.getLogger(__name__)

INPUT_SCALES = NORMALIZATION_SCALES
"""--input-scale: what the clip model's input expects, as pixel -> scale * pixel + offset."""

SUPPORTED = ("supported: [TimeDistributed(Rescaling)] -> TimeDistributed(CNN model, e.g. MobileNet) -> "
             "TimeDistributed(BatchNormalization/pooling/Flatten) -> one LSTM or GRU (return_sequences=False) "
             "-> Dense/Dropout head ending in softmax")

_FRAME_TYPES = (layers.Rescaling, layers.BatchNormalization, layers.MaxPooling2D, layers.AveragePooling2D,
                layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D, layers.Flatten, layers.Dropout,
                layers.SpatialDropout2D, layers.Activation, layers.ReLU)
_HEAD_TYPES = (layers.Dense, layers.Dropout, layers.GaussianNoise, layers.GaussianDropout, layers.AlphaDropout,
               layers.Activation, layers.ReLU, layers.Softmax, layers.BatchNormalization)
_IDENTITY_AT_INFERENCE = (layers.Dropout, layers.GaussianNoise, layers.GaussianDropout, layers.AlphaDropout)
_SPLIT_TOLERANCE = 1e-4
"""Max |probability difference| between the clip model and frame+step models (float32 round-off only)."""


class UnsupportedModel(ValueError):
    """The model is not a streamable CNN + single LSTM/GRU clip classifier. The message is one line."""


@dataclass(frozen=True)
class ModelParts:
    """The pieces of a recognised clip model (layers are the trained ones, shared, not copies)."""

    frames: int | None
    """T from the model's input shape (None when the model accepts any length)."""
    height_px: int
    width_px: int
    frame_layers: tuple[Any, ...]
    """Per-frame layers in order, unwrapped from TimeDistributed."""
    leading_rescale: tuple[float, float] | None
    """Composite (scale, offset) of the Rescaling layers at the very start, if any."""
    rnn: Any
    cell: str
    """'lstm' or 'gru'."""
    state_size: int
    head: tuple[Any, ...]
    num_classes: int
    backbone_name: str


def describe(layer: Any) -> str:
    """'LSTM 'rnn'' / 'TimeDistributed(Functional 'mobilenet_0.25_128')' for error messages."""
    if isinstance(layer, layers.TimeDistributed):
        return f"TimeDistributed({type(layer.layer).__name__} '{layer.layer.name}')"
    if isinstance(layer, layers.Bidirectional):
        return f"Bidirectional({type(layer.forward_layer).__name__}) '{layer.name}'"
    return f"{type(layer).__name__} '{layer.name}'"


def _activation_name(layer: Any) -> str | None:
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    try:
        name = keras.activations.serialize(activation)
    except Exception:  # noqa: BLE001 - a custom callable has no registered name
        return getattr(activation, "__name__", None)
    return name if isinstance(name, str) else getattr(activation, "__name__", None)


def _ends_in_softmax(head: list[Any]) -> bool:
    effective = [layer for layer in head if not isinstance(layer, _IDENTITY_AT_INFERENCE)]
    if not effective:
        return False
    last = effective[-1]
    if isinstance(last, layers.Softmax):
        return True
    return isinstance(last, (layers.Dense, layers.Activation)) and _activation_name(last) == "softmax"


def _rescale_params(layer: Any) -> tuple[float, float] | None:
    scale = np.asarray(layer.scale, dtype=np.float64)
    offset = np.asarray(layer.offset, dtype=np.float64)
    if scale.size != 1 or offset.size != 1:
        return None
    return float(scale.reshape(-1)[0]), float(offset.reshape(-1)[0])


def analyze(model: Any) -> ModelParts:
    """Recognise the clip model's structure by layer types; raise UnsupportedModel (one line) otherwise."""
    if len(model.inputs) != 1:
        raise UnsupportedModel(f"found a model with {len(model.inputs)} inputs; expected one clip input; {SUPPORTED}")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 5 or shape[-1] != 3 or shape[2] is None or shape[3] is None:
        raise UnsupportedModel(f"found input shape {list(shape)[1:]}; expected (frames, height, width, 3) RGB "
                               f"clips; {SUPPORTED}")
    stack = [layer for layer in model.layers if not isinstance(layer, layers.InputLayer)]
    recurrent = [layer for layer in stack if isinstance(layer, (layers.RNN, layers.Bidirectional))]
    bidirectional = [layer for layer in recurrent if isinstance(layer, layers.Bidirectional)]
    if bidirectional:
        raise UnsupportedModel(f"found {describe(bidirectional[0])}: a bidirectional RNN needs future frames and "
                               f"cannot run step by step on a live stream; {SUPPORTED}")
    conv3d = [layer for layer in stack if isinstance(layer, (layers.Conv3D, layers.MaxPooling3D))]
    if not recurrent and conv3d:
        raise UnsupportedModel(f"found a 3D-convolution clip model ({describe(conv3d[0])}, no recurrent layer): "
                               f"it cannot be split into a per-frame model and a recurrent step; {SUPPORTED}")
    if not recurrent:
        found = ", ".join(describe(layer) for layer in stack[:8]) + (", ..." if len(stack) > 8 else "")
        raise UnsupportedModel(f"found no recurrent layer (layers: {found}); {SUPPORTED}")
    if len(recurrent) > 1:
        names = ", ".join(describe(layer) for layer in recurrent)
        raise UnsupportedModel(f"found {len(recurrent)} stacked recurrent layers ({names}); exactly one is "
                               f"supported; {SUPPORTED}")

    frame_layers: list[Any] = []
    backbones: list[Any] = []
    index = 0
    while index < len(stack) and isinstance(stack[index], (layers.TimeDistributed, layers.Rescaling)):
        layer = stack[index]
        inner = layer.layer if isinstance(layer, layers.TimeDistributed) else layer
        if isinstance(inner, keras.Model):
            backbones.append(inner)
        elif not isinstance(inner, _FRAME_TYPES):
            raise UnsupportedModel(f"found {describe(layer)} before the recurrent layer; per-frame layers may be "
                                   f"Rescaling, a CNN model, BatchNormalization, pooling, Flatten, Dropout; "
                                   f"{SUPPORTED}")
        frame_layers.append(inner)
        index += 1
    rnn = stack[index] if index < len(stack) else None
    if rnn is not recurrent[0]:
        found = describe(stack[index]) if index < len(stack) else "the end of the model"
        raise UnsupportedModel(f"found {found} where TimeDistributed per-frame layers or the LSTM/GRU were "
                               f"expected; {SUPPORTED}")
    if len(backbones) != 1:
        what = "no CNN sub-model" if not backbones else f"{len(backbones)} CNN sub-models"
        raise UnsupportedModel(f"found {what} inside TimeDistributed before {describe(rnn)}; expected exactly "
                               f"one; {SUPPORTED}")
    if not isinstance(rnn, (layers.LSTM, layers.GRU)):
        raise UnsupportedModel(f"found {describe(rnn)}: only LSTM and GRU are supported; {SUPPORTED}")
    if rnn.return_sequences:
        raise UnsupportedModel(f"found {describe(rnn)} with return_sequences=True at the end of the recurrent "
                               f"part; the recurrent layer must return only its last output; {SUPPORTED}")
    if rnn.go_backwards:
        raise UnsupportedModel(f"found {describe(rnn)} with go_backwards=True: it cannot run on a live stream; "
                               f"{SUPPORTED}")
    if rnn.stateful:
        raise UnsupportedModel(f"found {describe(rnn)} with stateful=True; export a model trained with "
                               f"stateful=False; {SUPPORTED}")

    head = stack[index + 1:]
    for layer in head:
        if not isinstance(layer, _HEAD_TYPES):
            raise UnsupportedModel(f"found {describe(layer)} after {describe(rnn)}; the head may hold Dense, "
                                   f"Dropout, Activation, Softmax, BatchNormalization; {SUPPORTED}")
    if not _ends_in_softmax(head):
        last = describe(head[-1]) if head else describe(rnn)
        raise UnsupportedModel(f"found {last} at the end: the model must end in softmax probabilities "
                               f"(Dense(..., activation='softmax')); {SUPPORTED}")
    output_shape = tuple(model.outputs[0].shape) if len(model.outputs) == 1 else ()
    if len(output_shape) != 2 or output_shape[-1] is None:
        raise UnsupportedModel(f"found output shape {list(output_shape)}; expected (batch, classes); {SUPPORTED}")

    leading: tuple[float, float] | None = None
    for inner in frame_layers:
        if not isinstance(inner, layers.Rescaling):
            break
        params = _rescale_params(inner)
        if params is None:
            leading = None
            break
        leading = compose((1.0, 0.0) if leading is None else leading, params)
    return ModelParts(
        frames=shape[1], height_px=int(shape[2]), width_px=int(shape[3]), frame_layers=tuple(frame_layers),
        leading_rescale=leading, rnn=rnn, cell="lstm" if isinstance(rnn, layers.LSTM) else "gru",
        state_size=int(rnn.units), head=tuple(head), num_classes=int(output_shape[-1]),
        backbone_name=backbones[0].name,
    )


def compose(first: tuple[float, float], then: tuple[float, float]) -> tuple[float, float]:
    """The affine map x -> then(first(x)) as (scale, offset)."""
    return then[0] * first[0], then[0] * first[1] + then[1]


def normalization_name(parts: ModelParts, input_scale: str) -> str:
    """What the CNN sees as a function of raw pixels: 'unit', 'mobilenet' or 'none' (closest named)."""
    total = compose(INPUT_SCALES[input_scale], parts.leading_rescale or (1.0, 0.0))
    for name, (scale, offset) in INPUT_SCALES.items():
        if np.isclose(total[0], scale, rtol=1e-5) and np.isclose(total[1], offset, atol=1e-5):
            return name
    logger.warning("the model maps pixels p to %.6g * p %+.6g, which is neither unit (p/255) nor mobilenet "
                   "(p/127.5 - 1); it is folded into features.tflite all the same, the manifest records "
                   "normalization 'none'", total[0], total[1])
    return "none"


def preprocess_clip(clip_uint8: np.ndarray, input_scale: str) -> np.ndarray:
    """uint8 pixels -> what the clip model's input expects (float32)."""
    scale, offset = INPUT_SCALES[input_scale]
    x = clip_uint8.astype(np.float32)
    if (scale, offset) != (1.0, 0.0):
        x = x * np.float32(scale) + np.float32(offset)
    return x


def build_frame_model(parts: ModelParts, input_scale: str) -> Any:
    """float32 frame (batch, H, W, 3) holding 0..255 pixel values -> features (batch, F)."""
    frame = keras.Input((parts.height_px, parts.width_px, 3), name="frame", dtype="float32")
    x = frame
    scale, offset = INPUT_SCALES[input_scale]
    if (scale, offset) != (1.0, 0.0):
        x = layers.Rescaling(scale, offset=offset, name="input_scale")(x)
    for layer in parts.frame_layers:
        x = layer(x)
    if len(x.shape) != 2:
        raise UnsupportedModel(f"the per-frame layers end in shape {list(x.shape)[1:]}, not a flat feature "
                               f"vector; add TimeDistributed(Flatten()) before the RNN; {SUPPORTED}")
    return keras.Model(frame, x, name="frame_model")


def build_step_model(parts: ModelParts, feature_size: int) -> Any:
    """(features, h[, c]) -> (probs, h[, c]): a fresh LSTMCell/GRUCell carrying the trained weights + head.

    A Keras 3 LSTM/GRU layer converts to a WHILE loop (and int8 conversion of that crashes); one cell step
    in a plain functional graph converts to fully connected + elementwise ops, all int8-capable.
    """
    trained = parts.rnn.cell
    cell = type(trained).from_config(trained.get_config())  # same units, activations, GRU reset_after...
    features = keras.Input((feature_size,), name="features")
    states = [keras.Input((parts.state_size,), name="h")]
    if parts.cell == "lstm":
        states.append(keras.Input((parts.state_size,), name="c"))
    output, new_states = cell(features, states, training=False)
    cell.set_weights(trained.get_weights())
    if not isinstance(new_states, (list, tuple)):
        new_states = [new_states]
    probs = output
    for layer in parts.head:
        if isinstance(layer, _IDENTITY_AT_INFERENCE):
            continue
        probs = layer(probs)
    return keras.Model([features, *states], [probs, *new_states], name=f"{parts.cell}_step")


def run_split(frame_model: Any, step_model: Any, parts: ModelParts, clip_float: np.ndarray) -> np.ndarray:
    """Class probabilities of clips (N, T, H, W, 3) (frame-model input scale) via frame + step models."""
    n_clips, frames = clip_float.shape[:2]
    features = np.asarray(frame_model(clip_float.reshape(-1, *clip_float.shape[2:]), training=False))
    features = features.reshape(n_clips, frames, -1)
    state = [np.zeros((n_clips, parts.state_size), np.float32) for _ in step_model.inputs[1:]]
    probs = None
    for t in range(frames):
        out = step_model([features[:, t], *state], training=False)
        probs = np.asarray(out[0])
        state = [np.asarray(s) for s in out[1:]]
    assert probs is not None
    return probs


def clip_probs(frame_model: Any, parts: ModelParts, clips_uint8: np.ndarray, batch_frames: int = 80) -> np.ndarray:
    """The clip model's output computed with its own trained layers, the per-frame part as one batched call.

    Same layers and weights as `model(clip)`; only TimeDistributed's loop is replaced by a reshape (Keras 3's
    TimeDistributed runs ~7x slower in eager mode, and tracing the whole model costs more than it saves).
    `check_split` verifies the two agree.
    """
    n_clips, frames = clips_uint8.shape[:2]
    flat = clips_uint8.reshape(-1, *clips_uint8.shape[2:]).astype(np.float32)
    features = np.concatenate([np.asarray(frame_model(flat[i:i + batch_frames], training=False))
                               for i in range(0, len(flat), batch_frames)])
    y = parts.rnn(features.reshape(n_clips, frames, -1), training=False)
    for layer in parts.head:
        y = layer(y, training=False)
    return np.asarray(y)


def check_split(model: Any, frame_model: Any, step_model: Any, parts: ModelParts, clips_uint8: np.ndarray,
                input_scale: str) -> float:
    """Max |clip model - (frame+step models, clip_probs)| on some clips; UnsupportedModel if they disagree."""
    expected = np.asarray(model(preprocess_clip(clips_uint8, input_scale), training=False))
    got = run_split(frame_model, step_model, parts, clips_uint8.astype(np.float32))
    batched = clip_probs(frame_model, parts, clips_uint8)
    diff = float(max(np.max(np.abs(expected - got)), np.max(np.abs(expected - batched))))
    if not diff <= _SPLIT_TOLERANCE:
        raise UnsupportedModel(f"frame model + {parts.cell.upper()} step do not reproduce the clip model (max "
                               f"|probability difference| {diff:.3g}); the layers are probably not a simple "
                               f"chain; {SUPPORTED}")
    return diff
