"""Model builders: the reference layer structure, the Rescaling front, exact sizes, weights from a file.

Small models (64x64 for MobileNet: its 32x downsampling must leave the reference's 2x2 max-pool a 2x2 map;
4 frames) keep this file fast; the default configuration is only built, never run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

keras = pytest.importorskip("keras")  # the [convert] extra
from keras import layers  # noqa: E402

from convert import structure  # noqa: E402
from convert.model import ARCHS, build_model, freeze_backbone, training_view  # noqa: E402


def lstm_params(inputs: int, cells: int) -> int:
    return 4 * (inputs * cells + cells * cells + cells)


def gru_params(inputs: int, cells: int) -> int:
    return 3 * (inputs * cells + cells * cells + 2 * cells)  # Keras' reset_after=True: two bias vectors


def dense_params(inputs: int, units: int) -> int:
    return inputs * units + units


@pytest.mark.parametrize("arch", ARCHS)
def test_output_shapes_and_probabilities(arch: str) -> None:
    size_px = 32 if arch == "conv3d" else 64
    model = build_model(arch, num_classes=3, frames=4, size_px=size_px, cells=8, dense_units=8, weights=None)
    assert model.input_shape == (None, 4, size_px, size_px, 3)
    assert model.output_shape == (None, 3)
    clips = np.random.default_rng(0).integers(0, 256, (2, 4, size_px, size_px, 3)).astype(np.float32)
    probs = np.asarray(model(clips, training=False))
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.loss == "categorical_crossentropy"
    assert isinstance(model.optimizer, keras.optimizers.Adam)


def test_non_square_input() -> None:
    model = build_model("mobilenet_gru", num_classes=2, frames=3, size_px=(64, 96), cells=4, dense_units=4)
    assert model.input_shape == (None, 3, 64, 96, 3)
    # (64/32) x (96/32) = 2 x 3 map, pooled to 1 x 1: 256 features at alpha 0.25
    assert model.get_layer("flatten").output.shape == (None, 3, 256)


@pytest.mark.parametrize("arch", ARCHS)
def test_first_layer_rescales_pixels_to_minus_one_one(arch: str) -> None:
    size_px = 16 if arch == "conv3d" else 64
    model = build_model(arch, num_classes=2, frames=4, size_px=size_px, cells=4, dense_units=4)
    first = model.layers[0]
    assert isinstance(first, layers.TimeDistributed) and isinstance(first.layer, layers.Rescaling)
    pixels = np.zeros((1, 4, size_px, size_px, 3), np.float32)
    pixels[0, 1], pixels[0, 2], pixels[0, 3] = 255.0, 127.5, 51.0
    out = np.asarray(first(pixels))
    np.testing.assert_allclose(out[0, :, 0, 0, 0], [-1.0, 1.0, 0.0, -0.6], atol=1e-6)


@pytest.mark.parametrize("arch,cell", [("mobilenet_lstm", "lstm"), ("mobilenet_gru", "gru")])
def test_reference_structure_is_what_the_exporter_recognises(arch: str, cell: str) -> None:
    model = build_model(arch, num_classes=5, frames=4, size_px=64, cells=8, dense_units=6, dropout=0.3)
    wrapped = [type(layer.layer).__name__ for layer in model.layers[:5]]
    assert wrapped == ["Rescaling", "Functional", "BatchNormalization", "MaxPooling2D", "Flatten"]
    assert all(isinstance(layer, layers.TimeDistributed) for layer in model.layers[:5])
    assert model.layers[1].layer.name.startswith("mobilenet_0.25")
    rest = [type(layer).__name__ for layer in model.layers[5:]]
    assert rest == [cell.upper(), "Dropout", "Dense", "Dropout", "Dense"]
    assert [model.layers[6].rate, model.layers[8].rate] == [0.3, 0.3]
    assert model.layers[7].units == 6 and model.layers[7].activation.__name__ == "relu"
    assert model.layers[9].activation.__name__ == "softmax"

    parts = structure.analyze(model)  # gesture-convert's recogniser (by layer types)
    assert parts.cell == cell and parts.state_size == 8 and parts.num_classes == 5 and parts.frames == 4
    np.testing.assert_allclose(parts.leading_rescale, (1 / 127.5, -1.0))


def test_conv3d_has_the_same_front_and_is_refused_by_the_exporter() -> None:
    model = build_model("conv3d", num_classes=4, frames=8, size_px=32, dense_units=16)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv3D") >= 3 and kinds.count("MaxPooling3D") == kinds.count("Conv3D")
    assert kinds[-3:] == ["Dense", "Dropout", "Dense"]
    with pytest.raises(structure.UnsupportedModel, match="3D-convolution"):
        structure.analyze(model)


def test_default_configuration_parameter_count() -> None:
    """128x128, alpha 0.25, 20 frames, LSTM 128, Dense 128, 5 classes: 827,061 parameters."""
    model = build_model("mobilenet_lstm", num_classes=5, weights=None)
    assert model.input_shape == (None, 20, 128, 128, 3)
    backbone = model.layers[1].layer
    channels = 256  # 1024 * alpha
    assert backbone.output_shape == (None, 4, 4, channels)  # 128 / 32
    features = 2 * 2 * channels  # after the 2x2 max-pool: the feature vector the edge computes per frame
    assert model.get_layer("flatten").output.shape == (None, 20, features)
    assert backbone.count_params() == 218_544  # Keras' MobileNet v1 0.25 without top
    head = (4 * channels  # BatchNormalization: gamma, beta, moving mean and variance
            + lstm_params(features, 128) + dense_params(128, 128) + dense_params(128, 5))
    assert model.count_params() == backbone.count_params() + head == 827_061

    gru = build_model("mobilenet_gru", num_classes=4, weights=None)
    assert gru.count_params() == (218_544 + 4 * channels + gru_params(features, 128) + dense_params(128, 128)
                                  + dense_params(128, 4))


def test_weights_from_a_file_round_trip(tmp_path: Path) -> None:
    source = keras.applications.MobileNet(input_shape=(64, 64, 3), alpha=0.25, include_top=False, weights=None)
    # make them unlike a fresh initialisation, so a silent no-op load cannot pass
    source.set_weights([w + np.float32(0.01 * (i + 1)) for i, w in enumerate(source.get_weights())])
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)

    model = build_model("mobilenet_lstm", num_classes=3, frames=2, size_px=64, cells=4, dense_units=4,
                        weights=path)
    loaded = model.layers[1].layer.get_weights()
    assert len(loaded) == len(source.get_weights())
    for got, expected in zip(loaded, source.get_weights()):
        np.testing.assert_array_equal(got, expected)
    # the weights do not depend on the input size: a 96 px model takes the same file
    bigger = build_model("mobilenet_gru", num_classes=3, frames=2, size_px=96, cells=4, dense_units=4,
                         weights=str(path))
    np.testing.assert_array_equal(bigger.layers[1].layer.get_weights()[0], source.get_weights()[0])


@pytest.mark.filterwarnings("ignore:Skipping nested container")  # Keras, on the alpha 0.5 file
def test_bad_weights_files_are_one_line_errors(tmp_path: Path) -> None:
    wider = keras.applications.MobileNet(input_shape=(64, 64, 3), alpha=0.5, include_top=False, weights=None)
    wider.save_weights(tmp_path / "alpha050.weights.h5")
    (tmp_path / "garbage.h5").write_bytes(b"not an HDF5 file" * 4)
    cases = {tmp_path / "alpha050.weights.h5": "not MobileNet alpha 0.25", tmp_path / "garbage.h5": "not MobileNet",
             tmp_path / "absent.weights.h5": "existing weights file"}
    for path, needle in cases.items():
        with pytest.raises(ValueError) as exc:
            build_model("mobilenet_lstm", num_classes=3, frames=2, size_px=64, weights=path)
        message = str(exc.value)
        assert "\n" not in message and str(path) in message and needle in message, message


def test_training_view_shares_the_weights_and_trains_the_model() -> None:
    model = build_model("mobilenet_lstm", num_classes=3, frames=3, size_px=64, cells=8, dense_units=8, weights=None)
    view = training_view(model)
    clips = np.random.default_rng(1).integers(0, 256, (4, 3, 64, 64, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(view(clips, training=False)), np.asarray(model(clips, training=False)))
    # time is folded into the batch: MobileNet runs once, on 4 x 3 images, not three times on 4
    assert not any(isinstance(layer, layers.TimeDistributed) for layer in view.layers)
    before = [w.copy() for w in model.get_weights()]
    view.compile(keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    view.fit(clips, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]], batch_size=4, epochs=1, verbose=0)
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights())]
    assert all(changed[:2]) and changed[-1]  # the model's own backbone and head moved
    np.testing.assert_array_equal(np.asarray(view(clips, training=False)), np.asarray(model(clips, training=False)))


def test_frozen_backbone_keeps_its_weights_while_the_head_trains() -> None:
    model = build_model("mobilenet_gru", num_classes=3, frames=2, size_px=64, cells=8, dense_units=8, weights=None)
    backbone = model.layers[1].layer
    trainable = freeze_backbone(model)
    assert trainable == sum(int(np.prod(w.shape)) for w in model.trainable_weights) > 0
    assert not backbone.trainable_weights
    before_backbone = [w.copy() for w in backbone.get_weights()]
    before_head = model.layers[-1].get_weights()[0].copy()
    view = training_view(model)
    view.compile(keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    clips = np.random.default_rng(2).integers(0, 256, (3, 2, 64, 64, 3)).astype(np.float32)
    view.fit(clips, np.eye(3, dtype=np.float32), batch_size=3, epochs=2, verbose=0)
    for got, expected in zip(backbone.get_weights(), before_backbone):  # BatchNorm statistics included
        np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(model.layers[-1].get_weights()[0], before_head)
    with pytest.raises(ValueError, match="no TimeDistributed MobileNet backbone"):
        freeze_backbone(build_model("conv3d", num_classes=3, frames=4, size_px=32, weights=None))


def test_imagenet_weights_load_or_fail_in_one_line() -> None:
    """On a machine with a network Keras downloads the 0.25/128 weights (~1 MB); offline it must say so."""
    try:
        model = build_model("mobilenet_lstm", num_classes=2, frames=1, size_px=128, cells=4, dense_units=4,
                            weights="imagenet")
    except ValueError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("weights 'imagenet': ") and "weights=None" in message
    else:
        assert model.layers[1].layer.name == "mobilenet_0.25_128"


@pytest.mark.parametrize("kwargs,needle", [
    ({"arch": "mobilenet_v9"}, "arch 'mobilenet_v9'"),
    ({"size_px": 32}, "need >= 64 px"),
    ({"size_px": (64, 48)}, "64x48 px"),
    ({"arch": "conv3d", "frames": 3}, "frames 3: conv3d needs >= 4"),
    ({"arch": "conv3d", "size_px": 7}, "conv3d needs >= 8 px"),
    ({"num_classes": 1}, "num_classes 1"),
    ({"frames": 0}, "frames 0"),
    ({"dropout": 1.0}, "dropout 1.0"),
    ({"alpha": 0}, "alpha 0"),
])
def test_bad_arguments_are_one_line_value_errors(kwargs: dict, needle: str) -> None:
    args = {"arch": "mobilenet_lstm", "num_classes": 3, "frames": 4, "size_px": 64, **kwargs}
    with pytest.raises(ValueError) as exc:
        build_model(**args)
    assert "\n" not in str(exc.value) and needle in str(exc.value), str(exc.value)
