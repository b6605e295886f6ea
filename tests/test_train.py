"""gesture-train: the streaming clip pipeline, one real end-to-end run, and one-line refusals of bad input.

The end-to-end run trains a tiny model (64x64, 2 frames, 2 epochs) in a subprocess on clips from the real
synthetic renderer (convert.synth), then checks every output against the others: the saved model reproduces
confusion.json on the validation clips, train_command.txt states the same accuracy, model.keras is the last
improving checkpoint. Two frames because Keras 3's TimeDistributed unrolls the MobileNet once per frame when the
model is built: that costs seconds of CPU per frame here, more than the training.
Refusals of bad data happen before TensorFlow is imported, so they are cheap subprocesses; the one needing a
model (a bad weights file) calls main() in this process.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from fakes import write_casestudy_split, write_frames

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

keras = pytest.importorskip("keras")  # the [convert] extra

from convert.data import ClipRef, frame_files, load_clip, read_casestudy  # noqa: E402
from convert.synth import write_casestudy  # noqa: E402
from convert.train import ClipSequence, _save_improving, class_weights, main  # noqa: E402

TRAIN = [sys.executable, "-m", "convert.train"]
CLASSES5 = ["Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture"]
OUTPUTS = ("model.keras", "labels.json", "history.csv", "confusion.png", "confusion.json", "train_command.txt")


# ---- the streaming pipeline -----------------------------------------------------------------------------------


def clip_refs(root: Path, count: int, identical: bool = False) -> list[ClipRef]:
    refs = []
    for n in range(count):
        folder = root / f"clip{n}"
        write_frames(folder, 10, (24, 32), seed=0 if identical else n)
        refs.append(ClipRef(folder, CLASSES5[n % 3], frame_files(folder), f"test:{n + 1}"))
    return refs


def epoch_batches(seq) -> list[tuple[np.ndarray, np.ndarray]]:
    return [seq[i] for i in range(len(seq))]


def test_validation_batches_are_the_clips_in_order(tmp_path: Path) -> None:
    refs = clip_refs(tmp_path, 5)
    labels = CLASSES5[:3]
    seq = ClipSequence.make(refs, labels, batch=2, frames=4, size_hw=(16, 16), augment=False, seed=1)
    assert len(seq) == 3
    for _ in range(2):  # the same every epoch: no shuffling, no augmentation
        batches = epoch_batches(seq)
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        assert x.shape == (5, 4, 16, 16, 3) and x.dtype == np.float32 and [len(b[0]) for b in batches] == [2, 2, 1]
        for row, ref in enumerate(refs):
            np.testing.assert_array_equal(x[row], load_clip(ref, 4, (16, 16)))
            assert y[row].tolist() == [float(labels[i] == ref.label) for i in range(3)]  # one-hot
        seq.on_epoch_end()


def test_training_batches_shuffle_per_epoch_and_augment_each_clip_once(tmp_path: Path) -> None:
    refs = clip_refs(tmp_path, 8, identical=True)  # eight copies of one clip
    labels = CLASSES5[:3]

    def run_epochs(seq, n: int, orders: list[list[int]]) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        epochs = []
        for _ in range(n):
            orders.append([int(i) for i in seq.order])
            epochs.append(epoch_batches(seq))
            seq.on_epoch_end()
        return epochs

    orders: list[list[int]] = []
    seq = ClipSequence.make(refs, labels, batch=3, frames=4, size_hw=(16, 16), augment=True, seed=4)
    epochs = run_epochs(seq, 2, orders)
    again = run_epochs(ClipSequence.make(refs, labels, batch=3, frames=4, size_hw=(16, 16), augment=True,
                                         seed=4), 2, [])
    for a, b in zip(epochs, again):  # seeded: the same batches in a new run
        for (xa, ya), (xb, yb) in zip(a, b):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)

    first = np.concatenate([x for x, _ in epochs[0]])
    second = np.concatenate([x for x, _ in epochs[1]])
    assert first.shape == (8, 4, 16, 16, 3)
    plain = load_clip(refs[0], 4, (16, 16))
    # identical clips on disk, yet every clip got its own transform, the same for all its frames
    assert len({clip.tobytes() for clip in first}) == 8
    assert not any(np.array_equal(clip, plain) for clip in first)
    assert len({clip.tobytes() for clip in np.concatenate([first, second])}) == 16  # new draws each epoch

    # shuffled every epoch, each clip exactly once, each with its own label
    assert orders[0] != orders[1] and orders[0] != list(range(8))
    for order, batches in zip(orders, epochs):
        assert sorted(order) == list(range(8))
        y = np.concatenate([y for _, y in batches]).argmax(axis=1)
        assert [labels[k] for k in y] == [refs[i].label for i in order]


def test_cache_keeps_decoded_clips(tmp_path: Path) -> None:
    refs = clip_refs(tmp_path, 3)
    seq = ClipSequence.make(refs, CLASSES5[:3], batch=3, frames=4, size_hw=(16, 16), augment=False, seed=1,
                            cache=True, workers=2)
    x_first, _ = seq[0]
    for ref in refs:  # the files are gone: a second epoch must come from memory
        for path in ref.frame_files:
            path.unlink()
    seq.on_epoch_end()
    np.testing.assert_array_equal(seq[0][0], x_first)
    uncached = ClipSequence.make(refs, CLASSES5[:3], batch=3, frames=4, size_hw=(16, 16), augment=False, seed=1)
    with pytest.raises(Exception, match="unreadable image"):
        uncached[0]


def test_class_weights_give_every_class_the_same_share_of_the_loss() -> None:
    def refs(label: str, n: int) -> list[ClipRef]:
        return [ClipRef(Path(f"{label}{i}"), label, (), "x.csv:1") for i in range(n)]

    clips = refs("Swipe", 10) + refs("Stop", 10) + refs("No gesture", 40)
    weights = class_weights(clips, ["Swipe", "Stop", "Thumbs Up", "No gesture"])
    assert weights == {0: 2.0, 1: 2.0, 3: 0.5}  # Thumbs Up has no clips: no weight; 60 / (3 classes x count)
    assert sum(weights[k] * n for k, n in ((0, 10), (1, 10), (3, 40))) == len(clips)


def test_a_checkpoint_is_kept_when_accuracy_rises_or_holds_with_a_lower_loss(tmp_path: Path) -> None:
    saved: list[str] = []

    class Model:
        def save(self, path: Path) -> None:
            saved.append(path.name)

    callback = _save_improving(keras, Model(), tmp_path)
    history = [(0.90, 0.5), (0.85, 0.2), (1.0, 0.3), (1.0, 0.1), (1.0, 0.2), (1.0, 0.05), (0.99, 0.01)]
    for epoch, (accuracy, loss) in enumerate(history):
        callback.on_epoch_end(epoch, {"val_accuracy": accuracy, "val_loss": loss})
    assert saved == ["epoch01-val_acc0.900.keras", "epoch03-val_acc1.000.keras", "epoch04-val_acc1.000.keras",
                     "epoch06-val_acc1.000.keras"]


# ---- end to end -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("train")
    data = write_casestudy(root / "data", {"train": 2, "val": 1}, seed=3, size_hw=(48, 64))
    out = root / "runs" / "tiny"
    args = ["--data", str(data), "--layout", "casestudy", "--arch", "mobilenet_lstm", "--weights", "none",
            "--frames", "2", "--size", "64", "--cells", "16", "--dense", "16", "--epochs", "2", "--batch", "4",
            "--seed", "5", "--model-fps", "7.5", "--out", str(out)]
    proc = run_cli(TRAIN + args, timeout=900)
    return {"proc": proc, "args": args, "data": data, "out": out}


@pytest.mark.slow  # the module's training run
def test_end_to_end_writes_every_output(trained: dict) -> None:
    proc, out = trained["proc"], trained["out"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in OUTPUTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny"]  # the temp folder was renamed, none left
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "validation accuracy:" in proc.stdout

    labels = json.loads((out / "labels.json").read_text())
    assert labels == {
        "labels": CLASSES5, "background_label": "No gesture",
        "actions": {"Swipe": "play", "Stop": "pause", "Thumbs Down": "volume_down", "Thumbs Up": "volume_up"},
        "frames": 2, "size_px": [64, 64], "model_fps": 7.5, "normalization": "mobilenet", "arch": "mobilenet_lstm"}

    with (out / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert {"accuracy", "loss", "val_accuracy", "val_loss"} <= set(rows[0])


@pytest.mark.slow  # the module's training run
def test_end_to_end_outputs_agree(trained: dict) -> None:
    out = trained["out"]
    assert trained["proc"].returncode == 0, trained["proc"].stderr[-3000:]
    checkpoints = sorted((out / "checkpoints").glob("epoch*-val_acc*.keras"))
    assert checkpoints and all(p.name[5:7].isdigit() for p in checkpoints)
    assert (out / "model.keras").read_bytes() == checkpoints[-1].read_bytes()  # the last improving one

    report = json.loads((out / "confusion.json").read_text())
    matrix = np.array(report["matrix"])
    val = read_casestudy(trained["data"], "val")
    assert report["labels"] == CLASSES5 and matrix.shape == (5, 5) and matrix.sum() == len(val) == 5
    assert report["val_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())

    model = keras.models.load_model(out / "model.keras", compile=False)
    assert model.input_shape == (None, 2, 64, 64, 3) and model.output_shape == (None, 5)
    clips = np.stack([load_clip(ref, 2, (64, 64)) for ref in val]).astype(np.float32)
    predicted = np.asarray(model(clips, training=False)).argmax(axis=1)
    again = np.zeros((5, 5), np.int64)
    np.add.at(again, ([CLASSES5.index(r.label) for r in val], predicted), 1)
    np.testing.assert_array_equal(again, matrix)

    command = (out / "train_command.txt").read_text().splitlines()
    assert command[0] == "gesture-train " + shlex.join(trained["args"])
    assert f"validation accuracy: {report['val_accuracy']:.4f} on 5 clips" in command
    assert any("tensorflow" in line and "keras" in line and "python" in line for line in command)

    best = max(float(r["val_accuracy"]) for r in csv.DictReader((out / "history.csv").open()))
    assert f"val_acc{best:.3f}" in checkpoints[-1].name


@pytest.mark.slow  # the module's training run
def test_existing_output_is_refused_without_force(trained: dict) -> None:
    proc = run_cli(TRAIN + trained["args"])  # the same --out again
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"gesture-train: error: {trained['out']}: exists and is not empty (use --force)"


@pytest.mark.slow  # a second tiny training run
def test_init_continues_from_the_given_clip_model_with_a_frozen_backbone(trained: dict, tmp_path: Path) -> None:
    assert trained["proc"].returncode == 0, trained["proc"].stderr[-3000:]
    init = trained["out"] / "model.keras"
    out = tmp_path / "again"
    args = [a for a in trained["args"] if a not in ("--weights", "none")]
    args[args.index("--out") + 1] = str(out)
    args[args.index("--epochs") + 1] = "1"
    proc = run_cli(TRAIN + args + ["--init", str(init), "--freeze-backbone", "--lr", "1e-9", "--balance"],
                   timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # balanced data (2 clips per class): every class weighs 1.0, and Keras took the weights
    assert "class weights: Swipe 1.00, Stop 1.00, Thumbs Down 1.00, Thumbs Up 1.00, No gesture 1.00" in proc.stderr
    before = keras.models.load_model(init, compile=False)
    after = keras.models.load_model(out / "model.keras", compile=False)
    # the backbone is the init's, unchanged (frozen); the head starts from the init's and barely moves (lr 1e-9)
    for got, expected in zip(after.layers[1].get_weights(), before.layers[1].get_weights()):
        np.testing.assert_array_equal(got, expected)
    rnn = [layer for layer in after.layers if isinstance(layer, keras.layers.LSTM)][0]
    np.testing.assert_allclose(rnn.get_weights()[0], before.get_layer(rnn.name).get_weights()[0], atol=1e-6)


@pytest.mark.slow  # loads the module's model
@pytest.mark.parametrize("change,needle", [(["--frames", "3"], "input (None, 2, 64, 64, 3)"),
                                           (["--arch", "mobilenet_gru"], "is mobilenet_lstm with input")])
def test_init_that_does_not_match_the_run_is_refused(trained: dict, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str], change: list[str],
                                                     needle: str) -> None:
    assert trained["proc"].returncode == 0, trained["proc"].stderr[-3000:]
    args = trained["args"] + ["--init", str(trained["out"] / "model.keras"), "--log-level", "error"] + change
    args[args.index("--out") + 1] = str(tmp_path / "out")
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"gesture-train: error: --init {trained['out'] / 'model.keras'}: ") and needle in err[0]
    assert not (tmp_path / "out").exists()


# ---- refusals ---------------------------------------------------------------------------------------------------


def make_case(root: Path, case: str) -> tuple[list[str], str]:
    """Arguments for a bad run and a piece of the one-line error it must give."""
    data = root / "data"
    out = ["--out", str(root / "out"), "--frames", "4", "--size", "64", "--weights", "none"]
    if case == "missing_data":
        return ["--data", str(root / "nowhere")] + out, f"{root / 'nowhere'}: dataset folder not found"
    data.mkdir()
    if case == "empty_data":
        return ["--data", str(data)] + out, f"{data}: dataset folder is empty"
    write_casestudy_split(data, "train", [0, 2, 3])
    write_casestudy_split(data, "val", [0, 2, 3], seed=1)
    csv_path = data / "train.csv"
    if case == "bad_csv_line":
        csv_path.write_text(csv_path.read_text() + "train_000_0;Left Swipe_new\n")
        return ["--data", str(data)] + out, f"{csv_path}:4: expected 'folder;label_name;label_index'"
    if case == "unknown_index":
        csv_path.write_text(csv_path.read_text().replace(";3\n", ";8\n"))
        return ["--data", str(data)] + out, f"{csv_path}:3: unknown label index 8"
    if case == "missing_folder":
        csv_path.write_text("elsewhere;Stop_new;2\n" + csv_path.read_text())
        return ["--data", str(data)] + out, f"{csv_path}:1: folder {data / 'train' / 'elsewhere'} does not exist"
    if case == "too_few_frames":
        return (["--data", str(data)] + out[:2] + ["--frames", "31", "--size", "64", "--weights", "none"],
                "has 30 frames, needs at least 31")
    if case == "one_class":
        for split in ("train", "val"):
            lines = (data / f"{split}.csv").read_text().splitlines()
            (data / f"{split}.csv").write_text(lines[1] + "\n")
        return ["--data", str(data)] + out, "needs clips of at least 2 classes"
    if case == "out_is_file":
        (root / "out").write_text("a file")
        return ["--data", str(data)] + out, f"{root / 'out'}: exists and is not a folder"
    if case == "freeze_conv3d":
        return (["--data", str(data)] + out + ["--arch", "conv3d", "--freeze-backbone"],
                "--freeze-backbone: conv3d has no MobileNet backbone")
    if case == "init_missing":
        return ["--data", str(data)] + out + ["--init", str(root / "absent.keras")], "absent.keras: file not found"
    if case == "freeze_random":
        return ["--data", str(data)] + out + ["--freeze-backbone"], "--freeze-backbone: needs --weights imagenet"
    if case == "small_size":
        return ["--data", str(data), "--out", str(root / "out"), "--size", "32"], "--size: expected >= 64 px"
    if case == "negatives_without_init":
        return ["--data", str(data)] + out + ["--negatives", str(root)], "--negatives: needs --init MODEL to mine with"
    if case == "negatives_missing":
        (root / "init.keras").write_bytes(b"not read: the footage is checked first")
        return (["--data", str(data)] + out + ["--init", str(root / "init.keras"), "--negatives",
                                                str(root / "room.mp4")],
                f"--negatives {root / 'room.mp4'}: no such file or folder")
    if case == "weights_missing":
        return (["--data", str(data), "--out", str(root / "out"), "--weights", str(root / "w.h5")],
                f"--weights {root / 'w.h5'}: no such file")
    if case == "val_split_range":
        return ["--data", str(data)] + out + ["--val-split", "1"], "--val-split: expected a number in (0, 1)"
    if case == "val_split_too_few":  # what capture writes: no val split; one Swipe clip cannot be split
        (data / "val.csv").unlink()
        return ["--data", str(data)] + out, "label 'Swipe' has 1 clip(s); the automatic validation split"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing_data", "empty_data", "bad_csv_line", "unknown_index", "missing_folder",
                                  "too_few_frames", "one_class", "out_is_file", "small_size",
                                  "freeze_conv3d", "freeze_random", "init_missing", "negatives_without_init",
                                  "negatives_missing", "weights_missing", "val_split_range", "val_split_too_few"])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    args, needle = make_case(tmp_path, case)
    proc = run_cli(TRAIN + args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gesture-train: error: ") and needle in lines[0], proc.stderr
    assert not (tmp_path / "out").is_dir()  # nothing half-written


def test_bad_weights_file_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    write_casestudy_split(data, "train", [0, 2])
    write_casestudy_split(data, "val", [0, 2], seed=1)
    (tmp_path / "junk.weights.h5").write_bytes(b"junk" * 20)
    code = main(["--data", str(data), "--out", str(tmp_path / "out"), "--frames", "4", "--size", "64",
                 "--weights", str(tmp_path / "junk.weights.h5"), "--log-level", "error"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"gesture-train: error: weights '{tmp_path / 'junk.weights.h5'}': not MobileNet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "junk.weights.h5"]


@pytest.mark.convert
def test_imagenet_is_resolved_before_any_data_is_read(tmp_path: Path) -> None:
    """Offline, --weights imagenet fails first (the dataset's broken CSV is never reached), naming what works."""
    data = tmp_path / "data"
    write_casestudy_split(data, "train", [0, 2])
    (data / "train.csv").write_text("not;a valid;line;at all\n")
    closed = "http://127.0.0.1:9"  # nothing listens there: the download fails at once, network or not
    proc = run_cli(TRAIN + ["--data", str(data), "--out", str(tmp_path / "out")],
                   env={"KERAS_HOME": str(tmp_path / "keras"), "https_proxy": closed, "HTTPS_PROXY": closed})
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gesture-train")]  # not TF's own logs
    assert len(lines) == 1 and lines[0].startswith("gesture-train: error: --weights imagenet: could not download "
                                                   "mobilenet_2_5_128_tf_no_top.h5"), proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == lines[0] and "Traceback" not in proc.stderr
    assert "use --weights none" in lines[0] and "--weights FILE" in lines[0] and "weights=None" not in lines[0]
    assert not (tmp_path / "out").exists()


def test_help_and_version() -> None:
    proc = run_cli(TRAIN + ["--help"], check=True)
    for option in ("--data", "--layout", "--arch", "--epochs", "--batch", "--out", "--size", "--alpha", "--frames",
                   "--cells", "--dense", "--dropout", "--weights", "--lr", "--class-map", "--background",
                   "--no-background", "--seed", "--max-clips", "--model-fps", "--force", "--workers", "--log-level",
                   "--val-split", "--negatives", "--negatives-threshold", "--negatives-random", "--negatives-hop",
                   "--negatives-max"):
        assert option in proc.stdout, option
    assert "penultimate" in proc.stdout
    text = " ".join(proc.stdout.split())  # argparse wraps lines
    for shown in ("training epochs (default: 20)", "(default: imagenet)", "(default: 0.2)", "(default: mobilenet_lstm)",
                  "(default: 0.5)", "(default: 100)", "(default: 0.001)", "--weights is unused (default: none)"):
        assert shown in text, shown
    proc = run_cli(TRAIN + ["--version"], check=True)
    assert proc.stdout.startswith("gesture-train ")
