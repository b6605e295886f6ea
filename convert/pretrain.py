"""Pretrain the MobileNet backbone on single synthetic frames (the demo's stand-in for ImageNet weights).

No machine of this project reaches a model hub, so `weights="imagenet"` cannot be used for the bundled demo.
Trained from scratch, the clip model sits at chance for many epochs on CPU: the LSTM's gradient reaches the
20 frames' CNN only through the last state. A per-frame classifier gets a direct signal. This script renders
frames with `convert.synth` at a moment inside the act (FRAME_CLASSES: an upright open palm, thumb up, thumb
down, a fist, any other hand, no hand), trains Rescaling -> MobileNet -> pooling -> softmax on them, and saves
the MobileNet weights for `gesture-train --weights FILE`. Users with real data should use `--weights imagenet`.

    python -m convert.pretrain --out backbone.weights.h5 --samples 20000 --epochs 8 [--init FILE]
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

logger = logging.getLogger(__name__)

FRAME_CLASSES = ("palm", "thumb up", "thumb down", "fist", "other hand", "no hand")
"""What one frame shows: an upright open palm (Stop, Swipe), a thumb up or down, a closed fist without thumb,
any other hand (resting, drifting, turned away, scratching the head) or no hand at all. Fist and the other
hands are separate classes so the backbone learns exactly the differences the clip model needs against
background movement (a fist is a thumbs up without its thumb; a tilted open hand is a Stop turned away)."""
_GESTURE_SOURCE = {"palm": ("Swipe", "Stop"), "thumb up": ("Thumbs Up",), "thumb down": ("Thumbs Down",)}
_BACKGROUND_SOURCE = {"fist": ("fist",), "other hand": ("rest", "wander", "scratch"),
                      "no hand": ("none", "object", "lean")}


def _frame_scene(frame_class: str, seed: int, rng: np.random.Generator):
    """A scene for one frame of `frame_class` and the time to render it at (inside the act proper)."""
    from convert.synth import Scene, background_act, clip_scene, random_look

    if frame_class in _GESTURE_SOURCE:
        scene = clip_scene(str(rng.choice(_GESTURE_SOURCE[frame_class])), seed)
        act = scene.acts[0]
    else:
        look = random_look(seed)
        kind = str(rng.choice(_BACKGROUND_SOURCE[frame_class]))
        if kind == "scratch" and look.person is None:
            kind = "wander"
        act = background_act(kind, 0.3, float(rng.uniform(1.0, 2.5)), rng, look)
        extra = ()
        if frame_class != "no hand" and rng.uniform() < 0.2:  # a distractor now and then, as in the clips
            extra = (background_act("object", float(rng.uniform(-0.5, 1.0)), float(rng.uniform(1.0, 2.5)), rng,
                                    look),)
        scene = Scene(look, (act, *extra))
    span = act.end_s - act.start_s
    return scene, float(rng.uniform(act.start_s + 0.1 * span, act.end_s - 0.1 * span))


def render_frames(samples: int, seed: int, size_hw: tuple[int, int],
                  render_hw: tuple[int, int] = (120, 160)) -> tuple[np.ndarray, np.ndarray]:
    """`samples` frames (uint8, model size) and their frame-class indexes, balanced."""
    from convert._render import render_frame
    from convert.synth import _progress

    rng = np.random.default_rng(seed)
    x = np.empty((samples, *size_hw, 3), dtype=np.uint8)
    y = np.empty(samples, dtype=np.int64)
    bar = _progress(samples, "render frames")
    for i in range(samples):
        k = i % len(FRAME_CLASSES)
        scene, t = _frame_scene(FRAME_CLASSES[k], int(seed * 1_000_003 + i), rng)
        frame = render_frame(scene, t, render_hw)
        x[i] = cv2.resize(frame, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_AREA)
        y[i] = k
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return x, y


def _batches(x: np.ndarray, y: np.ndarray, batch: int, seed: int):
    """Shuffled float32 batches of uint8 frames, made one batch at a time (the float copy of all would not fit)."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.order = np.arange(len(x))
            self.rng = np.random.default_rng(seed)
            self.rng.shuffle(self.order)

        def __len__(self) -> int:
            return -(-len(x) // batch)

        def __getitem__(self, i: int):
            pick = self.order[i * batch:(i + 1) * batch]
            return x[pick].astype(np.float32), y[pick]

        def on_epoch_end(self) -> None:
            self.rng.shuffle(self.order)

    return Batches()


def pretrain(out: Path, samples: int, epochs: int, size_px: int, alpha: float, seed: int, batch: int,
             learning_rate: float = 1e-3, init: Path | None = None) -> float:
    """Train the frame classifier, save the MobileNet weights to `out`, return held-out accuracy."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x, y = render_frames(samples, seed, (size_px, size_px))
    x_val, y_val = render_frames(max(200, samples // 10), seed + 1, (size_px, size_px))
    backbone = keras.applications.MobileNet(input_shape=(size_px, size_px, 3), alpha=alpha, include_top=False,
                                            weights=None)
    if init is not None:
        backbone.load_weights(init)
    model = keras.Sequential([
        keras.Input((size_px, size_px, 3)), layers.Rescaling(1 / 127.5, offset=-1.0), backbone,
        layers.GlobalAveragePooling2D(), layers.Dropout(0.2), layers.Dense(len(FRAME_CLASSES), activation="softmax"),
    ])
    steps = epochs * -(-samples // batch)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(_batches(x, y, batch, seed), epochs=epochs, verbose=2, validation_data=(x_val.astype(np.float32), y_val))
    predicted = model.predict(x_val.astype(np.float32), verbose=0).argmax(1)
    accuracy = float(np.mean(predicted == y_val))
    for k, name in enumerate(FRAME_CLASSES):  # rows: true class; what it was taken for
        row = np.bincount(predicted[y_val == k], minlength=len(FRAME_CLASSES))
        logger.info("held-out %-10s -> %s", name, " ".join(f"{FRAME_CLASSES[j]} {int(n)}" for j, n in enumerate(row)
                                                          if n))
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
    parser.add_argument("--init", type=Path, default=None, help="backbone weights to start from (*.weights.h5)")
    add_version(parser)
    add_log_level(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.init is not None and not args.init.is_file():
        print(f"pretrain: error: --init {args.init}: no such file", file=sys.stderr)
        return 2
    if not str(args.out).endswith(".weights.h5"):
        print(f"pretrain: error: --out {args.out}: expected a name ending in .weights.h5", file=sys.stderr)
        return 2
    accuracy = pretrain(args.out, args.samples, args.epochs, args.size, args.alpha, args.seed, args.batch, args.lr,
                         args.init)
    print(f"frame-class accuracy on held-out synthetic frames: {accuracy:.4f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
