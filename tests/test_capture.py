"""`gesture-edge capture`: clips in the case-study layout that the workstation readers accept."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run_cli
from edge.capture import Capture, CaptureError, CaptureSettings, parse_label
from edge.sources import OpenCVCameraSource, open_source
from fakes import FakeClock, FakeVideoCapture
from test_sources import decode_frame, write_video

EDGE = [sys.executable, "-m", "edge.cli"]


def capture(*args: str, tmp_path: Path):
    return run_cli(EDGE + ["capture", *args], env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, timeout=300)


def clip_indexes(folder: Path) -> list[int]:
    files = sorted(folder.glob("*.jpg"))
    return [decode_frame(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)) for f in files]


def test_labelled_clips_in_the_case_study_layout(tmp_path: Path) -> None:
    video = write_video(tmp_path / "room.mp4", 30.0, 150)  # 5 s at 30 fps, frame index drawn in each frame
    out = tmp_path / "calib"
    proc = capture("--source", str(video), "--out", str(out), "--clips", "2", "--label", "Swipe",
                   "--label", "no gesture", "--frames", "10", "--duration-s", "1.0", "--no-countdown",
                   tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out / "train.csv").read_text().splitlines() == [
        "clip_00001;Swipe;0", "clip_00002;No gesture;5", "clip_00003;Swipe;0", "clip_00004;No gesture;5"]
    # 10 frames over 1 s: paced to 10 fps from the 30 fps file (every third frame), clip after clip.
    for number in range(4):
        folder = out / "train" / f"clip_{number + 1:05d}"
        assert sorted(p.name for p in folder.iterdir()) == [f"{i:05d}.jpg" for i in range(1, 11)]
        assert clip_indexes(folder) == list(range(number * 30, number * 30 + 30, 3))
        assert cv2.imread(str(folder / "00001.jpg")).shape == (120, 160, 3)
    assert "clip 1/4: Swipe" in proc.stderr and "clip 2/4: No gesture" in proc.stderr
    assert f"calibrate with: gesture-convert MODEL --calib {out}" in proc.stderr

    # The workstation readers take it as it is (labels by case-study index).
    from convert.data import load_clip, read_casestudy

    clips = read_casestudy(out, "train")
    assert [c.label for c in clips] == ["Swipe", "No gesture", "Swipe", "No gesture"]
    assert load_clip(clips[0], 5, (64, 64)).shape == (5, 64, 64, 3)

    # A second session adds clips after the existing ones.
    proc = capture("--source", str(video), "--out", str(out), "--clips", "1", "--label", "Thumbs Up_new",
                   "--frames", "10", "--duration-s", "1.0", "--no-countdown", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out / "train.csv").read_text().splitlines()[-1] == "clip_00005;Thumbs Up_new;4"
    assert clip_indexes(out / "train" / "clip_00005") == list(range(0, 30, 3))


def test_unlabelled_clips_for_calibration(tmp_path: Path) -> None:
    video = write_video(tmp_path / "room.mp4", 15.0, 40)
    out = tmp_path / "room"
    proc = capture("--source", str(video), "--out", str(out), "--clips", "2", "--frames", "8", "--duration-s", "1",
                   "--size", "96x128", "--no-countdown", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "train.csv").exists()
    assert sorted(p.name for p in (out / "train").iterdir()) == ["clip_00001", "clip_00002"]
    assert cv2.imread(str(out / "train" / "clip_00002" / "00008.jpg")).shape == (96, 128, 3)
    assert f"--calib {out / 'train'}" in proc.stderr
    from convert.calib import discover

    found = discover(out / "train", "--calib")
    assert found.layout == "folders" and len(found.train) == 2


def test_source_ending_early_keeps_only_complete_clips(tmp_path: Path) -> None:
    video = write_video(tmp_path / "short.mp4", 10.0, 25)
    out = tmp_path / "calib"
    proc = capture("--source", str(video), "--out", str(out), "--clips", "3", "--label", "Stop", "--frames", "10",
                   "--duration-s", "1", "--no-countdown", tmp_path=tmp_path)
    assert proc.returncode == 1
    assert "ended after 5 of 10 frames" in proc.stderr and "2 of 3 clips written" in proc.stderr
    assert sorted(p.name for p in (out / "train").iterdir()) == ["clip_00001", "clip_00002"]  # no temp leftovers
    assert (out / "train.csv").read_text().splitlines() == ["clip_00001;Stop_new;2", "clip_00002;Stop_new;2"]


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    video = write_video(tmp_path / "room.mp4", 10.0, 10)
    for args, needle in ((["--label", "Wave"], "--label 'Wave': unknown label"),
                         (["--source", "bogus:1"], "unknown source")):
        base = {"--source": str(video), "--out": str(tmp_path / "out"), "--clips": "1"}
        if args[0] in base:
            base[args[0]] = args[1]
            args = []
        flat = [x for kv in base.items() for x in kv] + args + ["--no-countdown"]
        proc = capture(*flat, tmp_path=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("gesture-edge: error:")
        assert needle in proc.stderr.strip().splitlines()[-1]
    with pytest.raises(CaptureError):
        parse_label("")
    assert parse_label(" thumbs  DOWN_new ") == ("Thumbs Down_new", 3)


def test_countdown_prompts_and_a_live_camera_starts_fresh(tmp_path: Path) -> None:
    clock = FakeClock()
    numbers = []

    def scene(number: int, height: int, width: int) -> np.ndarray:
        numbers.append(number)
        return np.full((height, width, 3), 128, np.uint8)

    camera = OpenCVCameraSource(0, (120, 160), 15.0, clock=clock, sleep=clock.sleep,
                                capture_factory=lambda d: FakeVideoCapture(d, clock=clock, fps=30.0, scene=scene))
    prompt = io.StringIO()
    settings = CaptureSettings(source="cam:0", out=tmp_path / "out", clips=1, labels=("Thumbs Up",), frames=30,
                               duration_s=2.0, countdown_s=3.0)
    assert Capture(settings, source=camera, prompt=prompt, clock=clock, sleep=clock.sleep).run() == 0
    lines = [line.strip() for line in prompt.getvalue().splitlines()]
    assert lines[:5] == ["clip 1/1: Thumbs Up -- 30 frames over 2 s", "3...", "2...", "1...", "go!"]
    # The 3 s countdown read (and threw away) the camera's frames: the clip starts ~90 camera frames in.
    saved = len(list((tmp_path / "out" / "train" / "clip_00001").glob("*.jpg")))
    assert saved == 30 and numbers[-1] >= 90 + 59 - 1
    assert clock.sleeps == []  # a live camera paces itself

    # From footage nothing is discarded: the countdown just waits.
    video = write_video(tmp_path / "room.mp4", 15.0, 30)
    clock = FakeClock()
    prompt = io.StringIO()
    source = open_source(str(video), (120, 160), 15.0)
    settings = CaptureSettings(source=str(video), out=tmp_path / "out2", clips=1, frames=30, duration_s=2.0,
                               countdown_s=1.5)
    assert Capture(settings, source=source, prompt=prompt, clock=clock, sleep=clock.sleep).run() == 0
    assert sum(clock.sleeps) == pytest.approx(1.5)
    assert clip_indexes(tmp_path / "out2" / "train" / "clip_00001") == list(range(30))
    assert "clip 1/1: any movement (unlabelled)" in prompt.getvalue()
