"""The edge runtime (and its benchmark, edge.bench) never imports TensorFlow, Keras or the workstation package
`convert`.

A fresh interpreter imports every edge module and runs `gesture-edge run` on a real bundle and a real video
for a few dozen frames (windows close and decisions run), then reports the modules it holds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from conftest import run_cli

FORBIDDEN = ("tensorflow", "keras", "tf_keras", "tensorboard", "convert", "h5py", "tqdm", "matplotlib", "jax",
             "torch")
"""Top-level packages of the workstation stage ([convert] extra) and other heavy frameworks."""

EDGE_MODULES = ("edge", "edge.cli", "edge.app", "edge.stream", "edge.bundle", "edge.backend", "edge.manifest",
                "edge.settings", "edge.config", "edge.decision", "edge.events", "edge.sources", "edge.sdnotify",
                "edge.capture", "edge.sinks", "edge.sinks.base", "edge.sinks.mpris", "edge.sinks.cec",
                "edge.sinks.command", "edge.metrics", "edge.bench", "edge.bench.cli", "edge.bench.latency",
                "edge.bench.events", "edge.bench.agreement", "edge.bench.rss", "edge.bench.tune",
                "edge.bench.render", "edge.bench.output")

HARNESS = """
import importlib, json, sys
for name in {modules!r}:
    importlib.import_module(name)
{extra}
import edge.cli
rc = edge.cli.main(["run", "--bundle", {bundle!r}, "--source", {video!r}, "--sink", "log", "--max-frames", "45"])
with open({out!r}, "w") as handle:
    json.dump({{"rc": rc, "modules": sorted(sys.modules)}}, handle)
"""


def write_video(path: Path, frames: int = 60) -> Path:
    rng = np.random.default_rng(1)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for _ in range(frames):
        writer.write(cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (0, 0), 3))
    writer.release()
    return path


def run_harness(tmp_path: Path, bundle: Path, video: Path, extra: str = "") -> dict:
    out = tmp_path / "modules.json"
    code = HARNESS.format(modules=EDGE_MODULES, extra=extra, bundle=str(bundle), video=str(video), out=str(out))
    proc = run_cli([sys.executable, "-c", code], env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def heavy(modules: list[str]) -> list[str]:
    return sorted({m for m in modules if m.split(".")[0] in FORBIDDEN})


def test_edge_runtime_imports_no_tensorflow_keras_or_convert(demo_bundle: Path, tmp_path: Path) -> None:
    video = write_video(tmp_path / "room.mp4")
    report = run_harness(tmp_path, demo_bundle, video)
    assert report["rc"] == 0
    modules = report["modules"]
    assert heavy(modules) == []
    # It really ran: the runtime, a TFLite backend and OpenCV were loaded.
    assert {"edge.app", "edge.stream", "cv2", "numpy"} <= set(modules)
    assert any(m.split(".")[0] in ("ai_edge_litert", "tflite_runtime") for m in modules)


def test_the_check_would_see_a_forbidden_import(demo_bundle: Path, tmp_path: Path) -> None:
    # The same harness with one workstation import added must report it (the check is not vacuous).
    video = write_video(tmp_path / "room.mp4", frames=25)
    report = run_harness(tmp_path, demo_bundle, video, extra="import convert.data")
    assert "convert" in heavy(report["modules"])
