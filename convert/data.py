"""Dataset readers: the smart-TV gesture case study (the reference design's Kaggle set) and 20BN-Jester v1.

Both give `ClipRef`s (a folder of frames and a class name); `load_clip` samples T frames evenly and resizes
the whole frame to the model size (cv2 INTER_AREA, RGB) exactly as the edge runtime does with camera frames.
Left and right swipes merge into `Swipe` (the reference design binds Swipe -> play).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.vocab import BACKGROUND, CASESTUDY_CLASSES, CLASSES

logger = logging.getLogger(__name__)

CLASS_ORDER = CLASSES
"""Output order of our models (the background class last, only when present)."""
CASESTUDY_MAP = CASESTUDY_CLASSES
"""Case-study label index -> class; index 5 is our synthetic sets' background extension."""
JESTER_MAP = {"Swiping Left": "Swipe", "Swiping Right": "Swipe", "Stop Sign": "Stop", "Thumb Up": "Thumbs Up",
              "Thumb Down": "Thumbs Down"}
JESTER_BACKGROUND = {"No gesture": BACKGROUND, "Doing other things": BACKGROUND}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class DatasetError(ValueError):
    """A dataset problem; the message is one line naming the file (and line)."""


@dataclass(frozen=True)
class ClipRef:
    """One clip of a dataset: its frame folder, class name, frame files (natural order), and CSV line."""

    folder: Path
    label: str
    frame_files: tuple[Path, ...]
    source: str
    """Where it was listed, 'file:line'."""


def _natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def frame_files(folder: Path) -> tuple[Path, ...]:
    """The image files of a clip folder, in natural order."""
    return tuple(sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural))


def load_class_map(path: str | Path) -> dict[str, str]:
    """A JSON object mapping source labels (or case-study indexes as strings) to class names."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable JSON class map ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DatasetError(f"{path}: expected a JSON object of source label -> class name")
    return {str(k): v for k, v in data.items()}


def _check_root(root: Path) -> None:
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    if not any(root.iterdir()):
        raise DatasetError(f"{root}: dataset folder is empty")


def read_casestudy(root: str | Path, split: str = "train", class_map: dict[str, str] | None = None) -> list[ClipRef]:
    """Clips of the case-study layout: `<root>/<split>/<folder>/` + `<root>/<split>.csv` (folder;name;index).

    Classes come from the label index (names vary in spelling between releases); `class_map` keys may be
    indexes ("0") or exact label names ("Left Swipe_new"), a name key winning over the index.
    """
    root = Path(root)
    _check_root(root)
    csv = root / f"{split}.csv"
    if not csv.is_file():
        raise DatasetError(f"{csv}: not found (case-study layout: {split}/ and {split}.csv)")
    mapping = {str(k): v for k, v in CASESTUDY_MAP.items()}
    by_name: dict[str, str] = {}
    for key, value in (class_map or {}).items():
        (mapping if str(key).lstrip("-").isdigit() else by_name)[str(key)] = value
    clips = []
    for number, line in enumerate(csv.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(";")]
        if len(parts) != 3 or not parts[0] or not parts[2].lstrip("-").isdigit():
            raise DatasetError(f"{csv}:{number}: expected 'folder;label_name;label_index', got {line[:60]!r}")
        folder, name, index = parts
        label = by_name.get(name, mapping.get(index))
        if label is None:
            raise DatasetError(f"{csv}:{number}: unknown label index {index} (known: {', '.join(sorted(mapping))})")
        path = root / split / folder
        if not path.is_dir():
            raise DatasetError(f"{csv}:{number}: folder {path} does not exist")
        clips.append(ClipRef(path, label, frame_files(path), f"{csv}:{number}"))
    if not clips:
        raise DatasetError(f"{csv}: no clips listed")
    return clips


def read_jester(root: str | Path, split: str = "train", class_map: dict[str, str] | None = None,
                background: bool = False) -> list[ClipRef]:
    """Clips of 20BN-Jester v1: `<root>/<id>/00001.jpg...` + `jester-v1-<split>.csv` (id;label)."""
    root = Path(root)
    _check_root(root)
    csv = root / f"jester-v1-{split}.csv"
    if not csv.is_file():
        raise DatasetError(f"{csv}: not found (Jester layout: jester-v1-{{train,validation}}.csv)")
    videos = root / "20bn-jester-v1" if (root / "20bn-jester-v1").is_dir() else root
    mapping = dict(JESTER_MAP)
    if background:
        mapping.update(JESTER_BACKGROUND)
    if class_map:
        mapping.update(class_map)
    clips, skipped = [], Counter()
    for number, line in enumerate(csv.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(";")
        if len(parts) != 2 or not parts[0].strip():
            raise DatasetError(f"{csv}:{number}: expected 'id;label', got {line[:60]!r}")
        video, label = parts[0].strip(), parts[1].strip()
        if label not in mapping:
            skipped[label] += 1
            continue
        path = videos / video
        if not path.is_dir():
            raise DatasetError(f"{csv}:{number}: folder {path} does not exist")
        clips.append(ClipRef(path, mapping[label], frame_files(path), f"{csv}:{number}"))
    if skipped:
        logger.info("%s: skipped %d clips of %d labels not in the class map", csv, sum(skipped.values()), len(skipped))
    if not clips:
        raise DatasetError(f"{csv}: no clips of the mapped classes")
    return clips


def read_dataset(root: str | Path, layout: str, split: str, class_map: dict[str, str] | None = None,
                 background: bool = True) -> list[ClipRef]:
    """Dispatch on layout ('casestudy' splits: train/val; 'jester': train/validation, 'val' accepted)."""
    if layout == "casestudy":
        return read_casestudy(root, split, class_map)
    if layout == "jester":
        return read_jester(root, "validation" if split == "val" else split, class_map, background)
    raise DatasetError(f"layout '{layout}': expected casestudy or jester")


def has_split(root: str | Path, layout: str, split: str) -> bool:
    """Whether the dataset lists clips for `split` (case study: `<split>.csv`; Jester: its validation CSV)."""
    root = Path(root)
    if layout == "jester":
        return (root / f"jester-v1-{'validation' if split == 'val' else split}.csv").is_file()
    return (root / f"{split}.csv").is_file()


def split_validation(clips: list[ClipRef], fraction: float, where: str) -> tuple[list[ClipRef], list[ClipRef]]:
    """Hold out round(fraction * n) clips of every label (at least 1, leaving at least 1) for validation.

    Deterministic and independent of any seed: clips are ranked by a hash of their folder name, so the same
    dataset always gives the same split, and clips added later (another capture session) leave earlier
    ones mostly where they were. Both lists keep the input order.
    """
    if not 0 < fraction < 1:
        raise DatasetError(f"--val-split {fraction:g}: expected a fraction between 0 and 1")
    by_label: dict[str, list[ClipRef]] = {}
    for clip in clips:
        by_label.setdefault(clip.label, []).append(clip)
    held: set[int] = set()
    for label, members in by_label.items():
        count = len(members)
        n_val = max(1, math.floor(fraction * count + 0.5))
        if count - n_val < 1:
            raise DatasetError(f"{where}: label '{label}' has {count} clip(s); the automatic validation split "
                               f"(--val-split {fraction:g}) needs at least 2 per label (record more clips of it, "
                               "or give a val split)")
        ranked = sorted(members, key=lambda c: hashlib.sha256(c.folder.name.encode("utf-8")).hexdigest())
        held.update(id(c) for c in ranked[:n_val])
    return [c for c in clips if id(c) not in held], [c for c in clips if id(c) in held]


def labels_of(clips: list[ClipRef], extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The classes present (plus `extra`), in the models' output order (unknown names after, sorted)."""
    present = {c.label for c in clips} | set(extra)
    return tuple(c for c in CLASS_ORDER if c in present) + tuple(sorted(present - set(CLASS_ORDER)))


def sample_indexes(n_frames: int, n_out: int = 20, where: str = "clip") -> list[int]:
    """`n_out` frame indexes spread evenly over `n_frames` (the reference design takes 20 of 30)."""
    if n_frames < n_out:
        raise DatasetError(f"{where}: has {n_frames} frames, needs at least {n_out}")
    return [int(i) for i in np.round(np.linspace(0, n_frames - 1, n_out)).astype(int)]


def read_frame(path: Path, size_hw: tuple[int, int]) -> np.ndarray:
    """One image file -> RGB uint8 (H, W, 3) at the model size (whole frame resized, INTER_AREA)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"{path}: unreadable image")
    if bgr.shape[:2] != tuple(size_hw):
        bgr = cv2.resize(bgr, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_clip(ref: ClipRef, frames: int = 20, size_hw: tuple[int, int] = (128, 128)) -> np.ndarray:
    """T evenly sampled frames of a clip: uint8 (T, H, W, 3) RGB."""
    indexes = sample_indexes(len(ref.frame_files), frames, f"{ref.folder} ({ref.source})")
    return np.stack([read_frame(ref.frame_files[i], size_hw) for i in indexes])
