"""Event-level accuracy: emitted gesture events scored against a stream's ground truth.

Ground truth (`NAME.truth.json` beside `NAME.mp4`, the format in `demo/README.md`) lists gestures as time
intervals. The runtime emits `edge.events.GestureEvent`s (`gesture`, `action`, `t_s`, `repeat`). Matching,
exactly:

* A truth gesture's *match interval* is [start_s, end_s + max_lag_s] (the runtime can only recognise a
  gesture once its window has closed, so an event may come after the gesture ends).
* Events are taken in time order (auto-repeat events, `repeat > 0`, are counted apart as `repeats` and
  take no further part: they are the configured behaviour of a held gesture, not a mistake).
* An event whose t_s falls in no match interval is **false** (unmatched).
* Otherwise, among the intervals holding it, those of the event's own gesture are considered first:
  the earliest of them not yet hit is **hit** by the event (first correct action); when all of them are
  already hit the event is **doubled** (counted against the earliest one).
* An event that falls only in intervals of other gestures is **false** too, and also counted as
  **wrong** (a subset of false: the right moment, the wrong gesture); the truth gesture it fell in is
  still missed unless a correct event hits it later.
* A truth gesture that no event hit is **missed**.
* A truth gesture is **exact** when it was hit and got no doubled and no wrong event: the user saw
  exactly one correct action. `exact_rate` = exact / truth gestures.

Decision lag of a hit = event t_s - truth end_s (seconds, milliseconds, and frames at the given frame
rate; negative when the runtime fired before the annotated end, reported as is).

The sequence score is the Levenshtein distance (insert/delete/substitute, each cost 1) between the expected
action sequence (each truth gesture's action, by start time) and the emitted one (non-repeat events by
t_s), also normalised by the expected length. False events per hour are counted on background-only footage
(streams whose truth has no gestures), with the footage duration alongside.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import one_line
from edge.events import GestureEvent

DEFAULT_MAX_LAG_S = 1.5
"""How long after a truth gesture's end an event still counts for it (a 20-frame window at 10 fps plus the
decision's consecutive windows fit well inside)."""


class TruthError(ValueError):
    """A ground-truth file that is missing or malformed. The message is one line."""


@dataclass(frozen=True)
class TruthGesture:
    """One annotated gesture of a stream."""

    gesture: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Truth:
    """A stream's ground truth (`NAME.truth.json`)."""

    video: str
    fps: float
    frames: int
    duration_s: float
    events: tuple[TruthGesture, ...]
    seed: int | None = None
    path: str = ""

    @property
    def background_only(self) -> bool:
        """True for footage without any gesture (false-alarm footage)."""
        return not self.events


def truth_path_for(video: str | os.PathLike[str]) -> Path:
    """`dir/NAME.mp4` -> `dir/NAME.truth.json`."""
    video = Path(video)
    return video.with_name(video.stem + ".truth.json")


def _number(data: Mapping[str, Any], key: str, where: str, positive: bool = False) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TruthError(f"{where}: field {key}: expected a number, got {json.dumps(value)}")
    if positive and value <= 0:
        raise TruthError(f"{where}: field {key}: expected a number > 0, got {json.dumps(value)}")
    return float(value)


def parse_truth(data: Any, source: str) -> Truth:
    """Validate parsed truth JSON; every error names `source` and the field."""
    if not isinstance(data, dict):
        raise TruthError(f"{source}: expected a JSON object at the top level")
    fps = _number(data, "fps", source, positive=True)
    duration_s = _number(data, "duration_s", source, positive=True)
    frames = data.get("frames")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames <= 0:
        raise TruthError(f"{source}: field frames: expected a positive integer, got {json.dumps(frames)}")
    video = data.get("video", "")
    if not isinstance(video, str):
        raise TruthError(f"{source}: field video: expected a file name, got {json.dumps(video)}")
    raw_events = data.get("events")
    if not isinstance(raw_events, list):
        raise TruthError(f"{source}: field events: expected a list (empty for background-only footage)")
    events = []
    for index, item in enumerate(raw_events):
        where = f"{source}: field events[{index}]"
        if not isinstance(item, dict):
            raise TruthError(f"{where}: expected an object with gesture, start_s, end_s")
        gesture = item.get("gesture")
        if not isinstance(gesture, str) or not gesture:
            raise TruthError(f"{where}.gesture: expected a gesture name, got {json.dumps(gesture)}")
        start_s = _number(item, "start_s", where)
        end_s = _number(item, "end_s", where)
        if not 0 <= start_s <= end_s:
            raise TruthError(f"{where}: expected 0 <= start_s <= end_s, got {start_s} and {end_s}")
        events.append(TruthGesture(gesture, start_s, end_s))
    seed = data.get("seed")
    return Truth(video=video, fps=fps, frames=frames, duration_s=duration_s,
                 events=tuple(sorted(events, key=lambda e: (e.start_s, e.end_s))),
                 seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None, path=source)


def load_truth(video: str | os.PathLike[str]) -> Truth:
    """The truth beside a stream video; TruthError (one line) when missing or malformed."""
    path = truth_path_for(video)
    if not path.is_file():
        raise TruthError(f"{video}: no ground truth {path.name} beside it (make streams with "
                         "'gesture-synth stream', which writes one)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TruthError(f"{path}: not valid JSON ({one_line(exc)})") from None
    return parse_truth(data, str(path))


def levenshtein(expected: Sequence[Any], emitted: Sequence[Any]) -> int:
    """Edit distance (insertions, deletions, substitutions each cost 1) between two sequences."""
    previous = list(range(len(emitted) + 1))
    for i, a in enumerate(expected, start=1):
        current = [i] + [0] * len(emitted)
        for j, b in enumerate(emitted, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b))
        previous = current
    return previous[-1]


@dataclass
class GestureCounts:
    """Per-gesture tallies (truth-side counts under the truth gesture, false under the emitted one)."""

    truth: int = 0
    hit: int = 0
    exact: int = 0
    missed: int = 0
    doubled: int = 0
    false: int = 0
    wrong: int = 0

    def add(self, other: GestureCounts) -> None:
        """Add another tally into this one."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Hit:
    """A truth gesture and the event that hit it."""

    gesture: str
    truth_end_s: float
    event_t_s: float

    @property
    def lag_s(self) -> float:
        """Event time minus truth end (negative: fired before the annotated end)."""
        return self.event_t_s - self.truth_end_s


@dataclass
class StreamScore:
    """The score of one stream (or of several, summed with `add`)."""

    duration_s: float = 0.0
    streams: int = 0
    background_duration_s: float = 0.0
    background_false: int = 0
    events: int = 0
    repeats: int = 0
    expected_actions: int = 0
    edit_distance: int = 0
    per_gesture: dict[str, GestureCounts] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    def counts(self, gesture: str) -> GestureCounts:
        """The tally of one gesture (created empty on first use)."""
        return self.per_gesture.setdefault(gesture, GestureCounts())

    def add(self, other: StreamScore) -> None:
        """Pool another score into this one (counts summed, lags pooled)."""
        for name in ("duration_s", "streams", "background_duration_s", "background_false", "events",
                     "repeats", "expected_actions", "edit_distance"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for gesture, tally in other.per_gesture.items():
            self.counts(gesture).add(tally)
        self.hits.extend(other.hits)

    @property
    def total(self) -> GestureCounts:
        """All gestures summed."""
        total = GestureCounts()
        for tally in self.per_gesture.values():
            total.add(tally)
        return total

    def summary(self, frame_rate_hz: float) -> dict[str, Any]:
        """Plain-JSON figures; lags in frames use `frame_rate_hz` (the model's frame rate)."""
        total = self.total
        lags_s = np.array([h.lag_s for h in self.hits], dtype=np.float64)
        background_h = self.background_duration_s / 3600.0
        return {
            "streams": self.streams,
            "footage_min": self.duration_s / 60.0,
            "events": self.events,
            "repeats": self.repeats,
            "truth_gestures": total.truth,
            "hit": total.hit,
            "exact": total.exact,
            "exact_rate": total.exact / total.truth if total.truth else None,
            "missed": total.missed,
            "doubled": total.doubled,
            "false": total.false,
            "wrong": total.wrong,
            "edit_distance": self.edit_distance,
            "expected_actions": self.expected_actions,
            "edit_distance_normalised": (self.edit_distance / self.expected_actions
                                         if self.expected_actions else None),
            "lag": lag_summary(lags_s, frame_rate_hz),
            "background_footage_min": self.background_duration_s / 60.0,
            "background_false": self.background_false,
            "false_per_hour_background": self.background_false / background_h if background_h > 0 else None,
            "per_gesture": {g: {**vars(c), "exact_rate": c.exact / c.truth if c.truth else None}
                            for g, c in sorted(self.per_gesture.items())},
        }


def lag_summary(lags_s: np.ndarray, frame_rate_hz: float) -> dict[str, Any]:
    """p50/p95 (numpy linear percentiles), mean, min, max of decision lags in ms and model frames."""
    if lags_s.size == 0:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "mean_ms": None, "min_ms": None, "max_ms": None,
                "p50_frames": None, "p95_frames": None}
    p50, p95 = (float(v) for v in np.percentile(lags_s, [50, 95]))
    return {
        "count": int(lags_s.size),
        "p50_ms": p50 * 1000.0, "p95_ms": p95 * 1000.0, "mean_ms": float(lags_s.mean()) * 1000.0,
        "min_ms": float(lags_s.min()) * 1000.0, "max_ms": float(lags_s.max()) * 1000.0,
        "p50_frames": p50 * frame_rate_hz, "p95_frames": p95 * frame_rate_hz,
    }


def score_stream(truth: Truth, events: Iterable[GestureEvent], actions: Mapping[str, str],
                 max_lag_s: float = DEFAULT_MAX_LAG_S) -> StreamScore:
    """Match one stream's emitted events to its truth (rules in the module docstring).

    `actions` maps gesture -> action for the expected sequence; a truth gesture without an action is
    expected to produce nothing in the sequence (it is still scored as hit/missed).
    """
    if max_lag_s < 0:
        raise ValueError(f"max_lag_s must be >= 0, got {max_lag_s}")
    score = StreamScore(duration_s=truth.duration_s, streams=1)
    ordered = sorted(events, key=lambda e: float(e.t_s))
    primary = [e for e in ordered if e.repeat == 0]
    score.events = len(primary)
    score.repeats = len(ordered) - len(primary)
    truths = list(truth.events)
    hit_by: list[bool] = [False] * len(truths)
    spoiled: list[bool] = [False] * len(truths)  # got a doubled or wrong event
    for t in truths:
        score.counts(t.gesture).truth += 1
    for event in primary:
        t_s = float(event.t_s)
        holding = [i for i, t in enumerate(truths) if t.start_s <= t_s <= t.end_s + max_lag_s]
        same = [i for i in holding if truths[i].gesture == event.gesture]
        if same:
            fresh = [i for i in same if not hit_by[i]]
            if fresh:
                index = fresh[0]
                hit_by[index] = True
                score.counts(event.gesture).hit += 1
                score.hits.append(Hit(event.gesture, truths[index].end_s, t_s))
            else:
                spoiled[same[0]] = True
                score.counts(event.gesture).doubled += 1
            continue
        score.counts(event.gesture).false += 1
        if holding:
            score.counts(event.gesture).wrong += 1
            for i in holding:
                spoiled[i] = True
    for i, t in enumerate(truths):
        if not hit_by[i]:
            score.counts(t.gesture).missed += 1
        elif not spoiled[i]:
            score.counts(t.gesture).exact += 1
    expected = [actions[t.gesture] for t in truths if t.gesture in actions]
    emitted = [str(e.action) for e in primary]
    score.expected_actions = len(expected)
    score.edit_distance = levenshtein(expected, emitted)
    if truth.background_only:
        score.background_duration_s = truth.duration_s
        score.background_false = len(primary)
    return score
