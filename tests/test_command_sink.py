"""CommandSink with real subprocesses: success, failures, timeouts that kill the whole process group."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from edge.settings import CommandSettings
from edge.sinks.base import Dispatcher
from edge.sinks.command import CommandSink
from tests.fakes import SinkEvent


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a killed orphan may stay a zombie here)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def test_runs_the_bound_argv_with_the_event_in_its_environment(tmp_path):
    out = tmp_path / "out.txt"
    sink = CommandSink(CommandSettings(actions={
        "play": ("sh", "-c", f'echo "$GESTURE_EDGE_ACTION $GESTURE_EDGE_GESTURE $GESTURE_EDGE_CONFIDENCE" >> {out}'),
        "pause": ("sh", "-c", f"echo paused >> {out}"),
    }))
    sink.start()
    sink.handle("play", SinkEvent(gesture="Swipe", action="play", confidence=0.875))
    sink.handle("pause", SinkEvent(gesture="Stop", action="pause"))
    sink.close()
    assert out.read_text().splitlines() == ["play Swipe 0.8750", "paused"]
    assert sink.counters == {"sent": 2, "dropped": 0, "failed": 0}


def test_non_zero_exit_and_missing_program_are_counted_and_logged(tmp_path, caplog):
    sink = CommandSink(CommandSettings(actions={
        "stop": ("sh", "-c", "echo boom >&2; exit 3"),
        "next": (str(tmp_path / "no-such-program"),),
    }))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.command"):
        sink.handle("stop", SinkEvent(gesture="Stop", action="stop"))
        sink.handle("next", SinkEvent(gesture="Swipe", action="next"))
    assert sink.counters == {"sent": 0, "dropped": 0, "failed": 2}
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0] == "command: stop (Stop) failed: exit status 3: boom"
    assert messages[1].startswith(f"command: next (Swipe) failed: cannot run '{tmp_path / 'no-such-program'}': "
                                  "FileNotFoundError")


def test_timeout_kills_the_command_and_its_children(tmp_path, caplog):
    pid_file = tmp_path / "child.pid"
    sink = CommandSink(CommandSettings(timeout_s=0.5, actions={
        "mute": ("sleep", "10"),
        # A shell whose own child would keep the output pipe open if only the shell were killed.
        "volume_up": ("sh", "-c", f"sleep 10 & echo $! > {pid_file}; wait"),
    }))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.command"):
        started = time.monotonic()
        sink.handle("mute", SinkEvent(action="mute"))
        sink.handle("volume_up", SinkEvent(action="volume_up"))
        elapsed_s = time.monotonic() - started
    assert sink.counters == {"sent": 0, "dropped": 0, "failed": 2}
    assert [r.getMessage() for r in caplog.records] == [
        "command: mute (Swipe) failed: still running after 0.5 s: killed",
        "command: volume_up (Swipe) failed: still running after 0.5 s: killed"]
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the shell's background child survived the timeout"
    print(f"two timed-out commands returned after {elapsed_s:.2f} s")
    assert elapsed_s < 9, "the call waited for the sleeps instead of killing them"


def test_unbound_actions_are_dropped_and_logged_once(caplog):
    sink = CommandSink(CommandSettings(actions={"play": ("true",)}))
    with caplog.at_level(logging.INFO, logger="edge.sinks.command"):
        sink.handle("mute", SinkEvent(action="mute"))
        sink.handle("mute", SinkEvent(action="mute"))
        sink.handle("play", SinkEvent(action="play"))
    assert sink.counters == {"sent": 1, "dropped": 2, "failed": 0}
    dropped = [r.getMessage() for r in caplog.records if "no command bound" in r.getMessage()]
    assert dropped == ["command: no command bound to mute (Swipe): dropped (logged once per action)"]


def test_through_the_dispatcher(tmp_path):
    out = tmp_path / "out.txt"
    sink = CommandSink(CommandSettings(actions={"next": ("sh", "-c", f"echo next >> {out}")}))
    dispatcher = Dispatcher([sink])
    for _ in range(3):
        dispatcher.submit(SinkEvent(action="next"))
    assert dispatcher.close(timeout_s=20)
    assert out.read_text().splitlines() == ["next"] * 3
    assert dispatcher.stats() == {"command": {"sent": 3, "dropped": 0, "failed": 0, "queued": 0}}
    assert os.environ.get("GESTURE_EDGE_ACTION") is None  # the parent's environment is untouched
