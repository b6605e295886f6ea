"""Hard-negative mining (`gesture-train --negatives`): the mined windows are the ones that really fired.

A tiny random-weight clip model (64x64, 4 frames, BatchNormalization statistics set from one batch so the
features are not all zero) mines a short background-only stream from the real renderer. The test scores
every window itself with the whole Keras clip model (not the miner's frame/step split) on frames read
through the edge runtime's own source (paced to the model fps, resized like the Pi), picks a threshold
between two scores, and checks that exactly the windows at or above it were mined, plus the random ones
below it, written as readable clips of the frames the model saw. A second round mines again with the
first round's model and takes the first round's folder as it is.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

keras = pytest.importorskip("keras")  # the [convert] extra

from keras import layers  # noqa: E402

from convert.data import load_clip, read_casestudy  # noqa: E402
from convert.model import build_model  # noqa: E402
from convert.negatives import NegativesError, find_footage  # noqa: E402
from convert.synth import write_casestudy, write_stream  # noqa: E402
from edge.sources import open_source  # noqa: E402

TRAIN = [sys.executable, "-m", "convert.train"]
CLASSES5 = ["Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture"]
FRAMES, SIZE, FPS = 4, 64, 5.0

pytestmark = pytest.mark.convert


def _all_layers(layer):
    yield layer
    inner = getattr(layer, "layer", None)
    if inner is not None:
        yield from _all_layers(inner)
    for child in getattr(layer, "layers", []):
        yield from _all_layers(child)


def tiny_init(folder: Path) -> Path:
    keras.utils.set_random_seed(1)
    model = build_model("mobilenet_lstm", 5, frames=FRAMES, size_px=SIZE, alpha=0.25, cells=8, dense_units=8,
                        weights=None)
    for layer in _all_layers(model):  # moving statistics from one batch: random features neither vanish nor explode
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.0
    model(np.random.default_rng(7).integers(0, 256, (4, FRAMES, SIZE, SIZE, 3)).astype(np.float32), training=True)
    folder.mkdir()
    model.save(folder / "model.keras")
    (folder / "labels.json").write_text(json.dumps({"labels": CLASSES5, "model_fps": FPS}))
    return folder / "model.keras"


def model_frames(video: Path) -> np.ndarray:
    source = open_source(str(video), (SIZE, SIZE), FPS)
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame.rgb)
    source.close()
    return np.stack(frames)


@pytest.mark.slow  # two tiny training runs
def test_mined_windows_are_the_ones_that_fired(tmp_path: Path) -> None:
    init = tiny_init(tmp_path / "init")
    data = write_casestudy(tmp_path / "data", {"train": 2}, seed=3, size_hw=(48, 64))  # no val split: held out
    video = tmp_path / "room" / "background" / "bg.mp4"
    write_stream(video, 5, 6.0, fps=10.0, size_hw=(48, 64), background_only=True)

    frames = model_frames(video)
    assert len(frames) == 30  # 6 s paced to 5 fps
    windows = np.stack([frames[s:s + FRAMES] for s in range(len(frames) - FRAMES + 1)])
    model = keras.models.load_model(init, compile=False)
    probs = np.asarray(model(windows.astype(np.float32), training=False))  # the whole clip model, per window
    top = probs[:, :4].max(axis=1)
    ordered = np.sort(top)
    gaps = np.diff(ordered)
    middle = [i for i in range(len(gaps)) if gaps[i] > 2e-4 and len(ordered) // 4 <= i <= 3 * len(ordered) // 4]
    assert middle, ordered  # the random model's windows differ enough to split them
    threshold = round(float((ordered[middle[0]] + ordered[middle[0] + 1]) / 2), 6)  # as typed on the command line
    expected_fired = {int(s) for s in np.flatnonzero(top >= threshold)}

    out = tmp_path / "r1"
    args = ["--data", str(data), "--frames", str(FRAMES), "--size", str(SIZE), "--cells", "8", "--dense", "8",
            "--epochs", "1", "--batch", "8", "--model-fps", str(FPS), "--negatives-hop", "1",
            "--negatives-random", "2"]
    proc = run_cli(TRAIN + args + ["--init", str(init), "--negatives", str(tmp_path / "room"),
                                   "--negatives-threshold", str(threshold), "--out", str(out)], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "negatives" / "windows.json").read_text())
    records = report["windows"]
    fired = {r["start_frame"] for r in records if r["why"] == "fired"}
    drawn = [r for r in records if r["why"] == "random"]
    assert report["windows_scored"] == len(windows) == 27
    assert fired == expected_fired and len(drawn) == 2
    assert all(top[r["start_frame"]] < threshold for r in drawn)
    by_gesture: dict[str, int] = {}
    for start in expected_fired:
        gesture = CLASSES5[int(probs[start, :4].argmax())]
        by_gesture[gesture] = by_gesture.get(gesture, 0) + 1
    assert report["fired"] == by_gesture
    assert "scored 27 windows" in proc.stdout and f"fired (top gesture >= {threshold:g}): {len(fired)}" in proc.stdout
    for gesture, count in by_gesture.items():
        assert f"{gesture} {count}" in proc.stdout
    np.testing.assert_allclose(report["footage"][0]["top_gesture_prob"], top, atol=1e-4)  # the split == the model
    for r in records:
        assert r["source"] == str(video) and r["top_gesture_prob"] == pytest.approx(top[r["start_frame"]], abs=1e-4)

    # The mined clips are the windows' frames, in the case-study layout, labelled as the background class.
    clips = read_casestudy(out / "negatives", "train")
    assert [c.label for c in clips] == ["No gesture"] * len(records) and len(records) == len(fired) + 2
    for ref, r in zip(clips, records):
        clip = load_clip(ref, FRAMES, (SIZE, SIZE))
        assert ref.folder.name == r["clip"]
        assert np.abs(clip.astype(int) - frames[r["start_frame"]:r["start_frame"] + FRAMES]).mean() < 3  # JPEG
    assert f"training on {5 + len(records)} clips ({len(records)} of them mined negatives)" in proc.stderr

    # Round 2: the round-1 model mines the same footage again; round 1's windows come along as they are.
    out2 = tmp_path / "r2"
    proc = run_cli(TRAIN + args + ["--init", str(out / "model.keras"), "--negatives", str(video),
                                   str(out / "negatives"), "--negatives-threshold", "0.999", "--out", str(out2)],
                   timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads((out2 / "negatives" / "windows.json").read_text())
    assert again["model"] == str(out / "model.keras") and again["windows_scored"] == 27
    assert [r["why"] for r in again["windows"]] == ["random", "random"]  # nothing reaches 0.999
    assert f"{len(records)} from earlier rounds" in proc.stdout
    assert f"training on {5 + len(records) + 2} clips" in proc.stderr


def test_footage_arguments_are_resolved_without_reading(tmp_path: Path) -> None:
    capture = tmp_path / "room"
    (capture / "background").mkdir(parents=True)
    for name in ("b.mp4", "a.mp4"):
        (capture / "background" / name).write_bytes(b"")
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "00001.jpg").write_bytes(b"")
    mined = tmp_path / "r1" / "negatives"
    mined.mkdir(parents=True)
    (mined / "windows.json").write_text("{}")
    (mined / "train.csv").write_text("")
    found = find_footage([capture, frames, mined, capture / "background" / "a.mp4"])
    assert found.footage == (capture / "background" / "a.mp4", capture / "background" / "b.mp4", frames)
    assert found.mined == (mined,)
    for path, needle in ((tmp_path / "nope.mp4", "no such file or folder"), (frames / "00001.jpg", "not a video"),
                         (tmp_path / "r1", "no footage in it")):
        with pytest.raises(NegativesError, match=needle) as info:
            find_footage([path])
        assert str(path) in str(info.value) and "\n" not in str(info.value)
