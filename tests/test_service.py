"""`gesture-edge run` as a systemd Type=notify service: READY, WATCHDOG, STATUS, SIGTERM, SIGHUP.

The test binds the AF_UNIX datagram socket systemd would (`$NOTIFY_SOCKET`), sets `$WATCHDOG_USEC`, and runs
the real CLI as a subprocess on a looping video played in real time (an endless "camera").
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ROOT
from edge.sdnotify import Notifier, watchdog_interval_s

START_TIMEOUT_S = 180.0
"""Generous: the bundle loads in about a second, but this machine is shared."""


class NotifySocket:
    """What systemd does with $NOTIFY_SOCKET: receive datagrams, remember them with their arrival time."""

    def __init__(self, path: Path | str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path) if not str(path).startswith("@") else "\0" + str(path)[1:])
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except OSError:
                continue
            with self._lock:
                self.messages.append((time.monotonic(), data.decode()))

    def lines(self) -> list[tuple[float, str]]:
        with self._lock:
            return [(t, line) for t, message in self.messages for line in message.splitlines()]

    def wait_for(self, line: str, timeout_s: float, proc: subprocess.Popen | None = None) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for t, got in self.lines():
                if got == line:
                    return t
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"the service exited ({proc.returncode}) before {line}")
            time.sleep(0.02)
        raise AssertionError(f"no {line} within {timeout_s} s; got {self.lines()[-10:]}")

    def close(self) -> None:
        self._stop = True
        self._thread.join(1.0)
        self.sock.close()


@pytest.fixture
def notify(tmp_path: Path):
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def looping_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("service") / "room.mp4"
    rng = np.random.default_rng(5)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (160, 120))
    for _ in range(60):
        writer.write(cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (0, 0), 3))
    writer.release()
    return path


def start_edge(tmp_path: Path, notify_path: str, *args: str, watchdog_usec: int = 200_000,
               pythonpath: tuple[Path, ...] = ()) -> tuple[subprocess.Popen, Path]:
    """`gesture-edge ARGS` as systemd would start it (NOTIFY_SOCKET, WATCHDOG_USEC); stderr goes to a file."""
    env = dict(os.environ)
    env.update({"PYTHONPATH": os.pathsep.join(map(str, (ROOT, *pythonpath))), "NOTIFY_SOCKET": notify_path,
                "WATCHDOG_USEC": str(watchdog_usec), "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
                "XDG_CACHE_HOME": str(tmp_path.parent / "probe-cache"), "PYTHONUNBUFFERED": "1"})
    env.pop("WATCHDOG_PID", None)
    log = tmp_path / "stderr.log"
    with open(log, "w") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "edge.cli", *args], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=handle)
    return proc, log


def start_service(bundle: Path, video: Path, tmp_path: Path, notify_path: str, *extra: str,
                  watchdog_usec: int = 200_000) -> tuple[subprocess.Popen, Path]:
    return start_edge(tmp_path, notify_path, "run", "--bundle", str(bundle), "--source", str(video), "--realtime",
                      "--loop", "--sink", "log", *extra, watchdog_usec=watchdog_usec)


def wait_log(log: Path, needle: str, timeout_s: float, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text()
        for line in text.splitlines():
            if needle in line:
                return line
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no log line with {needle!r}; stderr:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_ready_watchdog_status_then_sigterm_stops_within_2_s(demo_bundle: Path, looping_video: Path,
                                                            tmp_path: Path, notify: NotifySocket) -> None:
    proc, log = start_service(demo_bundle, looping_video, tmp_path, str(tmp_path / "notify.sock"),
                              "--status-interval-s", "0.5")
    try:
        ready_t = notify.wait_for("READY=1", START_TIMEOUT_S, proc)
        time.sleep(2.0)
        lines = notify.lines()
        pings = [t for t, line in lines if line == "WATCHDOG=1" and t >= ready_t]
        # WATCHDOG_USEC = 0.2 s: a ping every 0.1 s; ask for a third of that over 2 s (the machine is shared).
        assert len(pings) >= 6, lines
        statuses = [line for _, line in lines if line.startswith("STATUS=")]
        assert any("fps" in s and "last gesture" in s for s in statuses), statuses
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        stop(proc)
    assert rc == 0, log.read_text()[-3000:]
    assert elapsed < 2.0, f"SIGTERM took {elapsed:.2f} s"
    assert any(line == "STOPPING=1" for _, line in notify.lines())
    text = log.read_text()
    assert "stopped by SIGTERM" in text and "Traceback" not in text


def test_bad_config_exits_before_ready(demo_bundle: Path, looping_video: Path, tmp_path: Path,
                                      notify: NotifySocket) -> None:
    bad_value = tmp_path / "bad.toml"
    bad_value.write_text("[decision]\nthreshold = 1.5\n")
    bad_gesture = tmp_path / "gesture.toml"
    bad_gesture.write_text('[actions]\n"Wave" = "play"\n')
    for config, needle in ((bad_value, "decision.threshold"), (bad_gesture, "Wave")):
        proc, log = start_service(demo_bundle, looping_video, tmp_path, str(tmp_path / "notify.sock"),
                                  "--config", str(config))
        try:
            rc = proc.wait(timeout=START_TIMEOUT_S)
        finally:
            stop(proc)
        assert rc == 2
        errors = [line for line in log.read_text().splitlines() if line.startswith("gesture-edge: error:")]
        assert len(errors) == 1 and needle in errors[0] and str(config) in errors[0]
        assert "Traceback" not in log.read_text()
        time.sleep(0.2)
        assert not any(line == "READY=1" for _, line in notify.lines())


def test_sighup_reloads_the_config_and_keeps_it_when_the_new_one_is_bad(demo_bundle: Path, looping_video: Path,
                                                                      tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[decision]\nthreshold = 0.8\n[runtime]\nhop_frames = 2\n")
    address = f"@gesture-edge-test-{os.getpid()}-{time.monotonic_ns()}"  # an abstract socket, as systemd may use
    abstract = NotifySocket(address)
    proc, log = start_service(demo_bundle, looping_video, tmp_path, address, "--config", str(config))
    try:
        abstract.wait_for("READY=1", START_TIMEOUT_S, proc)
        config.write_text("[decision]\nthreshold = 0.6\ncooldown_s = 2.5\n[runtime]\nhop_frames = 4\n")
        proc.send_signal(signal.SIGHUP)
        line = wait_log(log, "config reloaded from", 30, proc)
        assert "decision.threshold: 0.8 -> 0.6" in line and "decision.cooldown_s: 1.5 -> 2.5" in line
        assert "hop_frames" not in line
        wait_log(log, "runtime.hop_frames: 2 -> 4 needs a restart", 10, proc)
        abstract.wait_for("RELOADING=1", 10, proc)

        config.write_text("[decision]\nthreshold = 2.0\n")
        proc.send_signal(signal.SIGHUP)
        line = wait_log(log, "config reload failed", 30, proc)
        assert "keeping the running config" in line and "decision.threshold" in line
        time.sleep(0.3)
        assert proc.poll() is None  # still running on the previous config
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        stop(proc)
        abstract.close()


def test_sighup_without_a_config_file_says_so_and_keeps_running(demo_bundle: Path, looping_video: Path,
                                                                 tmp_path: Path, notify: NotifySocket) -> None:
    proc, log = start_service(demo_bundle, looping_video, tmp_path, str(tmp_path / "notify.sock"))
    try:
        notify.wait_for("READY=1", START_TIMEOUT_S, proc)
        proc.send_signal(signal.SIGHUP)
        line = wait_log(log, "no config file to reload", 30, proc)
        assert line == "WARNING edge.app: SIGHUP: no config file to reload (running on the built-in defaults and flags)"
        assert "config reload" not in log.read_text()  # neither a failed nor a successful reload
        notify.wait_for("RELOADING=1", 10, proc)
        time.sleep(0.3)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        stop(proc)


def test_notifier_without_socket_is_a_no_op_and_watchdog_env_is_parsed() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled and notifier.ready() is False and notifier.watchdog_s is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "200000"}) == pytest.approx(0.1)
    assert watchdog_interval_s({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}, pid=2) is None  # not ours
    assert watchdog_interval_s({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "7"}, pid=7) == pytest.approx(0.1)
    assert watchdog_interval_s({"WATCHDOG_USEC": "junk"}) is None
    # A socket that went away: sending fails quietly.
    gone = Notifier("/nonexistent/notify.sock")
    assert gone.enabled and gone.notify("READY=1") is False


# -- the frame loop in process (a scripted camera; the real bundle, decision and dispatcher) -------------------


class ScriptedCamera:
    """A FrameSource fake: given frames and times, an optional callback before each read."""

    name = "scripted camera"
    live = True
    dropped = 0

    def __init__(self, frames, times, fps: float = 10.0, on_read=None) -> None:
        self.frames, self.times, self.fps, self.on_read = frames, list(times), fps, on_read
        self.reads = 0
        self.closed = False

    def read(self):
        from edge.sources import Frame

        if self.on_read is not None:
            self.on_read(self.reads)
        if self.reads >= len(self.times):
            return None
        frame = Frame(rgb=self.frames[self.reads % len(self.frames)], t_s=self.times[self.reads], index=self.reads)
        self.reads += 1
        return frame

    def close(self) -> None:
        self.closed = True


class RecordingSink:
    name = "recorder"

    def __init__(self) -> None:
        self.counters = {"sent": 0, "dropped": 0, "failed": 0}
        self.events: list = []
        self.closed = False

    def start(self) -> None:
        pass

    def handle(self, event) -> None:
        self.events.append((event.action, event))
        self.counters["sent"] += 1

    def close(self) -> None:
        self.closed = True


def model_frames(bundle: Path, count: int) -> tuple[list[np.ndarray], list[float]]:
    from edge.manifest import Manifest
    from edge.sources import open_source

    from conftest import DEMO_STREAM

    manifest = Manifest.load(bundle)
    source = open_source(str(DEMO_STREAM), (manifest.input_height_px, manifest.input_width_px), manifest.model_fps)
    frames = [source.read() for _ in range(count)]
    source.close()
    return [f.rgb for f in frames], [f.t_s for f in frames]


def model_hw(bundle: Path) -> tuple[int, int]:
    from edge.manifest import Manifest

    manifest = Manifest.load(bundle)
    return manifest.input_height_px, manifest.input_width_px


def app_config(bundle: Path, **runtime):
    import dataclasses

    from edge.settings import Config, RuntimeSettings

    return dataclasses.replace(Config(), runtime=RuntimeSettings(bundle=str(bundle), **runtime))


def test_app_events_are_the_offline_pipeline_and_reach_the_sinks(demo_bundle: Path) -> None:
    from edge.app import App
    from edge.bundle import load_bundle
    from edge.decision import DecisionMaker
    from edge.settings import resolve_decision
    from edge.stream import StreamingClassifier

    frames, times = model_frames(demo_bundle, 250)
    sink = RecordingSink()
    app = App(app_config(demo_bundle), source=ScriptedCamera(frames, times), sinks=[sink], clock=time.monotonic,
              notifier=Notifier(""), reload_config=None, source_options=None, max_frames=None)
    assert app.run() == 0
    # The same frames through the parts by hand.
    bundle = load_bundle(demo_bundle)
    stream = StreamingClassifier(bundle, 2)
    settings = resolve_decision(app_config(demo_bundle), bundle.manifest.decision)  # the bundle's tuned block
    decision = DecisionMaker(bundle.labels, bundle.manifest.actions, settings, bundle.manifest.background_label)
    expected = [event for frame, t in zip(frames, times) for window in stream.push(frame, t)
                for event in decision.update(window.probs, window.end_t_s)]
    assert list(app.events) == expected and app.events_total == len(expected) and app.frames == 250
    assert expected, "the first 25 s of the demo stream hold gestures"
    assert [(a, e) for a, e in sink.events] == [(e.action, e) for e in expected] and sink.closed


def test_ready_waits_for_the_first_frame(demo_bundle: Path, tmp_path: Path, notify: NotifySocket) -> None:
    from edge.app import run

    camera = ScriptedCamera([], [])  # never delivers
    assert run(app_config(demo_bundle), source=camera, sinks=[], notifier=Notifier(str(tmp_path / "notify.sock"))) == 0
    time.sleep(0.2)
    lines = [line for _, line in notify.lines()]
    assert "READY=1" not in lines and "STOPPING=1" in lines and camera.closed


def test_a_jump_in_frame_time_resets_the_streaming_state(demo_bundle: Path, caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    from edge.app import App

    frames = [np.full((*model_hw(demo_bundle), 3), v, np.uint8) for v in (40, 90, 140)]
    times = [i / 10 for i in range(30)] + [100 + i / 10 for i in range(5)]
    app = App(app_config(demo_bundle), source=ScriptedCamera(frames, times), sinks=[], clock=time.monotonic,
              notifier=Notifier(""), reload_config=None, source_options=None, max_frames=None)
    with caplog.at_level(logging.INFO, logger="edge.app"):
        assert app.run() == 0
    assert app.frames == 35 and app.stream.frames_seen == 5  # counted again from the jump
    assert any("frame time jumped from 2.900 s to 100.000 s" in r.getMessage() for r in caplog.records)


def test_sigterm_in_process_stops_cleanly_and_restores_handlers(demo_bundle: Path) -> None:
    from edge.app import App

    before = signal.getsignal(signal.SIGTERM)

    def on_read(reads: int) -> None:
        if reads == 7:
            os.kill(os.getpid(), signal.SIGTERM)

    frames = [np.zeros((*model_hw(demo_bundle), 3), np.uint8)]
    camera = ScriptedCamera(frames, [i / 10 for i in range(1000)], on_read=on_read)
    app = App(app_config(demo_bundle, status_interval_s=0.01), source=camera, sinks=[RecordingSink()],
              clock=time.monotonic, notifier=Notifier(""), reload_config=None, source_options=None, max_frames=None)
    assert app.run() == 0
    assert 7 <= app.frames <= 8 and camera.closed and app.stopper.stop_signal == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


# -- what fault injection found (issue 15) -------------------------------------------------------------------

FAKE_PICAMERA2 = '''"""A Raspberry Pi camera whose driver hangs: FAKE_PICAMERA2_FRAMES frames, then capture_array()
never returns."""
import os
import threading
import time

import numpy as np

FRAMES = int(os.environ.get("FAKE_PICAMERA2_FRAMES", "20"))


class Picamera2:
    sensor_resolution = (640, 480)

    def __init__(self, camera_num=0):
        self.captured = 0
        self.size = (160, 120)

    def create_video_configuration(self, main=None, controls=None, **_):
        return {"main": main, "controls": controls}

    def configure(self, config):
        self.size = tuple(config["main"]["size"])

    def start(self):
        pass

    def capture_array(self, name="main"):
        self.captured += 1
        if self.captured > FRAMES:
            threading.Event().wait()  # no frame, no error, ever
        time.sleep(0.02)
        width, height = self.size
        return np.full((height, width, 3), 8 * (self.captured % 30), np.uint8)

    def stop(self):
        pass

    def close(self):
        pass
'''


def test_sigterm_stops_the_service_while_the_camera_hangs_in_read(demo_bundle: Path, tmp_path: Path,
                                                                  notify: NotifySocket) -> None:
    fake = tmp_path / "fake-camera-stack"
    (fake / "picamera2").mkdir(parents=True)
    (fake / "picamera2" / "__init__.py").write_text(FAKE_PICAMERA2)
    proc, log = start_edge(tmp_path, str(tmp_path / "notify.sock"), "run", "--bundle", str(demo_bundle), "--source",
                           "picamera2", "--sink", "log", pythonpath=(fake,))
    try:
        ready_t = notify.wait_for("READY=1", START_TIMEOUT_S, proc)
        # The camera hangs after 20 frames: the frame loop's watchdog pings stop (systemd would restart us)...
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pings = [t for t, line in notify.lines() if line == "WATCHDOG=1" and t >= ready_t]
            if pings and time.monotonic() - pings[-1] > 1.0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the watchdog pings went on although the camera hangs")
        # ...and SIGTERM still ends the service, promptly and cleanly.
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        stop(proc)
    text = log.read_text()
    assert rc == 0 and elapsed < 2.0, (rc, elapsed, text[-3000:])
    assert "stopped by SIGTERM" in text and "picamera2: still in read() after 0.5 s: left open" in text
    assert "Traceback" not in text and any(line == "STOPPING=1" for _, line in notify.lines())


def wait_mapped(pid: int, needle: str, timeout_s: float = 60.0) -> None:
    """Wait until a shared object whose path contains `needle` is mapped into process `pid`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if needle in Path(f"/proc/{pid}/maps").read_text():
                return
        except OSError:
            break  # the process is gone
        time.sleep(0.001)
    raise AssertionError(f"{needle} never appeared in /proc/{pid}/maps")


def test_signals_during_start_up_are_requests_not_deaths(demo_bundle: Path, looping_video: Path, tmp_path: Path,
                                                         notify: NotifySocket) -> None:
    # Sent while numpy is being imported (the start has just begun): the handlers must already be in place.
    proc, log = start_service(demo_bundle, looping_video, tmp_path, str(tmp_path / "notify.sock"))
    try:
        wait_mapped(proc.pid, "_multiarray_umath")
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=START_TIMEOUT_S)
    finally:
        stop(proc)
    text = log.read_text()
    assert rc == 0, (rc, text[-3000:])
    assert "stopped by SIGTERM while starting" in text and "Traceback" not in text
    assert "READY=1" not in [line for _, line in notify.lines()]

    proc, log = start_service(demo_bundle, looping_video, tmp_path, str(tmp_path / "notify.sock"))
    try:
        wait_mapped(proc.pid, "_multiarray_umath")
        proc.send_signal(signal.SIGHUP)  # its default action would kill the process (and systemd not restart it)
        notify.wait_for("READY=1", START_TIMEOUT_S, proc)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
    finally:
        stop(proc)
    assert rc == 0 and "Traceback" not in log.read_text()


def test_sighup_with_a_config_that_cannot_be_read_or_parsed_keeps_running(demo_bundle: Path, looping_video: Path,
                                                                          tmp_path: Path,
                                                                          notify: NotifySocket) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[decision]\nthreshold = 0.8\n")
    proc, log = start_service(demo_bundle, looping_video, tmp_path, str(tmp_path / "notify.sock"), "--config",
                              str(config))
    try:
        notify.wait_for("READY=1", START_TIMEOUT_S, proc)
        config.write_text("[decision]\nthreshold = " + "[" * 100_000 + "]" * 100_000 + "\n")
        proc.send_signal(signal.SIGHUP)
        line = wait_log(log, "config reload failed", 30, proc)
        assert line == (f"ERROR edge.app: config reload failed, keeping the running config: {config}: invalid TOML: "
                        f"arrays or tables nested too deeply to parse")
        config.unlink()
        os.mkfifo(config)  # opening it for reading would wait for a writer forever
        proc.send_signal(signal.SIGHUP)
        line = wait_log(log, "not a regular file", 30, proc)
        assert line.endswith(f"keeping the running config: {config}: cannot read the config file: not a regular file "
                             f"(a FIFO)")
        time.sleep(0.3)
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0 and time.monotonic() - sent < 2.0
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text()


def test_a_reload_that_fails_in_any_way_keeps_the_running_config(demo_bundle: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from edge.app import App

    def broken_reload():
        raise RuntimeError("disk on fire")

    def on_read(reads: int) -> None:
        if reads == 5:
            os.kill(os.getpid(), signal.SIGHUP)

    frames = [np.zeros((*model_hw(demo_bundle), 3), np.uint8)]
    config = app_config(demo_bundle)
    app = App(config, source=ScriptedCamera(frames, [i / 10 for i in range(30)], on_read=on_read), sinks=[],
              clock=time.monotonic, notifier=Notifier(""), reload_config=broken_reload, source_options=None,
              max_frames=None)
    with caplog.at_level(logging.INFO, logger="edge.app"):
        assert app.run() == 0
    assert app.frames == 30 and app.config is config
    failed = [r.getMessage() for r in caplog.records if "config reload failed" in r.getMessage()]
    assert failed == ["config reload failed, keeping the running config: RuntimeError: disk on fire"]
