"""The gesture event: what the decision stage emits and the sinks act on.

Times are in the *source's* time base: the timestamp of the frame that closed the deciding window. For a
video file or a folder of frames that is the position in the footage (the same base as a stream's
`NAME.truth.json`, so the lag against ground truth is simply `event.t_s - truth.end_s`); for a live camera it
is `time.monotonic()` at capture.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class GestureEvent:
    """One decision: a gesture was recognised and its action should be carried out."""

    gesture: str
    """Class name, from the bundle's labels."""
    action: str
    """The action bound to the gesture (manifest actions overlaid with the config's)."""
    confidence: float
    """The firing window's probability of `gesture` (0..1)."""
    t_s: float
    """Decision time: the end timestamp (last frame) of the window that fired, in the source's time base."""
    lag_s: float
    """Decision lag inside the runtime: `t_s` minus the end timestamp of the FIRST window of the run of
    consecutive confident windows of this gesture that led to the event. 0.0 when `consecutive_windows` is 1
    and the first confident window fired; (consecutive_windows - 1) * hop / model_fps when the run fired as
    soon as it was long enough; more when a cooldown or refractory period held it back. For an auto-repeat
    it is measured from the same run start, so it grows with `repeat`. It does not include the window
    itself (T frames) nor the capture path: lag against ground truth is `t_s - truth end_s`."""
    repeat: int = 0
    """0 for the first event of a hold; 1, 2, ... for auto-repeats of a held gesture."""

    def to_json(self) -> dict[str, Any]:
        """The event as plain JSON types (one object; `json.dumps` it for a line)."""
        data = asdict(self)
        data["confidence"] = float(self.confidence)
        data["t_s"] = float(self.t_s)
        data["lag_s"] = float(self.lag_s)
        data["repeat"] = int(self.repeat)
        return data
