"""The drawing half of the synthetic generator: a continuous-time scene description -> RGB frames.

A `Scene` is plain frozen data: a `Look` (room, person, skin, lighting, camera) and a tuple of `Act`s (what a
hand or a distractor does between two times). `render_frame(scene, t_s, size_hw)` is a pure function of its
arguments, so clips and streams rendered at any fps show the same motion, and a frame is the same whichever
process or thread renders it (the camera noise is keyed on the scene seed and the time, not on call order).

Geometry is in frame fractions (x of the width, y and sizes of the height); hands are drawn from OpenCV
primitives (palm ellipse, finger and thumb capsules, forearm) with sub-pixel coordinates and anti-aliasing,
so slow motion moves smoothly instead of in whole pixels.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge.vocab import GESTURES

RGB = tuple[float, float, float]
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT

GESTURE_KINDS = GESTURES
"""What a hand in a scene can do that is a gesture (the shared gesture names)."""
BACKGROUND_KINDS = ("none", "rest", "wander", "fist", "scratch", "object", "lean")
"""Things that are not gestures: nothing, a resting hand, a hand drifting about, a closed fist without thumb,
scratching the head, a non-skin object moving, the person leaning/swaying."""


@dataclass(frozen=True)
class Furniture:
    """A textured rectangle in the room behind the person."""

    x: float
    y: float
    w: float
    h: float
    color: RGB
    texture: str
    """'plain', 'wood' (stripes), 'grain' (noise), 'shelf' (rows of books), 'frame' (a picture)."""
    texture_seed: int


@dataclass(frozen=True)
class Person:
    """Head and torso blobs; the person sways a little all the time."""

    x: float
    """Head centre, fraction of the width."""
    shoulder_y: float
    head_r: float
    """Head radius, fraction of the height."""
    shirt: RGB
    hair: RGB
    sway_amp: float
    sway_hz: float
    sway_phase: float


@dataclass(frozen=True)
class Look:
    """Everything that stays fixed through one clip or stream: room, person, hand, lighting and camera."""

    seed: int
    wall_top: RGB
    wall_bottom: RGB
    floor_y: float
    floor: RGB
    furniture: tuple[Furniture, ...]
    person: Person | None
    skin: RGB
    sleeve: RGB | None
    """None: a bare forearm (skin)."""
    hand_size: float
    """Palm radius as a fraction of the frame height (an open hand is ~4.4 palm radii tall)."""
    handedness: int
    """+1 or -1: mirrors the hand (thumb side)."""
    light_x: float
    """Side light: brightness slope across the width, -0.3..0.3."""
    vignette: float
    gain: float
    contrast: float
    cast: RGB
    flicker: float
    """Relative amplitude of a slow brightness wave (auto exposure hunting)."""
    flicker_hz: float
    noise_sigma: float
    """Temporal Gaussian camera noise (new every frame), in 0-255 units."""
    pattern_sigma: float
    """Fixed-pattern noise (the same every frame: sensor non-uniformity), in 0-255 units."""
    blur_px: float
    """Gaussian blur sigma at 120 px frame height (scaled with the frame)."""


@dataclass(frozen=True)
class Act:
    """One thing happening between start_s and end_s (the act proper: a gesture without its entry/exit).

    A hand enters during [start_s - enter_s, start_s) (rising from below; `enter_s` 0: it just appears) and
    leaves during (end_s, end_s + leave_s]. Positions are frame fractions.
    """

    kind: str
    start_s: float
    end_s: float
    enter_s: float
    leave_s: float
    x0: float
    y0: float
    x1: float
    y1: float
    pose: str = "open"
    """'open', 'relaxed', 'fist', 'thumb_up', 'thumb_down' (objects: 'ball', 'box')."""
    tilt_deg: float = 0.0
    scale_gain: float = 0.0
    """Stop: the hand grows by this fraction (pushed toward the camera)."""
    jitter: float = 0.0
    """Amplitude of a small wobble, fraction of the height."""
    wobble_hz: float = 0.0
    phase: float = 0.0
    size: float = 1.0
    """Objects: size as a fraction of the height; hands: a multiplier of the look's hand size."""
    color: RGB = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Scene:
    """A look and a timeline of acts: enough to render any frame at any time."""

    look: Look
    acts: tuple[Act, ...]


def smoothstep(u: float) -> float:
    """0 -> 1 with zero slope at both ends (clamped)."""
    u = min(max(u, 0.0), 1.0)
    return u * u * (3.0 - 2.0 * u)


# ---------------------------------------------------------------------------------------------------------------
# Static background (cached per look and size: the room does not move)


def _texture(f: Furniture, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(f.texture_seed)
    base = np.array(f.color, np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    if f.texture == "wood":
        period = rng.uniform(3.0, 9.0)
        yy = np.arange(h, dtype=np.float32)[:, None] + 2.0 * np.sin(np.arange(w, dtype=np.float32)[None, :] / 11.0)
        img *= (1.0 + 0.12 * np.sin(2 * np.pi * yy / period))[..., None]
    elif f.texture == "grain":
        img *= (1.0 + 0.10 * rng.standard_normal((h, w), dtype=np.float32))[..., None]
    elif f.texture == "shelf":
        rows = max(1, int(rng.integers(2, 5)))
        x = 0
        for r in range(rows):
            y0, y1 = int(r * h / rows), int((r + 1) * h / rows)
            img[max(y1 - 2, y0):y1] = base * 0.45
            x = 1
            while x < w - 1:
                bw = int(rng.integers(2, 6))
                color = rng.uniform(30, 230, 3).astype(np.float32)
                top = y0 + int(rng.uniform(0.1, 0.35) * (y1 - y0))
                img[top:max(y1 - 2, top + 1), x:x + bw] = color
                x += bw + int(rng.integers(0, 2))
    elif f.texture == "frame":
        inner = rng.uniform(40, 220, 3).astype(np.float32)
        border = max(1, min(h, w) // 8)
        img[border:h - border, border:w - border] = inner
        cy, cx = h // 2, w // 2
        img[cy:h - border, border:w - border] *= 0.7  # a "landscape" inside the picture
        if w > 6 and h > 6:
            cv2.circle(img, (cx, cy // 2 + border), max(1, min(h, w) // 8), tuple(rng.uniform(150, 255, 3)), -1)
    return img


@functools.lru_cache(maxsize=16)
def _background(look: Look, size_hw: tuple[int, int]) -> np.ndarray:
    height, width = size_hw
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.array(look.wall_top, np.float32) * (1 - ramp) + np.array(look.wall_bottom, np.float32) * ramp
    img = np.ascontiguousarray(np.broadcast_to(img, (height, width, 3)), dtype=np.float32)
    floor = int(look.floor_y * height)
    img[floor:] = np.array(look.floor, np.float32)
    for f in look.furniture:
        x0, y0 = max(0, int(f.x * width)), max(0, int(f.y * height))
        x1, y1 = min(width, int((f.x + f.w) * width)), min(height, int((f.y + f.h) * height))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            img[y0:y1, x0:x1] = _texture(f, y1 - y0, x1 - x0)
            img[y0:y1, x0:x1] *= np.float32(0.92)  # a faint shadow edge so flat colours still read as objects
            img[y0 + 1:y1 - 1, x0 + 1:x1 - 1] *= np.float32(1 / 0.92)
    img.setflags(write=False)
    return img


@functools.lru_cache(maxsize=16)
def _light_map(look: Look, size_hw: tuple[int, int]) -> np.ndarray:
    height, width = size_hw
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    light = (1.0 + look.light_x * xs) * (1.0 - look.vignette * (xs * xs + ys * ys) / 2.0)
    out = light[..., None] * (look.gain * np.array(look.cast, np.float32))
    out = np.ascontiguousarray(out, dtype=np.float32)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=16)
def _pattern(look: Look, size_hw: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng([look.seed, 8, size_hw[0], size_hw[1]])
    out = rng.standard_normal((*size_hw, 3), dtype=np.float32) * np.float32(look.pattern_sigma)
    out.setflags(write=False)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Primitives


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _capsule(img: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], width_px: float, color: RGB) -> None:
    thickness = max(1, int(round(width_px)))
    cv2.line(img, _pt(*p0), _pt(*p1), color, thickness, cv2.LINE_AA, _SHIFT)


def _ellipse(img: np.ndarray, c: tuple[float, float], axes_px: tuple[float, float], angle_deg: float,
             color: RGB) -> None:
    axes = (max(1, int(round(axes_px[0] * _ONE))), max(1, int(round(axes_px[1] * _ONE))))
    cv2.ellipse(img, _pt(*c), axes, angle_deg, 0, 360, color, -1, cv2.LINE_AA, _SHIFT)


class _Frame:
    """Local hand coordinates (units of the palm radius, y down, thumb toward +x) -> pixels."""

    def __init__(self, cx: float, cy: float, r_px: float, tilt_deg: float, mirror: int) -> None:
        self.cx, self.cy, self.r, self.mirror = cx, cy, r_px, mirror
        a = math.radians(tilt_deg)
        self.cos, self.sin = math.cos(a), math.sin(a)
        self.angle_deg = tilt_deg

    def p(self, lx: float, ly: float) -> tuple[float, float]:
        lx *= self.mirror
        return (self.cx + self.r * (lx * self.cos - ly * self.sin), self.cy + self.r * (lx * self.sin + ly * self.cos))


# Per pose: ellipses (centre, axes, angle) and capsules (p0, p1, width) in palm radii.
_FINGERS_OPEN = (  # index .. little finger: base x, length, splay (radians)
    (0.52, 1.30, 0.10), (0.17, 1.45, 0.03), (-0.18, 1.38, -0.04), (-0.52, 1.08, -0.13))


def _pose_parts(pose: str) -> tuple[list, list]:
    ellipses: list = []
    capsules: list = []
    if pose in ("open", "relaxed"):
        ellipses.append(((0.0, 0.05), (0.80, 0.95), 0.0))
        curl = 0.45 if pose == "relaxed" else 1.0
        for bx, length, splay in _FINGERS_OPEN:
            base = (bx * 0.95, -0.70)
            angle = splay * (1.8 if pose == "relaxed" else 1.0)
            tip = (base[0] + math.sin(angle) * length * curl, base[1] - math.cos(angle) * length * curl)
            capsules.append((base, tip, 0.31))
        if pose == "open":
            capsules.append(((0.62, 0.35), (1.30, -0.40), 0.36))
        else:
            capsules.append(((0.55, 0.35), (0.95, -0.15), 0.36))
    else:
        ellipses.append(((0.0, 0.0), (0.82, 0.80), 0.0))
        for i in range(4):  # curled fingers seen from the front: four stacked rolls
            y = -0.52 + i * 0.34
            capsules.append(((-0.58, y), (0.40, y), 0.30))
        if pose == "thumb_up":
            capsules.append(((0.30, -0.35), (0.32, -1.75), 0.42))
        elif pose == "thumb_down":
            capsules.append(((0.30, 0.35), (0.32, 1.75), 0.42))
        else:  # a fist: the thumb folded across the fingers
            capsules.append(((0.72, 0.05), (-0.05, 0.12), 0.34))
    return ellipses, capsules


_RIM = 0.16
"""Width of the darker outline around every hand part, in palm radii."""


def pose_extent(pose: str) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a hand pose, outline included, in palm radii (unrotated, no forearm)."""
    ellipses, capsules = _pose_parts(pose)
    xs: list[float] = []
    ys: list[float] = []
    for (cx, cy), (ax, ay), _ in ellipses:
        xs += [cx - ax - _RIM, cx + ax + _RIM]
        ys += [cy - ay - _RIM, cy + ay + _RIM]
    for p0, p1, w in capsules:
        half = w / 2 + _RIM
        xs += [p0[0] - half, p0[0] + half, p1[0] - half, p1[0] + half]
        ys += [p0[1] - half, p0[1] + half, p1[1] - half, p1[1] + half]
    return min(xs), min(ys), max(xs), max(ys)


def _draw_hand(img: np.ndarray, fr: _Frame, pose: str, skin: RGB, sleeve: RGB | None, arm_dir: float) -> None:
    """A hand with its forearm; a darker rim first so a hand in front of a face still has an outline."""
    shade = tuple(0.62 * c for c in skin)
    light = tuple(min(255.0, 1.08 * c + 6) for c in skin)
    r = fr.r
    wrist_local = (0.0, 0.85) if pose in ("open", "relaxed") else (-0.15, 0.6)
    if pose == "thumb_down":
        wrist_local = (-0.7, 0.1)  # the forearm leaves sideways, away from the thumb
    wrist = fr.p(*wrist_local)
    # The forearm goes down (and toward the body), out of the frame.
    length = 9.0 * r
    elbow = (wrist[0] + math.sin(arm_dir) * length, wrist[1] + math.cos(arm_dir) * length)
    cuff = (wrist[0] + math.sin(arm_dir) * 1.2 * r, wrist[1] + math.cos(arm_dir) * 1.2 * r)
    arm_color = sleeve if sleeve is not None else skin
    arm_shade = tuple(0.6 * c for c in arm_color)
    _capsule(img, wrist, elbow, 1.25 * r, shade)
    _capsule(img, cuff, elbow, 1.25 * r, arm_shade)
    _capsule(img, wrist, elbow, 1.05 * r, skin)
    if sleeve is not None:
        _capsule(img, cuff, elbow, 1.1 * r, sleeve)
    ellipses, capsules = _pose_parts(pose)
    rim = _RIM
    for c, axes, angle in ellipses:
        _ellipse(img, fr.p(*c), ((axes[0] + rim) * r, (axes[1] + rim) * r), fr.angle_deg + angle, shade)
    for p0, p1, w in capsules:
        _capsule(img, fr.p(*p0), fr.p(*p1), (w + 2 * rim) * r, shade)
    for c, axes, angle in ellipses:
        _ellipse(img, fr.p(*c), (axes[0] * r, axes[1] * r), fr.angle_deg + angle, skin)
    for i, (p0, p1, w) in enumerate(capsules):
        if pose not in ("open", "relaxed") and i < 4:
            # Curled fingers: shade-then-skin gives each roll its crease.
            _capsule(img, fr.p(*p0), fr.p(*p1), w * r, skin)
            _capsule(img, fr.p(p0[0], p0[1] + 0.14), fr.p(p1[0], p1[1] + 0.14), 0.07 * r, shade)
        else:
            _capsule(img, fr.p(*p0), fr.p(*p1), w * r, skin)
    if pose in ("open", "relaxed"):
        # Finger roots and a palm highlight: gives the palm some depth at small sizes.
        palm = tuple(0.5 * (a + b) for a, b in zip(light, skin))
        _ellipse(img, fr.p(0.05, 0.15), (0.5 * r, 0.6 * r), fr.angle_deg, palm)
    if pose in ("thumb_up", "thumb_down"):
        sign = -1.0 if pose == "thumb_up" else 1.0
        _ellipse(img, fr.p(0.36, sign * 1.5), (0.13 * r, 0.2 * r), fr.angle_deg, light)  # thumbnail


def _draw_person(img: np.ndarray, p: Person, look: Look, dx: float, height: int, width: int) -> None:
    cx = (p.x + dx) * width
    hr = p.head_r * height
    sy = p.shoulder_y * height
    # Torso: a wide half-ellipse from the shoulders down past the bottom of the frame.
    _ellipse(img, (cx, sy + 2.6 * hr), (2.7 * hr, 2.9 * hr), 0.0, p.shirt)
    _capsule(img, (cx, sy - 0.9 * hr), (cx, sy + 0.2 * hr), 0.9 * hr, tuple(0.85 * c for c in look.skin))  # neck
    head = (cx, sy - 1.75 * hr)
    _ellipse(img, head, (0.86 * hr, 1.05 * hr), 0.0, look.skin)
    _ellipse(img, (head[0], head[1] - 0.45 * hr), (0.92 * hr, 0.68 * hr), 0.0, p.hair)
    eye = tuple(0.35 * c for c in look.skin)
    for side in (-1, 1):
        _ellipse(img, (head[0] + side * 0.33 * hr, head[1] + 0.05 * hr), (0.1 * hr, 0.07 * hr), 0.0, eye)
    _capsule(img, (head[0] - 0.22 * hr, head[1] + 0.55 * hr), (head[0] + 0.22 * hr, head[1] + 0.55 * hr),
             0.08 * hr, tuple(0.7 * c for c in look.skin))


# ---------------------------------------------------------------------------------------------------------------
# Motion


def person_offset(scene: Scene, t_s: float) -> float:
    """Horizontal offset of the person (frame fraction) at t_s: a constant sway plus any 'lean' acts."""
    p = scene.look.person
    if p is None:
        return 0.0
    dx = p.sway_amp * math.sin(2 * math.pi * p.sway_hz * t_s + p.sway_phase)
    for act in scene.acts:
        if act.kind == "lean" and act.start_s <= t_s <= act.end_s:
            u = (t_s - act.start_s) / max(act.end_s - act.start_s, 1e-6)
            dx += (act.x1 - act.x0) * math.sin(math.pi * u) ** 2
    return dx


def _hand_state(act: Act, scene: Scene, t_s: float) -> tuple[float, float, float, float] | None:
    """(x, y, scale, tilt_deg) of the hand of `act` at t_s, or None when it is out of view."""
    if t_s < act.start_s - act.enter_s or t_s > act.end_s + act.leave_s:
        return None
    if act.enter_s == 0 and t_s < act.start_s or act.leave_s == 0 and t_s > act.end_s:
        return None
    span = max(act.end_s - act.start_s, 1e-6)
    u_lin = min(max((t_s - act.start_s) / span, 0.0), 1.0)
    u = smoothstep(u_lin)
    x = act.x0 + (act.x1 - act.x0) * u
    y = act.y0 + (act.y1 - act.y0) * u
    scale, tilt = 1.0, act.tilt_deg
    wob = 2 * math.pi * act.wobble_hz * t_s + act.phase
    if act.kind == "Swipe":
        y -= act.jitter * math.sin(math.pi * u)  # a slight arc
        tilt *= math.sin(math.pi * u)  # leaning into the motion mid-swipe
    elif act.kind == "Stop":
        scale = 1.0 + act.scale_gain * smoothstep(u_lin / 0.5)
        x += act.jitter * math.sin(wob)
        y += act.jitter * 0.7 * math.sin(1.37 * wob + 1.0)
    elif act.kind in ("Thumbs Up", "Thumbs Down"):
        x += act.jitter * math.sin(wob)
    elif act.kind in ("wander", "rest", "fist"):
        # A slow random-looking path: two incommensurate sines around the straight line.
        x += act.jitter * math.sin(wob)
        y += act.jitter * 0.8 * math.sin(0.63 * wob + 2.0)
        tilt += 12.0 * math.sin(0.41 * wob)
    elif act.kind == "scratch":
        p = scene.look.person
        dx = person_offset(scene, t_s)
        if p is not None:  # follows the head
            x += dx
        x += act.jitter * math.sin(wob)
        y += act.jitter * 0.6 * math.sin(2 * wob)
    r_frac = scene.look.hand_size * act.size * scale
    below = 1.0 + 4.5 * r_frac  # fingertips and all out of view
    if t_s < act.start_s:
        y = act.y0 + (below - act.y0) * (1.0 - smoothstep((t_s - act.start_s + act.enter_s) / act.enter_s))
    elif t_s > act.end_s:
        y = act.y1 + (below - act.y1) * smoothstep((t_s - act.end_s) / act.leave_s)
    return x, y, scale, tilt


def _object_state(act: Act, t_s: float) -> tuple[float, float, float] | None:
    if not act.start_s <= t_s <= act.end_s:
        return None
    u = (t_s - act.start_s) / max(act.end_s - act.start_s, 1e-6)
    x = act.x0 + (act.x1 - act.x0) * u
    y = act.y0 + (act.y1 - act.y0) * u - act.jitter * abs(math.sin(2 * math.pi * act.wobble_hz * t_s + act.phase))
    return x, y, act.tilt_deg + 90.0 * u * act.scale_gain


def render_frame(scene: Scene, t_s: float, size_hw: tuple[int, int]) -> np.ndarray:
    """The RGB uint8 (H, W, 3) frame of `scene` at time `t_s` (seconds), `size_hw` = (height, width)."""
    height, width = int(size_hw[0]), int(size_hw[1])
    look = scene.look
    img = _background(look, (height, width)).copy()
    if look.person is not None:
        _draw_person(img, look.person, look, person_offset(scene, t_s), height, width)
    body_x = (look.person.x + person_offset(scene, t_s)) if look.person is not None else 0.5
    for act in scene.acts:
        if act.kind == "object":
            state = _object_state(act, t_s)
            if state is None:
                continue
            x, y, angle = state
            s = act.size * height
            if act.pose == "ball":
                _ellipse(img, (x * width, y * height), (0.5 * s, 0.5 * s), 0.0, tuple(0.6 * c for c in act.color))
                _ellipse(img, (x * width, y * height), (0.45 * s, 0.45 * s), 0.0, act.color)
                _ellipse(img, (x * width - 0.12 * s, y * height - 0.12 * s), (0.12 * s, 0.1 * s), 0.0,
                         tuple(min(255.0, c + 60) for c in act.color))
            else:
                box = ((x * width, y * height), (1.0 * s, 0.65 * s), angle)
                pts = cv2.boxPoints(box)
                cv2.fillConvexPoly(img, np.round(pts * _ONE).astype(np.int32), act.color, cv2.LINE_AA, _SHIFT)
                _capsule(img, tuple(pts[0]), tuple(pts[1]), max(1.0, 0.06 * s), tuple(0.6 * c for c in act.color))
            continue
        if act.kind in ("none", "lean"):
            continue
        state = _hand_state(act, scene, t_s)
        if state is None:
            continue
        x, y, scale, tilt = state
        r_px = look.hand_size * act.size * scale * height
        fr = _Frame(x * width, y * height, r_px, tilt, look.handedness)
        # Forearms point down and a little toward the body; sideways for a thumbs-down (the wrist turned).
        toward_body = 1.0 if body_x > x else -1.0
        if act.pose == "thumb_down":  # the wrist is on the little-finger side, away from the thumb
            arm_dir = -look.handedness * math.radians(50)
        else:
            arm_dir = toward_body * math.radians(18)
        _draw_hand(img, fr, act.pose, look.skin, look.sleeve, arm_dir)
    # Camera: lighting, contrast, colour cast, blur, noise (float until the very end).
    flick = 1.0 + look.flicker * math.sin(2 * math.pi * look.flicker_hz * t_s + look.seed % 11)
    img *= _light_map(look, (height, width)) * np.float32(flick)
    img -= np.float32(128.0)
    img *= np.float32(look.contrast)
    img += np.float32(128.0)
    blur = look.blur_px * height / 120.0
    if blur > 0.25:
        cv2.GaussianBlur(img, (0, 0), blur, dst=img)
    if look.pattern_sigma > 0:
        img += _pattern(look, (height, width))
    if look.noise_sigma > 0:
        # Keyed on time in microseconds: the same frame whoever renders it and in whatever order.
        rng = np.random.default_rng([look.seed, 7, int(round(t_s * 1e6)) & 0xFFFFFFFFFFFF])
        img += rng.standard_normal((height, width, 3), dtype=np.float32) * np.float32(look.noise_sigma)
    np.clip(img, 0, 255, out=img)
    return np.rint(img).astype(np.uint8)
