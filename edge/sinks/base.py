"""The action-sink API: a `Sink` protocol, a non-blocking `Dispatcher` and `build_sinks`.

The frame loop calls `Dispatcher.submit(event)` and goes on with the next frame: every sink runs on its own
worker thread with its own small queue, so a sink that hangs (a D-Bus peer that never answers, a TV that
keeps the CEC line busy) delays nothing but its own later actions.

Counters, per sink (`Sink.counters`, summed up by `Dispatcher.stats()`):
    sent     the action reached its target (D-Bus call answered, CEC frame acknowledged, command exit 0)
    dropped  the action was not attempted: nothing to send it to (no player, no CEC device, no tool, no
             command bound to the action), the target refuses control, or the sink's queue was full
    failed   the action was attempted and the transport reported an error (D-Bus error or timeout,
             non-zero exit, a CEC frame not acknowledged, a command timing out)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol, TextIO, runtime_checkable

from edge.settings import SINKS, Config

logger = logging.getLogger(__name__)

COUNTER_NAMES = ("sent", "dropped", "failed")

DEFAULT_QUEUE_SIZE = 8
"""Actions waiting per sink. Gestures arrive at most a few per second, so a full queue means the sink
is stuck; the oldest waiting action is the least useful one and is the one dropped."""


@runtime_checkable
class Sink(Protocol):
    """Something that carries out actions. Methods run on the sink's worker thread, never the frame loop."""

    name: str
    counters: dict[str, int]
    """sent / dropped / failed, see the module docstring."""

    def start(self) -> None:
        """Prepare (claim a CEC address, ...). Called once on the worker thread before the first action."""

    def handle(self, action: str, event: Any) -> None:
        """Carry out one action; may block up to the sink's own timeout; must not raise for I/O problems."""

    def close(self) -> None:
        """Release resources. Called once on the worker thread after the last action."""


def new_counters() -> dict[str, int]:
    """A fresh counters dict with every counter at 0."""
    return {name: 0 for name in COUNTER_NAMES}


def event_field(event: Any, name: str, default: Any = None) -> Any:
    """`event.name`, or `default` when the event has no such attribute (sinks accept any event-like object)."""
    return getattr(event, name, default)


class LogSink:
    """One JSON line per event on stdout (flushed), for humans, `jq` and the journal."""

    name = "log"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self.counters = new_counters()

    def start(self) -> None:
        """Nothing to prepare."""

    def handle(self, action: str, event: Any) -> None:
        """Write the event as one JSON object on one line."""
        record = {
            "event": "gesture",
            "gesture": event_field(event, "gesture"),
            "action": action,
            "confidence": _float_or_none(event_field(event, "confidence")),
            "t_s": _float_or_none(event_field(event, "t_s")),
            "lag_s": _float_or_none(event_field(event, "lag_s")),
            "repeat": int(event_field(event, "repeat", 0) or 0),
        }
        # Resolved at write time so a replaced sys.stdout (tests, a CLI redirect) is honoured.
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            stream.write(json.dumps(record) + "\n")
            stream.flush()
        except (OSError, ValueError) as exc:  # closed pipe / closed file
            self.counters["failed"] += 1
            logger.warning("log sink: cannot write the event to stdout: %s", exc)
            return
        self.counters["sent"] += 1

    def close(self) -> None:
        """Nothing to release."""


def _float_or_none(value: Any) -> float | None:
    # numpy scalars are not JSON serialisable; round away float noise for readability.
    return None if value is None else round(float(value), 4)


@dataclass
class _Lane:
    """One sink's queue and worker thread."""

    sink: Any
    queue: deque
    thread: threading.Thread | None = None
    overflow: int = 0
    busy_since: float | None = None


class Dispatcher:
    """Fans events out to sinks without ever blocking the caller.

    One worker thread and one bounded queue per sink. `submit` appends under a lock that is only held for
    the append; when a sink's queue is full its oldest waiting action is dropped (counted and logged).
    """

    def __init__(self, sinks: list[Any], queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique, got {names}")
        self.queue_size = queue_size
        self._lanes = [_Lane(sink=s, queue=deque()) for s in sinks]
        self._cond = threading.Condition()
        self._closing = False
        self._started = False

    @property
    def sinks(self) -> list[Any]:
        """The sinks, in order."""
        return [lane.sink for lane in self._lanes]

    def start(self) -> None:
        """Start one worker thread per sink (each calls its sink's `start()` first). Idempotent."""
        with self._cond:
            if self._started or self._closing:
                return
            self._started = True
        for lane in self._lanes:
            # Daemon threads: a sink stuck in a call must not keep the process alive at exit.
            lane.thread = threading.Thread(target=self._run, args=(lane,), name=f"sink-{lane.sink.name}",
                                           daemon=True)
            lane.thread.start()

    def submit(self, event: Any) -> None:
        """Queue `event.action` for every sink; never blocks, never raises for a slow or broken sink."""
        action = event_field(event, "action")
        if not self._started:
            self.start()
        with self._cond:
            if self._closing:
                logger.warning("dispatcher: closing, action %r not delivered", action)
                return
            for lane in self._lanes:
                if len(lane.queue) >= self.queue_size:
                    _, old_event = lane.queue.popleft()
                    lane.overflow += 1
                    logger.warning("sink %s: queue full (%d waiting, sink busy for %.1f s): dropped the oldest "
                                   "action %r (%d dropped by overflow so far)", lane.sink.name, self.queue_size,
                                   self._busy_s(lane), event_field(old_event, "action"), lane.overflow)
                lane.queue.append((action, event))
            self._cond.notify_all()

    def _busy_s(self, lane: _Lane) -> float:
        return 0.0 if lane.busy_since is None else time.monotonic() - lane.busy_since

    def _run(self, lane: _Lane) -> None:
        sink = lane.sink
        try:
            sink.start()
        except Exception as exc:  # a sink must never take the worker down; it retries per action
            logger.warning("sink %s: start failed: %s: %s", sink.name, type(exc).__name__, exc)
        while True:
            with self._cond:
                while not lane.queue and not self._closing:
                    self._cond.wait()
                if not lane.queue:  # closing and drained
                    break
                action, event = lane.queue.popleft()
                lane.busy_since = time.monotonic()
            try:
                sink.handle(action, event)
            except Exception as exc:
                sink.counters["failed"] = sink.counters.get("failed", 0) + 1
                logger.warning("sink %s: action %r raised %s: %s", sink.name, action, type(exc).__name__, exc)
            finally:
                lane.busy_since = None
        try:
            sink.close()
        except Exception as exc:
            logger.warning("sink %s: close failed: %s: %s", sink.name, type(exc).__name__, exc)

    def close(self, timeout_s: float = 5.0) -> bool:
        """Deliver what is queued, close every sink and stop the workers, waiting at most `timeout_s` overall.

        Returns True when every worker finished in time; a worker stuck in a sink call is left behind (it is a
        daemon thread) with a warning.
        """
        with self._cond:
            self._closing = True
            started = self._started
            self._cond.notify_all()
        if not started:
            for lane in self._lanes:  # never started: no worker will close them
                try:
                    lane.sink.close()
                except Exception as exc:
                    logger.warning("sink %s: close failed: %s: %s", lane.sink.name, type(exc).__name__, exc)
            return True
        deadline = time.monotonic() + max(0.0, timeout_s)
        all_done = True
        for lane in self._lanes:
            if lane.thread is None:
                continue
            lane.thread.join(max(0.0, deadline - time.monotonic()))
            if lane.thread.is_alive():
                all_done = False
                with self._cond:
                    waiting = len(lane.queue)
                logger.warning("sink %s: still busy after %.1f s at shutdown (%d action(s) not delivered)",
                               lane.sink.name, timeout_s, waiting)
        return all_done

    def stats(self) -> dict[str, dict[str, int]]:
        """Per sink: sent, dropped (including queue overflow), failed and how many actions are queued now."""
        out: dict[str, dict[str, int]] = {}
        with self._cond:
            for lane in self._lanes:
                counters = dict(lane.sink.counters)
                row = {name: int(counters.get(name, 0)) for name in COUNTER_NAMES}
                row["dropped"] += lane.overflow
                row["queued"] = len(lane.queue)
                out[lane.sink.name] = row
        return out


def build_sinks(config: Config) -> list[Any]:
    """The sinks named in `config.sinks.enabled`, in that order, built from their settings (nothing started)."""
    # Imported here so `edge.sinks.base` stays importable without jeepney on a CEC-only install.
    sinks: list[Any] = []
    for name in config.sinks.enabled:
        if name == "log":
            sinks.append(LogSink())
        elif name == "mpris":
            from edge.sinks.mpris import MprisSink
            sinks.append(MprisSink(config.sinks.mpris))
        elif name == "cec":
            from edge.sinks.cec import CecSink
            sinks.append(CecSink(config.sinks.cec))
        elif name == "command":
            from edge.sinks.command import CommandSink
            sinks.append(CommandSink(config.sinks.command))
        else:
            raise ValueError(f"unknown sink {name!r}: expected one of {', '.join(SINKS)}")
    return sinks


@dataclass(frozen=True)
class ProcResult:
    """What `run_bounded` observed."""

    returncode: int | None
    """None when the command timed out (and was killed) or could not be started."""
    stdout: str
    stderr: str
    timed_out: bool = False
    error: str = ""
    """Why the command could not be started ('' when it ran)."""


def run_bounded(argv: list[str], timeout_s: float, *, input_text: str | None = None,
                env: dict[str, str] | None = None) -> ProcResult:
    """Run argv (no shell) with a hard time limit; on timeout kill its whole process group.

    Like `subprocess.run(argv, timeout=...)`, but the child gets its own session so a shell script's own
    children die with it too (otherwise they keep the output pipes open and the call waits for them).
    """
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
    except OSError as exc:
        return ProcResult(None, "", "", error=f"{type(exc).__name__}: {exc.strerror or exc}")
    try:
        out, err = proc.communicate(input=input_text, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return ProcResult(None, out or "", err or "", timed_out=True)
    return ProcResult(proc.returncode, out or "", err or "")


def last_line(text: str, limit: int = 200) -> str:
    """The last non-empty line of a tool's output, shortened: what goes into a one-line log message."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line if len(line) <= limit else line[: limit - 3] + "..."
