"""scripts/eval_fresh.py: how two runs' events are compared (the stability figures of the README)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "eval_fresh.py"


@pytest.fixture(scope="module")
def ef():
    spec = importlib.util.spec_from_file_location("eval_fresh", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_fresh"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("eval_fresh", None)


TRUTH = {"s": [("Stop", 10.0, 11.0), ("Swipe", 20.0, 21.0)]}


def test_events_within_the_time_tolerance_are_the_same(ef):
    a = {"s": [("Stop", 10.5), ("Swipe", 20.6)]}
    b = {"s": [("Stop", 10.7), ("Swipe", 20.4)]}
    assert ef.shared_fraction(a, b) == 1.0
    assert ef.shared_fraction(a, {"s": [("Stop", 10.9), ("Swipe", 20.6)]}) == 0.5


def test_events_answering_the_same_performed_gesture_are_the_same_given_the_truth(ef):
    a = {"s": [("Stop", 10.2), ("Swipe", 20.6)]}
    b = {"s": [("Stop", 11.0), ("Swipe", 22.4)]}  # 0.8 s and 1.8 s later, both still inside their gesture's span
    assert ef.shared_fraction(a, b) == 0.0
    assert ef.shared_fraction(a, b, TRUTH) == 1.0
    # past end_s + MAX_LAG_S an event answers nothing, so only the time tolerance can pair it
    late = {"s": [("Stop", 10.2), ("Swipe", 21.0 + ef.MAX_LAG_S + 0.2)]}
    assert ef.shared_fraction(a, late, TRUTH) == 0.5


def test_another_gesture_or_an_extra_event_is_not_shared(ef):
    a = {"s": [("Stop", 10.2), ("Swipe", 20.6)]}
    wrong = {"s": [("Swipe", 10.2), ("Swipe", 20.6)]}
    assert ef.shared_fraction(a, wrong, TRUTH) == 0.5
    extra = {"s": [("Stop", 10.2), ("Stop", 10.6), ("Swipe", 20.6), ("Stop", 40.0)]}
    # each event is used once; the larger count (4) is the denominator
    assert ef.shared_fraction(a, extra, TRUTH) == 0.5
    assert ef.shared_fraction({"s": []}, {"s": []}, TRUTH) == 1.0
    assert ef.shared_fraction(a, {}, TRUTH) == 0.0


def test_answered_follows_gesture_bench_matching(ef):
    truth = TRUTH["s"]
    assert ef.answered("Stop", 9.99, truth) is None
    assert ef.answered("Stop", 10.0, truth) == 0
    assert ef.answered("Stop", 11.0 + ef.MAX_LAG_S, truth) == 0
    assert ef.answered("Swipe", 10.5, truth) is None
    assert ef.answered("Swipe", 20.5, truth) == 1


def test_truth_and_events_are_read_per_stream_stem(ef):
    report = {"streams": [{"name": "gestures_s1_0.mjpg.avi",
                           "events": [{"gesture": "Stop", "t_s": 10.4}],
                           "truth_events": [{"gesture": "Stop", "start_s": 10, "end_s": 11}]}]}
    assert ef.events_of(report) == {"gestures_s1_0": [("Stop", 10.4)]}
    assert ef.truth_of(report) == {"gestures_s1_0": [("Stop", 10.0, 11.0)]}
