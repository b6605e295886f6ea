"""Event-level metrics on hand-made event lists: every count and figure is worked out by hand below."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.events import GestureEvent
from edge.metrics import (Truth, TruthError, TruthGesture, levenshtein, load_truth, parse_truth, score_stream,
                          truth_path_for)

ACTIONS = {"Swipe": "play", "Stop": "pause", "Thumbs Up": "volume_up", "Thumbs Down": "volume_down"}


def truth_of(*events: tuple[str, float, float], duration_s: float = 60.0) -> Truth:
    return Truth(video="x.mp4", fps=30.0, frames=int(duration_s * 30), duration_s=duration_s,
                 events=tuple(TruthGesture(g, s, e) for g, s, e in events))


def ev(gesture: str, t_s: float, repeat: int = 0) -> GestureEvent:
    # Confidence and lag play no part in scoring.
    return GestureEvent(gesture=gesture, action=ACTIONS[gesture], confidence=0.9, t_s=t_s, lag_s=0.0, repeat=repeat)


@pytest.mark.parametrize("a, b, distance", [
    ("", "", 0), ("abc", "", 3), ("", "ab", 2), ("kitten", "sitting", 3), ("flaw", "lawn", 2),
    ("abc", "abc", 0), ("abc", "acb", 2), ("intention", "execution", 5),
])
def test_levenshtein_known_values(a: str, b: str, distance: int) -> None:
    assert levenshtein(list(a), list(b)) == distance
    assert levenshtein(list(b), list(a)) == distance


def test_levenshtein_on_action_names() -> None:
    expected = ["play", "pause", "volume_up"]
    assert levenshtein(expected, ["play", "volume_up"]) == 1          # one deletion
    assert levenshtein(expected, ["play", "pause", "pause", "volume_up"]) == 1  # one insertion
    assert levenshtein(expected, ["play", "volume_down", "volume_up"]) == 1     # one substitution
    assert levenshtein(expected, []) == 3


def test_perfect_stream_lags_and_distance() -> None:
    truth = truth_of(("Swipe", 2.0, 3.0), ("Stop", 6.0, 7.5), ("Thumbs Up", 10.0, 11.0))
    score = score_stream(truth, [ev("Swipe", 3.2), ev("Stop", 7.4), ev("Thumbs Up", 11.5)], ACTIONS, max_lag_s=1.0)
    s = score.summary(frame_rate_hz=10.0)
    assert (s["truth_gestures"], s["hit"], s["exact"], s["missed"], s["doubled"], s["false"]) == (3, 3, 3, 0, 0, 0)
    assert s["exact_rate"] == 1.0
    assert s["edit_distance"] == 0 and s["edit_distance_normalised"] == 0.0
    # Lags: +0.2, -0.1 (fired before the annotated end: reported as is), +0.5 -> sorted -0.1, 0.2, 0.5.
    assert s["lag"]["count"] == 3
    assert s["lag"]["p50_ms"] == pytest.approx(200.0)
    assert s["lag"]["min_ms"] == pytest.approx(-100.0)
    assert s["lag"]["p95_ms"] == pytest.approx(470.0)  # linear: 0.2 + 0.9 * (0.5 - 0.2)
    assert s["lag"]["p50_frames"] == pytest.approx(2.0)
    assert s["lag"]["mean_ms"] == pytest.approx(200.0)


def test_doubled_missed_false_and_wrong() -> None:
    truth = truth_of(("Swipe", 2.0, 3.0), ("Stop", 6.0, 7.0), ("Thumbs Up", 10.0, 11.0), ("Thumbs Down", 14.0, 15.0))
    events = [
        ev("Swipe", 3.1), ev("Swipe", 3.6),   # hit + doubled
        ev("Thumbs Down", 6.5),               # inside Stop's interval, wrong gesture: false + wrong; Stop missed
        ev("Stop", 20.0),                     # in no interval: false
        ev("Thumbs Up", 11.9),                # outside [10, 11 + 0.8]: false; Thumbs Up missed
        ev("Thumbs Down", 15.3),              # hit
    ]
    score = score_stream(truth, events, ACTIONS, max_lag_s=0.8)
    s = score.summary(10.0)
    assert s["truth_gestures"] == 4
    assert s["hit"] == 2 and s["exact"] == 1 and s["exact_rate"] == 0.25
    assert s["missed"] == 2 and s["doubled"] == 1 and s["false"] == 3 and s["wrong"] == 1
    per = s["per_gesture"]
    assert per["Swipe"]["hit"] == 1 and per["Swipe"]["doubled"] == 1 and per["Swipe"]["exact"] == 0
    assert per["Stop"]["missed"] == 1 and per["Stop"]["false"] == 1  # the event at 20 s counts under Stop
    assert per["Thumbs Down"]["false"] == 1 and per["Thumbs Down"]["wrong"] == 1 and per["Thumbs Down"]["exact"] == 1
    assert per["Thumbs Up"]["missed"] == 1 and per["Thumbs Up"]["false"] == 1
    # expected play pause volume_up volume_down vs emitted (by time) play play volume_down volume_up
    # volume_down pause: substitute pause->play, insert volume_down, insert pause at the end -> 3.
    assert s["edit_distance"] == 3 and s["expected_actions"] == 4 and s["edit_distance_normalised"] == 0.75
    assert [round(h.lag_s, 6) for h in score.hits] == [0.1, 0.3]


def test_event_on_interval_edges_and_events_out_of_order() -> None:
    truth = truth_of(("Stop", 5.0, 6.0))
    on_start = score_stream(truth, [ev("Stop", 5.0)], ACTIONS, max_lag_s=1.0).summary(10.0)
    assert on_start["hit"] == 1 and on_start["lag"]["p50_ms"] == pytest.approx(-1000.0)
    on_end = score_stream(truth, [ev("Stop", 7.0)], ACTIONS, max_lag_s=1.0).summary(10.0)
    assert on_end["hit"] == 1 and on_end["lag"]["p50_ms"] == pytest.approx(1000.0)
    before = score_stream(truth, [ev("Stop", 4.99)], ACTIONS, max_lag_s=1.0).summary(10.0)
    assert before["hit"] == 0 and before["false"] == 1 and before["missed"] == 1
    # Given out of order, the earlier event is the hit and the later one the doubled.
    twice = score_stream(truth, [ev("Stop", 6.8), ev("Stop", 6.2)], ACTIONS, max_lag_s=1.0)
    assert [h.event_t_s for h in twice.hits] == [6.2]
    assert twice.summary(10.0)["doubled"] == 1


def test_overlapping_intervals_same_gesture_hit_one_each() -> None:
    # Two swipes 0.5 s apart: their match intervals overlap; two events hit one each, a third is doubled.
    truth = truth_of(("Swipe", 1.0, 2.0), ("Swipe", 2.5, 3.5))
    score = score_stream(truth, [ev("Swipe", 2.3), ev("Swipe", 2.9), ev("Swipe", 3.9)], ACTIONS, max_lag_s=1.0)
    s = score.summary(10.0)
    assert s["hit"] == 2 and s["doubled"] == 1 and s["missed"] == 0
    assert s["exact"] == 1  # the event at 3.9 s lies only in the second swipe's interval: that one is spoiled
    assert [round(h.lag_s, 6) for h in score.hits] == [0.3, -0.6]


def test_repeats_are_counted_apart() -> None:
    truth = truth_of(("Thumbs Up", 1.0, 4.0))
    events = [ev("Thumbs Up", 4.2), ev("Thumbs Up", 4.7, repeat=1), ev("Thumbs Up", 5.2, repeat=2)]
    s = score_stream(truth, events, ACTIONS, max_lag_s=1.5).summary(10.0)
    assert s["events"] == 1 and s["repeats"] == 2 and s["exact"] == 1 and s["doubled"] == 0
    assert s["edit_distance"] == 0


def test_background_false_per_hour_pooled() -> None:
    background = truth_of(duration_s=600.0)  # 10 minutes, no gestures
    quiet = score_stream(background, [], ACTIONS)
    noisy = score_stream(background, [ev("Stop", 100.0), ev("Swipe", 300.0)], ACTIONS)
    gestures = score_stream(truth_of(("Stop", 5.0, 6.0), duration_s=30.0), [ev("Swipe", 20.0)], ACTIONS)
    total = quiet
    total.add(noisy)
    total.add(gestures)
    s = total.summary(10.0)
    assert s["streams"] == 3
    assert s["background_footage_min"] == pytest.approx(20.0)
    assert s["footage_min"] == pytest.approx(20.5)
    assert s["background_false"] == 2
    assert s["false_per_hour_background"] == pytest.approx(6.0)  # 2 events / (20 / 60) h
    assert s["false"] == 3  # the swipe in the gesture stream is false, but not background footage
    # Background streams expect nothing: 0 + 2 insertions + 1 substitution (pause -> play).
    assert s["edit_distance"] == 3 and s["expected_actions"] == 1
    assert s["edit_distance_normalised"] == pytest.approx(3.0)
    empty = score_stream(background, [], ACTIONS).summary(10.0)
    assert empty["false_per_hour_background"] == 0.0 and empty["exact_rate"] is None
    assert empty["lag"]["count"] == 0 and empty["lag"]["p50_ms"] is None and empty["edit_distance_normalised"] is None


def test_truth_files(tmp_path) -> None:
    video = tmp_path / "walk.mp4"
    assert truth_path_for(video) == tmp_path / "walk.truth.json"
    with pytest.raises(TruthError, match="no ground truth walk.truth.json"):
        load_truth(video)
    good = {"video": "walk.mp4", "fps": 30.0, "frames": 90, "duration_s": 3.0, "seed": 4,
            "events": [{"gesture": "Stop", "start_s": 1.5, "end_s": 2.5}, {"gesture": "Swipe", "start_s": 0.2,
                                                                           "end_s": 1.0}]}
    truth_path_for(video).write_text(json.dumps(good))
    truth = load_truth(video)
    assert [e.gesture for e in truth.events] == ["Swipe", "Stop"]  # sorted by start
    assert truth.seed == 4 and not truth.background_only
    for field, value, message in [("fps", 0, "field fps: expected a number > 0"),
                                  ("events", None, "field events: expected a list"),
                                  ("frames", 2.5, "field frames: expected a positive integer")]:
        with pytest.raises(TruthError, match=message):
            parse_truth({**good, field: value}, "t.json")
    bad_event = {**good, "events": [{"gesture": "Stop", "start_s": 3.0, "end_s": 2.0}]}
    with pytest.raises(TruthError, match=r"events\[0\]: expected 0 <= start_s <= end_s"):
        parse_truth(bad_event, "t.json")
    truth_path_for(video).write_text("{not json")
    with pytest.raises(TruthError, match="not valid JSON"):
        load_truth(video)


def test_negative_max_lag_rejected() -> None:
    with pytest.raises(ValueError, match="max_lag_s"):
        score_stream(truth_of(), [], ACTIONS, max_lag_s=-0.1)


def test_lag_percentiles_match_numpy() -> None:
    rng = np.random.default_rng(3)
    ends = np.arange(20) * 5.0 + 2.0
    lags = rng.uniform(-0.2, 0.9, size=20)
    truth = truth_of(*[("Stop", e - 1.0, e) for e in ends], duration_s=120.0)
    s = score_stream(truth, [ev("Stop", e + lag) for e, lag in zip(ends, lags)], ACTIONS, max_lag_s=1.0)
    summary = s.summary(15.0)
    assert summary["hit"] == 20
    assert summary["lag"]["p50_ms"] == pytest.approx(np.median(lags) * 1000)
    assert summary["lag"]["p95_ms"] == pytest.approx(np.percentile(lags, 95) * 1000)
    assert summary["lag"]["p95_frames"] == pytest.approx(np.percentile(lags, 95) * 15.0)
