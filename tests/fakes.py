"""Shared test fakes. Blocks owned by one area are marked; keep them separate."""

from __future__ import annotations

# ---- sinks block (owner: sinks/config/systemd engineer) ------------------------------------------------
from dataclasses import dataclass


@dataclass(frozen=True)
class SinkEvent:
    """Stands in for edge.events.GestureEvent in sink tests: the same fields, nothing else."""

    gesture: str = "Swipe"
    action: str = "play"
    confidence: float = 0.93
    t_s: float = 12.5
    lag_s: float = 0.04
    repeat: int = 0
# ---- end of sinks block -------------------------------------------------------------------------------


# ---- datasets block (owner: edge-ML engineer: convert/model, data, train) ---------------------------------
# Tiny on-disk datasets written with numpy + cv2, for the readers' good and bad cases (the real synthetic
# renderer, convert.synth, is used where the content matters).
from pathlib import Path  # noqa: E402

CASESTUDY_NAMES = {0: "Left Swipe_new", 1: "Right Swipe_new", 2: "Stop_new", 3: "Thumbs Down_new",
                   4: "Thumbs Up_new", 5: "No gesture"}


def write_frames(folder: Path, frames: int = 30, size_hw: tuple[int, int] = (24, 32), seed: int = 0,
                 ext: str = "png", name: str = "{:05d}") -> list[Path]:
    """Random RGB frames `name.format(i + 1) + ext` in `folder` (created); frame i's mean grows with i."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(frames):
        bgr = rng.integers(0, 64, (*size_hw, 3), dtype=np.uint8) + np.uint8(min(4 * i, 191))
        path = folder / f"{name.format(i + 1)}.{ext}"
        assert cv2.imwrite(str(path), bgr)
        paths.append(path)
    return paths


def write_casestudy_split(root: Path, split: str, indexes: list[int], frames: int = 30,
                          size_hw: tuple[int, int] = (24, 32), seed: int = 0) -> list[str]:
    """One clip per entry of `indexes` (case-study label index) under root/split, plus root/split.csv."""
    lines = []
    for n, index in enumerate(indexes):
        folder = f"{split}_{n:03d}_{index}"
        write_frames(root / split / folder, frames, size_hw, seed * 1000 + n)
        lines.append(f"{folder};{CASESTUDY_NAMES.get(index, 'Mystery')};{index}")
    (root / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines
# ---- end of datasets block ---------------------------------------------------------------------------------
