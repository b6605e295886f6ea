"""The sink protocol and its accounting: what every action sink is, and the counters it keeps.

Counters, per sink (`Sink.counters`, summed up by `edge.sinks.dispatch.Dispatcher.stats()`):
    sent     the action reached its target (D-Bus call answered, CEC frame acknowledged, command exit 0)
    dropped  the action was not attempted: nothing to send it to (no player, no CEC device, no tool, no
             command bound to the action), the target refuses control, or the sink's queue was full
    failed   the action was attempted and the transport reported an error (D-Bus error or timeout,
             non-zero exit, a CEC frame not acknowledged, a command timing out)

This module imports no sink: the concrete ones import it, and `edge.sinks` finds them by name.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from edge.events import GestureEvent

logger = logging.getLogger(__name__)

COUNTER_NAMES = ("sent", "dropped", "failed")


@runtime_checkable
class Sink(Protocol):
    """Something that carries out actions. Methods run on the sink's worker thread, never the frame loop."""

    name: str
    counters: dict[str, int]
    """sent / dropped / failed, see the module docstring."""

    def start(self) -> None:
        """Prepare (claim a CEC address, ...). Called once on the worker thread before the first action."""

    def handle(self, event: GestureEvent) -> None:
        """Carry out `event.action`; may block up to the sink's own timeout; must not raise for I/O problems."""

    def close(self) -> None:
        """Release resources. Called once on the worker thread after the last action."""


def new_counters() -> dict[str, int]:
    """A fresh counters dict with every counter at 0."""
    return {name: 0 for name in COUNTER_NAMES}


def printable(text: str) -> str:
    """`text` as it goes into a log message: unchanged when printable (tabs allowed), else quoted with escapes.

    Labels come from a bundle and messages from other programs; a newline or a terminal escape in them must
    not start a forged log line in the journal.
    """
    return text if text.replace("\t", " ").isprintable() else repr(text)

