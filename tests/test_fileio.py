"""edge.fileio: atomic writes leave the old content or the new one, never a temp file, and give plain modes.

The modes are checked on the real writers too: a synthetic dataset (gesture-synth) and clips recorded by
`gesture-edge capture` must be readable by another user (0644 files, 0755 folders under umask 022), not the
0600/0700 that `tempfile` gives.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run_cli
from edge.fileio import atomic_dir, atomic_path, make_temp_dir, replace_dir, write_bytes_atomic, write_text_atomic


@pytest.fixture
def umask() -> Iterator[int]:
    """Run the test under umask 022 (a normal login's), whatever the test runner's is."""
    old = os.umask(0o022)
    try:
        yield 0o022
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_write_gives_a_plain_file_mode_and_respects_the_umask(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "report.json"
    write_text_atomic(target, "{}\n")
    assert target.read_text() == "{}\n" and mode(target) == 0o644
    os.umask(0o077)  # a stricter umask is honoured, as open() would
    private = tmp_path / "private.json"
    write_bytes_atomic(private, b"x")
    assert mode(private) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private.json", "report.json"]


def test_write_replaces_the_old_content_or_leaves_it_whole(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    with pytest.raises(TypeError):
        write_bytes_atomic(target, object())  # type: ignore[arg-type]
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "plot.png"
    with atomic_path(target, ".tmp.png") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".tmp.png") and not target.exists()
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png"
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_path(target, ".tmp.png") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"png"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_atomic_dir_gives_a_plain_folder_mode_and_replaces_the_old_folder(tmp_path: Path, umask: int) -> None:
    final = tmp_path / "bundle"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with atomic_dir(final) as tmp:
        assert mode(tmp) == 0o755 and tmp.parent == tmp_path
        write_text_atomic(tmp / "manifest.json", "{}")
        (tmp / "float").mkdir()
    assert sorted(p.name for p in final.iterdir()) == ["float", "manifest.json"]
    assert mode(final) == 0o755 and mode(final / "manifest.json") == 0o644
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(final) as tmp:
            (tmp / "half.txt").write_text("half")
            raise KeyboardInterrupt
    assert sorted(p.name for p in final.iterdir()) == ["float", "manifest.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_replace_dir_replaces_a_file_or_a_link(tmp_path: Path) -> None:
    for kind in ("file", "link"):
        final = tmp_path / f"out-{kind}"
        if kind == "file":
            final.write_text("a file")
        else:
            (tmp_path / "elsewhere").mkdir(exist_ok=True)
            (tmp_path / "elsewhere" / "keep.txt").write_text("keep")
            final.symlink_to(tmp_path / "elsewhere")
        tmp = make_temp_dir(final)
        (tmp / "new.txt").write_text("new")
        replace_dir(tmp, final)
        assert final.is_dir() and not final.is_symlink() and (final / "new.txt").read_text() == "new"
    assert (tmp_path / "elsewhere" / "keep.txt").read_text() == "keep"  # a link's target is not removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "out-file", "out-link"]


def _modes(root: Path) -> set[tuple[str, int]]:
    return {("dir" if p.is_dir() else "file", mode(p)) for p in [root, *root.rglob("*")]}


def test_synthetic_dataset_gets_plain_modes(tmp_path: Path, umask: int) -> None:
    from convert.synth import write_casestudy

    out = write_casestudy(tmp_path / "ds", {"train": 1}, seed=3, size_hw=(24, 32), frames=2, classes=["Stop"])
    assert _modes(out) == {("dir", 0o755), ("file", 0o644)}


def test_captured_clips_get_plain_modes(tmp_path: Path) -> None:
    video = tmp_path / "room.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for value in range(0, 200, 10):
        writer.write(np.full((48, 64, 3), value, dtype=np.uint8))
    writer.release()
    out = tmp_path / "clips"
    proc = run_cli([sys.executable, "-c", "import os, sys; os.umask(0o022); from edge.cli import main; "
                    "sys.exit(main(sys.argv[1:]))", "capture", "--source", str(video), "--out", str(out),
                    "--clips", "1", "--label", "Stop", "--frames", "4", "--duration-s", "0.4", "--no-countdown",
                    "--size", "32x32"], env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "train" / "clip_00001" / "00004.jpg").is_file()
    assert _modes(out) == {("dir", 0o755), ("file", 0o644)}


def test_converted_bundle_gets_plain_modes(demo_bundle: Path) -> None:
    # gesture-convert ran (in a child process) under this process's umask; the edge service reads the bundle.
    current = os.umask(0)
    os.umask(current)
    assert _modes(demo_bundle) == {("dir", 0o777 & ~current), ("file", 0o666 & ~current)}
