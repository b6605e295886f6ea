"""gesture-convert's agreement gate counts clips: exact binomial bounds, verdicts, and the one-class/chance warnings.

The bounds are checked against closed forms computed here independently (no scipy in the environment):
for k = n the one-sided lower bound at confidence c is (1 - c) ** (1 / n); for k = n - 1 the upper bound is
c ** (1 / n); for 1 of 2 the lower bound is 1 - sqrt(c); for k = 0 the upper bound is 1 - (1 - c) ** (1 / n).
The report's warnings are checked on made-up evaluations here; a real one-class model converted by the CLI
is checked in tests/test_export.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from convert.report import (Evaluation, clips_needed, gate, lower_bound, model_warnings, render_markdown,
                            summarize, upper_bound)

LABELS = ("Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 15, 99, 200])
@pytest.mark.parametrize("c", [0.9, 0.95, 0.99])
def test_bounds_match_closed_forms(n: int, c: float) -> None:
    assert lower_bound(n, n, c) == pytest.approx((1 - c) ** (1 / n), abs=1e-12)
    assert upper_bound(n, n, c) == 1.0 and lower_bound(0, n, c) == 0.0
    assert upper_bound(0, n, c) == pytest.approx(1 - (1 - c) ** (1 / n), abs=1e-9)
    if n >= 2:
        # P(X <= n - 1 | p) = 1 - p**n = 1 - c  =>  p = c ** (1 / n)
        assert upper_bound(n - 1, n, c) == pytest.approx(c ** (1 / n), abs=1e-9)


def test_bounds_for_one_and_two_of_a_few() -> None:
    # 1 of 2: P(X >= 1 | p) = 1 - (1 - p)**2 = 0.05  =>  p = 1 - sqrt(0.95)
    assert lower_bound(1, 2, 0.95) == pytest.approx(1 - math.sqrt(0.95), abs=1e-9)
    # 2 of 3: P(X >= 2 | p) = 3p^2 - 2p^3 = 0.05, the root in (0, 1)
    roots = [r.real for r in np.roots([-2, 3, 0, -0.05]) if abs(r.imag) < 1e-12 and 0 < r.real < 1]
    assert lower_bound(2, 3, 0.95) == pytest.approx(roots[0], abs=1e-9)
    # and the bounds bracket the observed rate
    for k, n in ((3, 7), (9, 10), (191, 200)):
        assert lower_bound(k, n) < k / n < upper_bound(k, n)


def test_bounds_solve_their_defining_equations() -> None:
    """Clopper-Pearson: at the lower bound P(X >= k) = 1 - c, at the upper bound P(X <= k) = 1 - c (exact sums)."""
    def tail_ge(k: int, n: int, p: float) -> float:
        return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))

    for n in range(1, 13):
        for k in range(n + 1):
            if k > 0:
                assert tail_ge(k, n, lower_bound(k, n, 0.95)) == pytest.approx(0.05, abs=1e-9), (k, n)
            if k < n:
                assert 1 - tail_ge(k + 1, n, upper_bound(k, n, 0.95)) == pytest.approx(0.05, abs=1e-9), (k, n)


def test_verdicts_count_the_clips() -> None:
    # The cases: one close call in 10 clips does not fail a 97% gate, and 10 of 10 does not pass it.
    assert gate(9, 10, 0.97)["verdict"] == "inconclusive"
    ten = gate(10, 10, 0.97)
    assert ten["verdict"] == "inconclusive" and ten["lower_bound"] == pytest.approx(0.05 ** 0.1, abs=1e-6)
    # 0.97 ** 98 > 0.05 >= 0.97 ** 99: 99 clips without a flip are the fewest that show 97% at 95%
    assert 0.97 ** 98 > 0.05 >= 0.97 ** 99
    assert ten["clips_needed"] == clips_needed(0.97) == 99
    assert gate(99, 99, 0.97)["verdict"] == "pass" and gate(98, 98, 0.97)["verdict"] == "inconclusive"
    assert gate(0, 6, 0.97)["verdict"] == "fail"  # every clip flipped: shown below 97%
    assert gate(191, 200, 0.97)["verdict"] == "inconclusive"
    assert gate(180, 200, 0.97)["verdict"] == "fail"
    # max_flips: the most flips that do not fail, i.e. the upper bound of n - f agreeing still reaches the target
    for n in (10, 50, 200):
        g = gate(n, n, 0.97)
        f = g["max_flips"]
        assert upper_bound(n - f, n) >= 0.97 > upper_bound(n - f - 1, n)
        assert gate(n - f, n, 0.97)["verdict"] != "fail" and gate(n - f - 1, n, 0.97)["verdict"] == "fail"
    assert gate(0, 5, 0.0)["verdict"] == "pass"  # --min-agreement 0 turns the gate off
    assert clips_needed(1.0) is None and gate(10, 10, 1.0)["verdict"] == "inconclusive"
    with pytest.raises(ValueError):
        gate(3, 2, 0.97)


def evaluation(keras_top: list[int], int8_top: list[int], truth: list[int]) -> Evaluation:
    ev = Evaluation(labels=LABELS)
    for i, (f, q, t) in enumerate(zip(keras_top, int8_top, truth)):
        ev.clip_names.append(f"clip_{i:03d}")
        ev.truth.append(t)
        p = np.full(len(LABELS), 0.05, np.float32)
        p[f] = 0.8 - 0.01 * i  # margins differ per clip
        ev.keras_probs.append(p)
        q_probs = np.full(len(LABELS), 0.05, np.float32)
        q_probs[q] = 0.8
        ev.int8_probs.append(q_probs)
        ev.float_tflite_probs.append(p)
    return ev


def test_one_class_model_and_chance_are_warned() -> None:
    truth = [i % 5 for i in range(15)]
    one_class = evaluation([1] * 15, [1] * 15, truth)
    warnings = model_warnings(one_class)
    assert any("predicts Stop for 15 of 15" in w for w in warnings), warnings
    assert any("at chance" in w for w in warnings), warnings  # 3 of 15 right: not above 20%
    v = summarize(one_class, 0.97)
    assert v["warnings"] == warnings and v["top1_agreement"] == 1.0
    assert v["gate"]["verdict"] == "inconclusive" and v["passed"] is True  # 15 clips cannot show 97%

    good = evaluation(truth, truth, truth)
    assert model_warnings(good) == []
    # the commonest class is chance too: a validation set of mostly background, all answered "No gesture"
    mostly = [4] * 12 + [0, 1, 2]
    assert any("at chance" in w and "80.0%" in w for w in model_warnings(evaluation([4] * 15, [4] * 15, mostly)))
    # unlabelled clips: one answer for nearly all is still said
    assert any("unlabelled" in w for w in model_warnings(evaluation([2] * 9 + [0], [2] * 10, [-1] * 10)))


def test_every_flip_is_listed_with_the_float_margin() -> None:
    truth = [i % 5 for i in range(30)]
    int8 = list(truth)
    for i in (3, 17, 28):
        int8[i] = (truth[i] + 1) % 5
    v = summarize(evaluation(truth, int8, truth), 0.97)
    flips = v["disagreements"]
    assert [d["clip"] for d in flips] == ["clip_003", "clip_017", "clip_028"]
    for d, i in zip(flips, (3, 17, 28)):
        assert d["float"] == LABELS[truth[i]] and d["int8"] == LABELS[int8[i]]
        assert d["float_margin"] == pytest.approx(0.8 - 0.01 * i - 0.05, abs=1e-4)
    assert v["gate"]["flips"] == 3 and v["gate"]["verdict"] == "inconclusive"
    report = {"validation": {**v, "source": "x"}, "labels": list(LABELS), "source_model": "m.keras", "bundle": "b",
              "cell": "lstm", "quantization": "int8", "model_sizes_bytes": {"features.tflite": 1, "int8_total": 2,
                                                                            "float_total": 4},
              "tensors": {}, "calibration": {"clips": 1, "frames": 1, "steps": 1, "source": "c"},
              "normalization": "mobilenet", "input_scale": "none", "frames_per_clip": 20, "model_fps": 10.0,
              "input_size_px": [128, 128], "timing_s": {"total": 1.0, "total_cpu": 1.0}, "created_by": {}}
    md = render_markdown(report)
    assert md.count("| `clip_0") == 3 and "INCONCLUSIVE" in md and "99 clips" in md
