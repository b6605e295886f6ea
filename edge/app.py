"""The frame loop: source -> features -> staggered recurrent steps -> decision -> sinks, as a systemd service.

Per model frame: `source.read()` (capture + resize to the model size, RGB), the feature model once
(`bundle.features.extract`), one recurrent step per live state (`StreamingClassifier.push_features`), the
decision on every window that closed (`DecisionMaker.update(window.probs, window.end_t_s)`), and each event
handed to the non-blocking `Dispatcher`. Every stage is timed with `time.perf_counter` into preallocated ring
buffers; every `status_interval_s` a status line (fps, per-stage p50 ms, frames dropped by pacing, last
event) goes to the log and `STATUS=` to systemd.

systemd (`edge.sdnotify`, all no-ops without `$NOTIFY_SOCKET`):
  READY=1      once the bundle is loaded AND the first frame arrived (a camera that never delivers never
               reports ready, and systemd's start timeout catches it)
  WATCHDOG=1   from the frame loop, every half `$WATCHDOG_USEC`: a camera read that hangs stops the pings
               and systemd restarts the service. While a failed camera is being retried (back-off sleeps)
               the pings go on: the service is alive and recovering by itself.
  STATUS=      fps and the last gesture, at READY and every status interval
  SIGTERM/INT  stop within 2 s: STOPPING=1, source closed, sinks drained for at most 1 s, exit 0. The source
               is read on a worker thread (`edge.sources.ReaderThread`), so this holds even when a camera
               hangs in read() (it is then left open for the system to release at exit). During start-up a
               stop request ends the bundle load (and its test load in a child process) early.
  SIGHUP       reload the config file: decision settings, actions, sinks, log level and status interval
               take effect at once (what changed is logged); runtime settings that need a restart (bundle,
               source, backend, threads, hop) are logged as such; a new file that cannot be read, parsed or
               used (whatever the failure) is one log line and the old config is kept.

The handlers (`edge.signals`) are installed by the CLI before it imports anything slow, and again here for
callers that did not. Before the models are loaded in this process they are loaded once in a short-lived
child (`edge.probe`), so a model file that crashes the runtime is a one-line error, not a dead service.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edge.bundle import Bundle, load_bundle
from edge.config import ConfigError, load_config, validate_gestures
from edge.decision import DecisionMaker, merged_actions
from edge.errors import one_line
from edge.events import GestureEvent
from edge.probe import ProbeInterrupted, probe_bundle
from edge.sdnotify import Notifier
from edge.settings import Config, is_camera_source, resolve_decision
from edge.signals import Stopper, install, restore
from edge.sinks import Dispatcher, build_sinks
from edge.sources import FrameSource, ReaderThread, SourceOptions, open_source
from edge.stream import StreamingClassifier
from edge.taps import FrameTap, PeakTracker, TapError

logger = logging.getLogger(__name__)

STAGES = ("capture", "preprocess", "features", "steps", "decision", "dispatch")
"""Timed stages of one model frame, in order."""
TIMING_WINDOW = 512
"""Frames kept per stage for the status line's percentiles."""
GAP_PERIODS = 3.0
"""A jump in frame time of more than this many model frame periods (a camera that was reopened, a stall)
resets the streaming state: windows across a gap would mix unrelated frames."""
SINK_CLOSE_S = 1.0
"""How long stopping waits for sinks to finish queued actions (SIGTERM must be done within 2 s)."""
READER_STOP_S = 0.5
"""How long stopping waits for a read in progress before leaving the source open (a camera stuck in read())."""
EVENTS_KEPT = 10_000
"""`App.events` keeps the most recent events (a service runs for months; the count is `events_total`)."""


class AppError(Exception):
    """A problem that stops the runtime before it starts. The message is one line."""


class StageTimes:
    """Per-stage milliseconds of the last TIMING_WINDOW frames, in preallocated arrays."""

    def __init__(self, size: int = TIMING_WINDOW) -> None:
        self.ms = np.zeros((len(STAGES), size), dtype=np.float64)
        self.count = 0

    def add(self, capture: float, preprocess: float, features: float, steps: float, decision: float,
            dispatch: float) -> None:
        """Record one frame's stage times (ms) in place."""
        column = self.count % self.ms.shape[1]
        ms = self.ms
        ms[0, column] = capture
        ms[1, column] = preprocess
        ms[2, column] = features
        ms[3, column] = steps
        ms[4, column] = decision
        ms[5, column] = dispatch
        self.count += 1

    def p50_ms(self) -> dict[str, float]:
        """Median per stage over the frames kept (zeros before the first frame)."""
        filled = min(self.count, self.ms.shape[1])
        if filled == 0:
            return {stage: 0.0 for stage in STAGES}
        medians = np.median(self.ms[:, :filled], axis=1)
        return {stage: float(value) for stage, value in zip(STAGES, medians)}


def config_changes(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable 'field: old -> new' for every leaf field that differs between two settings objects."""
    if dataclasses.is_dataclass(old) and dataclasses.is_dataclass(new) and type(old) is type(new):
        changes = []
        for f in dataclasses.fields(old):
            if f.name in ("source_path", "decision_keys"):
                continue
            changes += config_changes(getattr(old, f.name), getattr(new, f.name), f"{prefix}{f.name}.")
        return changes
    if old != new:
        return [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]
    return []


RESTART_FIELDS = ("bundle", "source", "backend", "num_threads", "hop_frames", "realtime", "camera_retry_max_s")
"""Runtime settings a reload cannot change (they shape the loaded models or the open source)."""


def _event_text(event: GestureEvent) -> str:
    repeat = f" (repeat {event.repeat})" if event.repeat else ""
    return f"{event.gesture} -> {event.action}{repeat}"


class App:
    """One run of the runtime; `run()` below is the entry point."""

    def __init__(self, config: Config, *, source: FrameSource | None, sinks: list[Any] | None,
                 clock: Callable[[], float], notifier: Notifier | None,
                 reload_config: Callable[[], Config] | None, source_options: SourceOptions | None,
                 max_frames: int | None, taps: Sequence[FrameTap] = (), stopper: Stopper | None = None) -> None:
        self.config = config
        self.taps = tuple(taps)
        """Observers of every frame (--windows, --annotate, benchmarks); they never change a decision."""
        self.peaks = PeakTracker()
        """Highest probability per class, for the closing line of a run without events."""
        self.clock = clock
        self.notifier = notifier if notifier is not None else Notifier.from_env()
        self._source = source
        self._injected_sinks = sinks
        self._reload_config = reload_config
        self.source_options = source_options or SourceOptions()
        self.max_frames = max_frames
        self.stopper = stopper if stopper is not None else Stopper()
        """Stop/reload requests (the CLI passes the one its early signal handlers already feed)."""
        self.stopper.on_tick = self._tick_watchdog
        self.times = StageTimes()
        self.frames = 0
        """Model frames processed."""
        self.events: deque[GestureEvent] = deque(maxlen=EVENTS_KEPT)
        """The most recent events, oldest first."""
        self.events_total = 0
        self.windows_total = 0
        """Windows the stream closed (a run of footage without any says why at the end)."""
        self.last_event: GestureEvent | None = None
        self._last_ping = -float("inf")
        self.bundle: Bundle | None = None
        self.stream: StreamingClassifier | None = None
        self.decision: DecisionMaker | None = None
        self.dispatcher: Dispatcher | None = None
        self.source: FrameSource | None = None

    # -- setup ----------------------------------------------------------------------------------------------
    def _load(self) -> None:
        runtime = self.config.runtime
        if not runtime.bundle:
            raise AppError("no bundle: pass --bundle DIR or set runtime.bundle in the config file")
        # First in a child process (cached): a model that crashes the runtime must not take this process along.
        probe_bundle(runtime.bundle, backend=runtime.backend, num_threads=runtime.num_threads,
                     precision=runtime.precision, should_stop=self.stopper.should_stop)
        self.bundle = load_bundle(runtime.bundle, runtime.backend, runtime.num_threads,
                                  precision=runtime.precision)
        manifest = self.bundle.manifest
        validate_gestures(self.config, manifest.labels, manifest.background_label)
        try:
            self.stream = StreamingClassifier(self.bundle, runtime.hop_frames)
        except ValueError as exc:
            raise AppError(f"hop (--hop / runtime.hop_frames) {runtime.hop_frames}: {exc}") from None
        self.decision = self._make_decision(self.config)
        if manifest.decision:
            overridden = sorted(self.config.decision_keys)
            logger.info("decision settings: the bundle's decision block%s", f", with {', '.join(overridden)} from "
                        "the config file" if overridden else "")
        logger.info("bundle %s: %s, %dx%d at %.1f fps, T=%d frames, hop %d -> %d steps per frame, a window "
                    "every %.2f s", runtime.bundle, ", ".join(manifest.labels), manifest.input_width_px,
                    manifest.input_height_px, manifest.model_fps, manifest.frames_per_clip, runtime.hop_frames,
                    self.stream.steps_per_frame, runtime.hop_frames / manifest.model_fps)

    def _make_decision(self, config: Config) -> DecisionMaker:
        assert self.bundle is not None
        manifest = self.bundle.manifest
        return DecisionMaker(manifest.labels, merged_actions(manifest.actions, config.actions),
                             resolve_decision(config, manifest.decision), manifest.background_label)

    def _open_source(self) -> FrameSource:
        if self._source is not None:
            return self._source
        assert self.bundle is not None
        runtime = self.config.runtime
        return open_source(runtime.source, self.bundle.input_size_hw, self.bundle.manifest.model_fps,
                           runtime.realtime, options=self.source_options, retry_max_s=runtime.camera_retry_max_s,
                           clock=self.clock, sleep=self.stopper.sleep, should_stop=self.stopper.should_stop)

    def _check_frame_interval(self, source: FrameSource) -> None:
        """AppError for footage whose frames are further apart than the stream tolerates: every frame would be a
        time jump that resets the streaming state, and no window could ever complete."""
        interval_s = getattr(source, "frame_interval_s", None)
        gap_s = GAP_PERIODS / source.fps
        if interval_s is None or interval_s <= gap_s:
            return
        hint = " (--folder-fps)" if hasattr(source, "folder_fps") else ""
        raise AppError(f"{source.name}: its frames are {interval_s:g} s apart{hint}, more than the {gap_s:.2f} s "
                       f"({GAP_PERIODS:g} model frames at {source.fps:g} fps) after which the stream restarts: no "
                       f"window of {self.bundle.frames_per_clip if self.bundle else 'T'} frames could ever "
                       f"complete (needs at least {source.fps / GAP_PERIODS:.2f} frames per second)")

    def _make_dispatcher(self, config: Config) -> Dispatcher:
        sinks = self._injected_sinks if self._injected_sinks is not None else build_sinks(config)
        dispatcher = Dispatcher(sinks)
        dispatcher.start()
        logger.info("sinks: %s", ", ".join(s.name for s in sinks) or "none")
        return dispatcher

    # -- signals --------------------------------------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        # Off the main thread nothing is installed: the caller owns stopping (stopper.request_stop).
        return install(self.stopper)

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        restore(previous)

    # -- periodic work --------------------------------------------------------------------------------------
    def _tick_watchdog(self) -> None:
        interval = self.notifier.watchdog_s
        if interval is None:
            return
        now = time.monotonic()
        if now - self._last_ping >= interval:
            self._last_ping = now
            self.notifier.watchdog()

    def _status_text(self, fps: float) -> str:
        last = "none"
        if self.last_event is not None:
            last = f"{_event_text(self.last_event)} at {self.last_event.t_s:.2f} s"
        return f"{fps:.1f} fps, last gesture: {last}"

    def _log_status(self, fps: float) -> None:
        assert self.source is not None and self.dispatcher is not None
        p50 = self.times.p50_ms()
        stages = " ".join(f"{stage} {p50[stage]:.2f}" for stage in STAGES)
        sinks = ", ".join(f"{name} {row['sent']} sent/{row['dropped']} dropped/{row['failed']} failed"
                          for name, row in self.dispatcher.stats().items())
        logger.info("status: %.1f fps (model %.1f), %d frames, %d dropped by pacing, p50 ms: %s (total %.2f), "
                    "events %d, last %s; sinks: %s", fps, self.source.fps, self.frames, self.source.dropped,
                    stages, sum(p50.values()), self.events_total,
                    "none" if self.last_event is None else
                    f"{_event_text(self.last_event)} at {self.last_event.t_s:.2f} s", sinks or "none")
        self.notifier.status(self._status_text(fps))

    def _reload(self) -> None:
        self.stopper.reload_requested = False
        self.notifier.reloading()
        try:
            self._apply_reload()
        finally:
            self.notifier.ready(self._status_text(0.0))

    def _apply_reload(self) -> None:
        old = self.config
        loader = self._reload_config
        if loader is None:
            if not old.source_path:
                logger.warning("SIGHUP: no config file to reload (running on the built-in defaults and flags)")
                return
            path = old.source_path
            loader = lambda: load_config(path)  # noqa: E731
        try:
            new = loader()
            assert self.bundle is not None
            validate_gestures(new, self.bundle.manifest.labels, self.bundle.manifest.background_label)
            decision = self._make_decision(new)
        except Exception as exc:  # noqa: BLE001 - whatever a new file does, the running config stays
            expected = isinstance(exc, (ConfigError, ValueError, OSError))
            logger.error("config reload failed, keeping the running config: %s",
                         one_line(exc, with_type=not expected, limit=500))
            return
        changes = config_changes(old, new)
        if not changes:
            logger.info("config reloaded from %s: no changes", new.source_path or "(flags)")
            return
        restart = [c for c in changes if c.startswith("runtime.") and c.split(":")[0][8:] in RESTART_FIELDS]
        if old.sinks != new.sinks and self._injected_sinks is None:
            try:
                dispatcher = self._make_dispatcher(new)
            except Exception as exc:  # noqa: BLE001 - a sink that cannot be built keeps the old ones
                logger.error("config reload: cannot build the new sinks (%s): keeping the running config", exc)
                return
            assert self.dispatcher is not None
            self.dispatcher.close(timeout_s=SINK_CLOSE_S)
            self.dispatcher = dispatcher
        self.decision = decision
        if old.log_level != new.log_level:
            logging.getLogger().setLevel(new.log_level.upper())
        # What needs a restart stays as it is in the running config.
        kept_runtime = dataclasses.replace(new.runtime, **{f: getattr(old.runtime, f) for f in RESTART_FIELDS})
        self.config = dataclasses.replace(new, runtime=kept_runtime)
        logger.info("config reloaded from %s: %s", new.source_path or "(flags)",
                    "; ".join(c for c in changes if c not in restart))
        for change in restart:
            logger.warning("config reload: %s needs a restart to take effect", change)

    # -- the loop -------------------------------------------------------------------------------------------
    def _start_taps(self) -> None:
        assert self.bundle is not None and self.source is not None
        for tap in self.taps:
            try:
                tap.start(self.bundle.manifest, self.source.fps)
            except TapError as exc:
                raise AppError(str(exc)) from None

    def _finish_taps(self, completed: bool) -> None:
        for tap in self.taps:
            try:
                tap.finish(completed)
            except OSError as exc:
                logger.error("could not finish writing an output (%s)", exc)

    def run(self) -> int:
        previous = self._install_signals()
        completed = False
        try:
            if not self.stopper.stop_requested:  # a stop may have come during the imports already
                try:
                    self._load()
                except ProbeInterrupted:
                    pass
            if self.stopper.stop_requested:
                self.notifier.stopping(f"stopping ({self.stopper.stop_signal})")
                logger.info("stopped by %s while starting", self.stopper.stop_signal)
                return 0
            self.source = self._open_source()
            reader: ReaderThread | None = None
            try:
                self._check_frame_interval(self.source)
                self.dispatcher = self._make_dispatcher(self.config)
                logger.info("source: %s, paced to %.1f fps", self.source.name, self.source.fps)
                self._start_taps()
                reader = ReaderThread(self.source)
                self._loop(reader)
                completed = True
            finally:
                self._finish_taps(completed)
                self.notifier.stopping(f"stopping ({self.stopper.stop_signal or 'end of source'})")
                try:
                    if reader is None or reader.stop(READER_STOP_S):
                        self.source.close()
                    else:
                        logger.warning("%s: still in read() after %.1f s: left open (the system releases it at "
                                       "exit)", self.source.name, READER_STOP_S)
                finally:
                    if self.dispatcher is not None:
                        self.dispatcher.close(timeout_s=SINK_CLOSE_S)
        finally:
            self._restore_signals(previous)
        if self.stopper.stop_signal:
            logger.info("stopped by %s after %d frames, %d events", self.stopper.stop_signal, self.frames,
                        self.events_total)
        else:
            logger.info("source ended after %d frames, %d events", self.frames, self.events_total)
        if self.events_total == 0 and self.decision is not None and self.bundle is not None:
            # The last line says why nothing fired: how close each gesture came to its threshold.
            manifest, decision = self.bundle.manifest, self.decision
            logger.info("no events: %s", self.peaks.text(manifest.labels, manifest.background_label,
                                                        decision.thresholds_by_label,
                                                        decision.settings.consecutive_windows,
                                                        manifest.frames_per_clip,
                                                        decision.settings.smooth_windows))
        if self.windows_total == 0 and self.bundle is not None and self.frames >= self.bundle.frames_per_clip:
            logger.warning("no window completed in %d frames: a window needs %d frames in a row without a jump "
                           "in frame time of more than %g model frames", self.frames, self.bundle.frames_per_clip,
                           GAP_PERIODS)
        return 0

    def check(self) -> list[str]:
        """What `run` checks before it opens a camera, without running: the bundle loaded (in a child process
        first) and checked against the config (gestures, hop), and a file or folder source opened and closed.
        Returns one line per part checked; raises the same one-line errors `run` would."""
        self._load()
        assert self.bundle is not None and self.stream is not None
        manifest, runtime = self.bundle.manifest, self.config.runtime
        lines = [f"bundle {runtime.bundle}: {len(manifest.labels)} classes, T={manifest.frames_per_clip} frames at "
                 f"{manifest.model_fps:g} fps, hop {runtime.hop_frames}, backend {self.bundle.backend.name}"]
        if self._source is None:
            if is_camera_source(runtime.source.strip()):
                lines.append(f"source {runtime.source}: a camera (not opened)")
            else:
                source = open_source(runtime.source, self.bundle.input_size_hw, manifest.model_fps, runtime.realtime,
                                     options=self.source_options)
                try:
                    self._check_frame_interval(source)
                    lines.append(f"source {source.name}")
                finally:
                    source.close()
        if self._injected_sinks is None:
            sinks = build_sinks(self.config)  # built as run builds them (nothing started, nothing sent)
            lines.append(f"sinks: {', '.join(sink.name for sink in sinks) or 'none'}")
        return lines

    def _loop(self, reader: ReaderThread) -> None:
        assert self.source and self.stream and self.bundle and self.dispatcher and self.decision
        source, stream, bundle = self.source, self.stream, self.bundle
        perf = time.perf_counter
        clock = self.clock
        period_s = 1.0 / source.fps
        last_t_s: float | None = None
        status_every_s = self.config.runtime.status_interval_s
        status_at = clock() + status_every_s
        status_frames = 0
        status_t = clock()
        while not self.stopper.stop_requested:
            t0 = perf()
            frame = reader.read(self.stopper.should_stop)
            t1 = perf()
            if frame is None:
                return
            if last_t_s is not None and (frame.t_s < last_t_s or frame.t_s - last_t_s > GAP_PERIODS * period_s):
                logger.info("frame time jumped from %.3f s to %.3f s: streaming state reset", last_t_s, frame.t_s)
                stream.reset()
            last_t_s = frame.t_s
            features = bundle.features.extract(frame.rgb)
            t2 = perf()
            windows = stream.push_features(features, frame.t_s)
            t3 = perf()
            decision = self.decision
            events: list[GestureEvent] = []
            for window in windows:
                events += decision.update(window.probs, window.end_t_s)
            t4 = perf()
            for event in events:
                self.dispatcher.submit(event)
            t5 = perf()
            for event in events:
                self.events.append(event)
                self.events_total += 1
                self.last_event = event
                logger.info("gesture %s (p %.2f) at %.2f s, lag %.2f s", _event_text(event), event.confidence,
                            event.t_s, event.lag_s)
            if windows:
                self.windows_total += len(windows)
                self.peaks.update(windows, decision.thresholds_by_label)
            for tap in self.taps:
                tap.frame(frame, windows, events, decision)
            capture_ms = (t1 - t0) * 1000.0
            self.times.add(max(capture_ms - frame.preprocess_ms - frame.wait_ms, 0.0), frame.preprocess_ms,
                           (t2 - t1) * 1000.0, (t3 - t2) * 1000.0, (t4 - t3) * 1000.0, (t5 - t4) * 1000.0)
            self.frames += 1
            if self.frames == 1:
                self.notifier.ready(f"running, first frame at {frame.t_s:.2f} s")
                logger.info("ready: first frame received")
            self._tick_watchdog()
            now = clock()
            if now >= status_at:
                elapsed = now - status_t
                self._log_status((self.frames - status_frames) / elapsed if elapsed > 0 else 0.0)
                status_frames, status_t = self.frames, now
                status_every_s = self.config.runtime.status_interval_s
                status_at = now + status_every_s
            if self.stopper.reload_requested:
                self._reload()
            if self.max_frames is not None and self.frames >= self.max_frames:
                logger.info("--max-frames %d reached", self.max_frames)
                return


def run(config: Config, *, source: FrameSource | None = None, sinks: list[Any] | None = None,
        clock: Callable[[], float] = time.monotonic, notifier: Notifier | None = None,
        reload_config: Callable[[], Config] | None = None, source_options: SourceOptions | None = None,
        max_frames: int | None = None, taps: Sequence[FrameTap] = (), stopper: Stopper | None = None) -> int:
    """Run the runtime until the source ends, a stop signal, or `max_frames`; returns the exit code (0).

    `source`/`sinks`/`notifier` replace what `config` would open (test seams); `reload_config` builds the
    config on SIGHUP (default: re-read `config.source_path`; the CLI re-applies its flags). Problems found
    before the loop starts raise one-line errors: AppError, edge.bundle.BundleError (or ManifestError),
    edge.config.ConfigError, edge.sources.SourceError; so does footage that gives nothing or stops decoding
    early (SourceError, at its end). `stopper` receives the stop/reload requests (the CLI's, whose signal
    handlers were installed before the slow imports).
    """
    return App(config, source=source, sinks=sinks, clock=clock, notifier=notifier, reload_config=reload_config,
               source_options=source_options, max_frames=max_frames, taps=taps, stopper=stopper).run()

