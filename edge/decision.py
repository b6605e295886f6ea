"""Turn a stream of window probabilities into gesture events: a pure function of (probabilities, time).

The streaming classifier emits the class probabilities of a T-frame window every `hop` frames; consecutive
windows overlap by T - hop frames, so one performed gesture shows up in several windows in a row (its
"smear"). `DecisionMaker.update(probs, t_s)` applies, per window:

0. *Smoothing* (`smooth_windows` = k > 1): every rule below sees the mean class probabilities of the last k
   windows (fewer right after a reset) instead of the window's own, as keyword spotters smooth their
   posteriors: a slip of one window (a close call, a quantization error) moves the mean by 1/k of it.
   `smooth_probs` computes the same means over a whole recorded sequence (the tuner).
1. *Confident top-1.* The window's top class must be a gesture (not the background class, when the model
   has one) with probability >= its threshold (`thresholds[gesture]`, else `threshold`). Any other window
   ends the current run. With a background class, "nothing happening" is the top-1 background; without one
   the threshold alone rejects (threshold-only rejection).
2. *Run.* `consecutive_windows` confident windows in a row of the same gesture fire it. A different
   confident gesture starts a new run.
3. *Re-arm, with hysteresis.* A run fires at most once: the same gesture can fire again only after a window
   in which it was not the confident top-1 (so the smear of one gesture never gives a double) -- except by
   auto-repeat. Once a run has fired, a window where its gesture is still the top-1 with probability
   >= `rearm_below` (but under the threshold) does not end it: a dip in the middle of one smear re-arms
   nothing (it neither fires nor auto-repeats; the next repeat comes `repeat_every_s` after the dip).
4. *Cooldown.* A gesture cannot fire again within `cooldown_s` of its last event (a dropout below
   `rearm_below` in a long smear re-arms, the cooldown still holds).
5. *Refractory.* No gesture fires within `refractory_s` after any event (the transition between two
   gestures is where windows are least reliable). A run held back by 4 or 5 fires at its first window after
   the period ends, if it is still going.
6. *Auto-repeat* (`repeat_enabled`, gestures in `repeat_gestures`): while the run that fired continues, the
   gesture fires again `repeat_after_s` after the first event, then every `repeat_every_s`, at most
   `repeat_max` times (event.repeat = 1, 2, ...). Repeats are the held gesture itself, so cooldown and
   refractory do not apply to them (they do start a new refractory period for other gestures).
7. Gestures with no action bound produce no event (logged once per gesture).

Time comes only from the `t_s` arguments (window end timestamps), never from a clock: the same stream gives
the same events at any processing speed, and a test can feed made-up sequences.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.events import GestureEvent
from edge.settings import DecisionSettings

logger = logging.getLogger(__name__)

TIME_EPS_S = 1e-6
"""Slack on every time comparison: window timestamps are sums of 1/fps steps, so 3.5 - 2.0 may come out as
1.4999999999 and would otherwise hold a 1.5 s cooldown one window too long."""


@dataclass
class DecisionState:
    """Everything `DecisionMaker` remembers between windows (small and copyable)."""

    run_label: int = -1
    """Class index of the current run of confident windows; -1 when there is no run."""
    run_length: int = 0
    run_first_t_s: float = 0.0
    """End timestamp of the run's first window (lag_s is measured from it)."""
    run_fired: bool = False
    """The run already gave its event (re-arm needs a window that breaks the run)."""
    repeats: int = 0
    """Auto-repeats given in this run."""
    next_repeat_t_s: float = math.inf
    last_event_t_s: float = -math.inf
    """Time of the last event of any gesture (refractory)."""
    last_fire_t_s: dict[int, float] = field(default_factory=dict)
    """Class index -> time of its last event (cooldown)."""
    last_t_s: float = -math.inf
    """Timestamp of the last window seen."""
    recent: list[np.ndarray] = field(default_factory=list)
    """The last `smooth_windows` windows' probabilities (smoothing), oldest first."""


@dataclass(frozen=True)
class DecisionStatus:
    """A readable snapshot of `DecisionState` at one moment (see `DecisionMaker.status`)."""

    run_gesture: str | None
    """The gesture of the current run of confident windows, None when there is none."""
    run_length: int
    needed: int
    """consecutive_windows: the run length that fires."""
    fired: bool
    """The run already fired; it re-arms only when its gesture stops (below rearm_below, or another top-1)."""
    rearm_below: float
    cooldown_left_s: dict[str, float]
    """Gestures still in their cooldown, with the seconds left."""
    refractory_left_s: float
    """Seconds left of the refractory period after the last event (0 when none)."""

    @property
    def armed(self) -> bool:
        """Nothing holds the next gesture back: no fired run, no cooldown, no refractory period."""
        return not self.fired and not self.cooldown_left_s and self.refractory_left_s <= 0

    def parts(self) -> list[str]:
        """Short phrases: the run ('armed', 'run Stop 1/2', 'Stop fired, re-arms < 0.50'), then what holds back."""
        if self.run_gesture is not None and self.fired:
            parts = [f"{self.run_gesture} fired, re-arms < {self.rearm_below:.2f}"]
        elif self.run_gesture is not None:
            parts = [f"run {self.run_gesture} {min(self.run_length, self.needed)}/{self.needed}"]
        else:
            parts = ["armed"] if self.armed else []
        if self.cooldown_left_s:
            parts.append("cooling down " + ", ".join(f"{g} {left:.1f} s" for g, left in sorted(
                self.cooldown_left_s.items())))
        if self.refractory_left_s > 0:
            parts.append(f"refractory {self.refractory_left_s:.1f} s")
        return parts

    def text(self) -> str:
        """`parts()` on one line, e.g. 'Stop fired, re-arms < 0.50 | cooling down Stop 0.8 s'."""
        return " | ".join(self.parts())


class DecisionMaker:
    """Gesture events from window probabilities; see the module docstring for the rules."""

    def __init__(self, labels: Sequence[str], actions: Mapping[str, str], settings: DecisionSettings,
                 background_label: str | None = None) -> None:
        self.labels = tuple(labels)
        if len(self.labels) < 2:
            raise ValueError(f"labels: expected at least two classes, got {list(self.labels)}")
        if background_label is not None and background_label not in self.labels:
            raise ValueError(f"background label {background_label!r} is not one of the labels {list(self.labels)}")
        self.settings = settings
        self.background_label = background_label
        self.background_index = self.labels.index(background_label) if background_label is not None else -1
        gestures = [g for g in self.labels if g != background_label]
        for where, names in (("actions", actions), ("thresholds", settings.thresholds)):
            unknown = sorted(set(names) - set(gestures))
            if unknown:
                logger.warning("decision %s name gestures the model does not have: %s (its gestures: %s)",
                               where, ", ".join(unknown), ", ".join(gestures))
        self.actions = {g: a for g, a in actions.items() if g in gestures}
        self._threshold = np.array([settings.thresholds.get(label, settings.threshold) for label in self.labels],
                                   dtype=np.float64)
        self._action: list[str | None] = [self.actions.get(label) for label in self.labels]
        repeat = set(settings.repeat_gestures) if settings.repeat_enabled else set()
        self._repeats = [label in repeat and i != self.background_index for i, label in enumerate(self.labels)]
        self._warned_unmapped: set[int] = set()
        self.state = DecisionState()
        self.seen: np.ndarray | None = None
        """The probabilities the rules saw for the last window: its own, or the mean of rule 0."""
        self.counters = {"windows": 0, "events": 0, "repeats": 0, "held_cooldown": 0, "held_refractory": 0,
                         "held_hysteresis": 0, "unmapped": 0}
        """How many windows were seen, events given, and runs held back (per window) by each rule."""

    def threshold(self, gesture: str) -> float:
        """The probability a window needs for `gesture` to count."""
        return float(self._threshold[self.labels.index(gesture)])

    @property
    def thresholds_by_label(self) -> np.ndarray:
        """Every label's threshold, in label order (a copy; the background class has one too, unused)."""
        return self._threshold.copy()

    def status(self, t_s: float) -> DecisionStatus:
        """What the decision stage is doing at `t_s` (for people: the annotated video, logs); reads only state."""
        s, cfg = self.state, self.settings
        t_s = float(t_s)
        cooling = {}
        for index, fired_t_s in s.last_fire_t_s.items():
            left = cfg.cooldown_s - (t_s - fired_t_s)
            if left > TIME_EPS_S:
                cooling[self.labels[index]] = left
        return DecisionStatus(
            run_gesture=self.labels[s.run_label] if s.run_label >= 0 else None, run_length=s.run_length,
            needed=cfg.consecutive_windows, fired=s.run_fired, rearm_below=cfg.rearm_below,
            cooldown_left_s=cooling, refractory_left_s=max(0.0, cfg.refractory_s - (t_s - s.last_event_t_s)))

    def reset(self) -> None:
        """Forget runs, cooldowns and the refractory period (e.g. after a gap in the frames)."""
        self.state = DecisionState()

    def update(self, probs: np.ndarray, t_s: float) -> list[GestureEvent]:
        """Feed one window's class probabilities (label order) ending at `t_s`; return the events it fires."""
        probs = np.asarray(probs)
        if probs.shape != (len(self.labels),):
            raise ValueError(f"probs: expected shape ({len(self.labels)},) (one per label), got {probs.shape}")
        t_s = float(t_s)
        s = self.state
        if t_s < s.last_t_s:
            # Time went backwards (a looping file, a restarted source): nothing before still applies.
            logger.debug("window time went back from %.3f s to %.3f s: decision state reset", s.last_t_s, t_s)
            self.reset()
            s = self.state
        s.last_t_s = t_s
        self.counters["windows"] += 1
        if self.settings.smooth_windows > 1:
            s.recent.append(probs.copy())
            del s.recent[:-self.settings.smooth_windows]
            probs = mean_rows(np.asarray(s.recent))
        self.seen = probs

        top = int(np.argmax(probs))
        confidence = float(probs[top])
        if s.run_fired and top == s.run_label and confidence < self._threshold[top] \
                and confidence >= self.settings.rearm_below:
            self.counters["held_hysteresis"] += 1  # the fired run goes on through a dip...
            s.next_repeat_t_s = max(s.next_repeat_t_s, t_s + self.settings.repeat_every_s)  # ...repeats wait
            return []
        if top == self.background_index or confidence < self._threshold[top]:
            s.run_label, s.run_length, s.run_fired, s.repeats = -1, 0, False, 0
            s.next_repeat_t_s = math.inf
            return []
        if top != s.run_label:
            s.run_label, s.run_length, s.run_first_t_s, s.run_fired, s.repeats = top, 1, t_s, False, 0
            s.next_repeat_t_s = math.inf
        else:
            s.run_length += 1

        if s.run_fired:
            if self._repeats[top] and s.repeats < self.settings.repeat_max and t_s + TIME_EPS_S >= s.next_repeat_t_s:
                s.repeats += 1
                s.next_repeat_t_s += self.settings.repeat_every_s
                if s.next_repeat_t_s <= t_s + TIME_EPS_S:  # a gap in the windows: do not burst to catch up
                    s.next_repeat_t_s = t_s + self.settings.repeat_every_s
                self.counters["repeats"] += 1
                return [self._fire(top, confidence, t_s, repeat=s.repeats)]
            return []
        if s.run_length < self.settings.consecutive_windows:
            return []
        action = self._action[top]
        if action is None:
            if top not in self._warned_unmapped:
                self._warned_unmapped.add(top)
                logger.warning("gesture %r recognised but no action is bound to it: ignored (bind one under "
                               "[actions] in the config)", self.labels[top])
            self.counters["unmapped"] += 1
            s.run_fired = True  # one count per run, like an event
            return []
        if t_s - s.last_fire_t_s.get(top, -math.inf) + TIME_EPS_S < self.settings.cooldown_s:
            self.counters["held_cooldown"] += 1
            return []
        if t_s - s.last_event_t_s + TIME_EPS_S < self.settings.refractory_s:
            self.counters["held_refractory"] += 1
            return []
        s.run_fired = True
        if self._repeats[top]:
            s.next_repeat_t_s = t_s + self.settings.repeat_after_s
        return [self._fire(top, confidence, t_s, repeat=0)]

    def _fire(self, index: int, confidence: float, t_s: float, repeat: int) -> GestureEvent:
        s = self.state
        s.last_fire_t_s[index] = t_s
        s.last_event_t_s = t_s
        self.counters["events"] += 1
        action = self._action[index]
        assert action is not None
        return GestureEvent(gesture=self.labels[index], action=action, confidence=confidence, t_s=t_s,
                            lag_s=t_s - s.run_first_t_s, repeat=repeat)


def mean_rows(rows: np.ndarray) -> np.ndarray:
    """The mean of a (windows, classes) block: the smoothed probabilities (one definition for both paths)."""
    return rows.mean(axis=0)


def smooth_probs(probs: np.ndarray, windows: int) -> np.ndarray:
    """Rule 0 over a whole sequence from a fresh state: row i is the mean of rows max(0, i - windows + 1)..i,
    bit for bit what `DecisionMaker.update` gives the rules for that window (so a decision with
    smooth_windows = 1 on these rows replays one with `windows` on the raw ones)."""
    probs = np.asarray(probs)
    if windows <= 1 or len(probs) == 0:
        return probs
    return np.stack([mean_rows(probs[max(0, i - windows + 1):i + 1]) for i in range(len(probs))])


def merged_actions(manifest_actions: Mapping[str, str], config_actions: Mapping[str, str]) -> dict[str, str]:
    """The bundle's gesture -> action map with the config's entries on top."""
    merged = dict(manifest_actions)
    merged.update(config_actions)
    return merged
