"""`gesture-edge` as users run it: help/version, one-line errors for bad input, flags over config, and the
demo model end to end on the synthetic demo stream against its ground truth."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from conftest import DEMO_STREAM, ROOT, run_cli
from edge import __version__
from edge.manifest import MANIFEST_NAME
from edge.metrics import DEFAULT_MAX_LAG_S, load_truth, score_stream

EDGE = [sys.executable, "-m", "edge.cli"]


def edge(*args: str, tmp_path: Path, timeout: float = 600):
    # An empty XDG_CONFIG_HOME: a developer's own ~/.config/gesture-edge/config.toml must not leak in.
    return run_cli(EDGE + list(args), env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, timeout=timeout)


def error_line(proc) -> str:
    """The single error line of a failed run (and proof there is no traceback)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("gesture-edge") and lines[0] == proc.stderr.strip().splitlines()[-1]
    return lines[0]


def write_video(path: Path, frames: int = 40, fps: float = 10.0) -> Path:
    rng = np.random.default_rng(3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 120))
    for _ in range(frames):
        writer.write(cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (0, 0), 3))
    writer.release()
    return path


def events_of(stdout: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(**json.loads(line)) for line in stdout.splitlines() if line.strip()]


# -- help and version ----------------------------------------------------------------------------------------


def test_help_and_version_everywhere(tmp_path: Path) -> None:
    for args in ([], ["run"], ["capture"], ["check-config"]):
        proc = edge(*args, "--version", tmp_path=tmp_path)
        assert proc.returncode == 0 and proc.stdout.strip() == f"gesture-edge {__version__}", args
        proc = edge(*args, "--help", tmp_path=tmp_path)
        assert proc.returncode == 0 and "--log-level" in proc.stdout, args
    assert "--bundle" in edge("run", "--help", tmp_path=tmp_path).stdout
    assert "--no-countdown" in edge("capture", "--help", tmp_path=tmp_path).stdout


def test_argument_errors_are_one_line(tmp_path: Path) -> None:
    for args, needle in ((["run", "--hop", "0"], "--hop"), (["run", "--threads", "99"], "--threads"),
                         (["run", "--sink", "tv"], "--sink"), (["frobnicate"], "invalid choice"),
                         (["capture", "--source", "x"], "required")):
        line = error_line(edge(*args, tmp_path=tmp_path))
        assert needle in line, (args, line)


# -- bad inputs ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("cli") / "room.mp4")


def copy_bundle(bundle: Path, to: Path) -> Path:
    shutil.copytree(bundle, to)
    return to


def test_missing_bundle(tmp_path: Path, small_video: Path) -> None:
    line = error_line(edge("run", "--bundle", str(tmp_path / "nope"), "--source", str(small_video), tmp_path=tmp_path))
    assert "nope: bundle folder not found" in line
    line = error_line(edge("run", "--source", str(small_video), tmp_path=tmp_path))
    assert "no bundle" in line and "--bundle" in line


def test_hash_mismatch(demo_bundle: Path, tmp_path: Path, small_video: Path) -> None:
    bundle = copy_bundle(demo_bundle, tmp_path / "bundle")
    model = bundle / "step.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    line = error_line(edge("run", "--bundle", str(bundle), "--source", str(small_video), tmp_path=tmp_path))
    assert "step.tflite: sha256" in line and "does not match" in line


def test_wrong_shaped_model(demo_bundle: Path, tmp_path: Path, small_video: Path) -> None:
    # A manifest that promises another input size than the model file has (consistently, so the manifest
    # itself is valid): the model is the wrong shape for it.
    bundle = copy_bundle(demo_bundle, tmp_path / "bundle")
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    size = manifest["input_height_px"] + 32
    manifest["input_height_px"] = manifest["input_width_px"] = size
    manifest["features"]["inputs"]["frame"]["shape"] = [1, size, size, 3]
    (bundle / MANIFEST_NAME).write_text(json.dumps(manifest))
    line = error_line(edge("run", "--bundle", str(bundle), "--source", str(small_video), tmp_path=tmp_path))
    assert "features.tflite" in line and "shape" in line and str(size) in line


def test_bad_sources(demo_bundle: Path, tmp_path: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video\n" * 100)
    for source, needle in (("bogus:7", "unknown source 'bogus:7'"), (str(not_video), "notes.mp4: cannot"),
                           (str(tmp_path / "gone.mp4"), "gone.mp4: no such file")):
        line = error_line(edge("run", "--bundle", str(demo_bundle), "--source", source, tmp_path=tmp_path))
        assert needle in line, line


def test_bad_hop_and_config(demo_bundle: Path, tmp_path: Path, small_video: Path) -> None:
    line = error_line(edge("run", "--bundle", str(demo_bundle), "--source", str(small_video), "--hop", "64",
                           tmp_path=tmp_path))
    assert "hop" in line and "64" in line
    line = error_line(edge("run", "--bundle", str(demo_bundle), "--source", str(small_video), "--config",
                           str(tmp_path / "missing.toml"), tmp_path=tmp_path))
    assert "missing.toml: cannot read the config file" in line


def test_flags_override_the_config_file(demo_bundle: Path, tmp_path: Path, small_video: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[runtime]\nbundle = "{tmp_path / "elsewhere"}"\nsource = "cam:9"\nhop_frames = 4\n'
                      '[sinks]\nenabled = ["command"]\n[logging]\nlevel = "warning"\n')
    proc = edge("run", "--config", str(config), "--bundle", str(demo_bundle), "--source", str(small_video),
                "--hop", "5", "--sink", "log", "--log-level", "info", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "hop 5 -> 4 steps per frame" in proc.stderr
    assert "sinks: log" in proc.stderr and f"config: {config}" in proc.stderr
    # Without the flags the file's values apply (here: the bundle it names does not exist).
    line = error_line(edge("run", "--config", str(config), tmp_path=tmp_path))
    assert "elsewhere" in line


def test_check_config_delegates(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[decision]\nthreshold = 0.7\n")
    proc = edge("check-config", str(good), tmp_path=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"{good}: ok"
    bad = tmp_path / "bad.toml"
    bad.write_text("[decision]\nthreshold = 7\n")
    proc = edge("check-config", str(bad), tmp_path=tmp_path)
    assert proc.returncode == 2 and "decision.threshold" in proc.stderr and "Traceback" not in proc.stderr


# -- end to end ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_stream_gives_exactly_the_true_gestures(demo_bundle: Path, tmp_path: Path) -> None:
    truth = load_truth(DEMO_STREAM)
    assert truth.events, f"{DEMO_STREAM}: the demo stream should contain gestures"
    proc = edge("run", "--bundle", str(demo_bundle), "--source", str(DEMO_STREAM), "--sink", "log",
                tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = events_of(proc.stdout)
    manifest = json.loads((demo_bundle / MANIFEST_NAME).read_text())
    score = score_stream(truth, events, manifest["actions"], max_lag_s=DEFAULT_MAX_LAG_S)
    summary = score.summary(manifest["model_fps"])
    detail = f"events {[(e.gesture, e.t_s) for e in events]}\ntruth {truth.events}\n{summary}"
    # The emitted gesture sequence is the true one: nothing missed, extra, doubled or wrong.
    assert [e.gesture for e in events if e.repeat == 0] == [t.gesture for t in truth.events], detail
    total = score.total
    assert (total.hit, total.exact, total.missed, total.doubled, total.false) == (len(truth.events),) * 2 + (0, 0, 0), \
        detail
    assert score.edit_distance == 0, detail
    for event, gesture in zip(events, truth.events):
        # Each event comes after its gesture started and within the bounded lag of its end.
        assert gesture.start_s <= event.t_s <= gesture.end_s + DEFAULT_MAX_LAG_S, detail
        assert event.action == manifest["actions"][gesture.gesture]
        assert event.lag_s >= 0


@pytest.mark.slow
def test_background_only_footage_gives_no_event(demo_bundle: Path, tmp_path: Path) -> None:
    video = tmp_path / "background.mp4"
    proc = run_cli([sys.executable, "-m", "convert.synth", "stream", "--out", str(video), "--seed", "3150",
                    "--duration-s", "40", "--fps", "15", "--size", "120x160", "--background-only"], check=True)
    assert load_truth(video).background_only, proc.stdout
    proc = edge("run", "--bundle", str(demo_bundle), "--source", str(video), "--sink", "log", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert events_of(proc.stdout) == []
    assert "source ended after 400 frames, 0 events" in proc.stderr


def test_demo_stream_is_present() -> None:
    # The end-to-end tests above need it; it is part of the repository (demo/README.md).
    assert DEMO_STREAM.is_file() and DEMO_STREAM.with_name("demo.truth.json").is_file(), DEMO_STREAM
    assert DEMO_STREAM.is_relative_to(ROOT)
