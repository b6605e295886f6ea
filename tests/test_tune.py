"""gesture-bench tune's search on made-up window-probability streams (no model): the budget, the best exact
rate, the held-out report, and the pieces (compression, split, knapsack) checked against brute force."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from edge.bench import BenchError
from edge.bench.tune import (Footage, Grid, Problem, compress, cut_point, evaluate, knapsack, net, pareto,
                             replay_events, resetting, split, split_all, tune)
from edge.metrics import TruthGesture
from edge.settings import DecisionSettings

LABELS = ("Swipe", "Stop", "No gesture")
PROBLEM = Problem(labels=LABELS, actions={"Swipe": "play", "Stop": "pause"}, background_label="No gesture")
HOP_S = 0.2
BASE = DecisionSettings()
SMALL = Grid(thresholds=(0.6, 0.7, 0.8, 0.9), smooth_windows=(1, 2), consecutive_windows=(1, 2), rearm_below=(0.5,),
             cooldown_s=(1.5,))


def window(label: str, p: float) -> np.ndarray:
    out = np.full(len(LABELS), (1.0 - p) / (len(LABELS) - 1), dtype=np.float32)
    out[LABELS.index(label)] = p
    return out


def stream(name: str, duration_s: float, bumps: list[tuple[str, float, float, int]], kind: str,
           truth: bool = True) -> Footage:
    """Windows every HOP_S, background at 0.9 except `bumps`: (label, start_s, p, windows) runs of the label.

    In a gesture stream every bump is also a truth gesture [start_s, start_s + 1.0] (truth=True).
    """
    t_s = np.round(np.arange(1.9, duration_s, HOP_S), 6)
    probs = np.stack([window("No gesture", 0.9)] * len(t_s))
    gestures = []
    for label, start_s, p, count in bumps:
        first = int(np.searchsorted(t_s, start_s + 0.6 - 1e-9))
        probs[first:first + count] = window(label, p)
        if truth:
            gestures.append(TruthGesture(label, start_s, start_s + 1.0))
    return Footage(name=name, kind=kind, duration_s=duration_s, truth=tuple(gestures), t_s=t_s, probs=probs)


def gestures_stream(weak_stop: bool = False) -> Footage:
    """Two minutes, a gesture every 10 s: Swipes peak at 0.72, Stops at 0.93 (the second Stop, in the first
    half, at 0.82 when `weak_stop`)."""
    bumps = []
    for k in range(12):
        label = "Swipe" if k % 2 == 0 else "Stop"
        p = 0.72 if label == "Swipe" else (0.82 if weak_stop and k == 3 else 0.93)
        bumps.append((label, 4.0 + 10.0 * k, p, 4))
    return stream("gestures.mp4", 124.0, bumps, "gestures")


def background_stream(held_out_spike: float | None = None) -> Footage:
    """Ten minutes without gestures: Stop-like movements at 0.85 and Swipe-like ones at 0.6, five of each in
    each half, as long as a gesture (so consecutive windows cannot tell them apart); `held_out_spike`: one
    more Stop-like movement at that probability in the second half only."""
    bumps = []
    for k in range(10):
        bumps.append(("Stop", 20.0 + 60.0 * k, 0.85, 4))
        bumps.append(("Swipe", 50.0 + 60.0 * k, 0.6, 4))
    if held_out_spike is not None:
        bumps.append(("Stop", 450.0, held_out_spike, 4))
    return stream("background.mp4", 600.0, bumps, "background", truth=False)


# -- the search -----------------------------------------------------------------------------------------------

def test_per_gesture_thresholds_reach_every_gesture_without_a_false_action() -> None:
    # No single threshold does it: Swipes need <= 0.72, avoiding the Stop-like movements needs > 0.85.
    result = tune([gestures_stream(), background_stream()], PROBLEM, BASE, budget_per_hour=0.0)
    chosen = result.chosen
    assert chosen is not None
    swipe = chosen.settings.thresholds.get("Swipe", chosen.settings.threshold)
    stop = chosen.settings.thresholds.get("Stop", chosen.settings.threshold)
    assert 0.6 < swipe <= 0.72 and 0.85 < stop <= 0.93, chosen.settings
    assert chosen.figures.exact == chosen.figures.truth == 6 and chosen.figures.background_false == 0
    uniform = [p for p in result.points if not p.settings.thresholds]
    assert uniform and all(p.figures.exact < 6 or p.figures.background_false > 0 for p in uniform)
    # The base settings (0.8 everywhere) miss every Swipe and fire on the Stop-like movements.
    assert result.base.figures.exact == 3 and result.base.figures.background_false == 5


def test_the_budget_is_respected_and_buys_exact_gestures() -> None:
    footage = [gestures_stream(weak_stop=True), background_stream()]
    strict = tune(footage, PROBLEM, BASE, budget_per_hour=0.0)
    loose = tune(footage, PROBLEM, BASE, budget_per_hour=60.0)
    # The weak Stop (0.82, in the first half) is only reached below the Stop-like movements (0.85).
    assert strict.chosen is not None and loose.chosen is not None
    assert strict.chosen.figures.background_false == 0 and strict.chosen.figures.exact == 5
    assert loose.chosen.figures.exact == 6  # Stop at 0.8: the five Stop-like movements fire, 60 per hour
    assert loose.chosen.figures.background_false == 5 and loose.chosen.figures.false_per_hour == pytest.approx(60.0)
    assert loose.budget_count == 5 and strict.budget_count == 0
    # No point within the budget has more exact gestures than the chosen one.
    for result in (strict, loose):
        assert all(p.figures.exact <= result.chosen.figures.exact for p in result.points
                   if p.figures.background_false <= result.budget_count)


def test_nothing_within_the_budget_gives_no_choice() -> None:
    every_stop = background_stream(held_out_spike=None)
    probs = every_stop.probs.copy()
    for k in range(0, len(probs), 25):
        probs[k:k + 4] = window("Stop", 0.995)  # confident Stop-like movements nothing can reject
    footage = [gestures_stream(), dataclasses.replace(every_stop, probs=probs)]
    result = tune(footage, PROBLEM, BASE, budget_per_hour=0.0, grid=SMALL)
    assert result.chosen is None and result.points and result.frontier


def test_the_choice_is_the_best_exact_rate_of_the_whole_grid() -> None:
    # Brute force over every per-gesture threshold pair of a small grid, replayed in full.
    footage = [gestures_stream(weak_stop=True), background_stream()]
    for budget in (0.0, 12.0, 60.0):
        result = tune(footage, PROBLEM, BASE, budget_per_hour=budget, grid=SMALL)
        best = -1
        for swipe, stop, smooth, consecutive in itertools.product(SMALL.thresholds, SMALL.thresholds,
                                                                 SMALL.smooth_windows, SMALL.consecutive_windows):
            settings = dataclasses.replace(BASE, threshold=swipe, thresholds={"Stop": stop}, smooth_windows=smooth,
                                           consecutive_windows=consecutive, rearm_below=0.5, cooldown_s=1.5)
            figures = evaluate(PROBLEM, result.tuning, settings)
            if figures.background_false <= result.budget_count:
                best = max(best, figures.exact - figures.false_gestures)
        chosen = result.chosen
        assert chosen is not None and chosen.figures.exact - chosen.figures.false_gestures == best, budget


def test_the_report_is_on_the_held_out_part() -> None:
    # A Stop-like movement at 0.95 only in the second half: the tuning part cannot see it, the held-out can.
    footage = [gestures_stream(), background_stream(held_out_spike=0.95)]
    result = tune(footage, PROBLEM, BASE, budget_per_hour=0.0)
    assert result.chosen is not None and result.chosen.figures.background_false == 0
    held = evaluate(PROBLEM, result.held_out, result.chosen.settings)
    assert held.background_false == 1 and held.false_per_hour == pytest.approx(3600.0 / 300.0)
    assert held.exact == held.truth == 6  # the second half's gestures, reached with the tuned thresholds
    # The two parts are the two halves: every gesture in exactly one, the cut outside every gesture.
    cut = result.cuts["gestures.mp4"]
    tuning_truth = [g for p in result.tuning for g in p.truth]
    held_truth = [g for p in result.held_out for g in p.truth]
    assert sorted(tuning_truth + held_truth, key=lambda g: g.start_s) == list(footage[0].truth)
    assert all(g.start_s < cut for g in tuning_truth) and all(g.start_s >= cut for g in held_truth)
    assert all(p.t_s.max() < cut <= q.t_s.min() for p, q in zip(result.tuning, result.held_out)
               if p.t_s.size and q.t_s.size and p.name.startswith("gestures"))


def test_smoothing_is_searched_and_its_figures_are_the_runtimes() -> None:
    # Stop-like flickers: one window at 0.995 (nothing a threshold can reject), 30 s apart. Gestures hold 0.93
    # for 4 windows. Without smoothing, consecutive windows would tell them apart; with only 1 in a row in the
    # grid, only the mean of 3 windows (0.995 + 2 x 0.05 -> 0.37; 0.93 stays 0.93) does.
    flickers = stream("background.mp4", 600.0, [("Stop", 20.0 + 30.0 * k, 0.995, 1) for k in range(19)],
                      "background", truth=False)
    gestures = stream("gestures.mp4", 124.0, [("Stop", 4.0 + 10.0 * k, 0.93, 4) for k in range(12)], "gestures")
    grid = Grid(thresholds=(0.8, 0.9, 0.99), smooth_windows=(1, 3), consecutive_windows=(1,), rearm_below=(0.5,),
                cooldown_s=(1.5,))
    base = dataclasses.replace(BASE, consecutive_windows=1)
    result = tune([gestures, flickers], PROBLEM, base, budget_per_hour=0.0, grid=grid)
    assert result.chosen is not None and result.chosen.settings.smooth_windows == 3
    assert result.chosen.figures.exact == result.chosen.figures.truth == 6
    assert result.chosen.figures.background_false == 0
    assert all(p.figures.background_false > 0 or p.figures.exact == 0 for p in result.points
               if p.settings.smooth_windows == 1)
    # The search replays pre-smoothed, compressed windows; the runtime's DecisionMaker smooths raw ones.
    for point in result.points:
        assert evaluate(PROBLEM, result.tuning, point.settings) == point.figures, point.settings
    held = evaluate(PROBLEM, result.held_out, result.chosen.settings)
    assert held.exact == held.truth == 6 and held.background_false == 0


def test_false_events_on_gesture_footage_cost_as_much_as_missed_gestures() -> None:
    # Per half: one weak Swipe (0.75) among Stops, and two Swipe-like movements (0.72) between gestures that are
    # no gesture. Swipe at 0.7 buys the weak Swipe with two false events: the tuner keeps Swipe at 0.8.
    bumps = [("Swipe" if k in (2, 8) else "Stop", 4.0 + 10.0 * k, 0.75 if k in (2, 8) else 0.93, 4)
             for k in range(12)]
    footage = stream("gestures.mp4", 124.0, bumps, "gestures")
    probs = footage.probs.copy()
    for start_s in (9.0, 19.0, 69.0, 79.0):
        first = int(np.searchsorted(footage.t_s, start_s + 0.6 - 1e-9))
        probs[first:first + 4] = window("Swipe", 0.72)
    footage = dataclasses.replace(footage, probs=probs)
    quiet = stream("background.mp4", 600.0, [], "background", truth=False)
    grid = Grid(thresholds=(0.7, 0.8, 0.9), smooth_windows=(1,), consecutive_windows=(2,), rearm_below=(0.5,),
                cooldown_s=(1.5,))
    result = tune([footage, quiet], PROBLEM, BASE, budget_per_hour=0.0, grid=grid)
    eager = [p for p in result.points if p.settings.thresholds.get("Swipe", p.settings.threshold) == 0.7]
    assert eager and max(p.figures.exact for p in eager) == 6
    assert all(p.figures.false_gestures == 2 for p in eager if p.figures.exact == 6)
    chosen = result.chosen
    assert chosen is not None and chosen.settings.thresholds.get("Swipe", chosen.settings.threshold) == 0.8
    assert chosen.figures.exact == 5 and chosen.figures.false_gestures == 0


# -- the pieces -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_compressed_windows_give_the_same_events(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    labels = rng.choice(len(LABELS), size=n, p=[0.2, 0.2, 0.6])
    runs = np.repeat(labels[: n // 4], 4)  # held for a few windows, like gestures
    probs = np.stack([window(LABELS[k], float(rng.choice([0.4, 0.55, 0.65, 0.75, 0.85, 0.95]))) for k in runs])
    t_s = 1.9 + HOP_S * np.arange(len(probs))
    grid = Grid()
    t_c, p_c = compress(t_s, probs, ~resetting(probs, LABELS.index("No gesture"), grid.floor))
    assert len(t_c) < len(t_s)
    for _ in range(10):
        settings = DecisionSettings(threshold=float(rng.choice(grid.thresholds)),
                                    thresholds={"Stop": float(rng.choice(grid.thresholds))},
                                    consecutive_windows=int(rng.choice(grid.consecutive_windows)),
                                    rearm_below=float(rng.choice(grid.rearm_below)),
                                    cooldown_s=float(rng.choice(grid.cooldown_s)), refractory_s=1.0)
        assert replay_events(PROBLEM, settings, t_c, p_c) == replay_events(PROBLEM, settings, t_s, probs)


def test_the_cut_avoids_gestures_and_each_part_needs_both_kinds() -> None:
    footage = stream("g.mp4", 20.0, [("Swipe", 8.8, 0.9, 4)], "gestures")  # [8.8, 9.8 + 1.5 lag] holds 10 s
    assert cut_point(footage, 1.5) == pytest.approx(8.8)
    first, second, cut = split(footage, 1.5)
    assert cut == pytest.approx(8.8) and not first.truth and len(second.truth) == 1
    assert first.duration_s + second.duration_s == pytest.approx(20.0)
    # Two gestures, the middle (10 s) inside the first one's interval: the cut goes past it, one each side.
    pair = stream("p.mp4", 20.0, [("Swipe", 8.8, 0.9, 4), ("Stop", 14.0, 0.9, 4)], "gestures")
    assert cut_point(pair, 1.5) == pytest.approx(11.3)
    first, second, _ = split(pair, 1.5)
    assert [g.gesture for g in first.truth] == ["Swipe"] and [g.gesture for g in second.truth] == ["Stop"]
    with pytest.raises(BenchError, match="tuning .* has no gestures"):
        split_all([footage, background_stream()], 1.5)
    with pytest.raises(BenchError, match="no background footage"):
        split_all([gestures_stream()], 1.5)


def test_knapsack_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    exact = rng.integers(0, 6, size=(3, 5))
    false = rng.integers(0, 4, size=(3, 5))
    states = knapsack(exact, false, cap=5)
    assert min(states) == int(false.min(axis=1).sum()) > 0  # this table cannot avoid every false action
    for cap in range(6):
        brute = [sum(int(exact[g, v]) for g, v in enumerate(choice))
                 for choice in itertools.product(range(5), repeat=3)
                 if sum(int(false[g, v]) for g, v in enumerate(choice)) <= cap]
        best = [e for f, (e, _) in states.items() if f <= cap]
        assert max(best, default=None) == max(brute, default=None), cap
        for f, (e, choice) in states.items():
            assert sum(int(false[g, v]) for g, v in enumerate(choice)) == f
            assert sum(int(exact[g, v]) for g, v in enumerate(choice)) == e


def test_the_frontier_only_buys_exact_gestures_with_false_actions() -> None:
    result = tune([gestures_stream(weak_stop=True), background_stream()], PROBLEM, BASE, budget_per_hour=60.0,
                  grid=SMALL)
    frontier = pareto(result.points)
    falses = [p.figures.background_false for p in frontier]
    nets = [net(p.figures) for p in frontier]
    assert falses == sorted(set(falses)) and nets == sorted(set(nets))
    for point in result.points:  # nothing beats the frontier
        assert not any(point.figures.background_false <= f.figures.background_false
                       and net(point.figures) > net(f.figures) for f in frontier)
    assert math.isfinite(frontier[0].figures.false_per_hour)
