"""gesture-bench agreement: how closely the integer bundle follows its float references on streams, and which
half of the split loses what.

Each stream is read once through the app's own source (`edge.sources.open_source`: decode, pace to the model's
frame rate, resize, RGB) and its frames run through `StreamingClassifier` four times, with the bundle's glue
(`Requantizer`) between whichever models are paired:

  integer   integer features + integer step: what the Pi runs
  features  integer features + float step: the error of the feature model alone
  step      float features + integer step: the error of the recurrent step alone
  float     the bundle's float/ references for both: the reference

The float references compute what the Keras clip model computes, to float32 round-off (gesture-convert checks
that split before converting), so agreement with them is agreement with the trained model. Per pipeline:
top-1 agreement with the reference over every window, the largest probability difference, and the reference's
margin (top-1 minus runner-up) at each window whose top-1 differs. A flip at a small margin is a close call
that any rounding can tip; one at a large margin is a real error.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.bench import BenchError
from edge.bench.output import Progress, machine_info

logger = logging.getLogger(__name__)

PIPELINES = ("integer", "features", "step")
"""Compared with the float reference, in this order."""
PIPELINE_TEXT = {
    "integer": "integer features + integer step (what runs on the Pi)",
    "features": "integer features + float step (feature model error alone)",
    "step": "float features + integer step (recurrent step error alone)",
}
CLOSE_CALL_MARGIN = 0.05
"""A reference margin below this is a close call: reported apart, since any rounding can tip it."""


@dataclass(frozen=True)
class AgreementSettings:
    """Everything `gesture-bench agreement` was asked to do."""

    bundle: Path
    streams: tuple[Path, ...]
    hop_frames: int = 2
    threads: int = 2
    backend: str = "auto"
    progress: bool = True


def mixed_bundles(integer: Any, reference: Any) -> dict[str, Any]:
    """The four pipelines as bundles: the two loaded ones, and the two pairings of one model from each."""
    from edge.bundle import Requantizer

    def pair(features_from: Any, step_from: Any) -> Any:
        return dataclasses.replace(
            step_from, features=features_from.features,
            features_to_step=Requantizer(features_from.features.spec.outputs["features"],
                                         step_from.step.spec.inputs["features"]))

    return {"integer": integer, "features": pair(integer, reference), "step": pair(reference, integer),
            "float": reference}


def read_stream(path: Path, size_hw: tuple[int, int], model_fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Every model frame of a video (uint8 RGB) and its time, through the app's own source."""
    from edge.sources import SourceError, open_source

    try:
        reader = open_source(str(path), size_hw, model_fps, realtime=False)
    except SourceError as exc:
        raise BenchError(str(exc)) from None
    frames, times = [], []
    try:
        while (frame := reader.read()) is not None:
            frames.append(frame.rgb.copy())
            times.append(frame.t_s)
    finally:
        reader.close()
    if not frames:
        raise BenchError(f"{path}: no frames could be read")
    return np.stack(frames), np.asarray(times)


def window_probs(bundle: Any, frames: np.ndarray, times: np.ndarray, hop_frames: int) -> np.ndarray:
    """(windows, classes) probabilities of every window the stream emits."""
    from edge.stream import StreamingClassifier

    stream = StreamingClassifier(bundle, hop_frames=hop_frames)
    windows = [w for frame, t_s in zip(frames, times) for w in stream.push(frame, float(t_s))]
    return np.stack([w.probs for w in windows]) if windows else np.zeros((0, len(bundle.labels)), np.float32)


def margins(reference: np.ndarray) -> np.ndarray:
    """Per window, the reference's top-1 probability minus its runner-up."""
    ordered = np.sort(reference, axis=1)
    return ordered[:, -1] - ordered[:, -2]


def compare(probs: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """Top-1 agreement of `probs` with `reference` (both (windows, classes)) and the margins of the flips."""
    margin = margins(reference)
    flips = np.flatnonzero(probs.argmax(axis=1) != reference.argmax(axis=1))
    windows = len(reference)
    return {
        "windows": windows,
        "agree": windows - len(flips),
        "agreement": (windows - len(flips)) / windows if windows else None,
        "max_abs_diff": float(np.abs(probs - reference).max()) if windows else None,
        "flip_windows": [int(i) for i in flips],
        "flip_margins": [round(float(margin[i]), 4) for i in flips],
        "close_call_flips": int(np.sum(margin[flips] < CLOSE_CALL_MARGIN)),
    }


def close_calls(reference: np.ndarray) -> int:
    """Windows where the reference's top two classes are within CLOSE_CALL_MARGIN."""
    return int(np.sum(margins(reference) < CLOSE_CALL_MARGIN))


def run_agreement(settings: AgreementSettings) -> dict[str, Any]:
    """Run the four pipelines over every stream; per stream and in total, each pipeline against the reference."""
    from edge.bundle import BundleError, load_bundle

    for stream in settings.streams:
        if not stream.is_file():
            raise BenchError(f"{stream}: not found (expected a video file)")
    try:
        reference = load_bundle(settings.bundle, settings.backend, settings.threads, precision="float")
        integer = load_bundle(settings.bundle, settings.backend, settings.threads)
    except BundleError as exc:
        raise BenchError(str(exc)) from None
    bundles = mixed_bundles(integer, reference)
    per_stream: list[dict[str, Any]] = []
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in bundles}
    started = time.monotonic()
    bar = Progress(len(settings.streams) * len(bundles), "agreement", enabled=settings.progress)
    try:
        for path in settings.streams:
            frames, times = read_stream(path, integer.input_size_hw, integer.manifest.model_fps)
            probs = {}
            for name, bundle in bundles.items():
                probs[name] = window_probs(bundle, frames, times, settings.hop_frames)
                pooled[name].append(probs[name])
                bar.update()
            per_stream.append({
                "stream": str(path), "model_frames": len(frames), "windows": len(probs["float"]),
                "close_calls": close_calls(probs["float"]),
                **{name: compare(probs[name], probs["float"]) for name in PIPELINES},
            })
    finally:
        bar.close()
    everything = {name: np.concatenate(parts) for name, parts in pooled.items()}
    total: dict[str, Any] = {"windows": len(everything["float"]), "close_calls": close_calls(everything["float"]),
             **{name: compare(everything[name], everything["float"]) for name in PIPELINES}}
    for name in PIPELINES:  # window indexes only mean something per stream
        total[name].pop("flip_windows")
    return {
        "kind": "agreement",
        "bundle": str(settings.bundle),
        "quantization": integer.manifest.quantization,
        "backend": integer.backend.name,
        "hop_frames": settings.hop_frames,
        "close_call_margin": CLOSE_CALL_MARGIN,
        "pipelines": {name: PIPELINE_TEXT[name] for name in PIPELINES},
        "streams": per_stream,
        "total": total,
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine_info(),
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.1f}%"


def _rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for result in [*report["streams"], {**report["total"], "stream": "all streams"}]:
        name = Path(result["stream"]).name if result["stream"] != "all streams" else "**all streams**"
        cells = [name, str(result["windows"]), str(result["close_calls"])]
        for pipeline in PIPELINES:
            r = result[pipeline]
            cells.append(f"{_pct(r['agreement'])} ({r['windows'] - r['agree']} flips, "
                         f"{r['close_call_flips']} close)")
        rows.append(cells)
    return rows


HEADER = ["stream", "windows", "close calls", "integer (Pi)", "int features only", "int step only"]


def agreement_text(report: dict[str, Any]) -> str:
    """Plain-text table for the terminal."""
    rows = [HEADER, *_rows(report)]
    widths = [max(len(row[i].replace("**", "")) for row in rows) for i in range(len(HEADER))]
    lines = [f"top-1 agreement with the float references, {report['quantization']} bundle {report['bundle']} "
             f"(hop {report['hop_frames']}; a close call: float margin < {report['close_call_margin']})"]
    lines += ["  ".join(cell.replace("**", "").ljust(w) for cell, w in zip(row, widths)) for row in rows]
    total = report["total"]
    lines.append("flip margins (float top-1 minus runner-up): " + "; ".join(
        f"{name}: {', '.join(f'{m:.3f}' for m in sorted(total[name]['flip_margins'])) or 'none'}"
        for name in PIPELINES))
    return "\n".join(lines)


def agreement_markdown(report: dict[str, Any]) -> str:
    """Markdown table (docs/BENCHMARKS.md)."""
    lines = [f"Top-1 agreement with the float references ({report['quantization']} bundle, hop "
             f"{report['hop_frames']}; a close call is a window whose float margin is < "
             f"{report['close_call_margin']}).", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(report)]
    lines += ["", f"Command: `{report.get('command', 'gesture-bench agreement')}`", ""]
    return "\n".join(lines)

