"""Log sink: one JSON line per gesture event on stdout, for humans, `jq` and the journal."""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from edge.events import GestureEvent
from edge.sinks.base import new_counters

logger = logging.getLogger(__name__)

ROUNDED_FIELDS = ("confidence", "t_s", "lag_s")
"""Rounded to 4 decimals in the line: float noise makes it harder to read, not more exact."""


class LogSink:
    """Writes each event as `{"event": "gesture", ...GestureEvent.to_json()}` on one line (flushed)."""

    name = "log"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self.counters = new_counters()

    def start(self) -> None:
        """Nothing to prepare."""

    def handle(self, event: GestureEvent) -> None:
        """Write the event as one JSON object on one line."""
        record = {"event": "gesture", **event.to_json()}
        for key in ROUNDED_FIELDS:
            record[key] = round(record[key], 4)
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
