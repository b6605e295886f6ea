"""Streaming inference with staggered recurrent states, all stepped in one call per frame.

The recurrent model was trained on clips of T frames, each starting from a zero state. A sliding window that
re-ran the clip model would cost T feature passes and T steps per decision. Instead, per camera frame the
feature model runs exactly once, and a small set of staggered states is kept: a new state starts every
`hop_frames` frames, every live state is stepped with each new feature vector, and a state that has seen T
frames emits its class probabilities and retires. At most ceil(T / hop) states are live; they are the rows of
one batch, so a frame costs one feature call plus one step call of batch ceil(T / hop) (the step model's batch
dimension is resized at construction; a free slot's row is stepped too and reset when the slot is reused).
Each emitted window is exactly (bit for bit, same file, same int8 kernels, rows independent) what running
the two models on those T frames from zero state gives (`classify_window`).

Default hop: 2. With T = 20 frames at the demo model's 10 fps a window closes every 0.2 s (decision latency
granularity) for 1 feature pass + 10 states stepped per frame, in one call; docs/BENCHMARKS.md has the
figures against the floor (one feature call + one batched step call).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.bundle import Bundle, zero_of


@dataclass(frozen=True)
class Window:
    """The class probabilities of one T-frame window, emitted when its last frame arrives."""

    probs: np.ndarray
    """float32 class probabilities, in manifest label order."""
    probs_q: np.ndarray
    """The step model's raw output (its own encoding), for bit-exact comparisons."""
    start_index: int
    """Index (0-based, counted since the last reset) of the window's first frame."""
    end_index: int
    """Index of the window's last frame."""
    start_t_s: float
    end_t_s: float


class StreamingClassifier:
    """Feature pass once per frame + staggered recurrent states in one batch; see the module docstring."""

    def __init__(self, bundle: Bundle, hop_frames: int = 2) -> None:
        frames = bundle.frames_per_clip
        if not 1 <= hop_frames <= frames:
            raise ValueError(f"hop_frames: expected 1..{frames} (frames per clip), got {hop_frames}")
        self.bundle = bundle
        self.hop_frames = hop_frames
        self.frames_per_clip = frames
        self.slots = math.ceil(frames / hop_frames)
        step = bundle.step
        self._roles = step.state_roles
        # The step model's inputs, preallocated once, one row per slot; the per-frame path writes into them
        # in place and hands the same arrays to every call.
        self._state = step.zero_state(self.slots)
        self._zero = {role: zero_of(step.spec.inputs[role])[0] for role in self._roles}
        self._x = zero_of(step.spec.inputs["features"], self.slots)
        self._x_row = self._x[:1]
        self._inputs = {"features": self._x, **self._state}
        self._feedback = [(bundle.state_feedback[role], role, self._state[role]) for role in self._roles]
        self._start_t_s = [0.0] * self.slots
        self._index = 0
        step.resize_batch(self.slots)

    @property
    def steps_per_frame(self) -> int:
        """Recurrent states stepped per frame (in one call): ceil(T / hop)."""
        return self.slots

    @property
    def frames_seen(self) -> int:
        return self._index

    def reset(self) -> None:
        """Forget every live state and restart frame counting (e.g. after a camera gap)."""
        for role in self._roles:
            self._state[role][...] = self._zero[role]
        self._index = 0

    def push(self, frame_rgb: np.ndarray, t_s: float) -> list[Window]:
        """Run the feature model once on a model-sized RGB uint8 frame, then step every live state."""
        return self.push_features(self.bundle.features.extract(frame_rgb), t_s)

    def push_features(self, features: np.ndarray, t_s: float) -> list[Window]:
        """Step every live state with one feature vector (feature model output encoding), in one call.

        Slots are used round robin: the state started at frame s (s % hop == 0) lives in slot (s // hop) %
        slots and retires at frame s + T - 1, before slots * hop >= T frames bring that slot round again.
        Rows of free slots (the first T frames; one now and then when hop does not divide T) are stepped
        too, their results unused; a slot's rows are reset to the zero state when its window starts.
        """
        bundle, index, hop = self.bundle, self._index, self.hop_frames
        bundle.features_to_step(features, self._x_row)
        self._x[1:] = self._x_row  # the same vector in every row: one requantization, then copies
        if index % hop == 0:
            slot = (index // hop) % self.slots
            for role in self._roles:
                self._state[role][slot] = self._zero[role]
            self._start_t_s[slot] = t_s
        out = bundle.step.run(self._inputs)
        for requantize, role, state in self._feedback:
            requantize(out[role], state)
        self._index = index + 1
        start = index - self.frames_per_clip + 1
        if start < 0 or start % hop:
            return []
        slot = (start // hop) % self.slots
        probs_q = out["probs"][slot]
        return [Window(probs=bundle.probabilities(probs_q), probs_q=probs_q, start_index=start, end_index=index,
                       start_t_s=self._start_t_s[slot], end_t_s=t_s)]


def classify_window(bundle: Bundle, frames: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Class probabilities of one clip of T model-sized RGB frames, from zero state (the offline path)."""
    return classify_window_raw(bundle, frames)[0]


def classify_window_raw(bundle: Bundle, frames: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like classify_window, also returning the step model's raw probs output."""
    if len(frames) != bundle.frames_per_clip:
        raise ValueError(f"a window has {bundle.frames_per_clip} frames, got {len(frames)}")
    state = bundle.step.zero_state(1)
    x = zero_of(bundle.step.spec.inputs["features"], 1)
    out = None
    for frame in frames:  # the step model at batch 1: the same file as the stream's batch, same rows
        bundle.features_to_step(bundle.features.extract(frame), x)
        out = bundle.step.run({"features": x, **state})
        for role in state:
            bundle.state_feedback[role](out[role], state[role])
    assert out is not None
    return bundle.probabilities(out["probs"]), out["probs"].reshape(-1)
