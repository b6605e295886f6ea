"""DecisionMaker on made-up probability sequences with injected time (no model, no clock)."""

from __future__ import annotations

import copy
import dataclasses
import logging
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edge.decision
from edge.decision import TIME_EPS_S, DecisionMaker, merged_actions, smooth_probs
from edge.events import GestureEvent
from edge.settings import DecisionSettings

LABELS = ("Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture")
ACTIONS = {"Swipe": "play", "Stop": "pause", "Thumbs Up": "volume_up", "Thumbs Down": "volume_down"}
BG = "No gesture"
HOP_S = 0.25  # window spacing in these tests (binary-exact, so expected times are exact)


def probs(label: str, p: float, labels: tuple[str, ...] = LABELS) -> np.ndarray:
    """A probability vector whose top-1 is `label` with probability `p` (the rest spread evenly)."""
    out = np.full(len(labels), (1.0 - p) / (len(labels) - 1), dtype=np.float32)
    out[labels.index(label)] = p
    return out


def feed(maker: DecisionMaker, seq: list[tuple[str, float]], t0: float = 0.0, dt: float = HOP_S
         ) -> list[GestureEvent]:
    """Feed windows (label, p) at t0, t0 + dt, ...; return every event."""
    events = []
    for i, (label, p) in enumerate(seq):
        events += maker.update(probs(label, p, maker.labels), t0 + i * dt)
    return events


def maker(labels: tuple[str, ...] = LABELS, actions: dict | None = None, background: str | None = BG,
          **overrides) -> DecisionMaker:
    base = dict(threshold=0.8, consecutive_windows=2, cooldown_s=1.5, refractory_s=1.0)
    base.update(overrides)
    return DecisionMaker(labels, ACTIONS if actions is None else actions, DecisionSettings(**base), background)


def summary(events: list[GestureEvent]) -> list[tuple[str, float, int]]:
    return [(e.gesture, round(e.t_s, 9), e.repeat) for e in events]


# -- threshold, runs, background ---------------------------------------------------------------------------


def test_threshold_is_inclusive_and_below_it_nothing_fires() -> None:
    assert feed(maker(), [("Swipe", 0.79)] * 40) == []
    events = feed(maker(), [("Swipe", 0.8)] * 2)
    assert summary(events) == [("Swipe", HOP_S, 0)]
    event = events[0]
    assert (event.action, event.confidence, event.lag_s) == ("play", pytest.approx(0.8), HOP_S)


def test_per_gesture_threshold_overrides_the_global_one() -> None:
    m = maker(thresholds={"Thumbs Up": 0.9})
    assert m.threshold("Thumbs Up") == 0.9 and m.threshold("Swipe") == 0.8
    assert feed(m, [("Thumbs Up", 0.85)] * 10) == []
    assert summary(feed(m, [("Thumbs Up", 0.92)] * 2, t0=10.0)) == [("Thumbs Up", 10.0 + HOP_S, 0)]
    assert summary(feed(maker(thresholds={"Thumbs Up": 0.9}), [("Swipe", 0.85)] * 2)) == [("Swipe", HOP_S, 0)]


def test_consecutive_windows_must_agree_in_a_row() -> None:
    m = maker(consecutive_windows=3)
    # Two confident windows, a break, two again: never three in a row.
    seq = [("Swipe", 0.9)] * 2 + [(BG, 0.9)] + [("Swipe", 0.9)] * 2 + [("Swipe", 0.5)] + [("Swipe", 0.9)] * 2
    assert feed(m, seq) == []
    # Alternating confident gestures never build a run either.
    assert feed(maker(consecutive_windows=2), [("Swipe", 0.95), ("Stop", 0.95)] * 10) == []
    # Three in a row fire on the third, with lag = two window spacings (from the run's first window).
    events = feed(maker(consecutive_windows=3), [(BG, 0.9), ("Stop", 0.9), ("Stop", 0.91), ("Stop", 0.93)])
    assert summary(events) == [("Stop", 3 * HOP_S, 0)]
    assert events[0].lag_s == pytest.approx(2 * HOP_S) and events[0].confidence == pytest.approx(0.93)


def test_background_top1_resets_the_run_even_when_the_gesture_is_likely() -> None:
    # Swipe at 0.45 under a background top-1 of 0.5 is not a confident Swipe window.
    labels = LABELS
    mixed = np.array([0.45, 0.02, 0.02, 0.01, 0.5], dtype=np.float32)
    m = maker(threshold=0.4)
    assert m.update(probs("Swipe", 0.9), 0.0) == []
    assert m.update(mixed, 0.25) == []  # top-1 is background: the run ends
    assert m.update(probs("Swipe", 0.9), 0.5) == []  # a new run of length 1
    assert summary(m.update(probs("Swipe", 0.9), 0.75)) == [("Swipe", 0.75, 0)]
    assert labels[int(np.argmax(mixed))] == BG


def test_background_class_never_fires_even_when_mapped() -> None:
    m = maker(actions={**ACTIONS, BG: "mute"})  # a config mapping the background class is ignored
    assert feed(m, [(BG, 0.99)] * 30) == []


def test_without_background_class_threshold_alone_rejects() -> None:
    labels = ("Swipe", "Stop", "Thumbs Down", "Thumbs Up")
    m = maker(labels=labels, background=None)
    assert m.background_index == -1
    # Uncertain windows (top-1 below threshold) are rejected and break runs.
    seq = [("Stop", 0.6), ("Stop", 0.85), ("Stop", 0.7), ("Stop", 0.85), ("Swipe", 0.4)]
    assert feed(m, seq) == []
    assert summary(feed(m, [("Stop", 0.85), ("Stop", 0.85)], t0=5.0)) == [("Stop", 5.0 + HOP_S, 0)]


# -- re-arm, cooldown, refractory ----------------------------------------------------------------------------


def test_a_long_smear_gives_exactly_one_event() -> None:
    # 10 s of the same confident gesture: far longer than the cooldown, still one event (re-arm needed).
    events = feed(maker(cooldown_s=0.5, refractory_s=0.0), [("Swipe", 0.97)] * 40)
    assert summary(events) == [("Swipe", HOP_S, 0)]


def test_rearm_then_cooldown_then_fire_again() -> None:
    m = maker(cooldown_s=1.5, refractory_s=0.0)
    seq = ([("Swipe", 0.9)] * 2      # t 0.0, 0.25: fires at 0.25
           + [(BG, 0.9)]             # 0.5: re-armed
           + [("Swipe", 0.9)] * 6    # 0.75 .. 2.0: run long enough at 1.0, cooldown holds until 1.75
           + [(BG, 0.9)]             # 2.25
           + [("Swipe", 0.9)] * 2)   # 2.5, 2.75: cooldown since 1.75 not over (ends 3.25)
    events = feed(m, seq)
    assert summary(events) == [("Swipe", 0.25, 0), ("Swipe", 1.75, 0)]
    # The held-back run measures its lag from its first window (0.75), not from when the cooldown ended.
    assert events[1].lag_s == pytest.approx(1.0)
    assert m.counters["held_cooldown"] == 4  # 1.0, 1.25, 1.5 of the second run, 2.75 of the third


def test_status_says_what_holds_the_next_gesture_back() -> None:
    m = maker(cooldown_s=1.5, refractory_s=1.0, rearm_below=0.5)
    assert m.status(0.0).text() == "armed" and m.status(0.0).armed
    feed(m, [("Stop", 0.9)])                                 # t 0.0: a run of 1
    assert m.status(0.0).text() == "run Stop 1/2"
    feed(m, [("Stop", 0.9)], t0=0.25)                        # fires at 0.25
    status = m.status(0.25)
    assert not status.armed and status.fired and status.run_gesture == "Stop"
    assert status.parts() == ["Stop fired, re-arms < 0.50", "cooling down Stop 1.5 s", "refractory 1.0 s"]
    feed(m, [(BG, 0.9)], t0=0.5)                             # re-armed, still cooling down
    assert m.status(0.5).text() == "cooling down Stop 1.2 s | refractory 0.8 s"
    assert m.status(1.75).text() == "armed"                  # both over (the state itself is unchanged)
    assert list(m.thresholds_by_label) == [0.8] * len(LABELS)


def test_a_dip_inside_one_smear_does_not_rearm_but_a_real_drop_does() -> None:
    # The demo stream's doubled Thumbs Down: 0.85, 0.85, then one window at 0.74 in the middle of the smear,
    # then 1.0 for 2 s -- past the 1.5 s cooldown. With hysteresis the dip keeps the run: one event.
    smear = [("Thumbs Down", 0.85)] * 3 + [("Thumbs Down", 0.74)] + [("Thumbs Down", 1.0)] * 10
    m = maker(cooldown_s=1.5, refractory_s=0.0)
    assert summary(feed(m, smear)) == [("Thumbs Down", 0.25, 0)]
    assert m.counters["held_hysteresis"] == 1
    # Without it (rearm_below above the threshold: every dip re-arms) the same windows fire twice.
    assert len(feed(maker(cooldown_s=1.5, refractory_s=0.0, rearm_below=0.81), smear)) == 2
    # A drop below rearm_below, or another top-1, re-arms as before.
    for gap in [("Thumbs Down", 0.45), (BG, 0.6), ("Stop", 0.5)]:
        events = feed(maker(cooldown_s=0.0, refractory_s=0.0), smear[:2] + [gap] + smear[:2])
        assert summary(events) == [("Thumbs Down", 0.25, 0), ("Thumbs Down", 1.0, 0)], gap


def test_a_dip_pauses_auto_repeat_without_ending_the_hold() -> None:
    m = maker(cooldown_s=0.0, refractory_s=0.0, repeat_enabled=True, repeat_after_s=0.5, repeat_every_s=0.5,
              repeat_max=5)
    seq = [("Thumbs Up", 0.9)] * 2 + [("Thumbs Up", 0.6)] * 2 + [("Thumbs Up", 0.9)] * 2
    # fires at 0.25; the repeat due at 0.75 is put off by the dip (0.5, 0.75) to 0.75 + 0.5, and the hold
    # goes on (repeat 1, not a new event)
    seq += [("Thumbs Up", 0.9)]
    assert summary(feed(m, seq)) == [("Thumbs Up", 0.25, 0), ("Thumbs Up", 1.25, 1)]


def test_cooldown_is_per_gesture() -> None:
    m = maker(cooldown_s=5.0, refractory_s=0.0)
    seq = [("Swipe", 0.9)] * 2 + [("Stop", 0.9)] * 2 + [(BG, 0.9)] + [("Swipe", 0.9)] * 2
    assert summary(feed(m, seq)) == [("Swipe", 0.25, 0), ("Stop", 0.75, 0)]


def test_refractory_blocks_other_gestures_then_lets_a_held_one_through() -> None:
    m = maker(cooldown_s=0.0, refractory_s=1.0)
    # Swipe fires at 0.25; Stop is confident from 0.5 on, long enough at 0.75, held back until 1.25.
    events = feed(m, [("Swipe", 0.9)] * 2 + [("Stop", 0.9)] * 6)
    assert summary(events) == [("Swipe", 0.25, 0), ("Stop", 1.25, 0)]
    assert events[1].lag_s == pytest.approx(0.75)
    # A transition blip shorter than the refractory period gives nothing.
    m2 = maker(cooldown_s=0.0, refractory_s=1.0)
    events = feed(m2, [("Swipe", 0.9)] * 2 + [("Stop", 0.9)] * 3 + [(BG, 0.9)] * 4)
    assert summary(events) == [("Swipe", 0.25, 0)]
    assert m2.counters["held_refractory"] == 2


def test_time_slack_absorbs_float_sums() -> None:
    # Window times come from float arithmetic: 2.3 - 0.8 is 1.4999999999999998. A 1.5 s cooldown from an
    # event at 0.8 must be over at the window at 2.3, not one window later.
    m = maker(cooldown_s=1.5, refractory_s=0.0, consecutive_windows=1)
    assert 2.3 - 0.8 < 1.5
    events = []
    for label, t in (("Swipe", 0.8), (BG, 0.9), ("Swipe", 2.3)):
        events += m.update(probs(label, 0.9), t)
    assert [e.t_s for e in events] == [0.8, 2.3]
    assert TIME_EPS_S < 1e-3  # far below any window spacing


# -- auto-repeat ---------------------------------------------------------------------------------------------


def test_auto_repeat_times_and_maximum() -> None:
    m = maker(repeat_enabled=True, repeat_gestures=("Thumbs Up",), repeat_after_s=1.0, repeat_every_s=0.5,
              repeat_max=3, cooldown_s=1.5, refractory_s=1.0)
    events = feed(m, [("Thumbs Up", 0.9)] * 24)  # held for 6 s
    assert summary(events) == [("Thumbs Up", 0.25, 0), ("Thumbs Up", 1.25, 1), ("Thumbs Up", 1.75, 2),
                               ("Thumbs Up", 2.25, 3)]
    assert [e.action for e in events] == ["volume_up"] * 4
    assert [round(e.lag_s, 9) for e in events] == [0.25, 1.25, 1.75, 2.25]  # all from the same run start


def test_auto_repeat_restarts_per_hold_and_only_for_listed_gestures() -> None:
    m = maker(repeat_enabled=True, repeat_gestures=("Thumbs Up",), repeat_after_s=0.5, repeat_every_s=0.5,
              repeat_max=1, cooldown_s=0.0, refractory_s=0.0)
    seq = [("Thumbs Up", 0.9)] * 6 + [(BG, 0.9)] + [("Thumbs Up", 0.9)] * 6 + [("Swipe", 0.9)] * 8
    events = feed(m, seq)
    assert summary(events) == [("Thumbs Up", 0.25, 0), ("Thumbs Up", 0.75, 1),
                               ("Thumbs Up", 2.0, 0), ("Thumbs Up", 2.5, 1),
                               ("Swipe", 3.5, 0)]


def test_auto_repeat_is_off_unless_enabled() -> None:
    m = maker(repeat_enabled=False, repeat_gestures=("Thumbs Up",), repeat_after_s=0.5, repeat_every_s=0.5)
    assert summary(feed(m, [("Thumbs Up", 0.9)] * 20)) == [("Thumbs Up", 0.25, 0)]


def test_a_window_gap_does_not_burst_repeats() -> None:
    m = maker(repeat_enabled=True, repeat_gestures=("Thumbs Down",), repeat_after_s=0.5, repeat_every_s=0.5,
              repeat_max=10)
    events = []
    for t in (0.0, 0.25, 0.75, 3.75, 4.0, 4.25):  # windows missing between 0.75 and 3.75
        events += m.update(probs("Thumbs Down", 0.9), t)
    assert summary(events) == [("Thumbs Down", 0.25, 0), ("Thumbs Down", 0.75, 1), ("Thumbs Down", 3.75, 2),
                               ("Thumbs Down", 4.25, 3)]


def test_a_late_repeat_whose_schedule_lands_on_its_own_window_does_not_burst() -> None:
    # The first repeat is due at 8.082 but the next window comes at 8.382 (a gap); the schedule's next slot,
    # 8.082 + 0.3, is that very window up to float rounding, which must not decide a burst at 8.482: the next
    # repeat waits repeat_every_s after the late one, at any offset of the clock (found by the property test
    # below at t + 1000 s).
    for t0 in (0.0, 1000.0):
        m = maker(threshold=0.5, cooldown_s=0.0, refractory_s=0.0, repeat_enabled=True,
                  repeat_gestures=("Thumbs Down",), repeat_after_s=0.6, repeat_every_s=0.3, repeat_max=2)
        events = []
        for t in (6.782, 7.482, 7.682, 8.382, 8.482):
            events += m.update(probs("Thumbs Down", 0.6), t0 + t)
        assert [(e.gesture, round(e.t_s - t0, 6), e.repeat) for e in events] == \
            [("Thumbs Down", 7.482, 0), ("Thumbs Down", 8.382, 1)], t0


# -- actions, errors, reset ----------------------------------------------------------------------------------


def test_unmapped_gesture_gives_no_event_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    actions = {g: a for g, a in ACTIONS.items() if g != "Stop"}
    m = maker(actions=actions, cooldown_s=0.0, refractory_s=1.0)
    with caplog.at_level(logging.WARNING, logger="edge.decision"):
        seq = [("Stop", 0.9)] * 3 + [(BG, 0.9)] + [("Stop", 0.9)] * 3 + [("Swipe", 0.9)] * 2
        events = feed(m, seq)
    # No event for Stop, and no refractory from it either: Swipe fires at once.
    assert summary(events) == [("Swipe", 2.0, 0)]
    warnings = [r for r in caplog.records if "no action is bound" in r.getMessage()]
    assert len(warnings) == 1 and "'Stop'" in warnings[0].getMessage()
    assert m.counters["unmapped"] == 2


def test_config_actions_overlay_the_manifest() -> None:
    merged = merged_actions(ACTIONS, {"Swipe": "play_pause", "Stop": "stop"})
    assert merged == {"Swipe": "play_pause", "Stop": "stop", "Thumbs Up": "volume_up", "Thumbs Down": "volume_down"}
    m = DecisionMaker(LABELS, merged, DecisionSettings(), BG)
    assert [e.action for e in feed(m, [("Swipe", 0.99)] * 2)] == ["play_pause"]


def test_bad_input_is_refused() -> None:
    m = maker()
    with pytest.raises(ValueError, match=r"expected shape \(5,\)"):
        m.update(np.zeros(4, dtype=np.float32), 0.0)
    with pytest.raises(ValueError, match="background label"):
        DecisionMaker(LABELS, ACTIONS, DecisionSettings(), "Nothing")


def test_smoothing_averages_the_last_windows() -> None:
    flicker = [("No gesture", 0.9)] * 3 + [("Swipe", 0.99)] + [("No gesture", 0.9)] * 3
    assert summary(feed(maker(consecutive_windows=1), flicker)) == [("Swipe", 0.75, 0)]
    assert feed(maker(consecutive_windows=1, smooth_windows=3), flicker) == []  # mean 0.35
    # A held gesture fires once the mean of its last 3 windows reaches the threshold: its third window.
    held = [("No gesture", 0.9)] * 3 + [("Swipe", 0.9)] * 4
    events = feed(maker(consecutive_windows=1, smooth_windows=3), held)
    assert summary(events) == [("Swipe", 1.25, 0)]
    assert events[0].confidence == pytest.approx(0.9)  # the mean the rules saw
    # Right after a reset the mean is over the windows seen since.
    m = maker(consecutive_windows=1, smooth_windows=3)
    feed(m, [("No gesture", 0.9)] * 3)
    m.reset()
    assert summary(feed(m, [("Swipe", 0.9)], t0=5.0)) == [("Swipe", 5.0, 0)]


def test_seen_is_what_the_rules_compared() -> None:
    plain, smoothed = maker(), maker(smooth_windows=2)
    assert plain.seen is None and smoothed.seen is None
    for m in (plain, smoothed):
        m.update(probs("No gesture", 0.9), 0.0)
        m.update(probs("Swipe", 0.9), 0.25)
    assert np.array_equal(plain.seen, probs("Swipe", 0.9))
    assert np.allclose(smoothed.seen, (probs("No gesture", 0.9) + probs("Swipe", 0.9)) / 2)


def test_smoothing_keeps_no_reference_to_the_callers_array() -> None:
    m = maker(consecutive_windows=1, smooth_windows=2)
    buffer = probs("No gesture", 0.9)
    m.update(buffer, 0.0)
    buffer[:] = probs("Swipe", 0.9)  # a caller reusing its buffer must not rewrite the history
    assert m.update(buffer, 0.25) == []  # mean Swipe (0.025 + 0.9) / 2 < 0.8


def test_reset_forgets_runs_cooldown_and_refractory() -> None:
    m = maker(cooldown_s=60.0, refractory_s=60.0)
    assert len(feed(m, [("Swipe", 0.9)] * 2)) == 1
    m.update(probs("Swipe", 0.9), 0.5)  # a run of one, mid-way
    m.reset()
    assert m.state == type(m.state)()
    assert summary(feed(m, [("Swipe", 0.9)] * 2, t0=1.0)) == [("Swipe", 1.25, 0)]


def test_time_going_back_resets_the_state() -> None:
    m = maker(cooldown_s=60.0, refractory_s=60.0)
    assert len(feed(m, [("Swipe", 0.9)] * 2, t0=100.0)) == 1
    # A looped file starts again at 0: the 60 s cooldown from t=100 must not apply.
    assert summary(feed(m, [("Swipe", 0.9)] * 2, t0=0.0)) == [("Swipe", 0.25, 0)]


def test_event_to_json_is_plain() -> None:
    event = GestureEvent("Swipe", "play", np.float32(0.875), np.float64(3.5), 0.25, 1)
    data = event.to_json()
    assert data == {"gesture": "Swipe", "action": "play", "confidence": 0.875, "t_s": 3.5, "lag_s": 0.25,
                    "repeat": 1}
    assert all(type(v) in (str, float, int) for v in data.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.t_s = 1.0  # type: ignore[misc]


def test_the_module_reads_no_clock() -> None:
    # Time comes only from t_s: the module does not even import a clock.
    for name in ("time", "datetime", "monotonic", "perf_counter"):
        assert not hasattr(edge.decision, name), name


# -- properties ----------------------------------------------------------------------------------------------

CLASSES = st.sampled_from(range(len(LABELS)))


@st.composite
def streams(draw: st.DrawFn) -> tuple[DecisionSettings, list[tuple[np.ndarray, float]]]:
    """Random decision settings and a window stream with runs (gestures are held for a few windows)."""
    config = DecisionSettings(
        threshold=draw(st.sampled_from([0.5, 0.7, 0.8])),
        thresholds=draw(st.sampled_from([{}, {"Thumbs Up": 0.9}])),
        consecutive_windows=draw(st.integers(1, 4)),
        cooldown_s=draw(st.sampled_from([0.0, 0.4, 1.5])),
        refractory_s=draw(st.sampled_from([0.0, 0.3, 1.0])),
        repeat_enabled=draw(st.booleans()),
        repeat_gestures=("Thumbs Up", "Thumbs Down"),
        repeat_after_s=draw(st.sampled_from([0.2, 0.6])),
        repeat_every_s=draw(st.sampled_from([0.1, 0.3])),
        repeat_max=draw(st.integers(0, 3)),
    )
    windows = []
    t_ms = draw(st.integers(0, 10_000))
    for _ in range(draw(st.integers(1, 25))):
        label = draw(CLASSES)
        for _ in range(draw(st.integers(1, 8))):
            p = draw(st.sampled_from([0.3, 0.6, 0.75, 0.85, 0.95]))
            windows.append((probs(LABELS[label], p), t_ms / 1000.0))
            t_ms += draw(st.sampled_from([100, 200, 200, 200, 700]))
    return config, windows


def run_all(config: DecisionSettings, windows: list[tuple[np.ndarray, float]], cuts: list[int] | None = None
            ) -> list[GestureEvent]:
    m = DecisionMaker(LABELS, ACTIONS, config, BG)
    events = []
    cut_points = set(cuts or [])
    for i, (p, t) in enumerate(windows):
        if i in cut_points:
            m = copy.deepcopy(m)  # a checkpoint: processing resumes later, elsewhere, at another speed
        events += m.update(p, t)
    return events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.lists(st.integers(0, 200), max_size=6))
def test_events_depend_only_on_the_stream(data, cuts) -> None:
    config, windows = data
    once = run_all(config, windows)
    assert run_all(config, windows) == once  # equal streams, equal events
    assert run_all(config, windows, cuts) == once  # however the stream is split up
    # Shifting every timestamp shifts every event by the same amount and changes nothing else.
    shifted = run_all(config, [(p, t + 1000.0) for p, t in windows])
    assert [dataclasses.replace(e, t_s=round(e.t_s - 1000.0, 6), lag_s=round(e.lag_s, 6)) for e in shifted] == \
        [dataclasses.replace(e, t_s=round(e.t_s, 6), lag_s=round(e.lag_s, 6)) for e in once]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_event_invariants(data) -> None:
    config, windows = data
    events = run_all(config, windows)
    by_t = {t: p for p, t in windows}
    last_any = -math.inf
    last_first: dict[str, float] = {}
    repeats_in_hold = 0
    for event in events:
        p = by_t[event.t_s]
        top = LABELS[int(np.argmax(p))]
        assert top == event.gesture != BG
        assert p[LABELS.index(top)] >= config.thresholds.get(top, config.threshold)
        assert event.action == ACTIONS[event.gesture]
        assert 0 <= event.lag_s <= event.t_s - windows[0][1] + 1e-9
        if event.repeat == 0:
            assert event.t_s - last_any >= config.refractory_s - 2 * TIME_EPS_S
            assert event.t_s - last_first.get(event.gesture, -math.inf) >= config.cooldown_s - 2 * TIME_EPS_S
            assert event.lag_s >= (config.consecutive_windows - 1) * 0.1 - 1e-9
            repeats_in_hold = 0
        else:
            assert config.repeat_enabled and event.gesture in config.repeat_gestures
            repeats_in_hold += 1
            assert event.repeat == repeats_in_hold <= config.repeat_max
        last_any = event.t_s
        last_first[event.gesture] = event.t_s


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.integers(2, 4), st.lists(st.integers(0, 200), max_size=4))
def test_smoothing_is_the_same_as_smoothed_probabilities(data, windows, cuts) -> None:
    # What the tuner relies on: rule 0 over raw windows == no smoothing over smooth_probs' rows, bit for bit,
    # however the stream is checkpointed.
    config, stream = data
    smoothed = smooth_probs(np.stack([p for p, _ in stream]), windows)
    expected = run_all(config, [(p, t) for p, (_, t) in zip(smoothed, stream)])
    assert run_all(dataclasses.replace(config, smooth_windows=windows), stream, cuts) == expected
