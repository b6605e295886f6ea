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

import keras  # noqa: E402
from keras import layers  # noqa: E402

ARCHS = ("mobilenet_lstm", "mobilenet_gru", "conv3d")
DEFAULT_SIZE_PX = 128
DEFAULT_ALPHA = 0.25
DEFAULT_FRAMES = 20


def _size(size_px: int | tuple[int, int]) -> tuple[int, int]:
    return (size_px, size_px) if isinstance(size_px, int) else (int(size_px[0]), int(size_px[1]))


def build_model(arch: str = "mobilenet_lstm", num_classes: int = 5, frames: int = DEFAULT_FRAMES,
                size_px: int | tuple[int, int] = DEFAULT_SIZE_PX, alpha: float = DEFAULT_ALPHA, cells: int = 128,
                dense_units: int = 128, dropout: float = 0.25, weights: str | None = None,
                learning_rate: float = 1e-3) -> keras.Model:
    """A compiled clip classifier: input (frames, H, W, 3) raw 0-255 pixels, output class probabilities.

    `weights`: "imagenet" (downloaded by Keras), None (random), or a path to MobileNet weights (.h5).
    """
    if arch not in ARCHS:
        raise ValueError(f"arch '{arch}': expected one of {', '.join(ARCHS)}")
    height, width = _size(size_px)
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
        mobilenet_weights = weights if weights in (None, "imagenet") else None
        backbone = keras.applications.MobileNet(input_shape=(height, width, 3), alpha=alpha, include_top=False,
                                                weights=mobilenet_weights)
        if weights not in (None, "imagenet"):
            if not os.path.isfile(str(weights)):
                raise ValueError(f"weights '{weights}': expected imagenet, none or an existing weights file")
            backbone.load_weights(str(weights))
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
