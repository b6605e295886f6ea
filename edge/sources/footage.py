"""Footage sources: a video file (`VideoFileSource`) or a folder of images (`FolderSource`).

Frame times are the footage's own (a file's CAP_PROP_POS_MSEC, a folder's position / `folder_fps`), so the
events of a run line up with the stream's ground truth. `--realtime` sleeps to play the footage at its own
speed; `--loop` plays it again from the start with time still increasing. A file or folder that ends ends
the source (`read()` returns None).

Footage that gives nothing is an error, not an empty run: `read()` raises SourceError at the end of a file or
folder from which no frame could be decoded, and at the end of a video whose decoding stopped well before the
frame count its container gives (a truncated or damaged file).
"""

from __future__ import annotations

import logging
import os
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.sources.base import Frame, SourceError, no_stop
from edge.sources.pacing import Pacer, Resizer

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
EARLY_END_TOLERANCE = 0.02
"""A video may decode this fraction of its container's frame count (plus one frame) less before its end counts
as early: some containers only estimate the count from the duration."""


class _Footage:
    """Shared pacing, realtime playback and looping of video files and folders."""

    live = False

    def __init__(self, name: str, size_hw: tuple[int, int], model_fps: float, realtime: bool, loop: bool,
                 clock: Callable[[], float], sleep: Callable[[float], None],
                 should_stop: Callable[[], bool]) -> None:
        self.name = name
        self.fps = float(model_fps)
        self.realtime = realtime
        self.loop = loop
        self._clock, self._sleep, self._should_stop = clock, sleep, should_stop
        self._pacer = Pacer(model_fps)
        self._resize = Resizer(size_hw, bgr=True)
        self._index = 0
        self._offset_s = 0.0
        """Added to footage times after each loop, so time keeps increasing."""
        self._wall0: float | None = None
        self._t0 = 0.0
        self.closed = False
        self.frame_interval_s: float | None = None
        """Nominal time between two frames of the footage (None when unknown)."""

    @property
    def dropped(self) -> int:
        return self._pacer.dropped

    def _pace_realtime(self, t_s: float) -> float:
        """Sleep until footage time `t_s` is due on the wall clock; returns the ms slept."""
        if not self.realtime:
            return 0.0
        now = self._clock()
        if self._wall0 is None:
            self._wall0, self._t0 = now, t_s
            return 0.0
        wait_s = (self._wall0 + (t_s - self._t0)) - now
        if wait_s <= 0:
            return 0.0
        started = time.perf_counter()
        self._sleep(wait_s)
        return (time.perf_counter() - started) * 1000.0

    def _deliver(self, image_bgr: np.ndarray, t_s: float) -> Frame:
        """Resize a kept footage image (timed), wait for it in --realtime, and hand it out as the next Frame."""
        started = time.perf_counter()
        rgb = self._resize(image_bgr)
        preprocess_ms = (time.perf_counter() - started) * 1000.0
        wait_ms = self._pace_realtime(t_s)
        frame = Frame(rgb=rgb, t_s=t_s, index=self._index, preprocess_ms=preprocess_ms, wait_ms=wait_ms)
        self._index += 1
        return frame


class VideoFileSource(_Footage):
    """A video file through cv2.VideoCapture; frame times from CAP_PROP_POS_MSEC (else index / file fps)."""

    def __init__(self, path: Path, size_hw: tuple[int, int], model_fps: float, *, realtime: bool = False,
                 loop: bool = False, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, should_stop: Callable[[], bool] = no_stop) -> None:
        super().__init__(f"video {path}", size_hw, model_fps, realtime, loop, clock, sleep, should_stop)
        self.path = path
        self._raw: np.ndarray | None = None
        self._cap = self._open()
        self.file_fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(self.file_fps) or self.file_fps <= 0:
            self.file_fps = 0.0
        self.frame_interval_s = 1.0 / self.file_fps if self.file_fps > 0 else None
        count = float(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        self.frame_count = int(count) if math.isfinite(count) and count > 0 else 0
        """Frames the container says it holds (0: it does not say)."""
        self.undecodable = 0
        self._file_index = 0
        self._last_file_t = -math.inf
        self._use_pos_msec = True
        # Decode the first frame now: a file OpenCV opens but cannot decode is an error at open, not an
        # empty run.
        if not self._cap.grab():
            self._cap.release()
            raise SourceError(f"{path}: cannot read a frame from it (not a video OpenCV can decode, or empty)")
        self._pending = True
        if 0 < self.file_fps < model_fps:
            logger.warning("%s: %.1f fps is below the model's %.1f fps: gestures will look faster than in "
                           "training", path, self.file_fps, model_fps)

    def _open(self) -> Any:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.path}: cannot open it as a video (not a video file OpenCV can decode?)")
        return cap

    def _file_time_s(self) -> float:
        """Timestamp of the frame just grabbed."""
        index = self._file_index
        if self._use_pos_msec:
            pos_s = float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            if math.isfinite(pos_s) and pos_s >= 0 and (pos_s > self._last_file_t or index == 0):
                return pos_s
            if self.file_fps > 0:
                logger.info("%s: the decoder gives no usable frame times; using frame index / %.3f fps",
                            self.path, self.file_fps)
                self._use_pos_msec = False
        if self.file_fps > 0:
            return index / self.file_fps
        return index / self.fps

    def _restart(self) -> None:
        """Play the file again from its start; its times continue after the last frame's."""
        step_s = 1.0 / self.file_fps if self.file_fps > 0 else self._pacer.period_s
        self._offset_s += self._last_file_t + step_s
        self._cap.release()
        self._cap = self._open()
        self._file_index, self._last_file_t = 0, -math.inf
        logger.debug("%s: looping (time offset %.3f s)", self.path, self._offset_s)

    def read(self) -> Frame | None:
        """The next paced frame, or None at the end of the file."""
        while not self.closed:
            if self._should_stop():
                return None
            if not self._pending and not self._cap.grab():
                self._check_complete()
                if not self.loop or self._file_index == 0:
                    return None
                self._restart()
                continue
            self._pending = False
            file_t = self._file_time_s()
            self._last_file_t = file_t
            self._file_index += 1
            t_s = self._offset_s + file_t
            if not self._pacer.keep(t_s):
                continue
            ok, image = self._cap.retrieve(self._raw)
            if not ok or image is None:
                self.undecodable += 1
                logger.warning("%s: frame %d could not be decoded: skipped", self.path, self._file_index - 1)
                continue
            self._raw = image
            return self._deliver(image, t_s)
        return None

    def _check_complete(self) -> None:
        """At the end of one pass through the file: SourceError if it gave nothing or stopped decoding early."""
        if self._index == 0:
            raise SourceError(f"{self.path}: no frame of it could be decoded ({self._file_index} read, "
                              f"{self.undecodable} of them undecodable)")
        expected = self.frame_count
        if expected and self._file_index < expected * (1.0 - EARLY_END_TOLERANCE) - 1:
            raise SourceError(f"{self.path}: decoding stopped after {self._file_index} of the {expected} frames "
                              f"its container lists (a truncated or damaged file?)")

    def close(self) -> None:
        """Release the file."""
        if not self.closed:
            self.closed = True
            self._cap.release()


def video_model_frames(path: str | os.PathLike[str], model_fps: float) -> int | None:
    """About how many model frames a video file gives at `model_fps` (its frame count over its frame rate), for
    progress bars; None when the container does not say."""
    cap = cv2.VideoCapture(str(path))
    try:
        count, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    return int(math.ceil(count / fps * model_fps)) if count > 0 and fps > 0 else None


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class FolderSource(_Footage):
    """Image files of a folder in natural order (00002.jpg before 00010.jpg), at `folder_fps`."""

    def __init__(self, path: Path, size_hw: tuple[int, int], model_fps: float, *, folder_fps: float | None = None,
                 realtime: bool = False, loop: bool = False, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, should_stop: Callable[[], bool] = no_stop) -> None:
        super().__init__(f"folder {path}", size_hw, model_fps, realtime, loop, clock, sleep, should_stop)
        self.path = path
        self.folder_fps = float(folder_fps) if folder_fps else float(model_fps)
        if not self.folder_fps > 0:
            raise SourceError(f"{path}: folder frame rate must be > 0, got {folder_fps}")
        self.files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                            key=_natural_key)
        if not self.files:
            raise SourceError(f"{path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        self._next = 0
        self.unreadable = 0
        self.frame_interval_s = 1.0 / self.folder_fps

    def read(self) -> Frame | None:
        """The next paced image, or None after the last one."""
        while not self.closed:
            if self._should_stop():
                return None
            if self._next >= len(self.files):
                if self._index == 0:
                    raise SourceError(f"{self.path}: no frame: none of the {self.unreadable} images read (of "
                                      f"{len(self.files)} image files) could be decoded")
                if not self.loop:
                    return None
                self._offset_s += len(self.files) / self.folder_fps
                self._next = 0
            position = self._next
            self._next += 1
            t_s = self._offset_s + position / self.folder_fps
            if not self._pacer.keep(t_s):
                continue
            image = cv2.imread(str(self.files[position]), cv2.IMREAD_COLOR)
            if image is None:
                self.unreadable += 1
                logger.warning("%s: not a readable image: skipped", self.files[position])
                continue
            return self._deliver(image, t_s)
        return None

    def close(self) -> None:
        """Nothing is held open between frames."""
        self.closed = True
