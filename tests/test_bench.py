"""gesture-bench: the smoke run (every TFLite variant, real code paths), the keras variant on the bundle's
source model, outputs, frame decoding, bad inputs, events and rss end to end. Figures are printed by the
benchmark, never asserted here (shared machine)."""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.bench.cli import normalise_argv
from edge.bench.latency import (STAGES, VARIANTS, KerasModel, LatencySettings, decision_cycles, decode_frames,
                                keras_model_classes, resolve_keras_model)
from edge.manifest import Manifest, ManifestError, sha256_file

from conftest import DEMO_MODEL, run_cli

BENCH = [sys.executable, "-m", "edge.bench"]
HEAVY = ("tensorflow", "keras", "mediapipe", "matplotlib", "convert", "tqdm")


def one_line_error(proc, decoder_noise: bool = False) -> str:
    """The stderr of a failed run: exactly one non-empty line, starting with the program name.

    `decoder_noise`: FFmpeg itself may log a line like '[mov,mp4,...] moov atom not found' first.
    """
    lines = [line for line in proc.stderr.splitlines()
             if line.strip() and not (decoder_noise and line.startswith("["))]
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gesture-bench") and ": error: " in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def manifest(demo_bundle):
    return json.loads((demo_bundle / "manifest.json").read_text())


@pytest.fixture(scope="module")
def streams(tmp_path_factory) -> dict[str, Path]:
    """A short gesture stream and a short background-only stream made by gesture-synth, with truth."""
    folder = tmp_path_factory.mktemp("streams")
    out = {"gestures": folder / "walk.mp4", "background": folder / "quiet.mp4"}
    run_cli([sys.executable, "-m", "convert.synth", "stream", "--out", str(out["gestures"]), "--seed", "11",
             "--duration-s", "12"], check=True)
    run_cli([sys.executable, "-m", "convert.synth", "stream", "--out", str(out["background"]), "--seed", "12",
             "--duration-s", "6", "--background-only"], check=True)
    return out


# -- the smoke run -----------------------------------------------------------------------------------------

TFLITE_VARIANTS = ("floor", "ours", "float", "window")


def test_bench_stages_are_the_apps() -> None:
    from edge.app import STAGES as APP_STAGES

    assert STAGES == APP_STAGES


def test_smoke_runs_every_tflite_variant_and_leaves_keras_out(demo_bundle, manifest, tmp_path) -> None:
    out = tmp_path / "smoke.json"
    proc = run_cli([*BENCH, "--bundle", str(demo_bundle), "--smoke", "--json", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout)  # the figures, for the CI log
    report = json.loads(out.read_text())
    runs = {r["variant"]: r for r in report["runs"]}
    assert set(runs) == set(VARIANTS), "every variant is reported: run, skipped or failed"
    for name in TFLITE_VARIANTS:
        assert runs[name]["status"] == "ok", runs[name]
    assert runs["keras"]["status"] == "skipped" and "--smoke" in runs["keras"]["reason"]
    assert "--variants" in runs["keras"]["reason"] and "keras" not in report["settings"]["variants"]
    assert "skipped: keras: left out of --smoke" in proc.stdout
    mediapipe = runs["mediapipe"]
    assert mediapipe["status"] in ("ok", "skipped")
    if mediapipe["status"] == "skipped":
        assert "mediapipe" in mediapipe["reason"]
    assert report["settings"]["threads"] == [1] and report["stages"] == [
        "capture", "preprocess", "features", "steps", "decision", "dispatch"]
    # The default source is the demo stream relative to the working directory (the checkout's root here).
    assert report["source"]["kind"] == "video" and report["source"]["path"] == "demo/streams/demo.mp4"
    frames_per_clip, hop = manifest["frames_per_clip"], report["settings"]["hop_frames"]
    measured = report["settings"]["frames"]
    for name in TFLITE_VARIANTS:
        stages = runs[name]["stages"]
        timed = ("preprocess", "features", "steps", "compute", "total")
        for stage in timed + (() if name == "floor" else ("decision", "dispatch")):
            assert stages[stage]["count"] == measured, (name, stage)
            assert stages[stage]["p50_ms"] <= stages[stage]["p95_ms"] <= stages[stage]["p99_ms"]
        assert stages["features"]["mean_ms"] > 0 and stages["steps"]["mean_ms"] > 0
        assert stages["capture"]["count"] == measured
        assert runs[name]["rss_mb"]["peak"] > 0 and runs[name]["cpu_ms_per_frame"] > 0
        assert runs[name]["per_frame_total_ms"] >= runs[name]["per_frame_compute_ms"] > 0
        assert runs[name]["model_bytes"] > 0 and f"{name}@1t" in proc.stdout
    assert "recurrent" not in runs["ours"]["stages"] and "recurrent" not in runs["ours"]["samples_ms"]
    assert runs["floor"]["stages"]["decision"] is None and runs["floor"]["invocations"]["windows"] == 0
    # The variants really run different code paths: model invocations counted by SignatureModel.
    ours, window, flt = runs["ours"]["invocations"], runs["window"]["invocations"], runs["float"]["invocations"]
    floor = runs["floor"]["invocations"]
    steps = math.ceil(frames_per_clip / hop)
    for inv in (floor, ours, flt):
        assert inv["features_per_frame"] == 1.0 and inv["step_calls_per_frame"] == 1.0
        assert inv["step_per_frame"] == steps
    assert ours["windows"] == window["windows"] == flt["windows"] == measured // hop
    assert window["features_per_window"] == frames_per_clip and window["step_per_window"] == frames_per_clip
    assert window["features_per_frame"] == pytest.approx(frames_per_clip / hop)
    assert runs["ours"]["ratio_vs_ours"]["compute"] == pytest.approx(1.0)
    assert runs["window"]["ratio_vs_ours"]["compute"] > 0
    assert report["against_design"][0]["ours_over_floor"]["cpu"] > 0
    assert report["bundle"]["files"]["features.tflite"] > 0
    assert len(report["load_average"]["start"]) == 3


@pytest.mark.slow
def test_keras_variant_runs_the_model_the_bundle_was_converted_from(demo_bundle, tmp_path) -> None:
    """--smoke --variants asks for keras: the clip model the manifest records (no --keras-model) runs."""
    out = tmp_path / "keras.json"
    proc = run_cli([*BENCH, "--bundle", str(demo_bundle), "--smoke", "--variants", "ours,keras", "--synthetic",
                    "--no-progress", "--json", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    runs = {r["variant"]: r for r in report["runs"]}
    assert set(runs) == {"ours", "keras"} and runs["keras"]["status"] == "ok", runs["keras"]
    check = report["settings"]["keras_model_check"]
    assert check["path"] == str(DEMO_MODEL.resolve()) and check["is_source_model"]
    assert check["sha256"] == sha256_file(DEMO_MODEL)
    keras = runs["keras"]
    assert keras["stages"]["steps"] is None and keras["stages"]["features"]["mean_ms"] > 0  # steps: inside it
    assert keras["invocations"]["clip_model_per_window"] == 1.0
    assert keras["invocations"]["windows"] == runs["ours"]["invocations"]["windows"] > 0
    assert keras["model_files"] == {"model.keras": DEMO_MODEL.stat().st_size}
    assert any("the one the bundle was converted from" in note for note in keras["notes"])
    assert "keras@1t" in proc.stdout


def test_manifest_records_the_source_model(demo_bundle) -> None:
    manifest = Manifest.load(demo_bundle)
    assert manifest.source_model == str(DEMO_MODEL.resolve())
    assert manifest.source_model_sha256 == sha256_file(DEMO_MODEL)
    data = manifest.to_json()
    del data["source_model"], data["source_model_sha256"]
    older = Manifest.from_json(data)  # optional: bundles converted before it was recorded still load
    assert older.source_model is None and older.source_model_sha256 is None
    with pytest.raises(ManifestError, match=r"field source_model_sha256: expected 64 lowercase hex digits"):
        Manifest.from_json({**data, "source_model_sha256": "abc"})


def test_keras_model_classes_without_tensorflow() -> None:
    labels = tuple(json.loads((DEMO_MODEL.parent / "labels.json").read_text())["labels"])
    assert keras_model_classes(DEMO_MODEL) == (labels, 5)


def rezipped(model: Path, out: Path, units: int | None = None) -> Path:
    """The same Keras archive written again (another sha256); `units`: its output layer's width changed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(model) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json" and units is not None:
                config = json.loads(data)
                config["config"]["layers"][-1]["config"]["units"] = units
                data = json.dumps(config).encode()
            target.writestr(name, data)
    return out


def test_keras_model_of_another_file_is_a_warning(demo_bundle, tmp_path, caplog) -> None:
    manifest = Manifest.load(demo_bundle)
    copy = rezipped(DEMO_MODEL, tmp_path / "copy" / "model.keras")
    with caplog.at_level(logging.WARNING, logger="edge.bench.latency"):
        model = resolve_keras_model(LatencySettings(bundle=demo_bundle, keras_model=copy), manifest)
    assert isinstance(model, KerasModel) and not model.is_source_model
    assert model.recorded_sha256 == manifest.source_model_sha256 != model.sha256
    assert "not the" in caplog.text and "the keras figures are not of the model the bundle was converted" in caplog.text
    # The recorded model itself: no warning, and it is the source model.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edge.bench.latency"):
        model = resolve_keras_model(LatencySettings(bundle=demo_bundle), manifest)
    assert isinstance(model, KerasModel) and model.is_source_model and caplog.text == ""


def relabelled_bundle(demo_bundle: Path, folder: Path) -> Path:
    """The demo bundle with other class names (a user's model of the same shape) and no source model recorded
    (converted by an older gesture-convert)."""
    bundle = Path(shutil.copytree(demo_bundle, folder))
    data = json.loads((bundle / "manifest.json").read_text())
    rename = {label: f"Gesture {i}" for i, label in enumerate(data["labels"])}
    data["labels"] = [rename[label] for label in data["labels"]]
    data["background_label"] = rename[data["background_label"]]
    data["actions"] = {rename[g]: a for g, a in data["actions"].items()}
    if data.get("decision", {}).get("thresholds"):
        data["decision"]["thresholds"] = {rename[g]: t for g, t in data["decision"]["thresholds"].items()}
    del data["source_model"], data["source_model_sha256"]
    (bundle / "manifest.json").write_text(json.dumps(data))
    return bundle


def test_keras_model_whose_classes_are_not_the_bundles_is_refused(demo_bundle, tmp_path) -> None:
    bundle = relabelled_bundle(demo_bundle, tmp_path / "user-bundle")
    latency = [*BENCH, "latency", "--bundle", str(bundle), "--synthetic", "--variants", "ours,keras", "--no-progress"]
    line = one_line_error(run_cli([*latency, "--keras-model", str(DEMO_MODEL)]))
    assert f"--keras-model {DEMO_MODEL}: its classes (Swipe, Stop" in line
    assert "are not the bundle's labels (Gesture 0, Gesture 1" in line
    wider = rezipped(DEMO_MODEL, tmp_path / "four" / "model.keras", units=4)  # no labels.json beside it
    line = one_line_error(run_cli([*latency, "--keras-model", str(wider)]))
    assert "it outputs 4 classes, the bundle has 5 labels" in line
    line = one_line_error(run_cli([*latency, "--keras-model", str(tmp_path / "none.keras")]))
    assert "--keras-model" in line and "none.keras: not found" in line
    # Without --keras-model, a bundle that records no source model skips keras and says what to pass.
    report = tmp_path / "r.json"
    proc = run_cli([*latency, "--frames", "2", "--no-isolate", "--json", str(report)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    keras = {r["variant"]: r for r in json.loads(report.read_text())["runs"]}["keras"]
    assert keras["status"] == "skipped" and "records no source model" in keras["reason"]
    assert "--keras-model PATH" in keras["reason"]


def test_import_edge_bench_stays_light() -> None:
    code = ("import sys, edge.bench, edge.bench.cli, edge.bench.latency, edge.bench.events, edge.bench.rss, "
            "edge.bench.render, edge.bench.output, edge.bench.tune, edge.bench.agreement, edge.taps, edge.metrics; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    proc = run_cli([sys.executable, "-c", code], check=True)
    assert proc.stdout.strip() == "[]"


def test_markdown_plot_and_synthetic_frames(demo_bundle, tmp_path) -> None:
    paths = {"json": tmp_path / "r.json", "markdown": tmp_path / "r.md", "plot": tmp_path / "r.png"}
    proc = run_cli([*BENCH, "latency", "--bundle", str(demo_bundle), "--synthetic", "--frames", "6",
                    "--variants", "ours,window", "--threads", "1,2", "--no-isolate", "--no-progress",
                    *(arg for key, path in paths.items() for arg in (f"--{key}", str(path)))])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(paths["json"].read_text())
    assert [(r["variant"], r["threads"]) for r in report["runs"]] == [
        ("ours", 1), ("window", 1), ("ours", 2), ("window", 2)]
    assert report["source"]["kind"] == "synthetic" and report["runs"][0]["stages"]["capture"] is None
    assert all("process's peak" in " ".join(r["notes"]) for r in report["runs"])
    markdown = paths["markdown"].read_text()
    assert "| ours@2t |" in markdown and "| window@1t |" in markdown and "Command: `gesture-bench latency" in markdown
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"




# -- frames -----------------------------------------------------------------------------------------------

def write_video(path: Path, count: int, fps: float = 30.0) -> list[int]:
    """A video whose frame k is uniform BGR (v, 40, 255 - v) with v = 5k (+ 10): easy to recognise."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    values = [10 + 5 * k for k in range(count)]
    for v in values:
        writer.write(np.full((48, 64, 3), (v, 40, 255 - v), dtype=np.uint8))
    writer.release()
    return values


def test_decode_paces_to_model_fps_and_plays_a_short_source_again(tmp_path) -> None:
    video = tmp_path / "ramp.mp4"
    values = write_video(video, 45)
    decoded = decode_frames(video, (16, 20), model_fps=10.0, count=20, progress=False)
    assert decoded.frames.shape == (20, 16, 20, 3) and decoded.frames.dtype == np.uint8
    # 30 -> 10 fps keeps camera frames 0, 3, ..., 42 (15 frames), then starts over: 0, 3, 6, 9, 12.
    kept = [values[k] for k in range(0, 45, 3)] + [values[k] for k in (0, 3, 6, 9, 12)]
    means = decoded.frames.reshape(20, -1, 3).mean(axis=1)
    np.testing.assert_allclose(means[:, 2], kept, atol=6)            # RGB order: blue is the last channel
    np.testing.assert_allclose(means[:, 0], [255 - v for v in kept], atol=6)
    np.testing.assert_allclose(decoded.t_s, np.arange(20) / 10.0, atol=1e-6)  # time goes on when it loops
    assert decoded.info["kind"] == "video" and decoded.info["source_frames_read"] == 45 + 13
    assert decoded.capture_ms is not None and (decoded.capture_ms >= 0).all() and decoded.capture_ms.sum() > 0
    assert (decoded.preprocess_ms > 0).all()


def test_synthetic_frames_are_deterministic() -> None:
    a = decode_frames(None, (24, 32), model_fps=10.0, count=5, progress=False)
    b = decode_frames(None, (24, 32), model_fps=10.0, count=5, progress=False)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.capture_ms is None and a.frames.std() > 10


def test_argv_forms() -> None:
    assert normalise_argv(["--bundle", "b", "--smoke"]) == ["latency", "--bundle", "b", "--smoke"]
    assert normalise_argv(["--bundle", "b", "--events", "x.mp4", "y.mp4"]) == ["events", "--bundle", "b",
                                                                             "x.mp4", "y.mp4"]
    assert normalise_argv(["events", "--bundle", "b", "x.mp4"]) == ["events", "--bundle", "b", "x.mp4"]
    assert normalise_argv(["rss", "--bundle", "b"]) == ["rss", "--bundle", "b"]
    assert normalise_argv(["--version"]) == ["--version"]
    assert normalise_argv([]) == []


# -- bad inputs --------------------------------------------------------------------------------------------

def test_unknown_variant_is_a_one_line_error(tmp_path) -> None:
    line = one_line_error(run_cli([*BENCH, "--bundle", str(tmp_path), "--variants", "ours,turbo"]))
    assert "unknown variant 'turbo'" in line and "ours, float, window, keras, mediapipe" in line


def test_missing_bundle_is_a_one_line_error(tmp_path) -> None:
    missing = tmp_path / "nope"
    for args in (["--smoke"], ["events", str(tmp_path / "x.mp4")], ["rss"]):
        if args[0] in ("events", "rss"):
            argv = [*BENCH, args[0], "--bundle", str(missing), *args[1:]]
        else:
            argv = [*BENCH, "--bundle", str(missing), *args]
        line = one_line_error(run_cli(argv))
        assert str(missing) in line and "bundle folder not found" in line


def test_stream_without_truth_is_a_one_line_error(demo_bundle, tmp_path) -> None:
    video = tmp_path / "lonely.mp4"
    write_video(video, 5)
    line = one_line_error(run_cli([*BENCH, "--bundle", str(demo_bundle), "--events", str(video)]))
    assert "lonely.truth.json" in line and str(video) in line
    line = one_line_error(run_cli([*BENCH, "events", "--bundle", str(demo_bundle), str(tmp_path / "gone.mp4")]))
    assert "gone.mp4: stream not found" in line


def test_plot_without_matplotlib_names_the_package(demo_bundle, tmp_path) -> None:
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named matplotlib (test shadow)')\n")
    proc = run_cli([*BENCH, "--bundle", str(demo_bundle), "--smoke", "--plot", str(tmp_path / "p.png")],
                   env={"PYTHONPATH": f"{Path(__file__).resolve().parents[1]}:{shadow.parent}"})
    line = one_line_error(proc)
    assert "pip install matplotlib" in line
    assert not (tmp_path / "p.png").exists()


def test_bad_numbers_and_sources(demo_bundle, tmp_path) -> None:
    assert "expected thread counts" in one_line_error(run_cli([*BENCH, "--bundle", str(demo_bundle),
                                                               "--threads", "0"]))
    assert "expected a positive integer" in one_line_error(run_cli([*BENCH, "--bundle", str(demo_bundle),
                                                                    "--frames", "-3"]))
    line = one_line_error(run_cli([*BENCH, "--bundle", str(demo_bundle), "--source", str(tmp_path / "no.mp4")]))
    assert "no.mp4: not found" in line
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    line = one_line_error(run_cli([*BENCH, "--bundle", str(demo_bundle), "--source", str(tmp_path / "junk.mp4"),
                                   "--variants", "ours"]), decoder_noise=True)
    assert "junk.mp4" in line
    line = one_line_error(run_cli([*BENCH, "--bundle", str(demo_bundle), "--hop", "999", "--synthetic",
                                   "--variants", "ours"]))
    assert "--hop 999" in line


# -- events and rss end to end ----------------------------------------------------------------------------

def test_events_end_to_end(demo_bundle, streams, tmp_path) -> None:
    out, md = tmp_path / "events.json", tmp_path / "events.md"
    proc = run_cli([*BENCH, "events", "--bundle", str(demo_bundle), str(streams["gestures"]),
                    str(streams["background"]), "--json", str(out), "--markdown", str(md)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout)
    report = json.loads(out.read_text())
    truth = json.loads(streams["gestures"].with_name("walk.truth.json").read_text())
    summary = report["summary"]
    assert summary["streams"] == 2 and summary["truth_gestures"] == len(truth["events"]) > 0
    assert summary["hit"] + summary["missed"] == summary["truth_gestures"]
    assert summary["background_footage_min"] == pytest.approx(0.1)
    assert summary["expected_actions"] == len(truth["events"])
    walk, quiet = report["streams"]
    assert walk["name"] == "walk.mp4" and quiet["background_only"] and not walk["background_only"]
    assert walk["model_frames"] == pytest.approx(12 * report["bundle"]["model_fps"], abs=2)
    assert quiet["summary"]["false"] == quiet["summary"]["events"] == summary["background_false"]
    times = [e["t_s"] for e in walk["events"]]
    assert times == sorted(times)
    assert set(report["targets"]) == {"exact_rate", "lag_p50", "false_per_hour"}
    assert "not assessed" in report["targets"]["false_per_hour"]["verdict"]  # 0.1 min < 10 min
    assert "| all |" in md.read_text()
    # The --events spelling gives the same figures (the runtime is deterministic on a file).
    again = tmp_path / "again.json"
    proc = run_cli([*BENCH, "--bundle", str(demo_bundle), "--events", str(streams["gestures"]),
                    str(streams["background"]), "--json", str(again), "--no-progress"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(again.read_text())["summary"] == summary


def test_events_plot_keeps_every_window_against_the_truth(demo_bundle, streams, tmp_path) -> None:
    out, png = tmp_path / "events.json", tmp_path / "events.png"
    proc = run_cli([*BENCH, "events", "--bundle", str(demo_bundle), str(streams["gestures"]),
                    str(streams["background"]), "--json", str(out), "--plot", str(png), "--no-progress"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    frames_per_clip, hop = report["bundle"]["frames_per_clip"], report["settings"]["hop_frames"]
    for stream in report["streams"]:
        windows = stream["windows"]
        assert len(windows["t_s"]) == (stream["model_frames"] - frames_per_clip) // hop + 1
        assert np.allclose(np.asarray(windows["probs"]).sum(axis=1), 1.0, atol=0.02)
        assert np.all(np.diff(windows["t_s"]) > 0)
        # Every event was decided on a recorded window, with that window's probability (the mean of the last
        # smooth_windows windows when the decision smooths).
        smooth = report["settings"]["decision"]["smooth_windows"]
        for event in stream["events"]:
            i = int(np.argmin(np.abs(np.asarray(windows["t_s"]) - event["t_s"])))
            assert windows["t_s"][i] == pytest.approx(event["t_s"], abs=1e-3)
            label = report["bundle"]["labels"].index(event["gesture"])
            seen = np.mean([p[label] for p in windows["probs"][max(0, i - smooth + 1):i + 1]])
            assert seen == pytest.approx(event["confidence"], abs=1e-3)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- tune ------------------------------------------------------------------------------------------------------

def test_tune_end_to_end(demo_bundle, streams, tmp_path) -> None:
    bundle = Path(shutil.copytree(demo_bundle, tmp_path / "bundle"))  # --save-to-bundle writes its manifest
    out, md, png = tmp_path / "tune.json", tmp_path / "tune.md", tmp_path / "tune.png"
    tune = [*BENCH, "tune", "--bundle", str(bundle), "--gestures", str(streams["gestures"]),
            "--background", str(streams["background"]), "--max-false-per-hour", "100000", "--no-progress"]
    proc = run_cli([*tune, "--json", str(out), "--markdown", str(md), "--plot", str(png), "--save-to-bundle"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout)
    report = json.loads(out.read_text())
    truth = json.loads(streams["gestures"].with_name("walk.truth.json").read_text())
    parts = report["parts"]
    assert parts["tuning"]["gestures"] + parts["held_out"]["gestures"] == len(truth["events"])
    assert parts["tuning"]["background_min"] + parts["held_out"]["background_min"] == pytest.approx(0.1)
    assert "gave the runtime's events" in report["replay_check"] and report["evaluated"] > 100
    chosen = report["chosen"]
    assert chosen is not None and chosen["held_out"]["truth"] == parts["held_out"]["gestures"]
    assert chosen["tuning"]["exact"] >= report["base"]["tuning"]["exact"]
    assert all(p["tuning"]["exact"] <= chosen["tuning"]["exact"] for p in report["frontier"])
    assert "trade-off frontier" in proc.stdout and "<- chosen" in proc.stdout and "held-out" in proc.stdout
    assert "| base | tuning |" in md.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The chosen settings travel with the bundle, which stays valid, and the runtime now starts from them.
    manifest = Manifest.load(bundle)
    manifest.verify_files(bundle)
    assert manifest.decision == chosen["settings"] and report["saved_to_bundle"].endswith("manifest.json")
    assert manifest.decision_tuning["max_false_per_hour"] == 100000 and manifest.decision_tuning["held_out"]
    again = tmp_path / "again.json"
    proc = run_cli([*tune, "--json", str(again)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    rerun = json.loads(again.read_text())
    assert rerun["base"]["settings"] == chosen["settings"] and "the bundle's decision block" in proc.stdout


def test_tune_bad_inputs_are_one_line_errors(demo_bundle, streams, tmp_path) -> None:
    tune = [*BENCH, "tune", "--bundle", str(demo_bundle), "--max-false-per-hour", "1"]
    line = one_line_error(run_cli([*tune, "--gestures", str(streams["background"]), "--background",
                                   str(streams["background"])]))
    assert "--gestures" in line and "quiet.truth.json has no gestures" in line
    line = one_line_error(run_cli([*tune, "--gestures", str(streams["gestures"]), "--background",
                                   str(streams["gestures"])]))
    assert "--background" in line and "walk.truth.json lists" in line and "--gestures" in line
    line = one_line_error(run_cli([*tune, "--gestures", str(streams["gestures"]), "--background",
                                   str(tmp_path / "none.mp4")]))
    assert "none.mp4: not found" in line
    line = one_line_error(run_cli([*BENCH, "tune", "--bundle", str(demo_bundle), "--gestures",
                                   str(streams["gestures"]), "--background", str(streams["background"]),
                                   "--max-false-per-hour", "-1"]))
    assert "--max-false-per-hour" in line and "expected a number >= 0" in line


def test_rss_of_gesture_edge_run(demo_bundle, streams, tmp_path) -> None:
    out = tmp_path / "rss.json"
    proc = run_cli([*BENCH, "rss", "--bundle", str(demo_bundle), "--source", str(streams["background"]),
                    "--json", str(out)])
    print(proc.stdout)
    report = json.loads(out.read_text())
    assert proc.returncode == 0 and report["returncode"] == 0, report.get("stderr_tail")
    assert report["heavy_modules"] == []  # gesture-edge run never loads TensorFlow, Keras or convert
    assert 0 < report["vm_hwm_mb"] <= report["wait4_ru_maxrss_mb"] + 1
    assert report["peak_rss_mb"] == report["vm_hwm_mb"]


def test_default_source_is_relative_to_the_working_directory(demo_bundle, tmp_path) -> None:
    """Run elsewhere than a checkout's root: rss needs --source, latency falls back to synthetic frames."""
    line = one_line_error(run_cli([*BENCH, "rss", "--bundle", str(demo_bundle)], cwd=tmp_path))
    assert f"--source not given and no demo/streams/demo.mp4 in the working directory {tmp_path.resolve()}" in line
    out = tmp_path / "smoke.json"
    proc = run_cli([*BENCH, "--bundle", str(demo_bundle), "--smoke", "--variants", "ours", "--no-isolate",
                    "--no-progress", "--json", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no demo/streams/demo.mp4 in the working directory" in proc.stderr
    assert json.loads(out.read_text())["source"]["kind"] == "synthetic"


def test_decision_cycles_end_at_window_ends() -> None:
    # T = 20, hop 2, warm-up 20: windows end at frames 21, 23, ... = measured indexes 1, 3, ...
    np.testing.assert_array_equal(decision_cycles(np.arange(8.0), 20, 20, 2), [0.5, 2.5, 4.5, 6.5])
    # Warm-up 19: the first window ends at measured index 0, an incomplete cycle: skipped.
    np.testing.assert_array_equal(decision_cycles(np.arange(8.0), 19, 20, 2), [1.5, 3.5, 5.5])
    np.testing.assert_array_equal(decision_cycles(np.arange(7.0), 20, 20, 3), [1.0, 4.0])  # ends at 22, 25
    assert decision_cycles(np.arange(1.0), 20, 20, 2).size == 0


# -- agreement ---------------------------------------------------------------------------------------------

def test_agreement_per_model_matches_a_direct_computation(demo_bundle, streams, tmp_path) -> None:
    """The four pipelines are what they claim: recomputed here from the two loaded bundles and the runtime's
    own source, the integer-vs-float and integer-features-vs-float figures are the ones reported."""
    from edge.bench.agreement import read_stream
    from edge.bundle import dequantize, load_bundle, zero_of
    from edge.stream import StreamingClassifier

    out, md = tmp_path / "agreement.json", tmp_path / "agreement.md"
    proc = run_cli([*BENCH, "agreement", "--bundle", str(demo_bundle), str(streams["gestures"]), "--no-progress",
                    "--json", str(out), "--markdown", str(md)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert "all streams" in proc.stdout and "int features only" in md.read_text()

    integer, reference = load_bundle(demo_bundle), load_bundle(demo_bundle, precision="float")
    frames, times = read_stream(streams["gestures"], integer.input_size_hw, integer.manifest.model_fps)

    def windows(bundle):
        stream = StreamingClassifier(bundle, hop_frames=2)
        return [w for f, t in zip(frames, times) for w in stream.push(f, float(t))]

    want, got = windows(reference), windows(integer)
    top_float = np.array([w.probs.argmax() for w in want])
    # int8 features dequantized by hand, then T float steps from zero state, per window
    feats = [dequantize(integer.features.extract(f), integer.features.spec.outputs["features"]) for f in frames]
    step = reference.step
    mixed = []
    for w in want:
        state = {role: zero_of(step.spec.inputs[role]) for role in step.state_roles}
        for i in range(w.start_index, w.end_index + 1):
            x = feats[i].reshape(step.spec.inputs["features"].shape)  # the float step takes float32 features
            out_ = step.run({"features": x, **state})
            state = {role: out_[role] for role in step.state_roles}
        mixed.append(reference.probabilities(out_["probs"]).argmax())
    stream = report["streams"][0]
    assert stream["windows"] == len(want) == len(got) > 10
    assert stream["integer"]["agree"] == int(np.sum(np.array([w.probs.argmax() for w in got]) == top_float))
    assert stream["features"]["agree"] == int(np.sum(np.array(mixed) == top_float))
    assert report["total"]["windows"] == stream["windows"]
    for name in ("integer", "features", "step"):
        result = stream[name]
        assert len(result["flip_margins"]) == result["windows"] - result["agree"]
        assert all(0 <= m <= 1 for m in result["flip_margins"])


def test_agreement_bad_inputs_are_one_line_errors(demo_bundle, tmp_path) -> None:
    missing = one_line_error(run_cli([*BENCH, "agreement", "--bundle", str(demo_bundle), str(tmp_path / "no.mp4")]))
    assert "no.mp4: not found" in missing
    stripped = tmp_path / "bundle"
    stripped.mkdir()
    manifest = json.loads((demo_bundle / "manifest.json").read_text())
    for key in ("float_features", "float_step"):
        manifest.pop(key, None)
    (stripped / "manifest.json").write_text(json.dumps(manifest))
    for name in ("features.tflite", "step.tflite"):
        (stripped / name).write_bytes((demo_bundle / name).read_bytes())
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")  # never opened: the bundle is refused first
    line = one_line_error(run_cli([*BENCH, "agreement", "--bundle", str(stripped), str(video)]))
    assert "float_features/float_step missing" in line
