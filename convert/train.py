"""gesture-train: train the clip classifier on a case-study or Jester dataset.

Augmentation follows the reference design (zoom 0.1, width/height shift 0.1) but draws ONE random transform
per clip and applies it to every frame, so motion is not invented between frames. No horizontal flip (a
swipe's direction would change meaning unless left and right are merged; `--flip` allows it then). The
reference also used ZCA whitening; it is not done: the whitening matrix of a 128x128x3 input is 49152^2
(~9.7 GB in float32), and Keras' ImageDataGenerator cannot whiten 5-D clips anyway.

Callbacks as in the reference design: ModelCheckpoint keeping every improving checkpoint (the reference found
the penultimate one best on a live webcam), ReduceLROnPlateau, and a CSV history.

It trains on exactly what `gesture-edge capture` writes: a dataset without a val split gets a deterministic
per-label hold-out (`--val-split`, `convert.data.split_validation`). `--negatives FOOTAGE...` mines hard
negatives from background footage with the --init model and adds them to the background class
(`convert.negatives`). `--weights` is resolved before any data is read: an offline machine learns at once
that `--weights imagenet` cannot be downloaded, and which values work offline.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import os
import platform
import random
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np

from convert.data import (ClipRef, DatasetError, has_split, labels_of, load_class_map, load_clip,
                          read_dataset, split_validation)
from edge import __version__
from edge.cliargs import (OneLineParser, add_log_level, add_version, int_arg, number_arg,
                          positive_arg)
from edge.errors import one_line
from edge.fileio import make_temp_dir, replace_dir
from edge.vocab import BACKGROUND, DEFAULT_ACTIONS

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
    val_split: float = 0.2
    """Share of each label's clips held out for validation when the dataset has no val split."""
    negatives: tuple[Path, ...] = ()
    """Background footage to mine hard negatives from with the --init model (convert.negatives)."""
    negatives_threshold: float = 0.5
    negatives_random: int = 100
    negatives_hop: int = 2
    negatives_max: int = 1000
    balance: bool = False
    """Weigh each class's loss by the inverse of its share of the training clips."""


def class_weights(clips: Sequence[ClipRef], labels: Sequence[str]) -> dict[int, float]:
    """Class index -> weight so every class carries the same share of the loss (1.0 when all are equal)."""
    counts = collections.Counter(c.label for c in clips)
    present = [label for label in labels if counts[label]]
    return {labels.index(label): len(clips) / (len(present) * counts[label]) for label in present}


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
    """ModelCheckpoint(save_best_only) for `model` while its training view is what fit() runs.

    An epoch improves on the best so far when its validation accuracy is higher, or the same with a lower
    validation loss: once a small validation set is all right (accuracy 1.0), the loss still tells the
    epochs apart, and a model that is right with more confidence holds better on a stream.
    """

    class SaveImproving(keras.callbacks.Callback):
        best = (-math.inf, -math.inf)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            accuracy = logs.get("val_accuracy")
            if accuracy is None:
                return
            key = (round(float(accuracy), 6), -float(logs.get("val_loss", math.inf)))
            if key > self.best:
                self.best = key
                model.save(folder / f"epoch{epoch + 1:02d}-val_acc{accuracy:.3f}.keras")

    return SaveImproving()


IMAGENET_ALPHAS = (0.25, 0.5, 0.75, 1.0)
IMAGENET_SIZES = (128, 160, 192, 224)
IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"


def resolve_imagenet(alpha: float, size_px: int) -> Path:
    """Download (or find in Keras' cache) MobileNet's ImageNet weights; a one-line ValueError naming what works
    offline when that fails. Cheap when cached; done before any data is read."""
    if alpha not in IMAGENET_ALPHAS:
        raise ValueError(f"--weights imagenet: Keras has ImageNet MobileNet weights only for --alpha "
                         f"{', '.join(f'{a:g}' for a in IMAGENET_ALPHAS)}, not {alpha:g}; use --weights none "
                         "(random start) or --weights FILE")
    rows = size_px if size_px in IMAGENET_SIZES else 224  # Keras loads the 224 weights for other sizes
    alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}[alpha]
    name = f"mobilenet_{alpha_text}_{rows}_tf_no_top.h5"
    keras = _keras()
    try:
        return Path(keras.utils.get_file(name, IMAGENET_URL + name, cache_subdir="models"))
    except Exception as exc:  # noqa: BLE001 - Keras raises a bare Exception (or URLError, OSError) when the download fails
        raise ValueError(f"--weights imagenet: could not download {name} ({one_line(exc, limit=160)}); offline, "
                         "use --weights none (random start), --weights FILE (MobileNet weights you have) or "
                         "--init MODEL.keras (e.g. models/demo/model.keras)") from None


def check_weights(weights: str, arch: str, alpha: float, size_px: int, init: Path | None) -> None:
    """--weights before any data is read: imagenet resolved, a file present (its contents are checked when
    the model is built)."""
    if init is not None or arch == "conv3d" or weights.lower() == "none":
        return
    if weights == "imagenet":
        resolve_imagenet(alpha, size_px)
    elif not Path(weights).is_file():
        raise ValueError(f"--weights {weights}: no such file (expected imagenet, none or a MobileNet weights file)")


def _init_labels(init: Path) -> dict | None:
    """labels.json beside an --init model (gesture-train writes it), or None."""
    path = init.with_name("labels.json")
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not readable JSON ({one_line(exc)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("labels"), list):
        raise ValueError(f"{path}: field labels: expected a list of class names")
    return data


def _load_init(keras, s: TrainSettings, num_classes: int, labels: Sequence[str] = ()):
    """The clip model of --init, checked against the run's arch, frames, size and classes; all layers trainable."""
    from keras import layers

    try:
        model = keras.models.load_model(s.init, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a file that is not a model
        raise ValueError(f"--init {s.init}: not a Keras clip model ({one_line(exc)})") from None
    kinds = {type(layer) for layer in model.layers}
    arch = ("mobilenet_lstm" if layers.LSTM in kinds else "mobilenet_gru" if layers.GRU in kinds
            else "conv3d" if layers.Conv3D in kinds else "unknown")
    expected = (None, s.frames, s.size_px, s.size_px, 3)
    found = (arch, tuple(model.input_shape), tuple(model.output_shape))
    if found != (s.arch, expected, (None, num_classes)):
        raise ValueError(f"--init {s.init}: is {arch} with input {tuple(model.input_shape)} and output "
                         f"{tuple(model.output_shape)}; this run expects {s.arch} with input {expected} and "
                         f"output (None, {num_classes}) (check --arch, --frames, --size and the classes)")
    known = _init_labels(s.init)
    if labels and known is not None and list(known["labels"]) != list(labels):
        raise ValueError(f"--init {s.init}: its classes (labels.json) are {known['labels']}, this run's are "
                         f"{list(labels)}: the outputs would not mean the same")
    model.trainable = True
    for layer in model.layers:
        if isinstance(layer, layers.TimeDistributed):
            layer.layer.trainable = True
    model.compile(keras.optimizers.Adam(s.learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def read_splits(s: TrainSettings) -> tuple[list[ClipRef], list[ClipRef], str]:
    """Training and validation clips, and where the validation clips came from.

    A dataset without a val split (what `gesture-edge capture` writes) gets a deterministic per-label hold-out.
    """
    class_map = load_class_map(s.class_map) if s.class_map else None
    train_clips = read_dataset(s.data, s.layout, "train", class_map, s.background)
    if not s.background:
        train_clips = [c for c in train_clips if c.label != BACKGROUND]
    if has_split(s.data, s.layout, "val"):
        val_clips = read_dataset(s.data, s.layout, "val", class_map, s.background)
        if not s.background:
            val_clips = [c for c in val_clips if c.label != BACKGROUND]
        where = "the dataset's val split"
    else:
        train_clips, val_clips = split_validation(train_clips, s.val_split, f"{s.data}: no val split, so")
        where = f"held out from train: --val-split {s.val_split:g} of each label (deterministic)"
    if s.max_clips:
        train_clips, val_clips = train_clips[: s.max_clips], val_clips[: s.max_clips]
    return train_clips, val_clips, where


def train(s: TrainSettings, argv: Sequence[str]) -> float:
    """Train, write the outputs into s.out atomically, return the best validation accuracy."""
    from convert.negatives import MineSettings, find_footage, mine, summary

    footage = find_footage(s.negatives) if s.negatives else None
    train_clips, val_clips, val_source = read_splits(s)
    for clip in train_clips + val_clips:  # fail before training, naming the clip
        if len(clip.frame_files) < s.frames:
            raise DatasetError(f"{clip.folder} ({clip.source}): has {len(clip.frame_files)} frames, "
                               f"needs at least {s.frames}")
    labels = list(labels_of(train_clips + val_clips, (BACKGROUND,) if footage else ()))
    if len(labels) < 2:
        raise DatasetError(f"{s.data}: needs clips of at least 2 classes, found {labels or 'none'}")
    logger.info("train: %d clips, val: %d clips (%s), classes: %s", len(train_clips), len(val_clips), val_source,
                labels)
    keras = _keras()
    from convert.model import build_model, freeze_backbone, training_view

    random.seed(s.seed)
    np.random.seed(s.seed)
    keras.utils.set_random_seed(s.seed)
    if s.init is not None:
        model = _load_init(keras, s, len(labels), labels)
    else:
        weights = None if s.weights in (None, "none") else s.weights
        model = build_model(s.arch, len(labels), s.frames, s.size_px, s.alpha, s.cells, s.dense, s.dropout,
                            weights, s.learning_rate)
    size_hw = (s.size_px, s.size_px)
    s.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(s.out)
    try:
        if footage is not None:  # mined with the --init model as it is, before it trains
            known = _init_labels(s.init) if s.init is not None else None
            if known is not None and abs(float(known.get("model_fps") or s.model_fps) - s.model_fps) > 1e-6:
                logger.warning("--init %s was trained at %s fps (labels.json); mining at --model-fps %g",
                               s.init, known.get("model_fps"), s.model_fps)
            ms = MineSettings(frames=s.frames, size_hw=size_hw, model_fps=s.model_fps,
                              threshold=s.negatives_threshold, random=s.negatives_random, hop=s.negatives_hop,
                              max_windows=s.negatives_max, seed=s.seed)
            mined = mine(model, labels, footage, ms, tmp / "negatives", str(s.init))
            print(summary(mined, ms, s.out / "negatives"), flush=True)
            train_clips = train_clips + mined.clips
            logger.info("training on %d clips (%d of them mined negatives), validating on %d", len(train_clips),
                        len(mined.clips), len(val_clips))
        if s.freeze_backbone:
            logger.info("backbone frozen: %d trainable weights", freeze_backbone(model))
        view = training_view(model)  # same weights, time folded into the batch (see convert.model)
        view.compile(keras.optimizers.Adam(s.learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
        train_seq = ClipSequence.make(train_clips, labels, s.batch, s.frames, size_hw, True, s.seed, s.flip,
                                      s.cache, s.workers)
        val_seq = ClipSequence.make(val_clips, labels, s.batch, s.frames, size_hw, False, s.seed, cache=s.cache,
                                    workers=s.workers)
        (tmp / "checkpoints").mkdir()
        callbacks = [
            _save_improving(keras, model, tmp / "checkpoints"),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5),
            keras.callbacks.CSVLogger(str(tmp / "history.csv")),
        ]
        weights = class_weights(train_clips, labels) if s.balance else None
        if weights is not None:
            logger.info("class weights: %s", ", ".join(f"{labels[k]} {w:.2f}" for k, w in weights.items()))
        view.fit(train_seq, validation_data=val_seq, epochs=s.epochs, callbacks=callbacks, verbose=1,
                 class_weight=weights)
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
        background = BACKGROUND if BACKGROUND in labels else None
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
            f"validation clips: {val_source}\n"
            f"gesture-edge {__version__}, tensorflow {tf.__version__}, keras {keras.__version__}, "
            f"python {platform.python_version()}\n")
        replace_dir(tmp, s.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return accuracy


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in --help, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or action.default is False or action.default == argparse.SUPPRESS:
            return action.help
        if action.default is None:
            return f"{action.help} (default: none)"
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The gesture-train argument parser (every option shows its default in --help)."""
    parser = OneLineParser(
        prog="gesture-train", description=main.__doc__, formatter_class=_HelpFormatter,
        epilog="Every improving checkpoint is kept in OUT/checkpoints; the reference design found the "
               "penultimate one often best on a live camera: try it with gesture-convert too. For a model of "
               "your own room (gesture-edge capture, then --init and --negatives) see docs/IN_ROOM.md.")
    add_version(parser)
    add_log_level(parser, help="logging level")
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset root (case study: train/ + train.csv [+ val/ + val.csv], e.g. what "
                             "gesture-edge capture writes; or Jester)")
    parser.add_argument("--layout", choices=("casestudy", "jester"), default="casestudy", help="dataset layout")
    parser.add_argument("--arch", choices=("mobilenet_lstm", "mobilenet_gru", "conv3d"), default="mobilenet_lstm",
                        help="model: MobileNet + LSTM (the product), + GRU, or Conv3D (comparison only)")
    parser.add_argument("--epochs", type=int_arg(1), default=20, help="training epochs")
    parser.add_argument("--batch", type=int_arg(1), default=32, help="clips per batch")
    parser.add_argument("--out", type=Path, required=True, help="output folder (model.keras, labels.json, ...)")
    parser.add_argument("--size", type=int_arg(1), default=128, help="input size in px (square)")
    parser.add_argument("--alpha", type=positive_arg, default=0.25, help="MobileNet width multiplier")
    parser.add_argument("--frames", type=int_arg(1), default=20, help="frames per clip (T)")
    parser.add_argument("--cells", type=int_arg(1), default=128, help="LSTM/GRU units")
    parser.add_argument("--dense", type=int_arg(1), default=128, help="units of the dense layer before the output")
    parser.add_argument("--dropout", type=number_arg(0, 1, hi_open=True), default=0.25,
                        help="dropout after the RNN and the dense layer")
    parser.add_argument("--weights", default="imagenet",
                        help="MobileNet start: imagenet (downloaded; checked before any data is read), none "
                             "(random; works offline) or a weights FILE")
    parser.add_argument("--lr", type=positive_arg, default=1e-3, help="learning rate (Adam)")
    parser.add_argument("--class-map", type=Path, help="JSON: source label (or case-study index) -> class name")
    parser.add_argument("--background", action=argparse.BooleanOptionalAction, default=True,
                        help="keep the No gesture class when the data has it")
    parser.add_argument("--val-split", type=number_arg(0, 1, lo_open=True, hi_open=True), default=0.2,
                        metavar="FRACTION",
                        help="when the data has no val split (gesture-edge capture writes none): hold out this "
                             "share of each label's clips for validation, the same clips every run")
    parser.add_argument("--model-fps", type=positive_arg, default=10.0,
                        help="frame rate of the sampled clips as the model sees them (synthetic and capture: "
                             "20 of 30 frames over 2 s = 10)")
    parser.add_argument("--max-clips", type=int_arg(0), default=0, help="use at most N clips per split (0: all)")
    parser.add_argument("--balance", action="store_true",
                        help="weigh each class by the inverse of its share of the training clips (mined negatives "
                             "can outnumber every gesture)")
    parser.add_argument("--flip", action="store_true", help="random horizontal flips (only with merged swipes)")
    parser.add_argument("--seed", type=int, default=1, help="seed of initialisation, shuffling, augmentation, "
                                                             "negative sampling")
    parser.add_argument("--cache", action="store_true", help="keep decoded clips in memory (dataset must fit)")
    parser.add_argument("--workers", type=int_arg(1), default=1, help="threads loading batches")
    parser.add_argument("--init", type=Path,
                        help="continue from this clip model (.keras, e.g. models/demo/model.keras or a previous "
                             "run's); --arch, --frames, --size and the classes must match it, --weights is unused")
    parser.add_argument("--freeze-backbone", action="store_true",
                        help="train only the head (BatchNormalization, LSTM/GRU, dense); for ImageNet or "
                             "pretrained --weights; ~3x faster")
    parser.add_argument("--negatives", type=Path, nargs="+", metavar="FOOTAGE",
                        help="hard negatives: background footage (videos, a capture folder with background/, a "
                             "folder of frames) scored by the --init model; windows it takes for a gesture are "
                             "added as No gesture (also an earlier round's OUT/negatives)")
    parser.add_argument("--negatives-threshold", type=number_arg(0, 1, lo_open=True), default=0.5, metavar="P",
                        help="a window is mined when its top gesture probability reaches P")
    parser.add_argument("--negatives-random", type=int_arg(0), default=100, metavar="N",
                        help="also add N windows drawn at random from the rest")
    parser.add_argument("--negatives-hop", type=int_arg(1), default=2, metavar="N",
                        help="score a window every N model frames (the runtime's hop)")
    parser.add_argument("--negatives-max", type=int_arg(1), default=1000, metavar="N",
                        help="keep at most N mined windows (a random subset when more fire)")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """gesture-train: train a MobileNet+LSTM (or +GRU, or Conv3D) gesture clip classifier."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    # Single values are checked by their argument types; these checks are about combinations.
    checks = [(args.size >= 64 or args.arch == "conv3d",
               "--size: expected >= 64 px (MobileNet downsamples 32x, then a 2x2 max-pool)"),
              (not args.freeze_backbone or args.arch != "conv3d",
               "--freeze-backbone: conv3d has no MobileNet backbone"),
              (args.init is None or args.init.is_file(), f"--init {args.init}: file not found"),
              (not args.freeze_backbone or args.weights.lower() != "none" or args.init is not None,
               "--freeze-backbone: needs --weights imagenet or a weights file (a random backbone would stay random)"),
              (not args.negatives or args.init is not None,
               "--negatives: needs --init MODEL to mine with (e.g. models/demo/model.keras, or the previous "
               "round's model.keras)"),
              (not args.negatives or args.background,
               "--negatives: mined windows go to the No gesture class; drop --no-background")]
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
        freeze_backbone=args.freeze_backbone, init=args.init, val_split=args.val_split,
        negatives=tuple(args.negatives or ()), negatives_threshold=args.negatives_threshold,
        negatives_random=args.negatives_random, negatives_hop=args.negatives_hop,
        negatives_max=args.negatives_max, balance=args.balance)
    try:
        from convert.negatives import find_footage

        if settings.negatives:
            find_footage(settings.negatives)  # cheap: names only, before anything is read
        check_weights(args.weights, args.arch, args.alpha, args.size, args.init)
        accuracy = train(settings, argv)
    except (DatasetError, ValueError, OSError) as exc:
        print(f"gesture-train: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"validation accuracy: {accuracy:.4f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
