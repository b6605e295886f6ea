"""Frame sources: a camera, a video file or a folder of images, paced to the model's frame rate.

Every source gives `Frame`s already in the model's input format: the WHOLE frame resized to the model size
with `cv2.resize(..., (W, H), interpolation=cv2.INTER_AREA)` (no crop) and RGB channel order, exactly as
the training reader and the calibration reader do (team contract; `convert.data`).

Specs (`open_source(spec, ...)`):
  picamera2       Raspberry Pi camera through libcamera (`from picamera2 import Picamera2` happens only here)
  cam:N           OpenCV camera N (V4L2 on Linux)
  /dev/videoN     a V4L2 device node through OpenCV
  FILE            a video file OpenCV can decode; frame times are the file's own (CAP_PROP_POS_MSEC)
  FOLDER          a folder of images (.jpg .jpeg .png .bmp), natural sort order, at `folder_fps`
                  (default: the model's frame rate)

Pacing. The recurrent model was trained on clips at the bundle's `model_fps`; a source delivering more
frames per second than that must skip some, or gestures would look slower than in training. `Pacer` keeps
a frame when its timestamp reaches the next model-frame tick (next_tick += 1 / model_fps after each kept
frame, so the average rate is exact and never drifts) and drops the others (counted in `dropped`). The
tick is reached with a tolerance of half a source frame interval (at most half a model period): of the
frames around a tick, the nearest is kept, and a camera whose frame rate equals the model's is not halved
by jitter. A source more than one period late (a stall, a gap in the footage) re-anchors the ticks.

Live cameras are retried when they fail to open or stop delivering, with exponential back-off (0.5 s,
1 s, 2 s, ... capped at `retry_max_s`), logged each time; a file or folder that ends ends the source
(`read()` returns None). A spec that names nothing usable raises `SourceError` (one line).

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
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".h264", ".mjpeg", ".mjpg")
"""Only used to word errors: any existing file is tried as a video."""
PICAMERA2_FORMAT = "RGB888"
"""Gives B,G,R bytes per pixel (see the module docstring)."""
RETRY_FIRST_S = 0.5
"""First back-off delay before reopening a failed camera (then doubling up to retry_max_s)."""
SPEC_HELP = "picamera2, cam:N, /dev/videoN, a video file or a folder of images"


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
    dropped: int
    """Source frames skipped by pacing so far."""
    live: bool
    """True for cameras (frames not read are lost), False for footage."""

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


def _no_stop() -> bool:
    return False


# -- pacing and preprocessing -------------------------------------------------------------------------------


class Pacer:
    """Decides which source frames become model frames (see the module docstring)."""

    def __init__(self, model_fps: float) -> None:
        if not model_fps > 0:
            raise ValueError(f"model_fps must be > 0, got {model_fps}")
        self.period_s = 1.0 / float(model_fps)
        self.next_tick_s: float | None = None
        self._last_t_s: float | None = None
        self.kept = 0
        self.dropped = 0
        self.resyncs = 0
        """Times the ticks were re-anchored (a gap of more than a period, or time going back)."""

    def reset(self) -> None:
        """Forget the ticks: the next frame is kept and anchors them."""
        self.next_tick_s = None
        self._last_t_s = None

    def keep(self, t_s: float) -> bool:
        """True when the frame at `t_s` is a model frame; counts it as kept or dropped."""
        last, self._last_t_s = self._last_t_s, t_s
        if self.next_tick_s is None or last is None or t_s < last:
            if self.next_tick_s is not None:
                self.resyncs += 1
            self.next_tick_s = t_s + self.period_s
            self.kept += 1
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
        self.kept += 1
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


# -- files and folders --------------------------------------------------------------------------------------


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
                 sleep: Callable[[float], None] = time.sleep, should_stop: Callable[[], bool] = _no_stop) -> None:
        super().__init__(f"video {path}", size_hw, model_fps, realtime, loop, clock, sleep, should_stop)
        self.path = path
        self._raw: np.ndarray | None = None
        self._cap = self._open()
        self.file_fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(self.file_fps) or self.file_fps <= 0:
            self.file_fps = 0.0
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
                logger.warning("%s: frame %d could not be decoded: skipped", self.path, self._file_index - 1)
                continue
            self._raw = image
            return self._deliver(image, t_s)
        return None

    def close(self) -> None:
        """Release the file."""
        if not self.closed:
            self.closed = True
            self._cap.release()


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class FolderSource(_Footage):
    """Image files of a folder in natural order (00002.jpg before 00010.jpg), at `folder_fps`."""

    def __init__(self, path: Path, size_hw: tuple[int, int], model_fps: float, *, folder_fps: float | None = None,
                 realtime: bool = False, loop: bool = False, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, should_stop: Callable[[], bool] = _no_stop) -> None:
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

    def read(self) -> Frame | None:
        """The next paced image, or None after the last one."""
        while not self.closed:
            if self._should_stop():
                return None
            if self._next >= len(self.files):
                if not self.loop or self.unreadable >= len(self.files):
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


# -- cameras ------------------------------------------------------------------------------------------------


class _Camera:
    """Shared retry/back-off and pacing of live cameras; subclasses open, read one image and release."""

    live = True
    bgr = True

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
        detail = exc if isinstance(exc, str) else (f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
                                                    if str(exc).strip() else type(exc).__name__)
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


class OpenCVCameraSource(_Camera):
    """A V4L2 camera through cv2.VideoCapture (`cam:N` or `/dev/videoN`)."""

    def __init__(self, device: int | str, size_hw: tuple[int, int], model_fps: float, *, retry_max_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 should_stop: Callable[[], bool] = _no_stop,
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


def _import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2  # noqa: PLC0415 - only when the picamera2 source is chosen
    except ImportError as exc:
        raise SourceError(f"source picamera2: the picamera2 module is not importable ({exc}); on Raspberry Pi "
                          "OS: sudo apt install python3-picamera2 and make the venv with --system-site-packages"
                          ) from None
    return Picamera2


class Picamera2Source(_Camera):
    """The Raspberry Pi camera through picamera2/libcamera; the ISP scales to near the model size."""

    bgr = True  # "RGB888" is B,G,R in memory

    def __init__(self, size_hw: tuple[int, int], model_fps: float, *, retry_max_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 should_stop: Callable[[], bool] = _no_stop, camera_factory: Callable[[], Any] | None = None) -> None:
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


# -- opening ------------------------------------------------------------------------------------------------

_CAM_RE = re.compile(r"^cam:(\d+)$")
_DEV_RE = re.compile(r"^/dev/video(\d+)$")


def open_source(spec: str, size_hw: tuple[int, int], model_fps: float, realtime: bool = False, *,
                options: SourceOptions | None = None, retry_max_s: float = 30.0,
                clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                should_stop: Callable[[], bool] = _no_stop) -> FrameSource:
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
    common = {"clock": clock, "sleep": sleep, "should_stop": should_stop}
    if spec == "picamera2":
        return Picamera2Source(size_hw, model_fps, retry_max_s=retry_max_s, **common)
    match = _CAM_RE.match(spec)
    if match:
        return OpenCVCameraSource(int(match.group(1)), size_hw, model_fps, retry_max_s=retry_max_s, **common)
    if _DEV_RE.match(spec):
        if not os.path.exists(spec):
            logger.warning("%s does not exist (yet): waiting for the camera", spec)
        return OpenCVCameraSource(spec, size_hw, model_fps, retry_max_s=retry_max_s, **common)
    path = Path(spec).expanduser()
    if path.is_dir():
        return FolderSource(path, size_hw, model_fps, folder_fps=options.folder_fps, realtime=realtime,
                            loop=options.loop, **common)
    if path.is_file():
        return VideoFileSource(path, size_hw, model_fps, realtime=realtime, loop=options.loop, **common)
    if path.exists():
        raise SourceError(f"{spec}: not a regular file or folder (expected {SPEC_HELP})")
    if ":" in spec and not spec.startswith(("/", ".", "~")) or spec.startswith("/dev/"):
        raise SourceError(f"unknown source {spec!r}: expected {SPEC_HELP}")
    raise SourceError(f"{spec}: no such file or folder (expected {SPEC_HELP})")
