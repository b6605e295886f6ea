"""Pacing source frames to the model's frame rate, and resizing them to the model's input.

Pacing. The recurrent model was trained on clips at the bundle's `model_fps`; a source delivering more
frames per second than that must skip some, or gestures would look slower than in training. `Pacer` keeps
a frame when its timestamp reaches the next model-frame tick (next_tick += 1 / model_fps after each kept
frame, so the average rate is exact and never drifts) and drops the others (counted in `dropped`). The
tick is reached with a tolerance of half a source frame interval (at most half a model period): of the
frames around a tick, the nearest is kept, and a camera whose frame rate equals the model's is not halved
by jitter. A source more than one period late (a stall, a gap in the footage) re-anchors the ticks.

Resizing. Every source gives the WHOLE frame resized to the model size with
`cv2.resize(..., (W, H), interpolation=cv2.INTER_AREA)` (no crop) in RGB channel order, exactly as the
training reader and the calibration reader do (`convert.data`).
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

logger = logging.getLogger(__name__)


class Pacer:
    """Decides which source frames become model frames (see the module docstring)."""

    def __init__(self, model_fps: float) -> None:
        if not model_fps > 0:
            raise ValueError(f"model_fps must be > 0, got {model_fps}")
        self.period_s = 1.0 / float(model_fps)
        self.next_tick_s: float | None = None
        self._last_t_s: float | None = None
        self.dropped = 0
        self.resyncs = 0
        """Times the ticks were re-anchored (a gap of more than a period, or time going back)."""

    def reset(self) -> None:
        """Forget the ticks: the next frame is kept and anchors them."""
        self.next_tick_s = None
        self._last_t_s = None

    def keep(self, t_s: float) -> bool:
        """True when the frame at `t_s` is a model frame; counts the frames it drops."""
        last, self._last_t_s = self._last_t_s, t_s
        if self.next_tick_s is None or last is None or t_s < last:
            if self.next_tick_s is not None:
                self.resyncs += 1
            self.next_tick_s = t_s + self.period_s
            return True
        interval = t_s - last
        tolerance = 0.5 * min(self.period_s, interval) if interval > 0 else 0.0
        if t_s + tolerance < self.next_tick_s:
            self.dropped += 1
            return False
        if t_s - self.next_tick_s >= self.period_s:
            # More than a period late: a stall or a gap. Anchor on this frame instead of bursting to catch up.
            self.resyncs += 1
            self.next_tick_s = t_s + self.period_s
        else:
            self.next_tick_s += self.period_s
        return True


class Resizer:
    """Source image -> model-sized RGB uint8, with the resize target preallocated (no large arrays per frame)."""

    def __init__(self, size_hw: tuple[int, int], bgr: bool) -> None:
        self.size_hw = (int(size_hw[0]), int(size_hw[1]))
        self.bgr = bgr
        self._small = np.empty((*self.size_hw, 3), dtype=np.uint8)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """A new (H, W, 3) RGB array (model-sized, small) from `image` (any size, BGR or RGB, 3 or 4 channels)."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if self.bgr else cv2.COLOR_GRAY2RGB)
        elif image.shape[2] == 4:
            image = image[:, :, :3]
        height, width = self.size_hw
        if image.shape[:2] == self.size_hw:
            np.copyto(self._small, image)
        else:
            cv2.resize(image, (width, height), dst=self._small, interpolation=cv2.INTER_AREA)
        if self.bgr:
            return cv2.cvtColor(self._small, cv2.COLOR_BGR2RGB)
        return self._small.copy()


def capture_size_wh(size_hw: tuple[int, int], sensor_wh: tuple[int, int] | None) -> tuple[int, int]:
    """(width, height) to ask a camera's scaler for: near the model size, with the sensor's aspect ratio.

    The ISP then scales the whole field of view (a model-shaped request would make libcamera crop it to that
    shape), and the last small resize to the model size squeezes the whole frame exactly like the training
    reader does. Width is a multiple of 64 (ISP alignment), height even, both >= the model's.
    """
    height, width = size_hw
    if not sensor_wh or sensor_wh[0] <= 0 or sensor_wh[1] <= 0:
        return int(width), int(height)
    aspect = sensor_wh[0] / sensor_wh[1]
    out_w = 64 * math.ceil(width / 64)
    while True:
        out_h = 2 * round(out_w / aspect / 2)
        if out_h >= height:
            return int(out_w), int(out_h)
        out_w += 64
