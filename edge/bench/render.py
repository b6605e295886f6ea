"""gesture-bench reports as text (stdout), markdown and plots, built from the JSON-ready report dicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.bench.latency import COMPUTE_STAGES, STAGES
from edge.bench.output import fmt, import_pyplot, markdown_table, save_figure, text_table

STAGE_COLUMNS = (*STAGES, "compute", "total")


def _label(run: dict[str, Any]) -> str:
    return f"{run['variant']}@{run['threads']}t" if run.get("threads") else run["variant"]


def _ok_runs(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report["runs"] if r.get("status") == "ok"]


def _header_lines(report: dict[str, Any]) -> list[str]:
    machine, source, settings = report["machine"], report["source"], report["settings"]
    bundle = report["bundle"]
    load = report.get("load_average", {})
    frames = f"{settings['frames']} measured frames after {settings['warmup']} warm-up frames per variant"
    if source["kind"] == "synthetic":
        src = f"synthetic random frames {source['native_size_hw'][0]}x{source['native_size_hw'][1]} (no capture stage)"
    else:
        fps = f"{source['source_fps']:g} fps, " if source.get("source_fps") else ""
        src = (f"{source['name']} ({fps}{source['source_frames_read']} source frames read for "
               f"{source['model_frames']} model frames, {source['duration_covered_s']:.1f} s)")
    return [
        f"machine: {machine['cpu']} x{machine['cpu_count']}, {machine['platform']}, Python {machine['python']}",
        f"load average (1/5/15 min): start {load.get('start')}, end {load.get('end')}",
        f"bundle: {bundle['path']} ({bundle['input_size_hw'][0]}x{bundle['input_size_hw'][1]}, "
        f"T={bundle['frames_per_clip']}, {bundle['model_fps']:g} fps, {bundle['quantization']}, {bundle['cell']}); "
        f"hop {settings['hop_frames']} frames",
        "model files: " + ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in bundle["files"].items()),
        f"source: {src}",
        f"frames: {frames}; threads {','.join(map(str, settings['threads']))}; "
        f"{'each variant in its own process' if settings['isolate'] else 'all variants in one process'}",
    ]


def _summary_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for run in _ok_runs(report):
        inv = run.get("invocations", {})
        stages = run["stages"]
        feats = inv.get("features_per_frame", inv.get("clip_model_per_frame", inv.get("hands_per_frame")))
        ratio = run.get("ratio_vs_ours", {})
        rss = run.get("rss_mb", {})
        rows.append([
            _label(run),
            fmt(run["per_frame_compute_ms"], 3), fmt(run.get("per_frame_compute_median_cycle_ms"), 3),
            fmt(run.get("cpu_compute_ms_per_frame"), 3),
            fmt(run["per_frame_total_ms"], 3),
            fmt(stages["total"]["p50_ms"], 3), fmt(stages["total"]["p95_ms"], 3), fmt(stages["total"]["p99_ms"], 3),
            fmt(run["sustained_fps"], 0), fmt(run["cpu_ms_per_frame"], 3),
            fmt(feats, 2), fmt(inv.get("step_per_frame"), 2), fmt(inv.get("windows")),
            fmt(rss.get("peak"), 1), fmt(rss.get("growth"), 1), fmt(run.get("model_bytes", 0) / 1024.0, 0),
            fmt(ratio.get("compute"), 1, "x"), fmt(ratio.get("compute_median_cycle"), 1, "x"),
            fmt(ratio.get("cpu_compute"), 1, "x"), fmt(ratio.get("total"), 1, "x"),
        ])
    return rows


SUMMARY_HEADERS = ["variant", "compute ms/frame", "median-cycle ms/frame", "CPU compute ms/frame",
                   "total ms/frame", "total p50", "p95", "p99", "fps", "CPU total ms/frame", "feat/frame",
                   "steps/frame", "windows", "peak RSS MB", "RSS growth MB", "model KiB", "x ours compute",
                   "x ours median-cycle", "x ours CPU compute", "x ours total"]


def _stage_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for run in _ok_runs(report):
        for stage in STAGE_COLUMNS:
            s = run["stages"].get(stage)
            if s is None:
                continue
            rows.append([_label(run), stage, fmt(s["p50_ms"], 3), fmt(s["p95_ms"], 3), fmt(s["p99_ms"], 3),
                         fmt(s["mean_ms"], 3), fmt(s["max_ms"], 3)])
    return rows


STAGE_HEADERS = ["variant", "stage", "p50 ms", "p95 ms", "p99 ms", "mean ms", "max ms"]


def _skipped_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for run in report["runs"]:
        if run.get("status") in ("skipped", "failed"):
            lines.append(f"{run['status']}: {_label(run)}: {run.get('reason')}")
    return lines


def _notes(report: dict[str, Any]) -> list[str]:
    lines = []
    for run in _ok_runs(report):
        for note in run.get("notes", []):
            lines.append(f"{_label(run)}: {note}")
    return lines


def latency_text(report: dict[str, Any]) -> str:
    """The latency report for a terminal."""
    parts = [f"gesture-bench latency ({report.get('wall_s', 0):.1f} s)", *_header_lines(report), "",
             text_table(SUMMARY_HEADERS, _summary_rows(report)), "", text_table(STAGE_HEADERS, _stage_rows(report))]
    extra = _skipped_lines(report) + _notes(report)
    if extra:
        parts += ["", *extra]
    parts += ["", "per-frame cost = " + report["definitions"]["per_frame_compute_ms"]]
    return "\n".join(parts)


def latency_markdown(report: dict[str, Any]) -> str:
    """The latency report as markdown (for docs/BENCHMARKS.md)."""
    parts = ["## gesture-bench latency", "", f"Command: `{report.get('command', '')}`", "",
             *(f"- {line}" for line in _header_lines(report)), "",
             markdown_table(SUMMARY_HEADERS, _summary_rows(report)), "",
             markdown_table(STAGE_HEADERS, _stage_rows(report)), ""]
    extra = _skipped_lines(report) + _notes(report)
    parts += [f"- {line}" for line in extra]
    parts += ["", "Definitions:", ""] + [f"- `{k}`: {v}" for k, v in report["definitions"].items()] + [""]
    return "\n".join(parts)


PLOT_FLOOR_MS = 1e-3
"""Log-scale plots show times below 1 us (a stage with nothing to do on that frame) at 1 us."""


def latency_plot(report: dict[str, Any], path: Path) -> None:
    """Box plots (whiskers p5-p95, triangle = mean) of each stage's per-frame time, one box per variant."""
    plt = import_pyplot()
    runs = _ok_runs(report)
    stages = [s for s in (*COMPUTE_STAGES, "compute", "total")
              if any(s in r.get("samples_ms", {}) for r in runs)]
    columns = 3
    rows = max(1, -(-len(stages) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(stages):]:
        ax.set_visible(False)
    for ax, stage in zip(axes.flat, stages):
        data, labels = [], []
        for run in runs:
            values = run.get("samples_ms", {}).get(stage)
            if values:
                data.append(np.maximum(np.asarray(values, dtype=float), PLOT_FLOOR_MS))
                labels.append(_label(run))
        ax.boxplot(data, whis=(5, 95), showfliers=True, showmeans=True, flierprops={"markersize": 2})
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=30, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(stage)
        ax.set_ylabel("ms per frame")
        ax.grid(axis="y", which="both", alpha=0.3)
    load = report.get("load_average", {}).get("start")
    fig.suptitle(f"gesture-bench latency per frame (whiskers p5-p95, triangle = mean; load {load})")
    fig.tight_layout()
    save_figure(fig, path)


# -- events -----------------------------------------------------------------------------------------------

EVENT_HEADERS = ["gesture", "truth", "hit", "exact", "missed", "doubled", "false", "wrong", "exact rate"]


def _event_rows(summary: dict[str, Any]) -> list[list[str]]:
    rows = []
    for gesture, c in summary["per_gesture"].items():
        rows.append([gesture, fmt(c["truth"]), fmt(c["hit"]), fmt(c["exact"]), fmt(c["missed"]), fmt(c["doubled"]),
                     fmt(c["false"]), fmt(c["wrong"]), fmt(c["exact_rate"], 3)])
    rows.append(["all", fmt(summary["truth_gestures"]), fmt(summary["hit"]), fmt(summary["exact"]),
                 fmt(summary["missed"]), fmt(summary["doubled"]), fmt(summary["false"]), fmt(summary["wrong"]),
                 fmt(summary["exact_rate"], 3)])
    return rows


STREAM_HEADERS = ["stream", "min", "truth", "events", "exact", "missed", "doubled", "false", "edit dist",
                  "lag p50 ms", "x realtime"]


def _stream_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for stream in report["streams"]:
        s = stream["summary"]
        rows.append([stream["name"], fmt(s["footage_min"], 2), fmt(s["truth_gestures"]), fmt(s["events"]),
                     fmt(s["exact"]), fmt(s["missed"]), fmt(s["doubled"]), fmt(s["false"]), fmt(s["edit_distance"]),
                     fmt(s["lag"]["p50_ms"], 0), fmt(stream.get("speed_x_realtime"), 1)])
    return rows


def _events_summary_lines(report: dict[str, Any]) -> list[str]:
    s = report["summary"]
    lag = s["lag"]
    per_hour = s["false_per_hour_background"]
    lines = [
        f"streams: {s['streams']}, {s['footage_min']:.2f} min of footage ({s['background_footage_min']:.2f} min "
        "background-only)",
        f"exactly one correct action: {s['exact']}/{s['truth_gestures']} gestures"
        + (f" ({100 * s['exact_rate']:.1f} %)" if s["exact_rate"] is not None else ""),
        f"Levenshtein distance of action sequences: {s['edit_distance']} over {s['expected_actions']} expected"
        + (f" (normalised {s['edit_distance_normalised']:.3f})" if s["edit_distance_normalised"] is not None else ""),
        f"decision lag (event - gesture end): p50 {fmt(lag['p50_ms'], 0)} ms / {fmt(lag['p50_frames'], 1)} frames, "
        f"p95 {fmt(lag['p95_ms'], 0)} ms / {fmt(lag['p95_frames'], 1)} frames (n={lag['count']})",
        f"false events on background-only footage: {s['background_false']} in {s['background_footage_min']:.2f} min"
        + (f" = {per_hour:.2f} per hour" if per_hour is not None else " (no background-only streams)"),
    ]
    for name, target in report.get("targets", {}).items():
        lines.append(f"target {name}: {target['text']}: {target['verdict']}")
    return lines


def _events_header(report: dict[str, Any]) -> list[str]:
    load = report.get("load_average", {})
    settings = report["settings"]
    return [
        f"bundle: {report['bundle']['path']}; threads {settings['threads']}, hop {settings['hop_frames']}, "
        f"max lag {settings['max_lag_s']:g} s, decision settings: {settings['decision_config']}",
        f"runtime path: {report.get('runtime_path')}",
        f"load average (1/5/15 min): start {load.get('start')}, end {load.get('end')}",
    ]


def events_text(report: dict[str, Any]) -> str:
    """The events report for a terminal."""
    return "\n".join([f"gesture-bench events ({report.get('wall_s', 0):.1f} s)", *_events_header(report), "",
                      *_events_summary_lines(report), "", text_table(EVENT_HEADERS, _event_rows(report["summary"])),
                      "", text_table(STREAM_HEADERS, _stream_rows(report)), "",
                      "matching: " + report["definitions"]["matching"]])


def events_markdown(report: dict[str, Any]) -> str:
    """The events report as markdown."""
    return "\n".join(["## gesture-bench events", "", f"Command: `{report.get('command', '')}`", "",
                      *(f"- {line}" for line in _events_header(report) + _events_summary_lines(report)), "",
                      markdown_table(EVENT_HEADERS, _event_rows(report["summary"])), "",
                      markdown_table(STREAM_HEADERS, _stream_rows(report)), "",
                      "Matching: " + report["definitions"]["matching"], ""])


GESTURE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                   "tab:olive", "tab:cyan")


def events_plot(report: dict[str, Any], path: Path) -> None:
    """Decision-lag histogram and per-gesture outcome bars, then one panel per stream: every gesture's window
    probability over time against the stream's ground truth (shaded), the thresholds and the events."""
    plt = import_pyplot()
    streams = report["streams"]
    fig = plt.figure(figsize=(12, 4 + 2.4 * len(streams)))
    grid = fig.add_gridspec(1 + len(streams), 2, height_ratios=[1.6] + [1.0] * len(streams))
    ax_lag, ax_bar = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    lags = [e["lag_ms"] for s in streams for e in s["events"] if e.get("lag_ms") is not None]
    if lags:
        ax_lag.hist(lags, bins=min(30, max(5, len(lags) // 2)), color="tab:blue", alpha=0.8)
        ax_lag.axvline(float(np.median(lags)), color="black", linestyle="--", label="median")
        ax_lag.legend()
    ax_lag.set_xlabel("decision lag (ms after the gesture's end)")
    ax_lag.set_ylabel("gestures")
    ax_lag.set_title("decision lag of hits")
    per = report["summary"]["per_gesture"]
    names = list(per)
    kinds = ("exact", "missed", "doubled", "false")
    x = np.arange(len(names))
    for k, kind in enumerate(kinds):
        ax_bar.bar(x + (k - 1.5) * 0.2, [per[n][kind] for n in names], width=0.2, label=kind)
    ax_bar.set_xticks(x, names, rotation=20)
    ax_bar.set_title("outcomes per gesture")
    ax_bar.legend()
    labels = report["bundle"]["labels"]
    background = report["bundle"].get("background_label")
    decision = report["settings"].get("decision", {})
    colours = {label: GESTURE_COLOURS[i % len(GESTURE_COLOURS)]
               for i, label in enumerate(lb for lb in labels if lb != background)}
    for row, stream in enumerate(streams, start=1):
        _stream_panel(fig.add_subplot(grid[row, :]), stream, labels, colours, decision)
    fig.tight_layout()
    save_figure(fig, path)


def _stream_panel(ax: Any, stream: dict[str, Any], labels: list[str], colours: dict[str, str],
                  decision: dict[str, Any]) -> None:
    """One stream: gesture probabilities per window, truth intervals, thresholds, events (o hit, x not)."""
    for truth in stream["truth_events"]:
        ax.axvspan(truth["start_s"], truth["end_s"], color=colours.get(truth["gesture"], "0.5"), alpha=0.18,
                   linewidth=0)
    windows = stream.get("windows")
    if windows and windows["t_s"]:
        t_s, probs = np.asarray(windows["t_s"]), np.asarray(windows["probs"])
        for i, label in enumerate(labels):
            if label in colours:
                ax.plot(t_s, probs[:, i], color=colours[label], linewidth=0.9, label=label)
    else:
        ax.text(0.5, 0.5, "no window recorded", transform=ax.transAxes, ha="center", va="center")
    for label, colour in colours.items():
        threshold = decision.get("thresholds", {}).get(label, decision.get("threshold"))
        if threshold is not None:
            ax.axhline(threshold, color=colour, linestyle=":", linewidth=0.8)
    for event in stream["events"]:
        hit = event.get("lag_ms") is not None
        ax.plot(event["t_s"], event["confidence"] if event.get("confidence") is not None else 1.0,
                "o" if hit else "x", color=colours.get(event["gesture"], "black"), markersize=7,
                markerfacecolor="none" if hit else None, markeredgewidth=1.5)
    s = stream["summary"]
    ax.set_title(f"{stream['name']}: {s['exact']}/{s['truth_gestures']} exact, {s['false']} false "
                 "(shaded: truth; o: hit, x: false or doubled; dotted: thresholds)", fontsize=9)
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0, stream["duration_s"])
    ax.set_xlabel("stream time (s): window end")
    ax.set_ylabel("probability")
    ax.legend(fontsize=7, loc="upper right", ncol=len(colours))
    ax.grid(alpha=0.3)


# -- rss --------------------------------------------------------------------------------------------------

def _rss_lines(report: dict[str, Any]) -> list[str]:
    heavy = report.get("heavy_modules")
    return [
        f"command: {report['child_command']}",
        f"exit status: {report['returncode']}; wall {report['wall_s']:.1f} s; "
        f"load average {report.get('load_average')}",
        f"peak RSS of the child: {report['peak_rss_mb']:.1f} MiB (own VmHWM {fmt(report['vm_hwm_mb'], 1)} MiB; "
        f"os.wait4 ru_maxrss {report['wait4_ru_maxrss_mb']:.1f} MiB, which includes this parent's "
        f"{report['parent_peak_rss_mb_at_start']:.1f} MiB inherited high-water mark)",
        "TensorFlow/Keras/convert/mediapipe imported by the child: "
        + ("unknown" if heavy is None else ("none" if not heavy else ", ".join(heavy))),
        f"target: peak <= {report['target_mb']:g} MiB without TensorFlow: {report['verdict']}",
        *(["child stderr (last lines): " + " | ".join(report["stderr_tail"])] if report["returncode"] else []),
    ]


def rss_text(report: dict[str, Any]) -> str:
    """The rss report for a terminal."""
    return "\n".join(["gesture-bench rss", *_rss_lines(report)])


def rss_markdown(report: dict[str, Any]) -> str:
    """The rss report as markdown."""
    return "\n".join(["## gesture-bench rss", "", f"Command: `{report.get('command', '')}`", "",
                      *(f"- {line}" for line in _rss_lines(report)), ""])
