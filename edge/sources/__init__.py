"""Frame sources: a camera, a video file or a folder of images, paced to the model's frame rate.

Every source gives `Frame`s already in the model's input format: the WHOLE frame resized to the model size
with `cv2.resize(..., (W, H), interpolation=cv2.INTER_AREA)` (no crop) and RGB channel order, exactly as
the training reader and the calibration reader do (`convert.data`), and paced to the model's frame rate
(both in `edge.sources.pacing`).

Specs (`open_source(spec, ...)`):
  picamera2       Raspberry Pi camera through libcamera (picamera2 is imported only when this is opened)
  cam:N           OpenCV camera N (V4L2 on Linux)
  /dev/videoN     a V4L2 device node through OpenCV
  FILE            a video file OpenCV can decode; frame times are the file's own (CAP_PROP_POS_MSEC)
  FOLDER          a folder of images (.jpg .jpeg .png .bmp), natural sort order, at `folder_fps`
                  (default: the model's frame rate)

Live cameras are retried when they fail to open or stop delivering, with exponential back-off
(`edge.sources.camera`); a file or folder that ends ends the source (`read()` returns None), and one that
gave nothing, or whose decoding stopped early, raises `SourceError`. A spec that names nothing usable raises
`SourceError` (one line). `check_source` does what `open_source` does short of opening a camera
(`gesture-edge check-config`); `ReaderThread` runs a source's reads on a worker thread (the frame loop).

One kind of source per module; this package opens the one a spec names:
    edge.sources.base              Frame, FrameSource, SourceOptions, SourceError
    edge.sources.pacing            Pacer (model frame rate), Resizer (model size, RGB), capture_size_wh
    edge.sources.footage           VideoFileSource, FolderSource
    edge.sources.camera            CameraSource: retry and back-off shared by the live cameras
    edge.sources.opencv_camera     OpenCVCameraSource
    edge.sources.picamera2_camera  Picamera2Source (and the picamera2 colour order)
    edge.sources.reader            ReaderThread
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from edge.settings import CAM_SOURCE_RE, DEV_SOURCE_RE, PICAMERA2_SOURCE, is_camera_source
from edge.sources.base import Frame, FrameSource, SourceError, SourceOptions, no_stop
from edge.sources.camera import RETRY_FIRST_S, CameraSource
from edge.sources.footage import IMAGE_SUFFIXES, FolderSource, VideoFileSource
from edge.sources.opencv_camera import OpenCVCameraSource
from edge.sources.pacing import Pacer, Resizer, capture_size_wh
from edge.sources.picamera2_camera import PICAMERA2_FORMAT, Picamera2Source
from edge.sources.reader import ReaderThread

logger = logging.getLogger(__name__)

SPEC_HELP = "picamera2, cam:N, /dev/videoN, a video file or a folder of images"



def open_source(spec: str, size_hw: tuple[int, int], model_fps: float, realtime: bool = False, *,
                options: SourceOptions | None = None, retry_max_s: float = 30.0,
                clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                should_stop: Callable[[], bool] = no_stop) -> FrameSource:
    """Open the source named by `spec` (see the module docstring); SourceError (one line) if unusable.

    `sleep` is used for realtime playback and camera back-off (the app passes one that returns early on a
    stop request and keeps the systemd watchdog fed); `should_stop` ends a read loop early.
    """
    options = options or SourceOptions()
    spec = spec.strip()
    if not spec:
        raise SourceError(f"empty source: expected {SPEC_HELP}")
    if not model_fps > 0:
        raise SourceError(f"source {spec}: model frame rate must be > 0, got {model_fps}")
    if spec == PICAMERA2_SOURCE:
        return Picamera2Source(size_hw, model_fps, retry_max_s=retry_max_s, clock=clock, sleep=sleep,
                               should_stop=should_stop)
    match = CAM_SOURCE_RE.fullmatch(spec)
    if match:
        return OpenCVCameraSource(int(match.group(1)), size_hw, model_fps, retry_max_s=retry_max_s, clock=clock,
                                  sleep=sleep, should_stop=should_stop)
    if DEV_SOURCE_RE.fullmatch(spec):
        if not os.path.exists(spec):
            logger.warning("%s does not exist (yet): waiting for the camera", spec)
        return OpenCVCameraSource(spec, size_hw, model_fps, retry_max_s=retry_max_s, clock=clock, sleep=sleep,
                                  should_stop=should_stop)
    path = Path(spec).expanduser()
    if path.is_dir():
        return FolderSource(path, size_hw, model_fps, folder_fps=options.folder_fps, realtime=realtime,
                            loop=options.loop, clock=clock, sleep=sleep, should_stop=should_stop)
    if path.is_file():
        return VideoFileSource(path, size_hw, model_fps, realtime=realtime, loop=options.loop, clock=clock,
                               sleep=sleep, should_stop=should_stop)
    if path.exists():
        raise SourceError(f"{spec}: not a regular file or folder (expected {SPEC_HELP})")
    if ":" in spec and not spec.startswith(("/", ".", "~")) or spec.startswith("/dev/"):
        raise SourceError(f"unknown source {spec!r}: expected {SPEC_HELP}")
    raise SourceError(f"{spec}: no such file or folder (expected {SPEC_HELP})")


def check_source(spec: str, size_hw: tuple[int, int], model_fps: float, *,
                 options: SourceOptions | None = None) -> str:
    """Check a source spec as `open_source` would, without opening a camera: a file or folder is opened (its
    first frame decoded, its images listed) and closed again. Returns what it is; SourceError if unusable."""
    if is_camera_source(spec.strip()):
        return f"camera {spec.strip()} (not opened)"
    source = open_source(spec, size_hw, model_fps, options=options)
    try:
        return source.name
    finally:
        source.close()


__all__ = ["IMAGE_SUFFIXES", "PICAMERA2_FORMAT", "RETRY_FIRST_S", "SPEC_HELP", "CameraSource", "FolderSource",
           "Frame", "FrameSource", "OpenCVCameraSource", "Pacer", "Picamera2Source", "ReaderThread", "Resizer",
           "SourceError", "SourceOptions", "VideoFileSource", "capture_size_wh", "check_source", "open_source"]
