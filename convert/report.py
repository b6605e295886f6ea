"""Validate a converted bundle against the Keras clip model and write report.md + report.json.

The int8 numbers come from the edge runtime's own code (`edge.bundle.load_bundle` + `edge.stream.
classify_window`), i.e. exactly what the Pi computes for a T-frame window, requantization between the two
models and between steps included. The float TFLite references are run the same way as a check of the split.

The gate counts clips: agreement is a fraction of n clips, so it is judged with exact (Clopper-Pearson)
one-sided bounds at GATE_CONFIDENCE. It FAILS only when the clips show agreement below the target, PASSES only
when they show it at or above the target, and is INCONCLUSIVE in between (too few clips to tell: exit 0, said
loudly, with how many clips would be enough). Warnings flag a float model that is at chance on the labelled
clips or gives one class for most of them: agreement with such a model says nothing.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle import load_bundle
from edge.fileio import write_text_atomic
from edge.stream import classify_window

logger = logging.getLogger(__name__)

GATE_CONFIDENCE = 0.95
"""One-sided confidence of the agreement gate's bounds and of the chance check."""
ONE_CLASS_SHARE = 0.8
"""Warn when the float model gives one class for at least this share of the validation clips..."""
ONE_CLASS_EXCESS = 0.2
"""...and (labelled clips) for at least this much more than that class's share of the true labels."""


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


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (exact for any n a validation set has)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
            for i in range(k + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(v - top) for v in logs))


def _solve_decreasing(f: Callable[[float], float], target: float) -> float:
    """The p in [0, 1] where the decreasing function f crosses target (bisection to float precision)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def lower_bound(k: int, n: int, confidence: float = GATE_CONFIDENCE) -> float:
    """Exact (Clopper-Pearson) one-sided lower confidence bound of a success rate from k successes of n.

    For k == n it is (1 - confidence) ** (1 / n): 15 of 15 clips agreeing show >= 81.9% at 95%.
    """
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"k {k}, n {n}: expected 0 <= k <= n, n >= 1")
    if k == 0:
        return 0.0
    if k == n:
        return (1.0 - confidence) ** (1.0 / n)
    return _solve_decreasing(lambda p: _binom_cdf(k - 1, n, p), confidence)


def upper_bound(k: int, n: int, confidence: float = GATE_CONFIDENCE) -> float:
    """Exact (Clopper-Pearson) one-sided upper confidence bound of a success rate from k successes of n."""
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"k {k}, n {n}: expected 0 <= k <= n, n >= 1")
    if k == n:
        return 1.0
    if k == 0:
        return 1.0 - (1.0 - confidence) ** (1.0 / n)
    return _solve_decreasing(lambda p: _binom_cdf(k, n, p), 1.0 - confidence)


def clips_needed(target: float, confidence: float = GATE_CONFIDENCE) -> int | None:
    """Fewest clips that, all agreeing, show agreement >= target at `confidence` (None: no number can)."""
    if target <= 0:
        return 1
    if target >= 1:
        return None
    return max(1, math.ceil(math.log(1.0 - confidence) / math.log(target) - 1e-9))


def gate(agreeing: int, n: int, target: float, confidence: float = GATE_CONFIDENCE) -> dict[str, Any]:
    """The agreement gate on `agreeing` of `n` clips: verdict pass / fail / inconclusive, bounds, clip counts.

    fail: the clips show agreement below `target` (upper bound < target, a one-sided binomial test);
    pass: they show it at or above (lower bound >= target); inconclusive: neither, too few clips.
    `max_flips`: the most flips of n that do not fail.
    """
    if not 0 <= agreeing <= n or n < 1:
        raise ValueError(f"agreeing {agreeing} of {n}: expected 0 <= agreeing <= n, n >= 1")
    # The tests on the binomial CDF at p = target are what the bounds mean, without bisection round-off.
    failed = _binom_cdf(agreeing, n, target) < 1.0 - confidence
    shown = target <= 0 or (agreeing > 0 and _binom_cdf(agreeing - 1, n, target) >= confidence)
    flips = 0
    while flips < n and _binom_cdf(n - flips - 1, n, target) >= 1.0 - confidence:
        flips += 1
    return {
        "confidence": confidence, "target": target, "clips": n, "agreeing": agreeing, "flips": n - agreeing,
        "lower_bound": round(lower_bound(agreeing, n, confidence), 6),
        "upper_bound": round(upper_bound(agreeing, n, confidence), 6),
        "max_flips": flips, "clips_needed": clips_needed(target, confidence),
        "verdict": "fail" if failed else "pass" if shown else "inconclusive",
    }


def model_warnings(ev: Evaluation, confidence: float = GATE_CONFIDENCE) -> list[str]:
    """One line per reason the agreement gate says little: the float model at chance, or giving one class."""
    n = len(ev.clip_names)
    if n < 2:
        return []
    out = []
    keras_top = np.stack(ev.keras_probs).argmax(axis=1)
    truth = np.asarray(ev.truth, dtype=np.int64)
    labelled = truth >= 0
    if labelled.sum() >= 2:
        correct = int(np.sum(keras_top[labelled] == truth[labelled]))
        total = int(labelled.sum())
        counts = np.bincount(truth[labelled], minlength=len(ev.labels))
        chance = max(1.0 / len(ev.labels), float(counts.max()) / total)
        if lower_bound(correct, total, confidence) <= chance:
            out.append(f"the float model is at chance on the validation clips: accuracy {correct}/{total} "
                       f"({100.0 * correct / total:.1f}%) is not shown above chance ({100.0 * chance:.1f}%, the "
                       f"better of 1/{len(ev.labels)} classes and always answering the commonest class) at "
                       f"{100 * confidence:g}% confidence; check the model before trusting the agreement")
    predicted = np.bincount(keras_top, minlength=len(ev.labels))
    top = int(predicted.argmax())
    share = float(predicted[top]) / n
    if share >= ONE_CLASS_SHARE:
        truth_share = (float(np.sum(truth[labelled] == top)) / int(labelled.sum())) if labelled.any() else None
        if truth_share is None or share - truth_share >= ONE_CLASS_EXCESS:
            known = ("the clips are unlabelled" if truth_share is None
                     else f"{100.0 * truth_share:.0f}% of the labelled clips are {ev.labels[top]}")
            out.append(f"the float model predicts {ev.labels[top]} for {int(predicted[top])} of {n} validation "
                       f"clips ({known}): agreement with a model that gives one answer says nothing")
    return out


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
    ordered = np.sort(keras_p, axis=1)
    margin = ordered[:, -1] - ordered[:, -2] if k >= 2 and n else np.zeros(n)
    verdict = gate(int(agree.sum()), n, min_agreement) if n else None
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
        "gate": verdict,
        # passed: exit 0. Only a "fail" verdict (agreement shown below the target) stops the conversion.
        "passed": verdict is not None and verdict["verdict"] != "fail",
        "warnings": model_warnings(ev),
        "prob_abs_diff": {"mean": float(diff.mean()) if n else None, "max": float(diff.max()) if n else None},
        "float_tflite_vs_keras_max_abs_diff": float(np.abs(keras_p - float_p).max()) if n else None,
        "disagreements": [
            {"clip": ev.clip_names[i], "float": ev.labels[int(keras_top[i])], "int8": ev.labels[int(int8_top[i])],
             "float_prob": round(float(keras_p[i, keras_top[i]]), 4),
             "int8_prob": round(float(int8_p[i, int8_top[i]]), 4),
             "float_margin": round(float(margin[i]), 4)}
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


def gate_line(v: dict[str, Any]) -> str:
    """The gate's verdict in words (report.md and gesture-convert's last line)."""
    g = v.get("gate")
    if not g:
        return f"required >= {_pct(v['min_agreement'])}: **FAIL** (no clips)"
    conf = f"{100 * g['confidence']:g}%"
    head = (f"required >= {_pct(g['target'])} at {conf} confidence (lower bound {_pct(g['lower_bound'])}, "
            f"upper {_pct(g['upper_bound'])}): **{g['verdict'].upper()}**")
    needed = g["clips_needed"]
    enough = (f"{needed} clips all agreeing would show it" if needed is not None
              else "no number of clips can show 100%")
    def flips(k: int) -> str:
        return f"{k} flip{'' if k == 1 else 's'} of {g['clips']}"

    if g["verdict"] == "pass":
        return f"{head}; up to {flips(g['max_flips'])} would not fail"
    if g["verdict"] == "fail":
        return f"{head}: {flips(g['flips'])} show agreement below the target (up to {g['max_flips']} would not fail)"
    return (f"{head}: {g['clips']} clips are too few to show it ({enough}; up to {flips(g['max_flips'])} would "
            f"not fail)")


def render_markdown(report: dict[str, Any]) -> str:
    """report.md: summary first (scripts print up to '## Per-class'), then per-class tables and details."""
    v = report["validation"]
    labels = report["labels"]
    sizes = report["model_sizes_bytes"]
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
        f"- top-1 agreement float vs int8: **{_pct(agree)}** ({agreeing}/{n}); " + gate_line(v),
        f"- accuracy drop float -> int8: {drop}",
        f"- |probability difference| float vs int8: mean {v['prob_abs_diff']['mean'] or 0:.4f}, "
        f"max {v['prob_abs_diff']['max'] or 0:.4f}",
        f"- float TFLite references vs Keras: max |difference| {split:.2e} "
        + ("(the split into frame + step models is exact up to float round-off)" if split < 1e-4 else
           "(more than float round-off: the float references do not reproduce the Keras model)"),
        "",
    ]
    if v.get("warnings"):
        lines[2:2] = [f"**WARNING: {w}.**" for w in v["warnings"]] + [""]
    if v["disagreements"]:
        lines += [f"Every clip where float and int8 disagree ({len(v['disagreements'])}; margin: the float "
                  "model's top probability minus its second):", "",
                  "| clip | float top-1 (p) | int8 top-1 (p) | float margin |", "|---|---|---|---|"]
        lines += [f"| `{d['clip']}` | {d['float']} ({d['float_prob']}) | {d['int8']} ({d['int8_prob']}) | "
                  f"{d.get('float_margin', 'n/a')} |" for d in v["disagreements"]]
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
