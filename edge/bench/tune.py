"""gesture-bench tune: decision settings with the best exact rate within a false-action budget.

    gesture-bench tune --bundle DIR --gestures STREAM... --background FOOTAGE... --max-false-per-hour X

1. **Record once.** Every file runs through `edge.app.App`, the frame loop of `gesture-edge run` (source
   paced to the model's frame rate, the int8 bundle, the staggered states), without sinks; a
   `edge.taps.WindowRecorder` keeps every window's end time and class probabilities. The decision settings
   the runtime resolved (the bundle's decision block, a --config file over it) are the *base* settings.
2. **Check the replay.** `DecisionMaker` is a pure function of (probabilities, time): replaying the recorded
   windows with the base settings must give exactly the events the runtime emitted, file by file; if not,
   the run stops with an error (nothing below would be trustworthy).
3. **Split.** Each file is cut in two near its middle: the first halves are the *tuning* part, the second
   halves the *held-out* part (halves, not whole files: one gesture stream and one background recording are
   enough). In gesture streams the cut is moved out of any gesture's match interval [start_s, end_s +
   max_lag_s], so no gesture is split (`cut_point`). Each half is replayed from a fresh decision state. Both
   parts need gestures and background footage (else a one-line error).
4. **Search** (only `DecisionMaker` replays over the recorded windows, no model): for every smoothing in
   the grid (`smooth_windows`: each part's probabilities are averaged once, as rule 0 of `edge.decision`
   would, and replayed without smoothing) and every combination of
   consecutive windows x rearm_below x cooldown_s in the grid, (a) one threshold for every gesture, each
   grid value; (b) per-gesture thresholds: each gesture's exact hits and background false actions are
   replayed with only that gesture able to fire, for every grid value, and a knapsack over gestures proposes
   the assignments with the most exact gestures for each count of false actions; every proposal is then
   replayed in full (gestures interact through the refractory period and wrong-gesture events), and only
   full replays are ever scored. Settings not searched (refractory, auto-repeat) keep their base values.
5. **Choose** the setting with the most exact gestures less false events on gesture footage (an unwanted
   action while someone gestures costs as much as a missed gesture) on the tuning part among those whose
   false actions per hour of tuning background are within the budget (ties: fewer false actions on
   background, then on gesture footage, then the settings nearest the base ones, counted in steps of 0.05
   threshold per gesture, one window of smoothing or in a row, 0.5 s cooldown, 0.2 re-arm level: the tuner
   changes only what the tuning footage asks for; then the lower median lag; then the earliest evaluated).
   Report it, the base settings and the trade-off frontier on the tuning part AND the held-out part: the
   held-out figures are the honest ones (the choice never saw them).

Scoring is `edge.metrics.score_stream` (exact = one correct action per gesture); false actions per hour =
events on background footage / its hours (every event there is false; a --background file's hours are its
truth's duration_s, else its model frames / model fps).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import json
import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.bench import BenchError
from edge.bench.output import (Progress, fmt, import_pyplot, load_average, machine_info, markdown_table,
                               save_figure, text_table)
from edge.decision import DecisionMaker, smooth_probs
from edge.errors import one_line
from edge.events import GestureEvent
from edge.metrics import DEFAULT_MAX_LAG_S, Truth, TruthError, TruthGesture, load_truth, score_stream, truth_path_for
from edge.settings import DecisionSettings

logger = logging.getLogger(__name__)

NEVER = math.inf
"""A threshold no window reaches: the gesture cannot fire (isolating one gesture in the search)."""
KINDS = ("gestures", "background")
MAX_PROPOSALS = 12
"""Per-gesture threshold assignments replayed in full per combination of the other settings."""
FRONTIER_EXTRA = 3
"""The knapsack also proposes assignments with up to this many false actions beyond the budget (for the
trade-off table and plot)."""


@dataclass(frozen=True)
class Grid:
    """The values the search tries."""

    thresholds: tuple[float, ...] = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99)
    smooth_windows: tuple[int, ...] = (1, 2, 3, 4)
    consecutive_windows: tuple[int, ...] = (1, 2, 3, 4)
    rearm_below: tuple[float, ...] = (0.3, 0.5, 0.7)
    cooldown_s: tuple[float, ...] = (1.0, 1.5, 2.5)

    @property
    def floor(self) -> float:
        """Below this top-1 probability a window ends every run whatever the settings (compression)."""
        return min(min(self.thresholds), min(self.rearm_below))

    def to_json(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in dataclasses.asdict(self).items()}


DEFAULT_GRID = Grid()


@dataclass(frozen=True)
class Footage:
    """One recorded file: every window's end time and probabilities, and what was in it."""

    name: str
    kind: str
    """'gestures' (with truth) or 'background' (no gestures: every event is a false action)."""
    duration_s: float
    truth: tuple[TruthGesture, ...]
    t_s: np.ndarray
    """(n,) window end times, seconds in the file's time base."""
    probs: np.ndarray
    """(n, classes) window probabilities, label order."""


@dataclass(frozen=True)
class Part:
    """A piece of footage scored on its own (one half of a file), replayed from a fresh decision state."""

    name: str
    background: bool
    duration_s: float
    truth: tuple[TruthGesture, ...]
    t_s: np.ndarray
    probs: np.ndarray


@dataclass(frozen=True)
class Problem:
    """What every replay needs besides the windows."""

    labels: tuple[str, ...]
    actions: Mapping[str, str]
    background_label: str | None
    max_lag_s: float = DEFAULT_MAX_LAG_S

    @property
    def gestures(self) -> tuple[str, ...]:
        return tuple(label for label in self.labels if label != self.background_label)


@dataclass(frozen=True)
class Figures:
    """The score of one setting on one part (tuning or held-out)."""

    truth: int
    exact: int
    hit: int
    missed: int
    doubled: int
    wrong: int
    false_gestures: int
    """False events on gesture footage (outside every gesture, or the wrong gesture)."""
    background_false: int
    background_s: float
    lag_p50_s: float | None

    @property
    def exact_rate(self) -> float | None:
        return self.exact / self.truth if self.truth else None

    @property
    def false_per_hour(self) -> float | None:
        return self.background_false / (self.background_s / 3600.0) if self.background_s > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {"truth": self.truth, "exact": self.exact, "exact_rate": self.exact_rate, "hit": self.hit,
                "missed": self.missed, "doubled": self.doubled, "wrong": self.wrong,
                "false_gestures": self.false_gestures, "background_false": self.background_false,
                "background_min": self.background_s / 60.0, "false_per_hour": self.false_per_hour,
                "lag_p50_ms": None if self.lag_p50_s is None else self.lag_p50_s * 1000.0}


@dataclass(frozen=True)
class Point:
    """One evaluated setting with its tuning figures."""

    settings: DecisionSettings
    figures: Figures
    order: int
    """Evaluation order (the last tie-break)."""
    steps: float = 0.0
    """`steps_from(settings, base)`: a tie-break."""


@dataclass
class TuneResult:
    """Everything the search found."""

    tuning: list[Part]
    held_out: list[Part]
    cuts: dict[str, float]
    budget_per_hour: float
    budget_count: int
    """False actions allowed on the tuning part's background."""
    base: Point
    points: list[Point] = field(default_factory=list)
    chosen: Point | None = None
    frontier: list[Point] = field(default_factory=list)


# -- replay -------------------------------------------------------------------------------------------------

@contextmanager
def _quiet_decisions() -> Iterator[None]:
    """Thousands of replays would repeat DecisionMaker's once-per-instance warnings (unmapped gestures)."""
    log = logging.getLogger("edge.decision")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def replay_events(problem: Problem, settings: DecisionSettings, t_s: np.ndarray, probs: np.ndarray
                  ) -> list[GestureEvent]:
    """The events a fresh `DecisionMaker` gives on these windows (exactly what the runtime would)."""
    maker = DecisionMaker(problem.labels, problem.actions, settings, problem.background_label)
    events: list[GestureEvent] = []
    for p, t in zip(probs, t_s):
        events += maker.update(p, float(t))
    return events


def compress(t_s: np.ndarray, probs: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop windows that cannot matter: of each stretch of windows not in `keep`, only the first stays.

    `keep` must be False only for windows that end every run whatever the settings searched (top-1 is the
    background class, or below `Grid.floor`): after one of them the state is the same whatever came before,
    so the rest of the stretch changes nothing (the decision reads no clock; cooldowns count from events).
    """
    keep = np.asarray(keep, dtype=bool)
    if keep.size == 0:
        return t_s, probs
    previous_kept = np.concatenate(([True], keep[:-1]))
    mask = keep | previous_kept
    return t_s[mask], probs[mask]


def resetting(probs: np.ndarray, background_index: int, floor: float) -> np.ndarray:
    """Windows that end every run for any threshold/re-arm value >= `floor` (see `compress`)."""
    if probs.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    top = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    return (top == background_index) | (confidence < floor)


def score_part(problem: Problem, part: Part, events: list[GestureEvent]) -> Any:
    """`edge.metrics.score_stream` of one part (a gesture half without gestures is still not background)."""
    truth = Truth(video=part.name, fps=1.0, frames=1, duration_s=part.duration_s, events=part.truth,
                  path=part.name)
    score = score_stream(truth, events, problem.actions, problem.max_lag_s)
    if not part.background:
        score.background_duration_s = 0.0
        score.background_false = 0
    return score


def evaluate(problem: Problem, parts: Sequence[Part], settings: DecisionSettings) -> Figures:
    """Replay `settings` on every part and pool the scores."""
    truth = exact = hit = missed = doubled = wrong = false_gestures = background_false = 0
    background_s = 0.0
    lags: list[float] = []
    for part in parts:
        score = score_part(problem, part, replay_events(problem, settings, part.t_s, part.probs))
        total = score.total
        truth += total.truth
        exact += total.exact
        hit += total.hit
        missed += total.missed
        doubled += total.doubled
        wrong += total.wrong
        if part.background:
            background_false += score.background_false
            background_s += part.duration_s
        else:
            false_gestures += total.false
        lags += [h.lag_s for h in score.hits]
    return Figures(truth=truth, exact=exact, hit=hit, missed=missed, doubled=doubled, wrong=wrong,
                   false_gestures=false_gestures, background_false=background_false, background_s=background_s,
                   lag_p50_s=float(np.median(lags)) if lags else None)


# -- split --------------------------------------------------------------------------------------------------

def cut_point(footage: Footage, max_lag_s: float) -> float:
    """Near the middle of the file, outside every gesture's match interval [start_s, end_s + max_lag_s].

    When the middle falls in an interval, the cut moves to its start or just past its end: the one that
    leaves gestures on both sides if only one does, else the nearer.
    """
    middle = footage.duration_s / 2.0
    spans = sorted((g.start_s, g.end_s + max_lag_s) for g in footage.truth)
    merged: list[list[float]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    for lo, hi in merged:
        if lo <= middle <= hi:
            # An event at exactly hi still belongs to the gesture: cut just after it.
            candidates = (lo, math.nextafter(hi, math.inf))

            def both_sides(cut: float) -> bool:
                before = sum(g.start_s < cut for g in footage.truth)
                return 0 < before < len(footage.truth)

            return min(candidates, key=lambda cut: (not both_sides(cut), abs(cut - middle)))
    return middle


def split(footage: Footage, max_lag_s: float) -> tuple[Part, Part, float]:
    """The file's first and second part (windows by end time, gestures by start time) and the cut."""
    cut = cut_point(footage, max_lag_s)
    first = footage.t_s < cut
    background = footage.kind == "background"
    parts = []
    for mask, truth, lo, hi in ((first, [g for g in footage.truth if g.start_s < cut], 0.0, cut),
                                (~first, [g for g in footage.truth if g.start_s >= cut], cut, footage.duration_s)):
        parts.append(Part(name=f"{footage.name} [{lo:.1f}, {hi:.1f}) s", background=background,
                          duration_s=max(hi - lo, 0.0), truth=tuple(truth), t_s=footage.t_s[mask],
                          probs=footage.probs[mask]))
    return parts[0], parts[1], cut


def split_all(footage: Sequence[Footage], max_lag_s: float) -> tuple[list[Part], list[Part], dict[str, float]]:
    """Tuning part (first halves) and held-out part (second halves); BenchError when either lacks something."""
    tuning, held_out, cuts = [], [], {}
    for item in footage:
        a, b, cut = split(item, max_lag_s)
        tuning.append(a)
        held_out.append(b)
        cuts[item.name] = cut
    for name, parts in (("tuning (first halves)", tuning), ("held-out (second halves)", held_out)):
        if not any(p.truth for p in parts):
            raise BenchError(f"the {name} part has no gestures: give --gestures streams with at least two gestures "
                             "(each file is split in two near its middle)")
        if not any(p.background and p.duration_s > 0 for p in parts):
            raise BenchError(f"the {name} part has no background footage: give --background footage")
    return tuning, held_out, cuts


# -- search -------------------------------------------------------------------------------------------------

STEP = {"threshold": 0.05, "smooth_windows": 1.0, "consecutive_windows": 1.0, "cooldown_s": 0.5, "rearm_below": 0.2}
"""What counts as one step away from the base settings (the tie-break), per field."""


def steps_from(settings: DecisionSettings, base: DecisionSettings, gestures: Sequence[str]) -> float:
    """How far `settings` are from `base`, in STEPs summed over the fields searched (thresholds per gesture)."""
    total = sum(abs(settings.thresholds.get(g, settings.threshold) - base.thresholds.get(g, base.threshold))
                for g in gestures) / STEP["threshold"]
    for name in ("smooth_windows", "consecutive_windows", "cooldown_s", "rearm_below"):
        total += abs(getattr(settings, name) - getattr(base, name)) / STEP[name]
    return round(total, 6)


def _rank(point: Point) -> tuple[Any, ...]:
    """Larger is better: `net` (exact less false events on gesture footage), then fewer false actions
    (background, gesture footage), then the settings nearest the base ones (change only what the tuning
    footage asks for: on ties, the far edges of a plateau are the fragile choices), then the lower median lag,
    then the earlier evaluated."""
    f = point.figures
    lag = f.lag_p50_s if f.lag_p50_s is not None else math.inf
    return (net(f), -f.background_false, -f.false_gestures, -point.steps, -lag, -point.order)


def net(figures: Figures) -> int:
    """What the choice maximises: exact gestures less false events on gesture footage (an unwanted action
    while someone gestures costs as much as a missed gesture)."""
    return figures.exact - figures.false_gestures


def normalise_thresholds(settings: DecisionSettings, per_gesture: Mapping[str, float]) -> DecisionSettings:
    """Per-gesture thresholds as `threshold` (the most common value, the higher on ties) + the others."""
    values = list(per_gesture.values())
    common = max(set(values), key=lambda v: (values.count(v), v))
    return dataclasses.replace(settings, threshold=common,
                               thresholds={g: v for g, v in per_gesture.items() if v != common})


def knapsack(exact: np.ndarray, false: np.ndarray, cap: int, cost: np.ndarray | None = None
             ) -> dict[int, tuple[int, tuple[int, ...]]]:
    """For each total of false actions f <= cap: the most exact gestures over one grid value per gesture.

    `exact`, `false`, `cost`: (gestures, values) tables. Returns f -> (exact total, value index per gesture);
    ties keep the lower total `cost` (the search: distance from the base thresholds), then the lower indexes.
    """
    cost = np.zeros(exact.shape) if cost is None else cost
    states: dict[int, tuple[int, float, tuple[int, ...]]] = {0: (0, 0.0, ())}
    for g in range(exact.shape[0]):
        new: dict[int, tuple[int, float, tuple[int, ...]]] = {}
        for total_false, (total_exact, total_cost, chosen) in states.items():
            for v in range(exact.shape[1]):
                f = total_false + int(false[g, v])
                if f > cap:
                    continue
                candidate = (total_exact + int(exact[g, v]), round(total_cost + float(cost[g, v]), 9), chosen + (v,))
                old = new.get(f)
                if old is None or (candidate[0], -candidate[1]) > (old[0], -old[1]):
                    new[f] = candidate
        states = new
    return {f: (e, chosen) for f, (e, _, chosen) in states.items()}


def proposals(states: dict[int, tuple[int, tuple[int, ...]]], budget_count: int) -> list[tuple[int, ...]]:
    """The knapsack's frontier (more false actions only for more exact gestures), nearest the budget first."""
    frontier: list[tuple[int, int, tuple[int, ...]]] = []
    best = -1
    for f in sorted(states):
        e, chosen = states[f]
        if e > best:
            frontier.append((f, e, chosen))
            best = e
    within = [c for f, _, c in frontier if f <= budget_count][::-1]
    beyond = [c for f, _, c in frontier if f > budget_count]
    return (within[: MAX_PROPOSALS - len(beyond[:FRONTIER_EXTRA])] + beyond[:FRONTIER_EXTRA])[:MAX_PROPOSALS]


def smoothed(parts: Sequence[Part], windows: int) -> list[Part]:
    """The parts with their probabilities smoothed over `windows` windows, each from a fresh state (rule 0 of
    `edge.decision`, as a replay of the part would apply it)."""
    return [dataclasses.replace(p, probs=smooth_probs(p.probs, windows)) for p in parts]


def search(problem: Problem, tuning: Sequence[Part], base: DecisionSettings, budget_count: int,
           grid: Grid = DEFAULT_GRID, progress: bool = False) -> tuple[Point, list[Point]]:
    """Evaluate the base settings and the grid (module docstring, step 4); returns (base point, all points)."""
    background_index = problem.labels.index(problem.background_label) if problem.background_label else -1
    # Compression must hold for the base settings too, which may lie below the grid.
    floor = min(grid.floor, base.threshold, base.rearm_below, *base.thresholds.values())
    gestures = problem.gestures
    seen: dict[tuple[Any, ...], Point] = {}
    points: list[Point] = []

    def compressed(parts: Sequence[Part]) -> list[Part]:
        out = []
        for p in parts:
            t_s, probs = compress(p.t_s, p.probs, ~resetting(p.probs, background_index, floor))
            out.append(dataclasses.replace(p, t_s=t_s, probs=probs))
        return out

    def add(settings: DecisionSettings, parts: Sequence[Part]) -> None:
        """Score `settings` on `parts`, whose probabilities are already smoothed over its smooth_windows."""
        key = (settings.threshold, tuple(sorted(settings.thresholds.items())), settings.smooth_windows,
               settings.consecutive_windows, settings.rearm_below, settings.cooldown_s)
        if key not in seen:
            figures = evaluate(problem, parts, dataclasses.replace(settings, smooth_windows=1))
            seen[key] = Point(settings, figures, len(points), steps_from(settings, base, gestures))
            points.append(seen[key])

    combos = list(itertools.product(grid.consecutive_windows, grid.rearm_below, grid.cooldown_s))
    bar = Progress(len(combos) * len(grid.smooth_windows), "tune: searching", enabled=progress)
    # Each smoothing's probabilities once (the base's smoothing is usually one of the grid's).
    smooth_parts = {windows: smoothed(tuning, windows) for windows in (base.smooth_windows, *grid.smooth_windows)}
    with _quiet_decisions():
        add(base, compressed(smooth_parts[base.smooth_windows]))
        for windows in grid.smooth_windows:
            smooth = smooth_parts[windows]
            parts = compressed(smooth)
            # Each gesture alone: its own windows, every other window ends its runs.
            alone: dict[str, list[Part]] = {}
            for gesture in gestures:
                index = problem.labels.index(gesture)
                alone[gesture] = []
                for p in smooth:
                    top = p.probs.argmax(axis=1) if len(p.probs) else np.zeros(0, dtype=int)
                    keep = (top == index) & (p.probs.max(axis=1, initial=0.0) >= floor)
                    t_s, probs = compress(p.t_s, p.probs, keep)
                    alone[gesture].append(dataclasses.replace(p, t_s=t_s, probs=probs))
            for consecutive, rearm, cooldown in combos:
                shared = dataclasses.replace(base, smooth_windows=windows, consecutive_windows=consecutive,
                                             rearm_below=rearm, cooldown_s=cooldown)
                for value in grid.thresholds:
                    add(dataclasses.replace(shared, threshold=value, thresholds={}), parts)
                if len(gestures) > 1:
                    exact = np.zeros((len(gestures), len(grid.thresholds)), dtype=np.int64)
                    false = np.zeros_like(exact)
                    for gi, gesture in enumerate(gestures):
                        for vi, value in enumerate(grid.thresholds):
                            figures = evaluate(problem, alone[gesture], dataclasses.replace(
                                shared, smooth_windows=1, threshold=NEVER, thresholds={gesture: value}))
                            exact[gi, vi], false[gi, vi] = figures.exact, figures.background_false
                    cost = np.array([[abs(value - base.thresholds.get(g, base.threshold))
                                      for value in grid.thresholds] for g in gestures])
                    states = knapsack(exact, false, budget_count + FRONTIER_EXTRA, cost)
                    for chosen in proposals(states, budget_count):
                        per_gesture = {g: grid.thresholds[v] for g, v in zip(gestures, chosen)}
                        add(normalise_thresholds(shared, per_gesture), parts)
                bar.update()
    bar.close()
    return points[0], points


def pareto(points: Sequence[Point]) -> list[Point]:
    """The trade-off frontier: each point has a higher `net` than every point with fewer false actions."""
    best_first = sorted(points, key=_rank, reverse=True)
    ordered = sorted(best_first, key=lambda p: p.figures.background_false)  # stable: best first per count
    frontier: list[Point] = []
    for point in ordered:  # within one count of false actions the best comes first
        if not frontier or net(point.figures) > net(frontier[-1].figures):
            frontier.append(point)
    return frontier


def tune(footage: Sequence[Footage], problem: Problem, base: DecisionSettings, budget_per_hour: float,
         grid: Grid = DEFAULT_GRID, progress: bool = False) -> TuneResult:
    """Split, search on the tuning part, choose within the budget (module docstring, steps 3-5)."""
    tuning, held_out, cuts = split_all(footage, problem.max_lag_s)
    background_h = sum(p.duration_s for p in tuning if p.background) / 3600.0
    budget_count = math.floor(budget_per_hour * background_h + 1e-9)
    base_point, points = search(problem, tuning, base, budget_count, grid, progress)
    result = TuneResult(tuning=tuning, held_out=held_out, cuts=cuts, budget_per_hour=budget_per_hour,
                        budget_count=budget_count, base=base_point, points=points, frontier=pareto(points))
    feasible = [p for p in points if p.figures.background_false <= budget_count]
    if feasible:
        result.chosen = max(feasible, key=_rank)
    return result


# -- recording ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TuneSettings:
    """Everything `gesture-bench tune` was asked to do."""

    bundle: Path
    gestures: tuple[Path, ...]
    background: tuple[Path, ...]
    max_false_per_hour: float
    threads: int = 2
    hop_frames: int = 2
    backend: str = "auto"
    config: Path | None = None
    max_lag_s: float = DEFAULT_MAX_LAG_S
    progress: bool = True
    grid: Grid = DEFAULT_GRID
    save_to_bundle: bool = False
    """Write the chosen settings into the bundle's manifest as its decision block."""
    save_decision: Path | None = None
    """Also write them to this JSON file ({"decision", "decision_tuning"}), which gesture-convert --decision (or a
    decision.json beside the model) carries into the bundles it makes."""


def read_inputs(settings: TuneSettings) -> list[tuple[Path, str, Truth | None]]:
    """Every file with its kind and truth, checked before anything runs (one-line BenchError)."""
    inputs: list[tuple[Path, str, Truth | None]] = []
    for path in settings.gestures:
        if not path.is_file():
            raise BenchError(f"--gestures {path}: stream not found")
        try:
            truth = load_truth(path)
        except TruthError as exc:
            raise BenchError(f"--gestures {exc}") from None
        if truth.background_only:
            raise BenchError(f"--gestures {path}: its truth {truth_path_for(path).name} has no gestures "
                             "(pass footage without gestures with --background)")
        inputs.append((path, "gestures", truth))
    for path in settings.background:
        if not path.exists():
            raise BenchError(f"--background {path}: not found (expected a video file or a folder of frames)")
        background: Truth | None = None
        if path.is_file() and truth_path_for(path).is_file():
            try:
                background = load_truth(path)
            except TruthError as exc:
                raise BenchError(f"--background {exc}") from None
            if not background.background_only:
                raise BenchError(f"--background {path}: its truth {truth_path_for(path).name} lists "
                                 f"{len(background.events)} gestures (pass it with --gestures)")
        inputs.append((path, "background", background))
    return inputs


class _FrameProgress:
    """A frame tap advancing a progress line (the model frames a file is expected to give)."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar

    def start(self, manifest: Any, fps: float) -> None:
        pass

    def frame(self, frame: Any, windows: Any, events: Any, decision: Any) -> None:
        self.bar.update()

    def finish(self, completed: bool) -> None:
        self.bar.close()


def _expected_frames(path: Path, truth: Truth | None, model_fps: float) -> int:
    if truth is not None:
        return max(1, int(truth.duration_s * model_fps))
    if path.is_file():
        from edge.sources.footage import video_model_frames

        return max(1, video_model_frames(path, model_fps) or 1)
    return 1


def record(config: Any, path: Path, kind: str, truth: Truth | None, model_fps: float, progress_label: str | None
           ) -> tuple[Footage, DecisionMaker, list[Any]]:
    """Run the runtime's frame loop over one file, recording every window; also its decisions and events."""
    from edge.app import App
    from edge.taps import WindowRecorder

    runtime = dataclasses.replace(config.runtime, source=str(path), realtime=False)
    recorder = WindowRecorder()
    taps: list[Any] = [recorder]
    if progress_label is not None:
        taps.append(_FrameProgress(Progress(_expected_frames(path, truth, model_fps), progress_label)))
    app = App(dataclasses.replace(config, runtime=runtime), source=None, sinks=[], clock=time.monotonic,
              notifier=None, reload_config=None, source_options=None, max_frames=None, taps=taps)
    try:
        app.run()
    except Exception as exc:  # noqa: BLE001 - the app's one-line errors (source, bundle, config)
        raise BenchError(f"{path}: the runtime failed: {one_line(exc)}") from None
    assert app.decision is not None
    t_s, probs = recorder.arrays()
    duration_s = truth.duration_s if truth is not None else recorder.frames / model_fps
    footage = Footage(name=str(path), kind=kind, duration_s=duration_s,
                      truth=truth.events if truth is not None else (), t_s=t_s, probs=probs)
    return footage, app.decision, list(recorder.events)


def _same_events(a: Sequence[GestureEvent], b: Sequence[GestureEvent]) -> bool:
    return [(e.gesture, round(e.t_s, 6), e.repeat) for e in a] == [(e.gesture, round(e.t_s, 6), e.repeat) for e in b]


def settings_text(settings: DecisionSettings) -> str:
    """The searched settings in one short line."""
    thresholds = f"{settings.threshold:.2f}"
    if settings.thresholds:
        thresholds += " (" + ", ".join(f"{g} {v:.2f}" for g, v in sorted(settings.thresholds.items())) + ")"
    smoothing = f"mean of {settings.smooth_windows} windows, " if settings.smooth_windows > 1 else ""
    return (f"threshold {thresholds}, {smoothing}{settings.consecutive_windows} in a row, "
            f"re-arm < {settings.rearm_below:.2f}, cooldown {settings.cooldown_s:g} s")


def decision_block(settings: DecisionSettings) -> dict[str, Any]:
    """The searched fields of `settings` as plain JSON (the manifest's decision block, the report)."""
    return {"threshold": settings.threshold, "thresholds": dict(sorted(settings.thresholds.items())),
            "smooth_windows": settings.smooth_windows, "consecutive_windows": settings.consecutive_windows,
            "rearm_below": settings.rearm_below,
            "cooldown_s": settings.cooldown_s, "refractory_s": settings.refractory_s}


def _point_json(problem: Problem, point: Point, held_out: Sequence[Part]) -> dict[str, Any]:
    return {"settings": decision_block(point.settings), "text": settings_text(point.settings),
            "tuning": point.figures.to_json(), "held_out": evaluate(problem, held_out, point.settings).to_json()}


def run_tune(settings: TuneSettings) -> dict[str, Any]:
    """The whole tune benchmark; returns the JSON-ready report (chosen is None when nothing is in budget)."""
    from edge.bench.events import decision_source, runtime_config
    from edge.bundle import BundleError, load_bundle
    from edge.decision import merged_actions

    inputs = read_inputs(settings)
    config = runtime_config(_as_events(settings))
    try:
        bundle = load_bundle(settings.bundle, backend=settings.backend, num_threads=settings.threads)
    except BundleError as exc:
        raise BenchError(str(exc)) from None
    manifest = bundle.manifest
    if not 1 <= settings.hop_frames <= manifest.frames_per_clip:
        raise BenchError(f"--hop {settings.hop_frames}: expected 1..{manifest.frames_per_clip} (frames per clip)")
    for _, _, truth in inputs:
        if truth is not None:
            unknown = sorted({e.gesture for e in truth.events} - set(manifest.gesture_labels))
            if unknown:
                raise BenchError(f"{truth.path}: gesture(s) {', '.join(unknown)} are not gestures of the model "
                                 f"({', '.join(manifest.gesture_labels)})")
    load_start = load_average()
    started = time.perf_counter()
    footage: list[Footage] = []
    base: DecisionSettings | None = None
    actions = merged_actions(manifest.actions, config.actions)
    problem = Problem(labels=tuple(manifest.labels), actions=actions, background_label=manifest.background_label,
                      max_lag_s=settings.max_lag_s)
    record_s = 0.0
    for number, (path, kind, truth) in enumerate(inputs, start=1):
        label = f"[{number}/{len(inputs)}] {path.name} ({kind})"
        if settings.progress:
            print(label, file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        item, decision, emitted = record(config, path, kind, truth, manifest.model_fps,
                                         label if settings.progress else None)
        record_s += time.perf_counter() - t0
        base = decision.settings
        problem = dataclasses.replace(problem, actions=dict(decision.actions))
        with _quiet_decisions():
            replayed = replay_events(problem, base, item.t_s, item.probs)
        if not _same_events(replayed, emitted):
            raise BenchError(f"{path}: replaying the recorded windows gave {len(replayed)} events, the runtime "
                             f"{len(emitted)}: the decision stage is not a pure function of (probabilities, time)")
        footage.append(item)
    assert base is not None
    t0 = time.perf_counter()
    result = tune(footage, problem, base, settings.max_false_per_hour, settings.grid, settings.progress)
    search_s = time.perf_counter() - t0

    def part_info(parts: Sequence[Part]) -> dict[str, Any]:
        background_s = sum(p.duration_s for p in parts if p.background)
        return {"gesture_min": sum(p.duration_s for p in parts if not p.background) / 60.0,
                "gestures": sum(len(p.truth) for p in parts), "background_min": background_s / 60.0,
                "one_false_per_hour": 3600.0 / background_s if background_s > 0 else None}

    chosen = None if result.chosen is None else _point_json(problem, result.chosen, result.held_out)
    report = {
        "tool": "gesture-bench tune",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "bundle": {"path": str(settings.bundle), "labels": list(manifest.labels), "model_fps": manifest.model_fps,
                   "frames_per_clip": manifest.frames_per_clip,
                   "backend": f"{bundle.backend.name} {bundle.backend.version}"},
        "settings": {"max_false_per_hour": settings.max_false_per_hour, "threads": settings.threads,
                     "hop_frames": settings.hop_frames, "max_lag_s": settings.max_lag_s,
                     "decision_config": decision_source(settings.config, manifest.decision),
                     "grid": settings.grid.to_json()},
        "split": ("each file is cut near its middle (in gesture streams outside every gesture's match interval): "
                  "the first halves are the tuning part, the second halves the held-out part"),
        "footage": [{"name": f.name, "kind": f.kind, "duration_s": f.duration_s, "windows": len(f.t_s),
                     "gestures": len(f.truth), "cut_s": result.cuts[f.name]} for f in footage],
        "parts": {"tuning": part_info(result.tuning), "held_out": part_info(result.held_out)},
        "budget_false_on_tuning": result.budget_count,
        "evaluated": len(result.points),
        "replay_check": "replaying the recorded windows with the base settings gave the runtime's events, file by file",
        "base": _point_json(problem, result.base, result.held_out),
        "chosen": chosen,
        "frontier": [_point_json(problem, p, result.held_out) for p in result.frontier],
        "points": [[p.figures.false_per_hour, p.figures.exact_rate] for p in result.points],
        "verdict": verdict(result, chosen),
        "saved_to_bundle": None,
        "saved_decision": None,
        "load_average": {"start": load_start, "end": load_average()},
        "record_s": record_s,
        "search_s": search_s,
        "wall_s": time.perf_counter() - started,
    }
    if settings.save_decision is not None and result.chosen is not None:
        report["saved_decision"] = str(save_decision(settings.save_decision, result.chosen.settings, report))
    if settings.save_to_bundle and result.chosen is not None:
        report["saved_to_bundle"] = str(save_to_bundle(settings.bundle, result.chosen.settings, report))
        overridden = sorted(set(decision_block(result.chosen.settings)) & config.decision_keys)
        if overridden:
            report["saved_note"] = (f"{settings.config} sets {', '.join(overridden)}: at run time the config file's "
                                    "values override the saved ones")
    return report


def tuning_record(report: dict[str, Any]) -> dict[str, Any]:
    """How the chosen settings were found (budget, footage, split, figures): the manifest's decision_tuning."""
    return {"tool": "gesture-bench tune", "created": report["created"],
            "max_false_per_hour": report["settings"]["max_false_per_hour"],
            "hop_frames": report["settings"]["hop_frames"], "max_lag_s": report["settings"]["max_lag_s"],
            "footage": [f["name"] for f in report["footage"]], "split": report["split"],
            "tuning": report["chosen"]["tuning"], "held_out": report["chosen"]["held_out"]}


def save_decision(path: Path, chosen: DecisionSettings, report: dict[str, Any]) -> Path:
    """Write {"decision": block, "decision_tuning": how} to `path` atomically (for gesture-convert --decision)."""
    from edge.fileio import write_text_atomic

    try:
        write_text_atomic(path, json.dumps({"decision": decision_block(chosen),
                                            "decision_tuning": tuning_record(report)}, indent=1) + "\n")
    except OSError as exc:
        raise BenchError(f"--save-decision {path}: {one_line(exc)}") from None
    return path


def save_to_bundle(bundle: Path, chosen: DecisionSettings, report: dict[str, Any]) -> Path:
    """Store `chosen` as the bundle manifest's decision block (written through edge.manifest: checked, atomic;
    the model files and their hashes are untouched) with how it was chosen."""
    from edge.manifest import Manifest, ManifestError

    try:
        manifest = Manifest.load(bundle)
        tuning = tuning_record(report)
        path = dataclasses.replace(manifest, decision=decision_block(chosen), decision_tuning=tuning).write(bundle)
        Manifest.load(bundle).verify_files(bundle)
    except (ManifestError, OSError) as exc:
        raise BenchError(f"--save-to-bundle {bundle}: {one_line(exc)}") from None
    logger.info("wrote the decision block into %s", path)
    return path


def _as_events(settings: TuneSettings) -> Any:
    from edge.bench.events import EventsSettings

    return EventsSettings(bundle=settings.bundle, streams=(), threads=settings.threads,
                          hop_frames=settings.hop_frames, backend=settings.backend, config=settings.config,
                          max_lag_s=settings.max_lag_s, progress=settings.progress)


def verdict(result: TuneResult, chosen: dict[str, Any] | None) -> str:
    """One line: what was chosen and whether the held-out part kept the budget."""
    if chosen is None:
        fewest = min(result.points, key=lambda p: (p.figures.background_false, -p.figures.exact))
        return (f"NO SETTING within {result.budget_per_hour:g} false actions per hour on the tuning part "
                f"(at most {result.budget_count} there); the fewest: {fewest.figures.background_false} "
                f"({fmt(fewest.figures.false_per_hour, 1)} per hour) with {settings_text(fewest.settings)}")
    held = chosen["held_out"]
    kept = held["false_per_hour"] is not None and held["false_per_hour"] <= result.budget_per_hour
    return (f"chosen: {chosen['text']}; held-out: exact {fmt(held['exact_rate'], 3)}, "
            f"{fmt(held['false_per_hour'], 2)} false actions per hour "
            + ("(within the budget)" if kept else f"(OVER the budget of {result.budget_per_hour:g})"))


# -- output -------------------------------------------------------------------------------------------------

FRONTIER_HEADERS = ["settings", "tune false/h", "tune false", "tune exact", "tune rate", "held-out false/h",
                    "held-out rate", "held-out lag p50 ms"]
COMPARE_HEADERS = ["", "part", "exact", "rate", "missed", "doubled", "wrong", "false (bg)", "false/h",
                   "false (gesture footage)", "lag p50 ms"]


def _frontier_rows(report: dict[str, Any]) -> list[list[str]]:
    chosen = report["chosen"]["settings"] if report["chosen"] else None
    rows = []
    for p in report["frontier"]:
        t, h = p["tuning"], p["held_out"]
        mark = " <- chosen" if p["settings"] == chosen else ""
        rows.append([p["text"] + mark, fmt(t["false_per_hour"], 2), fmt(t["background_false"]),
                     f"{t['exact']}/{t['truth']}", fmt(t["exact_rate"], 3), fmt(h["false_per_hour"], 2),
                     fmt(h["exact_rate"], 3), fmt(h["lag_p50_ms"], 0)])
    return rows


def _compare_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name in ("base", "chosen"):
        entry = report[name]
        if entry is None:
            continue
        for part in ("tuning", "held_out"):
            f = entry[part]
            rows.append([name, part.replace("_", "-"), f"{f['exact']}/{f['truth']}", fmt(f["exact_rate"], 3),
                         fmt(f["missed"]), fmt(f["doubled"]), fmt(f["wrong"]), fmt(f["background_false"]),
                         fmt(f["false_per_hour"], 2), fmt(f["false_gestures"]), fmt(f["lag_p50_ms"], 0)])
    return rows


def _tune_lines(report: dict[str, Any]) -> list[str]:
    s, parts = report["settings"], report["parts"]
    lines = [(f"bundle: {report['bundle']['path']}; hop {s['hop_frames']}, max lag {s['max_lag_s']:g} s; base "
              f"decision settings: {s['decision_config']} ({report['base']['text']})"),
             f"budget: {s['max_false_per_hour']:g} false actions per hour of background footage",
             f"split: {report['split']}"]
    for name in ("tuning", "held_out"):
        p = parts[name]
        lines.append(f"{name.replace('_', '-')} part: {p['gestures']} gestures in {p['gesture_min']:.1f} min, "
                     f"{p['background_min']:.1f} min of background (one false action = "
                     f"{fmt(p['one_false_per_hour'], 2)} per hour)")
    lines += [(f"searched {report['evaluated']} settings by replaying the decision stage over the recorded "
               f"windows ({report['search_s']:.1f} s; recording {report['record_s']:.1f} s); {report['replay_check']}"),
              report["verdict"]]
    if report.get("saved_to_bundle"):
        lines.append(f"saved the chosen settings to {report['saved_to_bundle']} (its decision block: gesture-edge run "
                     "applies them, a config file's [decision] keys over them)")
        if report.get("saved_note"):
            lines.append(f"note: {report['saved_note']}")
    if report.get("saved_decision"):
        lines.append(f"saved the chosen settings to {report['saved_decision']} (gesture-convert --decision "
                     f"{report['saved_decision']} carries them into a bundle)")
    return lines


def tune_text(report: dict[str, Any]) -> str:
    """The tune report for a terminal."""
    return "\n".join([f"gesture-bench tune ({report.get('wall_s', 0):.1f} s)", *_tune_lines(report), "",
                      "trade-off frontier (chosen on the tuning part; held-out for honesty):",
                      text_table(FRONTIER_HEADERS, _frontier_rows(report)), "",
                      text_table(COMPARE_HEADERS, _compare_rows(report))])


def tune_markdown(report: dict[str, Any]) -> str:
    """The tune report as markdown."""
    return "\n".join(["## gesture-bench tune", "", f"Command: `{report.get('command', '')}`", "",
                      *(f"- {line}" for line in _tune_lines(report)), "",
                      markdown_table(FRONTIER_HEADERS, _frontier_rows(report)), "",
                      markdown_table(COMPARE_HEADERS, _compare_rows(report)), ""])


def tune_plot(report: dict[str, Any], path: Path) -> None:
    """Exact rate against false actions per hour: every setting tried, the frontier, the budget, the choice."""
    plt = import_pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    points = np.array([(x, y) for x, y in report["points"] if x is not None and y is not None], dtype=float)
    if points.size:
        ax.scatter(points[:, 0], points[:, 1], s=6, color="0.75", label="settings tried (tuning part)")
    frontier = [(p["tuning"]["false_per_hour"], p["tuning"]["exact_rate"]) for p in report["frontier"]]
    if frontier:
        xs, ys = zip(*frontier)
        ax.step(xs, ys, where="post", color="tab:blue", label="frontier (tuning part)")
        held = [(p["held_out"]["false_per_hour"], p["held_out"]["exact_rate"]) for p in report["frontier"]]
        ax.plot(*zip(*held), "o--", color="tab:blue", alpha=0.4, markersize=3, label="frontier settings, held-out")
    budget = report["settings"]["max_false_per_hour"]
    ax.axvline(budget, color="tab:red", linestyle=":", label=f"budget {budget:g} per hour")
    for name, marker, colour in (("base", "s", "black"), ("chosen", "*", "tab:green")):
        entry = report[name]
        if entry is None:
            continue
        ax.plot(entry["tuning"]["false_per_hour"], entry["tuning"]["exact_rate"], marker, color=colour,
                markersize=11, label=f"{name} (tuning)")
        ax.plot(entry["held_out"]["false_per_hour"], entry["held_out"]["exact_rate"], marker, color=colour,
                markersize=11, markerfacecolor="none", label=f"{name} (held-out)")
    ax.set_xlabel("false actions per hour of background footage")
    ax.set_ylabel("gestures with exactly one correct action")
    ax.set_title("gesture-bench tune: exact rate against false actions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)
