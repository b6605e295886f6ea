"""gesture-train: train the clip classifier on a case-study or Jester dataset.

Augmentation follows the reference design (zoom 0.1, width/height shift 0.1) but draws ONE random transform
per clip and applies it to every frame, so motion is not invented between frames. No horizontal flip (a
swipe's direction would change meaning unless left and right are merged; `--flip` allows it then). The
reference also used ZCA whitening; it is not done: the whitening matrix of a 128x128x3 input is 49152^2
(~9.7 GB in float32), and Keras' ImageDataGenerator cannot whiten 5-D clips anyway.

Callbacks as in the reference design: ModelCheckpoint keeping every improving checkpoint (the reference found
the penultimate one best on a live webcam), ReduceLROnPlateau, and a CSV history.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import random
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from convert.data import ClipRef, DatasetError, labels_of, load_class_map, load_clip, read_dataset  # noqa: E402
from edge import __version__  # noqa: E402
from edge.manifest import DEFAULT_ACTIONS  # noqa: E402

logger = logging.getLogger(__name__)


def clip_transform(rng: np.random.Generator, size_hw: tuple[int, int], zoom: float = 0.1,
                   shift: float = 0.1, flip: bool = False) -> np.ndarray:
    """One 2x3 affine matrix for a whole clip: zoom in [1-zoom, 1+zoom], shift up to `shift` of each side."""
    height, width = size_hw
    scale = rng.uniform(1 - zoom, 1 + zoom)
    tx, ty = rng.uniform(-shift, shift) * width, rng.uniform(-shift, shift) * height
    sx = -scale if flip and rng.uniform() < 0.5 else scale
    cx, cy = (width - 1) / 2, (height - 1) / 2  # pixel centres: a flip is an exact mirror
    return np.array([[sx, 0, cx - sx * cx + tx], [0, scale, cy - scale * cy + ty]], dtype=np.float32)


def augment_clip(clip: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply the same affine transform to every frame of a clip (T, H, W, 3)."""
    height, width = clip.shape[1:3]
    return np.stack([cv2.warpAffine(f, matrix, (width, height), borderMode=cv2.BORDER_REFLECT) for f in clip])


def _keras():
    import keras

    return keras


class ClipSequence:
    """Factory for a keras PyDataset streaming clips from disk per batch (datasets larger than memory)."""

    @staticmethod
    def make(clips: list[ClipRef], labels: Sequence[str], batch: int, frames: int, size_hw: tuple[int, int],
             augment: bool, seed: int, flip: bool = False, cache: bool = False, workers: int = 1):
        """A PyDataset of (x float32 (B, T, H, W, 3) 0-255, y one-hot); `augment` also shuffles every epoch.

        Augmentation draws from (seed, epoch, clip index), so batches are the same whichever thread loads them.
        """
        keras = _keras()

        class _Seq(keras.utils.PyDataset):
            def __init__(self) -> None:
                super().__init__(workers=workers, use_multiprocessing=False)
                self.order = np.arange(len(clips))
                self.rng = np.random.default_rng(seed)
                self.epoch = 0
                self.cache: dict[int, np.ndarray] = {}
                if augment:
                    self.rng.shuffle(self.order)

            def __len__(self) -> int:
                return math.ceil(len(clips) / batch)

            def __getitem__(self, index: int):
                chosen = self.order[index * batch:(index + 1) * batch]
                x = np.empty((len(chosen), frames, *size_hw, 3), dtype=np.float32)
                y = np.zeros((len(chosen), len(labels)), dtype=np.float32)
                for row, i in enumerate(chosen):
                    clip = self.cache.get(int(i))
                    if clip is None:
                        clip = load_clip(clips[i], frames, size_hw)
                        if cache:  # decoded clips kept in memory (only when the dataset fits)
                            self.cache[int(i)] = clip
                    if augment:
                        rng = np.random.default_rng([seed, self.epoch, int(i)])
                        clip = augment_clip(clip, clip_transform(rng, size_hw, flip=flip))
                    x[row] = clip
                    y[row, labels.index(clips[i].label)] = 1.0
                return x, y

            def on_epoch_end(self) -> None:
                self.epoch += 1
                if augment:
                    self.rng.shuffle(self.order)

        return _Seq()


@dataclass(frozen=True)
class TrainSettings:
    data: Path
    layout: str
    arch: str
    epochs: int
    batch: int
    out: Path
    size_px: int
    alpha: float
    frames: int
    cells: int
    dense: int
    dropout: float
    weights: str | None
    learning_rate: float
    class_map: Path | None
    background: bool
    seed: int
    model_fps: float
    max_clips: int
    flip: bool
    force: bool
    cache: bool = False
    workers: int = 1
    freeze_backbone: bool = False
    init: Path | None = None


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """Confusion counts, rows = true class, columns = predicted."""
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _save_improving(keras, model, folder: Path):
    """ModelCheckpoint(save_best_only) for `model` while its training view is what fit() runs."""

    class SaveImproving(keras.callbacks.Callback):
        best = -math.inf

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            accuracy = (logs or {}).get("val_accuracy")
            if accuracy is not None and accuracy > self.best:
                self.best = accuracy
                model.save(folder / f"epoch{epoch + 1:02d}-val_acc{accuracy:.3f}.keras")

    return SaveImproving()


def _load_init(keras, s: TrainSettings, num_classes: int):
    """The clip model of --init, checked against the run's arch, frames, size and classes; all layers trainable."""
    from keras import layers

    try:
        model = keras.models.load_model(s.init, compile=False)
    except Exception as exc:  # Keras raises many types for a file that is not a model
        raise ValueError(f"--init {s.init}: not a Keras clip model "
                         f"({(str(exc).splitlines() or [type(exc).__name__])[0]})") from None
    kinds = {type(layer) for layer in model.layers}
    arch = ("mobilenet_lstm" if layers.LSTM in kinds else "mobilenet_gru" if layers.GRU in kinds
            else "conv3d" if layers.Conv3D in kinds else "unknown")
    expected = (None, s.frames, s.size_px, s.size_px, 3)
    found = (arch, tuple(model.input_shape), tuple(model.output_shape))
    if found != (s.arch, expected, (None, num_classes)):
        raise ValueError(f"--init {s.init}: is {arch} with input {tuple(model.input_shape)} and output "
                         f"{tuple(model.output_shape)}; this run expects {s.arch} with input {expected} and "
                         f"output (None, {num_classes}) (check --arch, --frames, --size and the classes)")
    model.trainable = True
    for layer in model.layers:
        if isinstance(layer, layers.TimeDistributed):
            layer.layer.trainable = True
    model.compile(keras.optimizers.Adam(s.learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def train(s: TrainSettings, argv: Sequence[str]) -> float:
    """Train, write the outputs into s.out atomically, return the best validation accuracy."""
    class_map = load_class_map(s.class_map) if s.class_map else None
    train_clips = read_dataset(s.data, s.layout, "train", class_map, s.background)
    val_clips = read_dataset(s.data, s.layout, "val", class_map, s.background)
    if not s.background:
        train_clips = [c for c in train_clips if c.label != "No gesture"]
        val_clips = [c for c in val_clips if c.label != "No gesture"]
    if s.max_clips:
        train_clips, val_clips = train_clips[: s.max_clips], val_clips[: s.max_clips]
    for clip in train_clips + val_clips:  # fail before training, naming the clip
        if len(clip.frame_files) < s.frames:
            raise DatasetError(f"{clip.folder} ({clip.source}): has {len(clip.frame_files)} frames, "
                               f"needs at least {s.frames}")
    labels = list(labels_of(train_clips + val_clips))
    if len(labels) < 2:
        raise DatasetError(f"{s.data}: needs clips of at least 2 classes, found {labels or 'none'}")
    logger.info("train: %d clips, val: %d clips, classes: %s", len(train_clips), len(val_clips), labels)
    keras = _keras()
    from convert.model import build_model, freeze_backbone, training_view

    random.seed(s.seed)
    np.random.seed(s.seed)
    keras.utils.set_random_seed(s.seed)
    if s.init is not None:
        model = _load_init(keras, s, len(labels))
    else:
        weights = None if s.weights in (None, "none") else s.weights
        model = build_model(s.arch, len(labels), s.frames, s.size_px, s.alpha, s.cells, s.dense, s.dropout,
                            weights, s.learning_rate)
    if s.freeze_backbone:
        logger.info("backbone frozen: %d trainable weights", freeze_backbone(model))
    view = training_view(model)  # same weights, time folded into the batch (see convert.model)
    view.compile(keras.optimizers.Adam(s.learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
    size_hw = (s.size_px, s.size_px)
    train_seq = ClipSequence.make(train_clips, labels, s.batch, s.frames, size_hw, True, s.seed, s.flip, s.cache,
                                  s.workers)
    val_seq = ClipSequence.make(val_clips, labels, s.batch, s.frames, size_hw, False, s.seed, cache=s.cache,
                                workers=s.workers)
    s.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{s.out.name}.", dir=s.out.parent))
    try:
        (tmp / "checkpoints").mkdir()
        callbacks = [
            _save_improving(keras, model, tmp / "checkpoints"),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5),
            keras.callbacks.CSVLogger(str(tmp / "history.csv")),
        ]
        view.fit(train_seq, validation_data=val_seq, epochs=s.epochs, callbacks=callbacks, verbose=1)
        # save_best_only: the latest epoch saved is the best (by number: "epoch100" sorts before "epoch99")
        best = max((tmp / "checkpoints").glob("*.keras"), key=lambda p: int(p.name[5:].split("-")[0]))
        shutil.copyfile(best, tmp / "model.keras")
        best_model = keras.models.load_model(tmp / "model.keras", compile=False)
        probs = best_model.predict(val_seq, verbose=0)
        y_true = np.array([labels.index(c.label) for c in val_clips])
        y_pred = probs.argmax(axis=1)
        accuracy = float(np.mean(y_true == y_pred))
        matrix = confusion(y_true, y_pred, len(labels))
        (tmp / "confusion.json").write_text(json.dumps({"labels": labels, "matrix": matrix.tolist(),
                                                        "val_accuracy": accuracy}, indent=1) + "\n")
        plot_confusion(matrix, labels, tmp / "confusion.png", f"{s.arch}: val accuracy {accuracy:.3f}")
        background = "No gesture" if "No gesture" in labels else None
        (tmp / "labels.json").write_text(json.dumps({
            "labels": labels, "background_label": background,
            "actions": {g: a for g, a in DEFAULT_ACTIONS.items() if g in labels},
            "frames": s.frames, "size_px": list(size_hw), "model_fps": s.model_fps, "normalization": "mobilenet",
            "arch": s.arch,
        }, indent=1) + "\n")
        import tensorflow as tf

        (tmp / "train_command.txt").write_text(
            "gesture-train " + shlex.join(argv) + "\n"
            f"best checkpoint: {best.name}\nvalidation accuracy: {accuracy:.4f} on {len(val_clips)} clips\n"
            f"gesture-edge {__version__}, tensorflow {tf.__version__}, keras {keras.__version__}, "
            f"python {platform.python_version()}\n")
        if s.out.exists():
            shutil.rmtree(s.out)
        tmp.rename(s.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return accuracy


def main(argv: Sequence[str] | None = None) -> int:
    """gesture-train: train a MobileNet+LSTM (or +GRU, or Conv3D) gesture clip classifier."""
    parser = argparse.ArgumentParser(
        prog="gesture-train", description=main.__doc__,
        epilog="Every improving checkpoint is kept in OUT/checkpoints; the reference design found the "
               "penultimate one often best on a live camera: try it with gesture-convert too.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--data", type=Path, required=True, help="dataset root")
    parser.add_argument("--layout", choices=("casestudy", "jester"), default="casestudy")
    parser.add_argument("--arch", choices=("mobilenet_lstm", "mobilenet_gru", "conv3d"), default="mobilenet_lstm")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path, required=True, help="output folder (model.keras, labels.json, ...)")
    parser.add_argument("--size", type=int, default=128, help="input size in px (square)")
    parser.add_argument("--alpha", type=float, default=0.25, help="MobileNet width multiplier")
    parser.add_argument("--frames", type=int, default=20, help="frames per clip (T)")
    parser.add_argument("--cells", type=int, default=128)
    parser.add_argument("--dense", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.25)
    parser.add_argument("--weights", default="imagenet", help="imagenet | none | PATH to MobileNet weights")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--class-map", type=Path)
    parser.add_argument("--background", action=argparse.BooleanOptionalAction, default=True,
                        help="keep the No gesture class when the data has it (default yes)")
    parser.add_argument("--model-fps", type=float, default=10.0,
                        help="frame rate of the sampled clips as the model sees them (synthetic: 10)")
    parser.add_argument("--max-clips", type=int, default=0, help="use at most N clips per split (0: all)")
    parser.add_argument("--flip", action="store_true", help="random horizontal flips (only with merged swipes)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", action="store_true", help="keep decoded clips in memory (dataset must fit)")
    parser.add_argument("--workers", type=int, default=1, help="threads loading batches (default 1)")
    parser.add_argument("--init", type=Path,
                        help="continue from this clip model (.keras, e.g. a --freeze-backbone run's model to "
                             "fine-tune); --arch, --frames and --size must match it, --weights is unused")
    parser.add_argument("--freeze-backbone", action="store_true",
                        help="train only the head (BatchNormalization, LSTM/GRU, dense); for ImageNet or "
                             "pretrained --weights; ~3x faster")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    checks = [(args.epochs >= 1, "--epochs: expected >= 1"), (args.batch >= 1, "--batch: expected >= 1"),
              (args.size >= 64 or args.arch == "conv3d", "--size: expected >= 64 px (MobileNet downsamples 32x, then a 2x2 max-pool)"), (args.frames >= 1, "--frames: expected >= 1"),
              (0 <= args.dropout < 1, "--dropout: expected 0 <= x < 1"), (args.model_fps > 0, "--model-fps: > 0"),
              (args.workers >= 1, "--workers: expected >= 1"), (args.lr > 0, "--lr: expected > 0"),
              (args.max_clips >= 0, "--max-clips: expected >= 0 (0: all)"),
              (not args.freeze_backbone or args.arch != "conv3d", "--freeze-backbone: conv3d has no MobileNet backbone"),
              (args.init is None or args.init.is_file(), f"--init {args.init}: file not found"),
              (not args.freeze_backbone or args.weights.lower() != "none" or args.init is not None,
               "--freeze-backbone: needs --weights imagenet or a weights file (a random backbone would stay random)")]
    for ok, message in checks:
        if not ok:
            print(f"gesture-train: error: {message}", file=sys.stderr)
            return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"gesture-train: error: {args.out}: exists and is not a folder", file=sys.stderr)
        return 2
    if args.out.exists() and any(args.out.iterdir()) and not args.force:
        print(f"gesture-train: error: {args.out}: exists and is not empty (use --force)", file=sys.stderr)
        return 2
    settings = TrainSettings(
        data=args.data, layout=args.layout, arch=args.arch, epochs=args.epochs, batch=args.batch, out=args.out,
        size_px=args.size, alpha=args.alpha, frames=args.frames, cells=args.cells, dense=args.dense,
        dropout=args.dropout, weights=args.weights, learning_rate=args.lr, class_map=args.class_map,
        background=args.background, seed=args.seed, model_fps=args.model_fps, max_clips=args.max_clips,
        flip=args.flip, force=args.force, cache=args.cache, workers=args.workers,
        freeze_backbone=args.freeze_backbone, init=args.init)
    try:
        accuracy = train(settings, argv)
    except (DatasetError, ValueError, OSError) as exc:
        print(f"gesture-train: error: {(str(exc).splitlines() or [type(exc).__name__])[0]}", file=sys.stderr)
        return 2
    print(f"validation accuracy: {accuracy:.4f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
