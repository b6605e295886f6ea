"""CommandSink with real subprocesses: success, failures, timeouts and gesture-edge's exit that kill the whole
process group, output kept as a bounded tail, log lines that labels and output cannot break."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from conftest import run_cli
from edge.settings import CommandSettings
from edge.sinks import Dispatcher
from edge.sinks.command import CommandSink
from edge.sinks.proc import OUTPUT_LIMIT_BYTES, run_bounded
from tests.fakes import gesture_event


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
    sink.handle(gesture_event(gesture="Swipe", action="play", confidence=0.875))
    sink.handle(gesture_event(gesture="Stop", action="pause"))
    sink.close()
    assert out.read_text().splitlines() == ["play Swipe 0.8750", "paused"]
    assert sink.counters == {"sent": 2, "dropped": 0, "failed": 0}


def test_non_zero_exit_and_missing_program_are_counted_and_logged(tmp_path, caplog):
    sink = CommandSink(CommandSettings(actions={
        "stop": ("sh", "-c", "echo boom >&2; exit 3"),
        "next": (str(tmp_path / "no-such-program"),),
    }))
    with caplog.at_level(logging.WARNING, logger="edge.sinks.command"):
        sink.handle(gesture_event(gesture="Stop", action="stop"))
        sink.handle(gesture_event(gesture="Swipe", action="next"))
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
        sink.handle(gesture_event(action="mute"))
        sink.handle(gesture_event(action="volume_up"))
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


def _wait_gone(pids: list[int], timeout_s: float = 5.0) -> list[int]:
    """The pids still alive after waiting up to `timeout_s` for them to end."""
    deadline = time.monotonic() + timeout_s
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]


def test_only_a_bounded_tail_of_the_output_is_kept():
    # `yes` never ends: killed at the timeout, and of its gigabytes only the last 64 KiB were kept.
    result = run_bounded(["yes"], 1.0)
    assert result.timed_out and result.returncode is None
    assert len(result.stdout) == OUTPUT_LIMIT_BYTES
    assert result.stdout == "y\n" * (OUTPUT_LIMIT_BYTES // 2)
    assert result.output_bytes > 20 * OUTPUT_LIMIT_BYTES, "yes wrote less than expected: the test shows nothing"
    # A command that writes 20 MB and ends: exit status and the real end of its output (its last line) kept.
    result = run_bounded(["sh", "-c", "yes | head -c 20000000; echo the-last-line; echo oops >&2"], 30.0)
    assert result.returncode == 0 and not result.timed_out
    assert len(result.stdout) == OUTPUT_LIMIT_BYTES and result.stdout.endswith("y\nthe-last-line\n")
    assert result.stderr == "oops\n"
    assert result.output_bytes == 20000000 + len("the-last-line\n") + len("oops\n")


MEMORY_PROBE = """
import json, logging, resource, sys
from edge.settings import CommandSettings
from edge.sinks.command import CommandSink
from tests.fakes import gesture_event
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
sink = CommandSink(CommandSettings(actions={"play": ("yes",)}, timeout_s=3.0))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sink.handle(gesture_event(action="play"))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "after_kib": after, "counters": sink.counters}))
"""


def test_a_command_bound_to_yes_does_not_grow_memory():
    """The fault-injection case: `yes` with a 3 s timeout took gesture-edge from 80 MB to 4.1 GB."""
    proc = run_cli([sys.executable, "-c", MEMORY_PROBE], timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["counters"] == {"sent": 0, "dropped": 0, "failed": 1}
    assert "command: play (Swipe) failed: still running after 3 s: killed" in proc.stderr
    grown_mib = (report["after_kib"] - report["before_kib"]) / 1024
    print(f"peak RSS {report['before_kib'] / 1024:.0f} MiB before, {report['after_kib'] / 1024:.0f} MiB after")
    assert grown_mib < 16, f"peak RSS grew by {grown_mib:.0f} MiB while `yes` ran"


EXIT_PROBE = """
import logging, sys, time
from pathlib import Path
from edge.settings import CommandSettings
from edge.sinks import Dispatcher
from edge.sinks.command import CommandSink
from tests.fakes import gesture_event
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
pids = Path(sys.argv[1])
script = f"echo $$ > {pids}.tmp; sleep 60 & echo $! >> {pids}.tmp; mv {pids}.tmp {pids}; wait"
dispatcher = Dispatcher([CommandSink(CommandSettings(actions={"play": ("sh", "-c", script)}, timeout_s=120))])
dispatcher.submit(gesture_event(action="play"))
deadline = time.monotonic() + 30
while not pids.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
# What gesture-edge does on SIGTERM: close the dispatcher with a short grace, then leave.
print("closed in time:", dispatcher.close(timeout_s=0.5), flush=True)
"""


def test_gesture_edge_exit_ends_a_running_command_and_its_children(tmp_path):
    """A command still running when gesture-edge exits (its own session: no Ctrl-C reaches it) is killed with
    everything it started, instead of outliving gesture-edge for the rest of its 60 s."""
    pid_file = tmp_path / "pids"
    started = time.monotonic()
    proc = run_cli([sys.executable, "-c", EXIT_PROBE, str(pid_file)], timeout=120)
    elapsed_s = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "closed in time: False\n"  # the worker was still inside the command
    assert "killed 1 external command(s) still running at exit" in proc.stderr
    shell, child = (int(x) for x in pid_file.read_text().split())
    assert _wait_gone([shell, child]) == [], "the command or its child outlived gesture-edge"
    assert elapsed_s < 60


def test_labels_and_output_with_control_characters_stay_on_one_log_line(caplog):
    sink = CommandSink(CommandSettings(actions={
        "play": ("sh", "-c", r"printf 'first\nbad \033[31mred' >&2; exit 2"),
        "pause": ("echo", "nul\0byte"),
    }))
    with caplog.at_level(logging.INFO, logger="edge.sinks.command"):
        sink.handle(gesture_event(gesture="Swipe\ncommand: play (Swipe) -> rm", action="play"))
        sink.handle(gesture_event(gesture="Stop", action="pause"))
    assert [r.getMessage() for r in caplog.records] == [
        "command: play ('Swipe\\ncommand: play (Swipe) -> rm') failed: exit status 2: 'bad \\x1b[31mred'",
        "command: pause (Stop) failed: cannot run 'echo': ValueError: embedded null byte"]
    assert all("\n" not in r.getMessage() for r in caplog.records)
    assert sink.counters == {"sent": 0, "dropped": 0, "failed": 2}


def test_unbound_actions_are_dropped_and_logged_once(caplog):
    sink = CommandSink(CommandSettings(actions={"play": ("true",)}))
    with caplog.at_level(logging.INFO, logger="edge.sinks.command"):
        sink.handle(gesture_event(action="mute"))
        sink.handle(gesture_event(action="mute"))
        sink.handle(gesture_event(action="play"))
    assert sink.counters == {"sent": 1, "dropped": 2, "failed": 0}
    dropped = [r.getMessage() for r in caplog.records if "no command bound" in r.getMessage()]
    assert dropped == ["command: no command bound to mute (Swipe): dropped (logged once per action)"]


def test_through_the_dispatcher(tmp_path):
    out = tmp_path / "out.txt"
    sink = CommandSink(CommandSettings(actions={"next": ("sh", "-c", f"echo next >> {out}")}))
    dispatcher = Dispatcher([sink])
    for _ in range(3):
        dispatcher.submit(gesture_event(action="next"))
    assert dispatcher.close(timeout_s=20)
    assert out.read_text().splitlines() == ["next"] * 3
    assert dispatcher.stats() == {"command": {"sent": 3, "dropped": 0, "failed": 0, "queued": 0}}
    assert os.environ.get("GESTURE_EDGE_ACTION") is None  # the parent's environment is untouched
