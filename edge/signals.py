"""Stop and reload requests from signals: `Stopper`, and the handlers that feed it.

Light on purpose (no numpy, OpenCV or TFLite runtime): `gesture-edge run` installs these handlers before it
imports anything slow, so a SIGHUP or SIGTERM in the first second of a start (the imports and the bundle load
take about that long) is a request like any other, not the signal's default action (SIGHUP's is to die,
which systemd's Restart=on-failure does not undo).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

SLEEP_SLICE_S = 0.05
"""Longest uninterrupted sleep: bounds the reaction time to SIGTERM during realtime playback or back-off."""
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
RELOAD_SIGNAL = signal.SIGHUP


class Stopper:
    """Stop/reload requests from signal handlers, and a sleep that ends early on a stop request.

    Signal handlers only set flags (safe in any state); the loop acts on them between frames.
    """

    def __init__(self, on_tick: Callable[[], None] | None = None) -> None:
        self.stop_requested = False
        self.reload_requested = False
        self.stop_signal = ""
        self.on_tick = on_tick
        """Called between the slices of `sleep` (the app feeds the systemd watchdog there)."""

    def request_stop(self, reason: str = "") -> None:
        """Ask everything to stop; the first reason given is kept."""
        self.stop_requested = True
        self.stop_signal = self.stop_signal or reason

    def should_stop(self) -> bool:
        """True once a stop was requested."""
        return self.stop_requested

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds` in short slices, returning early on a stop request; ticks `on_tick` meanwhile."""
        deadline = time.monotonic() + max(0.0, seconds)
        while not self.stop_requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, SLEEP_SLICE_S))
            if self.on_tick is not None:
                self.on_tick()


def install(stopper: Stopper) -> dict[int, Any]:
    """SIGTERM/SIGINT request a stop, SIGHUP a reload, on `stopper`; returns the previous handlers for
    `restore`. Does nothing (returns {}) off the main thread, where Python cannot set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum: int, _frame: Any) -> None:
        stopper.request_stop(signal.Signals(signum).name)

    def reload(_signum: int, _frame: Any) -> None:
        stopper.reload_requested = True

    previous: dict[int, Any] = {}
    for signum in STOP_SIGNALS:
        previous[signum] = signal.signal(signum, stop)
    previous[RELOAD_SIGNAL] = signal.signal(RELOAD_SIGNAL, reload)
    return previous


def restore(previous: dict[int, Any]) -> None:
    """Put back the handlers `install` replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)
