"""Observers of the frame loop: what `gesture-edge run --windows/--annotate` and the benchmarks see.

A tap is handed every model frame after the decision stage, with the windows that closed on it and the
events they fired. Taps only look: they never change what the runtime decides. Files they write appear only
when the run ends normally (a temp file beside the target, renamed at the end); a run that fails leaves
nothing behind.

    FrameTap        the protocol (start / frame / finish)
    WindowRecorder  every window's end time and probabilities in memory (gesture-bench events --plot, tune)
    WindowLog       every window as one JSON line (--windows FILE.jsonl)
    PeakTracker     the highest probability each class reached (the closing line of a run without events)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from edge.fileio import temp_path

logger = logging.getLogger(__name__)


class TapError(Exception):
    """A tap that cannot start (an output that cannot be written). The message is one line."""


class FrameTap(Protocol):
    """Sees every model frame of a run, after the decision stage."""

    def start(self, manifest: Any, fps: float) -> None:
        """Called once the bundle is loaded and the source is open (`manifest`: edge.manifest.Manifest)."""

    def frame(self, frame: Any, windows: Sequence[Any], events: Sequence[Any], decision: Any) -> None:
        """One model frame (edge.sources.Frame), the windows that closed on it (edge.stream.Window), the
        events they fired and the DecisionMaker that decided (its state is the one after this frame)."""

    def finish(self, completed: bool) -> None:
        """The run is over: `completed` when the source ended or a stop was asked for, False on an error."""


def check_output(path: Path, flag: str, suffixes: Sequence[str]) -> Path:
    """An output path for `flag`: its folder must exist and its name end in one of `suffixes`."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in suffixes:
        raise TapError(f"{flag} {path}: expected a file name ending in {' or '.join(suffixes)}")
    if not path.parent.is_dir():
        raise TapError(f"{flag} {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise TapError(f"{flag} {path}: is a folder, expected a file name")
    return path


class AtomicFile:
    """A file written as a run goes, under a temp name beside the target (`edge.fileio.temp_path`); renamed
    over the target only when the run completed, removed otherwise."""

    def __init__(self, path: Path, flag: str) -> None:
        self.path = Path(path)
        self.tmp = temp_path(self.path)
        try:
            # O_EXCL: never through someone else's file; 0o666 less the umask, like open().
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as exc:
            raise TapError(f"{flag} {self.path}: cannot write in {self.path.parent} ({exc.strerror or exc})") from None
        self.handle: IO[str] = os.fdopen(fd, "w", encoding="utf-8")

    def finish(self, completed: bool) -> bool:
        """Close; rename over the target when `completed`, else delete. Returns whether the target was written."""
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
        finally:
            self.handle.close()
        if completed:
            os.replace(self.tmp, self.path)
            return True
        self.tmp.unlink(missing_ok=True)
        return False


class WindowRecorder:
    """Keeps every window's end time and probabilities (float32, label order) and every event, in memory."""

    def __init__(self) -> None:
        self.t_s: list[float] = []
        self.probs: list[np.ndarray] = []
        self.events: list[Any] = []
        self.frames = 0
        self.labels: tuple[str, ...] = ()

    def start(self, manifest: Any, fps: float) -> None:
        self.labels = tuple(manifest.labels)

    def frame(self, frame: Any, windows: Sequence[Any], events: Sequence[Any], decision: Any) -> None:
        self.frames += 1
        for window in windows:
            self.t_s.append(float(window.end_t_s))
            self.probs.append(np.array(window.probs, dtype=np.float32, copy=True))
        self.events.extend(events)

    def finish(self, completed: bool) -> None:
        pass

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(t_s (n,), probs (n, classes)) of every window so far."""
        if not self.probs:
            return np.zeros(0), np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.asarray(self.t_s, dtype=np.float64), np.stack(self.probs)


class WindowLog:
    """`--windows FILE.jsonl`: one JSON object per window, {"t_s", "start_t_s", "probs": {label: p}}.

    `t_s` is the window's end (the time a decision on it is made, as an event's `t_s`), in the source's time
    base. Written to a temp file as the run goes, renamed to FILE at the end of a run that did not fail.
    """

    def __init__(self, path: Path, flag: str = "--windows") -> None:
        self.path = check_output(path, flag, (".jsonl",))
        self.flag = flag
        self._file: AtomicFile | None = None
        self._labels: tuple[str, ...] = ()
        self.windows = 0

    def start(self, manifest: Any, fps: float) -> None:
        self._labels = tuple(manifest.labels)
        self._file = AtomicFile(self.path, self.flag)

    def frame(self, frame: Any, windows: Sequence[Any], events: Sequence[Any], decision: Any) -> None:
        assert self._file is not None
        for window in windows:
            record = {"t_s": round(float(window.end_t_s), 4), "start_t_s": round(float(window.start_t_s), 4),
                      "probs": {label: round(float(p), 5) for label, p in zip(self._labels, window.probs)}}
            self._file.handle.write(json.dumps(record) + "\n")
            self.windows += 1

    def finish(self, completed: bool) -> None:
        if self._file is not None and self._file.finish(completed):
            logger.info("wrote %s (%d windows)", self.path, self.windows)


class PeakTracker:
    """The highest probability every class reached, and in how many windows it was at or above its threshold."""

    def __init__(self) -> None:
        self.peak: np.ndarray | None = None
        self.at_or_above: np.ndarray | None = None
        self.windows = 0

    def update(self, windows: Sequence[Any], thresholds: np.ndarray) -> None:
        """Fold in the windows of one frame; `thresholds`: every label's threshold, label order."""
        for window in windows:
            if self.peak is None:
                self.peak = np.zeros(len(window.probs), dtype=np.float64)
                self.at_or_above = np.zeros(len(window.probs), dtype=np.int64)
            assert self.at_or_above is not None
            np.maximum(self.peak, window.probs, out=self.peak)
            self.at_or_above += window.probs >= thresholds
            self.windows += 1

    def text(self, labels: Sequence[str], background_label: str | None, thresholds: np.ndarray,
             consecutive_windows: int, frames_per_clip: int, smooth_windows: int = 1) -> str:
        """Why nothing fired, in one line: each gesture's highest probability against its threshold."""
        if self.peak is None or self.at_or_above is None:
            return f"no window closed (a window needs {frames_per_clip} model frames)"
        parts = []
        for i, label in enumerate(labels):
            if label == background_label:
                continue
            part = f"{label} {self.peak[i]:.2f}/{thresholds[i]:.2f}"
            if self.at_or_above[i]:
                part += f" ({int(self.at_or_above[i])} window{'s' if self.at_or_above[i] != 1 else ''} at or above)"
            parts.append(part)
        rule = f"{consecutive_windows} confident top-1 windows in a row fire"
        if smooth_windows > 1:
            rule += f"; what must reach the threshold is the mean of the last {smooth_windows} windows"
        return (f"highest probability per gesture / its threshold over {self.windows} windows: " + ", ".join(parts)
                + f" ({rule})")
