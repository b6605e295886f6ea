"""gesture-synth: synthetic gesture clips and continuous streams, the offline stand-in for real data.

A seeded generator describes a scene in continuous time (`convert._render`: a room, a person, a hand doing
one of the four gestures or something else, a camera) and renders it at any frame rate, so training clips
(30 frames over 2.0 s, the case-study layout) and streams (an MP4 + `NAME.truth.json`) show the same
gestures at the same speeds. A 2.0 s window of a stream that ends shortly after a gesture looks like a
training clip of that gesture: both come from `gesture_act` and the same renderer.

Classes, each distinguishable by shape AND motion:
  Swipe        open palm (fingers up) moving across 45-70 % of the width, left->right or right->left
  Stop         open palm raised and held (small wobble, may grow as if pushed toward the camera)
  Thumbs Down  fist, thumb pointing down, moving down a little
  Thumbs Up    fist, thumb pointing up, moving up a little
  No gesture   no hand; a hand resting low, drifting about, scratching the head; a fist without thumb;
               a non-skin object moving; the person leaning
Nuisances drawn per clip/stream: wall, floor and textured furniture, a person (or none), skin tone, sleeve,
hand size (an open hand ~46-70 px tall at the 128x128 model input), position, speed, side light, gain, contrast,
colour cast, vignette, slow exposure flicker, blur and Gaussian noise.

Only numpy and OpenCV (no TensorFlow); a seed fixes every byte.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import logging
import math
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from convert._render import (BACKGROUND_KINDS, Act, Furniture, Look, Person, Scene, pose_extent,
                             render_frame)
from edge.cliargs import (OneLineParser, add_log_level, add_version, choice_list_arg, int_arg, number_arg,
                          positive_arg, size_arg, span_arg)
from edge.errors import one_line
from edge.fileio import atomic_path, make_temp_dir, replace_dir, write_text_atomic
from edge.vocab import BACKGROUND, CASESTUDY_CLASSES, CASESTUDY_LABELS, CLASSES, GESTURES

__all__ = [
    "GESTURES", "BACKGROUND", "CLASSES", "CASESTUDY_LABELS", "Scene", "Look", "Act", "SynthError", "random_look",
    "gesture_act", "background_act", "partial_act", "clip_scene", "stream_scene", "swipe_direction", "render_frame",
    "render_clip", "write_casestudy", "write_stream", "truth_path", "main",
]

logger = logging.getLogger(__name__)

CASESTUDY_INDEX = {label: index for index, label in sorted(CASESTUDY_CLASSES.items(), reverse=True)}
"""Our class -> its (first) case-study label index; a right swipe is index 1 (see write_casestudy)."""
CLIP_FRAMES = 30
CLIP_DURATION_S = 2.0
GESTURE_DURATION_S = (0.8, 1.4)
"""How long the gesture proper lasts (without the hand's entry and exit)."""
HAND_SIZE = (0.10, 0.15)
"""Palm radius as a fraction of the frame height: an open hand (wrist to fingertips) is ~3.6 palm radii, i.e.
~46-70 px at the 128x128 model input (a fist with its thumb ~3.1: 40-60 px; the palm ~20-30 px wide). Large,
like a hand raised toward a webcam at arm's length (the case-study footage), and large enough for a MobileNet
trained from scratch to find it; smaller hands (18-40 px) kept such a model at chance for several epochs."""
ENTER_S = (0.2, 0.35)
"""Entry (rising from below) and exit durations; sometimes 0 (the hand just appears or vanishes)."""
STREAM_QUIET_S = 1.0
"""No other hand or object within this long of a gesture's entry/exit in a stream, so the windows around a
gesture look like its training clips."""
_MAX_SEED = 2**63 - 1


class SynthError(ValueError):
    """Bad arguments for the generator; the message is one line."""


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= _MAX_SEED:
        raise SynthError(f"seed {seed!r}: expected an integer 0..2**63-1")
    return int(seed)


# ---------------------------------------------------------------------------------------------------------------
# Scene descriptions


def _color(rng: np.random.Generator, lo: float = 20, hi: float = 235) -> tuple[float, float, float]:
    return tuple(float(v) for v in rng.uniform(lo, hi, 3))


def _not_skin(rng: np.random.Generator) -> tuple[float, float, float]:
    """A saturated colour whose hue is far from skin (which sits around red-orange)."""
    hue = rng.uniform(80, 320) / 360.0
    r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.45, 0.95), rng.uniform(0.35, 0.95))
    return (255.0 * r, 255.0 * g, 255.0 * b)


def random_skin(rng: np.random.Generator) -> tuple[float, float, float]:
    """A skin tone from very light to very dark."""
    light, medium, dark = np.array([240, 208, 185.0]), np.array([196, 146, 108.0]), np.array([92, 60, 44.0])
    tone = rng.uniform(0.0, 1.0)
    base = light + (medium - light) * tone * 2 if tone < 0.5 else medium + (dark - medium) * (tone - 0.5) * 2
    base = base + rng.uniform(-10, 10, 3) + np.array([1.0, 0.0, -1.0]) * rng.uniform(-8, 8)
    return tuple(float(v) for v in np.clip(base, 0, 255))


def random_look(seed: int) -> Look:
    """The room, person, hand, lighting and camera of one clip or stream."""
    seed = _check_seed(seed)
    rng = _rng(seed, 1)
    grey = rng.uniform(45, 225)
    wall_top = tuple(float(v) for v in np.clip(grey + rng.uniform(-40, 40, 3), 0, 255))
    wall_bottom = tuple(float(v) for v in np.clip(np.array(wall_top) * rng.uniform(0.7, 1.15) +
                                                   rng.uniform(-20, 20, 3), 0, 255))
    furniture = tuple(
        Furniture(x=float(rng.uniform(-0.1, 0.9)), y=float(rng.uniform(0.1, 0.8)), w=float(rng.uniform(0.08, 0.4)),
                  h=float(rng.uniform(0.1, 0.5)), color=_color(rng),
                  texture=str(rng.choice(["plain", "wood", "grain", "shelf", "frame"])),
                  texture_seed=int(rng.integers(0, 2**31)))
        for _ in range(int(rng.integers(1, 6))))
    person = None
    shirt = _color(rng)
    if rng.uniform() < 0.9:
        person = Person(
            x=float(rng.uniform(0.25, 0.75)), shoulder_y=float(rng.uniform(0.45, 0.65)),
            head_r=float(rng.uniform(0.07, 0.12)), shirt=shirt,
            hair=tuple(float(v) for v in np.clip(np.array([60, 45, 35]) * rng.uniform(0.3, 2.8) +
                                                 rng.uniform(-10, 10, 3), 0, 255)),
            sway_amp=float(rng.uniform(0.0, 0.025)), sway_hz=float(rng.uniform(0.1, 0.5)),
            sway_phase=float(rng.uniform(0, 2 * math.pi)))
    return Look(
        seed=seed, wall_top=wall_top, wall_bottom=wall_bottom, floor_y=float(rng.uniform(0.7, 1.05)),
        floor=_color(rng, 30, 180), furniture=furniture, person=person, skin=random_skin(rng),
        sleeve=shirt if rng.uniform() < 0.7 else None,
        hand_size=float(rng.uniform(*HAND_SIZE)), handedness=1 if rng.uniform() < 0.5 else -1,
        light_x=float(rng.uniform(-0.3, 0.3)), vignette=float(rng.uniform(0.0, 0.35)),
        gain=float(rng.uniform(0.6, 1.2)), contrast=float(rng.uniform(0.7, 1.2)),
        cast=tuple(float(v) for v in rng.uniform(0.85, 1.15, 3)), flicker=float(rng.uniform(0.0, 0.04)),
        # Noise as seen at ~120x160: a camera's noise shrinks when its frame is downscaled. It also keeps the
        # committed MP4s small (mp4v spends its bits on noise above sigma ~3).
        flicker_hz=float(rng.uniform(0.05, 0.4)), noise_sigma=float(rng.uniform(0.8, 2.5)),
        pattern_sigma=float(rng.uniform(0.0, 2.0)),
        blur_px=float(rng.uniform(0.4, 1.0)) if rng.uniform() < 0.6 else 0.0)


def _entry(rng: np.random.Generator) -> float:
    return 0.0 if rng.uniform() < 0.2 else float(rng.uniform(*ENTER_S))


def _exit(rng: np.random.Generator) -> float:
    return 0.0 if rng.uniform() < 0.15 else float(rng.uniform(*ENTER_S))


def _beside_body(rng: np.random.Generator, look: Look | None) -> float:
    """Where a raised hand is: beside the head on the hand's side (sometimes across), not in front of it."""
    if look is None or look.person is None:
        return float(rng.uniform(0.3, 0.7))
    side = -look.handedness if rng.uniform() < 0.8 else look.handedness
    return float(np.clip(look.person.x + side * rng.uniform(0.12, 0.3), 0.2, 0.8))


def gesture_act(kind: str, start_s: float, duration_s: float, rng: np.random.Generator,
                look: Look | None = None) -> Act:
    """One gesture (`kind` in GESTURES) whose gesture proper spans [start_s, start_s + duration_s].

    With `look`, the hand is placed beside the person's head (as people do), otherwise anywhere central.
    """
    enter, leave = _entry(rng), _exit(rng)
    end = start_s + duration_s
    size = float(rng.uniform(0.9, 1.1))
    u = rng.uniform
    x_hand = _beside_body(rng, look)
    # The whole hand stays in view while it performs the gesture (fingertips or thumb not cut by the frame edge).
    r = (look.hand_size if look is not None else 0.125) * size

    def below_top(y: float, pose: str, grow: float = 1.0) -> float:
        return max(y, -pose_extent(pose)[1] * r * grow + 0.04)

    if kind == "Swipe":
        direction = 1 if u() < 0.5 else -1
        span, xc, y, dy, arc = u(0.45, 0.7), u(0.4, 0.6), u(0.3, 0.6), u(-0.04, 0.04), u(-0.03, 0.05)
        y = below_top(y, "open", 1.08) + max(arc, 0.0) + max(-dy, 0.0)
        return Act("Swipe", start_s, end, enter, leave, xc - direction * span / 2, y, xc + direction * span / 2,
                   y + dy, "open", tilt_deg=-direction * u(4, 15), jitter=arc, size=size)
    if kind == "Stop":
        x, y, grow = x_hand, u(0.3, 0.55), u(0.0, 0.2)
        y = below_top(y, "open", 1.0 + grow)
        return Act("Stop", start_s, end, enter, leave, x, y, x, y, "open", tilt_deg=u(-8, 8),
                   scale_gain=grow, jitter=u(0.002, 0.008), wobble_hz=u(1.0, 3.0), phase=u(0, 6.3),
                   size=size)
    if kind == "Thumbs Up":
        x, y, dy = x_hand, u(0.45, 0.65), u(0.05, 0.12)
        y = below_top(y - dy, "thumb_up") + dy
        return Act("Thumbs Up", start_s, end, enter, leave, x, y, x + u(-0.02, 0.02), y - dy, "thumb_up",
                   tilt_deg=u(-10, 10), jitter=u(0.0, 0.006), wobble_hz=u(1.0, 3.0), phase=u(0, 6.3), size=size)
    if kind == "Thumbs Down":
        x, y, dy = x_hand, u(0.3, 0.5), u(0.05, 0.12)
        y = below_top(y, "thumb_down")
        y = min(y, 0.96 - pose_extent("thumb_down")[3] * r - dy)  # the thumb tip stays in view at the end
        return Act("Thumbs Down", start_s, end, enter, leave, x, y, x + u(-0.02, 0.02), y + dy,
                   "thumb_down", tilt_deg=u(-10, 10), jitter=u(0.0, 0.006), wobble_hz=u(1.0, 3.0),
                   phase=u(0, 6.3), size=size)
    raise SynthError(f"gesture '{kind}': expected one of {', '.join(GESTURES)}")


def background_act(kind: str, start_s: float, duration_s: float, rng: np.random.Generator, look: Look) -> Act:
    """One 'No gesture' behaviour (`kind` in BACKGROUND_KINDS) lasting from start_s for duration_s."""
    end = start_s + duration_s
    u = rng.uniform
    side = 1 if u() < 0.5 else -1
    if kind == "scratch" and look.person is None:
        kind = "wander"
    if kind == "rest":  # a hand low in the frame, sideways, fingers relaxed
        x, y = u(0.2, 0.8), u(0.8, 0.93)
        return Act("rest", start_s, end, _entry(rng), _exit(rng), x, y, x + u(-0.08, 0.08), y + u(-0.02, 0.02),
                   "relaxed", tilt_deg=side * u(55, 115), jitter=u(0.005, 0.02), wobble_hz=u(0.2, 0.6),
                   phase=u(0, 6.3), size=u(0.9, 1.1))
    if kind == "wander":  # a hand drifting slowly: relaxed, or open but turned well away from upright
        x, y = u(0.2, 0.8), u(0.45, 0.8)
        pose = "relaxed" if u() < 0.7 else "open"
        tilt = side * u(40, 100) if pose == "open" else u(-100, 100)
        return Act("wander", start_s, end, _entry(rng), _exit(rng), x, y, x + u(-0.15, 0.15), y + u(-0.1, 0.1),
                   pose, tilt_deg=tilt, jitter=u(0.02, 0.05), wobble_hz=u(0.2, 0.7), phase=u(0, 6.3),
                   size=u(0.9, 1.1))
    if kind == "fist":  # a closed fist without thumb, still or moving a little (hard negative for thumbs)
        x, y = u(0.25, 0.75), u(0.35, 0.7)
        return Act("fist", start_s, end, _entry(rng), _exit(rng), x, y, x + u(-0.05, 0.05), y + u(-0.1, 0.1),
                   "fist", tilt_deg=u(-15, 15), jitter=u(0.0, 0.02), wobble_hz=u(0.2, 1.0), phase=u(0, 6.3),
                   size=u(0.9, 1.1))
    if kind == "scratch":  # fingers toward the head, a quick small back-and-forth
        p = look.person
        assert p is not None
        head_y = p.shoulder_y - 1.75 * p.head_r
        x = p.x + side * u(0.8, 1.3) * p.head_r * 0.75
        y = head_y - u(0.0, 0.8) * p.head_r
        return Act("scratch", start_s, end, _entry(rng), _exit(rng), x, y, x, y, "relaxed",
                   tilt_deg=-side * u(50, 110), jitter=u(0.008, 0.02), wobble_hz=u(2.5, 4.5), phase=u(0, 6.3),
                   size=u(0.9, 1.1))
    if kind == "object":  # not skin, not a hand: crossing, or drifting up/down
        shape = "ball" if u() < 0.5 else "box"
        if u() < 0.6:
            y0 = u(0.2, 0.8)
            y1 = y0 + u(-0.2, 0.2)
            x0, x1 = (-0.15, 1.15) if side > 0 else (1.15, -0.15)
        else:
            x0 = u(0.15, 0.85)
            x1, y0, y1 = x0 + u(-0.1, 0.1), u(0.2, 0.8), u(0.2, 0.8)
        return Act("object", start_s, end, 0.0, 0.0, x0, y0, x1, y1, shape, tilt_deg=u(0, 90),
                   scale_gain=u(-1, 1), jitter=u(0.0, 0.12) if shape == "ball" else 0.0, wobble_hz=u(0.7, 2.0),
                   phase=u(0, 6.3), size=u(0.08, 0.16), color=_not_skin(rng))
    if kind == "lean":  # the person leans to one side and back
        return Act("lean", start_s, end, 0.0, 0.0, 0.0, 0.0, side * u(0.04, 0.1), 0.0, "none")
    if kind == "none":
        return Act("none", start_s, end, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, "none")
    raise SynthError(f"background behaviour '{kind}': expected one of {', '.join(BACKGROUND_KINDS)}")


_BACKGROUND_WEIGHTS = {"none": 0.12, "rest": 0.17, "wander": 0.2, "fist": 0.18, "scratch": 0.13, "object": 0.12,
                       "lean": 0.08}


def _background_kind(rng: np.random.Generator) -> str:
    kinds = list(_BACKGROUND_WEIGHTS)
    return kinds[int(rng.choice(len(kinds), p=np.array(list(_BACKGROUND_WEIGHTS.values())) / sum(
        _BACKGROUND_WEIGHTS.values())))]


def clip_scene(label: str, seed: int, duration_s: float = CLIP_DURATION_S, partial_share: float = 0.0) -> Scene:
    """The scene of one training clip of class `label` (a name from CLASSES), fixed by `seed`.

    A gesture lasts 0.8-1.4 s and sits at a random offset with its gesture proper inside the clip (the
    hand's entry may start before the clip, its exit may run past the end).
    `partial_share`: the share of 'No gesture' clips that show only the start of a gesture (`partial_act`);
    the other clips are the same as with 0 (the choice draws from its own random stream).
    """
    seed = _check_seed(seed)
    if label not in CLASSES:
        raise SynthError(f"class '{label}': expected one of {', '.join(CLASSES)}")
    if not 0.0 <= partial_share <= 1.0:
        raise SynthError(f"partial share {partial_share!r}: expected 0..1")
    look = random_look(seed)
    if label == BACKGROUND and partial_share > 0 and _rng(seed, 4).uniform() < partial_share:
        return Scene(look, (partial_act(_rng(seed, 5), look, duration_s),))
    rng = _rng(seed, 2)
    acts: list[Act] = []
    if label in GESTURES:
        duration = float(rng.uniform(*GESTURE_DURATION_S))
        duration = min(duration, duration_s - 0.2)
        start = float(rng.uniform(0.05, max(0.05, duration_s - duration - 0.1)))
        acts.append(gesture_act(label, start, duration, rng, look))
        if rng.uniform() < 0.15:  # a distractor now and then, so "something non-skin moves" is not a class cue
            acts.append(background_act("object", float(rng.uniform(-0.5, 1.0)), float(rng.uniform(1.0, 2.5)), rng,
                                       look))
    else:
        kind = _background_kind(rng)
        acts.append(background_act(kind, float(rng.uniform(-0.6, 0.8)), float(rng.uniform(1.0, 2.5)), rng, look))
        if kind != "object" and rng.uniform() < 0.2:
            acts.append(background_act("object", float(rng.uniform(-0.5, 1.0)), float(rng.uniform(1.0, 2.5)), rng,
                                       look))
    return Scene(look, tuple(acts))


PARTIAL_GESTURES = ("Swipe", "Stop")
"""Gestures whose start is shown as 'No gesture' by partial clips: a palm that has just come up and begun to
move or to hold is the start of a Swipe as much as of a Stop, and is neither yet."""
PARTIAL_SHOWN = (0.0, 0.45)
"""How much of the gesture proper a partial clip shows before it ends (a fraction of its duration)."""


def partial_act(rng: np.random.Generator, look: Look, duration_s: float = CLIP_DURATION_S) -> Act:
    """A Swipe or Stop that the clip cuts off: its entry and at most 45 % of the gesture proper are in the clip.

    In a stream, these are the windows that end while a gesture is still under way. Shown as 'No gesture', they
    teach the model to wait for the gesture to be done, so the start of a Swipe does not fire a Stop.
    """
    kind = PARTIAL_GESTURES[int(rng.integers(len(PARTIAL_GESTURES)))]
    duration = float(rng.uniform(*GESTURE_DURATION_S))
    start = duration_s - float(rng.uniform(*PARTIAL_SHOWN)) * duration
    return gesture_act(kind, start, duration, rng, look)  # drawn as the gesture; the clip's label says otherwise


def swipe_direction(scene: Scene) -> int:
    """+1 for a left-to-right swipe (as seen in the frame), -1 for right-to-left, 0 when there is none."""
    for act in scene.acts:
        if act.kind == "Swipe":
            return 1 if act.x1 > act.x0 else -1
    return 0


def _fill_background(rng: np.random.Generator, look: Look, t0: float, t1: float) -> list[Act]:
    """'No gesture' behaviours, one after another, inside [t0, t1] (their entries and exits included)."""
    acts: list[Act] = []
    t = t0 + float(rng.uniform(0.0, 1.0))
    while True:
        kind = _background_kind(rng)
        duration = float(rng.uniform(1.0, 3.0))
        act = background_act(kind, t + ENTER_S[1], duration, rng, look)
        if act.end_s + act.leave_s > t1:
            break
        acts.append(act)
        t = act.end_s + act.leave_s + float(rng.uniform(0.3, 2.0))
    return acts


def stream_scene(seed: int, duration_s: float, gestures: Sequence[str] | None = None,
                 gap_s: tuple[float, float] = (2.5, 5.0), background_only: bool = False) -> Scene:
    """The scene of a continuous stream: gestures separated by 'No gesture' stretches of `gap_s` seconds.

    `gestures`: the gestures in order; None: as many as fit, the four classes shuffled and balanced (each
    round of four has all of them). The gap is measured from one gesture's end_s to the next's start_s.
    """
    seed = _check_seed(seed)
    if not duration_s > 0:
        raise SynthError(f"stream duration {duration_s} s: expected > 0")
    if not 0 < gap_s[0] <= gap_s[1]:
        raise SynthError(f"gap_s {gap_s}: expected 0 < min <= max")
    for g in gestures or ():
        if g not in GESTURES:
            raise SynthError(f"gesture '{g}': expected one of {', '.join(GESTURES)}")
    look = random_look(seed)
    rng = _rng(seed, 3)
    acts: list[Act] = []
    if not background_only:
        queue = list(gestures) if gestures is not None else []
        t = float(rng.uniform(1.5, gap_s[1]))
        while True:
            if not queue:
                if gestures is not None:
                    break
                queue = [GESTURES[i] for i in rng.permutation(len(GESTURES))]
            duration = float(rng.uniform(*GESTURE_DURATION_S))
            if t + duration + ENTER_S[1] + 0.6 > duration_s:
                break
            acts.append(gesture_act(queue.pop(0), t, duration, rng, look))
            t += duration + float(rng.uniform(*gap_s))
    quiet: list[tuple[float, float]] = []
    edge = 0.0
    for act in acts:
        quiet.append((edge, act.start_s - act.enter_s - STREAM_QUIET_S))
        edge = act.end_s + act.leave_s + STREAM_QUIET_S
    quiet.append((edge, duration_s + ENTER_S[1]))
    others = [a for t0, t1 in quiet if t1 - t0 > 1.5 for a in _fill_background(rng, look, t0, t1)]
    return Scene(look, tuple(sorted(acts + others, key=lambda a: a.start_s)))


def render_clip(scene: Scene, frames: int = CLIP_FRAMES, duration_s: float = CLIP_DURATION_S,
                size_hw: tuple[int, int] = (120, 160)) -> np.ndarray:
    """`frames` RGB frames (frames, H, W, 3) uint8 of `scene`, frame i at i * duration_s / frames."""
    return np.stack([render_frame(scene, i * duration_s / frames, size_hw) for i in range(frames)])


# ---------------------------------------------------------------------------------------------------------------
# Files


def _progress(total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with the [convert] extra; work without it
        return None
    return tqdm(total=total, desc=desc, unit="clip" if "clip" in desc else "frame", file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5)


def _check_size(size_hw: Sequence[int]) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in size_hw)
    except (TypeError, ValueError):
        raise SynthError(f"size {size_hw!r}: expected (height, width)") from None
    if not (16 <= height <= 4096 and 16 <= width <= 4096):
        raise SynthError(f"size {height}x{width}: expected 16..4096 px each side")
    return height, width


def _slug(name: str) -> str:
    return name.lower().replace("_new", "").replace(" ", "_")


def write_casestudy(out_dir: str | os.PathLike[str], clips_per_class: Mapping[str, int], seed: int,
                    size_hw: tuple[int, int] = (120, 160), frames: int = CLIP_FRAMES,
                    duration_s: float = CLIP_DURATION_S, image_format: str = "jpg",
                    classes: Sequence[str] = CLASSES, force: bool = False, partial_share: float = 0.0) -> Path:
    """Write a case-study-layout dataset: `<split>/<folder>/00001.jpg..`, `<split>.csv` per split.

    `clips_per_class`: clips of every class per split, e.g. {"train": 100, "val": 25}. CSV lines are
    `folder;label_name;label_index`; swipes get index 0 (right-to-left in the frame, "Left Swipe") or 1
    (left-to-right, "Right Swipe"). Built in a temp folder beside `out_dir` and renamed into place; an
    existing non-empty `out_dir` is refused unless `force`. `partial_share`: see `clip_scene`.
    """
    out_dir = Path(out_dir)
    seed = _check_seed(seed)
    size_hw = _check_size(size_hw)
    if image_format not in ("jpg", "png"):
        raise SynthError(f"image format '{image_format}': expected jpg or png")
    if not isinstance(frames, int) or frames < 1:
        raise SynthError(f"frames {frames!r}: expected an integer >= 1")
    if not duration_s > 0:
        raise SynthError(f"duration {duration_s} s: expected > 0")
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise SynthError(f"classes {list(classes)}: expected distinct names from {', '.join(CLASSES)}")
    for split, n in clips_per_class.items():
        if split not in ("train", "val", "test") or not isinstance(n, int) or n < 0:
            raise SynthError(f"clips_per_class[{split!r}] = {n!r}: expected train/val/test -> a count >= 0")
    total = sum(clips_per_class.values()) * len(classes)
    if total == 0:
        raise SynthError("clips_per_class: no clips to write")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not force:
        raise SynthError(f"{out_dir}: exists and is not empty (use --force to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(out_dir)
    # Optimized Huffman tables: ~10 % smaller JPEGs, same pixels (the committed calibration set stays small).
    params = ([cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_OPTIMIZE, 1] if image_format == "jpg"
              else [cv2.IMWRITE_PNG_COMPRESSION, 6])
    bar = _progress(total, f"synth clips -> {out_dir.name}")
    index = 0
    try:
        for split_number, (split, per_class) in enumerate(clips_per_class.items()):
            lines = []
            (tmp / split).mkdir()
            for i in range(per_class):
                for label in classes:
                    index += 1
                    scene = clip_scene(label, int(_rng(seed, 101, split_number, i, CLASSES.index(label))
                                                  .integers(0, 2**62)), duration_s, partial_share)
                    number = CASESTUDY_INDEX[label]
                    if label == "Swipe" and swipe_direction(scene) > 0:
                        number = 1
                    name = CASESTUDY_LABELS[number]
                    folder = f"synth_s{seed}_{index:05d}_{_slug(name)}"
                    (tmp / split / folder).mkdir()
                    for f in range(frames):
                        rgb = render_frame(scene, f * duration_s / frames, size_hw)
                        ok, data = cv2.imencode(f".{image_format}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
                        if not ok:
                            raise SynthError(f"OpenCV could not encode a .{image_format} image")
                        (tmp / split / folder / f"{f + 1:05d}.{image_format}").write_bytes(data.tobytes())
                    lines.append(f"{folder};{name};{number}\n")
                    if bar is not None:
                        bar.update(1)
            (tmp / f"{split}.csv").write_text("".join(lines), encoding="utf-8")
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    logger.info("wrote %d clips (%s) to %s", total, ", ".join(f"{k} {v}/class" for k, v in clips_per_class.items()),
                out_dir)
    return out_dir


def truth_path(video_path: str | os.PathLike[str]) -> Path:
    """`NAME.truth.json` beside `NAME.mp4`."""
    video_path = Path(video_path)
    return video_path.with_name(f"{video_path.stem}.truth.json")


def write_stream(video_path: str | os.PathLike[str], seed: int, duration_s: float, fps: float = 30.0,
                 size_hw: tuple[int, int] = (240, 320), gestures: Sequence[str] | None = None,
                 gap_s: tuple[float, float] = (2.5, 5.0), background_only: bool = False) -> dict:
    """Write a continuous MP4 (mp4v) and `NAME.truth.json`; return the truth dict.

    Truth events bracket the gesture proper (the hand performing it), not the hand's entry and exit.
    Frame i shows time i / fps.
    """
    video_path = Path(video_path)
    seed = _check_seed(seed)
    height, width = _check_size(size_hw)
    if video_path.suffix.lower() != ".mp4":
        raise SynthError(f"{video_path}: expected a .mp4 file name")
    if not (0 < fps <= 240):
        raise SynthError(f"fps {fps}: expected 0 < fps <= 240")
    frames = int(round(duration_s * fps))
    if frames < 1:
        raise SynthError(f"duration {duration_s} s at {fps} fps: expected at least one frame")
    scene = stream_scene(seed, duration_s, gestures, gap_s, background_only)
    video_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(video_path, ".tmp.mp4") as tmp:  # OpenCV picks the container from the suffix
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
        if not writer.isOpened():
            raise SynthError(f"{video_path}: OpenCV cannot write MP4 (fourcc mp4v) here; is its FFmpeg backend "
                             "there?")
        bar = _progress(frames, f"synth stream -> {video_path.name}")
        try:
            for i in range(frames):
                writer.write(cv2.cvtColor(render_frame(scene, i / fps, (height, width)), cv2.COLOR_RGB2BGR))
                if bar is not None:
                    bar.update(1)
        finally:
            writer.release()
            if bar is not None:
                bar.close()
        if tmp.stat().st_size == 0:
            raise SynthError(f"{video_path}: OpenCV wrote an empty video")
    truth = {
        "video": video_path.name, "fps": float(fps), "frames": frames, "duration_s": round(frames / fps, 6),
        "seed": seed,
        "events": [{"gesture": a.kind, "start_s": round(a.start_s, 3), "end_s": round(a.end_s, 3)}
                   for a in scene.acts if a.kind in GESTURES],
    }
    write_text_atomic(truth_path(video_path), json.dumps(truth, indent=1) + "\n")
    logger.info("wrote %s (%d frames, %d gestures) and %s", video_path, frames, len(truth["events"]),
                truth_path(video_path).name)
    return truth


# ---------------------------------------------------------------------------------------------------------------
# CLI


@dataclass(frozen=True)
class ClipsSettings:
    """`gesture-synth clips`."""

    out: Path
    train: int
    """Clips per class in train/."""
    val: int
    """Clips per class in val/."""
    seed: int
    size_hw: tuple[int, int]
    image_format: str
    classes: tuple[str, ...]
    force: bool
    partial_share: float = 0.0
    """Share of the 'No gesture' clips that show only the start of a Swipe or Stop."""


@dataclass(frozen=True)
class StreamSettings:
    """`gesture-synth stream`."""

    out: Path
    seed: int
    duration_s: float
    fps: float
    size_hw: tuple[int, int]
    background_only: bool
    gestures: tuple[str, ...] | None
    gap_s: tuple[float, float]
    force: bool


def build_parser() -> argparse.ArgumentParser:
    """The gesture-synth argument parser."""
    parser = OneLineParser(prog="gesture-synth", description=(
        "Write synthetic gesture clips (case-study layout) or a continuous MP4 stream with ground truth. "
        "Deterministic: the same arguments give byte-identical files."))
    add_version(parser)
    add_log_level(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{clips,stream}", parser_class=OneLineParser)
    count, seed = int_arg(0), int_arg(0, _MAX_SEED)
    clips = sub.add_parser("clips", help="a dataset in the case-study layout (train/, train.csv, val/, val.csv)")
    clips.add_argument("--out", required=True, type=Path, help="output folder (must not exist or be empty)")
    clips.add_argument("--train", type=count, required=True, help="clips per class in train/")
    clips.add_argument("--val", type=count, required=True, help="clips per class in val/")
    clips.add_argument("--seed", type=seed, required=True, help="the same seed gives the same files")
    clips.add_argument("--size", type=size_arg, default=(120, 160), help="frame size HxW (default 120x160)")
    clips.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image format (default jpg)")
    clips.add_argument("--no-background", action="store_true", help="leave out the 'No gesture' class")
    clips.add_argument("--partial-share", type=number_arg(0, 1), default=0.0, metavar="F",
                       help="share of the 'No gesture' clips that show only the start of a Swipe or Stop, cut off "
                            "by the clip's end, so a model waits for a gesture to be done (default 0)")
    clips.add_argument("--force", action="store_true", help="replace an existing output folder")
    stream = sub.add_parser("stream", help="a continuous MP4 stream and NAME.truth.json beside it")
    stream.add_argument("--out", required=True, type=Path, help="FILE.mp4")
    stream.add_argument("--seed", type=seed, required=True, help="the same seed gives the same files")
    stream.add_argument("--duration-s", type=positive_arg, required=True, help="length of the stream in seconds")
    stream.add_argument("--fps", type=positive_arg, default=30.0, help="frame rate (default 30)")
    stream.add_argument("--size", type=size_arg, default=(240, 320), help="frame size HxW (default 240x320)")
    stream.add_argument("--background-only", action="store_true", help="no gestures at all (false-alarm footage)")
    stream.add_argument("--gestures", type=choice_list_arg(GESTURES, "gesture"), default=None,
                        help="comma-separated gestures in order (default: all four, shuffled and balanced)")
    stream.add_argument("--gap-s", type=span_arg("seconds"), default=(2.5, 5.0),
                        help="seconds between gestures MIN,MAX (default 2.5,5.0)")
    stream.add_argument("--force", action="store_true", help="replace an existing video")
    return parser


def run_clips(s: ClipsSettings) -> Path:
    """Carry out `gesture-synth clips`."""
    splits = {k: v for k, v in (("train", s.train), ("val", s.val)) if v > 0}
    if not splits:
        raise SynthError("--train/--val: expected at least one of them > 0")
    return write_casestudy(s.out, splits, s.seed, s.size_hw, image_format=s.image_format, classes=s.classes,
                           force=s.force, partial_share=s.partial_share)


def run_stream(s: StreamSettings) -> Path:
    """Carry out `gesture-synth stream`."""
    if s.out.exists() and not s.force:
        raise SynthError(f"{s.out}: exists (use --force to replace it)")
    write_stream(s.out, s.seed, s.duration_s, s.fps, s.size_hw, s.gestures, s.gap_s, s.background_only)
    return s.out


def main(argv: Sequence[str] | None = None) -> int:
    """gesture-synth: synthetic clips (`clips`) or a stream with ground truth (`stream`)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "clips":
            out = run_clips(ClipsSettings(
                out=args.out, train=args.train, val=args.val, seed=args.seed, size_hw=args.size,
                image_format=args.format, classes=GESTURES if args.no_background else CLASSES, force=args.force,
                partial_share=args.partial_share))
        else:
            out = run_stream(StreamSettings(
                out=args.out, seed=args.seed, duration_s=args.duration_s, fps=args.fps, size_hw=args.size,
                background_only=args.background_only, gestures=args.gestures, gap_s=args.gap_s, force=args.force))
    except (SynthError, OSError) as exc:
        print(f"gesture-synth: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gesture-synth: interrupted", file=sys.stderr)
        return 130
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
