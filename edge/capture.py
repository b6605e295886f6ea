"""`gesture-edge capture`: record clips in the real room, in the case-study layout.

Calibrating the int8 models on frames from the room, camera and light they will run in (`gesture-convert
--calib DIR`) is the cheapest accuracy win there is; labelled clips can also be used to fine-tune. Each
clip is `frames` frames over `duration_s` (default 30 over 2.0 s: the case-study clips), paced like the
runtime paces the camera, written as JPEGs:

    OUT/train/clip_00001/00001.jpg ... 00030.jpg
    OUT/train.csv                     clip_00001;Swipe;0       (labelled clips only: folder;label_name;index)

Labels (case-insensitive, a trailing `_new` ignored): Swipe (0), Left Swipe (0), Right Swipe (1), Stop (2),
Thumbs Down (3), Thumbs Up (4), No gesture (5) -- the case-study indexes (5 is our background extension).
With several --label, `--clips N` clips of each are recorded in turns (Swipe, Stop, Swipe, Stop, ...).
Without --label the clips are unlabelled (calibration needs no labels): they are written under OUT/train/
and not listed in train.csv; calibrate with `--calib OUT/train`.

A countdown on stderr precedes each clip (no input needed, so it works over ssh or in a script); from a
live camera the frames of the countdown are read and discarded, so a clip never starts with stale frames.
Running again with the same OUT adds clips after the existing ones. Every clip folder and train.csv is
written to a temp name first and renamed: an interrupted session leaves only complete clips.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np

from edge.manifest import write_text_atomic
from edge.sources import FrameSource, SourceError, SourceOptions, open_source

logger = logging.getLogger(__name__)

LABELS = {
    "swipe": ("Swipe", 0),
    "left swipe": ("Left Swipe_new", 0),
    "right swipe": ("Right Swipe_new", 1),
    "stop": ("Stop_new", 2),
    "thumbs down": ("Thumbs Down_new", 3),
    "thumbs up": ("Thumbs Up_new", 4),
    "no gesture": ("No gesture", 5),
}
"""Accepted label (lower case) -> (label name written to train.csv, case-study label index)."""
CLIP_PREFIX = "clip_"
JPEG_QUALITY = 95


class CaptureError(Exception):
    """A capture that cannot be done. The message is one line."""


@dataclass(frozen=True)
class CaptureSettings:
    """Everything `gesture-edge capture` needs."""

    source: str
    """Frame source spec (see edge.sources)."""
    out: Path
    """Dataset root (created if missing; clips are added after existing ones)."""
    clips: int
    """Clips per label (or in total, without labels)."""
    labels: tuple[str, ...] = ()
    """Labels as typed; empty: unlabelled clips."""
    frames: int = 30
    duration_s: float = 2.0
    """Each clip spans this long: frames are paced to frames / duration_s per second."""
    countdown_s: float = 3.0
    """Seconds of countdown before each clip (0: none)."""
    size_hw: tuple[int, int] = (120, 160)
    """Saved frame size (the whole camera frame, resized with INTER_AREA like everywhere)."""
    folder_fps: float | None = None
    retry_max_s: float = 30.0


def parse_label(text: str) -> tuple[str, int]:
    """A label as typed -> (name for train.csv, case-study index); CaptureError when unknown."""
    key = re.sub(r"_new$", "", text.strip(), flags=re.IGNORECASE).strip().lower()
    key = re.sub(r"\s+", " ", key)
    if key not in LABELS:
        known = ", ".join(sorted({name.replace("_new", "") for name, _ in LABELS.values()} | {"Swipe"}))
        raise CaptureError(f"--label {text!r}: unknown label (expected one of: {known})")
    return LABELS[key]


def _existing_numbers(train_dir: Path) -> list[int]:
    numbers = []
    if train_dir.is_dir():
        for path in train_dir.iterdir():
            match = re.fullmatch(rf"{CLIP_PREFIX}(\d+)", path.name)
            if match and path.is_dir():
                numbers.append(int(match.group(1)))
    return numbers


def _write_clip(train_dir: Path, folder: str, frames: list[np.ndarray]) -> Path:
    """Write RGB frames as 00001.jpg... into train_dir/folder through a temp folder + rename."""
    final = train_dir / folder
    temp = Path(tempfile.mkdtemp(prefix=f".{folder}.", suffix=".tmp", dir=train_dir))
    try:
        for number, rgb in enumerate(frames, start=1):
            path = temp / f"{number:05d}.jpg"
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise CaptureError(f"{path}: cannot write the JPEG")
        temp.rename(final)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return final


class Capture:
    """One capture session (see the module docstring)."""

    def __init__(self, settings: CaptureSettings, *, source: FrameSource | None = None,
                 prompt: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.s = settings
        if settings.clips < 1:
            raise CaptureError(f"--clips {settings.clips}: expected at least 1")
        if settings.frames < 1:
            raise CaptureError(f"--frames {settings.frames}: expected at least 1")
        if not (settings.duration_s > 0 and math.isfinite(settings.duration_s)):
            raise CaptureError(f"--duration-s {settings.duration_s}: expected a number > 0")
        if settings.countdown_s < 0:
            raise CaptureError(f"--countdown-s {settings.countdown_s}: expected a number >= 0")
        self.labels = [parse_label(label) for label in settings.labels]
        self.fps = settings.frames / settings.duration_s
        self._source = source
        self._prompt = prompt
        self._clock = clock
        self.stop_requested = False
        self._sleep = sleep or self._interruptible_sleep
        self.written: list[Path] = []

    def _say(self, text: str) -> None:
        stream = self._prompt if self._prompt is not None else sys.stderr
        print(text, file=stream, flush=True)

    def _interruptible_sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.stop_requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.05, left))

    def _plan(self) -> list[tuple[str, int] | None]:
        if not self.labels:
            return [None] * self.s.clips
        return [label for _ in range(self.s.clips) for label in self.labels]

    def _countdown(self, source: FrameSource) -> None:
        seconds = self.s.countdown_s
        if seconds <= 0:
            return
        deadline = self._clock() + seconds
        shown = math.ceil(seconds)
        self._say(f"  {shown}...")
        while not self.stop_requested:
            left = deadline - self._clock()
            if left <= 0:
                break
            if math.ceil(left) < shown:
                shown = math.ceil(left)
                self._say(f"  {shown}...")
            if source.live:
                source.read()  # keep the camera's queue fresh; these frames are discarded
            else:
                self._sleep(min(left, 0.1))

    def run(self) -> int:
        """Record the clips; 0 when all were written, 1 when the source ended or a stop came first."""
        train_dir = self.s.out / "train"
        try:
            train_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaptureError(f"{self.s.out}: cannot create the output folder ({exc.strerror or exc})") from None
        csv_path = self.s.out / "train.csv"
        lines = csv_path.read_text(encoding="utf-8").splitlines() if csv_path.is_file() else []
        lines = [line for line in lines if line.strip()]
        number = max(_existing_numbers(train_dir), default=0)
        source = self._source or open_source(self.s.source, self.s.size_hw, self.fps, False,
                                             options=SourceOptions(folder_fps=self.s.folder_fps),
                                             retry_max_s=self.s.retry_max_s, clock=self._clock,
                                             sleep=self._sleep, should_stop=lambda: self.stop_requested)
        plan = self._plan()
        try:
            for k, label in enumerate(plan, start=1):
                what = label[0].replace("_new", "") if label else "any movement (unlabelled)"
                self._say(f"clip {k}/{len(plan)}: {what} -- {self.s.frames} frames over {self.s.duration_s:g} s")
                self._countdown(source)
                if self.stop_requested:
                    break
                self._say("  go!")
                frames = []
                while len(frames) < self.s.frames and not self.stop_requested:
                    frame = source.read()
                    if frame is None:
                        break
                    frames.append(frame.rgb)
                if len(frames) < self.s.frames:
                    if not self.stop_requested:
                        self._say(f"  the source ended after {len(frames)} of {self.s.frames} frames: clip dropped")
                    break
                number += 1
                folder = f"{CLIP_PREFIX}{number:05d}"
                path = _write_clip(train_dir, folder, frames)
                self.written.append(path)
                if label is not None:
                    lines.append(f"{folder};{label[0]};{label[1]}")
                    write_text_atomic(csv_path, "\n".join(lines) + "\n")
                self._say(f"  saved {path}")
        finally:
            source.close()
        done = len(self.written)
        calib = self.s.out if self.labels else train_dir
        self._say(f"{done} of {len(plan)} clips written to {train_dir}; calibrate with: "
                  f"gesture-convert MODEL --calib {calib}")
        return 0 if done == len(plan) else 1


def run_capture(settings: CaptureSettings) -> int:
    """Run a capture session with SIGINT/SIGTERM stopping it after the current frame (exit 1)."""
    capture = Capture(settings)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        def stop(_signum: int, _frame: Any) -> None:
            capture.stop_requested = True

        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, stop)
    try:
        return capture.run()
    except SourceError as exc:
        raise CaptureError(str(exc)) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
