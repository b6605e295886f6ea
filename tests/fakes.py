"""Shared test fakes. Blocks owned by one area are marked; keep them separate."""

from __future__ import annotations

# ---- sinks block (owner: sinks/config/systemd engineer) ------------------------------------------------
from dataclasses import dataclass


@dataclass(frozen=True)
class SinkEvent:
    """Stands in for edge.events.GestureEvent in sink tests: the same fields, nothing else."""

    gesture: str = "Swipe"
    action: str = "play"
    confidence: float = 0.93
    t_s: float = 12.5
    lag_s: float = 0.04
    repeat: int = 0
# ---- end of sinks block -------------------------------------------------------------------------------
