"""convert.pretrain: the single-frame classes the demo backbone learns, drawn from the synthetic generator."""

from __future__ import annotations

import numpy as np
import pytest

from convert import pretrain
from convert.pretrain import FRAME_CLASSES, _frame_scene, render_frames

HAND = {"palm": {"open"}, "thumb up": {"thumb_up"}, "thumb down": {"thumb_down"}, "fist": {"fist"},
        "other hand": {"open", "relaxed"}, "no hand": {"none", "ball", "box"}}
"""The pose of the frame's act for each class (objects draw as balls or boxes)."""


@pytest.mark.parametrize("frame_class", FRAME_CLASSES)
def test_each_frame_class_comes_from_the_acts_it_names(frame_class: str) -> None:
    rng = np.random.default_rng(3)
    for seed in range(40):
        scene, t = _frame_scene(frame_class, seed, rng)
        act = scene.acts[0]
        assert act.pose in HAND[frame_class], (frame_class, seed, act)
        assert act.start_s < t < act.end_s  # inside the act proper: the hand is there and in its pose
        if frame_class == "palm":
            assert act.kind in ("Swipe", "Stop")
        if frame_class == "other hand":
            assert act.kind in ("rest", "wander", "scratch")
            assert act.kind != "wander" or act.pose == "relaxed" or abs(act.tilt_deg) >= 40  # an open hand turned away


def test_frames_are_balanced_and_deterministic() -> None:
    x, y = render_frames(24, seed=5, size_hw=(32, 32))
    assert x.shape == (24, 32, 32, 3) and x.dtype == np.uint8
    assert np.bincount(y, minlength=len(FRAME_CLASSES)).tolist() == [4] * len(FRAME_CLASSES)
    again, _ = render_frames(24, seed=5, size_hw=(32, 32))
    assert np.array_equal(x, again)


def test_missing_init_weights_is_one_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    code = pretrain.main(["--out", str(tmp_path / "b.weights.h5"), "--init", str(tmp_path / "nope.weights.h5")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--init" in err and "nope.weights.h5" in err
    assert not list(tmp_path.iterdir())
