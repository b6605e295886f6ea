"""The non-blocking `Dispatcher`: fans gesture events out to the sinks, off the frame loop.

The frame loop calls `Dispatcher.submit(event)` and goes on with the next frame: every sink runs on its own
worker thread with its own small queue, so a sink that hangs (a D-Bus peer that never answers, a TV that
keeps the CEC line busy) delays nothing but its own later actions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from edge.events import GestureEvent
from edge.sinks.base import COUNTER_NAMES, Sink

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 8
"""Actions waiting per sink. Gestures arrive at most a few per second, so a full queue means the sink
is stuck; the oldest waiting action is the least useful one and is the one dropped."""


@dataclass
class _Lane:
    """One sink's queue and worker thread."""

    sink: Sink
    queue: deque[GestureEvent] = field(default_factory=deque)
    thread: threading.Thread | None = None
    overflow: int = 0
    busy_since: float | None = None


class Dispatcher:
    """Fans events out to sinks without ever blocking the caller.

    One worker thread and one bounded queue per sink. `submit` appends under a lock that is only held for
    the append; when a sink's queue is full its oldest waiting action is dropped (counted and logged).
    """

    def __init__(self, sinks: list[Sink], queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique, got {names}")
        self.queue_size = queue_size
        self._lanes = [_Lane(sink=s) for s in sinks]
        self._cond = threading.Condition()
        self._closing = False
        self._started = False

    @property
    def sinks(self) -> list[Sink]:
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

    def submit(self, event: GestureEvent) -> None:
        """Queue `event` for every sink; never blocks, never raises for a slow or broken sink."""
        if not self._started:
            self.start()
        with self._cond:
            if self._closing:
                logger.warning("dispatcher: closing, action %r not delivered", event.action)
                return
            for lane in self._lanes:
                if len(lane.queue) >= self.queue_size:
                    old = lane.queue.popleft()
                    lane.overflow += 1
                    logger.warning("sink %s: queue full (%d waiting, sink busy for %.1f s): dropped the oldest "
                                   "action %r (%d dropped by overflow so far)", lane.sink.name, self.queue_size,
                                   self._busy_s(lane), old.action, lane.overflow)
                lane.queue.append(event)
            self._cond.notify_all()

    def _busy_s(self, lane: _Lane) -> float:
        return 0.0 if lane.busy_since is None else time.monotonic() - lane.busy_since

    def _run(self, lane: _Lane) -> None:
        sink = lane.sink
        try:
            sink.start()
        except Exception as exc:  # noqa: BLE001 - a sink must never take the worker down; it retries per action
            logger.warning("sink %s: start failed: %s: %s", sink.name, type(exc).__name__, exc)
        while True:
            with self._cond:
                while not lane.queue and not self._closing:
                    self._cond.wait()
                if not lane.queue:  # closing and drained
                    break
                event = lane.queue.popleft()
                lane.busy_since = time.monotonic()
            try:
                sink.handle(event)
            except Exception as exc:  # noqa: BLE001 - a failing sink is counted and logged, never fatal to the worker
                sink.counters["failed"] = sink.counters.get("failed", 0) + 1
                logger.warning("sink %s: action %r raised %s: %s", sink.name, event.action, type(exc).__name__,
                               exc)
            finally:
                lane.busy_since = None
        try:
            sink.close()
        except Exception as exc:  # noqa: BLE001 - a failing sink is counted and logged, never fatal to the worker
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
                except Exception as exc:  # noqa: BLE001 - a failing sink is counted and logged, never fatal to the worker
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
