"""gesture-bench latency: per-stage and per-frame cost of five ways to run gesture recognition, and the floor.

The source is decoded ONCE into memory at the model size, paced to the model's frame rate the way a camera
would be (capture/decode and preprocess are timed once, there); then every variant gets exactly the same
frames and timestamps with the same thread count:

  floor      the floor of our design: one int8 feature call + one step call of batch ceil(T/hop) per frame,
             tensors set and read through the same adapter and nothing else (no requantization, no state
             bookkeeping, no decisions): what `ours` would cost with zero overhead
  ours       int8 features once per frame + staggered int8 recurrent states in one batch (StreamingClassifier)
  float      the same streaming design on the bundle's float32 TFLite references (float/)
  window     the naive window: at every decision, the int8 feature model on the last T frames and T steps
             from zero state (what converting the whole clip model gives), decisions every hop frames
  keras      the reference design's way: the Keras float clip model on the last T frames, every hop frames:
             the model the bundle was converted from (its path and sha256 are in the manifest) or
             --keras-model, refused when its classes are not the bundle's labels. TensorFlow is imported inside
             that variant only, and only when it is requested and installed; --smoke leaves it out unless
             --variants asks for it (TensorFlow's start-up alone takes longer than every other variant)
  mediapipe  a peer: MediaPipe Hands (the hand-landmark stage of MediaPipe's Gesture Recognizer) per frame,
             only when the `mediapipe` package is installed (imported inside that variant only)

Every decision goes through the real `DecisionMaker` and every event through the real `Dispatcher` to a
`LogSink` writing to the null device (the dispatch stage is the frame loop's `submit` call).

Stages are the app's (`edge.app.STAGES`): capture, preprocess, features, steps, decision, dispatch.
Per-frame cost: for every measured frame (after --warmup), the time of that frame's work in each stage.
The window variants do their work only on decision frames (every hop frames) and nothing in between, so
their per-frame distribution is bimodal; *per-frame cost* is the mean over all measured frames (total time
/ frames), i.e. the per-decision cost divided by hop. Ratios compare that mean against `ours`, by wall clock
and by CPU time (`time.process_time`: not inflated while other processes hold the CPU). Against the design:
`ours` over `floor` (its overhead), and `window` over `ours` against its limit T/hop (what the ratio would be
if steps cost nothing: T feature passes per hop frames against one per frame).

By default each variant runs in its own subprocess (`python -m edge.bench.latency JOB RESULT`), so its peak
RSS is its own and TensorFlow's thread settings apply; --no-isolate runs all in this process (peak RSS is
then the process's peak so far, noted in the output).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.bench import BenchError
from edge.bench.output import Progress, load_average, machine_info, memory_mb, stats_ms
from edge.errors import one_line

logger = logging.getLogger(__name__)

VARIANTS = ("floor", "ours", "float", "window", "keras", "mediapipe")
VARIANT_TITLES = {
    "floor": "the design's floor: one int8 feature call + one batched step call per frame, nothing else",
    "ours": "int8 streaming (features once/frame + staggered int8 states, one batched step call)",
    "float": "float32 TFLite streaming (same design, float/ models)",
    "window": "naive window (int8: T feature passes + T steps per decision)",
    "keras": "Keras float clip model per window (reference design)",
    "mediapipe": "MediaPipe Hands per frame (peer, hand landmarks only)",
}
STAGES = ("capture", "preprocess", "features", "steps", "decision", "dispatch")
"""The app's stages (`edge.app.STAGES`, tested equal; not imported from there: a worker under --peer-python
has numpy and mediapipe, not the runtime's dependencies)."""
COMPUTE_STAGES = STAGES[2:]
"""The stages the variants differ in; capture and preprocess are shared (timed once at decode)."""
STAGE_NOTES = {
    "keras": "features = the whole Keras clip model (MobileNet + LSTM) per decision; steps are inside it",
    "mediapipe": "features = Hands.process (palm detection when not tracking + hand landmarks); no gesture "
                 "classifier, decision or dispatch: a lower bound for a landmark-based recogniser",
}
MEDIAPIPE_VERSION = "0.10.18"
"""The [peer] pin: its wheels (cp311 x86_64 and aarch64) ship the hand models under mediapipe/modules/."""
SYNTHETIC_SIZE_HW = (240, 320)
"""Native size of --synthetic frames (a small camera frame), so preprocess has real work to do."""
DEFAULT_STREAM = Path("demo", "streams", "demo.mp4")
"""--source default, relative to the working directory (a checkout's demo stream when run from its root)."""
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
"""The folder holding this `edge` package: put on a worker's PYTHONPATH, so an interpreter without it
installed (--peer-python) runs this very code."""
SMOKE_LEFT_OUT = ("keras",)
"""Variants --smoke leaves out unless --variants names them: TensorFlow's start-up and the clip model's first
call take ~20 s, the other variants together a few seconds."""


@dataclass(frozen=True)
class LatencySettings:
    """Everything `gesture-bench latency` was asked to do."""

    bundle: Path
    """Bundle folder made by gesture-convert."""
    source: str | None = None
    """Video file or folder of frames; None: DEFAULT_STREAM in the working directory (or synthetic frames
    without one)."""
    synthetic: bool = False
    """Deterministic random frames instead of a video (no capture/decode stage)."""
    frames: int = 200
    """Measured frames per variant (after warm-up)."""
    warmup: int | None = None
    """Frames run before measuring; None: frames_per_clip (the streaming states are all live by then)."""
    threads: tuple[int, ...] = (1,)
    variants: tuple[str, ...] | None = None
    """Variants to run; None: every one (with --smoke, every one but SMOKE_LEFT_OUT)."""
    keras_model: Path | None = None
    """Keras clip model for the keras variant; None: the one the bundle was converted from (manifest
    source_model)."""
    hop_frames: int = 2
    backend: str = "auto"
    isolate: bool = True
    """Run each variant in its own subprocess (honest peak RSS, TensorFlow thread settings)."""
    peer_python: str | None = None
    """Python interpreter (e.g. a separate venv's) that runs the mediapipe variant."""
    config: Path | None = None
    """gesture-edge config file: decision settings and action overrides (default: built-in defaults)."""
    smoke: bool = False
    progress: bool = True


# -- frames ------------------------------------------------------------------------------------------------

@dataclass
class DecodedFrames:
    """Model-sized RGB frames held in memory, with the shared stages' per-frame timings."""

    frames: np.ndarray
    """(N, H, W, 3) uint8 RGB."""
    t_s: np.ndarray
    """(N,) seconds from the first frame, in the source's time base."""
    capture_ms: np.ndarray | None
    """Per model frame: source.read() minus its resize/convert, i.e. decoding, including the source frames
    skipped to pace it (None for synthetic frames)."""
    preprocess_ms: np.ndarray
    """Per model frame: resize to the model size (INTER_AREA) + BGR -> RGB."""
    cpu_s: np.ndarray
    """Per model frame: process CPU seconds of capture + preprocess."""
    info: dict[str, Any]


def resolve_source(settings: LatencySettings) -> str | None:
    """The source spec to decode (anything `edge.sources.open_source` takes), or None for synthetic frames."""
    if settings.synthetic:
        return None
    if settings.source is None:
        if DEFAULT_STREAM.is_file():
            return str(DEFAULT_STREAM)
        logger.warning("no --source and no %s in the working directory %s: using --synthetic frames",
                       DEFAULT_STREAM, Path.cwd())
        return None
    spec = settings.source
    looks_like_path = not (spec == "picamera2" or spec.startswith("cam:") or spec.startswith("/dev/video"))
    if looks_like_path and not Path(spec).expanduser().exists():
        raise BenchError(f"--source {spec}: not found (expected a video file, a folder of images, "
                         "picamera2, cam:N or /dev/videoN)")
    return spec


def decode_frames(source: str | os.PathLike[str] | None, size_hw: tuple[int, int], model_fps: float, count: int,
                  progress: bool = True) -> DecodedFrames:
    """Read `count` model frames once through the app's own source (`edge.sources.open_source`: decode,
    pace to model_fps, resize, RGB; a file shorter than that plays again from its start), timing capture and
    preprocess per frame. None: deterministic random frames (no capture stage)."""
    from edge.sources import Resizer, SourceError, SourceOptions, open_source

    frames = np.empty((count, *size_hw, 3), dtype=np.uint8)
    t_s = np.zeros(count)
    capture_ms = np.zeros(count)
    preprocess_ms = np.zeros(count)
    cpu_s = np.zeros(count)
    bar = Progress(count, "decode", enabled=progress)
    if source is None:
        import cv2

        rng = np.random.default_rng(0)
        resize = Resizer(size_hw, bgr=True)
        # Smooth random shapes plus noise: deterministic, and not trivially compressible.
        base = rng.integers(0, 256, size=(count, 30, 40, 3), dtype=np.uint8)
        for i in range(count):
            bgr = cv2.resize(base[i], SYNTHETIC_SIZE_HW[::-1], interpolation=cv2.INTER_LINEAR)
            bgr = cv2.add(bgr, rng.integers(0, 24, size=bgr.shape, dtype=np.uint8))
            cpu0, t0 = time.process_time(), time.perf_counter()
            frames[i] = resize(bgr)
            preprocess_ms[i] = (time.perf_counter() - t0) * 1000.0
            cpu_s[i] = time.process_time() - cpu0
            bar.update()
        bar.close()
        info: dict[str, Any] = {"kind": "synthetic", "path": None, "native_size_hw": list(SYNTHETIC_SIZE_HW),
                                "model_frames": count}
        return DecodedFrames(frames, np.arange(count) / model_fps, None, preprocess_ms, cpu_s, info)
    try:
        reader = open_source(str(source), size_hw, model_fps, realtime=False, options=SourceOptions(loop=True))
    except SourceError as exc:
        raise BenchError(str(exc)) from None
    try:
        for i in range(count):
            cpu0, t0 = time.process_time(), time.perf_counter()
            frame = reader.read()
            read_ms = (time.perf_counter() - t0) * 1000.0
            cpu_s[i] = time.process_time() - cpu0
            if frame is None:
                raise BenchError(f"{source}: ended after {i} model frames (expected {count})")
            frames[i] = frame.rgb
            t_s[i] = frame.t_s
            preprocess_ms[i] = frame.preprocess_ms
            # What the app's frame loop calls capture: read() minus resizing and realtime waiting.
            capture_ms[i] = max(read_ms - frame.preprocess_ms - frame.wait_ms, 0.0)
            bar.update()
    finally:
        bar.close()
        reader.close()
    info = {"kind": "camera" if getattr(reader, "live", False) else ("folder" if Path(str(source)).is_dir()
                                                                      else "video"),
            "path": str(source), "name": reader.name, "model_frames": count,
            "source_frames_read": count + int(getattr(reader, "dropped", 0)),
            "source_fps": getattr(reader, "file_fps", None), "duration_covered_s": float(t_s[-1] - t_s[0])}
    return DecodedFrames(frames, t_s - t_s[0], capture_ms, preprocess_ms, cpu_s, info)


# -- availability ------------------------------------------------------------------------------------------

def planned_variants(settings: LatencySettings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the variants to run, those --smoke leaves out): --variants as given, else every variant."""
    if settings.variants is not None:
        return settings.variants, ()
    if settings.smoke:
        return tuple(v for v in VARIANTS if v not in SMOKE_LEFT_OUT), SMOKE_LEFT_OUT
    return VARIANTS, ()


def variant_unavailable(variant: str, settings: LatencySettings, manifest: Any,
                        keras_model: KerasModel | str | None = None) -> str | None:
    """Why a variant cannot run here (None when it can). Never imports the heavy packages.

    `keras_model`: what `resolve_keras_model` gave (a reason string when there is no model to run)."""
    if variant == "float":
        if manifest.float_features is None or manifest.float_step is None:
            return "the bundle has no float/ reference models (manifest float_features/float_step missing)"
    if variant == "keras":
        if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
            return "TensorFlow/Keras not installed (pip install 'gesture-edge[convert]')"
        if not isinstance(keras_model, KerasModel):
            return keras_model or "no Keras clip model: pass --keras-model PATH"
    if variant == "mediapipe":
        if settings.peer_python:
            try:
                probe = subprocess.run([settings.peer_python, "-c", "import mediapipe"], capture_output=True,
                                       text=True, timeout=120)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"--peer-python {settings.peer_python}: cannot run ({exc})"
            if probe.returncode != 0:
                return f"mediapipe not importable by --peer-python {settings.peer_python}"
        elif importlib.util.find_spec("mediapipe") is None:
            return f"mediapipe not installed (pip install 'gesture-edge[peer]', i.e. mediapipe=={MEDIAPIPE_VERSION})"
    return None


@dataclass(frozen=True)
class KerasModel:
    """The Keras clip model the keras variant runs, and how it compares with the one the bundle records."""

    path: Path
    origin: str
    """Where the path came from, for messages: '--keras-model' or the manifest's field."""
    sha256: str
    recorded_sha256: str | None
    """The sha256 gesture-convert recorded for the bundle's source model (None: the bundle records none)."""

    @property
    def is_source_model(self) -> bool:
        """The very file the bundle was converted from (same sha256)."""
        return self.recorded_sha256 is not None and self.sha256 == self.recorded_sha256

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "origin": self.origin, "sha256": self.sha256,
                "recorded_sha256": self.recorded_sha256, "is_source_model": self.is_source_model}


KERAS_LABELS_NAME = "labels.json"
"""What gesture-train writes beside model.keras (the class names in output order); gesture-convert reads it."""
_SHAPE_KEEPING_LAYERS = ("Activation", "Softmax", "Dropout")


def keras_model_classes(path: Path) -> tuple[tuple[str, ...] | None, int | None]:
    """What can be told of a Keras clip model's classes without TensorFlow: the class names of the labels.json
    beside it (None when there is none) and the width of its output layer from a .keras archive's config
    (None when it cannot be read that way, e.g. a legacy .h5: the worker checks the loaded model)."""
    names = None
    labels_path = path.parent / KERAS_LABELS_NAME
    if labels_path.is_file():
        from edge.readfile import MIB, ReadRefused, read_small_text

        try:
            data = json.loads(read_small_text(labels_path, MIB))
        except (ReadRefused, json.JSONDecodeError) as exc:
            raise BenchError(f"{labels_path}: cannot read the Keras model's class names ({one_line(exc)})") from None
        listed = data.get("labels") if isinstance(data, dict) else data
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise BenchError(f'{labels_path}: expected {{"labels": [class names...]}} or a list of class names')
        names = tuple(n.strip() for n in listed)
    return names, _keras_output_width(path)


def _keras_output_width(path: Path) -> int | None:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))["config"]
        layers = config["layers"]
        outputs = config.get("output_layers")
        if outputs:  # a functional model: [[name, node, tensor], ...]
            if len(outputs) != 1:
                return None
            named = [layer for layer in layers if layer.get("name", layer["config"].get("name")) == outputs[0][0]]
            layers = named[:1]
        for layer in reversed(layers):  # Sequential: the last layer that sets the width
            if layer.get("class_name") not in _SHAPE_KEEPING_LAYERS:
                units = layer.get("config", {}).get("units")
                return units if isinstance(units, int) else None
    except (OSError, zipfile.BadZipFile, KeyError, IndexError, TypeError, AttributeError, ValueError):
        return None
    return None


def resolve_keras_model(settings: LatencySettings, manifest: Any) -> KerasModel | str:
    """The keras variant's model: --keras-model, else the bundle's source model (manifest source_model); a
    string says why there is none. Refuses (BenchError) a --keras-model that is missing and a model whose
    classes are not the bundle's labels; warns when its sha256 is not the one gesture-convert recorded."""
    from edge.manifest import sha256_file

    recorded = manifest.source_model_sha256
    if settings.keras_model is not None:
        path, origin = settings.keras_model, "--keras-model"
        if not path.is_file():
            raise BenchError(f"--keras-model {path}: not found (expected the Keras clip model the bundle was "
                             "converted from)")
    elif manifest.source_model is None:
        return ("the bundle records no source model (converted before gesture-convert recorded it): "
                "pass --keras-model PATH")
    else:
        path, origin = Path(manifest.source_model), "the bundle's source model (manifest source_model)"
        if not path.is_file():
            return f"{origin} {path} is not here: pass --keras-model PATH"
    model = KerasModel(path, origin, sha256_file(path), recorded)
    labels = tuple(manifest.labels)
    names, width = keras_model_classes(path)
    if width is not None and width != len(labels):
        raise BenchError(f"{origin} {path}: it outputs {width} classes, the bundle has {len(labels)} labels "
                         f"({', '.join(labels)})")
    if names is not None and names != labels and not model.is_source_model:
        raise BenchError(f"{origin} {path}: its classes ({', '.join(names)}, from {KERAS_LABELS_NAME} beside it) "
                         f"are not the bundle's labels ({', '.join(labels)})")
    if recorded is not None and not model.is_source_model:
        logger.warning("%s %s: sha256 %s... is not the %s... gesture-convert recorded for the bundle's source "
                       "model: the keras figures are not of the model the bundle was converted from",
                       origin, path, model.sha256[:12], recorded[:12])
    return model


# -- one variant (runs in a worker process or in this one) ------------------------------------------------

class _NullDispatch:
    """The real Dispatcher, started, with one LogSink writing to the null device."""

    def __init__(self) -> None:
        from edge.sinks.dispatch import Dispatcher
        from edge.sinks.log import LogSink

        self.null = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.dispatcher = Dispatcher([LogSink(stream=self.null)])
        self.dispatcher.start()

    def close(self) -> dict[str, Any]:
        """Drain, stop the worker, return the sink counters."""
        self.dispatcher.close(timeout_s=2.0)
        stats = self.dispatcher.stats()
        self.null.close()
        return stats


def _decision_pieces(job: dict[str, Any]) -> tuple[Any, _NullDispatch]:
    """The real DecisionMaker and a started dispatch."""
    from edge.decision import DecisionMaker
    from edge.settings import DecisionSettings

    raw = dict(job["decision"])
    raw["thresholds"] = dict(raw.get("thresholds", {}))
    raw["repeat_gestures"] = tuple(raw.get("repeat_gestures", ()))
    maker = DecisionMaker(tuple(job["labels"]), dict(job["actions"]), DecisionSettings(**raw),
                          job["background_label"])
    return maker, _NullDispatch()


class _Timer:
    """Per-frame stage clocks: add(stage, seconds) accumulates into the current frame's slot."""

    def __init__(self, frames: int, stages: Sequence[str]) -> None:
        self.ms = {stage: np.zeros(frames) for stage in stages}
        self.row = -1

    def add(self, stage: str, seconds: float) -> None:
        if self.row >= 0:
            self.ms[stage][self.row] += seconds * 1000.0


def _decide_and_dispatch(maker: Any, dispatch: _NullDispatch, timer: _Timer, probs: np.ndarray, t_s: float,
                         counts: dict[str, int]) -> None:
    counts["windows"] += 1
    t0 = time.perf_counter()
    events = maker.update(probs, t_s)
    t1 = time.perf_counter()
    timer.add("decision", t1 - t0)
    counts["decisions"] += 1
    submit = dispatch.dispatcher.submit
    for event in events:
        submit(event)
        counts["events"] += 1
    timer.add("dispatch", time.perf_counter() - t1)


def run_job(job: dict[str, Any], frames: np.ndarray, t_s: np.ndarray, progress: bool = True) -> dict[str, Any]:
    """Run one variant over all frames; measure the frames after job['warmup']."""
    variant = job["variant"]
    result: dict[str, Any] = {"variant": variant, "threads": job["threads"], "status": "ok", "notes": []}
    warmup = int(job["warmup"])
    measured = len(frames) - warmup
    memory = memory_mb()
    t0 = time.perf_counter()
    runner = _RUNNERS[variant]
    try:
        state = runner.setup(job, result)
    except Exception as exc:  # noqa: BLE001 - reported as the variant's failure, the others still run
        return {**result, "status": "failed", "reason": one_line(exc, with_type=True)}
    result["setup_s"] = time.perf_counter() - t0
    result["rss_mb"] = {"baseline": memory["rss"], "after_setup": memory_mb()["rss"], "source": memory["source"]}
    timer = _Timer(measured, [s for s in COMPUTE_STAGES if s in runner.stages])
    counts = {"windows": 0, "decisions": 0, "events": 0}
    snapshot: dict[str, int] = {}
    bar = Progress(len(frames), f"{variant}@{job['threads'] or '-'}t", enabled=progress)
    cpu0 = wall0 = 0.0
    try:
        for i in range(len(frames)):
            if i == warmup:
                snapshot = runner.counters(state)
                counts = {"windows": 0, "decisions": 0, "events": 0}
                cpu0, wall0 = time.process_time(), time.perf_counter()
            timer.row = i - warmup
            runner.frame(state, timer, frames[i], float(t_s[i]), i, counts)
            bar.update()
        loop_wall_s = time.perf_counter() - wall0
        loop_cpu_s = time.process_time() - cpu0
    except Exception as exc:  # noqa: BLE001
        bar.close()
        return {**result, "status": "failed", "reason": one_line(exc, with_type=True)}
    bar.close()
    final = runner.counters(state)
    result["invocations"] = _invocations({k: final[k] - snapshot.get(k, 0) for k in final}, counts, measured)
    result["dispatch"] = runner.close(state)
    result["stages_ms"] = {stage: timer.ms[stage].tolist() for stage in timer.ms}
    result["loop_wall_s"] = loop_wall_s
    result["loop_cpu_s"] = loop_cpu_s
    result["measured_frames"] = measured
    end = memory_mb()
    result["rss_mb"].update(end=end["rss"], peak=end["peak"], growth=end["peak"] - memory["rss"])
    result["pid"] = os.getpid()
    return result


def _invocations(model_counts: dict[str, int], counts: dict[str, int], frames: int) -> dict[str, Any]:
    out: dict[str, Any] = {**model_counts, **counts, "frames": frames}
    for key, value in model_counts.items():
        out[f"{key}_per_frame"] = value / frames if frames else None
        out[f"{key}_per_window"] = value / counts["windows"] if counts["windows"] else None
    return out


class _Runner:
    """How one variant sets up, processes a frame, and reports its model invocation counters."""

    stages: tuple[str, ...] = COMPUTE_STAGES

    def setup(self, job: dict[str, Any], result: dict[str, Any]) -> Any:
        raise NotImplementedError

    def frame(self, state: Any, timer: _Timer, frame: np.ndarray, t_s: float, index: int,
              counts: dict[str, int]) -> None:
        raise NotImplementedError

    def counters(self, state: Any) -> dict[str, int]:
        return {}

    def close(self, state: Any) -> dict[str, Any] | None:
        dispatch = getattr(state, "dispatch", None)
        return dispatch.close() if dispatch is not None else None


@dataclass
class _StreamState:
    bundle: Any
    stream: Any
    maker: Any
    dispatch: _NullDispatch


class _Streaming(_Runner):
    """ours / float: StreamingClassifier, feature pass and recurrent steps timed apart."""

    def __init__(self, precision: str) -> None:
        self.precision = precision

    def setup(self, job: dict[str, Any], result: dict[str, Any]) -> _StreamState:
        from edge.bundle import load_bundle
        from edge.stream import StreamingClassifier

        bundle = load_bundle(job["bundle"], backend=job["backend"], num_threads=job["threads"],
                             precision=self.precision)
        result["backend"] = f"{bundle.backend.name} {bundle.backend.version}"
        stream = StreamingClassifier(bundle, hop_frames=job["hop_frames"])
        result["steps_per_frame_expected"] = stream.steps_per_frame
        maker, dispatch = _decision_pieces(job)
        return _StreamState(bundle, stream, maker, dispatch)

    def frame(self, state: _StreamState, timer: _Timer, frame: np.ndarray, t_s: float, index: int,
              counts: dict[str, int]) -> None:
        # StreamingClassifier.push is exactly extract + push_features; called apart to time them apart.
        t0 = time.perf_counter()
        q = state.bundle.features.extract(frame)
        t1 = time.perf_counter()
        windows = state.stream.push_features(q, t_s)
        timer.add("features", t1 - t0)
        timer.add("steps", time.perf_counter() - t1)
        for window in windows:
            _decide_and_dispatch(state.maker, state.dispatch, timer, window.probs, window.end_t_s, counts)

    def counters(self, state: _StreamState) -> dict[str, int]:
        # "step" counts states stepped (batch rows); "step_calls" the step model's invocations.
        step = state.bundle.step
        return {"features": state.bundle.features.invocations, "step": step.rows, "step_calls": step.invocations}


@dataclass
class _FloorState:
    bundle: Any
    step_inputs: dict[str, np.ndarray]


class _Floor(_Runner):
    """The floor of the design: one feature call + one step call of batch ceil(T/hop), timed apart, nothing
    else. The step's inputs are fixed zero states: int8 kernels take the same time whatever the values."""

    stages = ("features", "steps")

    def setup(self, job: dict[str, Any], result: dict[str, Any]) -> _FloorState:
        import math

        from edge.bundle import load_bundle, zero_of

        bundle = load_bundle(job["bundle"], backend=job["backend"], num_threads=job["threads"])
        result["backend"] = f"{bundle.backend.name} {bundle.backend.version}"
        batch = math.ceil(bundle.frames_per_clip / job["hop_frames"])
        step = bundle.step
        inputs = {"features": zero_of(step.spec.inputs["features"], batch), **step.zero_state(batch)}
        step.run(inputs)  # resize and allocate before measuring, as StreamingClassifier does
        result["steps_per_frame_expected"] = batch
        result["notes"].append(f"floor = one feature call + one step call of batch {batch} per frame, through "
                               f"the same tensor access ({step.access.kind}); no requantization, state "
                               f"bookkeeping, decision or dispatch")
        return _FloorState(bundle, inputs)

    def frame(self, state: _FloorState, timer: _Timer, frame: np.ndarray, t_s: float, index: int,
              counts: dict[str, int]) -> None:
        features, step = state.bundle.features, state.bundle.step
        t0 = time.perf_counter()
        features.run({"frame": frame.reshape(features.spec.inputs["frame"].shape)})
        t1 = time.perf_counter()
        step.run(state.step_inputs)
        timer.add("features", t1 - t0)
        timer.add("steps", time.perf_counter() - t1)

    def counters(self, state: _FloorState) -> dict[str, int]:
        step = state.bundle.step
        return {"features": state.bundle.features.invocations, "step": step.rows, "step_calls": step.invocations}


@dataclass
class _WindowState(_StreamState):
    buffer: deque
    frames_per_clip: int
    hop_frames: int


class _Window(_Streaming):
    """The naive window: T feature passes + T steps from zero state at every decision."""

    def __init__(self) -> None:
        super().__init__("int8")

    def setup(self, job: dict[str, Any], result: dict[str, Any]) -> _WindowState:
        base = super().setup(job, result)
        result.pop("steps_per_frame_expected", None)
        frames = base.bundle.frames_per_clip
        return _WindowState(base.bundle, None, base.maker, base.dispatch, deque(maxlen=frames), frames,
                            job["hop_frames"])

    def frame(self, state: _StreamState, timer: _Timer, frame: np.ndarray, t_s: float, index: int,
              counts: dict[str, int]) -> None:
        assert isinstance(state, _WindowState)  # what setup returned
        state.buffer.append(frame)
        # Same cadence as StreamingClassifier: windows start every hop frames, so one ends at
        # index = start + T - 1 with start % hop == 0.
        first = state.frames_per_clip - 1
        if index < first or (index - first) % state.hop_frames:
            return
        bundle = state.bundle
        t0 = time.perf_counter()
        features = [bundle.features.extract(f) for f in state.buffer]
        t1 = time.perf_counter()
        # The recurrent half of classify_window_raw, from zero state.
        recurrent = bundle.step.zero_state()
        from edge.bundle import zero_of

        x = zero_of(bundle.step.spec.inputs["features"])
        out = None
        for q in features:
            bundle.features_to_step(q, x)
            out = bundle.step.run({"features": x, **recurrent})
            for role in recurrent:
                bundle.state_feedback[role](out[role], recurrent[role])
        assert out is not None  # T >= 1 frames were stepped
        probs = bundle.probabilities(out["probs"])
        timer.add("features", t1 - t0)
        timer.add("steps", time.perf_counter() - t1)
        _decide_and_dispatch(state.maker, state.dispatch, timer, probs, t_s, counts)


@dataclass
class _KerasState:
    model: Any
    maker: Any
    dispatch: _NullDispatch
    buffer: deque
    frames_per_clip: int
    hop_frames: int
    calls: int = 0


class _Keras(_Runner):
    """The reference design's way: the Keras float clip model on every window (TensorFlow imported here)."""

    stages = ("features", "decision", "dispatch")

    def setup(self, job: dict[str, Any], result: dict[str, Any]) -> _KerasState:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        threads = int(job["threads"])
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # TensorFlow already initialised in this process (--no-isolate)
            result["notes"].append("TensorFlow was already initialised: its thread settings could not be applied")
        import keras

        model = keras.models.load_model(job["keras_model"], compile=False)
        result["backend"] = f"tensorflow {tf.__version__} / keras {keras.__version__}"
        frames = int(model.input_shape[1])
        if frames != job["frames_per_clip"] or tuple(model.input_shape[2:4]) != tuple(job["size_hw"]):
            raise BenchError(f"{job['keras_model']}: input shape {model.input_shape} does not match the bundle "
                             f"({job['frames_per_clip']} frames of {job['size_hw'][0]}x{job['size_hw'][1]})")
        if int(model.output_shape[-1]) != len(job["labels"]):
            raise BenchError(f"{job['keras_model']}: it outputs {model.output_shape[-1]} classes, the bundle has "
                             f"{len(job['labels'])} labels ({', '.join(job['labels'])})")
        model.predict_on_batch(np.zeros((1, *model.input_shape[1:]), dtype=np.float32))  # builds the graph
        maker, dispatch = _decision_pieces(job)
        result["notes"].append(STAGE_NOTES["keras"])
        return _KerasState(model, maker, dispatch, deque(maxlen=frames), frames, job["hop_frames"])

    def frame(self, state: _KerasState, timer: _Timer, frame: np.ndarray, t_s: float, index: int,
              counts: dict[str, int]) -> None:
        state.buffer.append(frame)
        first = state.frames_per_clip - 1
        if index < first or (index - first) % state.hop_frames:
            return
        t0 = time.perf_counter()
        clip = np.stack(state.buffer).astype(np.float32)[None]
        probs = np.asarray(state.model.predict_on_batch(clip), dtype=np.float32).reshape(-1)
        state.calls += 1
        timer.add("features", time.perf_counter() - t0)
        _decide_and_dispatch(state.maker, state.dispatch, timer, probs, t_s, counts)

    def counters(self, state: _KerasState) -> dict[str, int]:
        return {"clip_model": state.calls}


@dataclass
class _HandsState:
    hands: Any
    calls: int = 0


class _MediaPipe(_Runner):
    """MediaPipe Hands (legacy solutions API, whose models ship in the wheel) on every frame."""

    stages = ("features",)

    def setup(self, job: dict[str, Any], result: dict[str, Any]) -> _HandsState:
        import mediapipe as mp

        result["backend"] = f"mediapipe {getattr(mp, '__version__', 'unknown')}"
        modules = Path(mp.__file__).resolve().parent / "modules"
        result["model_files"] = {
            str(p.relative_to(modules.parent)): p.stat().st_size
            for p in sorted(modules.glob("*/*.tflite"))
            if p.name in ("palm_detection_full.tflite", "hand_landmark_full.tflite")
        }
        hands = mp.solutions.hands.Hands(static_image_mode=False, max_num_hands=1, model_complexity=1,
                                         min_detection_confidence=0.5, min_tracking_confidence=0.5)
        result["notes"].append(STAGE_NOTES["mediapipe"])
        result["notes"].append("MediaPipe's legacy API has no thread setting: --threads does not apply")
        return _HandsState(hands)

    def frame(self, state: _HandsState, timer: _Timer, frame: np.ndarray, t_s: float, index: int,
              counts: dict[str, int]) -> None:
        t0 = time.perf_counter()
        state.hands.process(frame)
        state.calls += 1
        timer.add("features", time.perf_counter() - t0)

    def counters(self, state: _HandsState) -> dict[str, int]:
        return {"hands": state.calls}

    def close(self, state: _HandsState) -> None:
        state.hands.close()
        return None


_RUNNERS: dict[str, _Runner] = {
    "floor": _Floor(), "ours": _Streaming("int8"), "float": _Streaming("float"), "window": _Window(), "keras": _Keras(),
    "mediapipe": _MediaPipe(),
}


# -- orchestration -------------------------------------------------------------------------------------------

def _job(variant: str, threads: int | None, settings: LatencySettings, manifest: Any, warmup: int,
         decision: dict[str, Any], actions: dict[str, str], keras_model: KerasModel | None) -> dict[str, Any]:
    return {
        "variant": variant, "threads": threads, "bundle": str(settings.bundle), "backend": settings.backend,
        "hop_frames": settings.hop_frames, "warmup": warmup, "labels": list(manifest.labels),
        "background_label": manifest.background_label, "actions": actions, "decision": decision,
        "frames_per_clip": manifest.frames_per_clip,
        "size_hw": [manifest.input_height_px, manifest.input_width_px],
        "keras_model": str(keras_model.path) if keras_model else None,
    }


def _run_isolated(job: dict[str, Any], frames_path: Path, t_path: Path, work: Path, python: str,
                  progress: bool) -> dict[str, Any]:
    name = f"{job['variant']}-{job['threads']}"
    job_path, result_path = work / f"{name}.job.json", work / f"{name}.result.json"
    job_path.write_text(json.dumps({**job, "frames_path": str(frames_path), "t_path": str(t_path),
                                    "progress": progress}), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PACKAGE_PARENT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    proc = subprocess.run([python, "-m", "edge.bench.latency", str(job_path), str(result_path)], env=env,
                          stdout=subprocess.DEVNULL, stderr=None if progress else subprocess.DEVNULL)
    if result_path.is_file():
        result = json.loads(result_path.read_text(encoding="utf-8"))
    else:
        result = {"variant": job["variant"], "threads": job["threads"], "status": "failed",
                  "reason": f"worker exited with status {proc.returncode} without a result", "notes": []}
    result["process_wall_s"] = time.perf_counter() - started
    result["isolated"] = True
    return result


def worker_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a worker process: `python -m edge.bench.latency JOB.json RESULT.json`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m edge.bench.latency JOB.json RESULT.json (internal to gesture-bench)",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    frames = np.load(job["frames_path"])
    t_s = np.load(job["t_path"])
    try:
        result = run_job(job, frames, t_s, progress=job.get("progress", True))
    except Exception as exc:  # noqa: BLE001 - always leave a result behind
        result = {"variant": job["variant"], "threads": job["threads"], "status": "failed",
                  "reason": one_line(exc, with_type=True), "notes": []}
    from edge.fileio import write_text_atomic

    write_text_atomic(Path(args[1]), json.dumps(result))
    return 0


def run_latency(settings: LatencySettings) -> dict[str, Any]:
    """The whole latency benchmark; returns the JSON-ready report (`edge.bench.render` renders it)."""
    from edge.manifest import Manifest, ManifestError

    try:
        manifest = Manifest.load(settings.bundle)
        manifest.verify_files(settings.bundle)
    except ManifestError as exc:
        raise BenchError(str(exc)) from None
    decision, actions, config_source = decision_config(settings.config, manifest)
    frames_per_clip = manifest.frames_per_clip
    if not 1 <= settings.hop_frames <= frames_per_clip:
        raise BenchError(f"--hop {settings.hop_frames}: expected 1..{frames_per_clip} (frames per clip)")
    warmup = frames_per_clip if settings.warmup is None else settings.warmup
    size_hw = (manifest.input_height_px, manifest.input_width_px)
    variants, left_out = planned_variants(settings)
    keras = resolve_keras_model(settings, manifest) if "keras" in variants else None
    if settings.keras_model is not None and keras is None:
        logger.warning("--keras-model %s: not used, the keras variant does not run (%s)", settings.keras_model,
                       "--smoke leaves it out: name it in --variants" if left_out else "not in --variants")
    keras_model = keras if isinstance(keras, KerasModel) else None
    load_start = load_average()
    source = resolve_source(settings)
    started = time.perf_counter()
    decoded = decode_frames(source, size_hw, manifest.model_fps, warmup + settings.frames, settings.progress)
    runs: list[dict[str, Any]] = []
    plan: list[tuple[str, int | None]] = []
    for variant in variants:
        reason = variant_unavailable(variant, settings, manifest, keras)
        if reason is not None:
            logger.warning("variant %s skipped: %s", variant, reason)
            runs.append({"variant": variant, "threads": None, "status": "skipped", "reason": reason, "notes": []})
            continue
        if variant == "mediapipe":
            plan.append((variant, None))
        else:
            plan.extend((variant, threads) for threads in settings.threads)
    # Thread count outermost, the variants side by side within it; heavy imports last within a process.
    order = {v: i for i, v in enumerate(VARIANTS)}
    plan.sort(key=lambda p: (order[p[0]] >= order["keras"], p[1] or 0, order[p[0]]))
    with tempfile.TemporaryDirectory(prefix="gesture-bench-") as tmp:
        work = Path(tmp)
        frames_path, t_path = work / "frames.npy", work / "t_s.npy"
        if settings.isolate:
            np.save(frames_path, decoded.frames)
            np.save(t_path, decoded.t_s)
        for number, (variant, threads) in enumerate(plan, start=1):
            if settings.progress:
                print(f"[{number}/{len(plan)}] {variant} threads={threads or '-'}", file=sys.stderr, flush=True)
            job = _job(variant, threads, settings, manifest, warmup, decision, actions, keras_model)
            if settings.isolate:
                python = settings.peer_python if (variant == "mediapipe" and settings.peer_python) else sys.executable
                result = _run_isolated(job, frames_path, t_path, work, python, settings.progress)
            else:
                result = run_job(job, decoded.frames, decoded.t_s, progress=settings.progress)
                result["isolated"] = False
                result["notes"].append("peak RSS is this process's peak so far (--no-isolate)")
            runs.append(result)
    runs += [{"variant": v, "threads": None, "status": "skipped", "notes": [],
              "reason": "left out of --smoke (TensorFlow's start-up alone takes longer than every other variant): "
                        "name it in --variants to run it"} for v in left_out]
    report = assemble(settings, manifest, decoded, runs, warmup, config_source, variants, keras_model)
    report["load_average"] = {"start": load_start, "end": load_average()}
    report["wall_s"] = time.perf_counter() - started
    return report


def decision_config(config: Path | None, manifest: Any) -> tuple[dict[str, Any], dict[str, str], str]:
    """Decision settings and gesture -> action map: the config file's when given, else the defaults."""
    from edge.settings import DecisionSettings

    actions = dict(manifest.actions)
    if config is None:
        return dataclasses.asdict(DecisionSettings()), actions, "built-in defaults"
    from edge.config import ConfigError, load_config

    try:
        loaded = load_config(config)
    except ConfigError as exc:
        raise BenchError(str(exc)) from None
    from edge.decision import merged_actions

    return dataclasses.asdict(loaded.decision), merged_actions(actions, loaded.actions), str(config)


def _model_files(settings: LatencySettings, manifest: Any) -> dict[str, int]:
    files = {}
    for spec in manifest.model_specs().values():
        path = settings.bundle / spec.file
        files[spec.file] = path.stat().st_size
    return files


def assemble(settings: LatencySettings, manifest: Any, decoded: DecodedFrames, runs: list[dict[str, Any]],
             warmup: int, config_source: str, variants: Sequence[str],
             keras_model: KerasModel | None) -> dict[str, Any]:
    """Turn the raw per-frame timings into the report: stage statistics, totals, ratios against ours."""
    measured = slice(warmup, None)
    capture = decoded.capture_ms[measured] if decoded.capture_ms is not None else None
    pre = decoded.preprocess_ms[measured]
    shared_ms = (capture if capture is not None else 0.0) + pre
    shared_cpu_s = float(decoded.cpu_s[measured].sum())
    bundle_files = _model_files(settings, manifest)
    for run in runs:
        if run.get("status") != "ok":
            continue
        stages = {name: np.asarray(values) for name, values in run.pop("stages_ms").items()}
        compute = np.sum(list(stages.values()), axis=0) if stages else np.zeros(len(pre))
        total = compute + shared_ms
        frames = len(total)
        run["stages"] = {
            "capture": stats_ms(capture) if capture is not None else None,
            "preprocess": stats_ms(pre),
            **{name: (stats_ms(stages[name]) if name in stages else None) for name in COMPUTE_STAGES},
            "compute": stats_ms(compute),
            "total": stats_ms(total),
        }
        run["per_frame_compute_ms"] = float(compute.mean())
        run["per_frame_total_ms"] = float(total.mean())
        cycles = decision_cycles(compute, warmup, manifest.frames_per_clip, settings.hop_frames)
        run["per_frame_compute_median_cycle_ms"] = float(np.median(cycles)) if cycles.size else None
        busy_s = run["loop_wall_s"] + float(shared_ms.sum()) / 1000.0
        run["sustained_fps"] = frames / busy_s if busy_s > 0 else None
        run["cpu_ms_per_frame"] = (run["loop_cpu_s"] + shared_cpu_s) * 1000.0 / frames
        run["cpu_compute_ms_per_frame"] = run["loop_cpu_s"] * 1000.0 / frames
        run["samples_ms"] = {"total": total.round(4).tolist(), "compute": compute.round(4).tolist(),
                             **{name: v.round(4).tolist() for name, v in stages.items()}}
        variant = run["variant"]
        if variant in ("floor", "ours", "window"):
            run.setdefault("model_files", {k: v for k, v in bundle_files.items() if not k.startswith("float/")})
        elif variant == "float":
            run.setdefault("model_files", {k: v for k, v in bundle_files.items() if k.startswith("float/")})
        elif variant == "keras" and keras_model is not None:
            run.setdefault("model_files", {keras_model.path.name: keras_model.path.stat().st_size})
            run["notes"].append(_keras_note(keras_model))
        run["model_bytes"] = sum(run.get("model_files", {}).values())
    _add_ratios(runs)
    design = against_design(runs, manifest.frames_per_clip, settings.hop_frames)
    return {
        "tool": "gesture-bench latency",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "bundle": {
            "path": str(settings.bundle), "labels": list(manifest.labels), "frames_per_clip": manifest.frames_per_clip,
            "model_fps": manifest.model_fps, "input_size_hw": [manifest.input_height_px, manifest.input_width_px],
            "quantization": manifest.quantization, "cell": manifest.cell, "files": bundle_files,
        },
        "source": decoded.info,
        "settings": {
            "frames": settings.frames, "warmup": warmup, "threads": list(settings.threads),
            "variants": list(variants), "hop_frames": settings.hop_frames, "backend": settings.backend,
            "isolate": settings.isolate, "smoke": settings.smoke, "decision_config": config_source,
            "keras_model": str(keras_model.path) if keras_model else None, "peer_python": settings.peer_python,
            "keras_model_check": keras_model.to_json() if keras_model else None,
        },
        "stages": list(STAGES),
        "against_design": design,
        "shared": {"capture": stats_ms(capture) if capture is not None else None, "preprocess": stats_ms(pre)},
        "definitions": {
            "per_frame_compute_ms": "mean over measured frames of features + steps + decision + dispatch "
                                    "(the window variants work on every hop-th frame only: per-decision cost / hop)",
            "per_frame_total_ms": "per_frame_compute_ms + capture + preprocess (shared, timed once at decode)",
            "per_frame_compute_median_cycle_ms": "median over decision cycles (the hop frames ending at a window's "
                                                 "last frame) of their compute / hop: robust on a busy machine",
            "sustained_fps": "measured frames / (variant loop wall time + capture + preprocess time)",
            "cpu_ms_per_frame": "process CPU time (all threads) of the variant loop + decode, per measured frame",
            "cpu_compute_ms_per_frame": "process CPU time (all threads) of the variant loop alone, per measured "
                                        "frame: unlike wall time, not inflated while other processes hold the CPU",
            "ratio_vs_ours": "this variant's per-frame figure / ours at the same thread count",
            "against_design": "ours / floor (ours' overhead over one feature call + one batched step call) and "
                              "window / ours against its limit T/hop, by wall clock (mean and median cycle) "
                              "and by CPU time of the variant loop, per thread count",
            "rss_mb": "the variant's process (VmRSS/VmHWM): baseline = RSS with the frames loaded, before any "
                      "model; peak = the process's own high-water mark; growth = peak - baseline",
        },
        "runs": runs,
    }


def _keras_note(model: KerasModel) -> str:
    if model.is_source_model:
        return f"Keras model: {model.path}, the one the bundle was converted from (sha256 {model.sha256[:12]}...)"
    if model.recorded_sha256 is None:
        return (f"Keras model: {model.path} ({model.origin}); the bundle records no sha256 of its source model: "
                "whether it is the model the bundle came from is unknown")
    return (f"WARNING: Keras model {model.path} ({model.origin}) has sha256 {model.sha256[:12]}..., not the "
            f"{model.recorded_sha256[:12]}... of the model the bundle was converted from")


def decision_cycles(compute_ms: np.ndarray, warmup: int, frames_per_clip: int, hop_frames: int) -> np.ndarray:
    """Per-frame cost of each complete decision cycle: the hop frames ending at a window's last frame,
    summed and divided by hop. Its median is robust to a busy machine's preemption spikes, which inflate
    the mean; for the window variants every cycle holds exactly one decision."""
    first = (frames_per_clip - 1 - warmup) % hop_frames  # measured index of the first window end
    start = first - hop_frames + 1
    if start < 0:
        start += hop_frames
    usable = (len(compute_ms) - start) // hop_frames
    if usable <= 0:
        return np.zeros(0)
    chunk = compute_ms[start:start + usable * hop_frames].reshape(usable, hop_frames)
    return chunk.sum(axis=1) / hop_frames


def against_design(runs: list[dict[str, Any]], frames_per_clip: int, hop_frames: int) -> list[dict[str, Any]]:
    """Per thread count: ours over the floor, and window over ours next to its limit T/hop.

    Each figure is also added to the variant's notes (what the text and markdown reports print).
    """
    def ratios(num: dict[str, Any], den: dict[str, Any]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name, key in (("wall", "per_frame_compute_ms"), ("wall_median_cycle", "per_frame_compute_median_cycle_ms"),
                          ("cpu", "cpu_compute_ms_per_frame")):
            a, b = num.get(key), den.get(key)
            out[name] = a / b if a and b else None
        return out

    def fmt(values: dict[str, float | None]) -> str:
        shown = {k: f"{v:.2f}x" if v is not None else "n/a" for k, v in values.items()}
        return f"{shown['cpu']} by CPU time, {shown['wall']} by wall clock ({shown['wall_median_cycle']} median cycle)"

    ok = {(r["variant"], r["threads"]): r for r in runs if r.get("status") == "ok"}
    limit = frames_per_clip / hop_frames
    rows = []
    for threads in sorted({t for (v, t) in ok if v == "ours"}, key=lambda t: t or 0):
        ours, floor, window = ok[("ours", threads)], ok.get(("floor", threads)), ok.get(("window", threads))
        row: dict[str, Any] = {"threads": threads, "window_limit": limit}
        if floor is not None:
            row["ours_over_floor"] = ratios(ours, floor)
            row["floor_ms"] = {"wall": floor["per_frame_compute_ms"], "cpu": floor["cpu_compute_ms_per_frame"]}
            ours["notes"].append(f"ours / floor (one feature call + one batched step call): "
                                 f"{fmt(row['ours_over_floor'])}")
        if window is not None:
            row["window_over_ours"] = ratios(window, ours)
            cpu = row["window_over_ours"]["cpu"]
            share = f", {100 * cpu / limit:.0f}% of it" if cpu else ""
            window["notes"].append(f"window / ours: {fmt(row['window_over_ours'])}; its limit T/hop = "
                                   f"{frames_per_clip}/{hop_frames} = {limit:g}x (steps free){share}")
        rows.append(row)
    return rows


def _add_ratios(runs: list[dict[str, Any]]) -> None:
    ours = {r["threads"]: r for r in runs if r["variant"] == "ours" and r.get("status") == "ok"}
    for run in runs:
        if run.get("status") != "ok":
            continue
        base = ours.get(run["threads"]) or (ours[min(ours)] if ours else None)
        if base is None:
            continue
        median = run.get("per_frame_compute_median_cycle_ms")
        base_median = base.get("per_frame_compute_median_cycle_ms")
        run["ratio_vs_ours"] = {
            "compute": run["per_frame_compute_ms"] / base["per_frame_compute_ms"],
            "compute_median_cycle": median / base_median if median and base_median else None,
            "total": run["per_frame_total_ms"] / base["per_frame_total_ms"],
            "cpu": run["cpu_ms_per_frame"] / base["cpu_ms_per_frame"],
            "cpu_compute": run["cpu_compute_ms_per_frame"] / base["cpu_compute_ms_per_frame"],
            "against_threads": base["threads"],
        }


if __name__ == "__main__":
    sys.exit(worker_main())
