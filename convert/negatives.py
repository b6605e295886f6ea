"""Hard negatives for `gesture-train --negatives`: background windows the current model takes for a gesture.

The current model (`--init`) runs over background footage (the room as it is, no gestures) at the model's
frame rate, as the edge runtime would: every T-frame window starting every `hop` frames is scored. The per-frame
part of the model runs once per frame and only the recurrent head runs per window (the split of
`convert.structure`, which the exporter checks is exact), so an hour of footage costs an hour of frames, not
T times that. Windows whose top gesture probability reaches `threshold` "fired"; they are kept, plus a random
sample of the rest, and added to the training set as the background class.

The mined windows are written, in the case-study layout that `convert.data` reads, into OUT/negatives/:

    OUT/negatives/train/neg_00001/00001.jpg ... 000T.jpg   the T frames the model saw (model size, RGB)
    OUT/negatives/train.csv                                neg_00001;No gesture;5
    OUT/negatives/windows.json                             per window: source file, start frame and time,
                                                           why (fired / random), the model's probabilities;
                                                           per footage file: every window's top gesture prob

so they can be looked at, and given to a later round (`--negatives OUT/negatives` adds them as they are).
Rounds: round 2 is `--init ROUND1/model.keras --negatives` the same footage (mined again with the new model).
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from convert.data import IMAGE_SUFFIXES, ClipRef, DatasetError, read_casestudy
from edge.fileio import write_text_atomic
from edge.sources import SourceError, SourceOptions, open_source
from edge.sources.footage import video_model_frames
from edge.vocab import BACKGROUND

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")
NEGATIVES_DIR = "negatives"
CLIP_PREFIX = "neg_"
JPEG_QUALITY = 95
BACKGROUND_INDEX = 5
"""The case-study label index of the background class (our extension), written to train.csv."""
FOOTAGE_HINT = ("a video, a folder of videos, a `gesture-edge capture` folder (its background/), a folder of "
                "frames, or a mined negatives folder (OUT/negatives)")


class NegativesError(ValueError):
    """Footage or settings that cannot be mined. The message is one line naming the path or flag."""


@dataclass(frozen=True)
class FootageSet:
    """What --negatives named: footage to mine, and folders of windows mined in an earlier round."""

    footage: tuple[Path, ...]
    """Videos or folders of frames."""
    mined: tuple[Path, ...]
    """OUT/negatives folders of an earlier round (added as they are)."""


@dataclass(frozen=True)
class MineSettings:
    """How to mine (gesture-train's --negatives-* flags)."""

    frames: int
    """T: frames per window (the model's)."""
    size_hw: tuple[int, int]
    model_fps: float
    threshold: float = 0.5
    """A window fired when its top gesture probability is at least this."""
    random: int = 100
    """Windows drawn at random from the rest (not fired), in all."""
    hop: int = 2
    """A window starts every `hop` model frames (the runtime's default hop)."""
    max_windows: int = 1000
    """At most this many fired windows are kept (a random subset when more fired)."""
    seed: int = 1


@dataclass
class MineResult:
    """What mining found and wrote."""

    clips: list[ClipRef] = field(default_factory=list)
    """Mined clips (this round's and earlier rounds'), labelled as the background class."""
    scored: int = 0
    fired: Counter = field(default_factory=Counter)
    """Fired windows per top gesture (before the max_windows cap)."""
    kept_fired: int = 0
    kept_random: int = 0
    earlier: int = 0
    """Clips taken as they are from earlier rounds' folders."""
    footage_s: float = 0.0


def _videos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def is_mined_folder(folder: Path) -> bool:
    """An OUT/negatives folder written by an earlier round."""
    return (folder / "windows.json").is_file() and (folder / "train.csv").is_file()


def find_footage(paths: Sequence[Path], option: str = "--negatives") -> FootageSet:
    """Resolve --negatives arguments without reading any footage; NegativesError (one line) when unusable."""
    footage: list[Path] = []
    mined: list[Path] = []
    for path in paths:
        if not path.exists():
            raise NegativesError(f"{option} {path}: no such file or folder (expected {FOOTAGE_HINT})")
        if path.is_file():
            if path.suffix.lower() not in VIDEO_SUFFIXES:
                raise NegativesError(f"{option} {path}: not a video ({', '.join(VIDEO_SUFFIXES)}); expected "
                                     f"{FOOTAGE_HINT}")
            footage.append(path)
            continue
        if is_mined_folder(path):
            mined.append(path)
            continue
        folder = path / "background" if (path / "background").is_dir() else path
        videos = _videos_in(folder)
        if videos:
            footage += videos
        elif any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
            footage.append(folder)
        else:
            raise NegativesError(f"{option} {path}: no footage in it (expected {FOOTAGE_HINT})")
    return FootageSet(tuple(dict.fromkeys(footage)), tuple(dict.fromkeys(mined)))


class WindowScorer:
    """Class probabilities of T-frame windows: the per-frame layers once per frame, the recurrent head per window.

    The same trained layers as the clip model (convert.structure: the split the exporter verifies), so a
    window's probabilities are the clip model's on those T frames.
    """

    def __init__(self, model: Any, batch_windows: int = 256) -> None:
        from convert.structure import analyze, build_frame_model

        self.parts = analyze(model)
        # 'none': the frame model takes raw 0-255 pixels, the model's own Rescaling normalizes (gesture-train's).
        self.frame_model = build_frame_model(self.parts, "none")
        self.batch_windows = batch_windows

    def features(self, frames_uint8: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, F) float32 feature vectors."""
        return np.asarray(self.frame_model(frames_uint8.astype(np.float32), training=False))

    def windows(self, features: np.ndarray, starts: Sequence[int], frames: int) -> np.ndarray:
        """Probabilities (len(starts), classes) of the windows features[s:s+frames]."""
        out = []
        for i in range(0, len(starts), self.batch_windows):
            batch = np.stack([features[s:s + frames] for s in starts[i:i + self.batch_windows]])
            y = self.parts.rnn(batch, training=False)
            for layer in self.parts.head:
                y = layer(y, training=False)
            out.append(np.asarray(y))
        return np.concatenate(out) if out else np.zeros((0, self.parts.num_classes), np.float32)


def _open(path: Path, s: MineSettings):
    try:
        return open_source(str(path), s.size_hw, s.model_fps, options=SourceOptions())
    except SourceError as exc:
        raise NegativesError(f"--negatives {path}: {exc}") from None


def _expected_frames(path: Path, model_fps: float) -> int | None:
    """About how many model frames the footage gives (for the progress bar)."""
    if path.is_dir():
        return sum(1 for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return video_model_frames(path, model_fps)


def _bar(total: int | None, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with the [convert] extra; mine without a bar otherwise
        return None
    return tqdm(total=total, desc=desc, unit="frame", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)


def score_footage(scorer: WindowScorer, path: Path, s: MineSettings,
                  chunk_frames: int = 64) -> tuple[np.ndarray, np.ndarray, int]:
    """Every window of one footage file: (start times s (W,), probabilities (W, classes), model frames read).

    Window w starts at model frame w * hop. Features are kept only as long as a window still needs them.
    """
    source = _open(path, s)
    bar = _bar(_expected_frames(path, s.model_fps), f"mining {path.name}")
    times: list[float] = []
    probs: list[np.ndarray] = []
    feats = np.zeros((0, 0), np.float32)
    base = 0  # model frame index of feats[0]
    next_start = 0
    total = 0
    pending: list[np.ndarray] = []
    try:
        while True:
            frame = source.read()
            if frame is not None:
                pending.append(frame.rgb)
                times.append(frame.t_s)
                total += 1
                if bar is not None:
                    bar.update(1)
            if pending and (len(pending) == chunk_frames or frame is None):
                new = scorer.features(np.stack(pending))
                feats = new if feats.size == 0 else np.concatenate([feats, new])
                pending.clear()
                starts = list(range(next_start, base + len(feats) - s.frames + 1, s.hop))
                if starts:
                    probs.append(scorer.windows(feats, [st - base for st in starts], s.frames))
                    next_start = starts[-1] + s.hop
                drop = max(0, min(next_start, base + len(feats)) - base)
                feats, base = feats[drop:], base + drop
            if frame is None:
                break
    finally:
        source.close()
        if bar is not None:
            bar.close()
    n_windows = sum(len(p) for p in probs)
    starts_s = np.array([times[w * s.hop] for w in range(n_windows)], dtype=np.float64)
    return starts_s, (np.concatenate(probs) if probs else np.zeros((0, scorer.parts.num_classes))), total


def _write_windows(path: Path, s: MineSettings, starts: dict[int, str], train_dir: Path) -> None:
    """Write the frames of the windows starting at `starts` (model frame -> clip folder name) of one footage."""
    source = _open(path, s)
    recent: deque[np.ndarray] = deque(maxlen=s.frames)
    index = -1
    try:
        while len(starts):
            frame = source.read()
            if frame is None:
                break
            index += 1
            recent.append(frame.rgb)
            name = starts.pop(index - s.frames + 1, None)
            if name is None:
                continue
            folder = train_dir / name
            folder.mkdir()
            for number, rgb in enumerate(recent, start=1):
                file = folder / f"{number:05d}.jpg"
                if not cv2.imwrite(str(file), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                    raise NegativesError(f"{file}: cannot write the JPEG")
    finally:
        source.close()
    if starts:
        raise NegativesError(f"--negatives {path}: gave fewer frames the second time it was read "
                             f"({len(starts)} mined window(s) missing); is it being written to?")


def mine(model: Any, labels: Sequence[str], footage: FootageSet, s: MineSettings, out: Path,
         model_name: str = "") -> MineResult:
    """Score the footage with `model` (classes `labels`), write the kept windows into `out`, return them.

    `out` (e.g. the run's temp folder + negatives/) must not exist; it is written only when there is footage.
    """
    if BACKGROUND not in labels:
        raise NegativesError(f"--negatives: the model's classes {list(labels)} have no '{BACKGROUND}' class to "
                             "add the mined windows to")
    gestures = [i for i, label in enumerate(labels) if label != BACKGROUND]
    result = MineResult()
    for folder in footage.mined:
        try:
            earlier = read_casestudy(folder, "train")
        except DatasetError as exc:
            raise NegativesError(f"--negatives {folder}: {exc}") from None
        result.clips += [c for c in earlier if c.label == BACKGROUND]
        result.earlier += len(earlier)
    if not footage.footage:
        return result
    scorer = WindowScorer(model)
    if scorer.parts.num_classes != len(labels):
        raise NegativesError(f"--negatives: the model has {scorer.parts.num_classes} outputs for {len(labels)} "
                             "classes")
    scored = []
    for path in footage.footage:
        starts_s, probs, total = score_footage(scorer, path, s)
        if total < s.frames:
            logger.warning("%s: %d model frames, fewer than a window's %d: nothing to mine", path, total, s.frames)
        scored.append((path, starts_s, probs))
        result.footage_s += total / s.model_fps
    rng = np.random.default_rng(s.seed)
    table = [(f, w) for f, (_, _, probs) in enumerate(scored) for w in range(len(probs))]
    top = np.concatenate([p[:, gestures].max(axis=1) for _, _, p in scored]) if table else np.zeros(0)
    which = np.concatenate([np.asarray(gestures)[p[:, gestures].argmax(axis=1)] for _, _, p in scored]) \
        if table else np.zeros(0, np.int64)
    fired = np.flatnonzero(top >= s.threshold)
    rest = np.flatnonzero(top < s.threshold)
    result.scored = len(table)
    result.fired = Counter(labels[int(which[i])] for i in fired)
    if len(fired) > s.max_windows:
        logger.warning("%d windows fired; keeping a random %d (--negatives-max)", len(fired), s.max_windows)
        fired = np.sort(rng.choice(fired, s.max_windows, replace=False))
    drawn = np.sort(rng.choice(rest, min(s.random, len(rest)), replace=False)) if len(rest) else rest
    result.kept_fired, result.kept_random = len(fired), len(drawn)
    why = {int(i): "fired" for i in fired} | {int(i): "random" for i in drawn}

    train_dir = out / "train"
    train_dir.mkdir(parents=True)
    records, csv_lines = [], []
    per_footage: list[dict[int, str]] = [{} for _ in scored]
    for number, i in enumerate(sorted(why), start=1):
        f, w = table[i]
        path, starts_s, probs = scored[f]
        name = f"{CLIP_PREFIX}{number:05d}"
        per_footage[f][w * s.hop] = name
        csv_lines.append(f"{name};{BACKGROUND};{BACKGROUND_INDEX}")
        records.append({"clip": name, "source": str(path), "start_frame": w * s.hop,
                        "start_s": round(float(starts_s[w]), 4), "why": why[i],
                        "top_gesture": labels[int(which[i])], "top_gesture_prob": round(float(top[i]), 6),
                        "probs": {label: round(float(p), 6) for label, p in zip(labels, probs[w])}})
    for (path, _, _), starts in zip(scored, per_footage):
        if starts:
            _write_windows(path, s, dict(starts), train_dir)
    write_text_atomic(out / "train.csv", "".join(line + "\n" for line in csv_lines))
    write_text_atomic(out / "windows.json", json.dumps({
        "model": model_name, "labels": list(labels), "threshold": s.threshold, "hop_frames": s.hop,
        "frames": s.frames, "model_fps": s.model_fps, "size_px": list(s.size_hw), "random": s.random,
        "max_windows": s.max_windows, "seed": s.seed, "windows_scored": result.scored,
        "fired": dict(result.fired), "windows": records,
        "footage": [{"path": str(path), "windows": len(probs),
                     "top_gesture_prob": [round(float(v), 5) for v in probs[:, gestures].max(axis=1)]
                     if len(probs) else []}
                    for path, _, probs in scored],
    }, indent=1) + "\n")
    if csv_lines:
        result.clips += read_casestudy(out, "train")
    return result


def summary(result: MineResult, s: MineSettings, out: Path) -> str:
    """One line for the user: windows scored, fired per gesture, kept, where they went."""
    fired = ", ".join(f"{g} {n}" for g, n in sorted(result.fired.items(), key=lambda kv: -kv[1])) or "none"
    line = (f"hard negatives: scored {result.scored} windows of {s.frames} frames (one every {s.hop} model "
            f"frame{'s' if s.hop > 1 else ''}; {result.footage_s / 60:.1f} min of footage at {s.model_fps:g} fps); "
            f"fired (top gesture >= {s.threshold:g}): "
            f"{sum(result.fired.values())} ({fired}); kept {result.kept_fired} fired + {result.kept_random} random")
    if result.kept_fired + result.kept_random:
        line += f" -> {out}"
    if result.earlier:
        line += f"; {result.earlier} from earlier rounds"
    return line + f"; {len(result.clips)} added to the training set as {BACKGROUND}"
