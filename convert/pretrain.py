"""Pretrain the MobileNet backbone on single synthetic frames (the demo's stand-in for ImageNet weights).

No machine of this project reaches a model hub, so `weights="imagenet"` cannot be used for the bundled demo.
Trained from scratch, the clip model sits at chance for many epochs on CPU: the LSTM's gradient reaches the
20 frames' CNN only through the last state. A per-frame classifier gets a direct signal. This script renders
frames with `convert.synth` (hand shape at a moment inside the act: open palm, thumb up, thumb down, or
nothing that is a gesture), trains Rescaling -> MobileNet -> pooling -> softmax on them, and saves the
MobileNet weights for `gesture-train --weights FILE`. Users with real data should use `--weights imagenet`.

    python -m convert.pretrain --out models/demo/backbone.weights.h5 --samples 4000 --epochs 4
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np

from edge.cliargs import OneLineParser, add_log_level, add_version, int_arg, positive_arg
from edge.fileio import atomic_path
from edge.vocab import BACKGROUND

logger = logging.getLogger(__name__)

FRAME_CLASSES = ("palm", "thumb up", "thumb down", "other")
_SOURCE = {"palm": ("Swipe", "Stop"), "thumb up": ("Thumbs Up",), "thumb down": ("Thumbs Down",),
           "other": (BACKGROUND,)}


def render_frames(samples: int, seed: int, size_hw: tuple[int, int],
                  render_hw: tuple[int, int] = (120, 160)) -> tuple[np.ndarray, np.ndarray]:
    """`samples` frames (uint8, model size) and their frame-class indexes, balanced."""
    from convert._render import render_frame
    from convert.synth import clip_scene

    rng = np.random.default_rng(seed)
    x = np.empty((samples, *size_hw, 3), dtype=np.uint8)
    y = np.empty(samples, dtype=np.int64)
    for i in range(samples):
        k = i % len(FRAME_CLASSES)
        label = str(rng.choice(_SOURCE[FRAME_CLASSES[k]]))
        scene = clip_scene(label, int(seed * 1_000_003 + i))
        act = scene.acts[0] if scene.acts else None
        if label != BACKGROUND and act is not None:
            t = rng.uniform(act.start_s + 0.1 * (act.end_s - act.start_s), act.end_s - 0.1 * (act.end_s - act.start_s))
        else:
            t = rng.uniform(0.0, 2.0)
        frame = render_frame(scene, float(t), render_hw)
        x[i] = cv2.resize(frame, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_AREA)
        y[i] = k
    return x, y


def pretrain(out: Path, samples: int, epochs: int, size_px: int, alpha: float, seed: int, batch: int,
             learning_rate: float = 1e-3) -> float:
    """Train the frame classifier, save the MobileNet weights to `out`, return held-out accuracy."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x, y = render_frames(samples, seed, (size_px, size_px))
    x_val, y_val = render_frames(max(200, samples // 10), seed + 1, (size_px, size_px))
    backbone = keras.applications.MobileNet(input_shape=(size_px, size_px, 3), alpha=alpha, include_top=False,
                                            weights=None)
    model = keras.Sequential([
        keras.Input((size_px, size_px, 3)), layers.Rescaling(1 / 127.5, offset=-1.0), backbone,
        layers.GlobalAveragePooling2D(), layers.Dropout(0.2), layers.Dense(len(FRAME_CLASSES), activation="softmax"),
    ])
    steps = epochs * -(-samples // batch)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x.astype(np.float32), y, batch_size=batch, epochs=epochs, verbose=2,
              validation_data=(x_val.astype(np.float32), y_val))
    accuracy = float(np.mean(model.predict(x_val.astype(np.float32), verbose=0).argmax(1) == y_val))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, ".tmp.weights.h5") as tmp:  # Keras wants the .weights.h5 ending
        backbone.save_weights(tmp)
    return accuracy


def main(argv: Sequence[str] | None = None) -> int:
    """Pretrain a MobileNet backbone on synthetic single frames; writes its weights for gesture-train --weights."""
    parser = OneLineParser(prog="python -m convert.pretrain", description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True, help="weights file to write (*.weights.h5)")
    parser.add_argument("--samples", type=int_arg(40), default=4000)
    parser.add_argument("--epochs", type=int_arg(1), default=4)
    parser.add_argument("--batch", type=int_arg(1), default=32)
    parser.add_argument("--size", type=int_arg(64), default=128)
    parser.add_argument("--alpha", type=positive_arg, default=0.25)
    parser.add_argument("--lr", type=positive_arg, default=1e-3, help="initial learning rate (cosine decay to 5%%)")
    parser.add_argument("--seed", type=int, default=7)
    add_version(parser)
    add_log_level(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if not str(args.out).endswith(".weights.h5"):
        print(f"pretrain: error: --out {args.out}: expected a name ending in .weights.h5", file=sys.stderr)
        return 2
    accuracy = pretrain(args.out, args.samples, args.epochs, args.size, args.alpha, args.seed, args.batch, args.lr)
    print(f"frame-class accuracy on held-out synthetic frames: {accuracy:.4f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
