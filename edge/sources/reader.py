"""`ReaderThread`: a source's `read()` on a worker thread, so the frame loop can always stop.

A camera driver can block in `read()` for good (a wedged USB camera, libcamera waiting on a sensor that died):
called on the main thread, such a read would keep the service from ever seeing SIGTERM. The reader does one
`read()` per request on a daemon thread, and the caller waits for the answer in short slices, checking its
stop condition between them. No frame is read ahead: the frames, their times and their order are exactly those
of calling `read()` directly.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from edge.sources.base import Frame, FrameSource

logger = logging.getLogger(__name__)

WAIT_SLICE_S = 0.05
"""How often a waiting caller checks its stop condition (bounds the reaction time to SIGTERM)."""

_READ, _QUIT = "read", "quit"


class ReaderThread:
    """Runs `source.read()` on a daemon thread, one request at a time (see the module docstring)."""

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self._requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[Frame | None | BaseException] = queue.SimpleQueue()
        self.pending = False
        """A read was asked for and has not answered yet (after `read` gave up waiting: the source is stuck)."""
        self._thread = threading.Thread(target=self._serve, name=f"reader {source.name}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._requests.get() == _READ:
            try:
                result: Frame | None | BaseException = self.source.read()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
                result = exc
            self._results.put(result)

    def read(self, should_stop: Callable[[], bool]) -> Frame | None:
        """The source's next frame; None at its end, or as soon as `should_stop()` is true while waiting.

        An exception raised by the source's `read()` is raised here."""
        if not self.pending:
            self._requests.put(_READ)
            self.pending = True
        while True:
            try:
                result = self._results.get(timeout=WAIT_SLICE_S)
            except queue.Empty:
                if should_stop():
                    return None
                continue
            self.pending = False
            if isinstance(result, BaseException):
                raise result
            return result

    def stop(self, timeout_s: float) -> bool:
        """End the thread: True once it has ended (the source may then be closed), False if the source is still
        in `read()` after `timeout_s` (it must not be closed under a running read; the thread is left behind)."""
        self._requests.put(_QUIT)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
