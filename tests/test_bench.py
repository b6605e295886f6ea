"""gesture-bench: the smoke run (every variant, real code paths), outputs, frame decoding, bad inputs,
events and rss end to end. Figures are printed by the benchmark, never asserted here (shared machine)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.bench import normalise_argv
from edge.bench_latency import VARIANTS, decision_cycles, decode_frames

from conftest import run_cli

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

def test_smoke_runs_every_available_variant(demo_bundle, manifest, tmp_path) -> None:
    out = tmp_path / "smoke.json"
    proc = run_cli([*BENCH, "--bundle", str(demo_bundle), "--smoke", "--json", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout)  # the figures, for the CI log
    report = json.loads(out.read_text())
    runs = {r["variant"]: r for r in report["runs"]}
    assert set(runs) == set(VARIANTS), "every variant is reported: run, skipped or failed"
    for name in ("ours", "float", "window", "keras"):  # TensorFlow is installed in the test environment
        assert runs[name]["status"] == "ok", runs[name]
    mediapipe = runs["mediapipe"]
    assert mediapipe["status"] in ("ok", "skipped")
    if mediapipe["status"] == "skipped":
        assert "mediapipe" in mediapipe["reason"]
    assert report["settings"]["threads"] == [1] and report["stages"] == [
        "capture", "preprocess", "features", "recurrent", "decision", "dispatch"]
    frames_per_clip, hop = manifest["frames_per_clip"], report["settings"]["hop_frames"]
    measured = report["settings"]["frames"]
    for name in ("ours", "float", "window"):
        stages = runs[name]["stages"]
        for stage in ("preprocess", "features", "recurrent", "decision", "dispatch", "compute", "total"):
            assert stages[stage]["count"] == measured, (name, stage)
            assert stages[stage]["p50_ms"] <= stages[stage]["p95_ms"] <= stages[stage]["p99_ms"]
        assert stages["features"]["mean_ms"] > 0 and stages["recurrent"]["mean_ms"] > 0
        assert (stages["capture"] is None) == (report["source"]["kind"] == "synthetic")
        assert runs[name]["rss_mb"]["peak"] > 0 and runs[name]["cpu_ms_per_frame"] > 0
        assert runs[name]["per_frame_total_ms"] >= runs[name]["per_frame_compute_ms"]
    assert runs["keras"]["stages"]["recurrent"] is None  # inside the clip model
    # The variants really run different code paths: model invocations counted by SignatureModel.
    ours, window, flt = runs["ours"]["invocations"], runs["window"]["invocations"], runs["float"]["invocations"]
    steps = math.ceil(frames_per_clip / hop)
    assert ours["features_per_frame"] == 1.0 and flt["features_per_frame"] == 1.0
    assert ours["step_per_frame"] == steps and flt["step_per_frame"] == steps
    assert ours["windows"] == window["windows"] == runs["keras"]["invocations"]["windows"] == measured // hop
    assert window["features_per_window"] == frames_per_clip and window["step_per_window"] == frames_per_clip
    assert window["features_per_frame"] == pytest.approx(frames_per_clip / hop)
    assert runs["keras"]["invocations"]["clip_model_per_window"] == 1.0
    assert runs["ours"]["ratio_vs_ours"]["compute"] == pytest.approx(1.0)
    assert runs["window"]["ratio_vs_ours"]["compute"] > 0
    assert report["bundle"]["files"]["features.tflite"] > 0 and runs["ours"]["model_bytes"] > 0
    assert len(report["load_average"]["start"]) == 3
    for name in ("ours", "float", "window", "keras"):
        assert f"{name}@1t" in proc.stdout


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


def test_import_edge_bench_stays_light() -> None:
    code = ("import sys, edge.bench, edge.bench_latency, edge.bench_events, edge.bench_rss, edge.bench_output, "
            "edge.bench_report, edge.metrics; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    proc = run_cli([sys.executable, "-c", code], check=True)
    assert proc.stdout.strip() == "[]"


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
    from edge.bench_agreement import read_stream
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
