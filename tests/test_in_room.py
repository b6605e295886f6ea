"""The in-room path end to end, every step a real CLI in a subprocess, no file edited in between:

    gesture-edge capture (labelled clips, then --background)  ->  gesture-train --init models/demo/model.keras
    --negatives (automatic validation split, hard negatives)  ->  gesture-convert  ->  gesture-edge run

The "camera" is a video made of synthetic clips in a known order (convert.synth renders them), so capture's
turns (Swipe, Stop, Thumbs Down, Thumbs Up, No gesture, Swipe, ...) get exactly one rendered clip each; the
background is a background-only synthetic stream. Training is one epoch at a tiny learning rate from the
bundled model (what docs/IN_ROOM.md tells a user to start from), so the model still recognises gestures and
the run over a fresh stream must emit events; the test asserts the chain works, not the model's quality.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import pytest

from conftest import DEMO_MODEL, run_cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

pytest.importorskip("keras")  # the [convert] extra

from convert.synth import CLASSES, clip_scene, render_clip, write_stream

EDGE = [sys.executable, "-m", "edge.cli"]
TRAIN = [sys.executable, "-m", "convert.train"]
CONVERT = [sys.executable, "-m", "convert.export"]
FPS = 15.0  # capture's default pacing: 30 frames over 2.0 s
ROUNDS = 2  # clips per label: the automatic split holds out 1 and trains on 1


def clips_video(path: Path) -> None:
    """Rendered clips, label after label in capture's turn order, at capture's frame rate."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (160, 120))
    assert writer.isOpened()
    for n in range(ROUNDS):
        for k, label in enumerate(CLASSES):
            for rgb in render_clip(clip_scene(label, 100 + 10 * n + k), 30, 2.0, (120, 160)):
                writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.mark.slow
@pytest.mark.convert
def test_capture_train_convert_run(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    camera = tmp_path / "camera.mp4"
    clips_video(camera)
    room = tmp_path / "room"
    labels = [x for label in CLASSES for x in ("--label", label)]
    proc = run_cli(EDGE + ["capture", "--source", str(camera), "--out", str(room), "--clips", str(ROUNDS), *labels,
                           "--no-countdown"], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (room / "train.csv").read_text().splitlines()
    assert [line.split(";")[1].replace("_new", "") for line in lines] == list(CLASSES) * ROUNDS
    assert not (room / "val.csv").exists()  # capture writes no val split: gesture-train holds one out

    background = tmp_path / "background.mp4"
    write_stream(background, 11, 8.0, fps=FPS, size_hw=(120, 160), background_only=True)
    proc = run_cli(EDGE + ["capture", "--source", str(background), "--out", str(room), "--background",
                           "--minutes", str(8 / 60), "--no-countdown"], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hint = [line for line in proc.stderr.splitlines() if "gesture-train --data" in line][0]
    assert f"--init models/demo/model.keras --negatives {room / 'background'}" in hint

    # The closing hint's command, as printed (the bundled model is found from the repository root), plus the
    # knobs that keep it small: one epoch, a tiny step, a few random windows.
    run = tmp_path / "run"
    train_args = hint.split("gesture-train ", 1)[1].split(" (docs/")[0].split()
    train_args[train_args.index("--out") + 1] = str(run)
    proc = run_cli(TRAIN + train_args + ["--epochs", "1", "--batch", "4", "--lr", "1e-6", "--negatives-random", "3"],
                   timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "hard negatives: scored" in proc.stdout and "validation accuracy:" in proc.stdout
    assert "held out from train: --val-split 0.2" in (run / "train_command.txt").read_text()
    confusion = json.loads((run / "confusion.json").read_text())
    assert sum(map(sum, confusion["matrix"])) == len(CLASSES)  # one held-out clip per label
    assert (run / "negatives" / "windows.json").is_file()
    assert DEMO_MODEL.is_file()

    bundle = tmp_path / "bundle"
    proc = run_cli(CONVERT + [str(run / "model.keras"), "--calib", str(room), "--out", str(bundle)], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (bundle / "manifest.json").is_file() and "inconclusive" in proc.stderr  # 10 clips cannot show 97%

    stream = tmp_path / "stream.mp4"
    write_stream(stream, 5, 14.0, fps=FPS, size_hw=(120, 160), gestures=("Stop", "Thumbs Up"))
    proc = run_cli(EDGE + ["run", "--bundle", str(bundle), "--source", str(stream), "--sink", "log"], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert events, proc.stderr[-3000:]
    assert all(e["gesture"] in CLASSES[:4] for e in events)
