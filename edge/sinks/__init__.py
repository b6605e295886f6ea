"""Action sinks (log, MPRIS, HDMI-CEC, command) and the dispatcher that feeds them off the frame loop."""

from edge.sinks.base import COUNTER_NAMES, Dispatcher, LogSink, Sink, build_sinks

__all__ = ["COUNTER_NAMES", "Dispatcher", "LogSink", "Sink", "build_sinks"]
