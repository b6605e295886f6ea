"""Streaming inference with staggered recurrent states.

The recurrent model was trained on clips of T frames, each starting from a zero state. A sliding window that
re-ran the clip model would cost T feature passes and T steps per decision. Instead, per camera frame the
feature model runs exactly once, and a small set of staggered states is kept: a new state starts every
`hop_frames` frames, every live state is stepped with each new feature vector, and a state that has seen T
frames emits its class probabilities and retires. At most ceil(T / hop) states are live, so a frame costs one
feature pass plus ceil(T / hop) steps, and each emitted window is exactly (bit for bit, same int8 kernels) what
running the two models on those T frames from zero state gives.

Default hop: 2. With T = 20 frames at the demo model's 10 fps a window closes every 0.2 s (decision latency
granularity) for 1 feature pass + 10 steps per frame; a step is ~40x cheaper than a feature pass at the
default sizes, so halving the hop again would buy 0.1 s for twice the step cost.
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
    """Feature pass once per frame + staggered recurrent states; see the module docstring."""

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
        # One preallocated array per state role and slot; the per-frame path writes into them in place.
        self._state = {role: np.stack([zero_of(step.spec.inputs[role])] * self.slots) for role in self._roles}
        self._zero = {role: zero_of(step.spec.inputs[role]) for role in self._roles}
        self._x = zero_of(step.spec.inputs["features"])
        self._age = np.full(self.slots, -1, dtype=np.int64)
        self._start_index = np.zeros(self.slots, dtype=np.int64)
        self._start_t_s = np.zeros(self.slots, dtype=np.float64)
        self._index = 0

    @property
    def steps_per_frame(self) -> int:
        """Recurrent steps per frame once the stream is warm: ceil(T / hop)."""
        return self.slots

    @property
    def frames_seen(self) -> int:
        return self._index

    def reset(self) -> None:
        """Forget every live state and restart frame counting (e.g. after a camera gap)."""
        self._age[:] = -1
        for role in self._roles:
            self._state[role][...] = self._zero[role]
        self._index = 0

    def push(self, frame_rgb: np.ndarray, t_s: float) -> list[Window]:
        """Run the feature model once on a model-sized RGB uint8 frame, then step every live state."""
        return self.push_features(self.bundle.features.extract(frame_rgb), t_s)

    def push_features(self, features: np.ndarray, t_s: float) -> list[Window]:
        """Step every live state with one feature vector (feature model output encoding)."""
        bundle = self.bundle
        bundle.features_to_step(features, self._x)
        if self._index % self.hop_frames == 0:
            free = int(np.argmin(self._age))  # -1 marks a free slot; there is always one at a hop boundary
            if self._age[free] >= 0:
                raise AssertionError("no free recurrent state slot (hop/slot arithmetic broken)")
            for role in self._roles:
                self._state[role][free] = self._zero[role]
            self._age[free] = 0
            self._start_index[free] = self._index
            self._start_t_s[free] = t_s
        windows = []
        for slot in np.flatnonzero(self._age >= 0):
            out = bundle.step.run({"features": self._x, **{r: self._state[r][slot] for r in self._roles}})
            for role in self._roles:
                bundle.state_feedback[role](out[role], self._state[role][slot])
            self._age[slot] += 1
            if self._age[slot] == self.frames_per_clip:
                windows.append(Window(
                    probs=bundle.probabilities(out["probs"]), probs_q=out["probs"].reshape(-1),
                    start_index=int(self._start_index[slot]), end_index=self._index,
                    start_t_s=float(self._start_t_s[slot]), end_t_s=t_s,
                ))
                self._age[slot] = -1
        self._index += 1
        return windows


def classify_window(bundle: Bundle, frames: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Class probabilities of one clip of T model-sized RGB frames, from zero state (the offline path)."""
    return classify_window_raw(bundle, frames)[0]


def classify_window_raw(bundle: Bundle, frames: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like classify_window, also returning the step model's raw probs output."""
    if len(frames) != bundle.frames_per_clip:
        raise ValueError(f"a window has {bundle.frames_per_clip} frames, got {len(frames)}")
    state = bundle.step.zero_state()
    x = zero_of(bundle.step.spec.inputs["features"])
    out = None
    for frame in frames:
        bundle.features_to_step(bundle.features.extract(frame), x)
        out = bundle.step.run({"features": x, **state})
        for role in state:
            bundle.state_feedback[role](out[role], state[role])
    assert out is not None
    return bundle.probabilities(out["probs"]), out["probs"].reshape(-1)
