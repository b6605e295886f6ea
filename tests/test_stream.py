"""The streaming core: staggered states, stepped as one batch, reproduce windowed inference exactly; every
batch size gives the same rows; backends agree."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.bundle import BundleError, Requantizer, dequantize, load_bundle, quantize, zero_of
from edge.manifest import ManifestError, TensorSpec
from edge.stream import StreamingClassifier, classify_window_raw

from conftest import DEMO_STREAM, ROOT


def stream_frames(bundle, count: int, every: int = 3) -> np.ndarray:
    """Model-sized RGB frames from the demo stream (every `every`-th camera frame: 30 fps -> 10 fps)."""
    height, width = bundle.input_size_hw
    capture = cv2.VideoCapture(str(DEMO_STREAM))
    frames, index = [], 0
    while len(frames) < count:
        ok, bgr = capture.read()
        assert ok, f"{DEMO_STREAM} ended after {index} frames"
        if index % every == 0:
            small = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        index += 1
    capture.release()
    return np.stack(frames)


@pytest.fixture(scope="module")
def bundle(demo_bundle):
    return load_bundle(demo_bundle)


@pytest.fixture(scope="module")
def float_bundle(demo_bundle):
    return load_bundle(demo_bundle, precision="float")


@pytest.fixture(scope="module")
def frames(bundle):
    return stream_frames(bundle, 64)


def test_requantizer_int8_matches_the_formula() -> None:
    src = TensorSpec("a", (1, 4), "int8", scale=0.02, zero_point=5)
    dst = TensorSpec("b", (1, 4), "int8", scale=0.05, zero_point=-10)
    values = np.arange(-128, 128, dtype=np.int8).reshape(64, 4)
    out = np.empty_like(values)
    for row, target in zip(values, out):
        Requantizer(src, dst)(row.reshape(1, 4), target.reshape(1, 4))
    expected = np.clip(np.round((values.astype(np.float64) - 5) * 0.02 / 0.05) - 10, -128, 127)
    np.testing.assert_array_equal(out, expected)
    # Float <-> int: quantize then dequantize lands within half a step.
    real = np.linspace(-3, 3, 25)
    back = dequantize(quantize(real, dst), dst)
    inside = (real > (-128 + 10) * 0.05) & (real < (127 + 10) * 0.05)
    assert np.max(np.abs(back[inside] - real[inside])) <= 0.05 / 2 + 1e-7


def test_requantizer_int16_and_broadcast_rows() -> None:
    """The 65536-entry table of int16 states, and one row written into every row of a batch."""
    src = TensorSpec("h", (1, 3), "int16", scale=1 / 4096, zero_point=0)
    dst = TensorSpec("h_in", (1, 3), "int16", scale=1 / 3000, zero_point=0)
    values = np.array([[-32768, -1, 0], [1, 12345, 32767]], dtype=np.int16)
    out = np.empty_like(values)
    Requantizer(src, dst)(values, out)
    expected = np.clip(np.round(values.astype(np.float64) / 4096 * 3000), -32768, 32767)
    np.testing.assert_array_equal(out, expected)
    int8 = TensorSpec("x", (1, 4), "int8", scale=0.1, zero_point=3)
    row = np.array([[-128, 0, 5, 127]], dtype=np.int8)
    batch = np.zeros((5, 4), dtype=np.int8)
    Requantizer(int8, TensorSpec("y", (1, 4), "int8", scale=0.2, zero_point=-1))(row, batch)
    expected_row = np.clip(np.round((row.astype(np.float64) - 3) * 0.1 / 0.2) - 1, -128, 127)
    assert (batch == expected_row).all() and len(set(expected_row[0].tolist())) == 4
    with pytest.raises(ValueError, match="expected int8 values"):
        Requantizer(int8, int8)(row.astype(np.int16), batch)


@pytest.mark.parametrize("precision", ["int8", "float"])
@pytest.mark.parametrize("hop", [1, 2, 3, 20])
def test_streaming_equals_windowing_bit_exact(bundle, float_bundle, frames, hop: int, precision: str) -> None:
    """One step call of batch ceil(T/hop) per frame gives, for every window, exactly the rows of the windowed
    path (the same step.tflite at batch 1), for the int8 bundle and its float references alike."""
    bundle = bundle if precision == "int8" else float_bundle
    frames_per_clip = bundle.frames_per_clip
    stream = StreamingClassifier(bundle, hop_frames=hop)
    windows = []
    for index, frame in enumerate(frames[:44]):
        windows.extend(stream.push(frame, index / 10))
    starts = [s for s in range(0, 44, hop) if s + frames_per_clip <= 44]
    assert [w.start_index for w in windows] == starts
    for window in windows:
        assert window.end_index == window.start_index + frames_per_clip - 1
        assert window.end_t_s == pytest.approx(window.end_index / 10)
        probs, probs_q = classify_window_raw(bundle, frames[window.start_index: window.end_index + 1])
        np.testing.assert_array_equal(window.probs_q, probs_q)
        np.testing.assert_array_equal(window.probs, probs)
    assert stream.steps_per_frame == math.ceil(frames_per_clip / hop)


@pytest.mark.parametrize("hop", [1, 2, 3, 20])
def test_one_feature_call_and_one_step_call_per_frame(bundle, frames, hop: int) -> None:
    """Every live state is a row of one step call: ceil(T/hop) rows per frame, one call."""
    stream = StreamingClassifier(bundle, hop_frames=hop)
    assert stream.steps_per_frame == math.ceil(bundle.frames_per_clip / hop)
    for index, frame in enumerate(frames[:30]):
        calls = (bundle.features.invocations, bundle.step.invocations, bundle.step.rows)
        stream.push(frame, index / 10)
        assert bundle.features.invocations - calls[0] == 1
        assert bundle.step.invocations - calls[1] == 1
        assert bundle.step.rows - calls[2] == stream.steps_per_frame
        assert bundle.step.batch == stream.steps_per_frame


def step_trajectories(bundle, frames: np.ndarray, count: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """`count` real step inputs and their outputs at batch 1: states from zero along the stream, restarted
    every T frames, so the rows hold fresh and long-running states alike."""
    step = bundle.step
    inputs: dict[str, list[np.ndarray]] = {role: [] for role in step.spec.inputs}
    outputs: dict[str, list[np.ndarray]] = {role: [] for role in step.spec.outputs}
    x = zero_of(step.spec.inputs["features"], 1)
    state = step.zero_state(1)
    for i in range(count):
        if i % bundle.frames_per_clip == 0:
            state = step.zero_state(1)
        bundle.features_to_step(bundle.features.extract(frames[i % len(frames)]), x)
        given = {"features": x.copy(), **{role: value.copy() for role, value in state.items()}}
        out = step.run(given)
        for role, value in given.items():
            inputs[role].append(value[0])
        for role, value in out.items():
            outputs[role].append(value[0])
        for role in state:
            bundle.state_feedback[role](out[role], state[role])
    return ({role: np.stack(v) for role, v in inputs.items()}, {role: np.stack(v) for role, v in outputs.items()})


@pytest.mark.parametrize("precision", ["int8", "float"])
def test_every_batch_size_gives_the_same_rows(bundle, float_bundle, frames, precision: str) -> None:
    """The step model resized to each batch size 1..ceil(T/1) (hop 1 needs the most) returns, row for row,
    bit for bit, what batch 1 returns for the same inputs."""
    bundle = bundle if precision == "int8" else float_bundle
    count = 60
    inputs, expected = step_trajectories(bundle, frames, count)
    assert len({row.tobytes() for row in inputs["h"]}) > count // 2  # real, varied states
    for batch in range(1, bundle.frames_per_clip + 1):
        for first in range(0, count - batch + 1, batch):
            rows = slice(first, first + batch)
            out = bundle.step.run({role: np.ascontiguousarray(v[rows]) for role, v in inputs.items()})
            assert bundle.step.batch == batch
            for role, value in out.items():
                np.testing.assert_array_equal(value, expected[role][rows], err_msg=f"{role} at batch {batch}")


def test_fixed_batch_models_refuse_to_resize(bundle) -> None:
    """The feature model keeps batch 1; asking it for more is a one-line error naming the manifest field."""
    with pytest.raises(BundleError, match=r"features.tflite: batch fixed at 1 \(manifest field "
                                          r"features.dynamic_batch is false\)"):
        bundle.features.resize_batch(2)


def _copy_bundle(demo_bundle: Path, folder: Path, edit) -> Path:
    folder.mkdir()
    for path in demo_bundle.rglob("*.tflite"):
        target = folder / path.relative_to(demo_bundle)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    manifest = json.loads((demo_bundle / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_old_or_unbatched_bundles_say_reconvert(demo_bundle, tmp_path: Path) -> None:
    """A bundle of manifest format 1 (its step model had a fixed batch of 1) and a manifest that says the step
    batch is fixed are refused in one line that says what to do."""
    old = _copy_bundle(demo_bundle, tmp_path / "old", lambda m: m.update(format_version=1))
    with pytest.raises(ManifestError) as info:
        load_bundle(old)
    assert "format_version" in str(info.value) and "re-convert the model with gesture-convert" in str(info.value)
    assert "\n" not in str(info.value)
    fixed = _copy_bundle(demo_bundle, tmp_path / "fixed", lambda m: m["step"].update(dynamic_batch=False))
    with pytest.raises(BundleError, match=r"field step.dynamic_batch is false.*re-convert with gesture-convert"):
        load_bundle(fixed)
    fixed_float = _copy_bundle(demo_bundle, tmp_path / "fixed_float",
                               lambda m: m["float_step"].update(dynamic_batch=False))
    load_bundle(fixed_float)  # the int8 models do not read float_step
    with pytest.raises(BundleError, match=r"field float_step.dynamic_batch is false"):
        load_bundle(fixed_float, precision="float")
    lying = _copy_bundle(demo_bundle, tmp_path / "lying", lambda m: m["features"].update(dynamic_batch=True))
    with pytest.raises(BundleError, match=r"features.tflite: tensor 'frame' has a fixed batch dimension, manifest "
                                          r"field features.dynamic_batch says true"):
        load_bundle(lying)


def test_reset_really_clears_state(bundle, frames) -> None:
    fresh = StreamingClassifier(bundle, hop_frames=2)
    expected = [w.probs_q.tolist() for i, f in enumerate(frames[:30]) for w in fresh.push(f, i / 10)]
    used = StreamingClassifier(bundle, hop_frames=2)
    for index, frame in enumerate(frames[30:47]):  # leave live states mid-window
        used.push(frame, index / 10)
    used.reset()
    assert used.frames_seen == 0
    again = [w.probs_q.tolist() for i, f in enumerate(frames[:30]) for w in used.push(f, i / 10)]
    assert again == expected and len(expected) == 6


def test_bad_hop_is_refused(bundle) -> None:
    with pytest.raises(ValueError, match="hop_frames: expected 1..20"):
        StreamingClassifier(bundle, hop_frames=0)
    with pytest.raises(ValueError, match="hop_frames"):
        StreamingClassifier(bundle, hop_frames=bundle.frames_per_clip + 1)


@pytest.fixture(scope="module")
def keras_vs_int8(bundle) -> tuple[np.ndarray, np.ndarray]:
    """Float Keras clip-model probabilities and streamed int8 window probabilities over the whole demo stream
    (400 model frames, hop 2: 191 windows)."""
    keras = pytest.importorskip("keras")  # the [convert] extra is part of the test install
    model = keras.models.load_model(ROOT / "models" / "demo" / "model.keras", compile=False)
    every_frame = stream_frames(bundle, 400, every=3)
    stream = StreamingClassifier(bundle, hop_frames=2)
    windows = [w for i, f in enumerate(every_frame) for w in stream.push(f, i / 10)]
    assert len(windows) == (400 - 20) // 2 + 1
    clips = np.stack([every_frame[w.start_index: w.end_index + 1] for w in windows]).astype(np.float32)
    reference = model.predict(clips, batch_size=16, verbose=0)
    return reference, np.stack([w.probs for w in windows])


def test_int8_stream_agrees_with_the_keras_clip_model(keras_vs_int8) -> None:
    """Issue: streamed int8 windows agree with the float Keras clip model on >= 99% of windows."""
    reference, int8 = keras_vs_int8
    agree = np.mean(reference.argmax(axis=1) == int8.argmax(axis=1))
    print(f"windows: {len(int8)}, int8 stream vs Keras float top-1 agreement: {agree:.4f}")
    assert agree >= 0.99


def test_int8_stream_disagrees_with_keras_only_where_keras_is_torn(keras_vs_int8) -> None:
    """Where the int8 stream's top-1 differs, it picks the float model's runner-up of a close call."""
    reference, int8 = keras_vs_int8
    differ = np.flatnonzero(reference.argmax(axis=1) != int8.argmax(axis=1))
    assert len(differ) <= 0.05 * len(reference), (len(differ), len(reference))
    for i in differ:
        top2 = np.argsort(reference[i])[::-1][:2]
        margin = reference[i][top2[0]] - reference[i][top2[1]]
        assert margin < 0.3 and int8[i].argmax() == top2[1], (i, reference[i].round(3), int8[i].round(3))
    # and the probabilities themselves stay close everywhere
    assert np.abs(reference - int8).max() < 0.25 and np.abs(reference - int8).mean() < 0.02


def test_tensorflow_lite_backend_gives_the_same_windows(demo_bundle, bundle, frames) -> None:
    pytest.importorskip("tensorflow")
    other = load_bundle(demo_bundle, backend="tensorflow")
    assert other.backend.name == "tensorflow"
    for start in (0, 7):
        clip = frames[start: start + bundle.frames_per_clip]
        assert_same_within_runtime_rounding(classify_window_raw(other, clip)[1], classify_window_raw(bundle, clip)[1])


def assert_same_within_runtime_rounding(a: np.ndarray, b: np.ndarray) -> None:
    """Two runtimes' int8 kernels round differently (bit-exactness holds within one runtime, tested above):
    the probabilities must agree within a few quantization steps of the int8 output (1/256 each)."""
    steps = np.abs(a.astype(np.int32) - b.astype(np.int32))
    assert steps.max() <= 8, (a.tolist(), b.tolist())


TFLITE_RUNTIME_PY = ROOT / ".venv-tflite-runtime" / "bin" / "python"


def test_tflite_runtime_backend_for_real(demo_bundle, bundle, frames, tmp_path: Path) -> None:
    """tflite_runtime 2.14 (numpy < 2) in its own venv, made by scripts/setup.sh on CPython 3.11: the batched
    stream there equals its own windowed path."""
    if sys.version_info[:2] != (3, 11):
        pytest.skip("tflite-runtime 2.14 wheels exist only up to CPython 3.11")
    assert TFLITE_RUNTIME_PY.exists(), "run scripts/setup.sh: it makes .venv-tflite-runtime"
    clip = frames[: bundle.frames_per_clip]
    np.save(tmp_path / "clip.npy", frames[:26])
    code = (
        "import json, sys, numpy as np\n"
        "from edge.bundle import load_bundle\n"
        "from edge.stream import StreamingClassifier, classify_window_raw\n"
        f"b = load_bundle({str(demo_bundle)!r}, backend='tflite_runtime')\n"
        f"frames = np.load({str(tmp_path / 'clip.npy')!r})\n"
        "probs, q = classify_window_raw(b, frames[:20])\n"
        "stream = StreamingClassifier(b, hop_frames=2)\n"
        "windows = [w for i, f in enumerate(frames) for w in stream.push(f, i / 10)]\n"
        "same = [w.probs_q.tolist() == classify_window_raw(b, frames[w.start_index: w.end_index + 1])[1].tolist()"
        " for w in windows]\n"
        "print(json.dumps({'backend': b.backend.name, 'version': b.backend.version, 'q': q.tolist(),"
        " 'access': b.step.access.kind, 'same': same,"
        " 'modules': sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('tensorflow', 'keras', 'convert', 'cv2'))}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([str(TFLITE_RUNTIME_PY), "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["backend"] == "tflite_runtime" and result["version"] == "2.14.0"
    assert result["modules"] == []
    assert result["same"] == [True] * 4 and result["access"] == "fast"
    assert_same_within_runtime_rounding(np.array(result["q"], dtype=np.int8), classify_window_raw(bundle, clip)[1])
