"""`gesture-edge run --annotate OUT.mp4`: the footage as the model saw it, with what it made of it.

Every model frame the runtime processed becomes one video frame (same count, at the model's frame rate):
the model-sized RGB input (after pacing and the INTER_AREA resize, i.e. exactly what the feature model got),
enlarged by a whole factor with nearest-neighbour so its pixels stay honest, with drawn on it

* the class probabilities the decision saw for the latest window as bars (green: the top-1 at or above its
  threshold, which a white tick marks; the background class in grey), and that window's end time: the
  window's own, or with smoothing (`smooth_windows`) the mean of the last windows, as the rules compare it;
* the decision state after this frame (`DecisionStatus.text`: armed, the run and its length, fired and
  waiting to re-arm, cooling down, refractory);
* each event, as a banner for `EVENT_SHOW_S` of footage time.

The video goes to a temp file beside OUT and is renamed to OUT when the run ends without an error.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.decision import TIME_EPS_S
from edge.fileio import temp_path
from edge.taps import TapError, check_output

logger = logging.getLogger(__name__)

MIN_HEIGHT_PX = 360
"""The model frame is enlarged by the smallest whole factor that makes it at least this tall (3x for 128)."""
EVENT_SHOW_S = 1.0
"""How long (footage time) an event's banner stays on screen."""
SUFFIXES = (".mp4", ".avi")
FOURCC = "mp4v"
"""MPEG-4 Part 2: every OpenCV build writes it without extra codecs."""
FONT = cv2.FONT_HERSHEY_SIMPLEX
ROW_PX = 17
"""Height of one probability bar row."""
GREEN, ORANGE, GREY, WHITE, BLACK, RED = ((60, 200, 60), (40, 150, 240), (150, 150, 150), (255, 255, 255),
                                          (0, 0, 0), (40, 40, 230))
"""BGR colours."""


def scale_for(height_px: int) -> int:
    """The whole enlargement factor for a model frame `height_px` tall."""
    return max(1, math.ceil(MIN_HEIGHT_PX / max(1, height_px)))


class Annotator:
    """A frame tap (see edge.taps.FrameTap) writing the annotated video."""

    def __init__(self, path: Path, flag: str = "--annotate") -> None:
        self.path = check_output(path, flag, SUFFIXES)
        self.flag = flag
        self.frames = 0
        self.size_wh = (0, 0)
        self._writer: Any = None
        self._tmp: Path | None = None
        self._labels: tuple[str, ...] = ()
        self._background: str | None = None
        self._frames_per_clip = 0
        self._scale = 1
        self._probs: np.ndarray | None = None
        self._window_t_s = 0.0
        self._banners: list[tuple[float, str]] = []

    def start(self, manifest: Any, fps: float) -> None:
        self._labels = tuple(manifest.labels)
        self._background = manifest.background_label
        self._frames_per_clip = manifest.frames_per_clip
        self._scale = scale_for(manifest.input_height_px)
        self.size_wh = (manifest.input_width_px * self._scale, manifest.input_height_px * self._scale)
        self._tmp = temp_path(self.path, self.path.suffix)  # the suffix chooses OpenCV's container
        # VideoWriter_fourcc exists at runtime; OpenCV's stubs only declare VideoWriter.fourcc
        fourcc = cv2.VideoWriter_fourcc(*FOURCC)  # type: ignore[attr-defined]
        writer = cv2.VideoWriter(str(self._tmp), fourcc, float(fps), self.size_wh)
        if not writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise TapError(f"{self.flag} {self.path}: OpenCV cannot write a {FOURCC} video there")
        self._writer = writer

    def frame(self, frame: Any, windows: Sequence[Any], events: Sequence[Any], decision: Any) -> None:
        if windows:
            seen = decision.seen if decision.seen is not None else windows[-1].probs
            self._probs = np.asarray(seen, dtype=np.float64)
            self._window_t_s = float(windows[-1].end_t_s)
        for event in events:
            repeat = f" (repeat {event.repeat})" if event.repeat else ""
            self._banners.append((float(event.t_s), f"{event.gesture} -> {event.action}{repeat}"))
        t_s = float(frame.t_s)
        self._banners = [(at, text) for at, text in self._banners if t_s - at < EVENT_SHOW_S - TIME_EPS_S]
        image = self.draw(frame.rgb, t_s, decision)
        self._writer.write(image)
        self.frames += 1

    def draw(self, rgb: np.ndarray, t_s: float, decision: Any) -> np.ndarray:
        """One annotated BGR image for a model frame at `t_s`, with `decision`'s state after it."""
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
        image = cv2.resize(bgr, self.size_wh, interpolation=cv2.INTER_NEAREST)
        width, height = self.size_wh
        status = decision.status(t_s)
        lines = status.parts()[:3]
        _shade(image, 0, 0, width, 21 + 16 * len(lines))
        _text(image, f"t {t_s:.2f} s  frame {self.frames}", 6, 15, 0.45, WHITE)
        for k, line in enumerate(lines):
            _text(image, line, 6, 32 + 16 * k, 0.42, GREEN if status.armed else ORANGE)
        rows = len(self._labels)
        top = height - rows * ROW_PX - 22
        _shade(image, 0, top, width, height)
        if self._probs is None:
            _text(image, f"warming up: the first window closes after {self._frames_per_clip} frames", 6,
                  top + 15, 0.4, WHITE)
        else:
            self._draw_bars(image, top, width, decision.thresholds_by_label, decision.settings.smooth_windows)
        for k, (_, text) in enumerate(self._banners[-2:]):
            self._banner(image, text, 96 + 36 * k)
        return image

    def _draw_bars(self, image: np.ndarray, top: int, width: int, thresholds: np.ndarray, smooth_windows: int
                   ) -> None:
        assert self._probs is not None
        probs = self._probs
        best = int(np.argmax(probs))
        what = f"mean of {smooth_windows} windows" if smooth_windows > 1 else "window"
        _text(image, f"{what} ending {self._window_t_s:.2f} s", 6, top + 14, 0.4, WHITE)
        name_px, value_px = 96, 42
        bar_x0, bar_x1 = name_px, width - value_px
        for i, label in enumerate(self._labels):
            y = top + 20 + i * ROW_PX
            background = label == self._background
            confident = i == best and not background and probs[i] >= thresholds[i]
            colour = GREY if background else (GREEN if confident else ORANGE)
            _text(image, label[:13], 6, y + 12, 0.38, WHITE)
            cv2.rectangle(image, (bar_x0, y + 3), (bar_x1, y + ROW_PX - 3), (70, 70, 70), 1)
            fill = bar_x0 + round(float(np.clip(probs[i], 0.0, 1.0)) * (bar_x1 - bar_x0))
            if fill > bar_x0:
                cv2.rectangle(image, (bar_x0, y + 3), (fill, y + ROW_PX - 3), colour, -1)
            if not background:
                tick = bar_x0 + round(min(float(thresholds[i]), 1.0) * (bar_x1 - bar_x0))
                cv2.line(image, (tick, y + 1), (tick, y + ROW_PX - 1), WHITE, 1)
            _text(image, f"{probs[i]:.2f}", bar_x1 + 4, y + 12, 0.38, WHITE)

    def _banner(self, image: np.ndarray, text: str, y: int) -> None:
        (w, h), _ = cv2.getTextSize(text, FONT, 0.7, 2)
        x = max(4, (image.shape[1] - w) // 2)
        cv2.rectangle(image, (x - 6, y - h - 8), (x + w + 6, y + 8), RED, -1)
        cv2.putText(image, text, (x, y), FONT, 0.7, WHITE, 2, cv2.LINE_AA)

    def finish(self, completed: bool) -> None:
        if self._writer is None or self._tmp is None:
            return
        self._writer.release()
        self._writer = None
        if completed and self.frames > 0:
            os.replace(self._tmp, self.path)
            logger.info("wrote %s (%d frames, %dx%d)", self.path, self.frames, *self.size_wh)
        else:
            self._tmp.unlink(missing_ok=True)
            if completed:
                logger.warning("%s %s: no frame was processed: nothing written", self.flag, self.path)


def _shade(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, alpha: float = 0.55) -> None:
    """Darken a rectangle in place so text on it reads over any footage."""
    region = image[max(0, y0):y1, max(0, x0):x1]
    region[...] = (region.astype(np.float32) * (1.0 - alpha)).astype(np.uint8)


def _text(image: np.ndarray, text: str, x: int, y: int, scale: float, colour: tuple[int, int, int]) -> None:
    cv2.putText(image, text, (x, y), FONT, scale, colour, 1, cv2.LINE_AA)
