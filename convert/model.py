"""The reference design's clip classifiers: MobileNet + LSTM (the product), MobileNet + GRU, and Conv3D.

Default size, 128x128 input with MobileNet v1 alpha 0.25, is chosen for a Raspberry Pi budget: the whole
per-frame edge path should fit well inside 33 ms on a Pi 4. MobileNet v1 1.0/224 costs ~569 M multiply-adds
(~25-30 ms int8 on a Pi 4); 0.25/128 costs ~14 M, about 40x less. It is also the smallest configuration for
which Keras ships ImageNet weights, so `weights="imagenet"` transfer learning works at the default size.

The normalization lives inside the model (a Rescaling to MobileNet's [-1, 1]), so the model takes raw
0-255 pixels, and the exporter can fold it into the int8 frame model.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
from keras import layers

from edge.errors import one_line

ARCHS = ("mobilenet_lstm", "mobilenet_gru", "conv3d")
DEFAULT_SIZE_PX = 128
DEFAULT_ALPHA = 0.25
DEFAULT_FRAMES = 20


def _size(size_px: int | tuple[int, int]) -> tuple[int, int]:
    return (size_px, size_px) if isinstance(size_px, int) else (int(size_px[0]), int(size_px[1]))


def _check_args(arch: str, num_classes: int, frames: int, height: int, width: int, alpha: float, cells: int,
                dense_units: int, dropout: float) -> None:
    """One-line ValueErrors for arguments Keras would reject later with a multi-line traceback."""
    if arch not in ARCHS:
        raise ValueError(f"arch '{arch}': expected one of {', '.join(ARCHS)}")
    checks = [(num_classes >= 2, f"num_classes {num_classes}: expected >= 2"),
              (frames >= 1, f"frames {frames}: expected >= 1"),
              (alpha > 0, f"alpha {alpha}: expected > 0"),
              (cells >= 1, f"cells {cells}: expected >= 1"),
              (dense_units >= 1, f"dense_units {dense_units}: expected >= 1"),
              (0 <= dropout < 1, f"dropout {dropout}: expected 0 <= dropout < 1")]
    if arch == "conv3d":
        # three 2x poolings in space, two in time
        checks += [(min(height, width) >= 8, f"size {height}x{width} px: conv3d needs >= 8 px per side"),
                   (frames >= 4, f"frames {frames}: conv3d needs >= 4 (it pools time by 4)")]
    else:
        # MobileNet downsamples 32x; the reference's MaxPooling2D((2, 2)) then needs a 2x2 map at least
        checks.append((min(height, width) >= 64,
                       f"size {height}x{width} px: MobileNet archs need >= 64 px per side (32x downsampling, "
                       "then a 2x2 max-pool)"))
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def _backbone(height: int, width: int, alpha: float, weights: str | os.PathLike[str] | None) -> keras.Model:
    """MobileNet v1 without its top, with ImageNet, random, or file weights; errors are one-line ValueErrors."""
    if weights is None or str(weights) == "imagenet":
        try:
            return keras.applications.MobileNet(input_shape=(height, width, 3), alpha=alpha, include_top=False,
                                                weights=None if weights is None else "imagenet")
        except Exception as exc:  # noqa: BLE001 - Keras raises a bare Exception when the download fails
            if weights is None:
                raise ValueError(f"MobileNet alpha {alpha}, {height}x{width} px: {one_line(exc)}") from None
            raise ValueError(f"weights 'imagenet': could not get MobileNet alpha {alpha} ImageNet weights "
                             f"({one_line(exc)}); use weights=None or a local weights file") from None
    path = str(weights)
    if not os.path.isfile(path):
        raise ValueError(f"weights '{weights}': expected imagenet, none or an existing weights file")
    backbone = keras.applications.MobileNet(input_shape=(height, width, 3), alpha=alpha, include_top=False,
                                            weights=None)
    try:
        backbone.load_weights(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"weights '{weights}': not MobileNet alpha {alpha} (include_top=False) weights "
                         f"({one_line(exc)})") from None
    return backbone


def build_model(arch: str = "mobilenet_lstm", num_classes: int = 5, frames: int = DEFAULT_FRAMES,
                size_px: int | tuple[int, int] = DEFAULT_SIZE_PX, alpha: float = DEFAULT_ALPHA, cells: int = 128,
                dense_units: int = 128, dropout: float = 0.25, weights: str | os.PathLike[str] | None = None,
                learning_rate: float = 1e-3) -> keras.Model:
    """A compiled clip classifier: input (frames, H, W, 3) raw 0-255 pixels, output class probabilities.

    `weights`: "imagenet" (downloaded by Keras), None (random), or a path to MobileNet weights (.h5,
    .weights.h5, or a saved MobileNet .keras). Bad arguments raise a one-line ValueError.
    """
    height, width = _size(size_px)
    _check_args(arch, num_classes, frames, height, width, alpha, cells, dense_units, dropout)
    inputs = keras.Input((frames, height, width, 3), name="clip")
    model = keras.Sequential(name=arch)
    model.add(inputs)
    model.add(layers.TimeDistributed(layers.Rescaling(1 / 127.5, offset=-1.0), name="normalize"))
    if arch == "conv3d":
        for filters in (16, 32, 64):
            model.add(layers.Conv3D(filters, 3, padding="same", activation="relu"))
            model.add(layers.BatchNormalization())
            model.add(layers.MaxPooling3D((1 if filters == 16 else 2, 2, 2)))
        model.add(layers.GlobalAveragePooling3D())
        model.add(layers.Dense(dense_units, activation="relu"))
        model.add(layers.Dropout(dropout))
        model.add(layers.Dense(num_classes, activation="softmax"))
    else:
        backbone = _backbone(height, width, alpha, weights)
        model.add(layers.TimeDistributed(backbone, name="mobilenet"))
        model.add(layers.TimeDistributed(layers.BatchNormalization(), name="bn"))
        model.add(layers.TimeDistributed(layers.MaxPooling2D((2, 2)), name="pool"))
        model.add(layers.TimeDistributed(layers.Flatten(), name="flatten"))
        rnn = layers.LSTM if arch == "mobilenet_lstm" else layers.GRU
        model.add(rnn(cells, name="rnn"))
        model.add(layers.Dropout(dropout))
        model.add(layers.Dense(dense_units, activation="relu"))
        model.add(layers.Dropout(dropout))
        model.add(layers.Dense(num_classes, activation="softmax"))
    model.compile(keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


class _FoldTime(layers.Layer):
    """Runs one per-frame layer on (batch * frames) images at once; training-graph only, never saved."""

    def __init__(self, inner: layers.Layer, **kwargs) -> None:
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, x, training=None):
        shape = keras.ops.shape(x)
        y = self.inner(keras.ops.reshape(x, (-1, *x.shape[2:])), training=training)
        return keras.ops.reshape(y, (shape[0], shape[1], *y.shape[1:]))

    def compute_output_shape(self, input_shape):
        inner = self.inner.compute_output_shape((None, *input_shape[2:]))
        return (input_shape[0], input_shape[1], *inner[1:])


def training_view(model: keras.Model) -> keras.Model:
    """A model sharing `model`'s layers (and so its weights) that folds time into the batch.

    Keras 3's TimeDistributed calls its layer once per frame, so in training MobileNet's BatchNormalization
    normalizes over `batch` images per frame; folded, it sees batch x frames images in one call (better
    statistics, and faster on CPU). Train the view; save `model`, whose structure is the reference design's.
    """
    x = inputs = keras.Input(model.input_shape[1:], name="clip")
    for layer in model.layers:
        x = _FoldTime(layer.layer, name=f"{layer.name}_folded")(x) if isinstance(layer, layers.TimeDistributed) \
            else layer(x)
    view = keras.Model(inputs, x, name=f"{model.name}_folded")
    return view


def freeze_backbone(model: keras.Model) -> int:
    """Make the MobileNet backbone non-trainable (its BatchNormalization then runs in inference mode).

    Returns how many weights stay trainable. Use with a backbone that already knows the images (ImageNet or
    pretrained weights): only the BatchNormalization, LSTM/GRU and dense head then train, ~3x faster.
    """
    found = [layer for layer in model.layers
             if isinstance(layer, layers.TimeDistributed) and isinstance(layer.layer, keras.Model)]
    if not found:
        raise ValueError(f"{model.name}: has no TimeDistributed MobileNet backbone to freeze")
    for layer in found:
        layer.layer.trainable = False
    return sum(int(w.shape.num_elements()) for w in model.trainable_weights)
