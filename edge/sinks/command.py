"""Command sink: run a program per action (`[sinks.command.actions] play = ["argv0", "arg", ...]`).

No shell: the argv runs as given, in its own process group, with a hard time limit
(`CommandSettings.timeout_s`). On timeout, and when gesture-edge exits while it runs, the command's whole
process group is killed (`edge.sinks.proc`); only the tail of its output is kept (a command bound to `yes`
cannot fill the memory). The command sees the event in its environment: GESTURE_EDGE_ACTION,
GESTURE_EDGE_GESTURE, GESTURE_EDGE_CONFIDENCE. Actions with no command bound are dropped (counted, logged once
per action name). Gesture names and the command's output go into log lines through `printable`.
"""

from __future__ import annotations

import logging
import os

from edge.events import GestureEvent
from edge.settings import CommandSettings
from edge.sinks.base import new_counters, printable
from edge.sinks.proc import last_line, run_bounded

logger = logging.getLogger(__name__)


class CommandSink:
    """Runs the configured argv for each action."""

    name = "command"

    def __init__(self, settings: CommandSettings) -> None:
        self.settings = settings
        self.counters = new_counters()
        self._unbound_logged: set[str] = set()

    def start(self) -> None:
        """Log what is bound, so a typo in the config shows up at start-up."""
        if not self.settings.actions:
            logger.warning("command: no [sinks.command.actions] configured: every action will be dropped")
        for action, argv in sorted(self.settings.actions.items()):
            logger.debug("command: %s -> %s", action, list(argv))

    def handle(self, event: GestureEvent) -> None:
        """Run the command bound to `event.action`; never raises for command problems."""
        action, gesture = event.action, printable(event.gesture)
        argv = self.settings.actions.get(action)
        if not argv:
            self.counters["dropped"] += 1
            if action not in self._unbound_logged:
                self._unbound_logged.add(action)
                logger.info("command: no command bound to %s (%s): dropped (logged once per action)", action,
                            gesture)
            return
        env = dict(os.environ)
        env["GESTURE_EDGE_ACTION"] = action
        env["GESTURE_EDGE_GESTURE"] = event.gesture
        env["GESTURE_EDGE_CONFIDENCE"] = f"{float(event.confidence):.4f}"
        result = run_bounded(list(argv), self.settings.timeout_s, env=env)
        if result.error:
            problem = f"cannot run {argv[0]!r}: {result.error}"
        elif result.timed_out:
            problem = f"still running after {self.settings.timeout_s:g} s: killed"
        elif result.returncode != 0:
            output = last_line(result.stderr) or last_line(result.stdout) or "no output"
            problem = f"exit status {result.returncode}: {printable(output)}"
        else:
            self.counters["sent"] += 1
            logger.info("command: %s (%s) -> %s", action, gesture, printable(argv[0]))
            return
        self.counters["failed"] += 1
        logger.warning("command: %s (%s) failed: %s", action, gesture, problem)

    def close(self) -> None:
        """Nothing to release."""
