"""The Raspberry Pi camera through picamera2/libcamera (`from picamera2 import Picamera2` happens only here).

picamera2 colour order (Picamera2 manual, "Image formats"; libcamera names formats after DRM fourccs,
which describe a little-endian word, so the names read backwards from the bytes in memory):
  "RGB888" -> each pixel is [B, G, R] in the numpy array (what OpenCV calls BGR)
  "BGR888" -> each pixel is [R, G, B]
The adapter asks for "RGB888" (the format every picamera2 + OpenCV example uses, so its behaviour on a given
Pi is the best known) and converts B,G,R -> R,G,B like every OpenCV source. A camera stack that gets this
wrong (picamera2 issue #1325 reports swapped channels with the IMX500 AI camera on a Pi 5) can be
checked with `gesture-edge capture` (the saved JPEGs must show true colours).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.sources.base import SourceError, no_stop
from edge.sources.camera import CameraSource
from edge.sources.pacing import capture_size_wh

logger = logging.getLogger(__name__)

PICAMERA2_FORMAT = "RGB888"
"""Gives B,G,R bytes per pixel (see the module docstring)."""


def _import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2
    except ImportError as exc:
        raise SourceError(f"source picamera2: the picamera2 module is not importable ({exc}); on Raspberry Pi "
                          "OS: sudo apt install python3-picamera2 and make the venv with --system-site-packages; "
                          "for a USB webcam use --source cam:0 (runtime.source)") from None
    return Picamera2


class Picamera2Source(CameraSource):
    """The Raspberry Pi camera through picamera2/libcamera; the ISP scales to near the model size."""

    bgr = True  # "RGB888" is B,G,R in memory

    def __init__(self, size_hw: tuple[int, int], model_fps: float, *, retry_max_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 should_stop: Callable[[], bool] = no_stop, camera_factory: Callable[[], Any] | None = None) -> None:
        super().__init__("picamera2", size_hw, model_fps, retry_max_s, clock, sleep, should_stop)
        if camera_factory is None:
            picamera2_cls = _import_picamera2()
            camera_factory = picamera2_cls
        self._factory = camera_factory
        self._cam: Any = None
        self.configuration: Any = None
        """What was passed to configure() last (for logs and tests)."""

    def _open_device(self) -> None:
        cam = self._factory()
        self._cam = cam
        try:
            sensor = getattr(cam, "sensor_resolution", None)
            size = capture_size_wh(self.size_hw, tuple(sensor) if sensor else None)
            config = cam.create_video_configuration(main={"size": size, "format": PICAMERA2_FORMAT},
                                                    controls={"FrameRate": self.fps})
            cam.configure(config)
            cam.start()
        except Exception:
            self._cam = None
            with contextlib.suppress(Exception):  # the original error is the one to report
                cam.close()
            raise
        self.configuration = config
        logger.info("picamera2: open, %dx%d %s at %.1f fps (sensor %s; model %dx%d)", size[0], size[1],
                    PICAMERA2_FORMAT, self.fps, sensor, self.size_hw[1], self.size_hw[0])

    def _read_image(self) -> np.ndarray | None:
        return self._cam.capture_array()

    def _release_device(self) -> None:
        cam, self._cam = self._cam, None
        if cam is None:
            return
        try:
            cam.stop()
        finally:
            cam.close()
