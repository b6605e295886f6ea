"""Validate a converted bundle against the Keras clip model and write report.md + report.json.

The int8 numbers come from the edge runtime's own code (`edge.bundle.load_bundle` + `edge.stream.
classify_window`), i.e. exactly what the Pi computes for a T-frame window, requantization between the two
models and between steps included. The float TFLite references are run the same way as a check of the split.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle import load_bundle
from edge.manifest import write_text_atomic
from edge.stream import classify_window

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Per-clip results of the three paths on the validation clips."""

    labels: tuple[str, ...]
    clip_names: list[str] = field(default_factory=list)
    truth: list[int] = field(default_factory=list)
    """Label index per clip, -1 when the clip's label is unknown or not a class of the model."""
    keras_probs: list[np.ndarray] = field(default_factory=list)
    int8_probs: list[np.ndarray] = field(default_factory=list)
    float_tflite_probs: list[np.ndarray] = field(default_factory=list)


def evaluate(bundle_dir: Path, keras_probs_fn: Callable[[np.ndarray], np.ndarray],
             clips: Iterable[tuple[Any, np.ndarray]], labels: Sequence[str], num_threads: int = 2,
             progress: Callable[[Iterator, int, str], Iterator] | None = None, total: int = 0,
             batch_clips: int = 8) -> Evaluation:
    """Run the Keras clip model, the int8 bundle and the float bundle on every (ref, uint8 clip)."""
    int8 = load_bundle(bundle_dir, num_threads=num_threads, precision="int8")
    reference = load_bundle(bundle_dir, num_threads=num_threads, precision="float")
    result = Evaluation(labels=tuple(labels))
    items: Iterator = iter(clips)
    if progress is not None:
        items = progress(items, total, "validating")
    pending: list[tuple[Any, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        probs = keras_probs_fn(np.stack([clip for _, clip in pending]))
        for (ref, clip), p in zip(pending, probs):
            result.clip_names.append(str(getattr(ref, "folder", ref)))
            label = getattr(ref, "label", "")
            result.truth.append(labels.index(label) if label in labels else -1)
            result.keras_probs.append(np.asarray(p, dtype=np.float32))
            result.int8_probs.append(classify_window(int8, clip))
            result.float_tflite_probs.append(classify_window(reference, clip))
        pending.clear()

    for item in items:
        pending.append(item)
        if len(pending) == batch_clips:
            flush()
    flush()
    return result


def confusion(truth: np.ndarray, predicted: np.ndarray, n: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def summarize(ev: Evaluation, min_agreement: float) -> dict[str, Any]:
    """The numbers of report.json (plain JSON types)."""
    n = len(ev.clip_names)
    keras_p, int8_p, float_p = (np.stack(x) if n else np.zeros((0, len(ev.labels)))
                                for x in (ev.keras_probs, ev.int8_probs, ev.float_tflite_probs))
    keras_top, int8_top = keras_p.argmax(axis=1), int8_p.argmax(axis=1)
    truth = np.asarray(ev.truth, dtype=np.int64)
    labelled = truth >= 0
    agree = keras_top == int8_top
    agreement = float(agree.mean()) if n else None

    def accuracy(top: np.ndarray) -> float | None:
        return float(np.mean(top[labelled] == truth[labelled])) if labelled.any() else None

    float_acc, int8_acc = accuracy(keras_top), accuracy(int8_top)
    diff = np.abs(keras_p - int8_p)
    k = len(ev.labels)
    return {
        "clips": n,
        "labelled_clips": int(labelled.sum()),
        "float_keras": {
            "accuracy": float_acc,
            "confusion": confusion(truth[labelled], keras_top[labelled], k).tolist(),
        },
        "int8": {
            "accuracy": int8_acc,
            "confusion": confusion(truth[labelled], int8_top[labelled], k).tolist(),
        },
        "accuracy_drop_points": None if float_acc is None else round(100.0 * (float_acc - int8_acc), 4),
        "top1_agreement": agreement,
        "min_agreement": min_agreement,
        "passed": agreement is not None and agreement >= min_agreement,
        "prob_abs_diff": {"mean": float(diff.mean()) if n else None, "max": float(diff.max()) if n else None},
        "float_tflite_vs_keras_max_abs_diff": float(np.abs(keras_p - float_p).max()) if n else None,
        "disagreements": [
            {"clip": ev.clip_names[i], "float": ev.labels[int(keras_top[i])], "int8": ev.labels[int(int8_top[i])],
             "float_prob": round(float(keras_p[i, keras_top[i]]), 4),
             "int8_prob": round(float(int8_p[i, int8_top[i]]), 4)}
            for i in np.flatnonzero(~agree)
        ],
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.1f}%"


def _matrix_md(matrix: list[list[int]], labels: Sequence[str]) -> list[str]:
    lines = ["| true \\ predicted | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(str(v) for v in row) + " |" for label, row in zip(labels, matrix)]
    return lines


def _recall(matrix: list[list[int]]) -> list[str]:
    out = []
    for i, row in enumerate(matrix):
        total = sum(row)
        out.append(f"{row[i] / total:.2f} ({row[i]}/{total})" if total else "-")
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """report.md: summary first (scripts print up to '## Per-class'), then per-class tables and details."""
    v = report["validation"]
    labels = report["labels"]
    sizes = report["model_sizes_bytes"]
    verdict = "PASS" if v["passed"] else "FAIL"
    n, agree = v["clips"], v["top1_agreement"]
    agreeing = 0 if agree is None else round(agree * n)
    split = v["float_tflite_vs_keras_max_abs_diff"] or 0.0
    drop = "n/a" if v["accuracy_drop_points"] is None else f"{v['accuracy_drop_points']:.1f} points"
    lines = [
        f"# gesture-convert report: {report['source_model']}",
        "",
        f"Bundle: `{report['bundle']}` ({report['cell'].upper()}, step model {report['quantization']}). "
        f"Validation: {n} clips from `{v['source']}` ({v['labelled_clips']} labelled).",
        "",
        "| | float (Keras clip model) | int8 (edge runtime, streaming path) |",
        "|---|---|---|",
        f"| top-1 accuracy | {_pct(v['float_keras']['accuracy'])} | {_pct(v['int8']['accuracy'])} |",
        f"| model files | {sizes['float_total'] / 1024:.0f} KiB | {sizes['int8_total'] / 1024:.0f} KiB |",
        "",
        f"- top-1 agreement float vs int8: **{_pct(agree)}** ({agreeing}/{n}); required >= "
        f"{_pct(v['min_agreement'])}: **{verdict}**",
        f"- accuracy drop float -> int8: {drop}",
        f"- |probability difference| float vs int8: mean {v['prob_abs_diff']['mean'] or 0:.4f}, "
        f"max {v['prob_abs_diff']['max'] or 0:.4f}",
        f"- float TFLite references vs Keras: max |difference| {split:.2e} "
        + ("(the split into frame + step models is exact up to float round-off)" if split < 1e-4 else
           "(more than float round-off: the float references do not reproduce the Keras model)"),
        "",
    ]
    if v["disagreements"]:
        lines += ["Clips where float and int8 disagree:", ""]
        lines += [f"- `{d['clip']}`: float {d['float']} ({d['float_prob']}), int8 {d['int8']} ({d['int8_prob']})"
                  for d in v["disagreements"][:20]]
        lines.append("")
    lines += ["## Per-class", ""]
    if v["labelled_clips"]:
        lines += ["| class | recall float | recall int8 |", "|---|---|---|"]
        for label, rf, ri in zip(labels, _recall(v["float_keras"]["confusion"]), _recall(v["int8"]["confusion"])):
            lines.append(f"| {label} | {rf} | {ri} |")
        lines += ["", "Confusion, float (Keras):", ""] + _matrix_md(v["float_keras"]["confusion"], labels)
        lines += ["", "Confusion, int8 (edge runtime):", ""] + _matrix_md(v["int8"]["confusion"], labels)
    else:
        lines.append("No labelled validation clips: accuracy and confusion are not available.")
    lines += ["", "## Model files", "", "| file | bytes |", "|---|---|"]
    lines += [f"| {name} | {size} |" for name, size in sizes.items() if not name.endswith("_total")]
    lines += [f"| int8 total / float total | {sizes['int8_total']} / {sizes['float_total']} "
              f"({sizes['int8_total'] / max(sizes['float_total'], 1):.2f}x) |"]
    q = report["tensors"]
    lines += ["", "## Conversion", ""]
    lines += [f"- {role}: `{t['name']}` {t['dtype']} {t['shape']} scale {t['scale']:.6g} zero point {t['zero_point']}"
              for role, t in q.items()]
    c = report["calibration"]
    lines += [
        f"- calibration: {c['clips']} clips, {c['frames']} frames for features.tflite, {c['steps']} (x, h"
        f"{', c' if report['cell'] == 'lstm' else ''}) steps for step.tflite, from `{c['source']}`",
        f"- normalization folded into features.tflite: {report['normalization']} "
        f"(--input-scale {report['input_scale']})",
        f"- frames per clip {report['frames_per_clip']}, model fps {report['model_fps']}, "
        f"input {report['input_size_px'][1]}x{report['input_size_px'][0]} RGB",
        f"- conversion took {report['timing_s']['total']:.1f} s wall, {report['timing_s']['total_cpu']:.1f} s CPU "
        "(all threads); wall per stage: " + ", ".join(
            f"{k} {val:.1f} s" for k, val in report["timing_s"].items() if not k.startswith("total")),
        "- created by: " + ", ".join(f"{k} {val}" for k, val in report["created_by"].items()),
        "",
    ]
    return "\n".join(lines)


def write_report(bundle_dir: Path, report: dict[str, Any]) -> None:
    """report.json + report.md, each written atomically."""
    write_text_atomic(bundle_dir / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(bundle_dir / "report.md", render_markdown(report))
