"""Action sinks (log, MPRIS, HDMI-CEC, command, speech) and the dispatcher that feeds them off the frame loop.

One sink per module; this registry finds a sink's class by name and imports its module only when that sink
is used (so a CEC-only install never imports jeepney, and no sink module imports another):
    edge.sinks.base      the `Sink` protocol and its sent / dropped / failed counters
    edge.sinks.dispatch  the non-blocking `Dispatcher`
    edge.sinks.proc      `run_bounded`: external tools with a hard time limit
    edge.sinks.log, .mpris, .cec, .command, .speak   the sinks
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from edge.settings import SINKS, Config
from edge.sinks.base import COUNTER_NAMES, Sink
from edge.sinks.dispatch import Dispatcher


class SinkEntry(NamedTuple):
    """Where a sink lives and which settings it is built from."""

    module: str
    class_name: str
    settings: str | None
    """Attribute of `Config.sinks` passed to the constructor (None: built without settings)."""


REGISTRY: dict[str, SinkEntry] = {
    "log": SinkEntry("edge.sinks.log", "LogSink", None),
    "mpris": SinkEntry("edge.sinks.mpris", "MprisSink", "mpris"),
    "cec": SinkEntry("edge.sinks.cec", "CecSink", "cec"),
    "command": SinkEntry("edge.sinks.command", "CommandSink", "command"),
    "speak": SinkEntry("edge.sinks.speak", "SpeakSink", "speak"),
}
"""Sink name (as in `sinks.enabled` and `--sink`) -> where its class is."""


def sink_class(name: str) -> type:
    """The class of the sink called `name`, its module imported now; ValueError for an unknown name."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown sink {name!r}: expected one of {', '.join(SINKS)}")
    return getattr(importlib.import_module(entry.module), entry.class_name)


def build_sinks(config: Config) -> list[Sink]:
    """The sinks named in `config.sinks.enabled`, in that order, built from their settings (nothing started)."""
    sinks: list[Sink] = []
    for name in config.sinks.enabled:
        cls = sink_class(name)
        entry = REGISTRY[name]
        sinks.append(cls() if entry.settings is None else cls(getattr(config.sinks, entry.settings)))
    return sinks


__all__ = ["COUNTER_NAMES", "REGISTRY", "Dispatcher", "Sink", "SinkEntry", "build_sinks", "sink_class"]
