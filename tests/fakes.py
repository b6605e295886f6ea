"""Shared test fakes. Blocks owned by one area are marked; keep them separate."""

from __future__ import annotations

# ---- sinks block (owner: sinks/config/systemd engineer) ------------------------------------------------
from edge.events import GestureEvent


def gesture_event(gesture: str = "Swipe", action: str = "play", *, confidence: float = 0.93, t_s: float = 12.5,
                  lag_s: float = 0.04, repeat: int = 0) -> GestureEvent:
    """A real GestureEvent with plausible defaults, so a sink test names only the fields it is about."""
    return GestureEvent(gesture=gesture, action=action, confidence=confidence, t_s=t_s, lag_s=lag_s, repeat=repeat)
# ---- end of sinks block -------------------------------------------------------------------------------


# ---- datasets block (owner: edge-ML engineer: convert/model, data, train) ---------------------------------
# Tiny on-disk datasets written with numpy + cv2, for the readers' good and bad cases (the real synthetic
# renderer, convert.synth, is used where the content matters).
from pathlib import Path  # noqa: E402

CASESTUDY_NAMES = {0: "Left Swipe_new", 1: "Right Swipe_new", 2: "Stop_new", 3: "Thumbs Down_new",
                   4: "Thumbs Up_new", 5: "No gesture"}


def write_frames(folder: Path, frames: int = 30, size_hw: tuple[int, int] = (24, 32), seed: int = 0,
                 ext: str = "png", name: str = "{:05d}") -> list[Path]:
    """Random RGB frames `name.format(i + 1) + ext` in `folder` (created); frame i's mean grows with i."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(frames):
        bgr = rng.integers(0, 64, (*size_hw, 3), dtype=np.uint8) + np.uint8(min(4 * i, 191))
        path = folder / f"{name.format(i + 1)}.{ext}"
        assert cv2.imwrite(str(path), bgr)
        paths.append(path)
    return paths


def write_casestudy_split(root: Path, split: str, indexes: list[int], frames: int = 30,
                          size_hw: tuple[int, int] = (24, 32), seed: int = 0) -> list[str]:
    """One clip per entry of `indexes` (case-study label index) under root/split, plus root/split.csv."""
    lines = []
    for n, index in enumerate(indexes):
        folder = f"{split}_{n:03d}_{index}"
        write_frames(root / split / folder, frames, size_hw, seed * 1000 + n)
        lines.append(f"{folder};{CASESTUDY_NAMES.get(index, 'Mystery')};{index}")
    (root / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines
# ---- end of datasets block ---------------------------------------------------------------------------------


# ---- camera block (owner: edge runtime engineer: sources/app/cli) --------------------------------------
# Fakes of camera hardware only: picamera2's Picamera2 and an OpenCV VideoCapture of a webcam. Both draw a
# "scene" (a true-colour RGB image per frame) and hand it over in the byte order the real API would.
import types  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402


class FakeClock:
    """A monotonic clock that only moves when told to (camera frame times, sleeps)."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_s += max(0.0, seconds)


def solid_scene(rgb: tuple[int, int, int]) -> Callable[[int, int, int], np.ndarray]:
    """A scene function (frame number, height, width) -> true-colour RGB image of one colour."""
    def scene(_number: int, height: int, width: int) -> np.ndarray:
        return np.broadcast_to(np.array(rgb, dtype=np.uint8), (height, width, 3)).copy()
    return scene


def _in_memory_order(rgb: np.ndarray, fmt: str) -> np.ndarray:
    """What picamera2's capture_array returns for a true-colour image (Picamera2 manual, image formats)."""
    if fmt == "RGB888":
        return rgb[:, :, ::-1].copy()  # [B, G, R]
    if fmt == "BGR888":
        return rgb.copy()  # [R, G, B]
    if fmt == "XRGB8888":
        return np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 255, np.uint8)])
    if fmt == "XBGR8888":
        return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    raise ValueError(f"fake picamera2: format {fmt} not modelled")


class FakePicamera2:
    """Stands in for picamera2.Picamera2 (same method names and call order); records every call.

    Class attributes script a session: `fail_constructions` failed Picamera2() calls (IndexError, as with no
    camera attached), `fail_capture_at` capture numbers (1-based, counted over all instances) that raise.
    Each capture advances `clock` by 1 / `camera_fps` (the sensor's own frame rate).
    """

    sensor_resolution = (2592, 1944)
    instances: list[FakePicamera2] = []
    fail_constructions = 0
    fail_capture_at: set[int] = set()
    captures = 0
    camera_fps = 30.0
    clock: FakeClock | None = None
    scene: Callable[[int, int, int], np.ndarray] = staticmethod(solid_scene((255, 0, 0)))

    @classmethod
    def reset(cls, **script) -> None:
        cls.instances = []
        cls.fail_constructions = 0
        cls.fail_capture_at = set()
        cls.captures = 0
        cls.camera_fps = 30.0
        cls.clock = None
        cls.scene = staticmethod(solid_scene((255, 0, 0)))
        for key, value in script.items():
            setattr(cls, key, staticmethod(value) if key == "scene" else value)

    def __init__(self, camera_num: int = 0) -> None:
        cls = type(self)
        if cls.fail_constructions > 0:
            cls.fail_constructions -= 1
            raise IndexError("list index out of range")  # what Picamera2() raises without a camera
        self.camera_num = camera_num
        self.calls: list[tuple] = [("__init__", camera_num)]
        self.config: dict | None = None
        self.started = False
        self.closed = False
        cls.instances.append(self)

    def create_video_configuration(self, main: dict | None = None, lores: dict | None = None, raw: dict | None = None,
                                   transform=None, colour_space=None, buffer_count: int = 6,
                                   controls: dict | None = None, display: str | None = "main",
                                   encode: str | None = "main", queue: bool = True, **kwargs) -> dict:
        self.calls.append(("create_video_configuration", {"main": main, "controls": controls, **kwargs}))
        return {"use_case": "video", "main": {"format": "XBGR8888", "size": (1280, 720), **(main or {})},
                "controls": dict(controls or {}), "buffer_count": buffer_count}

    def configure(self, config: dict) -> None:
        self.calls.append(("configure", config))
        self.config = config

    def start(self) -> None:
        assert self.config is not None, "start() before configure()"
        self.calls.append(("start",))
        self.started = True

    def capture_array(self, name: str = "main") -> np.ndarray:
        cls = type(self)
        assert self.started and not self.closed, "capture_array() on a camera that is not running"
        cls.captures += 1
        if cls.clock is not None:
            cls.clock.advance(1.0 / cls.camera_fps)
        if cls.captures in cls.fail_capture_at:
            raise RuntimeError("Camera frontend has timed out!")
        width, height = self.config["main"]["size"]
        return _in_memory_order(cls.scene(cls.captures, height, width), self.config["main"]["format"])

    def stop(self) -> None:
        self.calls.append(("stop",))
        self.started = False

    def close(self) -> None:
        self.calls.append(("close",))
        self.closed = True


def fake_picamera2_module() -> types.ModuleType:
    """A `picamera2` module holding FakePicamera2 (put it in sys.modules with monkeypatch.setitem)."""
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    return module


class FakeVideoCapture:
    """Stands in for cv2.VideoCapture of a webcam: BGR frames of `scene`, a scripted failure, recorded set()s.

    `frames_before_failure`: read() returns (False, None) once after that many frames (a camera unplugged);
    `open_ok`: isOpened() answers. Each read advances `clock` by 1 / fps.
    """

    def __init__(self, device: int | str, *, clock: FakeClock, fps: float = 30.0, size_wh: tuple[int, int] = (320, 240),
                 scene: Callable[[int, int, int], np.ndarray] | None = None, frames_before_failure: int | None = None,
                 open_ok: bool = True) -> None:
        self.device = device
        self.clock = clock
        self.fps = fps
        self.size_wh = size_wh
        self.scene = scene or solid_scene((0, 0, 255))
        self.frames_before_failure = frames_before_failure
        self.open_ok = open_ok
        self.props: dict[int, float] = {}
        self.reads = 0
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.open_ok and not self.released

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        return float(self.props.get(prop, 0.0))

    def read(self, image: np.ndarray | None = None) -> tuple[bool, np.ndarray | None]:
        self.clock.advance(1.0 / self.fps)
        if self.frames_before_failure is not None and self.reads >= self.frames_before_failure:
            return False, None
        self.reads += 1
        width, height = self.size_wh
        return True, self.scene(self.reads, height, width)[:, :, ::-1].copy()  # OpenCV gives BGR

    def release(self) -> None:
        self.released = True
# ---- end of camera block --------------------------------------------------------------------------------
