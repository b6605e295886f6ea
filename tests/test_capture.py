"""`gesture-edge capture`: clips in the case-study layout that the workstation readers accept, background
footage, and prompted gesture streams whose ground truth gesture-bench scores against."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ROOT, run_cli
from edge.capture import STREAM_TAIL_S, Capture, CaptureError, CaptureSettings, parse_label, prompt_plan, run_capture
from edge.sources import OpenCVCameraSource, open_source
from edge.vocab import GESTURES
from fakes import FakeClock, FakeVideoCapture
from test_sources import BITS, decode_frame, encode_frame, write_video

EDGE = [sys.executable, "-m", "edge.cli"]
BENCH = [sys.executable, "-m", "edge.bench"]


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
    assert (f"train a model for this room with: gesture-train --data {out} --init models/demo/model.keras "
            "--out runs/my-room") in proc.stderr

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


# ---- background footage (--background --minutes) ---------------------------------------------------------------


def video_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def test_background_footage_is_what_train_and_bench_read(tmp_path: Path) -> None:
    video = write_video(tmp_path / "room.mp4", 30.0, 90)  # 3 s, frame index drawn in each frame
    out = tmp_path / "room"
    proc = capture("--source", str(video), "--out", str(out), "--background", "--minutes", "0.05",
                   "--frames", "10", "--duration-s", "1", "--no-countdown", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in (out / "background").iterdir())
    assert len(files) == 2 and files[0].endswith(".mp4") and files[1] == files[0][:-4] + ".truth.json", files
    footage = out / "background" / files[0]
    frames = video_frames(footage)
    # 3 s at 10 fps (--frames / --duration-s): every third frame of the 30 fps file, at the saved size
    assert [decode_frame(f) for f in frames] == list(range(0, 90, 3)) and frames[0].shape == (120, 160, 3)
    assert not (out / "train").exists() and not (out / "train.csv").exists()

    # gesture-bench reads it as background-only footage (false actions per hour) ...
    from edge.metrics import load_truth

    truth = load_truth(footage)
    assert truth.background_only and truth.frames == 30 and truth.fps == 10.0 and truth.duration_s == 3.0
    # ... and gesture-train --negatives OUT finds it (names only, nothing decoded)
    from convert.negatives import find_footage

    assert find_footage([out]).footage == (footage,)
    assert (f"gesture-train --data {out} --init models/demo/model.keras --negatives {out / 'background'} "
            "--out runs/my-room") in proc.stderr
    assert "gesture-bench events --bundle BUNDLE" in proc.stderr and "NO gestures" in proc.stderr

    # Footage that ends early: what was recorded is kept, complete, and the exit status says so.
    proc = capture("--source", str(video), "--out", str(out), "--background", "--minutes", "1", "--frames", "10",
                   "--duration-s", "1", "--no-countdown", tmp_path=tmp_path)
    assert proc.returncode == 1 and "the source ended after 30 of 600 frames" in proc.stderr, proc.stderr
    names = sorted(p.name for p in (out / "background").iterdir())
    assert len(names) == 4 and not any(n.startswith(".") for n in names), names  # no temp files left
    second = [out / "background" / n for n in names if n.endswith(".mp4") and n != files[0]][0]
    assert len(video_frames(second)) == 30 and load_truth(second).frames == 30


@pytest.mark.parametrize("args,needle", [
    (["--background"], "--background: needs --minutes M"),
    (["--minutes", "2", "--clips", "1"], "--minutes: only with --background"),
    (["--background", "--minutes", "1", "--label", "Stop"], "--label: not with --background"),
    (["--background", "--minutes", "1", "--clips", "3"], "--clips: not with --background"),
    ([], "--clips N: required"),
    (["--background", "--minutes", "0"], "argument --minutes: expected a number > 0"),
    (["--stream"], "--stream: needs --minutes M"),
    (["--stream", "--background", "--minutes", "1"], "--stream: not with --background"),
    (["--stream", "--minutes", "1", "--clips", "2"], "--clips: not with --stream"),
    (["--stream", "--minutes", "1", "--label", "Stop", "--label", "no gesture"],
     "--label 'no gesture': not with --stream"),
    (["--stream", "--minutes", "1", "--gap-s", "6,3"],
     "argument --gap-s: expected MIN,MAX seconds with 0 < MIN <= MAX"),
    (["--stream", "--minutes", "0.1", "--gap-s", "3,6"],
     "--minutes 0.1: too short for a prompt (expected at least 9.5 s"),
    (["--clips", "1", "--gap-s", "3,6"], "--gap-s: only with --stream"),
    (["--background", "--minutes", "1", "--seed", "3"], "--seed: only with --stream"),
])
def test_bad_background_arguments_are_one_line_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    video = write_video(tmp_path / "room.mp4", 10.0, 10)
    proc = capture("--source", str(video), "--out", str(tmp_path / "out"), "--no-countdown", *args, tmp_path=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("gesture-edge"), proc.stderr
    assert "error:" in lines[0] and needle in lines[0], lines
    assert not (tmp_path / "out").exists()


# ---- prompted gesture streams (--stream --minutes) --------------------------------------------------------------


def stream_files(out: Path) -> tuple[Path, dict]:
    """The one video in OUT/streams/ and its raw truth JSON; nothing else (no temp file) is there."""
    names = sorted(p.name for p in (out / "streams").iterdir())
    assert len(names) == 2 and names[0].endswith(".mp4") and names[1] == names[0][:-4] + ".truth.json", names
    video = out / "streams" / names[0]
    return video, json.loads((out / "streams" / names[1]).read_text())


def drawn(indexes: range) -> list[int]:
    """What decode_frame reads from the frames of write_video with these indexes (BITS bits of each)."""
    return [i % 2**BITS for i in indexes]


def intervals(truth) -> list[tuple[str, float, float]]:
    return [(e.gesture, e.start_s, e.end_s) for e in truth.events]


def test_stream_records_the_source_with_the_prompt_windows_as_truth(tmp_path: Path) -> None:
    video = write_video(tmp_path / "room.mp4", 30.0, 750)  # 25 s, frame index drawn in each frame
    out = tmp_path / "room-test"
    # 10 frames over 1 s: 10 fps video, 1 s windows; gaps of exactly 3 s: windows at 3, 7, 11 and 15 s (the next,
    # 19-20 s, would leave less than STREAM_TAIL_S of the 21 s).
    proc = capture("--source", str(video), "--out", str(out), "--stream", "--minutes", "0.35", "--gap-s", "3,3",
                   "--label", "Stop", "--label", "Left Swipe", "--frames", "10", "--duration-s", "1", "--seed", "7",
                   "--no-countdown", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    footage, raw = stream_files(out)
    # The source's own frames, every third of the 30 fps file, at the saved size.
    frames = video_frames(footage)
    assert [decode_frame(f) for f in frames] == drawn(range(0, 630, 3)) and frames[0].shape == (120, 160, 3)
    from edge.metrics import load_truth

    truth = load_truth(footage)
    assert truth.fps == 10.0 and truth.frames == 210 and truth.duration_s == 21.0 and truth.seed == 7
    # A Left Swipe is prompted as such and is a Swipe in the truth (the model's class).
    assert intervals(truth) == [("Stop", 3.0, 4.0), ("Swipe", 7.0, 8.0), ("Stop", 11.0, 12.0), ("Swipe", 15.0, 16.0)]
    assert 16.0 + STREAM_TAIL_S <= 21.0 < 20.0 + STREAM_TAIL_S
    assert raw["source"] == "gesture-edge capture --stream" and raw["input"] == str(video)
    # Each window was announced by a countdown, then 'now: ...', in order.
    lines = [line.strip() for line in proc.stderr.splitlines()]
    first = lines.index("Stop in 2...")
    assert lines[first:first + 5] == ["Stop in 2...", "1...", "now: Stop", "done (1 of 4)", "Left Swipe in 2..."]
    assert [line for line in lines if line.startswith("now:")] == ["now: Stop", "now: Left Swipe"] * 2
    assert f"gesture-bench events --bundle BUNDLE {footage}" in proc.stderr
    assert (f"gesture-bench tune --bundle BUNDLE --gestures {out / 'streams'}/*.mp4 --background FOOTAGE.mp4... "
            "--max-false-per-hour 1 --save-to-bundle (no background footage in this folder yet") in proc.stderr

    # Background footage recorded next to it completes the tune command both hints print.
    proc = capture("--source", str(video), "--out", str(out), "--background", "--minutes", "0.05", "--frames", "10",
                   "--duration-s", "1", "--no-countdown", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (f"tune the decisions: gesture-bench tune --bundle BUNDLE --gestures {out / 'streams'}/*.mp4 "
            f"--background {out / 'background'}/*.mp4 --max-false-per-hour 1 --save-to-bundle\n") in proc.stderr
    background = next((out / "background").glob("*.truth.json"))
    assert json.loads(background.read_text())["source"] == "gesture-edge capture --background"


def test_default_gestures_are_balanced_and_the_gaps_seeded(tmp_path: Path) -> None:
    choices = [(g, g) for g in GESTURES]
    plan = prompt_plan(choices, 300.0, 2.0, (3.0, 6.0), seed=1, shuffle=True)
    assert len(plan) >= 40
    gestures = [p.gesture for p in plan]
    for k in range(0, len(plan) - 3, 4):  # every round of four has each gesture once
        assert sorted(gestures[k:k + 4]) == sorted(GESTURES)
    assert len({tuple(gestures[k:k + 4]) for k in range(0, 40, 4)}) > 1  # ...in changing orders
    gaps = [b.start_s - a.end_s for a, b in zip(plan, plan[1:])] + [plan[0].start_s]
    assert all(3.0 <= g <= 6.0 for g in gaps) and max(gaps) - min(gaps) > 1.5
    assert all(p.end_s - p.start_s == pytest.approx(2.0) for p in plan)
    assert plan[-1].end_s + STREAM_TAIL_S <= 300.0 < plan[-1].end_s + 6.0 + 2.0 + STREAM_TAIL_S
    assert prompt_plan(choices, 300.0, 2.0, (3.0, 6.0), seed=1, shuffle=True) == plan
    assert prompt_plan(choices, 300.0, 2.0, (3.0, 6.0), seed=2, shuffle=True) != plan
    in_turns = prompt_plan(choices, 60.0, 2.0, (3.0, 6.0), seed=1, shuffle=False)
    assert [p.gesture for p in in_turns] == [GESTURES[k % 4] for k in range(len(in_turns))]

    # The CLI follows its seed's plan, window for window, on the frames' own times.
    video = write_video(tmp_path / "room.mp4", 30.0, 1140)  # 38 s
    out = tmp_path / "room"
    proc = capture("--source", str(video), "--out", str(out), "--stream", "--minutes", "0.6", "--gap-s", "2,4",
                   "--frames", "10", "--duration-s", "1", "--seed", "5", "--no-countdown", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    footage, raw = stream_files(out)
    from edge.metrics import load_truth

    truth = load_truth(footage)
    expected = prompt_plan(choices, 36.0, 1.0, (2.0, 4.0), seed=5, shuffle=True)
    assert raw["seed"] == 5 and truth.frames == 360 and len(truth.events) == len(expected) >= 6
    for event, prompt in zip(truth.events, expected):
        assert event.gesture == prompt.gesture
        # the first frame at or after the prompt's time (10 fps; truth rounded to ms): at most a frame late
        for late_s in (event.start_s - prompt.start_s, event.end_s - prompt.end_s):
            assert -0.0015 <= late_s < 0.1005, (event, prompt)


def test_a_source_that_ends_keeps_the_video_and_the_completed_windows(tmp_path: Path) -> None:
    video = write_video(tmp_path / "room.mp4", 30.0, 420)  # 14 s: the third window (13-15 s) is cut short
    out = tmp_path / "room"
    proc = capture("--source", str(video), "--out", str(out), "--stream", "--minutes", "0.5", "--gap-s", "3,3",
                   "--label", "Thumbs Up", "--frames", "20", "--duration-s", "2", "--no-countdown",
                   tmp_path=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "the source ended after 140 of 300 frames" in proc.stderr
    assert "2 of 5 prompted gestures" in proc.stderr
    footage, raw = stream_files(out)
    assert [decode_frame(f) for f in video_frames(footage)] == drawn(range(0, 420, 3))
    from edge.metrics import load_truth

    truth = load_truth(footage)
    assert truth.frames == 140 and intervals(truth) == [("Thumbs Up", 3.0, 5.0), ("Thumbs Up", 8.0, 10.0)]
    assert isinstance(raw["seed"], int)  # a fresh seed, kept so the session's prompts can be told again


class _CtrlCAt(io.StringIO):
    """stderr that presses Ctrl-C (a real SIGINT to this process) once `text` is printed."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def write(self, s: str) -> int:
        written = super().write(s)
        if self.text in s:
            os.kill(os.getpid(), signal.SIGINT)
        return written


def test_ctrl_c_during_a_prompt_drops_only_that_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = write_video(tmp_path / "room.mp4", 30.0, 750)
    out = tmp_path / "room"
    stderr = _CtrlCAt("now: Thumbs Up")
    before = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(sys, "stderr", stderr)
    settings = CaptureSettings(source=str(video), out=out, labels=("Stop", "Thumbs Up"), frames=10, duration_s=1.0,
                               countdown_s=0.0, stream_s=21.0, gap_s=(3.0, 3.0), seed=3)
    assert run_capture(settings) == 1  # run_capture's handler turned the SIGINT into a stop
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is before  # and put the old handler back
    footage, _ = stream_files(out)
    indexes = [decode_frame(f) for f in video_frames(footage)]
    # Stopped in the second window (7-8 s at 10 fps): every frame up to there is kept, the truth has the first.
    assert 70 < len(indexes) < 80 and indexes == drawn(range(0, 3 * len(indexes), 3))
    from edge.metrics import load_truth

    truth = load_truth(footage)
    assert intervals(truth) == [("Stop", 3.0, 4.0)] and truth.frames == len(indexes)
    assert "the recording ended during the prompt for Thumbs Up: left out of the truth" in stderr.getvalue()

    # Stopped before any window completed, nothing is kept: a truth without gestures reads as background footage.
    stderr = _CtrlCAt("now: Stop")
    monkeypatch.setattr(sys, "stderr", stderr)
    assert run_capture(dataclasses.replace(settings, out=tmp_path / "early")) == 1
    monkeypatch.undo()
    assert list((tmp_path / "early" / "streams").iterdir()) == []
    assert f"no prompt completed: nothing written to {tmp_path / 'early' / 'streams'}" in stderr.getvalue()


def test_a_slow_camera_is_prompted_on_its_frame_times_and_the_truth_is_in_video_time(tmp_path: Path) -> None:
    # The camera gives 10 frames a second to a 15 fps capture: the video plays 1.5x faster than life, so a
    # window prompted at 3-5 s of the camera's time lies at 2.0-3.33 s of the video, where its frames are.
    clock = FakeClock()

    def scene(number: int, height: int, width: int) -> np.ndarray:
        return encode_frame(number, (width, height))[:, :, ::-1]

    camera = OpenCVCameraSource(0, (120, 160), 15.0, clock=clock, sleep=clock.sleep,
                                capture_factory=lambda d: FakeVideoCapture(d, clock=clock, fps=10.0, scene=scene))
    prompt = io.StringIO()
    settings = CaptureSettings(source="cam:0", out=tmp_path / "out", labels=("Stop",), countdown_s=1.0, stream_s=12.0,
                               gap_s=(3.0, 3.0))
    assert Capture(settings, source=camera, prompt=prompt, clock=clock, sleep=clock.sleep).run() == 0
    footage, raw = stream_files(tmp_path / "out")
    numbers = [decode_frame(f) for f in video_frames(footage)]
    first = numbers[0]
    assert len(numbers) == 180 and first > 5 and numbers == drawn(range(first, first + 180))  # countdown discarded
    from edge.metrics import load_truth

    truth = load_truth(footage)
    rounded = [(g, round(a, 2), round(b, 2)) for g, a, b in intervals(truth)]
    assert rounded == [("Stop", 2.0, 3.33), ("Stop", 5.33, 6.67)]
    assert truth.duration_s == 12.0 and isinstance(raw["seed"], int)
    assert "note: the source gave 180 frames over 17.9 s, fewer than 15 a second" in prompt.getvalue()
    assert clock.sleeps == []  # a live camera paces itself


def synthetic_room(path: Path, layout: list[tuple[str, float]], fps: float) -> None:
    """A video of rendered synthetic clips (convert.synth), one per (class, seconds) in order, at `fps`."""
    from convert.synth import clip_scene, render_clip

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 120))
    assert writer.isOpened()
    for seed, (label, seconds) in enumerate(layout, start=40):
        for rgb in render_clip(clip_scene(label, seed, seconds), round(seconds * fps), seconds, (120, 160)):
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.mark.convert
def test_stream_of_synthetic_gestures_is_what_gesture_bench_scores_and_tunes_on(demo_bundle: Path,
                                                                                 tmp_path: Path) -> None:
    # Capture's defaults (30 frames over 2 s: 15 fps, 2 s windows) with 3 s gaps put the windows at 3, 8, 13 and
    # 18 s of a 22 s stream; the "camera" shows a rendered gesture clip exactly there, 'No gesture' clips between.
    order = ["Stop", "Thumbs Up", "Swipe", "Thumbs Down"]
    layout = [entry for gesture in order for entry in (("No gesture", 3.0), (gesture, 2.0))] + [("No gesture", 2.0)]
    camera = tmp_path / "camera.mp4"
    synthetic_room(camera, layout, 15.0)
    out = tmp_path / "room-test"
    labels = [x for gesture in order for x in ("--label", gesture)]
    proc = capture("--source", str(camera), "--out", str(out), "--stream", "--minutes", str(22 / 60), "--gap-s",
                   "3,3", *labels, "--no-countdown", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    footage, _ = stream_files(out)
    written, source = video_frames(footage), video_frames(camera)
    assert len(written) == len(source) == 330
    # The same pictures (re-encoded): far closer to the source's frame than to one 5 s away (another clip).
    for k in range(0, 330, 15):
        same = np.abs(written[k].astype(int) - source[k]).mean()
        assert same < 4.0 and same < 0.5 * np.abs(written[k].astype(int) - source[(k + 75) % 330]).mean(), k

    from convert.synth import write_stream

    quiet = tmp_path / "quiet.mp4"
    write_stream(quiet, 12, 6.0, fps=15.0, size_hw=(120, 160), background_only=True)
    proc = capture("--source", str(quiet), "--out", str(out), "--background", "--minutes", "0.1", "--no-countdown",
                   tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    hint = [line for line in proc.stderr.splitlines() if line.startswith("tune the decisions: ")][0]

    events = tmp_path / "events.json"
    proc = run_cli([*BENCH, "events", "--bundle", str(demo_bundle), str(footage), "--json", str(events),
                    "--no-progress"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    stream = json.loads(events.read_text())["streams"][0]
    assert [(e["gesture"], e["start_s"], e["end_s"]) for e in stream["truth_events"]] == [
        ("Stop", 3.0, 5.0), ("Thumbs Up", 8.0, 10.0), ("Swipe", 13.0, 15.0), ("Thumbs Down", 18.0, 20.0)]
    assert stream["summary"]["truth_gestures"] == 4 and stream["duration_s"] == 22.0

    # The tune command capture printed runs as printed (the bundle filled in; a copy, --save-to-bundle writes).
    bundle = Path(shutil.copytree(demo_bundle, tmp_path / "bundle"))
    command = hint.removeprefix("tune the decisions: ").replace("gesture-bench ", shlex.join(BENCH) + " ", 1)
    command = command.replace("BUNDLE", str(bundle)) + f" --no-progress --json {tmp_path / 'tune.json'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tune = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert tune.returncode == 0, tune.stderr[-3000:]
    report = json.loads((tmp_path / "tune.json").read_text())
    parts = report["parts"]
    assert parts["tuning"]["gestures"] + parts["held_out"]["gestures"] == 4
    assert parts["tuning"]["background_min"] + parts["held_out"]["background_min"] == pytest.approx(0.1)
    assert report["saved_to_bundle"].endswith("manifest.json")

