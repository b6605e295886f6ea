"""Seeing what the model sees: `gesture-edge run --annotate/--windows` on the real runtime and a real video, the
closing line of a run without events, and the annotated frames' drawing of a decision."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run_cli
from edge.annotate import Annotator, scale_for
from edge.decision import DecisionMaker
from edge.manifest import Manifest
from edge.settings import Config, DecisionSettings, resolve_decision
from edge.sources import Frame
from edge.stream import Window

EDGE = [sys.executable, "-m", "edge.cli"]


def edge(*args: str, tmp_path: Path):
    # An empty XDG_CONFIG_HOME: a developer's own config file must not leak in.
    return run_cli(EDGE + list(args), env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})


def read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def stream10(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of a synthetic gesture stream at the demo model's 10 fps: one model frame per source frame."""
    out = tmp_path_factory.mktemp("annotate") / "ten.mp4"
    run_cli([sys.executable, "-m", "convert.synth", "stream", "--out", str(out), "--seed", "21", "--duration-s", "6",
             "--fps", "10", "--size", "120x160"], check=True)
    return out


def test_annotate_and_windows_of_a_run_without_events(demo_bundle: Path, stream10: Path, tmp_path: Path) -> None:
    manifest = Manifest.load(demo_bundle)
    config = tmp_path / "config.toml"
    config.write_text("[decision]\nconsecutive_windows = 20\n")  # 20 in a row cannot happen in 21 windows: no event
    video, windows = tmp_path / "seen.mp4", tmp_path / "windows.jsonl"
    proc = edge("run", "--bundle", str(demo_bundle), "--source", str(stream10), "--config", str(config),
                "--sink", "log", "--annotate", str(video), "--windows", str(windows), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == ""  # no events
    source = read_video(stream10)
    assert f"source ended after {len(source)} frames, 0 events" in proc.stderr

    # The annotated video: one frame per model frame, the model's input enlarged by a whole factor.
    annotated = read_video(video)
    scale = scale_for(manifest.input_height_px)
    assert len(annotated) == len(source) == 60
    assert annotated[0].shape == (manifest.input_height_px * scale, manifest.input_width_px * scale, 3)
    # Between the status band and the bars it is the frame the model got: the source resized (INTER_AREA).
    for k in (0, 30, 59):
        small = cv2.resize(source[k], (manifest.input_width_px, manifest.input_height_px), interpolation=cv2.INTER_AREA)
        seen = cv2.resize(small, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        middle = slice(90, annotated[k].shape[0] - 120)
        diff = np.abs(annotated[k][middle].astype(int) - seen[middle].astype(int)).mean()
        assert diff < 8, (k, diff)

    # The windows log: every window of the run, label by label.
    records = [json.loads(line) for line in windows.read_text().splitlines()]
    hop, frames_per_clip = 2, manifest.frames_per_clip
    assert len(records) == (len(source) - frames_per_clip) // hop + 1 == 21
    assert [r["t_s"] for r in records] == pytest.approx([1.9 + 0.2 * i for i in range(21)])
    for record in records:
        assert list(record["probs"]) == list(manifest.labels)
        assert sum(record["probs"].values()) == pytest.approx(1.0, abs=0.02)
        assert record["t_s"] - record["start_t_s"] == pytest.approx((frames_per_clip - 1) / manifest.model_fps)

    # The last line says why nothing fired: each gesture's highest probability against its threshold (the
    # bundle's tuned ones: the config file sets only consecutive_windows).
    decision = DecisionMaker(manifest.labels, manifest.actions, resolve_decision(Config(), manifest.decision),
                             manifest.background_label)
    last = proc.stderr.strip().splitlines()[-1]
    assert "no events: highest probability per gesture / its threshold over 21 windows: " in last, last
    smooth = decision.settings.smooth_windows
    assert ("(20 confident top-1 windows in a row fire" + (
        f"; what must reach the threshold is the mean of the last {smooth} windows)" if smooth > 1 else ")")) in last
    for gesture in manifest.gesture_labels:
        peak = max(r["probs"][gesture] for r in records)
        shown = float(last.split(f"{gesture} ")[1].split("/")[0])
        assert abs(shown - peak) <= 0.0051, (gesture, shown, peak)
        assert f"{gesture} {shown:.2f}/{decision.threshold(gesture):.2f}" in last
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_bad_outputs_are_one_line_errors_before_anything_runs(demo_bundle: Path, stream10: Path,
                                                              tmp_path: Path) -> None:
    cases = [
        (["--annotate", str(tmp_path / "missing" / "a.mp4")], "--annotate", "does not exist"),
        (["--annotate", str(tmp_path / "a.gif")], "--annotate", "expected a file name ending in .mp4 or .avi"),
        (["--windows", str(tmp_path / "w.txt")], "--windows", "expected a file name ending in .jsonl"),
        (["--windows", str(tmp_path)], "--windows", "ending in .jsonl"),
    ]
    for extra, flag, expected in cases:
        proc = edge("run", "--bundle", str(demo_bundle), "--source", str(stream10), *extra, tmp_path=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        line = proc.stderr.strip().splitlines()[-1]
        assert line.startswith("gesture-edge: error: ") and flag in line and expected in line, line
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))  # nothing written, not even temp


def test_annotated_frames_show_the_event_banner_while_it_lasts(demo_bundle: Path, tmp_path: Path) -> None:
    manifest = Manifest.load(demo_bundle)
    labels = manifest.labels
    decision = DecisionMaker(labels, manifest.actions, DecisionSettings(), manifest.background_label)
    annotator = Annotator(tmp_path / "event.mp4")
    annotator.start(manifest, fps=10.0)
    grey = np.full((manifest.input_height_px, manifest.input_width_px, 3), 128, dtype=np.uint8)
    stop = np.full(len(labels), 0.01, dtype=np.float32)
    stop[labels.index("Stop")] = 0.96
    fired_at = None
    for i in range(40):
        t_s = i / 10.0
        windows = []
        if i >= 19 and i % 2 == 1:  # a window every 2 frames once 20 frames are in
            probs = stop if 21 <= i <= 23 else np.eye(len(labels), dtype=np.float32)[labels.index("No gesture")]
            windows = [Window(probs=probs, probs_q=probs, start_index=i - 19, end_index=i, start_t_s=t_s - 1.9,
                              end_t_s=t_s)]
        events = [e for w in windows for e in decision.update(w.probs, w.end_t_s)]
        if events:
            fired_at = i
        annotator.frame(Frame(rgb=grey, t_s=t_s, index=i), windows, events, decision)
    annotator.finish(completed=True)
    assert fired_at == 23  # Stop windows at frames 21 and 23: two in a row
    frames = read_video(tmp_path / "event.mp4")
    assert len(frames) == 40 and frames[0].shape[:2] == annotator.size_wh[::-1]

    def red(image: np.ndarray) -> int:
        band = image[70:110].astype(int)
        return int(((band[..., 2] > 180) & (band[..., 1] < 90) & (band[..., 0] < 90)).sum())

    shown = [red(f) > 500 for f in frames]
    assert shown == [fired_at <= i < fired_at + 10 for i in range(40)]  # EVENT_SHOW_S = 1 s = 10 frames


def test_with_smoothing_the_bars_show_the_mean_the_rules_saw(demo_bundle: Path, tmp_path: Path) -> None:
    manifest = Manifest.load(demo_bundle)
    labels = manifest.labels
    decision = DecisionMaker(labels, manifest.actions, DecisionSettings(smooth_windows=2), manifest.background_label)
    annotator = Annotator(tmp_path / "mean.mp4")
    annotator.start(manifest, fps=10.0)
    grey = np.zeros((manifest.input_height_px, manifest.input_width_px, 3), dtype=np.uint8)
    rows = [np.eye(len(labels), dtype=np.float32)[labels.index(name)] for name in ("No gesture", "Stop")]
    for i, probs in enumerate(rows):
        window = Window(probs=probs, probs_q=probs, start_index=i, end_index=i + 19, start_t_s=i * 0.2,
                        end_t_s=1.9 + i * 0.2)
        decision.update(window.probs, window.end_t_s)
        annotator.frame(Frame(rgb=grey, t_s=window.end_t_s, index=i), [window], [], decision)
    annotator.finish(completed=True)
    assert annotator._probs is not None
    assert np.allclose(annotator._probs, (rows[0] + rows[1]) / 2)  # the mean, not the last window's 1.0


def test_a_failed_run_leaves_no_file(demo_bundle: Path, tmp_path: Path) -> None:
    manifest = Manifest.load(demo_bundle)
    annotator = Annotator(tmp_path / "gone.mp4")
    annotator.start(manifest, fps=10.0)
    grey = np.zeros((manifest.input_height_px, manifest.input_width_px, 3), dtype=np.uint8)
    decision = DecisionMaker(manifest.labels, manifest.actions, DecisionSettings(), manifest.background_label)
    annotator.frame(Frame(rgb=grey, t_s=0.0, index=0), [], [], decision)
    annotator.finish(completed=False)
    assert list(tmp_path.iterdir()) == []


def test_the_no_events_line_says_when_the_rules_see_a_mean() -> None:
    from edge.taps import PeakTracker

    class OneWindow:
        probs = np.array([0.7, 0.2, 0.1], dtype=np.float32)

    peaks = PeakTracker()
    thresholds = np.array([0.8, 0.8, 0.5])
    peaks.update([OneWindow()], thresholds)
    plain = peaks.text(("Swipe", "Stop", "No gesture"), "No gesture", thresholds, 2, 20)
    smoothed = peaks.text(("Swipe", "Stop", "No gesture"), "No gesture", thresholds, 2, 20, smooth_windows=3)
    assert plain.endswith("Swipe 0.70/0.80, Stop 0.20/0.80 (2 confident top-1 windows in a row fire)"), plain
    assert smoothed.endswith("(2 confident top-1 windows in a row fire; what must reach the threshold is the mean "
                             "of the last 3 windows)"), smoothed
