"""What every frame source gives and takes: `Frame`, the `FrameSource` protocol, `SourceOptions`, `SourceError`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)


class SourceError(Exception):
    """A source that cannot be used. The message is one line naming the source."""


@dataclass(frozen=True)
class Frame:
    """One model frame."""

    rgb: np.ndarray
    """uint8 (H, W, 3), the model's input size, RGB."""
    t_s: float
    """Capture time in the source's time base: position in the footage for files and folders (seconds from
    the start), time.monotonic() for cameras."""
    index: int
    """Model frames delivered before this one (0-based)."""
    preprocess_ms: float = 0.0
    """Time spent resizing / converting this frame."""
    wait_ms: float = 0.0
    """Time read() slept to play footage in real time (--realtime). The rest of read() is capture: decoding,
    skipping frames for pacing and, for a camera, waiting for its next frame."""


class FrameSource(Protocol):
    """What the frame loop reads from."""

    name: str
    """Human-readable description (for logs)."""
    fps: float
    """Model frames per second this source is paced to."""
    live: bool
    """True for cameras (frames not read are lost), False for footage."""

    @property
    def dropped(self) -> int:
        """Source frames skipped by pacing so far (read-only: the sources expose their pacer's count)."""

    def read(self) -> Frame | None:
        """The next model frame, or None when the source has ended (or was asked to stop)."""

    def close(self) -> None:
        """Release the device or file. Idempotent."""


@dataclass(frozen=True)
class SourceOptions:
    """Options of `open_source` that are not in the runtime settings (CLI flags)."""

    folder_fps: float | None = None
    """Frame rate of a folder of images (default: the model's)."""
    loop: bool = False
    """Play a file or folder again from the start when it ends (time keeps increasing)."""


def no_stop() -> bool:
    """The default `should_stop`: never."""
    return False
