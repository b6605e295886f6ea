"""Synthetic gesture clips and continuous streams: the offline stand-in for real data.

A deterministic renderer draws a room (gradient wall, furniture), a person, and a hand performing one of the
four gestures, or a "No gesture" behaviour (no hand, a hand resting or drifting, a fist without thumb, a
moving object), with per-clip variation of background, skin tone, lighting, colour cast, hand scale,
position, speed and camera noise. Rendering is a function of continuous time, so training clips (30 frames
over 2 s, the case-study layout) and streams (any fps) show the same gestures at the same speeds.

Only numpy and OpenCV are used (no TensorFlow), and a seed fixes every pixel.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from edge import __version__

logger = logging.getLogger(__name__)

GESTURES = ("Swipe", "Stop", "Thumbs Down", "Thumbs Up")
BACKGROUND = "No gesture"
CLASSES = GESTURES + (BACKGROUND,)
CASESTUDY_LABELS = {  # case-study label index -> the name written in the CSV
    0: "Left Swipe_new", 1: "Right Swipe_new", 2: "Stop_new", 3: "Thumbs Down_new", 4: "Thumbs Up_new",
    5: "No gesture",
}
CLIP_FRAMES = 30
CLIP_DURATION_S = 2.0
GESTURE_DURATION_S = (0.8, 1.4)
ENTER_S = 0.2
"""The hand rises into place before the gesture proper, and drops away after it."""


class SynthError(ValueError):
    """Bad arguments for the generator (one line)."""


@dataclass(frozen=True)
class Room:
    """Everything that stays fixed within one clip or stream: the place, the person, the camera."""

    wall_a: tuple[float, float, float]
    wall_b: tuple[float, float, float]
    furniture: tuple[tuple[float, float, float, float, tuple[float, float, float]], ...]
    person_x: float
    person_scale: float
    shirt: tuple[float, float, float]
    skin: tuple[float, float, float]
    hand_scale: float
    """Palm radius as a fraction of the frame height."""
    gain: float
    cast: tuple[float, float, float]
    noise_sigma: float
    blur: bool
    seed: int


@dataclass(frozen=True)
class Act:
    """One thing the hand does between start_s and end_s (the gesture proper, without enter/leave)."""

    kind: str
    """A gesture name, or a background behaviour: 'none', 'rest', 'fist', 'object'."""
    start_s: float
    end_s: float
    x0: float
    y0: float
    x1: float
    y1: float
    direction: int = 1


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in keys])


def make_room(seed: int) -> Room:
    """A random room, person and camera for `seed`."""
    rng = _rng(seed, 1)
    wall_a = tuple(rng.uniform(40, 220, 3))
    wall_b = tuple(np.clip(np.array(wall_a) + rng.uniform(-60, 60, 3), 0, 255))
    furniture = tuple(
        (rng.uniform(0, 0.9), rng.uniform(0.3, 0.9), rng.uniform(0.08, 0.35), rng.uniform(0.1, 0.5),
         tuple(rng.uniform(20, 235, 3)))
        for _ in range(rng.integers(2, 6))
    )
    tone = rng.uniform(0, 1)  # light to dark skin
    skin = tuple(np.array([235, 200, 170]) * (1 - tone) + np.array([95, 60, 40]) * tone + rng.uniform(-12, 12, 3))
    return Room(
        wall_a=wall_a, wall_b=wall_b, furniture=furniture, person_x=rng.uniform(0.3, 0.7),
        person_scale=rng.uniform(0.55, 0.85), shirt=tuple(rng.uniform(20, 235, 3)), skin=skin,
        hand_scale=rng.uniform(0.075, 0.12), gain=rng.uniform(0.65, 1.3), cast=tuple(rng.uniform(0.85, 1.15, 3)),
        noise_sigma=rng.uniform(1.5, 7.0), blur=bool(rng.uniform() < 0.4), seed=seed,
    )


def make_act(kind: str, start_s: float, duration_s: float, rng: np.random.Generator) -> Act:
    """Where and how far the hand moves for one act of `kind`."""
    x, y = rng.uniform(0.3, 0.7), rng.uniform(0.35, 0.6)
    direction = 1 if rng.uniform() < 0.5 else -1
    if kind == "Swipe":
        span = rng.uniform(0.45, 0.65)
        x0 = 0.5 - direction * span / 2 + rng.uniform(-0.08, 0.08)
        return Act(kind, start_s, start_s + duration_s, x0, y, x0 + direction * span, y + rng.uniform(-0.05, 0.05),
                   direction)
    if kind == "Stop":
        return Act(kind, start_s, start_s + duration_s, x, y, x + rng.uniform(-0.02, 0.02), y, direction)
    if kind == "Thumbs Up":
        return Act(kind, start_s, start_s + duration_s, x, y + 0.06, x, y - rng.uniform(0.06, 0.12), direction)
    if kind == "Thumbs Down":
        return Act(kind, start_s, start_s + duration_s, x, y - 0.06, x, y + rng.uniform(0.06, 0.12), direction)
    if kind == "rest":  # a hand low in the frame, drifting slowly, fingers not raised
        y = rng.uniform(0.75, 0.92)
        return Act(kind, start_s, start_s + duration_s, x, y, x + rng.uniform(-0.12, 0.12), y, direction)
    if kind == "fist":  # a closed fist wandering: no thumb, no open palm
        return Act(kind, start_s, start_s + duration_s, x, y, x + rng.uniform(-0.2, 0.2), y + rng.uniform(-0.15, 0.15),
                   direction)
    if kind == "object":  # something that is not a hand crossing the view
        return Act(kind, start_s, start_s + duration_s, -0.1 if direction > 0 else 1.1, rng.uniform(0.2, 0.8),
                   1.1 if direction > 0 else -0.1, rng.uniform(0.2, 0.8), direction)
    return Act("none", start_s, start_s + duration_s, x, y, x, y, direction)


def _smooth(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3 - 2 * u)


def _capsule(img: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], radius: float, color) -> None:
    a = (int(round(p0[0] * 16)), int(round(p0[1] * 16)))
    b = (int(round(p1[0] * 16)), int(round(p1[1] * 16)))
    cv2.line(img, a, b, color, max(1, int(round(2 * radius))), cv2.LINE_AA, shift=4)


def _draw_hand(img: np.ndarray, kind: str, cx: float, cy: float, r: float, color, shade) -> None:
    """An open palm (Swipe, Stop, rest) or a fist with the thumb up/down/absent, centred at (cx, cy) px."""
    # A darker rim first, so a hand in front of a face (same skin) still has an outline.
    cv2.circle(img, (int(cx * 16), int(cy * 16)), int(r * 1.05 * 16), shade, -1, cv2.LINE_AA, shift=4)
    if kind in ("Swipe", "Stop", "rest"):
        cv2.ellipse(img, (int(cx * 16), int(cy * 16)), (int(r * 0.85 * 16), int(r * 16)), 0, 0, 360, color, -1,
                    cv2.LINE_AA, shift=4)
        tilt = 0.0 if kind != "rest" else 1.2  # a resting hand lies sideways
        for i, length in enumerate((1.05, 1.25, 1.2, 0.95)):
            angle = tilt + (-0.33 + i * 0.22)
            base = (cx + np.sin(angle) * r * 0.7, cy - np.cos(angle) * r * 0.7)
            tip = (base[0] + np.sin(angle) * r * length, base[1] - np.cos(angle) * r * length)
            _capsule(img, base, tip, r * 0.17, color)
            _capsule(img, base, (base[0] + (tip[0] - base[0]) * 0.4, base[1] + (tip[1] - base[1]) * 0.4), r * 0.05, shade)
        thumb = (cx - r * 0.95, cy - r * 0.1) if tilt == 0 else (cx - r * 0.2, cy - r * 0.9)
        _capsule(img, (cx - r * 0.55, cy + r * 0.3), thumb, r * 0.2, color)
        return
    cv2.circle(img, (int(cx * 16), int(cy * 16)), int(r * 0.8 * 16), color, -1, cv2.LINE_AA, shift=4)
    for i in range(3):  # knuckle creases
        y = cy - r * 0.35 + i * r * 0.3
        _capsule(img, (cx + r * 0.1, y), (cx + r * 0.6, y), r * 0.03, shade)
    if kind == "Thumbs Up":
        _capsule(img, (cx - r * 0.3, cy - r * 0.4), (cx - r * 0.3, cy - r * 1.55), r * 0.24, color)
    elif kind == "Thumbs Down":
        _capsule(img, (cx - r * 0.3, cy + r * 0.4), (cx - r * 0.3, cy + r * 1.55), r * 0.24, color)


def render_frame(room: Room, acts: Sequence[Act], t_s: float, size_hw: tuple[int, int]) -> np.ndarray:
    """The RGB uint8 frame at time `t_s` of a scene made of `room` and its `acts`."""
    height, width = size_hw
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = (np.array(room.wall_a, np.float32) * (1 - ramp) + np.array(room.wall_b, np.float32) * ramp)
    img = np.ascontiguousarray(np.broadcast_to(img, (height, width, 3))).astype(np.uint8)
    for fx, fy, fw, fh, color in room.furniture:
        cv2.rectangle(img, (int(fx * width), int(fy * height)), (int((fx + fw) * width), int((fy + fh) * height)),
                      color, -1)
    sway = 0.015 * np.sin(2 * np.pi * 0.3 * t_s + room.seed % 7)
    px, s = (room.person_x + sway) * width, room.person_scale * height
    cv2.ellipse(img, (int(px), int(0.95 * height)), (int(0.32 * s), int(0.42 * s)), 0, 180, 360, room.shirt, -1,
                cv2.LINE_AA)
    cv2.circle(img, (int(px), int(0.95 * height - 0.52 * s)), int(0.14 * s), room.skin, -1, cv2.LINE_AA)
    shade = tuple(0.7 * c for c in room.skin)
    for act in acts:
        if not act.start_s - ENTER_S <= t_s <= act.end_s + ENTER_S or act.kind == "none":
            continue
        u = _smooth((t_s - act.start_s) / max(act.end_s - act.start_s, 1e-6))
        x = act.x0 + (act.x1 - act.x0) * u
        y = act.y0 + (act.y1 - act.y0) * u
        if t_s < act.start_s:  # rising into place from below
            y += (1 - _smooth((t_s - act.start_s + ENTER_S) / ENTER_S)) * 0.6
        elif t_s > act.end_s:  # dropping away
            y += _smooth((t_s - act.end_s) / ENTER_S) * 0.6
        radius = room.hand_scale * height * (1 + (0.2 * u if act.kind == "Stop" else 0))
        if act.kind == "object":
            cv2.rectangle(img, (int(x * width - radius), int(y * height - radius)),
                          (int(x * width + radius), int(y * height + radius * 0.6)), (60, 90, 200), -1, cv2.LINE_AA)
            continue
        _draw_hand(img, act.kind, x * width, y * height, radius, room.skin, shade)
        # The forearm: from the hand down to the bottom of the frame.
        _capsule(img, (x * width + radius * 0.2, y * height + radius * 0.8),
                 (x * width + radius * 0.8, height + radius), radius * 0.55, room.shirt)
    out = img.astype(np.float32) * room.gain * np.array(room.cast, np.float32)
    if room.blur:
        out = cv2.GaussianBlur(out, (3, 3), 0.8)
    noise = _rng(room.seed, 2, int(round(t_s * 1000))).normal(0, room.noise_sigma, out.shape).astype(np.float32)
    return np.clip(out + noise, 0, 255).astype(np.uint8)


def clip_acts(label: str, seed: int) -> tuple[Room, list[Act]]:
    """The room and acts of one training clip of `label` (2 s; the gesture at a random offset)."""
    rng = _rng(seed, 3)
    room = make_room(seed)
    if label in GESTURES:
        duration = rng.uniform(*GESTURE_DURATION_S)
        start = rng.uniform(ENTER_S, CLIP_DURATION_S - duration - ENTER_S * 0.5)
        return room, [make_act(label, start, duration, rng)]
    kind = ("none", "rest", "fist", "object", "rest", "fist")[int(rng.integers(0, 6))]
    duration = rng.uniform(0.8, 1.6)
    return room, [make_act(kind, rng.uniform(0.0, CLIP_DURATION_S - duration), duration, rng)]


def render_clip(label: str, seed: int, size_hw: tuple[int, int] = (120, 160), frames: int = CLIP_FRAMES,
                duration_s: float = CLIP_DURATION_S) -> np.ndarray:
    """`frames` RGB frames (frames, H, W, 3) of one clip, evenly over `duration_s`."""
    room, acts = clip_acts(label, seed)
    return np.stack([render_frame(room, acts, i * duration_s / frames, size_hw) for i in range(frames)])


def _progress(items: Sequence, desc: str) -> Iterator:
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with the [convert] extra; work without it
        return iter(items)
    return iter(tqdm(items, desc=desc, unit="clip", file=sys.stderr, leave=False))


def _fresh_dir(out_dir: Path, force: bool) -> Path:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not force:
        raise SynthError(f"{out_dir}: exists and is not empty (use --force to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))


def _replace_dir(tmp: Path, out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)


def write_casestudy(out_dir: str | Path, clips_per_class: dict[str, int], seed: int,
                    size_hw: tuple[int, int] = (120, 160), frames: int = CLIP_FRAMES,
                    duration_s: float = CLIP_DURATION_S, image_format: str = "jpg",
                    classes: Sequence[str] = CLASSES, force: bool = False) -> Path:
    """Write a case-study-layout dataset (`train/`, `train.csv`, `val/`, `val.csv`) atomically."""
    out_dir = Path(out_dir)
    if image_format not in ("jpg", "png"):
        raise SynthError(f"image format '{image_format}': expected jpg or png")
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise SynthError(f"classes {unknown}: expected some of {', '.join(CLASSES)}")
    tmp = _fresh_dir(out_dir, force)
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if image_format == "jpg" else []
    try:
        for split_index, (split, per_class) in enumerate(clips_per_class.items()):
            jobs = [(label, i) for i in range(per_class) for label in classes]
            lines = []
            for n, (label, i) in enumerate(_progress(jobs, f"synth {split}")):
                clip_seed = seed * 1_000_003 + split_index * 100_003 + n
                index = {"Swipe": 0, "Stop": 2, "Thumbs Down": 3, "Thumbs Up": 4, BACKGROUND: 5}[label]
                room, acts = clip_acts(label, clip_seed)
                if label == "Swipe" and acts[0].direction > 0:
                    index = 1
                slug = CASESTUDY_LABELS[index].replace(" ", "_")
                folder = f"synth_s{seed}_{split}_{n:05d}_{slug}"
                (tmp / split / folder).mkdir(parents=True)
                for f in range(frames):
                    rgb = render_frame(room, acts, f * duration_s / frames, size_hw)
                    ok, data = cv2.imencode(f".{image_format}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
                    assert ok
                    (tmp / split / folder / f"{f + 1:05d}.{image_format}").write_bytes(data.tobytes())
                lines.append(f"{folder};{CASESTUDY_LABELS[index]};{index}\n")
            (tmp / f"{split}.csv").write_text("".join(lines))
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def stream_acts(seed: int, duration_s: float, gestures: Sequence[str] | None = None,
                gap_s: tuple[float, float] = (2.5, 5.0), background_only: bool = False) -> tuple[Room, list[Act]]:
    """The room and the timeline of a continuous stream: background stretches between gestures."""
    rng = _rng(seed, 4)
    room = make_room(seed)
    acts: list[Act] = []
    order = list(gestures) if gestures else []
    t = rng.uniform(*gap_s)
    while True:
        if background_only or not order and gestures:
            break
        if not order:  # balanced and shuffled: every gesture once per round
            order = list(rng.permutation(GESTURES))
        duration = rng.uniform(*GESTURE_DURATION_S)
        if t + duration + ENTER_S + 1.0 > duration_s:
            break
        acts.append(make_act(str(order.pop(0)), t, duration, rng))
        t += duration + rng.uniform(*gap_s)
    # Other things the person does in the gaps (never overlapping a gesture).
    busy = [(a.start_s - ENTER_S - 0.3, a.end_s + ENTER_S + 0.3) for a in acts]
    other: list[Act] = []
    t = rng.uniform(0.0, 1.0)
    while t < duration_s:
        duration = rng.uniform(0.8, 2.0)
        kind = ("rest", "fist", "object", "none")[int(rng.integers(0, 4))]
        span = (t - ENTER_S, t + duration + ENTER_S)
        if span[1] < duration_s and all(span[1] < b0 or span[0] > b1 for b0, b1 in busy):
            other.append(make_act(kind, t, duration, rng))
        t += duration + rng.uniform(1.0, 4.0)
    return room, sorted(acts + other, key=lambda a: a.start_s)


def write_stream(video_path: str | Path, seed: int, duration_s: float, fps: float = 30.0,
                 size_hw: tuple[int, int] = (240, 320), gestures: Sequence[str] | None = None,
                 gap_s: tuple[float, float] = (2.5, 5.0), background_only: bool = False) -> Path:
    """Write an MP4 stream and its ground truth `NAME.truth.json` (gesture, start_s, end_s per event)."""
    video_path = Path(video_path)
    if video_path.suffix.lower() != ".mp4":
        raise SynthError(f"{video_path}: expected a .mp4 file name")
    if duration_s <= 0 or fps <= 0:
        raise SynthError(f"duration {duration_s} s at {fps} fps: expected both > 0")
    room, acts = stream_acts(seed, duration_s, gestures, gap_s, background_only)
    video_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_video = video_path.with_name(f".{video_path.stem}.tmp.mp4")
    height, width = size_hw
    writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise SynthError(f"{video_path}: OpenCV cannot write MP4 (mp4v) here")
    frames = int(round(duration_s * fps))
    try:
        for f in _progress(range(frames), "synth stream"):
            writer.write(cv2.cvtColor(render_frame(room, acts, f / fps, size_hw), cv2.COLOR_RGB2BGR))
        writer.release()
        tmp_video.replace(video_path)
    except BaseException:
        writer.release()
        tmp_video.unlink(missing_ok=True)
        raise
    truth = {
        "video": video_path.name, "fps": float(fps), "frames": frames, "duration_s": frames / fps, "seed": seed,
        "events": [{"gesture": a.kind, "start_s": round(a.start_s, 3), "end_s": round(a.end_s, 3)}
                   for a in acts if a.kind in GESTURES],
    }
    from edge.manifest import write_text_atomic

    write_text_atomic(video_path.with_name(f"{video_path.stem}.truth.json"), json.dumps(truth, indent=1) + "\n")
    return video_path


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected HxW, e.g. 120x160") from None
    if height < 16 or width < 16:
        raise argparse.ArgumentTypeError(f"'{text}': expected at least 16x16")
    return height, width


def main(argv: Sequence[str] | None = None) -> int:
    """gesture-synth: write synthetic clips (case-study layout) or a continuous stream with ground truth."""
    parser = argparse.ArgumentParser(prog="gesture-synth", description=main.__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    sub = parser.add_subparsers(dest="command", required=True)
    clips = sub.add_parser("clips", help="a dataset in the case-study layout (train/ val/ + CSVs)")
    clips.add_argument("--out", required=True, type=Path)
    clips.add_argument("--train", type=int, default=20, help="clips per class in train/")
    clips.add_argument("--val", type=int, default=5, help="clips per class in val/")
    clips.add_argument("--seed", type=int, default=1)
    clips.add_argument("--size", type=_size, default=(120, 160), help="frame size HxW (default 120x160)")
    clips.add_argument("--format", choices=("jpg", "png"), default="jpg")
    clips.add_argument("--no-background", action="store_true", help="leave out the No gesture class")
    clips.add_argument("--force", action="store_true", help="replace an existing output folder")
    stream = sub.add_parser("stream", help="a continuous MP4 with NAME.truth.json")
    stream.add_argument("--out", required=True, type=Path, help="FILE.mp4")
    stream.add_argument("--seed", type=int, default=2000)
    stream.add_argument("--duration-s", type=float, default=40.0)
    stream.add_argument("--fps", type=float, default=30.0)
    stream.add_argument("--size", type=_size, default=(240, 320), help="frame size HxW (default 240x320)")
    stream.add_argument("--background-only", action="store_true", help="no gestures at all")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "clips":
            if args.train < 0 or args.val < 0 or args.train + args.val == 0:
                raise SynthError("--train/--val: expected counts >= 0, not both 0")
            classes = GESTURES if args.no_background else CLASSES
            splits = {k: v for k, v in (("train", args.train), ("val", args.val)) if v > 0}
            out = write_casestudy(args.out, splits, args.seed, args.size, image_format=args.format,
                                  classes=classes, force=args.force)
        else:
            out = write_stream(args.out, args.seed, args.duration_s, args.fps, args.size,
                               background_only=args.background_only)
    except SynthError as exc:
        print(f"gesture-synth: error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
