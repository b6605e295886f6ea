"""Calibration and validation clips for gesture-convert.

A clip folder is either a case-study root (`train/`, `train.csv`, `val/`, `val.csv`, read with
`convert.data.read_casestudy`; labels known) or a folder of clip folders of images (labels unknown). Frames are
sampled and resized exactly as in training and on the Pi (`convert.data`: evenly spaced indexes, whole frame,
cv2 INTER_AREA, RGB). Unreadable frames are skipped with a warning (the clip is re-sampled from its readable
frames); a clip with fewer readable frames than the model needs is skipped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert.data import IMAGE_SUFFIXES, ClipRef, DatasetError, frame_files, read_casestudy, read_frame, sample_indexes

logger = logging.getLogger(__name__)

MIN_CALIB_CLIPS = 2
"""Fewer usable calibration clips than this is an error (one clip is not a distribution)."""
LAYOUT_HINT = "a case-study root (train/ + train.csv, val/ + val.csv) or a folder of clip folders of images"


class ClipError(ValueError):
    """Clips missing or unusable. The message is one line naming the folder."""


@dataclass(frozen=True)
class ClipSet:
    """The clips found under one folder."""

    root: Path
    layout: str
    """'casestudy' or 'folders'."""
    train: tuple[ClipRef, ...]
    """Calibration clips (case study: the train split; folders: every clip folder)."""
    val: tuple[ClipRef, ...]
    """Validation clips (case study: the val split when present; folders: empty)."""


def _clip_folders(root: Path) -> list[ClipRef]:
    clips = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = frame_files(folder)
        if files:
            clips.append(ClipRef(folder, "", files, str(folder)))
    return clips


def discover(root: str | Path, option: str) -> ClipSet:
    """Find the clips under `root` (named `option` in errors, e.g. '--calib')."""
    root = Path(root)
    if not root.exists():
        raise ClipError(f"{option} {root}: folder not found (expected {LAYOUT_HINT})")
    if not root.is_dir():
        raise ClipError(f"{option} {root}: not a folder (expected {LAYOUT_HINT})")
    if not any(root.iterdir()):
        raise ClipError(f"{option} {root}: folder is empty (expected {LAYOUT_HINT})")
    try:
        if (root / "train.csv").is_file() or (root / "val.csv").is_file():
            train = read_casestudy(root, "train") if (root / "train.csv").is_file() else []
            val = read_casestudy(root, "val") if (root / "val.csv").is_file() else []
            return ClipSet(root, "casestudy", tuple(train), tuple(val))
    except DatasetError as exc:
        raise ClipError(f"{option}: {exc}") from None
    clips = _clip_folders(root)
    if not clips:
        loose = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        hint = " (it holds images itself: pass the folder above it)" if loose else ""
        raise ClipError(f"{option} {root}: no clips found{hint}; expected {LAYOUT_HINT}")
    return ClipSet(root, "folders", tuple(clips), ())


def load_clip_tolerant(ref: ClipRef, frames: int, size_hw: tuple[int, int]) -> np.ndarray | None:
    """T evenly sampled RGB uint8 frames (T, H, W, 3), skipping unreadable files; None if too few remain."""
    files = list(ref.frame_files)
    cache: dict[Path, np.ndarray] = {}
    unreadable: list[Path] = []
    while len(files) >= frames:
        indexes = sample_indexes(len(files), frames)
        clip = []
        for i in indexes:
            path = files[i]
            if path not in cache:
                try:
                    cache[path] = read_frame(path, size_hw)
                except DatasetError:
                    unreadable.append(path)
                    break
            clip.append(cache[path])
        else:
            if unreadable:
                logger.warning("%s: skipped %d unreadable frame(s) (first: %s), sampled from the other %d",
                               ref.folder, len(unreadable), unreadable[0].name, len(files))
            return np.stack(clip)
        files.remove(unreadable[-1])
    if unreadable:
        logger.warning("%s: skipped (%d unreadable frame(s), first: %s; %d frames left, %d needed)",
                       ref.folder, len(unreadable), unreadable[0].name, len(files), frames)
    else:
        logger.warning("%s: skipped (has %d frames, %d needed)", ref.folder, len(files), frames)
    return None


def stratified_order(clips: Sequence[ClipRef], seed: int) -> list[ClipRef]:
    """Clips shuffled (seeded) and interleaved by label, so any prefix covers every class evenly."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[ClipRef]] = {}
    for index in rng.permutation(len(clips)):
        by_label.setdefault(clips[int(index)].label, []).append(clips[int(index)])
    order = []
    queues = [by_label[label] for label in sorted(by_label)]
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop(0))
    return order


def load_calibration(clips: Sequence[ClipRef], frames_target: int, frames: int, size_hw: tuple[int, int],
                     seed: int, where: str) -> tuple[np.ndarray, list[ClipRef]]:
    """About `frames_target` frames as whole clips (n, T, H, W, 3) uint8, the clips drawn across classes."""
    wanted = max(MIN_CALIB_CLIPS, math.ceil(frames_target / frames))
    loaded, used, skipped = [], [], 0
    for ref in stratified_order(clips, seed):
        if len(loaded) == wanted:
            break
        clip = load_clip_tolerant(ref, frames, size_hw)
        if clip is None:
            skipped += 1
            continue
        loaded.append(clip)
        used.append(ref)
    if len(loaded) < MIN_CALIB_CLIPS or skipped > len(loaded):
        raise ClipError(f"{where}: only {len(loaded)} usable calibration clip(s) of {len(loaded) + skipped} tried "
                        f"(need at least {MIN_CALIB_CLIPS}, and most clips readable); see the warnings above")
    if skipped:
        logger.warning("%s: %d calibration clip(s) skipped, %d used", where, skipped, len(loaded))
    return np.stack(loaded), used


def iter_clips(clips: Sequence[ClipRef], frames: int, size_hw: tuple[int, int]) -> Iterator[tuple[ClipRef, np.ndarray]]:
    """(ref, clip) for every readable clip; unusable clips are skipped with a warning."""
    for ref in clips:
        clip = load_clip_tolerant(ref, frames, size_hw)
        if clip is not None:
            yield ref, clip


def full_range_frame(frames: np.ndarray) -> np.ndarray | None:
    """A contrast-stretched copy (0..255 exactly) of the widest-range frame, or None if 0 and 255 occur.

    The int8 frame input gets scale 1.0 / zero point 0 only if calibration sees the full pixel range; one
    stretched real frame provides it without inventing content.
    """
    flat = frames.reshape(-1, *frames.shape[-3:])
    if int(flat.max()) == 255:
        return None
    spans = flat.reshape(len(flat), -1).max(axis=1).astype(int) - flat.reshape(len(flat), -1).min(axis=1)
    frame = flat[int(np.argmax(spans))].astype(np.float64)
    low, high = frame.min(), frame.max()
    if high > low:
        stretched = np.round((frame - low) * 255.0 / (high - low))
    else:
        stretched = frame.copy()
        stretched.reshape(-1)[0] = 255.0
    return stretched.astype(np.uint8)
