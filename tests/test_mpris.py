"""MprisSink against real mpv players (mpv-mpris) on a private D-Bus session bus, playerctl as the oracle;
plus the Dispatcher and LogSink that every sink runs behind."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path
from typing import Callable

import pytest

from conftest import DEMO_STREAM, run_cli
from edge.metrics import load_truth
from edge.settings import SINKS, Config, MprisSettings, SinkSettings, SpeakSettings
from edge.sinks import REGISTRY, Dispatcher, Sink, build_sinks, sink_class
from edge.sinks.base import new_counters
from edge.sinks.log import LogSink
from edge.sinks.mpris import MprisSink, session_bus_address
from tests.fakes import gesture_event

MPRIS_SCRIPT = "/usr/lib/mpv-mpris/mpris.so"
WAIT_S = 10.0


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> object:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


class Bus:
    """A private dbus-daemon (session config) listening on a socket in a temp folder."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.address = f"unix:path={socket_path}"
        self.env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.address}
        self.proc: subprocess.Popen | None = None
        self.players: list[Player] = []

    def start(self) -> "Bus":
        self.socket_path.unlink(missing_ok=True)
        self.proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", f"--address={self.address}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.socket_path.exists() and self.playerctl("-l").returncode in (0, 1),
                 "the private dbus-daemon")
        return self

    def stop(self) -> None:
        for player in list(self.players):
            player.quit()
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def playerctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["playerctl", *args], env=self.env, capture_output=True, text=True, timeout=10)

    def player_names(self) -> set[str]:
        out = self.playerctl("-l")
        return set(out.stdout.split()) if out.returncode == 0 else set()

    def states(self) -> dict[str, tuple[str, float]]:
        """playerctl's view: instance name -> (status, volume), for every player on the bus."""
        out = self.playerctl("-a", "-f", "{{playerInstance}}\t{{status}}\t{{volume}}", "status")
        states = {}
        for line in out.stdout.splitlines():
            name, status, volume = line.split("\t")
            states[name] = (status, float(volume))
        return states

    def start_player(self, media: list[Path], *, paused: bool = True) -> "Player":
        before = self.player_names()
        argv = ["mpv", "--no-config", f"--script={MPRIS_SCRIPT}", "--ao=null", "--vo=null", "--idle=yes",
                "--loop-file=inf", *(["--pause"] if paused else []), *map(str, media)]
        proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        name = wait_for(lambda: next(iter(self.player_names() - before), None), "mpv's MPRIS name on the bus")
        player = Player(self, proc, str(name))
        wait_for(lambda: player.status() in ("Playing", "Paused"), f"{name} to load its file")
        self.players.append(player)
        return player


class Player:
    """One mpv process and its MPRIS instance name (as playerctl spells it)."""

    def __init__(self, bus: Bus, proc: subprocess.Popen, name: str) -> None:
        self.bus, self.proc, self.name = bus, proc, name

    def ctl(self, *args: str) -> str:
        # `-p mpv` also matches `mpv.instanceN` (and `-i mpv` would ignore both): ignore only the instances.
        others = [p for p in self.bus.player_names() if p != self.name and p.startswith(self.name + ".")]
        argv = ["-p", self.name] + (["-i", ",".join(others)] if others else []) + list(args)
        return self.bus.playerctl(*argv).stdout.strip()

    def status(self) -> str:
        return self.ctl("status")

    def volume(self) -> float:
        return float(self.ctl("volume"))

    def title(self) -> str:
        return self.ctl("metadata", "xesam:title")

    def wait_status(self, status: str) -> None:
        wait_for(lambda: self.status() == status, f"{self.name} to be {status} (is {self.status()!r})")

    def quit(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        wait_for(lambda: self.name not in self.bus.player_names(), f"{self.name} to leave the bus")
        if self in self.bus.players:
            self.bus.players.remove(self)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> list[Path]:
    """Two short silent WAV files (8 kHz mono), written with the wave module."""
    folder = tmp_path_factory.mktemp("media")
    files = []
    for name in ("first.wav", "second.wav"):
        path = folder / name
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * 16000)
        files.append(path)
    return files


@pytest.fixture
def bus(tmp_path):
    for tool in ("dbus-daemon", "mpv", "playerctl"):
        assert shutil.which(tool), f"{tool} is missing: sudo apt install dbus mpv mpv-mpris playerctl"
    assert Path(MPRIS_SCRIPT).is_file(), f"{MPRIS_SCRIPT} is missing: sudo apt install mpv-mpris"
    b = Bus(tmp_path / "bus").start()
    yield b
    b.stop()


def sink_for(bus: Bus, **settings) -> MprisSink:
    return MprisSink(MprisSettings(**settings), bus_address=bus.address)


def act(sink: MprisSink, action: str, gesture: str = "Swipe") -> None:
    sink.handle(gesture_event(gesture=gesture, action=action))


# -- one player -----------------------------------------------------------------------------------------

def test_play_pause_and_toggle_reach_the_player(bus, media):
    player = bus.start_player(media[:1])
    sink = sink_for(bus)
    sink.start()
    act(sink, "play")
    player.wait_status("Playing")
    act(sink, "pause")
    player.wait_status("Paused")
    act(sink, "play_pause")
    player.wait_status("Playing")
    act(sink, "play_pause")
    player.wait_status("Paused")
    assert sink.counters == {"sent": 4, "dropped": 0, "failed": 0}
    assert sink.last_player == "org.mpris.MediaPlayer2." + player.name
    sink.close()


def test_volume_steps_and_clamps_at_both_ends(bus, media):
    player = bus.start_player(media[:1])
    sink = sink_for(bus, volume_step=0.05)
    player.ctl("volume", "0.5")
    act(sink, "volume_up", "Thumbs Up")
    assert player.volume() == pytest.approx(0.55, abs=1e-6)
    player.ctl("volume", "0.98")
    act(sink, "volume_up", "Thumbs Up")
    assert player.volume() == pytest.approx(1.0, abs=1e-6)
    act(sink, "volume_up", "Thumbs Up")  # mpv would accept 1.05 (its volume-max is 130 %): we must clamp
    assert player.volume() == pytest.approx(1.0, abs=1e-6)
    player.ctl("volume", "0.02")
    act(sink, "volume_down", "Thumbs Down")
    assert player.volume() == pytest.approx(0.0, abs=1e-6)
    act(sink, "volume_down", "Thumbs Down")
    assert player.volume() == pytest.approx(0.0, abs=1e-6)
    assert sink.counters == {"sent": 5, "dropped": 0, "failed": 0}


def test_mute_remembers_and_restores_the_volume(bus, media):
    player = bus.start_player(media[:1])
    sink = sink_for(bus)
    player.ctl("volume", "0.6")
    act(sink, "mute")
    assert player.volume() == pytest.approx(0.0, abs=1e-6)
    act(sink, "mute")
    assert player.volume() == pytest.approx(0.6, abs=1e-6)
    # Muted, then the user turns the volume up: the next mute mutes again instead of "restoring".
    act(sink, "mute")
    player.ctl("volume", "0.3")
    act(sink, "mute")
    assert player.volume() == pytest.approx(0.0, abs=1e-6)
    act(sink, "mute")
    assert player.volume() == pytest.approx(0.3, abs=1e-6)


def test_next_previous_and_stop_reach_the_player(bus, media):
    player = bus.start_player(media)
    sink = sink_for(bus)
    assert player.title() == "first.wav"
    act(sink, "next")
    wait_for(lambda: player.title() == "second.wav", "the second track")
    act(sink, "previous")
    wait_for(lambda: player.title() == "first.wav", "the first track again")
    act(sink, "stop")
    player.wait_status("Stopped")
    assert sink.counters == {"sent": 3, "dropped": 0, "failed": 0}


# -- choosing among players -----------------------------------------------------------------------------

def test_the_playing_player_is_targeted(bus, media):
    first = bus.start_player(media[:1])
    second = bus.start_player(media[:1])  # mpv-mpris names it mpv.instance<PID>
    assert first.name == "mpv" and second.name.startswith("mpv.instance")
    second.ctl("play")
    second.wait_status("Playing")
    sink = sink_for(bus)
    # A toggle: sent to the wrong player it would start `first` instead of stopping `second`.
    act(sink, "play_pause")
    second.wait_status("Paused")
    assert first.status() == "Paused"
    # Nobody plays now: the most recently controlled player gets the next action.
    act(sink, "play_pause")
    second.wait_status("Playing")
    assert first.status() == "Paused"
    # The user starts the other one and pauses ours: the last one *seen* Playing wins from now on.
    second.ctl("pause")
    second.wait_status("Paused")
    first.ctl("play")
    first.wait_status("Playing")
    act(sink, "volume_down", "Thumbs Down")
    states = bus.states()
    assert states[first.name][1] == pytest.approx(0.95, abs=1e-6)
    assert states[second.name][1] == pytest.approx(1.0, abs=1e-6)
    assert sink.counters == {"sent": 3, "dropped": 0, "failed": 0}


def test_configured_player_by_prefix_exact_name_or_missing(bus, media, caplog):
    first = bus.start_player(media[:1])
    second = bus.start_player(media[:1])
    first.ctl("play")
    first.wait_status("Playing")
    # Exact instance name: the paused one, although the other plays.
    sink = sink_for(bus, player=second.name)
    act(sink, "play")
    second.wait_status("Playing")
    # Full bus name works too.
    sink = sink_for(bus, player=f"org.mpris.MediaPlayer2.{first.name}")
    act(sink, "pause")
    first.wait_status("Paused")
    assert second.status() == "Playing"
    # A prefix matching both: the Playing one.
    sink = sink_for(bus, player="mpv")
    act(sink, "pause")
    second.wait_status("Paused")
    # Nothing matches: dropped with one line naming what is there.
    sink = sink_for(bus, player="vlc")
    with caplog.at_level(logging.WARNING, logger="edge.sinks.mpris"):
        act(sink, "play")
    assert sink.counters == {"sent": 0, "dropped": 1, "failed": 0}
    assert [r.getMessage() for r in caplog.records] == [
        "mpris: dropped play (Swipe): no MPRIS player matches sinks.mpris.player = 'vlc' "
        f"(players on the bus: {', '.join(sorted([first.name, second.name]))})"]
    assert first.status() == second.status() == "Paused"


# -- players and buses coming and going -----------------------------------------------------------------

def test_player_quits_then_a_new_one_appears(bus, media, caplog):
    player = bus.start_player(media[:1])
    sink = sink_for(bus)
    act(sink, "play")
    player.wait_status("Playing")
    player.quit()
    with caplog.at_level(logging.WARNING, logger="edge.sinks.mpris"):
        act(sink, "pause", "Stop")
    assert sink.counters == {"sent": 1, "dropped": 1, "failed": 0}
    assert [r.getMessage() for r in caplog.records] == [
        "mpris: dropped pause (Stop): no MPRIS player on the session bus (is a player running, as this user?)"]
    newcomer = bus.start_player(media[:1])
    act(sink, "play")
    newcomer.wait_status("Playing")
    assert sink.counters == {"sent": 2, "dropped": 1, "failed": 0}


def test_bus_restart_drops_one_action_then_reconnects(bus, media, caplog):
    bus.start_player(media[:1])
    sink = sink_for(bus)
    sink.start()
    act(sink, "volume_down")
    bus.stop()  # the user's session bus goes away (logout, dbus restart)
    with caplog.at_level(logging.WARNING, logger="edge.sinks.mpris"):
        act(sink, "play")
    assert sink.counters == {"sent": 1, "dropped": 1, "failed": 0}
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("mpris: dropped play (Swipe): cannot connect to the session "
                                                     f"bus at {bus.address}: ")
    bus.start()
    player = bus.start_player(media[:1])
    act(sink, "play")
    player.wait_status("Playing")
    assert sink.counters == {"sent": 2, "dropped": 1, "failed": 0}


def test_no_bus_at_all_is_one_line_and_no_exception(tmp_path, caplog):
    sink = MprisSink(MprisSettings(timeout_s=0.5), bus_address=f"unix:path={tmp_path / 'nobody-listens'}")
    with caplog.at_level(logging.WARNING, logger="edge.sinks.mpris"):
        sink.start()
        caplog.clear()
        act(sink, "play")
        act(sink, "fly")  # not an MPRIS action
    assert sink.counters == {"sent": 0, "dropped": 2, "failed": 0}
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith(f"mpris: dropped play (Swipe): cannot connect to the session bus at "
                                  f"unix:path={tmp_path / 'nobody-listens'}: FileNotFoundError")
    assert messages[1] == "mpris: dropped fly (Swipe): action 'fly' has no MPRIS equivalent"


def test_session_bus_address_fallbacks(tmp_path):
    assert session_bus_address({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x/bus"}) == "unix:path=/x/bus"
    # Under systemd --user without the variable: $XDG_RUNTIME_DIR/bus, when it exists.
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
    (tmp_path / "bus").write_text("")
    assert session_bus_address({"XDG_RUNTIME_DIR": str(tmp_path)}) == f"unix:path={tmp_path / 'bus'}"


# -- Dispatcher and LogSink -----------------------------------------------------------------------------

class BlockingSink:
    """A sink whose handle() waits until released: a D-Bus peer or TV that stopped answering."""

    name = "stuck"

    def __init__(self) -> None:
        self.counters = new_counters()
        self.release = threading.Event()
        self.entered = threading.Event()
        self.handled: list[int] = []
        self.closed = False

    def start(self) -> None:
        pass

    def handle(self, event) -> None:
        self.entered.set()
        self.release.wait()
        self.handled.append(event.repeat)
        self.counters["sent"] += 1

    def close(self) -> None:
        self.closed = True


class RecordingSink:
    name = "fast"

    def __init__(self, fail_on: int | None = None) -> None:
        self.counters = new_counters()
        self.handled: list[int] = []
        self.fail_on = fail_on

    def start(self) -> None:
        pass

    def handle(self, event) -> None:
        if event.repeat == self.fail_on:
            raise RuntimeError("sink bug")
        self.handled.append(event.repeat)
        self.counters["sent"] += 1

    def close(self) -> None:
        pass


def test_submit_never_blocks_and_overflow_drops_the_oldest(caplog):
    stuck, fast = BlockingSink(), RecordingSink()
    dispatcher = Dispatcher([stuck, fast], queue_size=4)
    with caplog.at_level(logging.WARNING, logger="edge.sinks.dispatch"):
        dispatcher.submit(gesture_event(repeat=0))
        assert stuck.entered.wait(10)  # the stuck sink now holds event 0
        for i in range(1, 20):
            dispatcher.submit(gesture_event(repeat=i))  # returns although the sink is still stuck
            # Gestures come a few per second: let the healthy sink keep up, as it would in real life.
            wait_for(lambda i=i: len(fast.handled) == i + 1, f"the fast sink to handle event {i}")
        assert not stuck.release.is_set()  # every submit above came back while the sink was blocked
        overflow = [r.getMessage() for r in caplog.records if "queue full" in r.getMessage()]
    assert len(overflow) == 15
    assert overflow[0].startswith("sink stuck: queue full (4 waiting, sink busy for ")
    assert overflow[0].endswith("dropped the oldest action 'play' (1 dropped by overflow so far)")
    stats = dispatcher.stats()
    assert stats["stuck"] == {"sent": 0, "dropped": 15, "failed": 0, "queued": 4}
    assert stats["fast"] == {"sent": 20, "dropped": 0, "failed": 0, "queued": 0}  # not held up by the stuck one
    stuck.release.set()
    assert dispatcher.close(timeout_s=10)
    assert stuck.handled == [0, 16, 17, 18, 19]  # the newest four survived
    assert fast.handled == list(range(20))
    assert stuck.closed
    assert dispatcher.stats()["stuck"] == {"sent": 5, "dropped": 15, "failed": 0, "queued": 0}


def test_close_gives_up_on_a_hung_sink_and_a_raising_sink_keeps_working(caplog):
    stuck, flaky = BlockingSink(), RecordingSink(fail_on=1)
    dispatcher = Dispatcher([stuck, flaky])
    for i in range(3):
        dispatcher.submit(gesture_event(repeat=i))
    assert stuck.entered.wait(10)
    with caplog.at_level(logging.WARNING, logger="edge.sinks.dispatch"):
        assert dispatcher.close(timeout_s=0.5) is False
    assert any(r.getMessage().startswith("sink stuck: still busy after 0.5 s at shutdown (2 action(s) not "
                                         "delivered)") for r in caplog.records)
    assert any(r.getMessage() == "sink fast: action 'play' raised RuntimeError: sink bug" for r in caplog.records)
    assert flaky.handled == [0, 2]
    assert dispatcher.stats()["fast"] == {"sent": 2, "dropped": 0, "failed": 1, "queued": 0}
    dispatcher.submit(gesture_event(repeat=9))  # after close: refused with a log line, no exception
    stuck.release.set()


def test_log_sink_writes_one_json_line_per_event():
    out = io.StringIO()
    sink = LogSink(stream=out)
    sink.handle(gesture_event(gesture="Thumbs Up", action="volume_up", confidence=0.91234567,
                                       t_s=3.25, lag_s=0.125, repeat=2))
    sink.handle(gesture_event())
    lines = out.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"event": "gesture", "gesture": "Thumbs Up", "action": "volume_up", "confidence": 0.9123, "t_s": 3.25,
         "lag_s": 0.125, "repeat": 2},
        {"event": "gesture", "gesture": "Swipe", "action": "play", "confidence": 0.93, "t_s": 12.5, "lag_s": 0.04,
         "repeat": 0}]
    assert sink.counters == {"sent": 2, "dropped": 0, "failed": 0}


def test_build_sinks_follows_the_config():
    sinks = build_sinks(Config(sinks=SinkSettings(enabled=("cec", "log", "mpris", "command", "speak"),
                                                  speak=SpeakSettings(voice="en-us", speed_wpm=200))))
    assert [s.name for s in sinks] == ["cec", "log", "mpris", "command", "speak"]
    assert [type(s).__name__ for s in sinks] == ["CecSink", "LogSink", "MprisSink", "CommandSink", "SpeakSink"]
    assert sinks[4].settings == SpeakSettings(voice="en-us", speed_wpm=200)  # type: ignore[attr-defined]
    assert all(isinstance(s, Sink) and s.counters == {"sent": 0, "dropped": 0, "failed": 0} for s in sinks)
    assert [s.name for s in build_sinks(Config())] == ["log"]


def test_the_registry_names_every_sink_and_loads_only_the_ones_used():
    assert tuple(REGISTRY) == SINKS
    assert [sink_class(name).name for name in SINKS] == list(SINKS)
    with pytest.raises(ValueError, match="^unknown sink 'tv': expected one of log, mpris, cec, command, speak$"):
        sink_class("tv")
    # A fresh interpreter: the package holds no sink module until one is asked for by name (a CEC-only
    # install never imports jeepney).
    code = ("import json, sys\n"
            "from edge.settings import Config, SinkSettings\n"
            "import edge.sinks\n"
            "def seen(): return sorted(m for m in sys.modules if m.startswith(('edge.sinks', 'jeepney')))\n"
            "before = seen()\n"
            "edge.sinks.build_sinks(Config(sinks=SinkSettings(enabled=('cec',))))\n"
            "print(json.dumps([before, seen()]))")
    proc = run_cli([sys.executable, "-c", code], timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == [["edge.sinks", "edge.sinks.base", "edge.sinks.dispatch"],
                                       ["edge.sinks", "edge.sinks.base", "edge.sinks.cec", "edge.sinks.dispatch",
                                        "edge.sinks.proc"]]


def test_dispatcher_closed_before_starting_closes_its_sinks_and_refuses_work():
    fast = RecordingSink()
    closed = []
    fast.close = lambda: closed.append(True)  # type: ignore[method-assign]
    dispatcher = Dispatcher([fast])
    assert dispatcher.close(timeout_s=1)
    assert closed == [True]
    dispatcher.submit(gesture_event())  # refused (logged), no worker started, no exception
    assert fast.handled == [] and closed == [True]
    assert dispatcher.stats()["fast"] == {"sent": 0, "dropped": 0, "failed": 0, "queued": 0}


# -- end to end: gesture-edge run -> MPRIS -> mpv -----------------------------------------------------------

class Follow:
    """`playerctl --follow` on one player property: every value it reports, in order, from a reader thread."""

    def __init__(self, player: Player, prop: str) -> None:
        argv = ["playerctl", "-p", player.name, "--follow", prop]
        self.proc = subprocess.Popen(argv, env=player.bus.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.values: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        wait_for(lambda: self.values, f"playerctl --follow {prop} to report the current value")

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            if line.strip():
                self.values.append(line.strip())

    def stop(self) -> list[str]:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=10)
        return self.values


def expected_changes(actions: list[str], status: str, volume: float, step: float) -> tuple[list[str], list[float]]:
    """The status and volume values a player reports for `actions`, starting at (status, volume)."""
    statuses, volumes = [status], [volume]
    for action in actions:
        if action in ("play", "pause"):
            status = "Playing" if action == "play" else "Paused"
            if status != statuses[-1]:
                statuses.append(status)
        elif action in ("volume_up", "volume_down"):
            volume = min(1.0, max(0.0, round(volume + (step if action == "volume_up" else -step), 6)))
            if volume != volumes[-1]:
                volumes.append(volume)
    return statuses, volumes


@pytest.mark.slow
def test_gesture_edge_run_on_the_demo_stream_drives_mpv(bus, media, demo_bundle, tmp_path) -> None:
    """The whole product on the demo stream: int8 bundle -> decisions -> MprisSink -> a real mpv.

    playerctl, following the player, must see exactly the status and volume changes that the stream's true
    gestures ask for (Swipe -> play, Stop -> pause, Thumbs Up/Down -> volume +-0.05).

    `--realtime`: the stream plays at its own speed, as a camera would deliver it. Decoded faster, two volume
    steps reach mpv within milliseconds; once (a fresh-clone CI run) playerctl then missed the last
    down-then-up pair (0.5 -> 0.45 -> 0.5), as when mpv reports only the latest value of a property that
    changed twice between two turns of its event loop. Gestures seconds apart leave no such race.
    """
    player = bus.start_player(media, paused=False)
    player.ctl("volume", "0.5")
    wait_for(lambda: abs(player.volume() - 0.5) < 1e-6, "the volume to be 0.5")
    follows = {prop: Follow(player, prop) for prop in ("status", "volume")}
    proc = run_cli([sys.executable, "-m", "edge.cli", "run", "--bundle", str(demo_bundle), "--source",
                    str(DEMO_STREAM), "--realtime", "--sink", "mpris", "--sink", "log"],
                   env={"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "DBUS_SESSION_BUS_ADDRESS": bus.address},
                   timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    time.sleep(1.0)  # the last PropertiesChanged signals reach playerctl
    seen = {prop: follow.stop() for prop, follow in follows.items()}
    seen_volumes = [round(float(v), 6) for v in seen["volume"]]

    # 1. the sink did exactly what gesture-edge decided (whatever the model saw)
    statuses, volumes = expected_changes([e["action"] for e in events], "Playing", 0.5, 0.05)
    detail = f"events {[(e['gesture'], e['action'], e['t_s']) for e in events]}\nplayerctl saw {seen}"
    assert seen["status"] == statuses, detail
    assert seen_volumes == volumes, detail

    # 2. and that is what the stream's true gestures ask for
    manifest = json.loads((demo_bundle / "manifest.json").read_text())
    truth = [manifest["actions"][g.gesture] for g in load_truth(DEMO_STREAM).events]
    true_statuses, true_volumes = expected_changes(truth, "Playing", 0.5, 0.05)
    assert (seen["status"], seen_volumes) == (true_statuses, true_volumes), detail
    assert (player.status(), round(player.volume(), 6)) == (true_statuses[-1], true_volumes[-1])


# -- players no installed player imitates: read-only, VLC-like (volume above 1.0, two names), frozen ----------

VLC_NAMES = ("org.mpris.MediaPlayer2.vlc", "org.mpris.MediaPlayer2.vlc.instance4242")
"""VLC owns its plain name and an instance name (`vlc.instance<PID>`) on one connection."""


class FakePlayer:
    """A minimal MPRIS service on the private bus (jeepney), for player behaviours mpv cannot show: one connection
    owning several bus names (like VLC), a volume above 1.0 (VLC goes to 2.5), CanControl = false, a player
    that never answers. It records every method call it receives as (bus name used, member, body)."""

    def __init__(self, bus: Bus, names: tuple[str, ...] = ("org.mpris.MediaPlayer2.readonly",), *,
                 can_control: bool = True, volume: float = 0.5, status: str = "Playing",
                 frozen: bool = False) -> None:
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        self.conn = open_dbus_connection(bus=bus.address)
        for name in names:
            self.conn.send_and_get_reply(message_bus.RequestName(name))
        self.names, self.frozen = names, frozen
        self.props: dict[str, tuple[str, object]] = {
            "CanControl": ("b", can_control), "PlaybackStatus": ("s", status), "Volume": ("d", volume)}
        self.calls: list[tuple[str, str, tuple]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from jeepney import HeaderFields, MessageType, new_error, new_method_return

        while not self.stop.is_set():
            try:
                msg = self.conn.receive(timeout=0.1)
            except TimeoutError:
                continue
            if msg.header.message_type != MessageType.method_call:
                continue
            fields = msg.header.fields
            member = fields[HeaderFields.member]
            self.calls.append((fields.get(HeaderFields.destination, ""), member, msg.body))
            if self.frozen:
                continue  # a hung player: the call is received and never answered
            if member == "Get" and msg.body[1] in self.props:
                self.conn.send(new_method_return(msg, "v", (self.props[msg.body[1]],)))
            elif member == "Get":
                self.conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty"))
            elif member == "Set":
                _iface, prop, value = msg.body
                self.props[prop] = value
                self.conn.send(new_method_return(msg))
            else:
                if member in ("Play", "Pause", "Stop"):
                    self.props["PlaybackStatus"] = ("s", {"Play": "Playing", "Pause": "Paused"}.get(member, "Stopped"))
                self.conn.send(new_method_return(msg))

    @property
    def volume(self) -> float:
        return float(self.props["Volume"][1])  # type: ignore[arg-type]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.conn.close()


def test_a_player_reporting_cancontrol_false_is_left_alone(bus, caplog):
    player = FakePlayer(bus, can_control=False)
    try:
        sink = sink_for(bus)
        with caplog.at_level(logging.WARNING):
            for action in ("play", "pause", "volume_up"):
                act(sink, action)
        assert sink.counters == {"sent": 0, "dropped": 3, "failed": 0}
        assert "reports CanControl = false" in caplog.text
        # it was asked about CanControl, and never told to do anything
        assert {member for _name, member, _body in player.calls} == {"Get"}
        assert {body[1] for _name, _member, body in player.calls} == {"CanControl"}
        sink.close()
    finally:
        player.close()


def test_volume_up_never_lowers_a_volume_above_one_and_two_names_are_one_player(bus):
    """VLC at 125 %: Thumbs Up used to set 1.0. And VLC's two bus names are one player, addressed once."""
    vlc = FakePlayer(bus, VLC_NAMES, volume=1.25)
    try:
        sink = sink_for(bus, volume_step=0.05)
        volumes = []
        for action in ("volume_up", "volume_down", "volume_up", "mute", "mute"):
            vlc.calls.clear()
            act(sink, action, "Thumbs Up")
            volumes.append(round(vlc.volume, 6))
            # One player, one name: no status queries to choose between "two" players, nothing sent twice.
            assert [(name, member) for name, member, _ in vlc.calls] == [
                (VLC_NAMES[0], "Get"), (VLC_NAMES[0], "Get"), (VLC_NAMES[0], "Set")], action
        # up: stays at 1.25 (its own level is the ceiling); down: 1.20; up: not above the level it is at now;
        # mute and unmute: back to 1.20, not cut to 1.0.
        assert volumes == [1.25, 1.2, 1.2, 0.0, 1.2]
        assert sink.counters == {"sent": 5, "dropped": 0, "failed": 0}
        assert sink.last_player == VLC_NAMES[0]
        vlc.props["Volume"] = ("d", 0.98)
        act(sink, "volume_up", "Thumbs Up")
        assert vlc.volume == pytest.approx(1.0, abs=1e-9)  # below 1.0 the ceiling is still 1.0
    finally:
        vlc.close()


def test_a_frozen_player_with_two_names_costs_one_timeout_per_action(bus, media, caplog):
    frozen = FakePlayer(bus, VLC_NAMES, frozen=True)
    try:
        sink = sink_for(bus, timeout_s=0.5)
        with caplog.at_level(logging.WARNING, logger="edge.sinks.mpris"):
            act(sink, "play")
        # Alone on the bus: the one call of the action itself, to one of its names, timed out.
        assert [(name, member) for name, member, _ in frozen.calls] == [(VLC_NAMES[0], "Get")]
        assert [r.getMessage() for r in caplog.records] == [
            "mpris: play (Swipe) failed: player vlc did not answer within 0.5 s"]
        # With a healthy player next to it: one status query to the frozen one times out, the action goes on
        # to the player that answers.
        player = bus.start_player(media[:1], paused=False)
        frozen.calls.clear()
        act(sink, "volume_down", "Thumbs Down")
        assert [(name, member, body[1]) for name, member, body in frozen.calls] == [
            (VLC_NAMES[0], "Get", "PlaybackStatus")]
        assert player.volume() == pytest.approx(0.95, abs=1e-6)
        assert sink.counters == {"sent": 1, "dropped": 0, "failed": 1}
    finally:
        frozen.close()


# -- resuming the player we paused --------------------------------------------------------------------------

def test_play_resumes_the_player_we_paused_while_another_keeps_playing(bus, media):
    first = bus.start_player(media[:1], paused=False)
    second = bus.start_player(media[:1], paused=False)
    now = [1000.0]
    sink = MprisSink(MprisSettings(resume_window_s=600.0), bus_address=bus.address, clock=lambda: now[0])
    act(sink, "pause", "Stop")  # both play: the first by name is paused
    first.wait_status("Paused")
    assert second.status() == "Playing"
    now[0] += 30
    act(sink, "play")  # used to go to the one still playing, so the paused one never came back
    first.wait_status("Playing")
    assert second.status() == "Playing"
    # Paused again, and the window passes: a play goes to the Playing player as usual (a no-op there).
    act(sink, "pause", "Stop")
    first.wait_status("Paused")
    now[0] += 601
    act(sink, "play")
    assert sink.last_player == "org.mpris.MediaPlayer2." + second.name
    assert (first.status(), second.status()) == ("Paused", "Playing")
    assert sink.counters == {"sent": 4, "dropped": 0, "failed": 0}


def test_play_does_not_resume_when_the_user_started_another_player_since(bus, media):
    first = bus.start_player(media[:1], paused=False)
    second = bus.start_player(media[:1])  # paused
    now = [1000.0]
    sink = MprisSink(MprisSettings(), bus_address=bus.address, clock=lambda: now[0])
    act(sink, "pause", "Stop")
    first.wait_status("Paused")
    second.ctl("play")  # the user moves on to the other film
    second.wait_status("Playing")
    now[0] += 10
    act(sink, "play")
    assert sink.last_player == "org.mpris.MediaPlayer2." + second.name
    assert (first.status(), second.status()) == ("Paused", "Playing")
    # With the preference switched off, even the first case goes to the Playing player.
    sink = MprisSink(MprisSettings(resume_window_s=0), bus_address=bus.address, clock=lambda: now[0])
    second.ctl("pause")
    second.wait_status("Paused")
    first.ctl("play")
    first.wait_status("Playing")
    second.ctl("play")
    second.wait_status("Playing")
    act(sink, "pause", "Stop")  # both play, never controlled: the first by name
    first.wait_status("Paused")
    act(sink, "play")
    assert sink.last_player == "org.mpris.MediaPlayer2." + second.name
    assert first.status() == "Paused"


def test_gesture_names_with_control_characters_stay_on_one_log_line(bus, caplog):
    sink = sink_for(bus)
    with caplog.at_level(logging.WARNING, logger="edge.sinks.mpris"):
        act(sink, "play", "Swipe\nmpris: play (Swipe) -> vlc\x1b[2J")
    assert [r.getMessage() for r in caplog.records] == [
        "mpris: dropped play ('Swipe\\nmpris: play (Swipe) -> vlc\\x1b[2J'): no MPRIS player on the session bus "
        "(is a player running, as this user?)"]
