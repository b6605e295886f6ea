"""gesture-bench events: the full runtime over streams with ground truth, scored event by event.

Each stream goes through the same pieces the app's frame loop uses: `edge.sources.open_source` (decode,
pace to the model's frame rate, resize, RGB) -> `StreamingClassifier` (int8 bundle) -> `DecisionMaker` with
the bundle's actions (or a config file's) -> emitted events, which `edge.metrics.score_stream` matches to
`NAME.truth.json` (the matching rules are in `edge.metrics`). No sink runs: the actions are scored, not sent.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.bench_latency import BenchError, decision_config
from edge.bench_report import Progress, load_average, machine_info
from edge.metrics import DEFAULT_MAX_LAG_S, StreamScore, Truth, TruthError, load_truth, score_stream

logger = logging.getLogger(__name__)

TARGET_EXACT_RATE = 0.95
TARGET_LAG_P50_MS = 500.0
TARGET_FALSE_PER_HOUR = 1.0
TARGET_BACKGROUND_MIN = 10.0
RUNTIME_PATH = "edge.sources.open_source -> edge.stream.StreamingClassifier -> edge.decision.DecisionMaker"


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


def stream_events(bundle: Any, stream: Path, decision: Any, actions: dict[str, str], hop_frames: int,
                  progress: bool, total_frames: int) -> tuple[list[Any], int]:
    """Run one stream through source -> StreamingClassifier -> DecisionMaker; the events and frame count."""
    from edge.decision import DecisionMaker
    from edge.sources import open_source
    from edge.stream import StreamingClassifier

    manifest = bundle.manifest
    classifier = StreamingClassifier(bundle, hop_frames=hop_frames)
    maker = DecisionMaker(manifest.labels, actions, decision, manifest.background_label)
    source = open_source(str(stream), bundle.input_size_hw, manifest.model_fps, realtime=False)
    bar = Progress(total_frames, stream.name, enabled=progress)
    events: list[Any] = []
    frames = 0
    try:
        while True:
            frame = source.read()
            if frame is None:
                break
            frames += 1
            for window in classifier.push(frame.rgb, frame.t_s):
                events.extend(maker.update(window.probs, window.end_t_s))
            bar.update()
    finally:
        bar.close()
        close = getattr(source, "close", None)
        if callable(close):
            close()
    return events, frames


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


def run_events(settings: EventsSettings) -> dict[str, Any]:
    """The whole events benchmark; returns the JSON-ready report."""
    from edge.bundle import BundleError, load_bundle

    truths = read_truths(settings.streams)
    try:
        import edge.decision  # noqa: F401
        import edge.sources  # noqa: F401
    except ImportError as exc:
        raise BenchError(f"the runtime is incomplete here ({exc}): gesture-bench events needs edge.sources "
                         "and edge.decision") from None
    try:
        bundle = load_bundle(settings.bundle, backend=settings.backend, num_threads=settings.threads)
    except BundleError as exc:
        raise BenchError(str(exc)) from None
    manifest = bundle.manifest
    if not 1 <= settings.hop_frames <= manifest.frames_per_clip:
        raise BenchError(f"--hop {settings.hop_frames}: expected 1..{manifest.frames_per_clip} (frames per clip)")
    decision_raw, actions, config_source = decision_config(settings.config, manifest)
    from edge.settings import DecisionSettings

    decision = DecisionSettings(**{**decision_raw, "thresholds": dict(decision_raw["thresholds"]),
                                   "repeat_gestures": tuple(decision_raw["repeat_gestures"])})
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
            logger.info("[%d/%d] %s", number, len(truths), path)
        t0 = time.perf_counter()
        events, frames = stream_events(bundle, path, decision, actions, settings.hop_frames, settings.progress,
                                       total_frames=max(1, round(truth.duration_s * manifest.model_fps)))
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
    summary = total.summary(manifest.model_fps)
    return {
        "tool": "gesture-bench events",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "bundle": {"path": str(settings.bundle), "labels": list(manifest.labels),
                   "frames_per_clip": manifest.frames_per_clip, "model_fps": manifest.model_fps,
                   "backend": f"{bundle.backend.name} {bundle.backend.version}"},
        "settings": {"threads": settings.threads, "hop_frames": settings.hop_frames, "max_lag_s": settings.max_lag_s,
                     "decision_config": config_source, "decision": decision_raw, "actions": actions},
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
