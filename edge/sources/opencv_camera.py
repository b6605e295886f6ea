"""OpenCV cameras: a V4L2 device through cv2.VideoCapture (`cam:N` or `/dev/videoN`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from edge.sources.base import no_stop
from edge.sources.camera import CameraSource
from edge.sources.pacing import capture_size_wh

logger = logging.getLogger(__name__)


class OpenCVCameraSource(CameraSource):
    """A V4L2 camera through cv2.VideoCapture (`cam:N` or `/dev/videoN`)."""

    def __init__(self, device: int | str, size_hw: tuple[int, int], model_fps: float, *, retry_max_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 should_stop: Callable[[], bool] = no_stop,
                 capture_factory: Callable[[int | str], Any] | None = None) -> None:
        super().__init__(f"camera {device}", size_hw, model_fps, retry_max_s, clock, sleep, should_stop)
        self.device = device
        self._factory = capture_factory or self._default_capture
        self._cap: Any = None
        self._raw: np.ndarray | None = None

    @staticmethod
    def _default_capture(device: int | str) -> Any:
        if isinstance(device, str):
            return cv2.VideoCapture(device, cv2.CAP_V4L2)
        return cv2.VideoCapture(device)

    def _open_device(self) -> None:
        cap = self._factory(self.device)
        if not cap.isOpened():
            cap.release()
            raise OSError("cannot open the device")
        width, height = capture_size_wh(self.size_hw, (4, 3))
        # Hints only: a camera picks its nearest mode; pacing and the resize handle whatever it gives.
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the freshest frame, not one queued seconds ago
        self._cap = cap
        logger.info("%s: open, %dx%d at %.1f fps (model %dx%d at %.1f fps)", self.name,
                    int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                    float(cap.get(cv2.CAP_PROP_FPS)), self.size_hw[1], self.size_hw[0], self.fps)

    def _read_image(self) -> np.ndarray | None:
        ok, image = self._cap.read(self._raw)
        if not ok or image is None:
            return None
        self._raw = image
        return image

    def _release_device(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
