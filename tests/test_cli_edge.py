"""`gesture-edge` as users run it: help/version, one-line errors for bad input, flags over config, and the
demo model end to end on the synthetic demo stream against its ground truth."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
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


def edge(*args: str, tmp_path: Path, timeout: float = 600, cache: Path | None = None, cwd: Path = ROOT):
    # An empty XDG_CONFIG_HOME: a developer's own ~/.config/gesture-edge/config.toml must not leak in. The
    # test loads' verdicts (edge.probe) are cached for the whole session (beside the tests' temp folders)
    # unless a test passes its own `cache`.
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XDG_CACHE_HOME": str(cache or tmp_path.parent / "probe-cache")}
    return run_cli(EDGE + list(args), env=env, timeout=timeout, cwd=cwd)


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
    proc = edge("check-config", "--no-bundle", str(good), tmp_path=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"{good}: ok"
    bad = tmp_path / "bad.toml"
    bad.write_text("[decision]\nthreshold = 7\n")
    proc = edge("check-config", str(bad), tmp_path=tmp_path)
    assert proc.returncode == 2 and "decision.threshold" in proc.stderr and "Traceback" not in proc.stderr


# -- what fault injection found (issue 15) ---------------------------------------------------------------


def last_line(proc) -> str:
    """The last stderr line of a failed check-config (its one-line error; INFO lines may come before it)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def write_config(folder: Path, text: str, name: str = "config.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_check_config_rejects_what_run_rejects_with_the_same_line(demo_bundle: Path, tmp_path: Path,
                                                                  small_video: Path) -> None:
    runtime = f'[runtime]\nbundle = "{demo_bundle}"\nsource = "{small_video}"\n'
    cases = {
        "missing bundle": (f'[runtime]\nbundle = "{tmp_path / "nope"}"\nsource = "{small_video}"\n',
                           "nope: bundle folder not found"),
        "missing source": (f'[runtime]\nbundle = "{demo_bundle}"\nsource = "gone.mp4"\n', "gone.mp4: no such file"),
        "hop above T": (runtime + "hop_frames = 30\n", "hop_frames: expected 1..20 (frames per clip), got 30"),
        "unknown gesture": (runtime + '[actions]\n"Wave" = "play"\n', 'the bundle has no gesture "Wave"'),
        "background bound": (runtime + '[actions]\n"No gesture" = "play"\n', '"No gesture" is the bundle\'s '
                                                                            "background class"),
        "backend missing": (runtime + 'backend = "tflite_runtime"\n', "backend 'tflite_runtime' is not usable"),
    }
    for name, (text, needle) in cases.items():
        config = write_config(tmp_path / name.replace(" ", "_"), text)
        check = last_line(edge("check-config", str(config), tmp_path=tmp_path))
        run = error_line(edge("run", "--config", str(config), "--sink", "log", tmp_path=tmp_path))
        assert needle in check, (name, check)
        assert run == f"gesture-edge: error: {check}", (name, run, check)
    good = write_config(tmp_path / "good", runtime)
    proc = edge("check-config", str(good), tmp_path=tmp_path)
    assert proc.returncode == 0 and proc.stdout == f"{good}: ok\n", proc.stderr[-2000:]
    assert f"checked source video {small_video}" in proc.stderr and "checked sinks: log" in proc.stderr


def test_files_that_are_not_small_regular_files_are_refused_at_once(demo_bundle: Path, tmp_path: Path,
                                                                    small_video: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.toml"
    huge.write_text("# padding\n" * 200_000)
    for config, needle in ((fifo, "not a regular file (a FIFO)"), (Path("/dev/zero"), "(a character device)"),
                           (huge, "larger than 1 MiB")):
        # A FIFO used to block forever, /dev/zero to fill memory: both must answer within the timeout.
        check = last_line(edge("check-config", str(config), tmp_path=tmp_path, timeout=60))
        assert check.startswith(f"{config}: cannot read the config file: ") and needle in check, check
        run = error_line(edge("run", "--config", str(config), "--bundle", str(demo_bundle), "--source",
                              str(small_video), tmp_path=tmp_path, timeout=60))
        assert run == f"gesture-edge: error: {check}"


def test_nesting_too_deep_for_the_parsers_is_a_one_line_error(demo_bundle: Path, tmp_path: Path,
                                                               small_video: Path) -> None:
    config = write_config(tmp_path, "[runtime]\nhop_frames = " + "[" * 100_000 + "]" * 100_000 + "\n")
    line = error_line(edge("run", "--config", str(config), "--bundle", str(demo_bundle), "--source",
                           str(small_video), tmp_path=tmp_path))
    assert line == f"gesture-edge: error: {config}: invalid TOML: arrays or tables nested too deeply to parse"
    bundle = copy_bundle(demo_bundle, tmp_path / "bundle")
    (bundle / MANIFEST_NAME).write_text("[" * 100_000 + "]" * 100_000)
    line = error_line(edge("run", "--bundle", str(bundle), "--source", str(small_video), tmp_path=tmp_path))
    assert line == f"gesture-edge: error: {bundle / MANIFEST_NAME}: not a manifest: JSON nested too deeply to parse"


def test_manifest_numbers_and_labels_are_bounded(demo_bundle: Path, tmp_path: Path, small_video: Path) -> None:
    manifest = json.loads((demo_bundle / MANIFEST_NAME).read_text())
    forged = "Swipe\nINFO edge.app: gesture Stop -> pause (p 0.99) at 1.00 s, lag 0.00 s"
    cases = {
        "frames_per_clip": (10**9, "field frames_per_clip: expected an integer in 1..1000, got 1000000000"),
        "model_fps": (1e-9, "field model_fps: expected a frame rate in [1, 240], got 1e-09"),
        "labels": ([forged, *manifest["labels"][1:]], "field labels.0: expected a class name of 1 to 100 "
                                                      "characters without control characters, got "
                                                      + json.dumps(forged)[:57] + "..."),
    }
    for field, (value, expected) in cases.items():
        bundle = copy_bundle(demo_bundle, tmp_path / field)
        (bundle / MANIFEST_NAME).write_text(json.dumps({**manifest, field: value}))
        proc = edge("run", "--bundle", str(bundle), "--source", str(small_video), tmp_path=tmp_path)
        assert error_line(proc) == f"gesture-edge: error: {bundle / MANIFEST_NAME}: {expected}"
        assert not any(line.startswith("INFO edge.app: gesture") for line in proc.stderr.splitlines())  # forged


def test_footage_that_yields_nothing_ends_with_an_error(demo_bundle: Path, tmp_path: Path) -> None:
    from test_sources import write_truncated_avi

    cut = write_truncated_avi(tmp_path / "cut.avi", 400, 17)
    line = error_line(edge("run", "--bundle", str(demo_bundle), "--source", str(cut), "--sink", "log",
                           tmp_path=tmp_path))
    assert line == (f"gesture-edge: error: {cut}: decoding stopped after 17 of the 400 frames its container lists "
                    f"(a truncated or damaged file?)")
    broken = tmp_path / "broken"
    broken.mkdir()
    for index in range(4):
        (broken / f"{index}.jpg").write_bytes(b"not an image")
    line = error_line(edge("run", "--bundle", str(demo_bundle), "--source", str(broken), tmp_path=tmp_path))
    assert line == (f"gesture-edge: error: {broken}: no frame: none of the 4 images read (of 4 image files) "
                    "could be decoded")
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(30):
        cv2.imwrite(str(frames / f"{index:03d}.png"), np.full((120, 160, 3), 8 * index, np.uint8))
    line = error_line(edge("run", "--bundle", str(demo_bundle), "--source", str(frames), "--folder-fps", "0.001",
                           tmp_path=tmp_path))
    assert line.startswith(f"gesture-edge: error: folder {frames}: its frames are 1000 s apart (--folder-fps), more "
                           f"than the 0.30 s (3 model frames at 10 fps) after which the stream restarts")
    proc = edge("run", "--bundle", str(demo_bundle), "--source", str(frames), "--folder-fps", "5", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]  # 0.2 s apart: fine


def test_a_bundle_without_its_float_references_runs(demo_bundle: Path, tmp_path: Path, small_video: Path) -> None:
    bundle = copy_bundle(demo_bundle, tmp_path / "bundle")
    shutil.rmtree(bundle / "float")  # the Pi needs only the int8 models
    proc = edge("run", "--bundle", str(bundle), "--source", str(small_video), "--sink", "log", tmp_path=tmp_path)
    assert proc.returncode == 0 and "source ended after" in proc.stderr, proc.stderr[-2000:]


def test_relative_paths_in_a_config_file_are_relative_to_its_folder(demo_bundle: Path, tmp_path: Path,
                                                                    small_video: Path) -> None:
    folder = tmp_path / "etc"
    copy_bundle(demo_bundle, folder / "models" / "bundle")
    (folder / "footage").mkdir(parents=True)
    shutil.copy(small_video, folder / "footage" / "room.mp4")
    config = write_config(folder, '[runtime]\nbundle = "models/bundle"\nsource = "footage/room.mp4"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = edge("run", "--config", str(config), "--sink", "log", tmp_path=tmp_path, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"source: video {folder / 'footage' / 'room.mp4'}," in proc.stderr
    assert f"bundle {folder / 'models' / 'bundle'}:" in proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="a real camera stack is here")
def test_without_config_or_source_the_documented_default_camera_is_used(demo_bundle: Path, tmp_path: Path) -> None:
    # The docs and config.example.toml say picamera2; without it installed the answer is immediate, not a
    # camera retried forever.
    line = error_line(edge("run", "--bundle", str(demo_bundle), tmp_path=tmp_path, timeout=60))
    assert line.startswith("gesture-edge: error: source picamera2: the picamera2 module is not importable")
    assert "--source cam:0" in line


# -- a model file that crashes the runtime ---------------------------------------------------------------------


def _per_channel_scales(data: bytes) -> list[int]:
    """Offsets of the first per-channel quantization scale of every tensor that has several (the conv weights),
    found by walking the .tflite flatbuffer (Model.subgraphs[0].tensors[i].quantization.scale)."""
    import struct

    def u32(pos: int) -> int:
        return struct.unpack_from("<I", data, pos)[0]

    def field(table: int, slot: int) -> int | None:
        vtable = table - struct.unpack_from("<i", data, table)[0]
        if 4 + 2 * slot >= struct.unpack_from("<H", data, vtable)[0]:
            return None
        offset = struct.unpack_from("<H", data, vtable + 4 + 2 * slot)[0]
        return table + offset if offset else None

    def vector(pos: int) -> tuple[int, int]:
        start = pos + u32(pos)
        return start + 4, u32(start)

    subgraphs, _ = vector(field(u32(0), 2))  # Model.subgraphs
    subgraph = subgraphs + u32(subgraphs)
    tensors, count = vector(field(subgraph, 0))  # SubGraph.tensors
    found = []
    for i in range(count):
        tensor = tensors + 4 * i + u32(tensors + 4 * i)
        quantization = field(tensor, 4)  # Tensor.quantization
        scale = field(quantization + u32(quantization), 2) if quantization else None  # .scale
        if scale is not None:
            start, n = vector(scale)
            if n > 1:
                found.append(start)
    return found


def crashing_bundle(bundle: Path, to: Path) -> Path:
    """A copy of `bundle` whose features.tflite has every conv layer's first weight scale set to 1e6, with its
    sha256 updated in the manifest: every check passes, and ai_edge_litert aborts preparing the graph
    ("double free", SIGABRT), as 5 of 770 fuzzed files did in issue 15."""
    import hashlib
    import struct

    out = copy_bundle(bundle, to)
    data = bytearray((out / "features.tflite").read_bytes())
    offsets = _per_channel_scales(bytes(data))
    assert offsets, "no per-channel quantized tensor found"
    for offset in offsets:
        struct.pack_into("<f", data, offset, 1e6)
    (out / "features.tflite").write_bytes(bytes(data))
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    manifest["features"]["sha256"] = hashlib.sha256(data).hexdigest()
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    return out


def test_a_model_that_crashes_the_runtime_is_a_one_line_error(demo_bundle: Path, tmp_path: Path,
                                                              small_video: Path) -> None:
    bundle = crashing_bundle(demo_bundle, tmp_path / "bundle")
    # Loaded in process (as before the fix) it takes the whole process down.
    proc = run_cli([sys.executable, "-c", "import sys; from edge.bundle import load_bundle; load_bundle(sys.argv[1])",
                    str(bundle)], timeout=120)
    assert proc.returncode == -signal.SIGABRT, (proc.returncode, proc.stderr[-1000:])
    model = bundle / "features.tflite"
    expected = (f"{model}: the ai_edge_litert {importlib.metadata.version('ai-edge-litert')} runtime crashed on it "
                f"(SIGABRT in a test load in a child process")
    line = error_line(edge("run", "--bundle", str(bundle), "--source", str(small_video), tmp_path=tmp_path))
    assert line.startswith(f"gesture-edge: error: {expected}") and line.endswith("not a model this runtime can run")
    config = write_config(tmp_path, f'[runtime]\nbundle = "{bundle}"\nsource = "{small_video}"\n')
    assert last_line(edge("check-config", str(config), tmp_path=tmp_path)).startswith(expected)


def test_the_test_load_runs_once_per_bundle_and_runtime(demo_bundle: Path, tmp_path: Path,
                                                        small_video: Path) -> None:
    cache = tmp_path / "cache"
    run = ("run", "--bundle", str(demo_bundle), "--source", str(small_video), "--max-frames", "3")
    first = edge(*run, tmp_path=tmp_path, cache=cache)
    assert first.returncode == 0 and "models test-loaded in a child process" in first.stderr, first.stderr[-2000:]
    stamps = list((cache / "gesture-edge" / "probed").glob("*.ok"))
    assert len(stamps) == 1
    second = edge(*run, tmp_path=tmp_path, cache=cache)
    assert second.returncode == 0 and "test-loaded" not in second.stderr
    # Another model file (another hash) is tested again.
    bundle = copy_bundle(demo_bundle, tmp_path / "other")
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    with open(bundle / "step.tflite", "ab") as handle:
        handle.write(b"\0" * 16)  # trailing bytes: the same model to the runtime, another file
    import hashlib

    manifest["step"]["sha256"] = hashlib.sha256((bundle / "step.tflite").read_bytes()).hexdigest()
    (bundle / MANIFEST_NAME).write_text(json.dumps(manifest))
    third = edge("run", "--bundle", str(bundle), "--source", str(small_video), "--max-frames", "3",
                 tmp_path=tmp_path, cache=cache)
    assert third.returncode == 0 and "models test-loaded in a child process" in third.stderr, third.stderr[-2000:]
    assert len(list((cache / "gesture-edge" / "probed").glob("*.ok"))) == 2


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
