"""gesture-bench events: the full runtime over streams with ground truth, scored event by event.

Each stream runs through `edge.app.App`, the frame loop of `gesture-edge run` itself: `edge.sources.open_source`
(decode, pace to the model's frame rate, resize, RGB) -> the int8 feature model once per frame ->
`StreamingClassifier` -> `DecisionMaker` with the bundle's actions (or a config file's decision settings and
actions), including the loop's reset on time gaps. No sink runs: the emitted events are scored, not sent,
by `edge.metrics.score_stream` against `NAME.truth.json` (the matching rules are in `edge.metrics`).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.bench import BenchError
from edge.bench.output import load_average, machine_info
from edge.errors import one_line
from edge.metrics import DEFAULT_MAX_LAG_S, StreamScore, Truth, TruthError, load_truth, score_stream
from edge.taps import WindowRecorder

logger = logging.getLogger(__name__)

TARGET_EXACT_RATE = 0.95
TARGET_LAG_P50_MS = 500.0
TARGET_FALSE_PER_HOUR = 1.0
TARGET_BACKGROUND_MIN = 10.0
RUNTIME_PATH = ("edge.app.App, the frame loop of gesture-edge run (open_source -> features -> StreamingClassifier "
                "-> DecisionMaker), without sinks")


@dataclass(frozen=True)
class EventsSettings:
    """Everything `gesture-bench events` was asked to do."""

    bundle: Path
    streams: tuple[Path, ...]
    """Video files, each with NAME.truth.json beside it."""
    threads: int = 2
    hop_frames: int = 2
    backend: str = "auto"
    config: Path | None = None
    """gesture-edge config file: decision settings and action overrides."""
    max_lag_s: float = DEFAULT_MAX_LAG_S
    progress: bool = True
    keep_windows: bool = False
    """Keep every window's end time and probabilities in the report (streams[i]["windows"], for --plot)."""
    precision: str = "int8"
    """int8: the bundle's integer models; float: its float/ references (int8-vs-float event comparisons)."""


def read_truths(streams: tuple[Path, ...]) -> list[Truth]:
    """Every stream's ground truth, checked before anything runs (one-line BenchError otherwise)."""
    truths = []
    for stream in streams:
        if not stream.is_file():
            raise BenchError(f"{stream}: stream not found")
        try:
            truths.append(load_truth(stream))
        except TruthError as exc:
            raise BenchError(str(exc)) from None
    return truths


def stream_events(config: Any, stream: Path, taps: Sequence[Any] = ()) -> tuple[list[Any], int]:
    """Run `gesture-edge run`'s frame loop (`edge.app.App`) over one stream, without sinks.

    Returns the events it emitted and the model frames it processed; `taps` see every frame (edge.taps).
    """
    from edge.app import App

    runtime = dataclasses.replace(config.runtime, source=str(stream), realtime=False)
    app = App(dataclasses.replace(config, runtime=runtime), source=None, sinks=[], clock=time.monotonic,
              notifier=None, reload_config=None, source_options=None, max_frames=None, taps=taps)
    app.run()
    return list(app.events), app.frames


def _event_record(event: Any, lag_by_t: dict[float, float]) -> dict[str, Any]:
    t_s = float(event.t_s)
    record = {"gesture": event.gesture, "action": event.action, "t_s": round(t_s, 4),
              "confidence": _maybe_float(getattr(event, "confidence", None)),
              "repeat": int(getattr(event, "repeat", 0) or 0)}
    if t_s in lag_by_t:
        record["lag_ms"] = round(lag_by_t[t_s] * 1000.0, 1)
    return record


def _maybe_float(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def targets(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The demo model's event targets, each with its figure and a verdict."""
    exact = summary["exact_rate"]
    lag = summary["lag"]["p50_ms"]
    per_hour = summary["false_per_hour_background"]
    minutes = summary["background_footage_min"]
    if per_hour is None or minutes < TARGET_BACKGROUND_MIN:
        false_verdict = f"not assessed: {minutes:.1f} min of background-only footage (< {TARGET_BACKGROUND_MIN:g} min)"
    else:
        false_verdict = "met" if per_hour <= TARGET_FALSE_PER_HOUR else "MISSED"
    return {
        "exact_rate": {"text": f">= {TARGET_EXACT_RATE:.0%} of gestures give exactly one correct action",
                       "value": exact, "verdict": "-" if exact is None else ("met" if exact >= TARGET_EXACT_RATE
                                                                              else "MISSED")},
        "lag_p50": {"text": f"median decision lag <= {TARGET_LAG_P50_MS:g} ms", "value": lag,
                    "verdict": "-" if lag is None else ("met" if lag <= TARGET_LAG_P50_MS else "MISSED")},
        "false_per_hour": {"text": f"<= {TARGET_FALSE_PER_HOUR:g} false action per hour of background footage "
                                   f"(on >= {TARGET_BACKGROUND_MIN:g} min)", "value": per_hour,
                           "verdict": false_verdict},
    }


def decision_source(config: Path | None, bundle_block: Any) -> str:
    """Where the decision settings come from, in words (resolution: edge.settings.resolve_decision)."""
    if bundle_block:
        return "the bundle's decision block" + (f", the keys {config} sets over it" if config else "")
    return str(config) if config else "built-in defaults"


def runtime_config(settings: EventsSettings) -> Any:
    """The app's Config: the --config file's (decision settings, actions) or the defaults, with the
    benchmark's bundle, backend, threads and hop."""
    from edge.settings import Config

    config = Config()
    if settings.config is not None:
        from edge.config import ConfigError, load_config

        try:
            config = load_config(settings.config)
        except ConfigError as exc:
            raise BenchError(str(exc)) from None
    runtime = dataclasses.replace(config.runtime, bundle=str(settings.bundle), backend=settings.backend,
                                  num_threads=settings.threads, hop_frames=settings.hop_frames, realtime=False,
                                  precision=settings.precision)
    return dataclasses.replace(config, runtime=runtime)


def run_events(settings: EventsSettings) -> dict[str, Any]:
    """The whole events benchmark; returns the JSON-ready report."""
    from edge.bundle import BundleError, load_bundle

    truths = read_truths(settings.streams)
    config = runtime_config(settings)
    try:
        bundle = load_bundle(settings.bundle, backend=settings.backend, num_threads=settings.threads,
                             precision=settings.precision)
    except BundleError as exc:
        raise BenchError(str(exc)) from None
    manifest = bundle.manifest
    if not 1 <= settings.hop_frames <= manifest.frames_per_clip:
        raise BenchError(f"--hop {settings.hop_frames}: expected 1..{manifest.frames_per_clip} (frames per clip)")
    from edge.decision import merged_actions
    from edge.settings import resolve_decision

    actions = merged_actions(manifest.actions, config.actions)
    for truth in truths:
        unknown = sorted({e.gesture for e in truth.events} - set(manifest.gesture_labels))
        if unknown:
            raise BenchError(f"{truth.path}: gesture(s) {', '.join(unknown)} are not gestures of the model "
                             f"({', '.join(manifest.gesture_labels)})")
    load_start = load_average()
    started = time.perf_counter()
    total = StreamScore()
    streams = []
    for number, (path, truth) in enumerate(zip(settings.streams, truths), start=1):
        if settings.progress:
            print(f"[{number}/{len(truths)}] {path} ({truth.duration_s:.0f} s)", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        recorder = WindowRecorder()
        try:
            events, frames = stream_events(config, path, [recorder] if settings.keep_windows else [])
        except Exception as exc:  # noqa: BLE001 - the app's one-line errors (source, bundle, config)
            raise BenchError(f"{path}: the runtime failed: {one_line(exc)}") from None
        wall_s = time.perf_counter() - t0
        score = score_stream(truth, events, actions, settings.max_lag_s)
        total.add(score)
        lag_by_t = {h.event_t_s: h.lag_s for h in score.hits}
        streams.append({
            "name": path.name, "path": str(path), "truth": truth.path, "duration_s": truth.duration_s,
            "background_only": truth.background_only, "model_frames": frames, "wall_s": wall_s,
            "speed_x_realtime": truth.duration_s / wall_s if wall_s > 0 else None,
            "summary": score.summary(manifest.model_fps),
            "truth_events": [dataclasses.asdict(e) for e in truth.events],
            "events": [_event_record(e, lag_by_t) for e in sorted(events, key=lambda e: float(e.t_s))],
        })
        if settings.keep_windows:
            t_s, probs = recorder.arrays()
            streams[-1]["windows"] = {"t_s": np.round(t_s, 4).tolist(), "probs": np.round(probs, 4).tolist()}
    summary = total.summary(manifest.model_fps)
    return {
        "tool": "gesture-bench events",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "bundle": {"path": str(settings.bundle), "labels": list(manifest.labels),
                   "background_label": manifest.background_label,
                   "frames_per_clip": manifest.frames_per_clip, "model_fps": manifest.model_fps,
                   "backend": f"{bundle.backend.name} {bundle.backend.version}"},
        "settings": {"precision": settings.precision, "threads": settings.threads,
                     "hop_frames": settings.hop_frames, "max_lag_s": settings.max_lag_s,
                     "decision_config": decision_source(settings.config, manifest.decision),
                     "decision": dataclasses.asdict(resolve_decision(config, manifest.decision)),
                     "actions": actions},
        "runtime_path": RUNTIME_PATH,
        "definitions": {
            "matching": (f"an event belongs to a truth gesture when its t_s is in [start_s, end_s + "
                         f"{settings.max_lag_s:g} s]; the first event of the right gesture is a hit, more of the "
                         "same gesture there are doubled, another gesture there is false and wrong, an event in no "
                         "interval is false; a gesture without a hit is missed; exact = hit with no doubled or "
                         "wrong event; auto-repeats (repeat > 0) are counted apart; lag = event t_s - end_s"),
            "lag_frames": f"lag in model frames at {manifest.model_fps:g} fps",
        },
        "summary": summary,
        "targets": targets(summary),
        "streams": streams,
        "load_average": {"start": load_start, "end": load_average()},
        "wall_s": time.perf_counter() - started,
    }
