"""Frame sources: pacing on real video files, folders, errors, and the camera adapters on hardware fakes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.sources import (FolderSource, OpenCVCameraSource, Pacer, SourceError, SourceOptions, VideoFileSource,
                          capture_size_wh, open_source)
from fakes import FakeClock, FakePicamera2, FakeVideoCapture, fake_picamera2_module, solid_scene

FILE_WH = (128, 96)
MODEL_HW = (48, 64)
BITS = 8


def encode_frame(index: int, size_wh: tuple[int, int] = FILE_WH) -> np.ndarray:
    """A BGR frame showing `index` in binary as 8 wide black/white stripes (upper half) over a blue band."""
    width, height = size_wh
    image = np.zeros((height, width, 3), dtype=np.uint8)
    stripe = width // BITS
    for bit in range(BITS):
        if index >> bit & 1:
            image[: height // 2, bit * stripe:(bit + 1) * stripe] = 255
    image[height * 3 // 4:, :] = (255, 0, 0)  # BGR blue: after the source's conversion, RGB (0, 0, 255)
    return image


def decode_frame(rgb: np.ndarray) -> int:
    """The index drawn by encode_frame, read back from a model-sized RGB frame."""
    height, width = rgb.shape[:2]
    stripe = width // BITS
    value = 0
    for bit in range(BITS):
        centre = bit * stripe + stripe // 2
        if rgb[height // 8: height * 3 // 8, centre - 1: centre + 1].mean() > 127:
            value |= 1 << bit
    return value


def write_video(path: Path, fps: float, frames: int, size_wh: tuple[int, int] = FILE_WH) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size_wh)
    assert writer.isOpened()
    for index in range(frames):
        writer.write(encode_frame(index, size_wh))
    writer.release()
    return path


def read_all(source) -> list:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    return frames


# -- video files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("file_fps", "model_fps", "frames"), [(60.0, 15.0, 120), (30.0, 10.0, 90), (24.0, 10.0, 72),
                                                                (10.0, 10.0, 30)])
def test_video_file_is_paced_to_the_model_frame_rate(tmp_path: Path, file_fps: float, model_fps: float,
                                                     frames: int) -> None:
    path = write_video(tmp_path / "clip.mp4", file_fps, frames)
    source = open_source(str(path), MODEL_HW, model_fps)
    assert isinstance(source, VideoFileSource) and not source.live and source.fps == model_fps
    got = read_all(source)
    # The oracle: for every model tick k / model_fps inside the file, the file frame nearest to it.
    duration_s = frames / file_fps
    ticks = np.arange(0, duration_s - 0.5 / file_fps, 1.0 / model_fps)
    expected = [int(np.floor(t * file_fps + 0.5)) for t in ticks]
    kept = [decode_frame(f.rgb) for f in got]
    assert kept == expected
    assert [f.index for f in got] == list(range(len(expected)))
    assert [f.t_s for f in got] == pytest.approx([i / file_fps for i in expected], abs=1e-6)
    assert source.dropped == frames - len(expected)
    if file_fps == 60.0:
        assert kept == list(range(0, 120, 4))  # exactly every 4th frame of a 60 fps file for a 15 fps model
    for frame in got:
        assert frame.rgb.shape == (*MODEL_HW, 3) and frame.rgb.dtype == np.uint8
        band = frame.rgb[MODEL_HW[0] * 7 // 8:].reshape(-1, 3).mean(axis=0)
        assert band[2] > 200 and band[0] < 50  # RGB order: the blue band is blue


def test_video_realtime_plays_at_the_file_speed(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", 30.0, 30)
    clock = FakeClock()
    source = open_source(str(path), MODEL_HW, 10.0, realtime=True, clock=clock, sleep=clock.sleep)
    got = read_all(source)
    assert len(got) == 10
    # The first frame anchors the wall clock; each later one waits for its footage time: 9 x 0.1 s in all.
    assert sum(clock.sleeps) == pytest.approx(0.9, abs=1e-6)
    assert all(s == pytest.approx(0.1, abs=1e-6) for s in clock.sleeps)
    fast = read_all(open_source(str(path), MODEL_HW, 10.0, clock=clock, sleep=clock.sleep))
    assert len(fast) == 10 and len(clock.sleeps) == 9  # no sleeping without realtime


def test_video_loop_keeps_time_increasing(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", 10.0, 10)
    source = open_source(str(path), MODEL_HW, 10.0, options=SourceOptions(loop=True))
    got = [source.read() for _ in range(25)]
    source.close()
    assert [decode_frame(f.rgb) for f in got] == [i % 10 for i in range(25)]
    assert [f.t_s for f in got] == pytest.approx([i / 10 for i in range(25)], abs=1e-6)


# -- folders -------------------------------------------------------------------------------------------------


def test_folder_source_natural_order_resize_rgb_and_pacing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(12):
        size = (160, 120) if index % 2 else (64, 48)  # mixed sizes: every one is resized to the model size
        cv2.imwrite(str(folder / f"{index + 1}.png"), encode_frame(index, size))  # 1.png ... 12.png
    (folder / "notes.txt").write_text("not an image")
    source = open_source(str(folder), MODEL_HW, 10.0)
    assert isinstance(source, FolderSource)
    got = read_all(source)
    assert [decode_frame(f.rgb) for f in got] == list(range(12))  # 2.png before 10.png
    assert [f.t_s for f in got] == pytest.approx([i / 10 for i in range(12)])
    assert all(f.rgb.shape == (*MODEL_HW, 3) and f.rgb.dtype == np.uint8 for f in got)
    band = got[0].rgb[MODEL_HW[0] * 7 // 8:].reshape(-1, 3).mean(axis=0)
    assert band[2] > 200 and band[0] < 50

    # A 30 fps folder for a 10 fps model keeps every third image; an unreadable one is skipped, logged.
    (folder / "4.png").write_bytes(b"garbage" * 20)
    with caplog.at_level(logging.WARNING, logger="edge.sources"):
        got = read_all(open_source(str(folder), MODEL_HW, 10.0, options=SourceOptions(folder_fps=30.0)))
    assert [decode_frame(f.rgb) for f in got] == [0, 6, 9]  # image 3 (4.png) was due but is unreadable
    assert any("4.png: not a readable image" in r.getMessage() for r in caplog.records)


# -- errors --------------------------------------------------------------------------------------------------


def test_bad_sources_are_one_line_errors(tmp_path: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    cases = {
        "bogus:1": "unknown source 'bogus:1'",
        "rtsp://camera/stream": "unknown source",
        str(tmp_path / "missing.mp4"): "no such file or folder",
        str(not_video): "notes.mp4: cannot",
        str(empty): "no image files",
        str(tmp_path / "texts"): "no image files",
        "": "empty source",
    }
    for spec, needle in cases.items():
        with pytest.raises(SourceError) as info:
            open_source(spec, MODEL_HW, 10.0)
        message = str(info.value)
        assert needle in message and "\n" not in message, (spec, message)


# -- pacing --------------------------------------------------------------------------------------------------


def test_pacer_keeps_a_jittery_camera_at_the_model_rate_whole() -> None:
    rng = np.random.default_rng(0)
    pacer = Pacer(10.0)
    # A camera at exactly the model rate with +-20 ms jitter: halving it would be a disaster.
    times = np.arange(200) * 0.1 + rng.uniform(-0.02, 0.02, 200)
    assert all(pacer.keep(float(t)) for t in times)
    # A 30 fps camera with jitter: exactly one in three on average, never two frames within half a period.
    pacer = Pacer(10.0)
    times = np.arange(3000) / 30.0 + rng.uniform(-0.005, 0.005, 3000)
    kept = np.array([t for t in times if pacer.keep(float(t))])
    assert abs(len(kept) - 1000) <= 1
    assert np.diff(kept).min() > 0.05 and pacer.dropped == 3000 - len(kept)


def test_pacer_reanchors_after_a_gap_instead_of_bursting() -> None:
    pacer = Pacer(10.0)
    times = [i / 30 for i in range(30)] + [5.0 + i / 30 for i in range(30)]
    kept = [t for t in times if pacer.keep(t)]
    after = [t for t in kept if t >= 5.0]
    assert after[0] == 5.0 and np.diff(after).min() > 0.09  # one frame at the gap, then the normal rate
    assert pacer.resyncs == 1


def test_capture_size_keeps_the_sensor_aspect_near_the_model_size() -> None:
    assert capture_size_wh((128, 128), (2592, 1944)) == (192, 144)  # OV5647 / 4:3
    assert capture_size_wh((128, 128), (3280, 2464)) == (192, 144)  # IMX219
    assert capture_size_wh((128, 128), (4608, 2592)) == (256, 144)  # IMX708 / 16:9
    assert capture_size_wh((96, 160), (4, 3)) == (192, 144)
    assert capture_size_wh((128, 128), None) == (128, 128)
    for model in ((128, 128), (96, 96), (224, 224), (120, 160)):
        for sensor in ((2592, 1944), (4608, 2592), (1456, 1088)):
            width, height = capture_size_wh(model, sensor)
            assert width % 64 == 0 and height % 2 == 0 and width >= model[1] and height >= model[0]
            assert abs(width / height - sensor[0] / sensor[1]) < 0.03


# -- picamera2 (fake hardware) -------------------------------------------------------------------------------


@pytest.fixture
def picamera2(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "picamera2", fake_picamera2_module())
    FakePicamera2.reset()
    yield FakePicamera2
    FakePicamera2.reset()


def test_picamera2_configuration_colour_and_pacing(picamera2) -> None:
    clock = FakeClock()
    picamera2.reset(clock=clock, camera_fps=30.0, scene=solid_scene((220, 30, 10)))  # a red scene
    source = open_source("picamera2", (128, 128), 10.0, clock=clock, sleep=clock.sleep)
    assert source.live and source.fps == 10.0
    frames = [source.read() for _ in range(5)]
    (camera,) = picamera2.instances
    calls = [c[0] for c in camera.calls]
    assert calls == ["__init__", "create_video_configuration", "configure", "start"]
    # The exact request: a 4:3 frame near the model size (the ISP scales the whole field of view), the
    # B,G,R-in-memory "RGB888" format, and the model's frame rate.
    assert camera.calls[1][1] == {"main": {"size": (192, 144), "format": "RGB888"}, "controls": {"FrameRate": 10.0}}
    assert camera.calls[2][1]["main"]["size"] == (192, 144)
    for frame in frames:
        assert frame.rgb.shape == (128, 128, 3) and frame.rgb.dtype == np.uint8
        assert frame.rgb.reshape(-1, 3).mean(axis=0).round().tolist() == [220, 30, 10]  # true colours, RGB
    # 30 fps sensor, 10 fps model: one capture in three is kept; times are the injected clock's.
    assert picamera2.captures == 13 and source.dropped == 8
    assert np.diff([f.t_s for f in frames]) == pytest.approx([0.1] * 4)
    source.close()
    assert [c[0] for c in camera.calls][-2:] == ["stop", "close"]


def test_picamera2_retries_with_backoff(picamera2, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    picamera2.reset(clock=clock, camera_fps=10.0, fail_constructions=2, fail_capture_at={3})
    with caplog.at_level(logging.WARNING, logger="edge.sources"):
        source = open_source("picamera2", (64, 64), 10.0, retry_max_s=1.5, clock=clock, sleep=clock.sleep)
        frames = [source.read() for _ in range(4)]
    # Two failed opens (0.5 s, then 1 s); after frames flowed, the capture failure starts over at 0.5 s.
    assert clock.sleeps == [0.5, 1.0, 0.5]
    assert len(picamera2.instances) == 2 and picamera2.instances[0].closed
    assert all(f is not None and f.rgb.shape == (64, 64, 3) for f in frames)
    assert source.failures == 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cannot open the camera" in m for m in messages) == 2
    assert any("stopped delivering" in m and "timed out" in m for m in messages)
    source.close()


def test_picamera2_missing_module_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import picamera2 -> ImportError
    with pytest.raises(SourceError, match="python3-picamera2") as info:
        open_source("picamera2", (128, 128), 10.0)
    assert "\n" not in str(info.value)


# -- OpenCV camera (fake hardware) ---------------------------------------------------------------------------


def test_opencv_camera_hints_colour_and_reconnect(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    made: list[FakeVideoCapture] = []

    def factory(device):
        # The first capture object dies after 4 frames (unplugged); the next one works.
        cap = FakeVideoCapture(device, clock=clock, fps=30.0, scene=solid_scene((10, 200, 40)),
                               frames_before_failure=4 if not made else None)
        made.append(cap)
        return cap

    with caplog.at_level(logging.WARNING, logger="edge.sources"):
        source = OpenCVCameraSource(0, MODEL_HW, 10.0, retry_max_s=5.0, clock=clock, sleep=clock.sleep,
                                    capture_factory=factory)
        frames = [source.read() for _ in range(4)]
    assert len(made) == 2 and made[0].released
    assert made[0].props[cv2.CAP_PROP_FPS] == 10.0
    assert (made[0].props[cv2.CAP_PROP_FRAME_WIDTH], made[0].props[cv2.CAP_PROP_FRAME_HEIGHT]) == (64, 48)
    assert clock.sleeps == [0.5]
    for frame in frames:
        assert frame.rgb.shape == (*MODEL_HW, 3)
        assert frame.rgb.reshape(-1, 3).mean(axis=0).round().tolist() == [10, 200, 40]
    assert any("stopped delivering" in r.getMessage() for r in caplog.records)
    source.close()
    assert made[1].released


def test_camera_spec_parsing() -> None:
    source = open_source("cam:3", MODEL_HW, 10.0)
    assert isinstance(source, OpenCVCameraSource) and source.device == 3
    source.close()
    source = open_source("/dev/video7", MODEL_HW, 10.0)
    assert isinstance(source, OpenCVCameraSource) and source.device == "/dev/video7"
    source.close()


def test_a_stop_request_ends_camera_retries() -> None:
    clock = FakeClock()
    stop = {"now": False}

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 3:
            stop["now"] = True

    source = OpenCVCameraSource(0, MODEL_HW, 10.0, retry_max_s=30.0, clock=clock, sleep=sleep,
                                should_stop=lambda: stop["now"],
                                capture_factory=lambda d: FakeVideoCapture(d, clock=clock, open_ok=False))
    assert source.read() is None
    assert clock.sleeps == [0.5, 1.0, 2.0]


# -- footage that gives nothing (issue 15) -------------------------------------------------------------------


def write_truncated_avi(path: Path, frames: int, keep_frames: int) -> Path:
    """A `frames`-frame MJPG AVI cut right after its `keep_frames`-th frame: the container still says `frames`
    (its header), but decoding stops early, as with a download that broke off."""
    full = path.with_name("full_" + path.name)
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, FILE_WH)
    assert writer.isOpened()
    for index in range(frames):
        writer.write(encode_frame(index))
    writer.release()
    data = full.read_bytes()
    cut = data.index(b"movi")  # the frame data; each frame's chunk starts with its id, "00dc"
    for _ in range(keep_frames + 1):
        cut = data.index(b"00dc", cut + 1)
    path.write_bytes(data[:cut])
    return path


def test_a_video_whose_decoding_stops_early_is_an_error_at_its_end(tmp_path: Path) -> None:
    path = write_truncated_avi(tmp_path / "cut.avi", 400, 17)
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 400  # what the container claims
    cap.release()
    source = open_source(str(path), MODEL_HW, 10.0)
    frames = []
    with pytest.raises(SourceError) as info:
        while (frame := source.read()) is not None:
            frames.append(frame)
    source.close()
    message = str(info.value)
    assert len(frames) == 17  # the frames that did decode were delivered first, in order
    assert [decode_frame(f.rgb) for f in frames] == list(range(len(frames)))
    assert message == (f"{path}: decoding stopped after {len(frames)} of the 400 frames its container lists "
                       f"(a truncated or damaged file?)")
    # An intact file of the same kind reads to its end without complaint.
    whole = open_source(str(tmp_path / "full_cut.avi"), MODEL_HW, 10.0)
    assert len(read_all(whole)) == 400


def test_a_folder_of_only_unreadable_images_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    for index in range(5):
        (folder / f"{index:05d}.jpg").write_bytes(b"\xff\xd8 not really a JPEG " * index)
    for loop in (False, True):  # with --loop it must not spin forever either
        source = open_source(str(folder), MODEL_HW, 10.0, options=SourceOptions(loop=loop))
        with pytest.raises(SourceError) as info:
            source.read()
        assert str(info.value) == f"{folder}: no frame: none of the 5 images read (of 5 image files) could be decoded"
    # Some unreadable among readable ones: skipped with a warning, the rest plays.
    cv2.imwrite(str(folder / "00002.jpg"), encode_frame(2))
    assert len(read_all(open_source(str(folder), MODEL_HW, 10.0))) == 1


def test_footage_says_how_far_apart_its_frames_are(tmp_path: Path) -> None:
    video = open_source(str(write_video(tmp_path / "v.mp4", 25.0, 5)), MODEL_HW, 10.0)
    assert video.frame_interval_s == pytest.approx(1 / 25.0)
    video.close()
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "1.png"), encode_frame(1))
    assert open_source(str(folder), MODEL_HW, 10.0, options=SourceOptions(folder_fps=0.001)).frame_interval_s == 1000
    assert open_source("cam:0", MODEL_HW, 10.0).frame_interval_s is None


# -- the reader thread ---------------------------------------------------------------------------------------


class StuckCamera:
    """A FrameSource whose read() delivers `frames` frames, then blocks until released (a hung driver)."""

    name = "stuck camera"
    fps = 10.0
    dropped = 0
    live = True

    def __init__(self, frames: int) -> None:
        import threading

        self.frames = frames
        self.reads = 0
        self.release = threading.Event()
        self.closed = False

    def read(self):
        from edge.sources import Frame

        self.reads += 1
        if self.reads > self.frames:
            self.release.wait()
            raise OSError("the driver gave up")
        return Frame(rgb=np.zeros((*MODEL_HW, 3), np.uint8), t_s=self.reads / 10, index=self.reads - 1)

    def close(self) -> None:
        self.closed = True


def test_reader_thread_gives_the_same_frames_and_can_be_abandoned_when_stuck() -> None:
    import time

    from edge.sources import ReaderThread

    camera = StuckCamera(3)
    reader = ReaderThread(camera)
    assert [reader.read(lambda: False).index for _ in range(3)] == [0, 1, 2]  # no read-ahead: one per request
    assert camera.reads == 3
    deadline = time.monotonic() + 0.3
    started = time.monotonic()
    assert reader.read(lambda: time.monotonic() > deadline) is None  # stuck: the caller gives up in time
    assert 0.3 <= time.monotonic() - started < 1.0 and reader.pending
    assert reader.stop(0.2) is False  # still in read(): must not be closed under it
    camera.release.set()  # the driver returns (with an error) after all; the thread then ends
    assert reader.stop(2.0) is True


def test_reader_thread_raises_the_sources_errors_and_ends_with_it() -> None:
    from edge.sources import ReaderThread

    camera = StuckCamera(1)
    camera.release.set()  # the second read fails at once
    reader = ReaderThread(camera)
    assert reader.read(lambda: False) is not None
    with pytest.raises(OSError, match="the driver gave up"):
        reader.read(lambda: False)
    assert reader.stop(2.0) is True
