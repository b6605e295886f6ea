"""What live cameras share: retry with back-off, pacing and resizing around a subclass's open/read/release.

A camera that fails to open or stops delivering is retried with exponential back-off (0.5 s, 1 s, 2 s, ...
capped at `retry_max_s`), logged each time, until it works again or a stop is requested.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from edge.errors import one_line
from edge.sources.base import Frame, SourceError
from edge.sources.pacing import Pacer, Resizer

logger = logging.getLogger(__name__)

RETRY_FIRST_S = 0.5
"""First back-off delay before reopening a failed camera (then doubling up to retry_max_s)."""


class CameraSource:
    """Shared retry/back-off and pacing of live cameras; subclasses open, read one image and release."""

    live = True
    bgr = True
    frame_interval_s: float | None = None
    """Set by the camera, not known up front."""

    def __init__(self, name: str, size_hw: tuple[int, int], model_fps: float, retry_max_s: float,
                 clock: Callable[[], float], sleep: Callable[[float], None],
                 should_stop: Callable[[], bool]) -> None:
        self.name = name
        self.size_hw = (int(size_hw[0]), int(size_hw[1]))
        self.fps = float(model_fps)
        self.retry_max_s = max(float(retry_max_s), RETRY_FIRST_S)
        self._clock, self._sleep, self._should_stop = clock, sleep, should_stop
        self._pacer = Pacer(model_fps)
        self._resize = Resizer(size_hw, bgr=self.bgr)
        self._index = 0
        self._opened = False
        self._delay_s = RETRY_FIRST_S
        self.failures = 0
        """Open or read failures so far (each one is followed by a back-off)."""
        self.closed = False

    @property
    def dropped(self) -> int:
        return self._pacer.dropped

    # Subclass hooks -----------------------------------------------------------------------------------
    def _open_device(self) -> None:
        raise NotImplementedError

    def _read_image(self) -> np.ndarray | None:
        raise NotImplementedError

    def _release_device(self) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------------------
    def _fail(self, what: str, exc: BaseException | str) -> None:
        self.failures += 1
        detail = exc if isinstance(exc, str) else one_line(exc, with_type=True)
        logger.warning("%s: %s (%s); retrying in %.1f s", self.name, what, detail, self._delay_s)
        self._close_quietly()
        self._sleep(self._delay_s)
        self._delay_s = min(self._delay_s * 2.0, self.retry_max_s)
        self._pacer.reset()

    def _close_quietly(self) -> None:
        if self._opened:
            self._opened = False
            try:
                self._release_device()
            except Exception as exc:  # noqa: BLE001 - a failing release must not stop the retries
                logger.debug("%s: release failed: %s", self.name, exc)

    def read(self) -> Frame | None:
        """The next paced frame; retries a failing camera until it works again or a stop is requested."""
        while not self.closed and not self._should_stop():
            if not self._opened:
                try:
                    self._open_device()
                except SourceError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any driver error: retry
                    self._fail("cannot open the camera", exc)
                    continue
                self._opened = True
                if self.failures:
                    logger.info("%s: camera open again after %d failure(s)", self.name, self.failures)
            try:
                image = self._read_image()
            except Exception as exc:  # noqa: BLE001 - any driver error: retry
                self._fail("the camera stopped delivering frames", exc)
                continue
            if image is None:
                self._fail("the camera stopped delivering frames", "no frame")
                continue
            self._delay_s = RETRY_FIRST_S
            t_s = self._clock()
            if not self._pacer.keep(t_s):
                continue
            started = time.perf_counter()
            rgb = self._resize(image)
            preprocess_ms = (time.perf_counter() - started) * 1000.0
            frame = Frame(rgb=rgb, t_s=t_s, index=self._index, preprocess_ms=preprocess_ms)
            self._index += 1
            return frame
        return None

    def close(self) -> None:
        """Release the camera. Idempotent."""
        if not self.closed:
            self.closed = True
            self._close_quietly()
