"""Dataset readers (case study, Jester), frame sampling and resizing, and the per-clip augmentation.

Datasets are tiny folders written here with numpy + cv2 (tests/fakes.py), so every bad line can be made on
purpose. No TensorFlow is imported: convert.data and convert.train's augmentation need only numpy and cv2.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from convert.data import (CLASS_ORDER, ClipRef, DatasetError, frame_files, has_split, labels_of, load_class_map,
                          load_clip, read_casestudy, read_dataset, read_frame, read_jester, sample_indexes,
                          split_validation)
from convert.train import augment_clip, clip_transform
from fakes import CASESTUDY_NAMES, write_casestudy_split, write_frames


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    return message


# ---- case-study layout -------------------------------------------------------------------------------------


def test_casestudy_reads_every_class_and_merges_swipes(tmp_path: Path) -> None:
    write_casestudy_split(tmp_path, "train", [0, 1, 2, 3, 4, 5])
    write_casestudy_split(tmp_path, "val", [4, 2], seed=1)
    train = read_casestudy(tmp_path, "train")
    assert [c.label for c in train] == ["Swipe", "Swipe", "Stop", "Thumbs Down", "Thumbs Up", "No gesture"]
    assert [c.folder for c in train] == [tmp_path / "train" / f"train_{n:03d}_{i}" for n, i in enumerate(range(6))]
    assert [c.source for c in train] == [f"{tmp_path / 'train.csv'}:{n}" for n in range(1, 7)]
    assert all(len(c.frame_files) == 30 for c in train)
    val = read_casestudy(tmp_path, "val")
    assert [c.label for c in val] == ["Thumbs Up", "Stop"]
    assert labels_of(train) == CLASS_ORDER
    assert labels_of(val) == ("Stop", "Thumbs Up")
    assert labels_of(train[:5]) == ("Swipe", "Stop", "Thumbs Down", "Thumbs Up")  # no background: 4 outputs
    assert read_dataset(tmp_path, "casestudy", "val") == val


def test_casestudy_keys_off_the_index_not_the_name(tmp_path: Path) -> None:
    write_frames(tmp_path / "train" / "a", 20)
    write_frames(tmp_path / "train" / "b", 20)
    # the Kaggle releases spell names differently; a wrong name must not change the class
    (tmp_path / "train.csv").write_text("a; thumbs_up ;3\r\nb;WhateverSwipe;1\r\n\r\n")
    assert [c.label for c in read_casestudy(tmp_path)] == ["Thumbs Down", "Swipe"]


def test_casestudy_class_map_by_index_and_by_name(tmp_path: Path) -> None:
    write_casestudy_split(tmp_path, "train", [0, 1, 3, 4])
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"3": "Thumbs Up", "4": "Thumbs Down", CASESTUDY_NAMES[1]: "Right"}))
    clips = read_casestudy(tmp_path, "train", load_class_map(mapping))
    assert [c.label for c in clips] == ["Swipe", "Right", "Thumbs Up", "Thumbs Down"]
    assert labels_of(clips) == ("Swipe", "Thumbs Down", "Thumbs Up", "Right")  # unknown names last


def test_casestudy_tolerates_a_byte_order_mark(tmp_path: Path) -> None:
    write_frames(tmp_path / "train" / "first", 20)
    (tmp_path / "train.csv").write_bytes("first;Stop_new;2\n".encode("utf-8-sig"))
    assert [c.folder.name for c in read_casestudy(tmp_path)] == ["first"]


def test_frames_are_in_natural_order(tmp_path: Path) -> None:
    write_frames(tmp_path / "clip", 12, name="img_{}", ext="jpg")
    (tmp_path / "clip" / "notes.txt").write_text("not a frame")
    names = [p.name for p in frame_files(tmp_path / "clip")]
    assert names == [f"img_{i}.jpg" for i in range(1, 13)]  # img_10 after img_9, the .txt ignored


@pytest.mark.parametrize("case", ["missing_folder", "malformed", "too_many_fields", "empty_folder_field",
                                  "unknown_index", "text_index"])
def test_casestudy_bad_lines_name_file_and_line(tmp_path: Path, case: str) -> None:
    write_casestudy_split(tmp_path, "train", [0, 2])
    csv = tmp_path / "train.csv"
    bad = {"missing_folder": "gone_forever;Stop_new;2", "malformed": "just_a_folder", "too_many_fields": "a;b;2;x",
           "empty_folder_field": ";Stop_new;2", "unknown_index": "train_000_0;Mystery;9",
           "text_index": "train_000_0;Stop_new;two"}[case]
    csv.write_text(csv.read_text() + bad + "\n")
    with pytest.raises(DatasetError) as exc:
        read_casestudy(tmp_path, "train")
    message = one_line(exc)
    assert message.startswith(f"{csv}:3: "), message
    needle = {"missing_folder": "gone_forever", "unknown_index": "index 9"}.get(case, "folder;label_name;label_index")
    assert needle in message


@pytest.mark.parametrize("case", ["missing_root", "empty_root", "root_is_file", "no_csv", "empty_csv"])
def test_casestudy_bad_roots(tmp_path: Path, case: str) -> None:
    root = tmp_path / "data"
    if case == "empty_root":
        root.mkdir()
    elif case == "root_is_file":
        root.write_text("x")
    elif case == "no_csv":
        write_casestudy_split(root, "val", [2])
    elif case == "empty_csv":
        write_casestudy_split(root, "train", [2])
        (root / "train.csv").write_text("\n\n")
    with pytest.raises(DatasetError) as exc:
        read_casestudy(root, "train")
    message = one_line(exc)
    expected = {"missing_root": (str(root), "not found"), "empty_root": (str(root), "empty"),
                "root_is_file": (str(root), "not found"), "no_csv": (str(root / "train.csv"), "not found"),
                "empty_csv": (str(root / "train.csv"), "no clips")}[case]
    assert message.startswith(expected[0]) and expected[1] in message, message


def test_bad_class_map_files(tmp_path: Path) -> None:
    for name, text in (("broken.json", "{not json"), ("list.json", "[1, 2]"), ("values.json", '{"0": 3}')):
        (tmp_path / name).write_text(text)
        with pytest.raises(DatasetError) as exc:
            load_class_map(tmp_path / name)
        assert one_line(exc).startswith(str(tmp_path / name))
    with pytest.raises(DatasetError) as exc:
        load_class_map(tmp_path / "absent.json")
    assert str(tmp_path / "absent.json") in one_line(exc)


# ---- Jester layout -----------------------------------------------------------------------------------------

JESTER_ROWS = [("101", "Swiping Left"), ("102", "Swiping Right"), ("103", "Stop Sign"), ("104", "Thumb Up"),
               ("105", "Thumb Down"), ("106", "No gesture"), ("107", "Doing other things"),
               ("108", "Drumming Fingers"), ("109", "Zooming In With Two Fingers"), ("110", "Drumming Fingers")]


def write_jester(root: Path, nested: bool, split: str = "train") -> None:
    videos = root / "20bn-jester-v1" if nested else root
    for n, (video, _) in enumerate(JESTER_ROWS):
        write_frames(videos / video, 24, (20, 28), seed=n, ext="jpg")
    (root / f"jester-v1-{split}.csv").write_text("".join(f"{v};{label}\n" for v, label in JESTER_ROWS))


@pytest.mark.parametrize("nested", [False, True])
def test_jester_maps_labels_and_skips_the_rest(tmp_path: Path, nested: bool,
                                               caplog: pytest.LogCaptureFixture) -> None:
    write_jester(tmp_path, nested)
    with caplog.at_level(logging.INFO, logger="convert.data"):
        clips = read_jester(tmp_path, "train")
    assert [(c.folder.name, c.label) for c in clips] == [("101", "Swipe"), ("102", "Swipe"), ("103", "Stop"),
                                                        ("104", "Thumbs Up"), ("105", "Thumbs Down")]
    videos = tmp_path / "20bn-jester-v1" if nested else tmp_path
    assert clips[0].folder == videos / "101" and len(clips[0].frame_files) == 24
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and "skipped 5 clips of 4 labels" in skipped[0].getMessage()  # logged once

    with_background = read_jester(tmp_path, "train", background=True)
    assert [c.label for c in with_background][5:] == ["No gesture", "No gesture"]
    assert labels_of(with_background) == CLASS_ORDER


def test_jester_class_map_and_validation_split(tmp_path: Path) -> None:
    write_jester(tmp_path, nested=False, split="validation")
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"Drumming Fingers": "No gesture", "Swiping Right": "Swipe"}))
    clips = read_dataset(tmp_path, "jester", "val", load_class_map(mapping), background=False)
    assert [c.folder.name for c in clips] == ["101", "102", "103", "104", "105", "108", "110"]
    assert clips[-1].label == "No gesture"


@pytest.mark.parametrize("case", ["missing_folder", "malformed", "empty_id"])
def test_jester_bad_lines(tmp_path: Path, case: str) -> None:
    write_jester(tmp_path, nested=False)
    csv = tmp_path / "jester-v1-train.csv"
    bad = {"missing_folder": "999;Stop Sign", "malformed": "103;Stop Sign;extra", "empty_id": " ;Stop Sign"}[case]
    csv.write_text(csv.read_text() + bad + "\n")
    with pytest.raises(DatasetError) as exc:
        read_jester(tmp_path, "train")
    message = one_line(exc)
    assert message.startswith(f"{csv}:{len(JESTER_ROWS) + 1}: "), message
    assert ("999" if case == "missing_folder" else "id;label") in message


def test_jester_with_no_mapped_clips(tmp_path: Path) -> None:
    write_frames(tmp_path / "1", 20)
    (tmp_path / "jester-v1-train.csv").write_text("1;Drumming Fingers\n")
    with pytest.raises(DatasetError) as exc:
        read_jester(tmp_path, "train")
    assert "no clips of the mapped classes" in one_line(exc)
    with pytest.raises(DatasetError, match="layout 'kinetics'"):
        read_dataset(tmp_path, "kinetics", "train")


# ---- sampling and loading ------------------------------------------------------------------------------------


def test_sample_indexes_20_of_30() -> None:
    # the reference design's evenly spaced 20 of a 30-frame clip, worked out by hand from i * 29 / 19, rounded
    assert sample_indexes(30, 20) == [0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 23, 24, 26, 27, 29]
    assert sample_indexes(20, 20) == list(range(20))
    assert sample_indexes(37, 1) == [0]
    assert sample_indexes(5, 3) == [0, 2, 4]
    with pytest.raises(DatasetError) as exc:
        sample_indexes(19, 20, "clips/x (train.csv:4)")
    assert one_line(exc) == "clips/x (train.csv:4): has 19 frames, needs at least 20"


def test_load_clip_samples_resizes_and_converts_to_rgb(tmp_path: Path) -> None:
    paths = write_frames(tmp_path / "clip", 30, (36, 48))
    ref = ClipRef(tmp_path / "clip", "Stop", tuple(paths), "test:1")
    clip = load_clip(ref, 20, (12, 16))
    assert clip.shape == (20, 12, 16, 3) and clip.dtype == np.uint8
    for row, index in enumerate(sample_indexes(30, 20)):
        bgr = cv2.imread(str(paths[index]))
        expected = cv2.cvtColor(cv2.resize(bgr, (16, 12), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(clip[row], expected)


def test_rgb_order_and_mismatched_frame_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    folder.mkdir()
    # a camera that changed resolution mid-clip: every frame is resized whole (no crop) to the model size
    for i, (h, w) in enumerate([(20, 30), (40, 40), (9, 50), (64, 48)]):
        bgr = np.zeros((h, w, 3), np.uint8)
        bgr[..., 0] = 200  # blue in OpenCV's BGR
        bgr[: h // 2, :, 2] = 100  # red top half
        cv2.imwrite(str(folder / f"{i + 1:05d}.png"), bgr)
    clip = load_clip(ClipRef(folder, "Stop", frame_files(folder), "test:1"), 4, (10, 8))
    assert clip.shape == (4, 10, 8, 3)
    assert (clip[:, :, :, 2] == 200).all()  # blue is the last channel in RGB
    assert (clip[:, 0, :, 0] == 100).all() and (clip[:, -1, :, 0] == 0).all()  # the top half stays the top half
    same = read_frame(folder / "00002.png", (40, 40))
    np.testing.assert_array_equal(same, cv2.cvtColor(cv2.imread(str(folder / "00002.png")), cv2.COLOR_BGR2RGB))


def test_unreadable_frame_and_too_few_frames(tmp_path: Path) -> None:
    paths = write_frames(tmp_path / "clip", 6)
    paths[5].write_bytes(b"not an image at all")
    ref = ClipRef(tmp_path / "clip", "Stop", tuple(paths), "train.csv:7")
    with pytest.raises(DatasetError) as exc:
        load_clip(ref, 6, (8, 8))
    assert one_line(exc) == f"{paths[5]}: unreadable image"
    with pytest.raises(DatasetError) as exc:
        load_clip(ref, 20, (8, 8))
    assert one_line(exc) == f"{tmp_path / 'clip'} (train.csv:7): has 6 frames, needs at least 20"


# ---- augmentation: one transform per clip ---------------------------------------------------------------------


def marker_position(frame: np.ndarray) -> tuple[float, float]:
    """Centroid (x, y) of the bright marker in a dark frame."""
    ys, xs = np.nonzero(frame[..., 1] > 128)
    assert len(xs), "marker lost"
    return float(xs.mean()), float(ys.mean())


def test_one_transform_for_every_frame_of_a_clip() -> None:
    size_hw = (64, 80)
    rng = np.random.default_rng(5)
    matrix = clip_transform(np.random.default_rng(11), size_hw)
    assert not np.allclose(matrix, [[1, 0, 0], [0, 1, 0]])  # it really transforms

    identical = np.repeat(rng.integers(0, 256, (1, *size_hw, 3), dtype=np.uint8), 6, axis=0)
    out = augment_clip(identical, matrix)
    assert out.shape == identical.shape and out.dtype == np.uint8
    assert all(np.array_equal(out[0], f) for f in out[1:])
    assert not np.array_equal(out[0], identical[0])

    # a marker moving through the clip lands where the one matrix sends it, in every frame
    moving = np.zeros((6, *size_hw, 3), np.uint8)
    starts = [(20 + 6 * t, 24 + 3 * t) for t in range(6)]
    for t, (x, y) in enumerate(starts):
        moving[t, y:y + 4, x:x + 4] = 255
    out = augment_clip(moving, matrix)
    for t, (x, y) in enumerate(starts):
        expected = matrix @ np.array([x + 1.5, y + 1.5, 1.0])
        np.testing.assert_allclose(marker_position(out[t]), expected, atol=0.75)

    # a marker standing still moves by the same offset in every frame, whatever else changes
    still = rng.integers(0, 60, (6, *size_hw, 3), dtype=np.uint8)
    still[:, 30:34, 40:44] = 255
    positions = [marker_position(f) for f in augment_clip(still, matrix)]
    assert max(abs(p[0] - positions[0][0]) + abs(p[1] - positions[0][1]) for p in positions) < 1e-6


def test_transforms_are_seeded_bounded_and_never_flip_by_default() -> None:
    size_hw = (128, 128)
    draws = [clip_transform(np.random.default_rng([3, n]), size_hw) for n in range(300)]
    again = [clip_transform(np.random.default_rng([3, n]), size_hw) for n in range(300)]
    assert all(np.array_equal(a, b) for a, b in zip(draws, again))
    assert len({m.tobytes() for m in draws}) == 300  # clips get different transforms
    scales = np.array([m[1, 1] for m in draws])
    assert (np.array([m[0, 0] for m in draws]) == scales).all()  # same zoom on both axes, no flip
    assert 0.9 <= scales.min() and scales.max() <= 1.1 and scales.max() - scales.min() > 0.15
    for m in draws:  # shifts up to 10 % of each side: the centre moves at most that far
        cx, cy = m @ np.array([63.5, 63.5, 1.0])
        assert abs(cx - 63.5) <= 12.8 + 1e-4 and abs(cy - 63.5) <= 12.8 + 1e-4
    flips = [clip_transform(np.random.default_rng([3, n]), size_hw, flip=True)[0, 0] < 0 for n in range(300)]
    assert 100 < sum(flips) < 200  # only on request (for merged swipes), then about half the clips


def test_flip_mirrors_every_frame() -> None:
    matrix = clip_transform(np.random.default_rng(0), (32, 32), zoom=0.0, shift=0.0, flip=True)
    if matrix[0, 0] > 0:
        matrix = clip_transform(np.random.default_rng(1), (32, 32), zoom=0.0, shift=0.0, flip=True)
    assert matrix[0, 0] < 0
    clip = np.random.default_rng(2).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(augment_clip(clip, matrix), clip[:, :, ::-1])


# ---- the automatic validation split (datasets from gesture-edge capture have no val/) -----------------------


def test_automatic_split_is_per_label_deterministic_and_stable(tmp_path: Path) -> None:
    write_casestudy_split(tmp_path, "train", [0] * 10 + [2] * 5 + [5] * 2, frames=2)
    clips = read_casestudy(tmp_path, "train")
    assert not has_split(tmp_path, "casestudy", "val") and has_split(tmp_path, "casestudy", "train")
    train, val = split_validation(clips, 0.2, "where")
    assert sorted(c.label for c in val) == ["No gesture", "Stop", "Swipe", "Swipe"]  # 2 of 10, 1 of 5, 1 of 2
    assert len(train) + len(val) == len(clips) and not {c.folder for c in train} & {c.folder for c in val}
    assert [c for c in clips if c in train] == train  # input order kept
    assert split_validation(list(reversed(clips)), 0.2, "where")[1] == list(reversed(val))  # the same clips
    # a clip added later (another capture session) moves at most one held-out clip, of its own label
    write_frames(tmp_path / "train" / "clip_00100", 2)
    added = ClipRef(tmp_path / "train" / "clip_00100", "Swipe", frame_files(tmp_path / "train" / "clip_00100"), "x")
    held = {c.folder.name for c in split_validation(clips + [added], 0.2, "where")[1]}
    assert len({c.folder.name for c in val} - held) <= 1
    assert {c.folder.name for c in val if c.label != "Swipe"} <= held
    assert len(split_validation(clips, 0.5, "where")[1]) == 5 + 3 + 1


def test_automatic_split_refuses_a_label_with_one_clip(tmp_path: Path) -> None:
    write_casestudy_split(tmp_path, "train", [0, 0, 0, 3], frames=2)
    with pytest.raises(DatasetError) as info:
        split_validation(read_casestudy(tmp_path, "train"), 0.2, f"{tmp_path}: no val split, so")
    assert one_line(info) == (f"{tmp_path}: no val split, so: label 'Thumbs Down' has 1 clip(s); the automatic "
                              "validation split (--val-split 0.2) needs at least 2 per label (record more clips "
                              "of it, or give a val split)")
    with pytest.raises(DatasetError, match="--val-split 1: expected a fraction between 0 and 1"):
        split_validation(read_casestudy(tmp_path, "train"), 1.0, "where")
